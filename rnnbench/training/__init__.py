"""Training and prediction: the run configuration, the trainer, the memory guard and model files."""
