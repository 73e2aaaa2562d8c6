"""`rnnbench compare`: per-configuration ratio of median per-record cost, exit 1 on a regression.

Made-up runs only: nothing is timed here.
"""

from __future__ import annotations

import pytest

from rnnbench import compare, results
from rnnbench.cli import main


def point(impl, B, per_record, H=32, T=8, kind="step", threads=1, status="ok"):
    """A point record carrying what compare reads: the summary's key and per_record_median_s."""
    point_id = f"{kind}-{impl}-cpu-t{threads}-H{H}-T{T}-B{B}"
    summary = {
        "run_id": "x",
        "point_id": point_id,
        "impl": impl,
        "device": "cpu",
        "threads": threads,
        "hidden": H,
        "seq_len": T,
        "batch": B,
        "kind": kind,
        "records_per_call": B,
        "median_s": per_record * B,
        "per_record_median_s": per_record,
        "status": status,
    }
    return {"point_id": point_id, "kind": kind, "status": status, "summary": summary, "rows": []}


def make_run(run_dir, costs: dict, **kw):
    """costs: {(impl, B): per-record seconds}."""
    for (impl, B), c in costs.items():
        results.save_point(run_dir, point(impl, B, c, **kw))
    return run_dir


BASE = {("numpy-bptt", 1): 40e-6, ("numpy-bptt", 32): 3e-6, ("jax-scan", 1): 100e-6, ("jax-scan", 32): 4e-6}


def test_identical_runs_pass(tmp_path, capsys):
    a, b = make_run(tmp_path / "a", BASE), make_run(tmp_path / "b", BASE)
    assert main(["compare", str(a), str(b)]) == 0
    assert "4 configurations compared" in capsys.readouterr().out


def test_regression_exits_1_and_is_named(tmp_path, capsys):
    a = make_run(tmp_path / "a", BASE)
    b = make_run(tmp_path / "b", BASE | {("jax-scan", 32): 4e-6 * 1.5})
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "REGRESSED" in x)
    assert "jax-scan" in line
    assert "1.500" in line
    assert "1 regressed" in out


def test_improvement_is_not_a_regression(tmp_path, capsys):
    a = make_run(tmp_path / "a", BASE)
    b = make_run(tmp_path / "b", BASE | {("numpy-bptt", 1): 20e-6})
    assert main(["compare", str(a), str(b)]) == 0
    assert "improved" in capsys.readouterr().out


@pytest.mark.parametrize(("threshold", "code"), [(1.10, 0), (1.05, 1)])
def test_threshold(tmp_path, threshold, code):
    a = make_run(tmp_path / "a", BASE)
    b = make_run(tmp_path / "b", BASE | {("numpy-bptt", 32): 3e-6 * 1.08})
    assert main(["compare", str(a), str(b), "--threshold", str(threshold)]) == code


def test_ratios_are_per_configuration():
    rows_a = [point("numpy-bptt", B, 1e-5)["summary"] for B in (1, 2)]
    rows_b = [point("numpy-bptt", 1, 2e-5)["summary"], point("numpy-bptt", 4, 1e-5)["summary"]]
    out = compare.compare(rows_a, rows_b, threshold=1.1)
    assert [(r["batch"], r["ratio"]) for r in out["rows"]] == [(1, pytest.approx(2.0))]
    assert out["regressions"] == 1
    assert len(out["only_a"]) == 1
    assert len(out["only_b"]) == 1


def test_failed_points_are_not_compared():
    rows_a = [point("numpy-bptt", 1, 1e-5)["summary"]]
    rows_b = [point("numpy-bptt", 1, 9e-5, status="failed")["summary"]]
    assert compare.compare(rows_a, rows_b)["rows"] == []


def test_runs_with_nothing_in_common_exit_2(tmp_path):
    a = make_run(tmp_path / "a", BASE)
    b = make_run(tmp_path / "b", BASE, H=64)
    assert main(["compare", str(a), str(b)]) == 2
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2


def test_reads_summary_csv_of_a_run_without_points(tmp_path):
    """A reference run kept as CSV files only (points/ removed) still compares."""
    a = make_run(tmp_path / "a", BASE)
    results.combine(a)
    for f in (a / results.POINTS).iterdir():
        f.unlink()
    (a / results.POINTS).rmdir()
    b = make_run(tmp_path / "b", BASE | {("numpy-bptt", 1): 80e-6})
    assert main(["compare", str(a), str(b)]) == 1


def test_run_ids_resolve_under_results_dir(tmp_path):
    make_run(tmp_path / "old", BASE)
    make_run(tmp_path / "new", BASE)
    assert main(["compare", "old", "new", "--results-dir", str(tmp_path)]) == 0
