"""A benchmark run on disk: its record schema, its storage (store), the figures derived from it, the cost
model, and merging runs."""
