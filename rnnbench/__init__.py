"""rnnbench: the application around `impls`: data sets, training, benchmarks, reports, the CLI."""

__version__ = "0.1.0"
