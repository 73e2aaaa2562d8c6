"""--record-passed / --skip-passed (tests/passed_record.py): a later session skips only what passed on the same sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import passed_record
import pytest

ROOT = Path(__file__).resolve().parent.parent


def make_sources(root: Path) -> None:
    for top in ("impls", "tests"):
        (root / top).mkdir(parents=True)
        (root / top / "a.py").write_text("x = 1\n")
    (root / "pyproject.toml").write_text("[project]\n")


def test_the_digest_follows_every_source_file_and_ignores_caches(tmp_path):
    make_sources(tmp_path)
    before = passed_record.source_digest(tmp_path)
    (tmp_path / "tests" / "__pycache__").mkdir()
    (tmp_path / "tests" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert passed_record.source_digest(tmp_path) == before
    (tmp_path / "impls" / "a.py").write_text("x = 2\n")
    assert passed_record.source_digest(tmp_path) != before


def test_a_record_is_read_back_only_on_the_sources_it_was_written_on(tmp_path):
    record = tmp_path / "passed" / "torch.txt"
    passed_record.write(record, "digest-a", ["tests/test_b.py::test_y", "tests/test_a.py::test_x[1]"])
    ids, line = passed_record.read(record, "digest-a")
    assert ids == {"tests/test_a.py::test_x[1]", "tests/test_b.py::test_y"}
    assert "2 tests passed" in line
    assert passed_record.read(record, "digest-b") == (set(), f"{record}: recorded on other sources, ignored")
    assert passed_record.read(tmp_path / "none.txt", "digest-a")[0] == set()


def test_the_recorder_keeps_only_tests_whose_call_passed_and_no_phase_failed_or_skipped():
    recorder = passed_record.PassedRecorder()
    reports = [
        ("t::passed", "setup", "passed"), ("t::passed", "call", "passed"), ("t::passed", "teardown", "passed"),
        ("t::skipped", "setup", "skipped"), ("t::skipped", "teardown", "passed"),
        ("t::failed", "setup", "passed"), ("t::failed", "call", "failed"),
        ("t::teardown_error", "call", "passed"), ("t::teardown_error", "teardown", "failed"),
    ]  # fmt: skip
    for nodeid, when, outcome in reports:
        recorder.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, when=when, passed=outcome == "passed"))
    assert recorder.passed() == ["t::passed"]


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "log_cli_level=WARNING", *args]
    return subprocess.run(
        command, check=False, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300
    )


@pytest.mark.parametrize("workers", [[], ["--numprocesses", "2"]], ids=["one-process", "xdist"])
def test_a_later_session_deselects_every_test_an_earlier_one_passed(tmp_path, workers):
    if workers:
        pytest.importorskip("xdist", reason="the xdist case needs pytest-xdist (the test dependency group)")
    record = tmp_path / "numpy.txt"
    tests = "tests/test_merge_machines.py"  # quick tests that never skip: the inner runs cost little beyond start-up
    first = run_pytest(tests, "--record-passed", str(record), *workers)
    assert first.returncode == 0, first.stdout[-2000:]
    ids = record.read_text().splitlines()[1:]
    assert ids
    assert all(i.startswith(tests + "::") for i in ids)
    second = run_pytest(tests, "--skip-passed", str(record), "-q")
    assert second.returncode == 5  # every test deselected: pytest's "no tests ran"
    assert f"{len(ids)} deselected" in second.stdout, second.stdout[-2000:]
