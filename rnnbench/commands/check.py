"""`rnnbench check NAME`: run the conformance cases (the same list as tests/test_conformance.py) on one
implementation, built-in or another package's, and print a table of what passed.

Against the float64 NumPy reference: logits, loss and gradients in float64 (to 1e-10) and float32,
gradients against finite differences, K-step trajectories with every optimizer and clipping, fused
epochs, ragged batches and padding, and the bad-input cases every implementation must refuse with the
same InputError. The verdict is recorded under RESULTS_DIR/checks/ with the code version it holds for:
`rnnbench bench` times an outside implementation only when it passed at the same version.

Exit status: 0 when every case passed, 1 when one failed, 2 for an unknown name.

examples:
  rnnbench check numba-loops
  rnnbench check numpy-bptt --verbose
  rnnbench check --list                 every implementation: built in, or which package's
"""

from __future__ import annotations

import argparse
import sys
import time

from rnnbench.runs import store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("name", nargs="?", default=None, metavar="NAME", help="the implementation to check")
    add("--list", action="store_true", help="list the implementations (built-in and plugins) and stop")
    add("--verbose", action="store_true", help="print every case as it ends, and every failure in full")
    add("--results-dir", default=str(store.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add("--no-record", action="store_true", help="do not record the verdict (bench will not find it)")


def list_lines() -> list[str]:
    """One line per implementation: built in, or the plugin's package and version, and whether it can run."""
    import impls

    lines = []
    for name in impls.names():
        plugin = impls.registry.plugins().get(name)
        origin = "built in" if plugin is None else f"plugin from {plugin.distribution} {plugin.version}"
        reason = impls.unavailable_reason(name)
        lines.append(f"{name}: {origin}" + (f"; cannot run here: {reason}" if reason else ""))
    return lines


def run(args: argparse.Namespace) -> int:
    import impls
    from rnnbench.conformance import runner, verdicts

    if args.list:
        print("\n".join(list_lines()))
        return 0
    if args.name is None:
        print("rnnbench: error: name an implementation to check (or --list)", file=sys.stderr)
        return 2
    try:
        impls.registry.check_known(args.name)
    except impls.InputError as e:
        print(f"rnnbench: error: {e}", file=sys.stderr)
        return 2

    def show(outcome: runner.Outcome) -> None:
        if args.verbose:
            print(
                f"{'ok  ' if outcome.passed else 'FAIL'} {outcome.case_id}"
                + ("" if outcome.passed else f": {outcome.message}"),
                flush=True,
            )

    print(f"rnnbench check {args.name}: {len(runner.CASES)} conformance cases against numpy-bptt", flush=True)
    started = time.perf_counter()
    outcomes, verdict = runner.check(args.name, on_outcome=show)
    print(f"{len(outcomes)} run in {time.perf_counter() - started:.1f} s\n")
    print(runner.table(outcomes))
    failures = [o for o in outcomes if not o.passed]
    if failures:
        print(f"\n{len(failures)} of {len(outcomes)} cases failed; the first: {failures[0].line()}")
    else:
        print(f"\nall {len(outcomes)} cases passed")
    if not args.no_record:
        where = verdicts.save(args.results_dir, verdict)
        print(f"verdict recorded: {where}")
    return 0 if verdict["passed"] else 1
