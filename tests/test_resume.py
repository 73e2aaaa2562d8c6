"""`rnnbench bench --resume` tells the truth (docs/DESIGN.md §7): it exits 0 when nothing is left to do,
names, sets aside and measures again an unreadable point file, counts what it really did, refuses when
the code or the libraries changed since the run began (unless --force), stops on Ctrl-C with one line
and the resume hint, and refuses an unwritable results folder before anything runs.

Each case runs `rnnbench bench` as a user would: a subprocess on the tiny `test` profile with
numpy-bptt only (its timings mean nothing). One complete run is made per module and copied per case.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from signalled import HeldRun

from rnnbench import machine
from rnnbench.bench import plan
from rnnbench.bench.profiles import PROFILES
from rnnbench.cli import build_parser
from rnnbench.runs import store

SWEEP = ["--profile", "test", "--impl", "numpy-bptt", "--no-report"]
STEP_B8 = "step-numpy-bptt-cpu-t1-H16-T4-B8"
TIMEOUT_S = 300
USABLE = ("ok", "flagged")  # flagged: a loop check failed on a busy machine; measured all the same


def bench_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnnbench.cli", "bench", *SWEEP, *args]


def bench(results_dir: Path, run_id: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        bench_command("--results-dir", str(results_dir), "--run-id", run_id, *extra),
        cwd=machine.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def resume(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return resuming(
        run_dir, bench_command("--results-dir", str(run_dir.parent), "--run-id", run_dir.name, "--resume", *extra)
    )


REFUSED_FOR_CODE = "refusing to resume"


def resuming(run_dir: Path, command: list[str]) -> subprocess.CompletedProcess:
    """Run a resuming command with run.json matching the code of this moment (match_code_now). Others
    edit and commit in this working tree: should the code change between that and the command's own
    look, the command rightly refuses, and it is tried again (up to 3 times)."""
    for _ in range(3):
        match_code_now(run_dir)
        done = subprocess.run(
            command,
            cwd=machine.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if not (done.returncode == 2 and REFUSED_FOR_CODE in done.stderr):
            break
    return done


def match_code_now(run_dir: Path) -> None:
    """Record the code and library versions of this moment in run.json, so that other work in this
    tree between a run and its resume (a commit, an edit) does not make a case refuse that is not
    about refusing."""
    doc = store.read_manifest(run_dir)
    doc |= {"git": machine.git(), "versions": machine.versions()}
    store.write_manifest(run_dir, doc)


def output(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def tally(out: str) -> dict[str, int]:
    """The closing line's counts: measured, of, ok, flagged, failed, already done, set aside."""
    m = re.search(
        r"measured (\d+) of (\d+) points \((\d+) ok, (\d+) flagged, (\d+) failed.*?\), (\d+) already done, (\d+) set aside",
        out,
    )
    assert m, out
    keys = ("measured", "of", "ok", "flagged", "failed", "already_done", "set_aside")
    return dict(zip(keys, map(int, m.groups()), strict=True))


def measured_files(run_dir: Path) -> dict[str, int]:
    """point id -> mtime of every measured point file (noise records aside)."""
    return {p.stem: p.stat().st_mtime_ns for p in store.point_files(run_dir) if not p.stem.startswith("noise-")}


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    done = bench(root, "full")
    assert done.returncode == 0, output(done)
    return root / "full"


@pytest.fixture
def run_copy(complete_run, tmp_path) -> Path:
    target = tmp_path / "results" / complete_run.name
    shutil.copytree(complete_run, target)
    return target


def test_resuming_a_complete_run_measures_nothing_and_exits_0_twice(run_copy):
    before = measured_files(run_copy)
    for _ in range(2):
        done = resume(run_copy)
        assert done.returncode == 0, output(done)
        assert "Traceback" not in output(done)
        assert "0 points to measure" in done.stdout
        counts = tally(done.stdout)
        assert (counts["measured"], counts["of"], counts["already_done"]) == (0, 0, len(before)), done.stdout
    assert measured_files(run_copy) == before


def test_a_corrupted_point_file_is_named_set_aside_and_measured_again(run_copy):
    broken = store.point_path(run_copy, machine.machine_label(), STEP_B8)
    broken.write_text('{"point_id": "ste', encoding="utf-8")
    done = resume(run_copy)
    assert done.returncode == 0, output(done)
    assert "Traceback" not in output(done)
    line = next(x for x in done.stdout.splitlines() if str(broken) in x)
    assert "set aside" in line
    assert "measured again" in line
    assert broken.with_name(broken.name + store.CORRUPT_SUFFIX).read_text(encoding="utf-8") == '{"point_id": "ste'
    record = json.loads(broken.read_text(encoding="utf-8"))
    assert record["point_id"] == STEP_B8
    assert record["status"] in USABLE
    counts = tally(done.stdout)
    assert (counts["measured"], counts["of"], counts["failed"], counts["set_aside"]) == (1, 1, 0, 1), done.stdout
    assert counts["ok"] + counts["flagged"] == 1, done.stdout
    assert counts["already_done"] == len(measured_files(run_copy)) - 1, done.stdout


def test_a_failed_point_is_measured_again_and_counted_once(run_copy):
    path = store.point_path(run_copy, machine.machine_label(), STEP_B8)
    doc = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(doc | {"status": "failed"}), encoding="utf-8")
    done = resume(run_copy)
    assert done.returncode == 0, output(done)
    counts = tally(done.stdout)
    assert (counts["measured"], counts["of"], counts["failed"]) == (1, 1, 0), done.stdout
    assert counts["ok"] + counts["flagged"] == 1, done.stdout
    assert json.loads(path.read_text(encoding="utf-8"))["status"] in USABLE


def _new_commit(doc: dict) -> str:
    doc["git"] = (doc.get("git") or {}) | {"commit": "0" * 40, "short": "0000000"}
    return "git commit 0000000 ->"


def _other_uncommitted_changes(doc: dict) -> str:
    doc["git"] = (doc.get("git") or {}) | {"diff_sha256": "not-these-changes"}
    return "other uncommitted changes"


def _other_numpy(doc: dict) -> str:
    doc["versions"] = (doc.get("versions") or {}) | {"numpy": "0.0.1"}
    return "numpy 0.0.1 ->"


@pytest.mark.parametrize("change", [_new_commit, _other_uncommitted_changes, _other_numpy])
def test_resuming_after_the_code_or_libraries_changed_is_refused_unless_forced(run_copy, change):
    match_code_now(run_copy)
    doc = store.read_manifest(run_copy)
    expected = change(doc)
    store.write_manifest(run_copy, doc)
    before = measured_files(run_copy)
    done = bench(run_copy.parent, run_copy.name, "--resume")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"rnnbench: error: refusing to resume {run_copy.name}")
    assert expected in done.stderr
    assert "--force" in done.stderr
    assert measured_files(run_copy) == before
    forced = bench(run_copy.parent, run_copy.name, "--resume", "--force")
    assert forced.returncode == 0, output(forced)


def accuracy_ids(seeds: range) -> set[str]:
    return {f"accuracy-numpy-bptt-cpu-t1-B{b}-s{s}" for b in PROFILES["test"].acc_batch_sizes for s in seeds}


def test_the_accuracy_points_run_once_per_seed(complete_run):
    seeds = range(PROFILES["test"].acc_seeds)
    assert {p for p in measured_files(complete_run) if p.startswith("accuracy-")} == accuracy_ids(seeds)
    rows = store.tables(complete_run)["accuracy"]
    assert {(r["point_id"], r["seed"]) for r in rows} == {(i, int(i[-1])) for i in accuracy_ids(seeds)}


def test_resume_measures_only_the_seed_that_is_missing(run_copy):
    missing = f"accuracy-numpy-bptt-cpu-t1-B16-s{PROFILES['test'].acc_seeds - 1}"
    (file,) = [p for p in store.point_files(run_copy) if p.stem == missing]
    file.unlink()
    before = measured_files(run_copy)
    done = resume(run_copy)
    assert done.returncode == 0, output(done)
    assert tally(done.stdout)["measured"] == 1
    after = measured_files(run_copy)
    assert set(after) - set(before) == {missing}
    assert all(after[k] == before[k] for k in before)


def test_resume_with_more_seeds_measures_only_the_new_seeds(run_copy):
    seeds = PROFILES["test"].acc_seeds
    before = measured_files(run_copy)
    done = resume(run_copy, "--seeds", str(seeds + 1))
    assert done.returncode == 0, output(done)
    after = measured_files(run_copy)
    assert set(after) - set(before) == accuracy_ids(range(seeds, seeds + 1))
    assert all(after[k] == before[k] for k in before)
    assert store.read_manifest(run_copy)["sweep"]["profile"]["acc_seeds"] == seeds + 1
    fewer = resume(run_copy, "--seeds", str(seeds))
    assert fewer.returncode == 2
    assert f"acc_seeds {seeds + 1} -> {seeds}" in fewer.stderr


def test_resuming_with_another_sweep_is_refused(run_copy):
    match_code_now(run_copy)
    done = bench(run_copy.parent, run_copy.name, "--resume", "--batch-sizes", "1,2")
    assert done.returncode == 2
    assert "measures another sweep" in done.stderr
    assert "batch_sizes [1, 8] -> [1, 2]" in done.stderr


def test_a_run_interrupted_before_its_first_point_can_be_resumed(tmp_path):
    """run.json alone (Ctrl-C before the first point was written): resume plans the whole sweep."""
    args = build_parser().parse_args(["bench", *SWEEP, "--results-dir", str(tmp_path), "--run-id", "r"])
    first = plan.make_plan(args)
    assert store.read_manifest(first.run_dir)
    assert not store.point_files(first.run_dir)
    again = plan.make_plan(
        build_parser().parse_args(["bench", *SWEEP, "--results-dir", str(tmp_path), "--run-id", "r", "--resume"])
    )
    assert sum(len(s.point_ids) for s in again.specs) == sum(len(s.point_ids) for s in first.specs) > 0


@pytest.mark.parametrize("target", ["terminal", "process"])
def test_ctrl_c_prints_one_line_and_the_resume_hint(tmp_path, target):
    """terminal: SIGINT to the process group, as Ctrl-C in a terminal sends it (the worker gets it too);
    process: `kill -INT` on `rnnbench bench` alone, which stops its worker. The run is held after its first
    point (tests/signalled.py), so the signal lands in the middle of the sweep however fast the machine is,
    and SIGINT is at its default in the child however this suite was started. The interrupted run then
    resumes with exit 0, and resuming it again exits 0 (terminal case)."""
    run = HeldRun(bench_command("--results-dir", str(tmp_path), "--run-id", "r"), tmp_path / "hold")
    run.wait_until_held()
    if target == "terminal":
        os.killpg(run.proc.pid, signal.SIGINT)
    else:
        run.proc.send_signal(signal.SIGINT)
    out, err = run.finish()
    assert run.proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    hints = [x for x in out.splitlines() if x.startswith("interrupted")]
    assert len(hints) == 1, out
    assert hints[0].startswith("interrupted (SIGINT)"), hints
    run_dir = tmp_path / "r"
    assert tally(out)["measured"] == len(measured_files(run_dir)) > 0
    if target != "terminal":
        return
    command = shlex.split(hints[0].split("continue with: ", 1)[1])
    assert command[:2] == ["rnnbench", "bench"]
    assert command[-3:] == ["--run-id", "r", "--resume"]
    for _ in range(2):
        done = resuming(run_dir, [sys.executable, "-m", "rnnbench.cli", *command[1:], "--no-report"])
        assert done.returncode == 0, output(done)
        assert "Traceback" not in output(done)
    assert "0 points to measure" in done.stdout


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    return tmp_path / "a-file" / "results"


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    return tmp_path / "a-file"


def _read_only(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder: the other cases stand for it")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    return folder


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_under_a_file, "cannot create the results folder"),
        (_a_file, "is a file, not a folder"),
        (_read_only, "is not writable"),
    ],
)
def test_an_unwritable_results_folder_is_one_line_before_anything_runs(tmp_path, make, message):
    results_dir = make(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    done = bench(results_dir, "r")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert str(results_dir) in done.stderr
    assert sorted(tmp_path.rglob("*")) == before
