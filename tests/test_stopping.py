"""SIGTERM stops `rnnbench bench` as Ctrl-C does (docs/DESIGN.md §7): the workers stop and keep what they
measured, the one-line summary and the resume command are printed, no process of the run outlives it, the
exit status is 143, and `--resume` then finishes the run. A run started with SIGINT ignored keeps ignoring
it (the nohup convention). A cluster job that gets SIGTERM (scancel, a time limit) keeps its points too.

Every run is held after its workers' first point (tests/signalled.py), so the signal lands in the middle
of the sweep on a fast machine or a slow one, and each child's dispositions are set explicitly.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys

import pytest
from signalled import HeldRun, can_list_processes, processes_tagged, with_dispositions
from test_resume import bench_command, measured_files, output, resuming, tally

from rnnbench.bench import executors, stopping

pytestmark = pytest.mark.skipif(not can_list_processes(), reason="finding a run's processes needs Linux's /proc")

EXECUTORS = {  # name -> (extra flags, workers held at once)
    "default": ((), 1),
    "local-2-jobs": (("--executor", "local", "--jobs", "2"), 2),
}


def resume_line(out: str) -> str:
    """The one line that says the run was interrupted and how to continue it."""
    hints = [x for x in out.splitlines() if x.startswith("interrupted")]
    assert len(hints) == 1, out
    return hints[0]


def resume_hint(out: str) -> list[str]:
    return shlex.split(resume_line(out).split("continue with: ", 1)[1])


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_sigterm_stops_the_run_keeps_its_points_and_resume_finishes_it(tmp_path, executor):
    if executor != "default" and not executors.submitit_available():
        pytest.skip("the local executor needs submitit (pip install 'rnnbench[cluster]')")
    flags, workers = EXECUTORS[executor]
    run = HeldRun(bench_command("--results-dir", str(tmp_path), "--run-id", "r", *flags), tmp_path / "hold")
    run.wait_until_held(workers)
    run.proc.send_signal(signal.SIGTERM)  # to `rnnbench bench` alone: it must stop what it started
    out, err = run.finish()
    assert run.proc.returncode == 143, out + err
    assert "Traceback" not in out + err
    assert processes_tagged(run.tag) == []
    assert resume_line(out).startswith("interrupted (SIGTERM)")
    run_dir = tmp_path / "r"
    kept = measured_files(run_dir)
    assert len(kept) >= workers
    assert tally(out)["measured"] == len(kept)
    command = resume_hint(out)
    assert command[-3:] == ["--run-id", "r", "--resume"]
    done = resuming(run_dir, [sys.executable, "-m", "rnnbench.cli", *command[1:], "--no-report"])
    assert done.returncode == 0, output(done)
    counts = tally(done.stdout)
    assert counts["already_done"] == len(kept), done.stdout
    assert counts["measured"] == counts["of"] > 0, done.stdout
    assert all(measured_files(run_dir)[k] == mtime for k, mtime in kept.items())  # kept, not measured again


def test_a_run_started_with_sigint_ignored_keeps_ignoring_it(tmp_path):
    """nohup and `cmd &` in a script start a process with SIGINT ignored: Ctrl-C to its group stops nothing,
    SIGTERM still does. Both are pending together when the run looks at them, and Python handles SIGINT
    first: exit 143, not 130, shows that SIGINT was ignored."""
    run = HeldRun(
        bench_command("--results-dir", str(tmp_path), "--run-id", "r"), tmp_path / "hold", sigint=signal.SIG_IGN
    )
    run.wait_until_held()
    os.killpg(run.proc.pid, signal.SIGINT)
    run.proc.send_signal(signal.SIGTERM)
    out, err = run.finish()
    assert run.proc.returncode == 143, out + err
    assert processes_tagged(run.tag) == []
    assert len(measured_files(tmp_path / "r")) >= 1


JOB = """
import sys
from rnnbench.bench import executors, plan
from rnnbench.cli import build_parser
(job,) = plan.make_plan(build_parser().parse_args(sys.argv[1:])).jobs
outcome = executors.run_job(job)
print("OUTCOME", outcome.stopped_by, len(outcome.ran))
"""


@pytest.mark.parametrize("to_group", [True, False], ids=["scancel-to-every-process", "to-the-job-alone"])
def test_a_cluster_job_that_gets_sigterm_keeps_its_points_and_says_so(tmp_path, to_group):
    """What a SLURM job runs (executors.run_job), stopped as scancel and a time limit stop it (SIGTERM to
    every process of the job), or as the local executor's cancel does (SIGTERM to the job alone, which
    stops its worker)."""
    command = [sys.executable, "-c", JOB, *bench_command("--results-dir", str(tmp_path), "--run-id", "r")[3:]]
    run = HeldRun(command, tmp_path / "hold")
    run.wait_until_held()
    if to_group:
        os.killpg(run.proc.pid, signal.SIGTERM)
    else:
        run.proc.send_signal(signal.SIGTERM)
    out, err = run.finish()
    assert run.proc.returncode == 0, out + err  # the job itself ends normally and returns its outcome
    _, stopped_by, ran = next(x for x in out.splitlines() if x.startswith("OUTCOME")).split()
    assert int(stopped_by) == signal.SIGTERM
    assert processes_tagged(run.tag) == []
    assert 1 <= len(measured_files(tmp_path / "r")) < int(ran)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(130, signal.SIGINT), (143, signal.SIGTERM), (-2, signal.SIGINT), (-15, signal.SIGTERM), (0, None), (1, None)],
)
def test_exit_statuses_name_their_signal(status, expected):
    assert stopping.signal_of_status(status) == expected


def test_stopped_is_a_keyboard_interrupt_that_names_its_signal():
    e = stopping.Stopped(signal.SIGTERM)
    assert isinstance(e, KeyboardInterrupt)
    assert stopping.signal_of(e) == signal.SIGTERM
    assert stopping.signal_of(KeyboardInterrupt()) == signal.SIGINT
    assert stopping.exit_status(stopping.signal_of(e)) == 143


def test_stop_child_stops_a_child_that_ignores_sigint():
    """The child inherited SIGINT ignored (a nohup'd run's worker): SIGTERM, not SIGINT, stops it."""
    code = "import signal, time\nsignal.signal(signal.SIGTERM, lambda *_: exit(143))\nprint('ready', flush=True)\ntime.sleep(600)"
    proc = subprocess.Popen(
        with_dispositions([sys.executable, "-c", code], sigint=signal.SIG_IGN), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    stopping.stop_child(proc, grace_s=0.0, wait_s=stopping.STOP_WAIT_S)
    proc.stdout.close()
    assert proc.returncode == 143
