"""A benchmark run on disk: its record schema, its storage, the figures derived from it, the cost model."""
