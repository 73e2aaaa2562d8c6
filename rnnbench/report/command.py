"""The `rnnbench report` sub-command: its arguments, and turning them into a report."""

from __future__ import annotations

import argparse
import sys

from rnnbench import results
from rnnbench.report.build import build_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "run_dir",
        nargs="?",
        default=None,
        metavar="RUN",
        help="run folder or run id (default: the newest run in --results-dir)",
    )
    add("--results-dir", default=str(results.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add(
        "--target-accuracy",
        type=float,
        default=None,
        metavar="ACC",
        help="validation accuracy that 'time to target' refers to (default: --target-fraction of the best)",
    )
    add(
        "--target-fraction",
        type=float,
        default=0.9,
        metavar="F",
        help="target = F x the best validation accuracy of the run (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        run_dir = results.resolve_run(args.run_dir, args.results_dir)
        path = build_report(run_dir, target=args.target_accuracy, target_fraction=args.target_fraction)
    except FileNotFoundError as e:
        print(f"rnnbench: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"rnnbench: error: {e}; the report needs pandas and matplotlib: pip install 'rnnbench[report]'")
        return 2
    print(f"report: {path}")
    return 0
