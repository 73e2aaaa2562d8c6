"""`rnnbench merge`: the two halves of a sweep measured as two machines become one ordinary run (each
machine's points and environment kept apart, tables, fit, report and compare working on it); identical
copies are kept once; differing copies of a point from one machine, and runs of other code or library
versions (without --force), are refused with one line and nothing written.

The halves are measured once (profile test, numpy-bptt, no accuracy runs); the other runs are copies of
them, edited to show one thing each.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from rnnbench import cli
from rnnbench.bench import plan
from rnnbench.runs import store

SWEEP = ["--profile", "test", "--impl", "numpy-bptt", "--skip-accuracy", "--no-report"]


@pytest.fixture(scope="module")
def halves(tmp_path_factory) -> Path:
    """results/ holding s1 (shard 1/2 as machine alpha) and s2 (shard 2/2 as machine beta)."""
    root = tmp_path_factory.mktemp("results")
    for k, label in ((1, "alpha"), (2, "beta")):
        args = [*SWEEP, "--shard", f"{k}/2", "--machine", label, "--run-id", f"s{k}", "--results-dir", str(root)]
        assert cli.main(["bench", *args]) == 0
    # two machines running one checkout: the same code, even where this tree changed between the halves
    first = json.loads((root / "s1" / "run.json").read_text())
    edit_json(root / "s2" / "run.json", lambda m: m.update(git=first["git"], versions=first["versions"]))
    return root


@pytest.fixture
def root(halves, tmp_path) -> Path:
    """A results folder of this test's own, holding copies of s1 and s2."""
    here = tmp_path / "results"
    for name in ("s1", "s2"):
        shutil.copytree(halves / name, here / name)
    return here


def merge(root: Path, *args: str) -> int:
    return cli.main(["merge", *args, "--results-dir", str(root), "--no-report"])


def stored(run_dir: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in store.point_files(run_dir):
        out.setdefault(path.parent.name, set()).add(path.stem)
    return out


def refused(root: Path, capsys, *args: str) -> str:
    """Merge into `m`; assert it was refused with one line and nothing written; return the line."""
    assert merge(root, *args, "--run-id", "m") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert not (root / "m").exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no half-written merge left
    return err[0]


def edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_the_halves_cover_the_sweep_once(halves, tmp_path):
    args = cli.build_parser().parse_args(["bench", *SWEEP, "--results-dir", str(tmp_path)])
    whole = {i for s in plan.make_plan(args).specs for i in s.point_ids if i.startswith(("step-", "epoch-"))}
    a = {i for i in stored(halves / "s1")["alpha"] if i.startswith(("step-", "epoch-"))}
    b = {i for i in stored(halves / "s2")["beta"] if i.startswith(("step-", "epoch-"))}
    assert not a & b
    assert a | b == whole


def test_merge_joins_the_machines(root):
    assert merge(root, "s1", "s2", "--run-id", "m") == 0
    merged = stored(root / "m")
    assert merged == {"alpha": stored(root / "s1")["alpha"], "beta": stored(root / "s2")["beta"]}
    for label in ("alpha", "beta"):  # each machine's environment sessions
        assert sorted(p.name for p in (root / "m" / "environment" / label).iterdir()) == sorted(
            p.name for p in (root / f"s{1 if label == 'alpha' else 2}" / "environment" / label).iterdir()
        )
    manifest = json.loads((root / "m" / "run.json").read_text())
    assert [s["run_id"] for s in manifest["merged_from"]] == ["s1", "s2"]
    assert manifest["machines"] == ["alpha", "beta"]
    assert "code_differences" not in manifest


def test_the_merged_run_is_an_ordinary_run(root):
    assert merge(root, "s1", "s2", "--run-id", "m") == 0
    summary = store.read_table(root / "m", "summary")
    assert {r["machine"] for r in summary} == {"alpha", "beta"}
    assert {r["machine"] for r in store.read_table(root / "m", "peak")} == {"alpha", "beta"}
    assert (root / "m" / "fit.csv").is_file()
    assert store.resolve_run(None, root).name in {"s1", "s2", "m"}
    assert cli.main(["compare", "s1", "m", "--results-dir", str(root)]) in (0, 1)  # 2: nothing in common


@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("pandas", "matplotlib")),
    reason="the report needs pandas and matplotlib (rnnbench[report])",
)
def test_report_takes_the_merged_run(root):
    assert merge(root, "s1", "s2", "--run-id", "m") == 0
    assert cli.main(["report", str(root / "m")]) == 0
    text = (root / "m" / "report.md").read_text()
    assert "alpha" in text
    assert "beta" in text


def test_identical_copies_are_kept_once(root):
    assert merge(root, "s1", "s2", "--run-id", "m") == 0
    assert merge(root, "m", "s1", "--run-id", "again") == 0
    assert stored(root / "again") == stored(root / "m")


def test_the_same_point_on_two_machines_is_two_records(root):
    """s1 relabelled as machine gamma: every point of it twice, once per machine."""
    shutil.copytree(root / "s1", root / "s1g")
    (root / "s1g" / "points" / "alpha").rename(root / "s1g" / "points" / "gamma")
    for path in (root / "s1g" / "points" / "gamma").glob("*.json"):
        edit_json(path, lambda d: d.update(machine="gamma"))
    assert merge(root, "s1", "s1g", "--run-id", "m") == 0
    merged = stored(root / "m")
    assert merged["alpha"] == merged["gamma"] == stored(root / "s1")["alpha"]


def test_differing_copies_of_a_point_are_refused(root, capsys):
    shutil.copytree(root / "s1", root / "s1b")
    point = next(p for p in (root / "s1b" / "points" / "alpha").glob("step-*.json"))
    edit_json(point, lambda d: d["summary"].update(median_s=d["summary"]["median_s"] * 2))
    line = refused(root, capsys, "s1", "s1b")
    assert point.stem in line
    assert "alpha" in line
    assert "s1b" in line


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda m: m["git"].update(commit="0" * 40, short="0000000"), "git commit"),
        (lambda m: m["git"].update(diff_sha256="f" * 16), "uncommitted changes"),
        (lambda m: m["versions"].update(numpy="0.0.1"), "numpy"),
    ],
    ids=["commit", "uncommitted", "library"],
)
def test_other_code_versions_need_force(root, capsys, change, says):
    edit_json(root / "s2" / "run.json", change)
    line = refused(root, capsys, "s1", "s2")
    assert says in line
    assert "--force" in line
    assert merge(root, "s1", "s2", "--run-id", "m", "--force") == 0
    manifest = json.loads((root / "m" / "run.json").read_text())
    assert any(says in d for d in manifest["code_differences"])


def test_a_run_without_run_json_needs_force(root, capsys):
    (root / "s2" / "run.json").unlink()
    assert "no run.json" in refused(root, capsys, "s1", "s2")


def test_an_existing_run_id_is_refused(root, capsys):
    assert merge(root, "s1", "s2", "--run-id", "m") == 0
    assert merge(root, "s1", "s2", "--run-id", "m") == 2
    assert "already exists" in capsys.readouterr().err


def test_an_unknown_run_is_refused(root, capsys):
    assert "nosuch" in refused(root, capsys, "s1", "nosuch")
