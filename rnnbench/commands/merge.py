"""`rnnbench merge`: one run from several, e.g. the shards of a sweep measured by hand on several machines.

The merged run is an ordinary run (results/<run-id>/, docs/DESIGN.md §8): its tables, fit and report
are rebuilt from the points, and `rnnbench report` and `rnnbench compare` take it. Points keep their
machine (points/<machine>/<point-id>.json), so the same point measured on two machines stays two
records; each machine's environment/ sessions are kept; each record keeps the run id it was measured
under. Its run.json lists the runs it came from.

Refused, with one line and nothing written: two copies of the same point from the same machine that
differ (identical copies, e.g. a run merged again, are kept once); runs made with other code or
library versions (git commit, uncommitted changes, library versions in run.json), unless --force.

examples:
  rnnbench merge s1 s2 --run-id both              the shards of two machines, as one run
  rnnbench merge results/a /mnt/b/results/c --run-id abc --results-dir results
"""

from __future__ import annotations

import argparse
import sys

from rnnbench.commands.outputs import finish
from rnnbench.runs import store
from rnnbench.runs.merge import MergeError, merge


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("runs", nargs="+", metavar="RUN", help="run folders, or run ids under --results-dir")
    add("--run-id", required=True, metavar="NAME", help="name of the merged run (a new folder under --results-dir)")
    add("--results-dir", default=str(store.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add("--force", action="store_true", help="merge runs made with other code or library versions")
    add(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write report.md and plots of the merged run (default: on)",
    )


def run(args: argparse.Namespace) -> int:
    """`rnnbench merge`: 0 when merged, 2 for bad input (nothing written)."""
    try:
        target, left_out = merge(args.runs, args.run_id, args.results_dir, args.force)
    except MergeError as e:
        print(f"rnnbench: error: {e}", file=sys.stderr)
        return 2
    for line in left_out:
        print(line)
    manifest = store.read_manifest(target)
    print(
        f"rnnbench merge: {len(manifest['merged_from'])} runs, machines {', '.join(manifest['machines'])}, "
        f"{len(store.point_files(target))} points -> {target}"
    )
    for what in manifest.get("code_differences", []):
        print(f"merged with --force: {what}")
    finish(target, args.report)
    return 0
