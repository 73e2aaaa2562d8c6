"""Training and prediction: the run configuration, the trainer and its evaluation batches, the memory guard,
prediction and model files."""
