"""`rnnbench ab`: measure two versions of the code in one invocation, worker by worker, and compare them.

A and B are each a git revision of this repository (checked out for the run under the run folder's
checkouts/, removed after) or the folder of an rnnbench checkout (`.` is the working tree as it is,
uncommitted changes included). For every worker group (implementation, threads), A's worker and B's
worker run one after the other on this machine, the order alternating from group to group (A B, B A,
A B, ...), so that a machine that slows down over the run slows both sides alike; inside each worker the
rounds are interleaved and read against the yardstick, as in `rnnbench bench`. Each side becomes an
ordinary run (<run>/a and <run>/b), and the two are compared as `rnnbench compare <run>/a <run>/b` would.

This is what a CI job uses to judge a change against main: both versions measured on the same machine
in the same minutes. Only the step sweep is measured (no accuracy runs, no matmul peak or C baseline:
both sides share the machine). Both versions must be recent enough to share the worker's spec.

Exit status as compare's: 0 no significant regression, 1 at least one, 2 bad input; 130 or 143 when
stopped by SIGINT or SIGTERM.

examples:
  rnnbench ab main .                                  the working tree against main
  rnnbench ab HEAD~1 HEAD --impl numpy-bptt --batch-sizes 1,8,64 --hidden 64
  rnnbench ab ../rnnbench-main ../rnnbench-pr --threshold 1.05
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from rnnbench import machine
from rnnbench.bench import executors, plan, stopping
from rnnbench.bench import points as pts
from rnnbench.bench.profiles import PROFILES
from rnnbench.bench.worker import WorkerSpec
from rnnbench.commands import arguments
from rnnbench.runs import store

SIDES = ("a", "b")
CHECKOUTS = "checkouts"  # under the run folder: the revisions checked out for the run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("a", metavar="A", help="the baseline: a git revision of this repository, or an rnnbench checkout's folder")
    add("b", metavar="B", help="the candidate, likewise (`.`: this working tree as it is)")
    add("--profile", choices=tuple(PROFILES), default="quick", help="timing and sweep (default: %(default)s)")
    add(
        "--impl", type=arguments.name_list, default=None, metavar="A,B", help="implementations (default: all installed)"
    )
    add("--hidden", type=arguments.positive_int_list, default=None, metavar="H,H", help="hidden sizes")
    add("--seq-len", type=arguments.positive_int_list, default=None, metavar="T,T", help="sequence lengths")
    add("--batch-sizes", type=arguments.positive_int_list, default=None, metavar="B,B", help="batch sizes")
    add("--threads", type=arguments.positive_int_list, default=(1,), metavar="N,N", help="thread counts (default: 1)")
    add("--device", default="cpu", help="device (default: %(default)s)")
    add("--run-id", default=None, metavar="NAME", help="the run folder's name (default: ab-<date-time>)")
    add("--results-dir", default=str(store.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add("--threshold", type=float, default=1.10, help="a change smaller than this factor is never flagged")
    add("--fdr", type=float, default=0.05, help="false-discovery rate over all configurations (default: 0.05)")
    add("--basis", choices=("seconds", "yardstick"), default="seconds", help="as compare's --basis")
    add("--all", action="store_true", help="list every configuration, not only the changed ones")


class ABError(ValueError):
    """Bad input: the message is the one line to print (exit status 2)."""


@dataclass(frozen=True)
class Version:
    name: str  # "a" or "b"
    asked: str  # what the user gave
    root: Path  # the checkout whose worker measures
    run_dir: Path
    worktree: bool  # made for this run: removed at the end


def _is_checkout(path: Path) -> bool:
    return (path / "rnnbench" / "bench" / "worker.py").is_file() and (path / "impls").is_dir()


def resolve_side(name: str, asked: str, run_dir: Path) -> Version:
    """A folder that holds an rnnbench checkout as it is, or a revision checked out under the run folder."""
    folder = Path(asked).expanduser()
    if folder.is_dir():
        if not _is_checkout(folder):
            raise ABError(f"{asked} is a folder but not an rnnbench checkout (no rnnbench/bench/worker.py)")
        return Version(name, asked, folder.resolve(), run_dir / name, worktree=False)
    target = run_dir / CHECKOUTS / name
    done = subprocess.run(
        ["git", "worktree", "add", "--detach", str(target), asked],
        cwd=machine.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise ABError(f"{asked} is neither a folder nor a git revision of {machine.REPO_ROOT} ({why})")
    return Version(name, asked, target.resolve(), run_dir / name, worktree=True)


def remove_side(side: Version) -> None:
    if side.worktree:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(side.root)],
            cwd=machine.REPO_ROOT,
            capture_output=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        shutil.rmtree(side.root, ignore_errors=True)


def make_sweep(args: argparse.Namespace) -> pts.Sweep:
    import impls
    from rnnbench.bench.plan import resolve_impls

    names = resolve_impls(args.impl, args.device)
    profile = PROFILES[args.profile].with_overrides(
        hidden=args.hidden, seq_len=args.seq_len, batch_sizes=args.batch_sizes
    )
    fused = tuple(n for n in names if n in impls.FUSED_EPOCH)
    return pts.Sweep(names, profile, tuple(args.threads), args.device, fused, sweep=True, accuracy=False)


def worker_specs(sweep: pts.Sweep, label: str) -> list[WorkerSpec]:
    """One spec per worker group (implementation, threads) of the step sweep; run_dir set per side later."""
    from dataclasses import asdict

    groups: dict[pts.WorkerGroup, list[str]] = {}
    for t in sweep.threads:
        for p in pts.step_points(sweep, t):
            groups.setdefault(p.group, []).append(p.point_id)
    profile = asdict(sweep.profile)
    return [WorkerSpec("", None, label, g.impl, g.threads, g.device, profile, tuple(ids)) for g, ids in groups.items()]


def schedule(specs: list[WorkerSpec], sides: tuple[Version, Version]) -> list[tuple[Version, WorkerSpec]]:
    """Worker by worker, the two sides alternating which goes first: A B, B A, A B, ..."""
    order = []
    for k, spec in enumerate(specs):
        first, second = sides if k % 2 == 0 else sides[::-1]
        order += [(first, spec), (second, spec)]
    return order


def run_worker(side: Version, spec: WorkerSpec, spec_dir: Path) -> int:
    """The side's own worker (its checkout's code) on spec, with that side's run folder."""
    spec = replace(spec, run_dir=str(side.run_dir), run_id=side.run_dir.name)
    return executors.run_worker_here(spec, spec_dir, root=side.root)


def side_manifest(side: Version, sweep: pts.Sweep) -> dict:
    """plan.manifest's record of the side's own checkout, and which side it is."""
    ab = {"side": side.name, "asked": side.asked, "checkout": str(side.root)}
    return plan.manifest(sweep, side.run_dir.name, root=side.root) | {"ab": ab}


def measure(sides: tuple[Version, Version], specs: list[WorkerSpec]) -> list[str]:
    """Run the schedule; the workers that ended abnormally (`side group (exit N)`)."""
    failed = []
    order = schedule(specs, sides)
    with tempfile.TemporaryDirectory(prefix="rnnbench-ab-") as tmp:
        for k, (side, spec) in enumerate(order, start=1):
            group = f"{spec.impl} t{spec.threads}"
            print(f"\n[{k}/{len(order)}] {side.name.upper()} ({side.asked}): {group}, {len(spec.point_ids)} points")
            code = run_worker(side, spec, Path(tmp))
            if (signum := stopping.signal_of_status(code)) is not None:
                raise stopping.Stopped(signum)
            if code not in (0, 1):
                failed.append(f"{side.name.upper()} {group} (exit {code})")
    return failed


def run(args: argparse.Namespace) -> int:
    with stopping.sigterm_stops():
        try:
            return _run(args)
        except ABError as e:
            print(f"rnnbench: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as e:
            stopping.ignore_stopping_signals()
            print(f"\nstopped by {stopping.signal_name(stopping.signal_of(e))}", file=sys.stderr)
            return stopping.exit_status(stopping.signal_of(e))


def _run(args: argparse.Namespace) -> int:
    try:
        sweep = make_sweep(args)
        run_id = store.check_name(args.run_id, "a run id") if args.run_id else "ab-" + store.new_run_id(None)
    except (plan.PlanError, ValueError) as e:
        raise ABError(str(e)) from None
    run_dir = Path(args.results_dir).resolve() / run_id
    if run_dir.exists():
        raise ABError(f"{run_dir} exists already: choose another --run-id")
    run_dir.mkdir(parents=True)
    made: list[Version] = []
    try:
        for name, asked in zip(SIDES, (args.a, args.b), strict=True):
            made.append(resolve_side(name, asked, run_dir))
        sides = (made[0], made[1])
        for side in sides:
            store.write_manifest(side.run_dir, side_manifest(side, sweep))
        specs = worker_specs(sweep, machine.machine_label())
        print(f"rnnbench ab: A = {args.a}, B = {args.b}: {len(specs)} worker groups each, alternating -> {run_dir}")
        failed = measure(sides, specs)
    finally:
        for side in made:
            remove_side(side)
    for what in failed:
        print(f"worker failed: {what}")
    return _compare(args, run_dir) or (1 if failed else 0)


def _compare(args: argparse.Namespace, run_dir: Path) -> int:
    """`rnnbench compare <run>/a <run>/b` with ab's options."""
    from rnnbench.commands import compare

    for side in SIDES:
        store.combine(run_dir / side)
    parser = argparse.ArgumentParser(prog="rnnbench compare")
    compare.add_arguments(parser)  # compare's own defaults for every option ab does not set
    words = [str(run_dir / "a"), str(run_dir / "b"), "--threshold", str(args.threshold), "--fdr", str(args.fdr)]
    words += ["--basis", args.basis, "--results-dir", str(args.results_dir)] + ["--all"] * args.all
    ns = parser.parse_args(words)
    print()
    return compare.run(ns)
