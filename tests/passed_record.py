"""Which tests already passed on these same sources, so that a later session need not run them again.

The per-framework test sessions (noxfile.py) write, with `--record-passed FILE`, the node ids of the tests
that passed (setup, call and teardown), under a digest of the sources the tests exercise; tests_all,
given those files with `--skip-passed FILE`, deselects the tests they list and runs the rest: those that
need several frameworks or an extra (report, data, cluster), the benchmarks, the example plugin. A
record whose digest differs from the sources' now (an edit since, another checkout) is ignored whole,
so nothing that changed is taken as passed.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Outside a git checkout, what a test's outcome can depend on in this repository.
SOURCES = ("impls", "rnnbench", "tests", "benchmarks", "examples", "docs", "results", "pyproject.toml", "noxfile.py")
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".hypothesis", ".benchmarks"}


def source_files(root: Path) -> list[Path]:
    """The repository's files as git sees them (tracked, or new and not ignored); under SOURCES without git."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
            stdin=subprocess.DEVNULL,
        ).stdout
        files = [root / name for name in listed.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        files = [p for top in SOURCES for p in ([root / top] if (root / top).is_file() else (root / top).rglob("*"))]
    return sorted(
        p
        for p in files
        if p.is_file() and p.suffix != ".pyc" and not IGNORED_PARTS.intersection(p.relative_to(root).parts)
    )


def source_digest(root: Path = ROOT) -> str:
    """sha256 over the path and bytes of every source file."""
    digest = hashlib.sha256()
    for path in source_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def write(path: Path, digest: str, passed: list[str]) -> None:
    """The record: the digest on the first line, then one node id per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([digest, *sorted(passed)]) + "\n")


def read(path: Path, digest: str) -> tuple[set[str], str]:
    """-> (node ids that passed, a line saying what was used); empty where the file is missing or stale."""
    if not path.is_file():
        return set(), f"{path}: no record, nothing deselected from it"
    first, *ids = path.read_text().splitlines()
    if first != digest:
        return set(), f"{path}: recorded on other sources, ignored"
    return set(ids), f"{path}: {len(ids)} tests passed on these sources"


class PassedRecorder:
    """The node ids of the tests whose call passed and no phase failed or skipped (an xfail is no pass)."""

    def __init__(self) -> None:
        self.called: set[str] = set()
        self.not_passed: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed:
            self.called.add(report.nodeid)
        if not report.passed:
            self.not_passed.add(report.nodeid)

    def passed(self) -> list[str]:
        return sorted(self.called - self.not_passed)
