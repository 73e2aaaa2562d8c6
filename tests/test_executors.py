"""`rnnbench bench --executor ... --jobs N`: the same sweep, split into shard jobs, run through each backend
of rnnbench.bench.executors (this process; submitit's local and debug executors; SLURM through stand-in
sbatch and sacct commands that run the batch script on this machine), with the same points as the plain
run; a job that does not finish is named and --resume re-submits only its shard; bad options refused.

A tiny sweep (profile test, numpy-bptt, no accuracy runs): its timings mean nothing, the paths do.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from rnnbench import cli, machine
from rnnbench.bench import executors, plan
from rnnbench.runs import store

SWEEP = ["--profile", "test", "--impl", "numpy-bptt", "--skip-accuracy", "--no-report"]
SUBMITIT_BACKENDS = ("local", "debug", "slurm")


def bench(results_dir: Path, *extra: str) -> int:
    return cli.main(["bench", *SWEEP, "--results-dir", str(results_dir), *extra])


def stored(run_dir: Path) -> dict[str, set[str]]:
    """machine -> the point ids stored for it."""
    out: dict[str, set[str]] = {}
    for path in store.point_files(run_dir):
        out.setdefault(path.parent.name, set()).add(path.stem)
    return out


def work(ids) -> set[str]:
    return {i for i in ids if i.startswith(("step-", "epoch-", "accuracy-"))}


@pytest.fixture(scope="module")
def plain_work(tmp_path_factory) -> set[str]:
    """The step and epoch points the plain path measures for the sweep (planned: nothing is measured)."""
    args = cli.build_parser().parse_args(["bench", *SWEEP, "--results-dir", str(tmp_path_factory.mktemp("plain"))])
    return work(i for s in plan.make_plan(args).specs for i in s.point_ids)


@pytest.fixture
def needs_submitit():
    pytest.importorskip("submitit", reason="the local, debug and SLURM executors need submitit (rnnbench[cluster])")


FAKE_SBATCH = """\
#!{python}
# Stands in for SLURM's sbatch: keeps the batch script, runs it on this machine once submitit has
# written the job's pickle, with the variables SLURM sets and the output files the script asks for.
import os, re, subprocess, sys, time
from pathlib import Path

state = Path(os.environ["FAKE_SLURM_DIR"])
script = Path(sys.argv[-1]).read_text()
job_id = str(4242 + len(list(state.glob("*.sh"))))
(state / f"{{job_id}}.sh").write_text(script)
flags = dict(re.findall(r"^#SBATCH --([a-z-]+)=(.*)$", script, re.M))
folder = re.search(r"-m submitit.core._submit (\\S+)", script)[1].strip("'")
pid = os.fork()
if pid == 0:  # let go of sbatch's output at once: submitit reads it to the end before it renames the pickle
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    pickle = Path(folder.replace("%j", job_id)) / f"{{job_id}}_submitted.pkl"
    for _ in range(600):
        if pickle.exists():
            break
        time.sleep(0.1)
    out = open(flags["output"].replace("%j", job_id), "a")
    err = open(flags.get("error", flags["output"]).replace("%j", job_id), "a")
    env = os.environ | dict(SLURM_JOB_ID=job_id, SLURM_NTASKS="1", SLURM_JOB_NUM_NODES="1", SLURM_NODEID="0",
                            SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_JOB_NODELIST="fake-node")
    rc = subprocess.call(["bash", "-c", script], stdout=out, stderr=err, env=env)
    (state / f"{{job_id}}.rc").write_text(str(rc))
    os._exit(0)
print(f"Submitted batch job {{job_id}}")
"""

FAKE_SACCT = """\
#!{python}
# Stands in for SLURM's sacct: a job is RUNNING until its batch script ends, then COMPLETED or FAILED.
import os, sys
from pathlib import Path

state = Path(os.environ["FAKE_SLURM_DIR"])
ids = [sys.argv[k + 1] for k, a in enumerate(sys.argv) if a == "-j"]
print("JobID|State|NodeList")
for job_id in ids:
    rc = state / f"{{job_id}}.rc"
    print(f"{{job_id}}|{{'RUNNING' if not rc.exists() else 'COMPLETED' if rc.read_text() == '0' else 'FAILED'}}|fake-node")
"""


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    """sbatch, sacct and scancel stand-ins on PATH; returns the folder that keeps the batch scripts."""
    bin_dir, state = tmp_path / "fake-bin", tmp_path / "fake-slurm"
    bin_dir.mkdir()
    state.mkdir()
    scripts = {
        "sbatch": FAKE_SBATCH,
        "sacct": FAKE_SACCT,
        "scancel": "#!/bin/sh\nexit 0\n",
        "srun": "#!/bin/sh\necho 'srun is not used: the batch step runs the job' >&2\nexit 1\n",
    }
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(textwrap.dedent(text).format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(state))
    monkeypatch.setattr(executors, "SCHEDULER_POLL_S", 0.0)
    return state


# submitit's DebugJob removes its log file handlers from the root logger without closing them
DEBUG_LEAKS_ITS_LOG_FILES = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(params=["here", "local", pytest.param("debug", marks=DEBUG_LEAKS_ITS_LOG_FILES), "slurm"])
def backend(request, monkeypatch) -> str:
    if request.param == "here":  # the plain path needs no submitit
        monkeypatch.setitem(sys.modules, "submitit", None)
    else:
        request.getfixturevalue("needs_submitit")
    if request.param == "slurm":
        request.getfixturevalue("fake_slurm")
    return request.param


def test_two_jobs_measure_the_plain_sweep(tmp_path, capsys, plain_work, backend):
    extra = [] if backend == "slurm" else ["--machine", "m"]  # a SLURM job takes its node's label
    assert bench(tmp_path, "--run-id", "r", "--executor", backend, "--jobs", "2", *extra) == 0
    run_dir = tmp_path / "r"
    label = machine.machine_label() if backend == "slurm" else "m"
    got = stored(run_dir)
    assert set(got) == {label}
    assert work(got[label]) == plain_work
    assert {"peak-t1-s1of2", "peak-t1-s2of2"} <= got[label]  # each job its own matmul peak
    assert (run_dir / "summary.csv").is_file()
    assert json.loads((run_dir / "run.json").read_text())["execution"]["jobs"] == 2
    out = capsys.readouterr().out
    if backend in ("local", "slurm"):
        assert "submitted job s1of2" in out
        assert "submitted job s2of2" in out


@pytest.mark.usefixtures("needs_submitit")
def test_a_slurm_job_has_a_node_to_itself(tmp_path, fake_slurm):
    args = ["--slurm-partition", "cpu", "--slurm-constraint", "xeon", "--slurm-time", "1:30:00"]
    assert bench(tmp_path, "--run-id", "r", "--executor", "slurm", *args) == 0
    (script,) = [p.read_text() for p in fake_slurm.glob("*.sh")]
    for line in (
        "#SBATCH --exclusive",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --mem=0",
        "#SBATCH --partition=cpu",
        "#SBATCH --constraint=xeon",
        "#SBATCH --time=90",
        "#SBATCH --job-name=rnnbench-r-all",
    ):
        assert line in script.splitlines()
    assert "srun" not in script  # the batch step itself runs the job: every core of the node


class FailsOneJob(executors.SubmititExecutor):
    """submitit's local executor, but job s2of2 starts a command that exits at once, as a job killed
    before it wrote a result does."""

    def submit(self, jobs):
        import submitit

        broken = submitit.LocalExecutor(folder=self._executor.folder, python="false")
        handles = []
        for job in jobs:
            via = broken if job.name == "s2of2" else self._executor
            submitted = via.submit(executors.run_job, job)
            submitted._results_timeout_s = 0  # no result will come: say so at once
            handles.append(executors.SubmititHandle(job, "local", submitted))
        return handles


@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.usefixtures("needs_submitit")
def test_a_failed_job_is_named_and_resume_resubmits_only_its_shard(tmp_path, capsys, monkeypatch):
    real_make = executors.make
    monkeypatch.setattr(executors, "make", lambda options, run_dir: FailsOneJob(options, run_dir))
    assert bench(tmp_path, "--run-id", "r", "--executor", "local", "--jobs", "2", "--machine", "m") == 1
    out = capsys.readouterr().out
    assert "job failed: job s2of2 (local job" in out
    assert "--resume" in out
    first = stored(tmp_path / "r")["m"]
    assert "peak-t1-s1of2" in first
    assert "peak-t1-s2of2" not in first

    monkeypatch.setattr(executors, "make", real_make)
    assert bench(tmp_path, "--run-id", "r", "--resume", "--executor", "debug", "--machine", "m") == 0
    out = capsys.readouterr().out
    assert "in 1 job (executor debug)" in out  # the run's two shards (run.json): only the unfinished one again
    assert "peak-t1-s2of2" in stored(tmp_path / "r")["m"]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--executor", "nosuch"], "unknown executor 'nosuch'"),
        (["--executor", "local", "--slurm-partition", "cpu"], "--slurm-partition only applies to --executor slurm"),
        (["--gpus-per-node", "1"], "--gpus-per-node only applies to --executor slurm"),
        (["--executor", "local", "--slurm-time", "10", "--slurm-constraint", "x"], "only apply to --executor slurm"),
        (["--executor", "slurm", "--slurm-time", "1-2"], "--slurm-time takes"),
        (["--jobs", "2", "--shard", "1/2"], "both split the sweep"),
    ],
)
def test_bad_executor_options_are_one_line_and_write_nothing(tmp_path, capsys, options, says):
    results_dir = tmp_path / "results"
    assert bench(results_dir, *options) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert says in err[0]
    assert not results_dir.exists()


@pytest.mark.parametrize("name", SUBMITIT_BACKENDS)
def test_a_missing_submitit_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, name):
    monkeypatch.setitem(sys.modules, "submitit", None)
    results_dir = tmp_path / "results"
    assert bench(results_dir, "--executor", name) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "needs submitit" in err[0]
    assert "rnnbench[cluster]" in err[0]
    assert not results_dir.exists()


@pytest.mark.usefixtures("needs_submitit")
def test_slurm_without_sbatch_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert bench(tmp_path / "results", "--executor", "slurm") == 2
    assert "sbatch" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("text", "minutes"), [("90", 90), ("1:30", 90), ("1:30:00", 90), ("0:00:01", 1), ("2-00:00:00", 2880)]
)
def test_parse_minutes(text, minutes):
    assert executors.parse_minutes(text) == minutes


@pytest.mark.parametrize("text", ["", "0", "abc", "1-2", "1:2:3:4", "-5"])
def test_parse_minutes_refuses(text):
    with pytest.raises(ValueError, match="--slurm-time"):
        executors.parse_minutes(text)


def test_a_resumed_run_keeps_its_jobs(tmp_path):
    """--resume without --jobs splits the sweep as the run was split (run.json), so each shard keeps its
    own points and bounds."""
    args = cli.build_parser().parse_args(["bench", *SWEEP, "--results-dir", str(tmp_path), "--run-id", "r"])
    args.executor, args.jobs = "here", 2
    first = plan.make_plan(args)
    args.resume, args.jobs = True, None
    again = plan.make_plan(args)
    assert again.execution.jobs == 2
    assert [j.name for j in again.jobs] == [j.name for j in first.jobs] == ["s1of2", "s2of2"]
