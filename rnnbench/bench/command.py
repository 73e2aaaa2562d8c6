"""`rnnbench bench`: plan the sweep, run one worker process per (implementation, threads, device), and
write the run's tables and report.

Each worker (rnnbench.bench.worker) sets its framework's threads before the framework starts, measures
its points and writes each one atomically as it finishes: after Ctrl-C, run the same command with
--run-id RUN --resume to measure only what is missing.

examples:
  rnnbench bench                                    quick profile, every installed implementation
  rnnbench bench --impl numpy-bptt,jax-scan --hidden 64 --batch-sizes 1,8,64 --skip-accuracy
  rnnbench bench --profile full --threads 1,2
  rnnbench bench --run-id 20250101-120000-4211b91 --resume
  rnnbench bench --shard 1/2 --machine alpha        this machine's half of the sweep
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rnnbench import machine, results
from rnnbench.bench import plan
from rnnbench.bench.profiles import PROFILES
from rnnbench.bench.worker import WorkerSpec
from rnnbench.jsonio import read_json


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def _name_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--profile", choices=tuple(PROFILES), default="quick", help="how much to measure (default: %(default)s)")
    add("--impl", type=_name_list, default=None, metavar="A,B", help="implementations (default: all installed)")
    add("--hidden", type=_int_list, default=None, metavar="H,H", help="hidden sizes (default: the profile's)")
    add("--seq-len", type=_int_list, default=None, metavar="T,T", help="sequence lengths (default: the profile's)")
    add("--batch-sizes", type=_int_list, default=None, metavar="B,B", help="batch sizes (default: the profile's)")
    add(
        "--threads",
        type=_int_list,
        default=(1,),
        metavar="N,N",
        help="thread counts, the same for every framework (default: 1)",
    )
    add("--device", default="cpu", help="device for the implementations that have it (default: %(default)s)")
    add(
        "--data",
        default=None,
        metavar="SPEC",
        help="data set of the accuracy runs (default: the profile's; see rnnbench train)",
    )
    add("--skip-accuracy", action="store_true", help="leave out the accuracy-per-second runs")
    add("--skip-sweep", action="store_true", help="leave out the step-cost sweep (and its matmul peak and C baseline)")
    add(
        "--machine",
        default=None,
        metavar="NAME",
        help="label of this machine in the results (default: CPU model, cores, GPU)",
    )
    add("--shard", default=None, metavar="K/N", help="measure only the K-th of N disjoint shares of the sweep")
    add("--run-id", default=None, metavar="NAME", help="name of the run folder (default: date-time + git hash)")
    add(
        "--resume",
        action="store_true",
        help="continue run --run-id (default: the newest), measuring only what is missing",
    )
    add(
        "--force",
        action="store_true",
        help="resume even though the code or library versions changed since the run began",
    )
    add("--results-dir", default=str(results.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write report.md and plots at the end (default: on)",
    )


@dataclass
class Tally:
    """What this invocation really did."""

    measured: dict[str, int] = field(default_factory=lambda: {"ok": 0, "flagged": 0, "failed": 0, "skipped": 0})
    already_done: int = 0
    set_aside: list[str] = field(default_factory=list)
    workers_failed: list[str] = field(default_factory=list)


def _error(message: str) -> int:
    print(f"rnnbench: error: {message}", file=sys.stderr)
    return 2


def run_worker_here(spec: WorkerSpec, spec_dir: Path) -> int:
    """Run one worker as a child process with its thread variables set; returns its exit status."""
    path = spec_dir / f"{spec.impl}-{spec.device}-t{spec.threads}.json"
    path.write_text(spec.to_json(), encoding="utf-8")
    env = os.environ | machine.thread_env(spec.threads)
    proc = subprocess.Popen(spec.command(path), cwd=machine.REPO_ROOT, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        _stop(proc)
        raise


INTERRUPT_GRACE_S = 2.0  # a worker that got the terminal's SIGINT itself stops well within this


def _stop(proc: subprocess.Popen) -> None:
    """After Ctrl-C: let the worker save what it has and stop. From a terminal it got the same SIGINT;
    from `kill -INT` on this process alone it did not, so it is passed on; a second Ctrl-C kills it."""
    try:
        proc.wait(timeout=INTERRUPT_GRACE_S)
        return
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
            return
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            pass
    except KeyboardInterrupt:
        pass
    proc.kill()
    proc.wait()


def _stamps(run_dir: Path, machine_label: str, point_ids: set[str]) -> dict[str, tuple[int, int] | None]:
    """Each point file's (inode, mtime) now, None where there is none: a point was measured by this
    invocation when its file changed since (an earlier failed record left in place does not count)."""
    out: dict[str, tuple[int, int] | None] = {}
    for point_id in point_ids:
        try:
            st = results.point_path(run_dir, machine_label, point_id).stat()
            out[point_id] = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            out[point_id] = None
    return out


def _count(run_dir: Path, machine_label: str, before: dict[str, tuple[int, int] | None], tally: Tally) -> None:
    now = _stamps(run_dir, machine_label, set(before))
    for point_id, stamp in now.items():
        if stamp is None or stamp == before[point_id]:
            continue
        try:
            status = str(read_json(results.point_path(run_dir, machine_label, point_id)).get("status"))
        except (OSError, ValueError, AttributeError):
            status = "failed"  # written but unreadable: it measured nothing usable
        tally.measured[status] = tally.measured.get(status, 0) + 1


def resume_command(p: plan.Plan, args: argparse.Namespace) -> str:
    """The command that continues this run: its sweep (as run.json records it), shard, machine and folder."""
    sweep, profile = p.sweep, p.sweep.profile
    default = PROFILES[profile.name]
    words = ["rnnbench", "bench", "--profile", profile.name, "--impl", ",".join(sweep.impls)]
    for flag, name in (("--hidden", "hidden"), ("--seq-len", "seq_len"), ("--batch-sizes", "batch_sizes")):
        if getattr(profile, name) != getattr(default, name):
            words += [flag, ",".join(map(str, getattr(profile, name)))]
    if profile.data != default.data:
        words += ["--data", profile.data]
    if sweep.threads != (1,):
        words += ["--threads", ",".join(map(str, sweep.threads))]
    if sweep.device != "cpu":
        words += ["--device", sweep.device]
    words += ["--skip-sweep"] * (not sweep.sweep) + ["--skip-accuracy"] * (not sweep.accuracy)
    if args.machine:
        words += ["--machine", p.machine]
    if p.shard:
        words += ["--shard", args.shard]
    if Path(args.results_dir) != results.DEFAULT_RESULTS_DIR:
        words += ["--results-dir", str(args.results_dir)]
    return shlex.join([*words, "--run-id", p.run_dir.name, "--resume"])


def finish(run_dir: Path, report: bool) -> None:
    """The run's tables from its points, fit.csv, and (if asked and possible) its report."""
    from rnnbench import analysis

    results.combine(run_dir)
    analysis.write_fit(run_dir)
    if not report:
        return
    try:
        from rnnbench import report as report_module

        print(f"report: {report_module.build_report(run_dir)}")
    except ImportError as e:
        print(f"no report: {e} (pip install 'rnnbench[report]')")


def run(args: argparse.Namespace) -> int:
    """`rnnbench bench`: 0 when every point measured passed its checks (or nothing was left to do),
    1 when one failed, 2 for bad input, 130 on Ctrl-C."""
    try:
        p = plan.make_plan(args)
    except plan.PlanError as e:
        return _error(str(e))
    except KeyboardInterrupt:
        print("\ninterrupted before anything was measured", file=sys.stderr)
        return 130
    run_dir, specs = p.run_dir, p.specs
    tally = Tally(already_done=p.already_done, set_aside=p.set_aside)
    for what in p.set_aside:
        print(f"unreadable point file {what}")
    todo = sum(len(s.point_ids) for s in specs)
    print(
        f"rnnbench bench: profile {p.sweep.profile.name}, {', '.join(p.sweep.impls)}, threads "
        f"{','.join(map(str, p.sweep.threads))}, machine {p.machine}{f', shard {p.shard}' if p.shard else ''} -> {run_dir}"
        f"\n{todo} points to measure" + (f", {p.already_done} already done" if p.already_done else ""),
        flush=True,
    )
    started = time.perf_counter()
    before = _stamps(run_dir, p.machine, {i for s in specs for i in s.point_ids})
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="rnnbench-specs-") as tmp:
        for k, spec in enumerate(specs, start=1):
            print(f"\n[worker {k}/{len(specs)}] {plan.group_of(spec).label}: {len(spec.point_ids)} points", flush=True)
            try:
                code = run_worker_here(spec, Path(tmp))
            except KeyboardInterrupt:
                interrupted = True
                break
            if code == 130:
                interrupted = True
                break
            if code not in (0, 1):
                tally.workers_failed.append(f"{plan.group_of(spec).label} (exit {code})")
    _count(run_dir, p.machine, before, tally)
    minutes, seconds = divmod(int(time.perf_counter() - started), 60)
    resume = resume_command(p, args)
    m = tally.measured
    print(
        f"\nrnnbench bench: measured {sum(m.values())} of {todo} points ({m['ok']} ok, {m['flagged']} flagged, "
        f"{m['failed']} failed, {m['skipped']} skipped), {tally.already_done} already done, {len(tally.set_aside)} set aside, "
        f"in {minutes}:{seconds:02d} -> {run_dir}"
    )
    for what in tally.workers_failed:
        print(f"worker failed: {what}")
    if interrupted:
        print(f"interrupted: finished points are kept; continue with: {resume}")
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: the point files are what counts
            results.combine(run_dir)
        return 130
    if results.load_points(run_dir):
        try:
            finish(run_dir, args.report)
        except KeyboardInterrupt:
            print(f"\ninterrupted: every point is measured; write the tables with: {resume}")
            return 130
    complete = sum(m.values()) == todo
    return 0 if complete and not m["failed"] and not tally.workers_failed else 1
