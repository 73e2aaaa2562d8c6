"""Where a sweep's workers run: the seam between `rnnbench bench` and this machine or a cluster.

`rnnbench bench` turns a sweep into jobs (ShardJob): the workers (rnnbench.bench.worker) of one shard of
the sweep, run one after another on one machine by `run_job`. An Executor submits jobs and hands back a
Handle per job, which says when the job is done and what it did (JobOutcome), or why it did not finish
(JobFailed). Every backend runs the same `run_job`, and each worker writes its points into the run
folder as they finish, so the run folder is all a job hands back:

    here    this process runs each job's workers as its child processes, one after another (no submitit)
    local   submitit's LocalExecutor: each job is a process on this machine, all jobs at once
    debug   submitit's DebugExecutor: each job runs inside this process when it is waited on (for tests,
            and for pdb)
    slurm   submitit's SlurmExecutor: each job is a SLURM job on one node that it has to itself
            (--exclusive, one task, no srun step), so that no two timings share a machine

A job for SLURM may carry no machine label: it then takes the label of the node it lands on
(rnnbench.machine.machine_label), so that identical nodes share one. Another backend needs a class
with `submit(jobs) -> handles` and an entry in BACKENDS.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from rnnbench import machine
from rnnbench.bench import stopping, worker
from rnnbench.bench.points import WorkerGroup
from rnnbench.bench.worker import WorkerSpec
from rnnbench.runs import store

# backend name -> what it is, for --help and for the message that names the known ones
BACKENDS: dict[str, str] = {
    "here": "run the workers from this process, one after another (default)",
    "local": "submit --jobs shards as processes on this machine, all at once (submitit)",
    "debug": "submit --jobs shards that run inside this process when waited on (submitit)",
    "slurm": "submit --jobs shards as SLURM jobs, one node each, exclusive (submitit)",
}
SUBMITIT_BACKENDS = ("local", "debug", "slurm")
JOBS_FOLDER = "jobs"  # under the run folder: submitit's job files and each job's log
LOCAL_TIMEOUT_MIN = 7 * 24 * 60  # submitit's local default (2 min) would stop a sweep; a week stops none
DEFAULT_SLURM_TIME_MIN = 60
# a cancelled local job gets SIGTERM and stops its worker (stopping.stop_child): wait that long for it
LOCAL_CANCEL_WAIT_S = stopping.STOP_GRACE_S + stopping.STOP_WAIT_S + 10.0
CONTROLLER_LOG = "controllers.log"  # what submitit's local controllers print
SCHEDULER_POLL_S = 60.0  # how often SLURM is asked about jobs that have not written their result
INSTALL_HINT = "pip install 'rnnbench[cluster]'"


@dataclass(frozen=True)
class ExecutorOptions:
    """--executor and its options. slurm_time is in minutes; None options are left to the backend."""

    name: str = "here"
    jobs: int = 1
    slurm_partition: str | None = None
    slurm_constraint: str | None = None
    gpus_per_node: int | None = None
    slurm_time: int | None = None

    def slurm_options(self) -> list[str]:
        """The SLURM options given, as their flags."""
        given = {
            "--slurm-partition": self.slurm_partition,
            "--slurm-constraint": self.slurm_constraint,
            "--gpus-per-node": self.gpus_per_node,
            "--slurm-time": self.slurm_time,
        }
        return [flag for flag, value in given.items() if value is not None]


def check_options(options: ExecutorOptions) -> None:
    """ValueError (one line) for an unknown backend, SLURM options without slurm, or a missing submitit."""
    if options.name not in BACKENDS:
        raise ValueError(f"unknown executor {options.name!r}: choose one of {', '.join(BACKENDS)}")
    if options.jobs < 1:
        raise ValueError(f"--jobs takes a positive number, got {options.jobs}")
    stray = options.slurm_options()
    if stray and options.name != "slurm":
        verb = "applies" if len(stray) == 1 else "apply"
        raise ValueError(f"{', '.join(stray)} only {verb} to --executor slurm, not to --executor {options.name}")
    if options.name in SUBMITIT_BACKENDS and not submitit_available():
        raise ValueError(f"--executor {options.name} needs submitit, which is not installed ({INSTALL_HINT})")
    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]  # submitit looks for both
    if options.name == "slurm" and missing:
        raise ValueError(
            f"--executor slurm needs SLURM's {' and '.join(missing)}, not on PATH here (submit from a login node)"
        )


def submitit_available() -> bool:
    try:
        importlib.import_module("submitit")
    except ImportError:
        return False
    return True


def parse_minutes(text: str) -> int:
    """A time limit as minutes: "90", "1:30" (H:MM), "1:30:00" (H:MM:SS) or "2-00:00:00" (D-HH:MM:SS),
    rounded up to whole minutes; ValueError for anything else."""
    m = re.fullmatch(r"\s*(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?\s*", text or "")
    if not m or (m[1] and not m[3]):
        raise ValueError(f"--slurm-time takes minutes, H:MM, H:MM:SS or D-HH:MM:SS, got {text!r}")
    days, first, second, third = (int(x) if x else 0 for x in m.groups())
    # a number alone is minutes; with colons the first field is hours
    seconds = 60 * first if m[3] is None else days * 86400 + first * 3600 + second * 60 + third
    if seconds <= 0:
        raise ValueError(f"--slurm-time must be positive, got {text!r}")
    return -(-seconds // 60)


# -- jobs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardJob:
    """One job: the workers of one shard, run one after another on one machine. machine None: the
    label of the machine the job lands on."""

    name: str  # the shard's tag ("s1of2"), or "all" for an unsharded sweep
    run_dir: str
    machine: str | None
    specs: tuple[WorkerSpec, ...]

    @property
    def point_ids(self) -> tuple[str, ...]:
        return tuple(i for s in self.specs for i in s.point_ids)


@dataclass
class JobOutcome:
    """What a job did: the machine label it measured under, the points it set out to measure (those its
    machine had not done yet), the workers that ended abnormally, and the signal that stopped it, if one did."""

    name: str
    machine: str
    ran: tuple[str, ...] = ()
    workers_failed: list[str] = field(default_factory=list)
    stopped_by: int | None = None  # SIGINT or SIGTERM, to the job or to its worker
    error: str | None = None  # the job itself raised (the traceback is in its log)

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None


class JobFailed(RuntimeError):
    """A job that did not finish (failed, cancelled, timed out): the message names it and says why."""


def group_label(spec: WorkerSpec) -> str:
    return WorkerGroup(spec.impl, spec.threads, spec.device).label


def run_worker_here(spec: WorkerSpec, spec_dir: Path, root: Path = machine.REPO_ROOT) -> int:
    """Run one worker as a child process with its thread variables set; returns its exit status. root:
    the checkout whose worker runs (another one's, for `rnnbench ab`: first on the child's PYTHONPATH)."""
    path = spec_dir / f"{spec.impl}-{spec.device}-t{spec.threads}.json"
    path.write_text(spec.to_json(), encoding="utf-8")
    env = os.environ | machine.thread_env(spec.threads) | {worker.PARENT_PID_ENV: str(os.getpid())}
    if root != machine.REPO_ROOT:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    proc = subprocess.Popen(spec.command(path), cwd=root, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        stopping.stop_child(proc)
        raise


def run_job(job: ShardJob) -> JobOutcome:
    """Run a job's workers one after another, skipping the points its machine has already done.

    Prints one line per worker (and each worker one per point): on the console for `here` and `debug`,
    in the job's log for `local` and `slurm`. Never raises for a worker's failure: the outcome says.
    SIGTERM to the job (a cancel, `scancel`, a time limit) stops it like Ctrl-C: the running worker is
    stopped, its finished points are kept, and the outcome names the signal."""
    label = job.machine or machine.machine_label()
    outcome = JobOutcome(job.name, label)
    try:
        with stopping.sigterm_stops():  # replaces submitit's own handler, which ignores SIGTERM
            _run_workers(job, label, outcome)
    except KeyboardInterrupt as e:
        outcome.stopped_by = stopping.signal_of(e)
    except Exception as e:  # noqa: BLE001 - the submitter names the job and its error; the log has the rest
        traceback.print_exc()
        outcome.error = f"{type(e).__name__}: {e}"
    return outcome


def _run_workers(job: ShardJob, label: str, outcome: JobOutcome) -> None:
    """run_job's loop: each worker in turn, until one is stopped by a signal."""
    done = store.done_point_ids(job.run_dir, label)
    specs = [replace(s, machine=label, point_ids=tuple(i for i in s.point_ids if i not in done)) for s in job.specs]
    specs = [s for s in specs if s.point_ids]
    outcome.ran = tuple(i for s in specs for i in s.point_ids)
    with tempfile.TemporaryDirectory(prefix="rnnbench-specs-") as tmp:
        for k, spec in enumerate(specs, start=1):
            print(f"\n[worker {k}/{len(specs)}] {group_label(spec)}: {len(spec.point_ids)} points", flush=True)
            code = run_worker_here(spec, Path(tmp))
            outcome.stopped_by = stopping.signal_of_status(code)
            if outcome.stopped_by is not None:
                break
            if code not in (0, 1):
                outcome.workers_failed.append(f"{group_label(spec)} (exit {code})")


# -- the seam ------------------------------------------------------------------------------------------


class Handle(Protocol):
    job: ShardJob
    job_id: str
    log: str | None  # where the job's output goes (None: this console)

    def done(self) -> bool:
        """Whether the job has ended (for `here` and `debug`: runs it first)."""

    def outcome(self) -> JobOutcome:
        """What the ended job did; JobFailed when it did not finish."""

    def cancel(self) -> None: ...

    def describe(self) -> str:
        """The job's name, and its id where a scheduler gave it one."""


class Executor(Protocol):
    name: str
    live: bool  # the jobs print on this console (no progress bar needed)

    def submit(self, jobs: Sequence[ShardJob]) -> list[Handle]: ...


class HereHandle:
    """A job run by this process when first asked whether it is done."""

    def __init__(self, job: ShardJob) -> None:
        self.job, self.job_id, self.log = job, "here", None
        self._outcome: JobOutcome | None = None
        self._cancelled = False

    def done(self) -> bool:
        if self._outcome is None and not self._cancelled:
            self._outcome = run_job(self.job)
        return True

    def outcome(self) -> JobOutcome:
        if self._outcome is None:
            raise JobFailed(f"job {self.job.name} was cancelled before it started")
        return self._outcome

    def cancel(self) -> None:
        self._cancelled = True

    def describe(self) -> str:
        return f"job {self.job.name}"


class HereExecutor:
    name, live = "here", True

    def submit(self, jobs: Sequence[ShardJob]) -> list[Handle]:
        return [HereHandle(j) for j in jobs]


class SubmititHandle:
    """A submitit job: its state from submitit, its outcome from the result it pickled."""

    _last_asked = 0.0  # when the scheduler was last asked (submitit's own watcher may wait 10 minutes)

    def __init__(self, job: ShardJob, backend: str, submitted) -> None:
        self.job, self.backend, self._job = job, backend, submitted
        self.job_id = str(submitted.job_id)
        # the workers' lines go to the job's stdout; submitit's own messages and tracebacks to its stderr
        self.log = None if backend == "debug" else str(submitted.paths.stdout)
        self.errors = None if backend == "debug" else str(submitted.paths.stderr)

    def done(self) -> bool:
        # a job that died leaves no result file: ask the scheduler itself now and then
        force = self.backend == "slurm" and time.monotonic() - SubmititHandle._last_asked > SCHEDULER_POLL_S
        if force:
            SubmititHandle._last_asked = time.monotonic()
        return bool(self._job.done(force_check=force))

    def outcome(self) -> JobOutcome:
        from submitit.core.utils import UncompletedJobError

        try:
            result = self._job.result()
        except UncompletedJobError as e:  # died outside the function: cancelled, timed out, killed, lost
            state = _state(self._job)
            raise JobFailed(f"{self.describe()} {state}: {_first_line(e)}{self._see()}") from None
        except Exception as e:  # noqa: BLE001 - the function itself raised (run_job should not)
            raise JobFailed(f"{self.describe()} failed: {type(e).__name__}: {_first_line(e)}{self._see()}") from None
        if not isinstance(result, JobOutcome):
            raise JobFailed(f"{self.describe()} returned {type(result).__name__}, not a job outcome")
        return result

    def cancel(self) -> None:
        if self.backend != "local":
            self._job.cancel(check=False)
            return
        # submitit cancels a local job with SIGINT, which a job started with SIGINT ignored (nohup) never
        # sees; SIGTERM reaches submitit's local controller (job_id is its pid), which passes it to the job
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(self.job_id), signal.SIGTERM)
        deadline = time.monotonic() + LOCAL_CANCEL_WAIT_S  # let it save what it has and stop its worker
        with contextlib.suppress(KeyboardInterrupt):
            while not self._job.done() and time.monotonic() < deadline:
                time.sleep(0.2)

    def _see(self) -> str:
        return f" (see {self.errors})" if self.errors else ""

    def describe(self) -> str:
        return f"job {self.job.name} ({self.backend} job {self.job_id})"


def _state(job) -> str:
    try:
        return str(job.state)
    except Exception:  # noqa: BLE001 - the scheduler may no longer know the job
        return "UNKNOWN"


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


class SubmititExecutor:
    """submitit's local, debug or SLURM executor, its job files and logs in the run's jobs/ folder."""

    def __init__(self, options: ExecutorOptions, run_dir: Path) -> None:
        import submitit

        self.name, self.options = options.name, options
        self.live = options.name == "debug"
        folder = Path(run_dir) / JOBS_FOLDER
        if options.name == "local":
            self._executor = submitit.LocalExecutor(folder=folder)
            self._executor.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN, **local_gpus())
        elif options.name == "debug":
            self._executor = submitit.DebugExecutor(folder=folder)
        else:
            self._executor = submitit.SlurmExecutor(folder=folder)
            self._executor.update_parameters(**slurm_parameters(options))

    def submit(self, jobs: Sequence[ShardJob]) -> list[Handle]:
        handles: list[Handle] = []
        for job in jobs:
            if self.name == "slurm":
                self._executor.update_parameters(job_name=f"rnnbench-{Path(job.run_dir).name}-{job.name}")
            with _output_to(Path(job.run_dir) / JOBS_FOLDER / CONTROLLER_LOG) if self.name == "local" else _nothing():
                submitted = self._executor.submit(run_job, job)
            handles.append(SubmititHandle(job, self.name, submitted))
        return handles


@contextlib.contextmanager
def _output_to(log: Path):
    """Processes started inside write their stdout and stderr to log, not to this terminal: submitit's
    local controller (one process per job, between us and the job) prints a traceback on Ctrl-C."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(log, "ab") as f:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            yield
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


@contextlib.contextmanager
def _nothing():
    yield


def slurm_parameters(options: ExecutorOptions) -> dict:
    """submitit.SlurmExecutor's parameters: one node to itself with all its memory, one task that runs
    the job in the batch step itself (no srun step, so the job sees every core of the node)."""
    params = {
        "nodes": 1,
        "ntasks_per_node": 1,
        "exclusive": True,
        "mem": "0",
        "use_srun": False,
        "time": options.slurm_time or DEFAULT_SLURM_TIME_MIN,
    }
    optional = {
        "partition": options.slurm_partition,
        "constraint": options.slurm_constraint,
        "gpus_per_node": options.gpus_per_node,
    }
    return params | {k: v for k, v in optional.items() if v is not None}


def local_gpus() -> dict:
    """submitit's local executor hides every GPU unless told how many a job gets: give each job the
    GPUs this process sees, as the plain path does."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        n = len(machine.gpus())
        return {"gpus_per_node": n} if n else {}
    ids = [x.strip() for x in visible.split(",") if x.strip()]
    if ids and all(x.isdigit() for x in ids):
        return {"gpus_per_node": len(ids), "visible_gpus": tuple(int(x) for x in ids)}
    return {}


def make(options: ExecutorOptions, run_dir: Path) -> Executor:
    """The executor options name (check_options first)."""
    if options.name == "here":
        return HereExecutor()
    return SubmititExecutor(options, run_dir)
