"""`rnnbench bench`: plan the sweep, run one worker process per (implementation, threads, device), and
write the run's tables and report.

Each worker (rnnbench.bench.worker) sets its framework's threads before the framework starts, measures
its points and writes each one atomically as it finishes. Ctrl-C (SIGINT) and SIGTERM (kill, scancel, a
time limit) stop a run alike: the workers stop, finished points are kept, the resume command is printed
and the exit status is 130 (SIGINT) or 143 (SIGTERM). Run it with --run-id RUN --resume to measure only
what is missing. A run started with SIGINT ignored (nohup, `&` in a script) keeps ignoring it.

examples:
  rnnbench bench                                    quick profile, every installed implementation
  rnnbench bench --impl numpy-bptt,jax-scan --hidden 64 --batch-sizes 1,8,64 --skip-accuracy
  rnnbench bench --profile full --threads 1,2
  rnnbench bench --skip-sweep --data folder:examples/names      accuracy per second on your data
  rnnbench bench --skip-sweep --acc-batch-sizes 1,8 --acc-hidden 32 --acc-epochs 5 --acc-lr 0.01
  rnnbench bench --run-id 20250101-120000-4211b91 --resume
  rnnbench bench --impl numba-loops,numpy-bptt --batch-sizes 1 --skip-accuracy
                                                    another package's implementation beside ours: timed only
                                                    when it passes `rnnbench check` at this code version
  rnnbench bench --shard 1/2 --machine alpha        this machine's half of the sweep
  rnnbench bench --executor local --jobs 2          two shards at once, as jobs on this machine
  rnnbench bench --profile full --executor slurm --jobs 8 --slurm-partition cpu --slurm-time 2:00:00
                                                    eight SLURM jobs, each on a node of its own

With --executor local or slurm, each job writes its points into the run folder (for SLURM, on a
filesystem the nodes share) and its log into the run's jobs/ folder; the tables and the report are
written when every job has ended.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rnnbench.bench import executors, gate, plan, stopping
from rnnbench.bench.profiles import PROFILES
from rnnbench.bench.progress import PointFiles, Progress
from rnnbench.commands import arguments
from rnnbench.commands.outputs import finish
from rnnbench.runs import store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _sweep_arguments(parser.add_argument)
    _accuracy_arguments(parser.add_argument)
    _run_arguments(parser.add_argument)


def _sweep_arguments(add: Callable[..., object]) -> None:
    """What to measure: the profile, the implementations and shapes, the data of the accuracy runs."""
    add("--profile", choices=tuple(PROFILES), default="quick", help="how much to measure (default: %(default)s)")
    add(
        "--impl", type=arguments.name_list, default=None, metavar="A,B", help="implementations (default: all installed)"
    )
    add(
        "--hidden",
        type=arguments.positive_int_list,
        default=None,
        metavar="H,H",
        help="hidden sizes (default: the profile's)",
    )
    add(
        "--seq-len",
        type=arguments.positive_int_list,
        default=None,
        metavar="T,T",
        help="sequence lengths (default: the profile's)",
    )
    add(
        "--batch-sizes",
        type=arguments.positive_int_list,
        default=None,
        metavar="B,B",
        help="batch sizes (default: the profile's)",
    )
    add(
        "--threads",
        type=arguments.positive_int_list,
        default=(1,),
        metavar="N,N",
        help="thread counts, the same for every framework (default: 1)",
    )
    add("--device", default="cpu", help="device for the implementations that have it (default: %(default)s)")
    add("--skip-accuracy", action="store_true", help="leave out the accuracy-per-second runs")
    add("--skip-sweep", action="store_true", help="leave out the step-cost sweep (and its matmul peak and C baseline)")


def _accuracy_arguments(add: Callable[..., object]) -> None:
    """The accuracy runs: their data, hidden size, batch sizes, epochs and learning rate."""
    add(
        "--data",
        default=None,
        metavar="SPEC",
        help="data set of the accuracy runs (default: the profile's; see rnnbench train)",
    )
    add(
        "--seeds",
        type=arguments.positive_int,
        default=None,
        metavar="N",
        help="training runs per implementation and batch size of the accuracy points, seeds 0 .. N-1 "
        "(initialisation and shuffling; default: the profile's)",
    )
    add(
        "--acc-hidden",
        type=arguments.positive_int,
        default=None,
        metavar="H",
        help="hidden size of the accuracy runs (default: the profile's)",
    )
    add(
        "--acc-batch-sizes",
        type=arguments.positive_int_list,
        default=None,
        metavar="B,B",
        help="batch sizes of the accuracy runs, one run each (default: the profile's)",
    )
    add(
        "--acc-epochs",
        type=arguments.positive_int,
        default=None,
        metavar="N",
        help="epochs of each accuracy run (default: the profile's)",
    )
    add(
        "--acc-lr",
        type=arguments.positive_float,
        default=None,
        metavar="LR",
        help="SGD learning rate of the accuracy runs at B=1; a run at batch size B uses LR * sqrt(B) "
        "(default: the profile's)",
    )


def _run_arguments(add: Callable[..., object]) -> None:
    """Where and as what the run goes: machine label, shard, run folder, resuming, executor, report."""
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
    add("--results-dir", default=str(store.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add(
        "--executor",
        default="here",
        metavar="NAME",
        help="where the workers run: " + "; ".join(f"{k}: {v}" for k, v in executors.BACKENDS.items()),
    )
    add(
        "--jobs",
        type=arguments.positive_int,
        default=None,
        metavar="N",
        help="split the sweep into N shards, one job each (default: 1; on --resume, as the run was submitted)",
    )
    add("--slurm-partition", default=None, metavar="NAME", help="SLURM partition of the jobs")
    add("--slurm-constraint", default=None, metavar="FEATURES", help="SLURM node features, e.g. the CPU model")
    add("--gpus-per-node", type=arguments.positive_int, default=None, metavar="N", help="GPUs each SLURM job asks for")
    add(
        "--slurm-time",
        default=None,
        metavar="TIME",
        help=f"each SLURM job's time limit: minutes, H:MM:SS or D-HH:MM:SS (default: {executors.DEFAULT_SLURM_TIME_MIN})",
    )
    add(
        "--no-check",
        action="store_true",
        help="time other packages' implementations without their conformance check (development; the run says so)",
    )
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


def resume_command(p: plan.Plan, args: argparse.Namespace) -> str:
    """The command that continues this run: its sweep (as run.json records it), shard, machine and folder."""
    sweep, profile = p.sweep, p.sweep.profile
    default = PROFILES[profile.name]
    words = ["rnnbench", "bench", "--profile", profile.name, "--impl", ",".join(sweep.impls)]
    for flag, name in plan.PROFILE_FLAGS.items():
        value = getattr(profile, name)
        if value != getattr(default, name):
            words += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    if sweep.threads != (1,):
        words += ["--threads", ",".join(map(str, sweep.threads))]
    if sweep.device != "cpu":
        words += ["--device", sweep.device]
    words += ["--skip-sweep"] * (not sweep.sweep) + ["--skip-accuracy"] * (not sweep.accuracy)
    words += ["--no-check"] * bool(getattr(args, "no_check", False))
    if args.machine:
        words += ["--machine", p.machine]
    if p.shard:
        words += ["--shard", args.shard]
    if p.execution.name != "here":
        words += ["--executor", p.execution.name]
        for flag in p.execution.slurm_options():
            words += [flag, str(getattr(args, flag[2:].replace("-", "_")))]
    if Path(args.results_dir) != store.DEFAULT_RESULTS_DIR:
        words += ["--results-dir", str(args.results_dir)]
    return shlex.join([*words, "--run-id", p.run_dir.name, "--resume"])


POLL_S = 2.0  # how often the run folder and the jobs are looked at while jobs run elsewhere


@dataclass
class Waited:
    """What the jobs did: their outcomes, the jobs that did not finish (with why), and the signal that
    stopped the wait (SIGINT, SIGTERM), if one did."""

    outcomes: list[executors.JobOutcome] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stopped_by: int | None = None


def submit(executor: executors.Executor, jobs: list[executors.ShardJob]) -> list[executors.Handle]:
    handles = executor.submit(jobs)
    if executor.name != "here":
        for h in handles:
            log = f", log {h.log}" if h.log else ""
            print(f"submitted {h.describe()}: {len(h.job.point_ids)} points{log}", flush=True)
    return handles


def wait(handles: list[executors.Handle], files: PointFiles, progress: Progress) -> Waited:
    """Wait for every job, showing the points finished so far; Ctrl-C or SIGTERM cancels the jobs not yet
    ended, and waits until each has stopped its worker."""
    out, pending = Waited(), list(handles)
    try:
        while pending:
            for h in list(pending):
                if not h.done():  # for `here` and `debug`: runs the job
                    continue
                pending.remove(h)
                try:
                    outcome = h.outcome()
                except executors.JobFailed as e:
                    out.failed.append(str(e))
                    continue
                out.outcomes.append(outcome)
                if outcome.error:
                    out.failed.append(f"{h.describe()} raised {outcome.error}")
                if outcome.stopped_by is not None:
                    raise stopping.Stopped(outcome.stopped_by)
            progress.update(files.count(), len(handles) - len(pending))
            if pending:
                time.sleep(POLL_S)
    except KeyboardInterrupt as e:
        out.stopped_by = stopping.signal_of(e)
        for h in pending:
            with contextlib.suppress(Exception):  # a job that ended meanwhile, or a scheduler gone
                h.cancel()
            out.failed.append(f"{h.describe()} cancelled")
    finally:
        progress.close()
    return out


def run(args: argparse.Namespace) -> int:
    """`rnnbench bench`: 0 when every point measured passed its checks (or nothing was left to do),
    1 when one failed, 2 for bad input, 130 on Ctrl-C (SIGINT), 143 on SIGTERM."""
    with stopping.sigterm_stops():
        try:
            return _run(args)
        except KeyboardInterrupt as e:  # between the steps that handle it themselves
            stopping.ignore_stopping_signals()
            print(f"\nstopped by {stopping.signal_name(stopping.signal_of(e))}", file=sys.stderr)
            return stopping.exit_status(stopping.signal_of(e))


def _run(args: argparse.Namespace) -> int:
    try:
        p = plan.make_plan(args)
    except plan.PlanError as e:
        return _error(str(e))
    except KeyboardInterrupt as e:
        print("\ninterrupted before anything was measured", file=sys.stderr)
        return stopping.exit_status(stopping.signal_of(e))
    run_dir, specs = p.run_dir, p.specs
    tally = Tally(already_done=p.already_done, set_aside=p.set_aside)
    for name, verdict in p.gate.items():
        print(gate.describe(name, verdict))
    for what in p.set_aside:
        print(f"unreadable point file {what}")
    todo = sum(len(s.point_ids) for s in specs)
    print(
        f"rnnbench bench: profile {p.sweep.profile.name}, {', '.join(p.sweep.impls)}, threads "
        f"{','.join(map(str, p.sweep.threads))}, machine {p.machine or 'as each node names itself'}"
        f"{f', shard {p.shard}' if p.shard else ''} -> {run_dir}"
        f"\n{todo} points to measure"
        + (f", {p.already_done} already done" if p.already_done else "")
        + (
            f", in {len(p.jobs)} job{'s' * (len(p.jobs) != 1)} (executor {p.execution.name})"
            if p.execution.name != "here"
            else ""
        ),
        flush=True,
    )
    started = time.perf_counter()
    files = PointFiles(run_dir, {i for s in specs for i in s.point_ids}, p.machine)
    executor = executors.make(p.execution, run_dir)
    try:
        handles = submit(executor, p.jobs)
    except KeyboardInterrupt as e:
        handles = []
        waited = Waited(stopped_by=stopping.signal_of(e))
    else:
        waited = wait(handles, files, Progress(todo, len(handles), show=not executor.live))
    stopped_by = waited.stopped_by
    if stopped_by is not None:
        stopping.ignore_stopping_signals()  # the jobs are stopped: what follows only reports and saves
    for outcome in waited.outcomes:
        tally.workers_failed += outcome.workers_failed
    for status in files.statuses():
        tally.measured[status] = tally.measured.get(status, 0) + 1
    # a job skips the points its node has done already (jobs that take their node's label)
    planned = {job.name: len(job.point_ids) for job in p.jobs}
    expected = todo - sum(planned[o.name] - len(o.ran) for o in waited.outcomes)
    minutes, seconds = divmod(int(time.perf_counter() - started), 60)
    resume = resume_command(p, args)
    m = tally.measured
    print(
        f"\nrnnbench bench: measured {sum(m.values())} of {expected} points ({m['ok']} ok, {m['flagged']} flagged, "
        f"{m['failed']} failed, {m['skipped']} skipped), {tally.already_done} already done, {len(tally.set_aside)} set aside, "
        f"in {minutes}:{seconds:02d} -> {run_dir}"
    )
    for what in tally.workers_failed:
        print(f"worker failed: {what}")
    for why in waited.failed:
        print(f"job failed: {why}")
    if waited.failed and stopped_by is None:
        print(f"re-submit only what is missing with: {resume}")
    if stopped_by is not None:
        print(f"interrupted ({stopping.signal_name(stopped_by)}): finished points are kept; continue with: {resume}")
        store.combine(run_dir)
        return stopping.exit_status(stopped_by)
    if store.load_points(run_dir):
        try:
            finish(run_dir, args.report)
        except KeyboardInterrupt as e:
            print(f"\ninterrupted: every point is measured; write the tables with: {resume}")
            return stopping.exit_status(stopping.signal_of(e))
    complete = sum(m.values()) == expected
    return 0 if complete and not m["failed"] and not tally.workers_failed and not waited.failed else 1
