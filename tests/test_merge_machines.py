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
from rnnbench.runs import store

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
    store.write_manifest(run_dir, MANIFEST)
    store.add_session(run_dir, machine, "s1", {"date": "2026-01-01", "cpu": {"usable_cores": 2}})
    with pytest.MonkeyPatch.context() as monkeypatch:
        clock = WorkClock()
        install(monkeypatch, clock, PROFILE.warmup)
        for b in BATCHES:
            point = StepPoint(NAME, 4, 3, b, 1)
            record = step.measure_step(point, PROFILE, run_id="run", machine_label=machine, clock=clock)
            store.save_point(run_dir, record.as_dict())
    store.combine(run_dir)
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
    for path in store.point_files(run_dir):
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
    summary = store.read_table(merged, "summary")
    assert sorted((r["machine"], r["batch"]) for r in summary) == [(m, b) for m in ("alpha", "beta") for b in BATCHES]
    assert sorted(r["machine"] for r in store.read_table(merged, "fit")) == ["alpha", "beta"]


def test_one_run_named_twice_is_merged_once(two_machines, tmp_path):
    """The same folder, as a path and as a run id under --results-dir: one source."""
    a = shutil.copytree(two_machines[0], tmp_path / "run")
    assert cli.main(["merge", str(a), "run", "--run-id", "once", "--results-dir", str(tmp_path), "--no-report"]) == 0
    manifest = json.loads((tmp_path / "once" / "run.json").read_text())
    assert [s["path"] for s in manifest["merged_from"]] == [str(a.resolve())]
    assert stored(tmp_path / "once") == stored(a)


# -- what merge refuses, keeps and says, on the same runs ------------------------------------------------


@pytest.fixture
def root(two_machines, tmp_path) -> Path:
    """A results folder of this test's own: alpha's run as "a", beta's as "b"."""
    for name, run in zip("ab", two_machines, strict=True):
        shutil.copytree(run, tmp_path / name)
    return tmp_path


def edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def refused(root: Path, capsys, *args: str) -> str:
    """Merge into "m"; assert it was refused with one line and nothing written; return the line."""
    assert cli.main(["merge", *args, "--run-id", "m", "--results-dir", str(root), "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("rnnbench: error: ")
    assert not (root / "m").exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]
    return err[0]


def test_the_merge_says_what_it_did(root, capsys):
    assert cli.main(["merge", "a", "b", "--run-id", "m", "--results-dir", str(root), "--no-report"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"rnnbench merge: 2 runs, machines alpha, beta, {2 * len(BATCHES)} points -> {root / 'm'}"
    manifest = json.loads((root / "m" / "run.json").read_text())
    assert manifest["run_id"] == "m"
    assert (manifest["git"], manifest["versions"]) == (MANIFEST["git"], MANIFEST["versions"])
    assert [(s["run_id"], s["points"], s["created"]) for s in manifest["merged_from"]] == [
        ("run", len(BATCHES), MANIFEST["created"])
    ] * 2
    assert [s["git"] for s in manifest["merged_from"]] == [MANIFEST["git"]] * 2
    assert [s["versions"] for s in manifest["merged_from"]] == [MANIFEST["versions"]] * 2
    assert "code_differences" not in manifest
    assert "sweep" not in manifest  # none recorded


def test_the_sweep_is_kept_when_every_run_measured_it(root):
    for name, sweep in (("a", {"impls": ["x"]}), ("b", {"impls": ["x"]})):
        edit_json(root / name / "run.json", lambda m, sweep=sweep: m.update(sweep=sweep))
    assert cli.main(["merge", "a", "b", "--run-id", "m", "--results-dir", str(root), "--no-report"]) == 0
    assert json.loads((root / "m" / "run.json").read_text())["sweep"] == {"impls": ["x"]}
    edit_json(root / "b" / "run.json", lambda m: m.update(sweep={"impls": ["y"]}))
    assert cli.main(["merge", "a", "b", "--run-id", "n", "--results-dir", str(root), "--no-report"]) == 0
    assert "sweep" not in json.loads((root / "n" / "run.json").read_text())


def test_a_run_without_run_json_is_named_by_its_folder(root, capsys):
    (root / "b" / "run.json").unlink()
    line = (
        "rnnbench: error: refusing to merge runs made with other code or library versions: "
        "b has no run.json, so its code version is unknown (--force to merge anyway)"
    )
    assert refused(root, capsys, "a", "b") == line
    assert refused(root, capsys, "b", "a") == line  # the first run's, once
    assert cli.main(["merge", "a", "b", "--run-id", "m", "--results-dir", str(root), "--no-report", "--force"]) == 0
    manifest = json.loads((root / "m" / "run.json").read_text())
    assert [s["run_id"] for s in manifest["merged_from"]] == ["run", "b"]
    assert manifest["code_differences"] == ["b has no run.json, so its code version is unknown"]


def test_other_code_is_refused_unless_forced(root, capsys):
    edit_json(root / "b" / "run.json", lambda m: m["versions"].update(numpy="9.9.9"))
    line = refused(root, capsys, "a", "b")
    assert line == (
        "rnnbench: error: refusing to merge runs made with other code or library versions: "
        "b against a: numpy 2.0.0 -> 9.9.9 (--force to merge anyway)"
    )
    assert cli.main(["merge", "a", "b", "--run-id", "m", "--results-dir", str(root), "--no-report", "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "merged with --force: b against a: numpy 2.0.0 -> 9.9.9"


def test_differing_copies_of_points_are_refused_and_counted(root, capsys):
    shutil.copytree(root / "a", root / "a2")
    points = sorted((root / "a2" / "points" / "alpha").glob("*.json"))
    for path in points[:2]:
        edit_json(path, lambda d: d.update(date="2030-01-01"))
    line = refused(root, capsys, "a", "a2")
    first = json.loads((root / "a" / "points" / "alpha" / points[0].name).read_text())
    assert line == (
        f"rnnbench: error: refusing to merge: point {points[0].stem} of machine alpha differs between a "
        f"(measured {first['date']}) and a2 (measured 2030-01-01) (and 1 more); merge only one of the runs "
        "that measured it"
    )


def test_identical_copies_are_kept_once(root):
    shutil.copytree(root / "a", root / "a2")
    assert cli.main(["merge", "a", "a2", "--run-id", "m", "--results-dir", str(root), "--no-report"]) == 0
    assert stored(root / "m") == stored(root / "a")


def test_a_session_of_the_same_name_and_other_content_is_kept_under_its_run(root):
    shutil.copytree(root / "a", root / "a2")
    store.add_session(root / "a2", "alpha", "s1", {"date": "2030-01-01"})
    (root / "a2" / "environment" / "alpha" / "broken.json").write_text("{")
    assert cli.main(["merge", "a", "a2", "b", "--run-id", "m", "--results-dir", str(root), "--no-report"]) == 0
    merged = root / "m" / "environment"
    assert sorted(p.name for p in (merged / "alpha").iterdir()) == ["s1-a2.json", "s1.json"]
    assert json.loads((merged / "alpha" / "s1.json").read_text()) == json.loads(
        (root / "a" / "environment" / "alpha" / "s1.json").read_text()
    )
    assert json.loads((merged / "alpha" / "s1-a2.json").read_text()) == {"date": "2030-01-01"}
    assert sorted(p.name for p in (merged / "beta").iterdir()) == ["s1.json"]


def test_unreadable_point_files_are_left_out_and_named(root, two_machines, capsys):
    bad = root / "b" / "points" / "beta" / "step-x.json"
    bad.write_text("{")
    assert cli.main(["merge", "a", "b", "--run-id", "m", "--results-dir", str(root), "--no-report"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"left out an unreadable point file of b: {bad} (") for line in out)
    assert stored(root / "m")["beta"] == stored(two_machines[1])["beta"]


def test_a_run_without_points_is_refused(root, capsys):
    (root / "empty").mkdir()
    (root / "empty" / "run.json").write_text(json.dumps(MANIFEST))
    assert "holds no point records" in refused(root, capsys, "a", "empty")


@pytest.mark.parametrize(
    ("run_id", "says"),
    [("../up", "a run id may hold"), ("a", "already exists; choose another --run-id")],
)
def test_a_bad_or_taken_run_id_is_refused(root, capsys, run_id, says):
    assert cli.main(["merge", "a", "b", "--run-id", run_id, "--results-dir", str(root), "--no-report"]) == 2
    assert says in capsys.readouterr().err


def test_an_empty_folder_of_the_run_id_is_taken(root):
    (root / "m").mkdir()
    assert cli.main(["merge", "a", "b", "--run-id", "m", "--results-dir", str(root), "--no-report"]) == 0
    assert set(stored(root / "m")) == {"alpha", "beta"}


def test_a_results_dir_that_is_a_file_is_refused(root, capsys):
    (root / "file").write_text("")
    args = ["merge", str(root / "a"), "--run-id", "m", "--results-dir", str(root / "file"), "--no-report"]
    assert cli.main(args) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_an_unknown_run_is_refused(root, capsys):
    assert "nosuch" in refused(root, capsys, "a", "nosuch")


def test_a_run_named_again_does_not_stop_the_list(root):
    assert cli.main(["merge", "a", "a", "b", "--run-id", "m", "--results-dir", str(root), "--no-report"]) == 0
    assert set(stored(root / "m")) == {"alpha", "beta"}


def test_every_difference_is_listed(root, capsys):
    shutil.copytree(root / "b", root / "c")
    for name in ("b", "c"):
        edit_json(root / name / "run.json", lambda m: m["versions"].update(numpy="9.9.9", torch="2.0"))
    line = refused(root, capsys, "a", "b", "c")
    assert "b against a: numpy 2.0.0 -> 9.9.9, torch None -> 2.0; c against a: numpy" in line


def test_one_clash_says_no_more(root, capsys):
    shutil.copytree(root / "a", root / "a2")
    edit_json(next((root / "a2" / "points" / "alpha").glob("*.json")), lambda d: d.update(date="2030-01-01"))
    line = refused(root, capsys, "a", "a2")
    assert line.endswith("(measured 2030-01-01); merge only one of the runs that measured it")


def test_copies_that_differ_only_in_key_order_are_one(root):
    shutil.copytree(root / "a", root / "a2")
    for path in (root / "a2" / "points" / "alpha").glob("*.json"):
        doc = json.loads(path.read_text())
        path.write_text(json.dumps(dict(reversed(list(doc.items())))))
    (root / "a2" / "environment" / "alpha" / "s1.json").write_text(
        json.dumps(
            dict(reversed(list(json.loads((root / "a" / "environment" / "alpha" / "s1.json").read_text()).items())))
        )
    )
    assert cli.main(["merge", "a", "a2", "--run-id", "m", "--results-dir", str(root), "--no-report"]) == 0
    assert stored(root / "m") == stored(root / "a")
    assert [p.name for p in (root / "m" / "environment" / "alpha").iterdir()] == ["s1.json"]
    manifest = json.loads((root / "m" / "run.json").read_text())
    assert isinstance(manifest["created"], str)


def test_the_merge_makes_its_results_folder(root):
    deeper = root / "new" / "deeper"
    assert cli.main(["merge", str(root / "a"), "--run-id", "m", "--results-dir", str(deeper), "--no-report"]) == 0
    assert stored(deeper / "m") == stored(root / "a")


def test_a_left_over_staging_folder_is_not_merged(root):
    import os

    leftover = root / f".m.merging-{os.getpid()}"
    (leftover / "points" / "gamma").mkdir(parents=True)
    (leftover / "points" / "gamma" / "x.json").write_text("{}")
    assert cli.main(["merge", "a", "b", "--run-id", "m", "--results-dir", str(root), "--no-report"]) == 0
    assert set(stored(root / "m")) == {"alpha", "beta"}


def test_a_merge_that_fails_while_writing_leaves_nothing(root, monkeypatch):
    def full_disk(*_):
        raise OSError("no space left on device")

    monkeypatch.setattr(store, "write_manifest", full_disk)
    with pytest.raises(OSError, match="no space left"):
        cli.main(["merge", "a", "b", "--run-id", "m", "--results-dir", str(root), "--no-report"])
    assert not (root / "m").exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_the_run_id_is_required(root, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["merge", str(root / "a"), "--results-dir", str(root)])
    assert exit_.value.code == 2
    assert "--run-id" in capsys.readouterr().err


def test_run_ids_are_looked_up_under_results_by_default(root, monkeypatch):
    monkeypatch.chdir(root)
    for name, copy in (("a", "x"), ("b", "y")):
        shutil.copytree(root / name, root / "results" / copy)
    assert cli.main(["merge", "x", "y", "--run-id", "m", "--no-report"]) == 0
    assert set(stored(root / "results" / "m")) == {"alpha", "beta"}
