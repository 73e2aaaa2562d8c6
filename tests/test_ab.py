"""`rnnbench ab`: two versions of the code measured in one invocation, worker by worker, then compared.

On the tiny `test` profile (two rounds a point: no change can be significant, so the verdict is always
"same" and the exit status 0 whatever the timings; the timings themselves mean nothing).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from rnnbench import machine
from rnnbench.bench.worker import WorkerSpec
from rnnbench.commands import ab
from rnnbench.runs import store

SWEEP = ["--profile", "test", "--impl", "numpy-bptt"]


def run_ab(tmp_path, a: str, b: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rnnbench.cli", "ab", a, b, *SWEEP, "--results-dir", str(tmp_path), *extra],
        cwd=machine.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_the_sides_alternate_which_goes_first_from_worker_to_worker(tmp_path):
    sides = tuple(ab.Version(n, n, tmp_path, tmp_path / n, worktree=False) for n in ab.SIDES)
    specs = [WorkerSpec("", None, "m", impl, 1, "cpu", {}, ()) for impl in ("p", "q", "r")]
    order = [(side.name, spec.impl) for side, spec in ab.schedule(specs, sides)]
    assert order == [("a", "p"), ("b", "p"), ("b", "q"), ("a", "q"), ("a", "r"), ("b", "r")]


@pytest.fixture
def head_checkout(tmp_path):
    """A folder holding a checkout of HEAD (both sides run HEAD's worker: uncommitted changes to the
    worker's spec in this tree would make the two sides' workers disagree)."""
    folder = tmp_path / "head"
    git = ["git", "-C", str(machine.REPO_ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", str(folder), "HEAD"], check=True, capture_output=True)
    yield folder
    subprocess.run([*git, "remove", "--force", str(folder)], check=False, capture_output=True)


def test_a_revision_against_a_folder_measures_both_and_compares_them(tmp_path, head_checkout):
    done = run_ab(tmp_path, "HEAD", str(head_checkout), "--run-id", "x")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out
    assert re.search(r"\[1/2\] A \(HEAD\): numpy-bptt t1", out), out
    assert re.search(r"\[2/2\] B \(.*\): numpy-bptt t1", out), out
    assert "configurations compared" in out
    for side in ab.SIDES:
        assert store.point_files(tmp_path / "x" / side)
        assert (store.read_manifest(tmp_path / "x" / side)["ab"]["side"]) == side
    assert not (tmp_path / "x" / ab.CHECKOUTS / "a").exists()  # the revision's checkout is removed after
    listed = subprocess.run(
        ["git", "worktree", "list"], cwd=machine.REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert str(tmp_path / "x") not in listed.stdout


@pytest.mark.parametrize(
    ("a", "message"),
    [("no-such-revision-xyz", "neither a folder nor a git revision"), (".github", "not an rnnbench checkout")],
)
def test_a_side_that_is_neither_a_checkout_nor_a_revision_is_refused(tmp_path, a, message):
    done = run_ab(tmp_path, a, str(machine.REPO_ROOT), "--run-id", "x")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
