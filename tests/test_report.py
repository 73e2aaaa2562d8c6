"""The result pipeline on small synthetic runs: point files, CSVs, the cost-model fit, the report.

No test here times anything: every number is made up, so that the expected figures are known.
"""

from __future__ import annotations

import json
import math

import pytest

from rnnbench import costmodel, harness, results, timing

IMPLS = {"numpy-bptt": (40e-6, 2e-6), "torch-autograd": (300e-6, 1e-6)}  # (overhead, marginal) per step
BATCHES = (1, 2, 4, 8, 16, 32, 64)
JITTER = (0.98, 0.99, 1.0, 1.01, 1.02)  # the made-up samples of a point: median exactly 1.0 x its cost


RSS_BEFORE = 100_000_000  # made-up resident set before each model: 100 MB
STEP_BASE = 50_000  # made-up part of a step's peak that does not grow with B: 50 kB


def step_record(
    impl, H, T, B, overhead, marginal, kind="step", threads=1, status="ok", n=5, run_id="run", memory=False
):
    """A point record as harness.measure_step writes it, whose median is exactly overhead + B * marginal.

    memory: also the memory fields: a step's peak STEP_BASE + 2 x the BPTT cache, the high-water mark
    RSS_BEFORE + 3 x the cache (records written before rnnbench measured memory have none)."""
    steps = 4 if kind == "epoch" else 1
    per_call = steps * (overhead + B * marginal)
    records = steps * B
    point = harness.StepPoint(impl, H, T, B, threads, kind)
    base = {
        "run_id": run_id,
        "point_id": point.point_id,
        "impl": impl,
        "device": "cpu",
        "threads": threads,
        "hidden": H,
        "seq_len": T,
        "batch": B,
    }
    seconds = [per_call * f for f in JITTER][:n]
    stats = timing.robust_stats(seconds)
    flops = costmodel.step_flops(H, harness.SYNTH_VOCAB, harness.SYNTH_CLASSES, T, B)
    summary = base | {
        "kind": kind,
        "records_per_call": records,
        "n_samples": n,
        "rounds": n,
        "iterations": 1,
        **harness.timing_fields(stats, records),
        "first_call_s": 50 * per_call,
        "flops_per_step": flops["flops_per_step"],
        "flops_per_record": flops["flops_per_record"],
        "gflops": flops["flops_per_step"] * steps / stats["median"] / 1e9,
        "loss_before": 2.3,
        "loss_after": 2.2,
        **(memory_fields(H, T, B, kind) if memory else {}),
        "sanity_gap": 0.001,
        "sanity_ok": True,
        "status": status,
        "problems": [] if status == "ok" else ["made-up problem"],
    }
    rows = [base | {"kind": f"first_call_{kind}", "round": 0, "sample": 0, "seconds": 50 * per_call}]
    rows += [
        base
        | {"kind": kind, "round": i, "sample": i, "seconds": x, "records": records, "per_record_seconds": x / records}
        for i, x in enumerate(seconds)
    ]
    checks = {"problems": ["made-up problem"] if status == "failed" else [], "flags": []}
    return {
        "point_id": point.point_id,
        "kind": kind,
        "run_id": run_id,
        "status": status,
        "summary": summary,
        "rows": rows,
        "checks": checks,
    }


def memory_fields(H, T, B, kind):
    cache = costmodel.bptt_cache_bytes(H, T, B)
    step = kind == "step"  # epoch points measure no step peak
    return {
        "model_cache_bytes": cache,
        "step_peak_bytes": STEP_BASE + 2 * cache if step else None,
        "step_memory_method": "made-up allocator" if step else None,
        "rss_before_bytes": RSS_BEFORE,
        "peak_rss_bytes": RSS_BEFORE + 3 * cache,
        "rss_growth_bytes": 3 * cache,
    }


def peak_record(gflops=100.0, threads=1):
    rows = [
        {"run_id": "run", "library": lib, "n": 256, "threads": threads, "sample": 0, "seconds": 1.0, "gflops": g}
        | {"max_rel_error": 1e-7}
        for lib, g in (("numpy", gflops * 0.8), ("torch", gflops))
    ]
    return {"point_id": f"peak-t{threads}", "kind": "peak", "status": "ok", "rows": rows, "summary": {}}


def accuracy_record(impl, B, speed, threads=1, compile_seconds=None):
    """Evaluations every `1 / speed` seconds; accuracy climbs 0.35 -> 0.75 over 5 evaluations.

    compile_seconds: seconds of the first stretch of training spent compiling (cumulative, so every
    evaluation after the first carries it); None leaves the field out, as in runs that predate it."""
    point = harness.AccuracyPoint(impl, B, threads)
    extra = (lambda i: {}) if compile_seconds is None else (lambda i: {"compile_seconds": compile_seconds * (i > 0)})
    rows = [
        {
            "run_id": "run",
            "point_id": point.point_id,
            "impl": impl,
            "device": "cpu",
            "threads": threads,
            "hidden": 16,
            "batch": B,
            "optimizer": "sgd",
            "lr": 0.02 * math.sqrt(B),
            "epochs": 2,
            "data": "synthetic",
            "eval": i,
            "epoch": i // 2,
            "records_seen": 100 * i,
            "train_seconds": i / speed,
            "val_accuracy": 0.35 + 0.1 * i,
            "val_loss": 1.1 - 0.1 * i,
        }
        | extra(i)
        for i in range(5)
    ]
    return {"point_id": point.point_id, "kind": "accuracy", "status": "ok", "rows": rows, "summary": {}}


def make_run(run_dir, hidden=(16, 32), seq_len=(4,), epoch_impl="numpy-bptt", accuracy=True, peak=True):
    for impl, (a, b) in IMPLS.items():
        for H in hidden:
            for T in seq_len:
                for B in BATCHES:
                    results.save_point(run_dir, step_record(impl, H, T, B, a * H / 16, b * H / 16))
                    if impl == epoch_impl:
                        results.save_point(run_dir, step_record(impl, H, T, B, a / 4, b, kind="epoch"))
    if peak:
        results.save_point(run_dir, peak_record())
    if accuracy:
        for impl, speed in (("numpy-bptt", 4.0), ("torch-autograd", 1.0)):
            for B in (1, 16):
                results.save_point(run_dir, accuracy_record(impl, B, speed * (2 if B > 1 else 1)))
    results.update_machine(run_dir, {"threads_setting": 1, "device": "cpu", "cpu": {"model": "Test CPU"}})
    return run_dir


# -- the cost model ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("overhead", "marginal"), [(40e-6, 2e-6), (1e-3, 1e-7), (5e-6, 5e-5)])
def test_fit_recovers_known_overhead_and_marginal(overhead, marginal):
    B = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    fit = costmodel.fit_overhead_marginal(B, [overhead + b * marginal for b in B])
    assert fit.overhead == pytest.approx(overhead, rel=1e-9)
    assert fit.marginal == pytest.approx(marginal, rel=1e-9)
    assert fit.crossover == pytest.approx(overhead / marginal, rel=1e-9)
    assert fit.max_rel_residual < 1e-9
    assert fit.n == len(B)
    assert fit.overhead_fraction(1) == pytest.approx(overhead / (overhead + marginal))


def test_fit_is_robust_to_one_slow_point_when_fed_medians():
    """Relative weighting: a slow B=512 point moves the overhead estimate far less than plain least squares would."""
    B = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    t = [40e-6 + b * 2e-6 for b in B]
    t[-1] *= 1.5
    fit = costmodel.fit_overhead_marginal(B, t)
    assert fit.overhead == pytest.approx(40e-6, rel=0.25)


def test_fit_needs_two_batch_sizes():
    fit = costmodel.fit_overhead_marginal([8, 8], [1e-3, 1e-3])
    assert math.isnan(fit.overhead)
    assert math.isnan(fit.crossover)


def test_step_flops_formula():
    H, V, C, T, B = 8, 5, 3, 4, 2
    f = costmodel.step_flops(H, V, C, T, B)
    per_record = 6 * T * H * H + 8 * T * H + 6 * C * H + 9 * C
    params = H * V + H * H + H + C * H + C
    assert f["forward_per_record"] + f["backward_per_record"] == per_record
    assert f["flops_per_step"] == B * per_record + 2 * params
    assert f["flops_per_record"] == f["flops_per_step"] / B


# -- timing (on made-up numbers: nothing here is timed) ------------------------------------------------


def test_sanity_check_passes_when_the_parts_add_up():
    loop = timing.TimedLoop(samples=[1e-3] * 6, round_seconds=[3.01e-3, 3.02e-3], iterations=3)
    assert loop.sanity().ok


def test_sanity_check_flags_untimed_work():
    loop = timing.TimedLoop(samples=[1e-3] * 6, round_seconds=[3.5e-3, 3.5e-3], iterations=3)
    sanity = loop.sanity()
    assert not sanity.ok
    assert sanity.gap_fraction == pytest.approx(1 / 7)
    assert "untimed" in sanity.describe()


def test_run_timed_keeps_every_sample_and_result():
    calls = []
    loop = timing.run_timed(lambda: calls.append(1) or len(calls), lambda: None, rounds=3, iterations=4)
    assert len(loop.samples) == 12
    assert len(loop.round_seconds) == 3
    assert loop.results == list(range(1, 13))


def test_run_timed_drops_extra_calls_of_a_runner():
    """pytest-benchmark calls the target once more for its result: that sample is not kept."""

    def runner(target, rounds, iterations, sync):
        walls = timing.own_runner(target, rounds, iterations, sync)
        target()
        return walls

    loop = timing.run_timed(lambda: 0, lambda: None, rounds=2, iterations=2, runner=runner)
    assert len(loop.samples) == 4


def test_robust_stats():
    s = timing.robust_stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["median"] == 3.0
    assert s["q1"] == 2.0
    assert s["q3"] == 4.0
    assert s["iqr"] == 2.0
    assert s["n"] == 5


def test_time_to_target():
    evals = [{"train_seconds": t, "val_accuracy": a} for t, a in ((0, 0.3), (1.5, 0.55), (3.0, 0.61), (4.5, 0.7))]
    assert results.time_to_target(evals, 0.6) == 3.0
    assert results.time_to_target(evals, 0.9) is None


# -- result files --------------------------------------------------------------------------------------


def test_combine_writes_every_csv(tmp_path):
    run = make_run(tmp_path / "run")
    paths = results.combine(run)
    assert set(paths) == {"samples", "summary", "fit", "accuracy", "peak", "floor"}
    header = (run / "summary.csv").read_text().splitlines()[0].split(",")
    assert header == list(results.SUMMARY_COLUMNS)
    fit_rows = results.tables(run)["fit"]
    row = next(r for r in fit_rows if r["impl"] == "torch-autograd" and r["hidden"] == 16 and r["kind"] == "step")
    assert row["overhead_s"] == pytest.approx(300e-6, rel=1e-9)
    assert row["marginal_s"] == pytest.approx(1e-6, rel=1e-9)
    epoch = next(r for r in fit_rows if r["kind"] == "epoch" and r["hidden"] == 16)
    assert epoch["overhead_s"] == pytest.approx(40e-6 / 4, rel=1e-9)  # per step, not per epoch call
    summary = results.tables(run)["summary"]
    assert all(r["pct_of_peak"] == pytest.approx(100 * r["gflops"] / 100.0) for r in summary)
    assert not list(run.glob("*.tmp"))
    assert not list(run.glob(".*.tmp"))


def test_interrupted_run_is_loadable(tmp_path):
    """A run cut short: a few points, a temporary file of the write in flight, no CSVs, no peak."""
    run = tmp_path / "cut"
    for B in (1, 2, 4):
        results.save_point(run, step_record("numpy-bptt", 16, 4, B, 40e-6, 2e-6))
    (run / results.POINTS / ".step-numpy-bptt-cpu-t1-H16-T4-B8.json.abc123.tmp").write_text('{"point_id": "ste')
    (run / results.POINTS / "garbage.json").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable point file"):
        points = results.load_points(run)
    assert [p["summary"]["batch"] for p in points] == [1, 2, 4]
    with pytest.warns(UserWarning, match="unreadable point file"):
        assert results.done_point_ids(run) == {p["point_id"] for p in points}
    (run / results.POINTS / "garbage.json").unlink()
    results.combine(run)
    assert len((run / "summary.csv").read_text().splitlines()) == 1 + 3


def test_resume_redoes_failed_points_only(tmp_path):
    run = tmp_path / "run"
    ok = step_record("numpy-bptt", 16, 4, 1, 40e-6, 2e-6)
    flagged = step_record("numpy-bptt", 16, 4, 2, 40e-6, 2e-6, status="flagged")
    failed = step_record("numpy-bptt", 16, 4, 4, 40e-6, 2e-6, status="failed")
    for rec in (ok, flagged, failed):
        results.save_point(run, rec)
    assert results.done_point_ids(run) == {ok["point_id"], flagged["point_id"]}


def test_atomic_write_leaves_nothing_behind_on_error(tmp_path):
    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        results.atomic_write_csv(tmp_path / "x.csv", [{"a": Boom()}], ["a"])
    assert list(tmp_path.iterdir()) == []


def test_machine_json_keeps_every_session(tmp_path):
    results.update_machine(tmp_path, {"threads_setting": 1})
    results.update_machine(tmp_path, {"threads_setting": 2})
    doc = json.loads((tmp_path / "machine.json").read_text())
    assert [s["threads_setting"] for s in doc["sessions"]] == [1, 2]
    assert doc["latest"]["threads_setting"] == 2


def test_resolve_run_picks_the_newest(tmp_path):
    make_run(tmp_path / "20240101-000000-aaaaaaa", accuracy=False)
    newest = make_run(tmp_path / "20250101-000000-bbbbbbb", accuracy=False)
    assert results.resolve_run(None, tmp_path) == newest
    assert results.resolve_run("20250101-000000-bbbbbbb", tmp_path) == newest
    with pytest.raises(FileNotFoundError):
        results.resolve_run("nope", tmp_path)


def test_run_ids():
    assert results.new_run_id("4211b91", "2025-01-02T03:04:05") == "20250102-030405-4211b91"
    with pytest.raises(ValueError):
        results.check_run_id("../escape")


# -- the report ----------------------------------------------------------------------------------------


EXPECTED_PLOTS = [
    "per_record_cost_t1.png",
    "speedup_t1.png",
    "overhead_marginal_t1.png",
    "step_time_fit_t1.png",
    "pct_of_peak_t1.png",
    "first_call_t1.png",
    "accuracy_vs_time_t1.png",
]


@pytest.fixture(scope="module")
def built_report(tmp_path_factory):
    pytest.importorskip("pandas", reason="the report needs pandas (pip install 'rnnbench[report]')")
    pytest.importorskip("matplotlib", reason="the report needs matplotlib (pip install 'rnnbench[report]')")
    from rnnbench import report

    run = make_run(tmp_path_factory.mktemp("report") / "run")
    path = report.build_report(run)
    return run, path.read_text(encoding="utf-8")


def test_report_builds_every_plot(built_report):
    run, text = built_report
    for name in EXPECTED_PLOTS:
        png = run / "plots" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"(plots/{name})" in text
    assert not list((run / "plots").glob(".*"))  # no temporary files left


def test_report_figures_come_from_the_data(built_report):
    _, text = built_report
    # numpy-bptt at H=16: 40 µs + B x 2 µs  -> at B=1, 42 µs per record, overhead share 40/42 = 95%
    assert "At B=1 (H=16, T=4, threads=1) the cheapest step is numpy-bptt's, 42 µs per record" in text
    assert "numpy-bptt 95% (40 µs + B x 2 µs; B* = 20)" in text
    assert "torch-autograd 100% (300 µs + B x 1 µs; B* = 300)" in text
    # numpy-bptt's epoch points: overhead / 4 per step
    assert "numpy-bptt's fused train_epoch costs" in text
    # accuracy: best 0.75 -> target 0.675, first reached at the evaluation with 0.75 (i = 4)
    assert "Target accuracy 0.675" in text
    assert "reached first by numpy-bptt with B=16 (threads=1), after 0.50 s of training" in text
    assert "All 42 points passed their checks" in text or "All 42 sweep points passed" in text
    assert "Test CPU" in text


def test_report_cli(built_report, tmp_path):
    from rnnbench.cli import main

    run = make_run(tmp_path / "small", hidden=(16,), epoch_impl=None)
    assert main(["report", str(run), "--target-accuracy", "0.5"]) == 0
    assert "Target accuracy 0.500" in (run / "report.md").read_text()
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_report_of_a_partial_run(tmp_path):
    """An interrupted run (no accuracy, no peak, one implementation) still gets a report."""
    pytest.importorskip("pandas", reason="the report needs pandas")
    pytest.importorskip("matplotlib", reason="the report needs matplotlib")
    from rnnbench import report

    run = tmp_path / "partial"
    for B in (1, 2, 4):
        results.save_point(run, step_record("numpy-bptt", 16, 4, B, 40e-6, 2e-6))
    text = report.build_report(run).read_text()
    assert "per_record_cost_t1.png" in text
    assert "no accuracy runs" in text
    assert (run / "plots" / "overhead_marginal_t1.png").is_file()


def test_report_of_an_old_run_without_the_new_fields(built_report):
    """built_report's records predate memory and compile_seconds; one thread count."""
    _, text = built_report
    assert "measured before rnnbench recorded them" in text  # no memory figures
    assert "This run measured threads=1 only; to see 1 and 2 threads side by side, run " in text
    assert "`rnnbench bench --threads 1,2`" in text
    assert "predate compile_seconds" in text
    assert "| compile_seconds |" in text
    assert "after 0.50 s of training (wall clock, compilation included); with compilation left out" in text
    # the issue's figures are shown, and a row per implementation present, even where not measured
    assert "issue #5, measured outside rnnbench; noisy guide, not thresholds" in text
    assert "This run measured none of these configurations" in text
    for impl in IMPLS:
        assert f"| 64 | 1 | {impl} |" in text
    assert "| 64 | 1 | numpy-bptt (fused epoch) |" in text


# a run that has it all: memory, threads 1 and 2, the issue's configurations, compile seconds
RICH_IMPLS = {  # per H: (overhead, marginal) per step at threads=1; threads=2 halves the marginal
    "numpy-bptt": {64: (130e-6, 10e-6), 256: (1e-3, 60e-6)},
    "torch-autograd": {64: (700e-6, 10e-6), 256: (2e-3, 40e-6)},
    "jax-scan": {64: (60e-6, 5e-6), 256: (0.5e-3, 30e-6)},
}
RICH_BATCHES = (1, 16, 256)
PEAK = {1: 60.0, 2: 110.0}


FLOOR_PER_RECORD = 5e-6  # the made-up plain-C floor: 5 µs per record at every shape


def floor_record(H, T, B, threads, per_record):
    """A plain-C floor point as harness.measure_floor writes it."""
    point = harness.FloorPoint(H, T, B, threads)
    summary = {
        "run_id": "run",
        "point_id": point.point_id,
        "threads": threads,
        "hidden": H,
        "seq_len": T,
        "batch": B,
        "n_samples": 5,
        "iterations": 100,
        "median_s": per_record * B,
        "q1_s": per_record * B,
        "q3_s": per_record * B,
        "min_s": per_record * B,
        "per_record_median_s": per_record,
        "per_record_iqr_s": 0.0,
        "loss_first": 2.3,
        "loss_last": 1.0,
        "compiler": "cc (made up)",
        "flags": "-O3",
        "status": "ok",
    }
    return {"point_id": point.point_id, "kind": "floor", "run_id": "run", "status": "ok", "summary": summary}


@pytest.fixture(scope="module")
def rich_report(tmp_path_factory):
    pytest.importorskip("pandas", reason="the report needs pandas")
    pytest.importorskip("matplotlib", reason="the report needs matplotlib")
    from rnnbench import report

    run = tmp_path_factory.mktemp("rich") / "run"
    for threads in (1, 2):
        for impl, per_h in RICH_IMPLS.items():
            for H, (a, b) in per_h.items():
                for B in RICH_BATCHES:
                    m = b / threads
                    results.save_point(run, step_record(impl, H, 8, B, a, m, threads=threads, memory=True))
                    if impl == "jax-scan":
                        rec = step_record(impl, H, 8, B, a / 4, m, kind="epoch", threads=threads, memory=True)
                        results.save_point(run, rec)
        results.save_point(run, peak_record(PEAK[threads], threads))
        for H in (64, 256):
            for B in RICH_BATCHES:
                results.save_point(run, floor_record(H, 8, B, threads, FLOOR_PER_RECORD))
    for impl, c in (("numpy-bptt", 0.0), ("jax-scan", 0.2)):
        for B in (1, 16):
            results.save_point(run, accuracy_record(impl, B, 4.0 if B > 1 else 2.0, compile_seconds=c))
    results.update_machine(run, {"threads_setting": 1, "device": "cpu"})
    results.update_machine(run, {"threads_setting": 2, "device": "cpu"})
    text = report.build_report(run).read_text(encoding="utf-8")
    return run, text


def test_summary_csv_has_the_memory_columns(rich_report):
    run, _ = rich_report
    results.combine(run)
    header = (run / "summary.csv").read_text().splitlines()[0].split(",")
    for col in ("model_cache_bytes", "step_peak_bytes", "step_memory_method", "peak_rss_bytes", "rss_growth_bytes"):
        assert col in header
    assert "compile_seconds" in (run / "accuracy.csv").read_text().splitlines()[0].split(",")


def test_report_memory_table_and_plot(rich_report):
    run, text = rich_report
    for threads in (1, 2):
        png = run / "plots" / f"memory_t{threads}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(plots/memory_t{threads}.png)" in text
    assert "- numpy-bptt: made-up allocator" in text
    for impl in RICH_IMPLS:
        assert f"### Memory: {impl}" in text
    # H=256, T=8, B=256: cache 4 x 17 x 256 x 256 bytes = 4.46 MB; step peak 50 kB + 2 x the cache
    cache = costmodel.bptt_cache_bytes(256, 8, 256)
    assert cache == 4 * 17 * 256 * 256
    peak = STEP_BASE + 2 * cache
    row = f"| 1 | 256 | 8 | 256 | {cache / 1e6:.3g} | {peak / 1e6:.3g} | {peak / cache:.2f} | {(RSS_BEFORE + 3 * cache) / 1e6:.3g} |"
    assert row in text
    assert "| peak rise / cache rise | peak / cache at the largest B |" in text
    assert "| 2.00 |" in text  # the made-up peak rises 2 x as fast as the cache
    assert (
        "From B=1 to B=256 (H=256, T=8, threads=2) a training step's peak memory rises 2.00x (numpy-bptt) to "
        "2.00x (jax-scan) as much as the BPTT "
        "cache: memory grows as B x T x H and nothing grows beyond it."
    ) in text


def test_report_threads_side_by_side(rich_report):
    run, text = rich_report
    assert "| impl | H | T | B | threads=1 | threads=2 | t2/t1 |" in text
    assert "measured threads=1 only" not in text
    # numpy-bptt H=64, B=256: (130 + 256 x 10) µs at 1 thread, (130 + 256 x 5) µs at 2
    ratio = (130e-6 + 256 * 5e-6) / (130e-6 + 256 * 10e-6)
    assert f"| numpy-bptt | 64 | 8 | 256 | 10.5 µs | 5.51 µs | {ratio:.2f} |" in text
    assert "| jax-scan (fused epoch) | 64 | 8 | 1 |" in text
    for threads in (1, 2):  # the per-thread-count plots stay
        assert (run / "plots" / f"per_record_cost_t{threads}.png").is_file()


def test_report_reference_table(rich_report):
    from rnnbench import report

    _, text = rich_report
    assert "issue #5, measured outside rnnbench; noisy guide, not thresholds" in text
    assert "This run measured none of these configurations" not in text
    for impl in ("numpy-bptt", "torch-autograd", "jax-scan", "jax-scan (fused epoch)"):
        for H, B in report.ISSUE5_REFERENCE["figures"]:
            assert f"| {H} | {B} | {impl} |" in text
    # numpy-bptt at H=64, B=1: 140 µs per record, the top of the issue's 85-140 µs: ratio 1.00
    assert "| 64 | 1 | numpy-bptt | 140 µs | 70 µs | NumPy fused BPTT 85-140 µs | 1.00 | 0.50 |" not in text
    # ... and 28x (t1) and 27x (t2) the made-up 5 µs C floor
    assert "| 64 | 1 | numpy-bptt | 140 µs | 135 µs | NumPy fused BPTT 85-140 µs | 1.00 | 0.96 | 28.0 | 27.0 |" in text
    assert "| 64 | 1 | plain C floor ~8 µs | 5 µs | 5 µs | best seen in Python" in text
    assert "JAX jit step 45-85 µs" in text
    assert "(no comparable figure)" in text  # jax-scan's step at H=256, B=256: the issue has none


def test_report_sets_each_call_beside_the_c_floor(rich_report):
    run, text = rich_report
    # jax-scan's fused epoch at H=64, B=1: (60 µs / 4 + 1 x 5 µs) per record = 20 µs, 4x the 5 µs floor
    line = next(x for x in text.splitlines() if "plain-C floor measured in this run (H=64, T=8, threads=1" in x)
    assert "at B=1 jax-scan (fused epoch) 4.0x" in line
    assert "numpy-bptt 28.0x" in line  # 140 µs at B=1
    results.combine(run)
    floor_csv = (run / "floor.csv").read_text().splitlines()
    assert floor_csv[0].split(",") == list(results.FLOOR_COLUMNS)
    assert len(floor_csv) == 1 + 2 * 2 * len(RICH_BATCHES)


def test_report_peak_share_verdict(rich_report):
    _, text = rich_report
    assert "### % of the matmul peak at H=256, T=8, B=256" in text
    flops = costmodel.step_flops(256, harness.SYNTH_VOCAB, harness.SYNTH_CLASSES, 8, 256)["flops_per_step"]
    for threads in (1, 2):
        pct = {}
        for impl, per_h in RICH_IMPLS.items():
            a, b = per_h[256]
            pct[impl] = 100 * flops / (a + 256 * b / threads) / 1e9 / PEAK[threads]
        epoch = 100 * flops / (0.5e-3 / 4 + 256 * 30e-6 / threads) / 1e9 / PEAK[threads]
        fastest = max(epoch, *pct.values())
        line = next(x for x in text.splitlines() if x.startswith(f"- threads={threads} (peak"))
        assert f"reaches {fastest:.1f}% of the peak" in line
        assert f"Fastest at 50% or more: {'yes' if fastest >= 50 else 'no'}." in line
        low = min(epoch, *pct.values()) < 25
        assert ("Every implementation at 25% or more: no (below 25%:" in line) == low


def test_report_accuracy_with_compile_seconds(rich_report):
    run, text = rich_report
    assert (run / "plots" / "accuracy_vs_time_t1.png").is_file()
    assert "predate compile_seconds" not in text
    # jax-scan B=16: evaluations every 0.25 s, the target 0.675 at the 5th (1.00 s), 0.2 s of it compiling
    row = next(x for x in text.splitlines() if x.startswith("| jax-scan | 1 | 16 |"))
    assert "| 0.20 |" in row
    assert "| 1.00 s | 0.80 s |" in row
    row = next(x for x in text.splitlines() if x.startswith("| numpy-bptt | 1 | 16 |"))
    assert "| 0.00 |" in row
    assert "| 1.00 s | 1.00 s |" in row
    assert "with compilation left out, first is jax-scan with B=16 (threads=1), after 0.80 s" in text
