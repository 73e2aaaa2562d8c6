"""The derived figures of rnnbench.runs.analysis at their edges, on a few made-up rows each: what is
left out (failed points, missing or unusable values), how ties and shards are settled, and what each
figure is when a part of it is missing. tests/test_report.py checks the same figures on whole runs.
"""

from __future__ import annotations

import math

import pytest

from rnnbench.runs import analysis, records, store


def summary_row(B: int, median_s: float, **kw) -> dict:
    """A step point's summary row (alpha, numpy-bptt, threads 1, H=16, T=4) with the given median."""
    row = {"machine": "alpha", "impl": "numpy-bptt", "device": "cpu", "threads": 1, "hidden": 16, "seq_len": 4}
    row |= {"kind": "step", "batch": B, "median_s": median_s, "per_record_median_s": median_s / B}
    row |= {"records_per_call": B, "first_call_s": 10 * median_s, "status": "ok", "run_id": "r"}
    return row | kw


def test_a_value_that_is_no_number_is_nan():
    assert records.to_float("2.5") == 2.5
    assert math.isnan(records.to_float(""))
    assert math.isnan(records.to_float(None))


def test_failed_rows_are_not_usable():
    rows = [{"status": "ok"}, {"status": "failed"}, {"status": "flagged"}, {}]
    assert analysis.usable(rows) == [{"status": "ok"}, {"status": "flagged"}, {}]


def test_the_peak_is_the_best_of_each_machine_and_thread_count():
    rows = [
        {"machine": "a", "threads": "1", "gflops": "7.0"},
        {"machine": "a", "threads": 1, "gflops": 5.0},
        {"machine": "a", "threads": 2, "gflops": 3.0},
        {"machine": "b", "threads": 1, "gflops": 0.5},
    ]
    assert analysis.peaks(rows) == {("a", 1): 7.0, ("a", 2): 3.0, ("b", 1): 0.5}


def test_the_baseline_is_the_median_over_shards_of_usable_rows():
    shape = {"machine": "a", "threads": 1, "hidden": 8, "seq_len": 2, "batch": 4}
    rows = [shape | {"per_record_median_s": s, "status": "ok"} for s in (1.0, 2.0, 6.0)]
    rows.append(shape | {"per_record_median_s": 100.0, "status": "failed"})
    assert analysis.baselines(rows) == {("a", 1, 8, 2, 4): 2.0}


def test_enrich_without_a_peak_or_a_baseline_says_none():
    rows = analysis.enrich([summary_row(4, 8.0, gflops=2.0), summary_row(8, 8.0, status="failed")], [], [])
    assert len(rows) == 1
    assert (rows[0]["peak_gflops"], rows[0]["pct_of_peak"], rows[0]["x_baseline"]) == (None, None, None)
    peak = [{"machine": "alpha", "threads": 1, "gflops": 8.0}]
    base = [{"machine": "alpha", "threads": 1, "hidden": 16, "seq_len": 4, "batch": 4, "per_record_median_s": 0.5}]
    (row,) = analysis.enrich([summary_row(4, 8.0, gflops=2.0)], peak, base)
    assert (row["peak_gflops"], row["pct_of_peak"], row["x_baseline"]) == (8.0, 25.0, 4.0)
    (row,) = analysis.enrich([summary_row(4, 8.0, gflops=None, per_record_median_s=None)], peak, base)
    assert (row["pct_of_peak"], row["x_baseline"]) == (None, None)


def test_configs_without_api_figures_have_no_api_share():
    (c,) = analysis.configs([summary_row(1, 2.0), summary_row(4, 4.0)])
    assert (c["api_s"], c["api_share"]) == (None, None)
    assert c["smallest"]["batch"] == 1
    assert c["best"]["batch"] == 4
    assert c["speedup"] == 2.0
    assert c["first_call_ratio"] == 10.0
    (c,) = analysis.configs([summary_row(1, 2.0, api_check_s=0.5, api_convert_s=None)])
    assert (c["api_s"], c["api_share"]) == (0.5, 0.25)
    keys = dict(zip(analysis.CONFIG, analysis.config_key(summary_row(1, 2.0)), strict=True))
    assert {k: c[k] for k in analysis.CONFIG} == keys
    assert (c["machine"], c["impl"], c["device"], c["kind"]) == ("alpha", "numpy-bptt", "cpu", "step")
    assert (c["threads"], c["hidden"], c["seq_len"]) == (1, 16, 4)


def test_configs_are_apart_per_machine_kind_and_shape():
    rows = [summary_row(1, 1.0), summary_row(1, 1.0, machine="beta"), summary_row(1, 1.0, kind="epoch")]
    rows += [summary_row(1, 1.0, hidden=32), summary_row(1, 1.0, seq_len=8), summary_row(1, 1.0, threads=2)]
    assert len(analysis.configs(rows)) == 6


def test_headline_shape_ties_go_to_the_larger_H_then_the_smaller_T():
    rows = [summary_row(1, 1.0, hidden=16, seq_len=4), summary_row(1, 1.0, hidden=32, seq_len=8)]
    assert analysis.headline_shape(rows) == (32, 8)
    rows.append(summary_row(1, 1.0, hidden=32, seq_len=4))
    assert analysis.headline_shape(rows) == (32, 4)
    rows += [summary_row(1, 1.0, hidden=16, seq_len=4, impl=impl) for impl in ("a", "b")]
    assert analysis.headline_shape(rows) == (16, 4)
    assert analysis.headline_shape([summary_row(1, 1.0, status="failed")]) is None


def test_winners_at_one_and_at_the_best_batch():
    slow = analysis.configs([summary_row(1, 4.0), summary_row(8, 8.0)])
    fast = analysis.configs([summary_row(1, 2.0, impl="fast"), summary_row(8, 80.0, impl="fast")])
    (w,) = analysis.winners(slow + fast)
    assert (w["b1_call"], w["b1_s"]) == (("fast", "step", "cpu"), 2.0)
    assert (w["best_call"], w["best_B"], w["best_s"]) == (("numpy-bptt", "step", "cpu"), 8, 1.0)


def test_winners_without_a_point_at_one():
    (c,) = analysis.configs([summary_row(2, 2.0), summary_row(4, 2.0)])
    (w,) = analysis.winners([c])
    assert (w["b1_call"], w["b1_s"]) == (None, None)
    assert (w["best_call"], w["best_B"], w["best_s"]) == (("numpy-bptt", "step", "cpu"), 4, 0.5)
    assert (w["machine"], w["threads"], w["hidden"], w["seq_len"]) == ("alpha", 1, 16, 4)


@pytest.mark.parametrize(("batches", "fitted"), [((1, 2), False), ((1, 2, 2), False), ((1, 2, 4), True)])
def test_a_fit_needs_three_batch_sizes(batches, fitted):
    rows = [summary_row(b, 1.0 + b) for b in batches]
    assert bool(analysis.fits(rows)) == fitted


def test_a_fit_per_configuration_with_enough_batch_sizes():
    rows = [summary_row(b, 1.0 + b, run_id=f"r{b}") for b in (1, 2)]  # alpha: two sizes, no fit
    rows += [summary_row(b, 1.0 + b, machine="beta", run_id=f"r{b}") for b in (4, 1, 2)]
    (fit,) = analysis.fits(rows)
    assert (fit["machine"], fit["run_id"]) == ("beta", "r4")  # the run id of its first row
    assert fit["max_rel_residual"] == pytest.approx(0.0, abs=1e-12)


def test_the_fit_is_per_step_of_an_epoch_and_leaves_out_failed_points():
    """An epoch call of 4 steps that costs 4 (1 + B): per step, overhead 1 and marginal 1."""
    rows = [summary_row(b, 4 * (1.0 + b), kind="epoch", records_per_call=4 * b) for b in (1, 2, 4)]
    rows.append(summary_row(8, 1000.0, kind="epoch", records_per_call=32, status="failed"))
    (fit,) = analysis.fits(rows)
    assert fit["overhead_s"] == pytest.approx(1.0)
    assert fit["marginal_s"] == pytest.approx(1.0)
    assert (fit["n_points"], fit["batch_min"], fit["batch_max"], fit["run_id"]) == (3, 1, 4, "r")
    assert set(fit) == set(records.columns(records.Fit))


def test_memory_growth_needs_two_step_peaks():
    rows = [
        summary_row(1, 1.0, model_cache_bytes=100, step_peak_bytes=1000, step_memory_method="m"),
        summary_row(4, 1.0, model_cache_bytes=400, step_peak_bytes=1600, step_memory_method="m"),
        summary_row(2, 1.0, model_cache_bytes=200, step_peak_bytes=None),
        summary_row(8, 1.0, model_cache_bytes=800, step_peak_bytes=""),
    ]
    (g,) = analysis.memory_growth(rows)
    assert (g["B_first"], g["B_last"], g["cache_first"], g["cache_last"]) == (1, 4, 100.0, 400.0)
    assert (g["peak_first"], g["peak_last"], g["rise_ratio"], g["method"]) == (1000.0, 1600.0, 2.0, "m")
    assert analysis.memory_growth(rows[:1] + rows[2:]) == []
    rows.append(summary_row(16, 1.0, model_cache_bytes=1600, step_peak_bytes=4000, step_memory_method="m"))
    lone = summary_row(1, 1.0, machine="aaa", model_cache_bytes=100, step_peak_bytes=100)  # sorts first, alone
    (g,) = analysis.memory_growth([lone, *rows])
    assert (g["B_first"], g["B_last"], g["rise_ratio"]) == (1, 16, 2.0)
    same = [summary_row(b, 1.0, model_cache_bytes=100, step_peak_bytes=100 * b) for b in (1, 2)]
    assert math.isnan(analysis.memory_growth(same)[0]["rise_ratio"])


def evals(accuracies, seconds, compile_s=0.0, **kw) -> list[dict]:
    base = {"machine": "a", "impl": "x", "device": "cpu", "threads": 1, "batch": 8, "lr": 0.1, "epochs": 2}
    return [
        base | {"val_accuracy": a, "train_seconds": s, "compile_seconds": compile_s, "records_seen": 5 * s} | kw
        for a, s in zip(accuracies, seconds, strict=True)
    ]


def test_time_to_target():
    rows = evals([0.2, 0.5, 0.9], [3.0, 1.0, 2.0])  # sorted by time: 0.5 at 1 s, 0.9 at 2 s, 0.2 at 3 s
    assert analysis.time_to_target(rows, 0.5) == 1.0
    assert analysis.time_to_target(rows, 0.6) == 2.0
    assert analysis.time_to_target(rows, 0.95) is None
    assert analysis.time_to_target(evals([0.9, 0.6], [5.0, 1.0]), 0.5) == 1.0  # the earliest, not the first listed


@pytest.mark.parametrize("target", [0.0, 1.0, 0.5])
def test_accuracy_target_takes_any_accuracy(target):
    assert analysis.accuracy_target(evals([0.4, 0.8], [1.0, 2.0]), target) == (target, 0.8)


def test_accuracy_target_defaults_to_a_fraction_of_the_best():
    assert analysis.accuracy_target(evals([0.4, 0.8], [1.0, 2.0])) == (analysis.TARGET_FRACTION * 0.8, 0.8)
    assert analysis.accuracy_target([]) == (None, None)


def test_accuracy_runs():
    rows = evals([0.5, 0.3, 0.6], [4.0, 1.0, 2.0], compile_s=0.5)
    rows += evals([0.1], [0.0], batch=1, compile_seconds=None)
    one, run = analysis.accuracy_runs(rows, 0.55)
    assert (one["batch"], one["records_per_second"], one["compile_seconds"], one["time_to_target"]) == (
        1,
        None,
        0.0,
        None,
    )
    assert (run["machine"], run["impl"], run["device"], run["threads"], run["batch"]) == ("a", "x", "cpu", 1, 8)
    assert (run["lr"], run["epochs"], run["best_val_accuracy"], run["final_val_accuracy"]) == (0.1, 2, 0.6, 0.5)
    assert (run["train_seconds"], run["compile_seconds"], run["records_per_second"]) == (4.0, 0.5, 20 / 4.0)
    assert (run["time_to_target"], run["time_to_target_steady"]) == (2.0, 1.5)
    assert [r["steady_seconds"] for r in run["curve"]] == [0.5, 1.5, 3.5]
    (short,) = analysis.accuracy_runs(evals([0.5], [0.5], records_seen=10), None)
    assert short["records_per_second"] == 20.0
    assert analysis.accuracy_runs(rows, None)[1]["time_to_target"] is None
    assert analysis.accuracy_runs(rows, None)[1]["time_to_target_steady"] is None


def noise(when: str, s, point_id="noise-x", load=0.5) -> dict:
    row = {"machine": "a", "point_id": point_id, "impl": "x", "device": "cpu", "threads": 1, "when": when}
    return row | {"sentinel_s": s, "load": load}


def test_worker_noise():
    rows = [
        noise("start", 1.0),
        noise("end", 1.05, load=0.7),
        noise("start", 1.0, "noise-y"),
        noise("end", 0.8, "noise-y"),
    ]
    rows += [noise("end", 1.0, "noise-z"), noise("start", 1.0, "noise-zz"), noise("start", 0.0, "noise-zzz")]
    rows.append(noise("end", 1.0, "noise-zzz"))
    x, y, z, zz, zzz = analysis.worker_noise(rows)
    assert x["end_s"] == 1.05
    assert (zz["drift"], zz["load_end"]) == (None, None)
    assert math.isnan(zz["end_s"])
    assert zzz["drift"] is None
    assert (x["drift"], x["drifted"], x["load_start"], x["load_end"]) == (pytest.approx(1.05), False, 0.5, 0.7)
    assert (y["drift"], y["drifted"]) == (pytest.approx(0.8), True)
    assert (z["drift"], z["drifted"], z["load_start"]) == (None, False, None)
    assert math.isnan(z["start_s"])
    assert (x["machine"], x["point_id"], x["impl"], x["device"], x["threads"]) == ("a", "noise-x", "x", "cpu", 1)


def test_machine_cores_prefers_the_usable_ones():
    env = {
        "a": [{"cpu": {"usable_cores": 1}}, {"cpu": {"usable_cores": 2, "logical_cores": 8}}],
        "b": [{"cpu": {"logical_cores": 4}}],
        "c": [{}],
        "d": [],
    }
    assert analysis.machine_cores(env) == {"a": 2, "b": 4}


def test_loaded_rows():
    rows = [
        {"machine": "a", "load_before": 1.0, "load_after": 3.0},
        {"machine": "a", "load_before": 2.0, "load_after": None},
        {"machine": "a", "load_before": 4.0, "load_after": 1.0},
        {"machine": "a", "load_before": None, "load_after": None},
        {"machine": "z", "load_before": 9.0, "load_after": 9.0},
    ]
    gated = {"gated": False}  # above the cores by the load average, not left loaded by the quiet gate
    assert analysis.loaded(rows, {"a": 2}) == [rows[0] | {"load": 3.0} | gated, rows[2] | {"load": 4.0} | gated]


def test_load_skips_the_samples_and_write_fit_writes_the_fit(tmp_path):
    row = records.Summary(**dict.fromkeys(records.columns(records.Summary)))
    assert row.problems is None
    record = records.PointRecord(
        "step-x-cpu-t1-H1-T1-B1", "step", "r", "a", "ok", {}, {}, {"samples": [{"x": 1}]}, {}, "", 0.0
    )
    store.save_point(tmp_path, record)
    assert "samples" not in analysis.load(tmp_path)
    assert analysis.load(tmp_path, skip=())["samples"] == [{"x": 1}]
    rows = [summary_row(b, 1.0 + b) for b in (1, 2, 4)]
    path = analysis.write_fit(tmp_path, rows)
    assert path == tmp_path / "fit.csv"
    assert len(store.read_table(tmp_path, "fit")) == 1
    for point in store.point_files(tmp_path):  # a run kept as its CSV tables only
        point.unlink()
    store.write_table(tmp_path, "summary", rows)
    tables = analysis.load(tmp_path)
    assert "fit" not in tables
    assert len(tables["summary"]) == 3
