"""`rnnbench bench` as a new user runs it: from a folder of their own, with paths relative to it, through
the console script's module (`python -m rnnbench.cli`, the checkout on PYTHONPATH as an installed copy
would be on sys.path). Every path is the user's folder's; bad data is refused before anything is measured.

Each case runs on the tiny `test` profile with numpy-bptt only: its timings mean nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from rnnbench import machine
from rnnbench.bench import plan
from rnnbench.cli import build_parser, main
from rnnbench.commands.bench import resume_command
from rnnbench.runs import store

TIMEOUT_S = 300
SWEEP = ["--profile", "test", "--impl", "numpy-bptt", "--no-report"]


def bench_here(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`rnnbench bench ARGS` started in cwd, the package importable from the checkout and nowhere else."""
    env = os.environ | {"PYTHONPATH": str(machine.REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "rnnbench.cli", "bench", *SWEEP, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def two_class_folder(path: Path) -> Path:
    """A folder data set a tiny model learns at once: the label is the first letter."""
    path.mkdir()
    for label in ("a", "b"):
        (path / f"{label}.txt").write_text("\n".join(f"{label}{'xyz'[i % 3] * (1 + i % 4)}" for i in range(150)))
    return path


@pytest.mark.parametrize(
    "what", [["--skip-accuracy"], ["--skip-sweep", "--data", "folder:mynames"]], ids=["sweep", "accuracy"]
)
def test_a_run_from_another_folder_keeps_to_that_folder(tmp_path, what):
    """run.json and every point go to ./results/RUN of the user's folder, the data is the folder's own,
    and the checkout gets nothing."""
    two_class_folder(tmp_path / "mynames")
    run_id = f"elsewhere-{uuid.uuid4().hex[:8]}"
    done = bench_here(tmp_path, *what, "--run-id", run_id)
    out = done.stdout + done.stderr
    m = re.search(r"measured (\d+) of (\d+) points", out)
    assert m, out
    assert m[1] == m[2], out
    assert int(m[1]) > 0, out
    run_dir = tmp_path / "results" / run_id
    assert store.read_manifest(run_dir), out
    assert len(store.point_files(run_dir)) >= int(m[1])
    assert not (machine.REPO_ROOT / "results" / run_id).exists()
    if "--data" in what:
        assert store.read_manifest(run_dir)["sweep"]["profile"]["data"] == f"folder:{tmp_path / 'mynames'}"


def test_a_relative_data_path_is_read_from_the_users_folder(tmp_path):
    """folder:examples/names names the user's examples/, not the checkout's: here there is none."""
    done = bench_here(tmp_path, "--skip-sweep", "--data", "folder:examples/names", "--run-id", "r")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "does not exist" in done.stderr
    assert not (tmp_path / "results" / "r").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("nope:x", "unknown data source 'nope'"),
        ("folder:missing", "does not exist"),
        ("folder:one", "a classifier needs at least 2"),
        ("csv:missing.csv", "does not exist"),
    ],
)
def test_bad_accuracy_data_is_refused_before_anything_is_measured(tmp_path, data, message):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "only.txt").write_text("a\nb\nc\n")
    done = bench_here(tmp_path, "--data", data, "--run-id", "r")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("rnnbench: error: ")
    assert message in done.stderr
    assert not (tmp_path / "results").exists()


def test_the_accuracy_runs_are_set_from_the_command_line(tmp_path):
    """--acc-hidden, --acc-batch-sizes, --acc-epochs, --acc-lr and --seeds reach the workers' profile and the
    resume command."""
    argv = [*SWEEP, "--skip-sweep", "--acc-hidden", "8", "--acc-batch-sizes", "1,4", "--acc-epochs", "1"]
    argv += ["--acc-lr", "0.03", "--seeds", "1", "--results-dir", str(tmp_path), "--run-id", "r"]
    args = build_parser().parse_args(["bench", *argv])
    p = plan.make_plan(args)
    assert sorted(i for s in p.specs for i in s.point_ids) == [
        "accuracy-numpy-bptt-cpu-t1-B1-s0",
        "accuracy-numpy-bptt-cpu-t1-B4-s0",
    ]
    (spec,) = p.specs
    assert {k: spec.profile[k] for k in ("acc_hidden", "acc_batch_sizes", "epochs", "lr_b1")} == {
        "acc_hidden": 8,
        "acc_batch_sizes": (1, 4),
        "epochs": 1,
        "lr_b1": 0.03,
    }
    resume = resume_command(p, args)
    for words in ("--acc-hidden 8", "--acc-batch-sizes 1,4", "--acc-epochs 1", "--acc-lr 0.03", "--seeds 1"):
        assert words in resume


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--skip-sweep", "--batch-sizes", "1,8", "--hidden", "16"], "--hidden, --batch-sizes set the step-cost sweep"),
        (["--skip-sweep", "--seq-len", "4"], "--seq-len sets the step-cost sweep, which --skip-sweep leaves out"),
        (["--skip-accuracy", "--acc-epochs", "2"], "--acc-epochs sets the accuracy runs"),
        (["--skip-accuracy", "--data", "synthetic"], "--data sets the accuracy runs, which --skip-accuracy"),
    ],
)
def test_a_flag_of_a_part_left_out_is_refused(tmp_path, capsys, flags, message):
    assert main(["bench", *SWEEP, *flags, "--results-dir", str(tmp_path / "results")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert message in captured.err
    assert not (tmp_path / "results").exists()


def test_bench_help_shows_the_accuracy_flags_and_examples(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "rnnbench bench --skip-sweep --data folder:examples/names" in out
    assert "--acc-batch-sizes B,B" in out


def test_a_forced_resume_over_other_libraries_records_both_and_marks_the_run_mixed(tmp_path):
    from rnnbench.report.document import mixed_lines

    argv = ["bench", *SWEEP, "--skip-accuracy", "--results-dir", str(tmp_path), "--run-id", "r"]
    run_dir = plan.make_plan(build_parser().parse_args(argv)).run_dir
    began = store.read_manifest(run_dir)
    began["versions"] = began["versions"] | {"numpy": "0.0.1"}
    store.write_manifest(run_dir, began)
    plan.make_plan(build_parser().parse_args([*argv, "--resume", "--force"]))
    doc = store.read_manifest(run_dir)
    assert doc["mixed"] is True
    assert doc["versions"]["numpy"] == "0.0.1", "the versions the run began with stay"
    (session,) = doc["resumed"]
    assert session["versions"] == machine.versions()
    assert f"numpy 0.0.1 -> {machine.versions()['numpy']}" in session["changes"]
    (line,) = mixed_lines(doc)
    assert line.startswith("**Mixed run**: resumed")
    assert "numpy 0.0.1 ->" in line


def test_a_run_recorded_with_a_relative_data_path_resumes(tmp_path):
    """run.json of a run begun before paths were made absolute holds the path as given, which its workers
    read from the checkout: resuming it from the checkout is the same sweep."""
    argv = ["bench", *SWEEP, "--skip-sweep", "--results-dir", str(tmp_path), "--run-id", "r"]
    argv += ["--data", f"folder:{machine.REPO_ROOT / 'examples' / 'names'}"]
    run_dir = plan.make_plan(build_parser().parse_args(argv)).run_dir
    doc = store.read_manifest(run_dir)
    doc["sweep"]["profile"]["data"] = "folder:examples/names"
    assert plan.sweep_changes(doc, plan.make_sweep(build_parser().parse_args(argv))) == []
