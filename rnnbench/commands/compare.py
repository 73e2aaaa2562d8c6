"""Compare two benchmark runs configuration by configuration, from their raw samples, telling a change
from noise (docs/DESIGN.md §6, §8).

For every configuration (impl, device, threads, H, T, B, kind) that both runs measured: the ratio of
median per-record cost B/A, its 95% interval and a p-value, from the rounds of each run's raw samples
(rnnbench.compare.stats: each round is one unit, since calls within a round share the machine's state). The
p-values of all compared configurations are adjusted together (Benjamini-Hochberg at --fdr). A
configuration is "regressed" (or "improved") only when its change is significant AND its whole
interval lies beyond --threshold; "inconclusive" when it is significant but its interval reaches back
inside the threshold (or a side has too few rounds for a test); "same" otherwise.

Machines. When the runs come from different machines (CPU model, usable cores, GPUs, or a matmul peak
that differs by more than both runs' own spread), compare says so first and compares machine-normalised
cost: every sample divided by that run's median single-thread C baseline at the same machine, threads
and shape ("x C": a multiple of the C baseline's per-record cost), with % of that run's matmul peak
beside it. --raw compares seconds anyway. A run may hold several machines (points/<machine>/): when
the runs share machines, each is compared with itself; when each run holds one machine and they
differ, the two are compared with each other.

The machine's speed. Only rounds the quiet gate counted are compared (rnnbench.bench.yardstick: the
yardstick read before and after each round stayed near its value at rest). --basis yardstick reads each
round's cost in yardsticks instead (seconds per record / the yardstick read around that round), with the
raw B/A beside; it is not the default, since on recorded runs it did not cut the error the quiet gate
leaves. A configuration whose point stayed loaded in either run (too few quiet rounds) is not judged,
and is listed as such.

Noise. Both runs' speed sentinel (each worker's drift from its start to its end, and B's sentinel
against A's), load average and quiet gate come before the table.

Time to target. When both runs trained accuracy points, a separate table follows: per configuration
(implementation, threads, B), the median time to a target accuracy over each run's seeds with its
interval, and "faster" or "slower" only where Mann-Whitney U on the per-seed times tells them apart
(rnnbench.compare.accuracy), else "no difference found at N seeds". Runs made with --skip-sweep are
compared on this table alone. It does not change the exit status.

Exit status: 0 no significant regression, 1 at least one, 2 bad input or nothing to compare.

examples:
  rnnbench compare results/reference results/20250101-120000-4211b91
  rnnbench compare OLD NEW --threshold 1.05 --kind step --all
  rnnbench compare OLD_MACHINE NEW_MACHINE --raw
"""

from __future__ import annotations

import argparse
import sys

from rnnbench.compare.accuracy import compare_time_to_target, format_targets
from rnnbench.compare.core import compare_runs
from rnnbench.compare.output import (
    describe_noise,
    format_table,
    gate_line,
    machines_line,
    noise_summary,
    run_line,
    sentinel_line,
    summary_line,
)
from rnnbench.compare.runs import CompareError, load_run
from rnnbench.runs import store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("run_a", metavar="RUN_A", help="the baseline: a run folder or a run id under --results-dir")
    add("run_b", metavar="RUN_B", help="the candidate")
    add(
        "--threshold",
        type=float,
        default=1.10,
        help="a change counts only when its whole interval lies beyond this ratio (default: %(default)s)",
    )
    add(
        "--fdr",
        type=float,
        default=0.05,
        help="false-discovery rate of the Benjamini-Hochberg correction (default: %(default)s)",
    )
    add("--raw", action="store_true", help="compare seconds even when the machines differ (default: normalise)")
    add("--kind", choices=("step", "epoch", "all"), default="all", help="which points to compare (default: all)")
    add(
        "--target-accuracy",
        type=float,
        default=None,
        metavar="ACC",
        help="validation accuracy of the time-to-target table (default: 0.9 x the best of either run)",
    )
    add("--results-dir", default=str(store.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add("--all", action="store_true", help="list every configuration, not only the changed ones")
    add(
        "--basis",
        choices=("seconds", "yardstick"),
        default="seconds",
        help="read each quiet round's cost in seconds, or against the yardstick read around it (both runs "
        "need it; default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        run_a = load_run(args.run_a, args.results_dir)
        run_b = load_run(args.run_b, args.results_dir)
        target, targets = compare_time_to_target(run_a, run_b, args.target_accuracy)
    except (CompareError, ValueError) as e:
        print(f"rnnbench: error: {e}", file=sys.stderr)
        return 2
    if not (run_a.timed_samples() and run_b.timed_samples()):  # a --skip-sweep run: time to target alone
        if not targets:
            print("rnnbench: error: the two runs share no configuration: nothing to compare", file=sys.stderr)
            return 2
        print(format_targets(target, targets))
        return 0
    status = compare_steps(run_a, run_b, args)
    if targets:
        print(format_targets(target, targets))
    return status


def compare_steps(run_a, run_b, args: argparse.Namespace) -> int:
    """The step comparison: its lines, its table; the exit status (1: a significant regression)."""
    try:
        c = compare_runs(
            run_a, run_b, threshold=args.threshold, fdr=args.fdr, kind=args.kind, raw=args.raw, basis=args.basis
        )
    except CompareError as e:
        print(f"rnnbench: error: {e}", file=sys.stderr)
        return 2
    labels_a, labels_b = {p[0] for p in c.pairing.pairs}, {p[1] for p in c.pairing.pairs}
    if line := machines_line(c):
        print(line)
    print(run_line("A", run_a, labels_a))
    print(run_line("B", run_b, labels_b))
    na, nb = noise_summary(run_a, labels_a), noise_summary(run_b, labels_b)
    print(f"noise A: {describe_noise(na)}\nnoise B: {describe_noise(nb)}")
    if line := sentinel_line(na, nb, c.threshold):
        print(line)
    for letter, r, labels in (("A", run_a, labels_a), ("B", run_b, labels_b)):
        if line := gate_line(letter, r, labels):
            print(line)
    for letter, r in (("A", run_a), ("B", run_b)):
        for path, reason in r.unreadable:
            print(f"warning: {letter}'s point file {path} is unreadable ({reason}): left out")
    if c.pairing.unmatched:
        print(f"not compared: machines measured by one run only: {', '.join(c.pairing.unmatched)}")
    if not c.rows:
        why = (
            "no configuration both runs measured has a C baseline at its shape in both to normalise by (--raw "
            "compares seconds)"
            if c.no_baseline
            else "the two runs share no configuration"
        )
        print(f"rnnbench: error: {why}: nothing to compare", file=sys.stderr)
        return 2
    shown = c.rows if args.all else [r for r in c.rows if r.verdict.status != "same"]
    if shown:
        print(format_table(shown, c.normalised, c.pairing.by_machine and len(c.pairing.pairs) > 1, c.in_yardsticks))
    print(summary_line(c))
    if c.only_a or c.only_b:
        print(f"not compared: {len(c.only_a)} configurations only in A, {len(c.only_b)} only in B")
    if c.no_baseline:
        print(f"not compared: {len(c.no_baseline)} configurations without a C baseline at their shape to normalise by")
    for what in c.untestable:
        print(f"not compared: {what}")
    for what in c.unsteady:
        print(f"not judged, too unsteady (too few rounds on a quiet machine): {what}")
    return 1 if c.count("regressed") else 0
