"""Turn a benchmark run into <run>/report.md with its plots in <run>/plots/.

The report opens with a headline table (per implementation, machine and thread count: the per-record
cost at B=1, 32 and the best B, against the single-thread C baseline and the matmul peak, and the
public API's price per call), then at most ten findings, then a section per question: cost against
batch size, fixed overhead against marginal cost, share of the peak, first call, memory, accuracy per
second, noise, machines side by side (when the run holds several), and the checks.

examples:
  rnnbench report                       the newest run in results/
  rnnbench report 20250101-120000-4211b91 --target-accuracy 0.7
"""

from __future__ import annotations

import argparse
import sys

from rnnbench.report import build_report
from rnnbench.runs import store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("run_dir", nargs="?", default=None, metavar="RUN", help="run folder or run id (default: the newest run)")
    add("--results-dir", default=str(store.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add(
        "--target-accuracy",
        type=float,
        default=None,
        metavar="ACC",
        help="validation accuracy (0 to 1) that time-to-target refers to (default: 0.9 x the run's best)",
    )


def run(args: argparse.Namespace) -> int:
    """0 with the report's path printed; 2 with one line for a missing run, an impossible target or a
    missing plotting library."""
    try:
        path = build_report(store.resolve_run(args.run_dir, args.results_dir), target=args.target_accuracy)
    except (FileNotFoundError, ValueError) as e:
        print(f"rnnbench report: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(
            f"rnnbench report: error: {e} (the plots need matplotlib: pip install 'rnnbench[report]')", file=sys.stderr
        )
        return 2
    print(f"report: {path}")
    return 0
