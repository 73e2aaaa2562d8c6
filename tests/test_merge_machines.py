"""`rnnbench merge` of runs from two machines' results folders that happen to share a name (each machine
ran `rnnbench bench --run-id run`): two runs, both merged, not one taken for the other.

The runs are measured on the fake model of tests/fake_model.py (exact, instant); the merge goes through
the command line, as a user runs it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fake_model import NAME, WorkClock, install

from rnnbench import cli
from rnnbench.bench import step
from rnnbench.bench.points import StepPoint
from rnnbench.bench.profiles import PROFILES
from rnnbench.runs import results

PROFILE = PROFILES["test"]
BATCHES = (1, 2, 4)  # three batch sizes: the merged run fits the cost model per machine
MANIFEST = {
    "run_id": "run",
    "created": "2026-01-01T00:00:00",
    "git": {"commit": "a" * 40, "short": "aaaaaaa", "diff_sha256": None},
    "versions": {"numpy": "2.0.0"},
}


def measure_run(run_dir: Path, machine: str) -> Path:
    """A run as `rnnbench bench` leaves it, its step points measured on the fake model as `machine`."""
    results.write_manifest(run_dir, MANIFEST)
    results.add_session(run_dir, machine, "s1", {"date": "2026-01-01", "cpu": {"usable_cores": 2}})
    with pytest.MonkeyPatch.context() as monkeypatch:
        clock = WorkClock()
        install(monkeypatch, clock, PROFILE.warmup)
        for b in BATCHES:
            point = StepPoint(NAME, 4, 3, b, 1)
            record = step.measure_step(point, PROFILE, run_id="run", machine_label=machine, clock=clock)
            results.save_point(run_dir, record.as_dict())
    results.combine(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def two_machines(tmp_path_factory) -> tuple[Path, Path]:
    """Two machines' results folders, each holding a run named "run" (alpha's and beta's)."""
    root = tmp_path_factory.mktemp("machines")
    return measure_run(root / "alpha" / "results" / "run", "alpha"), measure_run(
        root / "beta" / "results" / "run", "beta"
    )


def merge(out: Path, *runs: str | Path) -> int:
    return cli.main(["merge", *map(str, runs), "--run-id", "both", "--results-dir", str(out), "--no-report"])


def stored(run_dir: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in results.point_files(run_dir):
        out.setdefault(path.parent.name, []).append(path.stem)
    return out


def test_same_named_runs_of_two_machines_are_both_merged(two_machines, tmp_path):
    a, b = two_machines
    assert a.name == b.name
    assert merge(tmp_path, a, b) == 0
    merged = tmp_path / "both"
    assert stored(merged) == {"alpha": stored(a)["alpha"], "beta": stored(b)["beta"]}
    manifest = json.loads((merged / "run.json").read_text())
    assert [s["path"] for s in manifest["merged_from"]] == [str(a.resolve()), str(b.resolve())]
    assert [s["machines"] for s in manifest["merged_from"]] == [["alpha"], ["beta"]]
    assert manifest["machines"] == ["alpha", "beta"]
    assert sorted(p.name for p in (merged / "environment").iterdir()) == ["alpha", "beta"]
    summary = results.read_table(merged, "summary")
    assert sorted((r["machine"], r["batch"]) for r in summary) == [(m, b) for m in ("alpha", "beta") for b in BATCHES]
    assert sorted(r["machine"] for r in results.read_table(merged, "fit")) == ["alpha", "beta"]


def test_one_run_named_twice_is_merged_once(two_machines, tmp_path):
    """The same folder, as a path and as a run id under --results-dir: one source."""
    a = shutil.copytree(two_machines[0], tmp_path / "run")
    assert cli.main(["merge", str(a), "run", "--run-id", "once", "--results-dir", str(tmp_path), "--no-report"]) == 0
    manifest = json.loads((tmp_path / "once" / "run.json").read_text())
    assert [s["path"] for s in manifest["merged_from"]] == [str(a.resolve())]
    assert stored(tmp_path / "once") == stored(a)
