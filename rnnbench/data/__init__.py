"""Data sets: sources (built-in, folder, csv, wordfreq), tokenization, the train-only vocabulary, splits."""
