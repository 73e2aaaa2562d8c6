"""Compare two benchmark runs configuration by configuration, telling a change from noise (docs/DESIGN.md §6, §8).
The command is rnnbench.commands.compare; the statistics are in stats."""

from rnnbench.compare.core import compare_runs
from rnnbench.compare.runs import load_run

__all__ = ["compare_runs", "load_run"]
