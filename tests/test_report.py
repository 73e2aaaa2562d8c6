"""The derived figures (rnnbench.runs.analysis) and the report, on made-up runs written as the measurement
writes them: rows of rnnbench.runs.records saved with rnnbench.runs.store.save_point. Every number is made up
so that the expected figures are known; the tests check numbers and structure, not wording.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest

from rnnbench.runs import analysis, costmodel, records, store
from rnnbench.units import fmt_time, fmt_times

STEP_COST = {"numpy-bptt": (40e-6, 2e-6), "torch-autograd": (300e-6, 1e-6)}  # (overhead, marginal) per step
EPOCH_COST = (10e-6, 1.5e-6)  # jax-scan's fused epoch, per step of it
EPOCH_STEPS = 4  # steps per made-up epoch call
API_CHECK_S = 5e-6
API_CONVERT_S = 3e-6
# per machine: matmul peak GFLOP/s, C baseline per-record seconds = a / B + b, cores
MACHINES = {"alpha": (100.0, (4e-6, 1e-6), 2), "beta": (50.0, (8e-6, 2e-6), 8)}
BATCHES = (1, 4, 32, 64)
STEP_BASE = 50_000  # bytes of a step's peak that do not grow with B
LOADED = ("alpha", "step-numpy-bptt-cpu-t1-H16-T4-B4")  # the one point measured under load
SPEED = {("beta", "torch-autograd"): 0.1}  # beta runs torch-autograd 10x faster: a winner per machine
# per implementation's train_step: (operations dispatched, seconds per trivial one, compiled calls, seconds per
# trivial compiled call), so that they explain 25% and 50% of STEP_COST's overheads
DISPATCH = {"numpy-bptt": (10, 1e-6, 0, None), "torch-autograd": (40, 2.5e-6, 1, 50e-6)}


def cost_of(impl: str, kind: str, B: int, machine: str = "alpha") -> tuple[float, int]:
    """(seconds per call, records per call) of a made-up point."""
    if kind == "epoch":
        overhead, marginal = EPOCH_COST
        return EPOCH_STEPS * (overhead + B * marginal), EPOCH_STEPS * B
    overhead, marginal = STEP_COST[impl]
    return (overhead + B * marginal) * SPEED.get((machine, impl), 1.0), B


def baseline_cost(machine: str, B: int) -> float:
    a, b = MACHINES[machine][1]
    return a / B + b


def record(machine: str, point_id: str, kind: str, tables: dict, status: str = "ok", summary=None) -> dict:
    checks = {"problems": ["made-up problem"] if status == "failed" else [], "flags": []}
    checks["flags"] = ["made-up flag"] if status == "flagged" else []
    return records.PointRecord(
        point_id, kind, "run", machine, status, {}, summary or {}, tables, checks, "2026-01-01T00:00:00", 0.1
    ).as_dict()


def step_point(machine, impl, B, kind="step", threads=1, H=16, T=4, status="ok", growth=2) -> dict:
    """A step (or epoch) point whose median is exactly the made-up cost; its step peak grows as
    `growth` x the BPTT cache."""
    call_s, per_call = cost_of(impl, kind, B, machine)
    point_id = f"{kind}-{impl}-cpu-t{threads}-H{H}-T{T}-B{B}"
    flops = costmodel.step_flops(H, 60, 10, T, B)
    cache = costmodel.bptt_cache_bytes(H, T, B)
    load = 3.0 if (machine, point_id) == LOADED else 0.5
    row = records.Summary(
        "run", machine, point_id, impl, "cpu", threads, H, T, B, kind, per_call, 5, 5, 1,
        median_s=call_s, q1_s=0.99 * call_s, q3_s=1.01 * call_s, iqr_s=0.02 * call_s, min_s=0.98 * call_s,
        mean_s=call_s, per_record_median_s=call_s / per_call, per_record_iqr_s=0.02 * call_s / per_call,
        first_call_s=50 * call_s, api_check_s=API_CHECK_S, api_convert_s=API_CONVERT_S, flops_per_step=flops["flops_per_step"],
        flops_per_record=flops["flops_per_record"], gflops=flops["flops_per_record"] * per_call / call_s / 1e9,
        model_cache_bytes=cache, step_peak_bytes=STEP_BASE + growth * cache if kind == "step" else None,
        step_memory_method="made-up allocator" if kind == "step" else None, rss_before_bytes=None,
        peak_rss_bytes=None, rss_growth_bytes=None, loss_before=2.3, loss_after=2.2, sanity_gap=0.001,
        sanity_ok=True, load_before=load, load_after=load, status=status,
        problems=["made-up problem"] if status == "failed" else [],
        **(dispatch_columns(impl) if kind == "step" else {}),
    )  # fmt: skip
    return record(machine, point_id, kind, {"summary": [records.row(row)]}, status)


def dispatch_columns(impl: str) -> dict:
    """The dispatch counts of a made-up implementation; one not in DISPATCH (an outside one) has none."""
    if impl not in DISPATCH:
        return {}
    ops, op_s, calls, call_s = DISPATCH[impl]
    return {"framework_ops": ops, "framework_op_s": op_s, "compiled_calls": calls, "compiled_call_s": call_s,
            "compiled_ops": 7 if calls else None, "dispatch_method": f"made-up count of {impl}"}  # fmt: skip


def baseline_point(machine, B, threads=1, H=16, T=4) -> dict:
    per_record = baseline_cost(machine, B)
    point_id = f"baseline-t{threads}-H{H}-T{T}-B{B}"
    s = per_record * B
    row = records.BaselineSummary(
        "run", machine, point_id, threads, H, T, B, 5, 10, s, 0.99 * s, 1.01 * s, 0.02 * s, 0.98 * s, s,
        per_record, 0.02 * per_record, 2.3, 2.2, "cc", "-O2", "ok",
    )  # fmt: skip
    return record(machine, point_id, "baseline", {"baseline": [records.row(row)]})


def peak_point(machine, threads=1) -> dict:
    gflops = MACHINES[machine][0]
    rows = [
        records.row(records.PeakSample("run", machine, f"peak-t{threads}", lib, 256, threads, 0, 1.0, g, 1e-7))
        for lib, g in (("numpy", 0.8 * gflops), ("torch", gflops))
    ]
    return record(machine, f"peak-t{threads}", "peak", {"peak": rows})


def accuracy_point(machine, impl, B, seconds_per_eval, compile_s=0.0) -> dict:
    """Five evaluations, accuracy 0.2, 0.4, ... 1.0, every seconds_per_eval of steady training; the
    first stretch also spends compile_s compiling."""
    point_id = f"accuracy-{impl}-cpu-t1-B{B}"
    rows = [
        records.row(
            records.AccuracyEval(
                "run", machine, point_id, impl, "cpu", 1, 16, B, "sgd", 0.05, 2, "made-up", i, i, 100 * i,
                train_seconds=i * seconds_per_eval + (compile_s if i else 0.0),
                compile_seconds=compile_s if i else 0.0, val_accuracy=0.2 * (i + 1), val_loss=1.0,
            )
        )
        for i in range(5)
    ]  # fmt: skip
    return record(machine, point_id, "accuracy", {"accuracy": rows})


def noise_point(machine, impl, start_s, end_s, threads=1) -> dict:
    point_id = f"noise-{impl}-cpu-t{threads}"
    rows = [
        records.row(records.Noise("run", machine, point_id, impl, "cpu", threads, when, s, 0.01 * s, 0.5))
        for when, s in (("start", start_s), ("end", end_s))
    ]
    return record(machine, point_id, "noise", {"noise": rows})


def make_run(run_dir: Path, machines=("alpha",), batches=BATCHES, failed: tuple = (), accuracy=True) -> Path:
    """A complete made-up run: per machine, numpy-bptt and torch-autograd steps, jax-scan's fused epoch,
    the C baseline and peak, accuracy runs and noise; `failed`: (machine, impl, B) points that failed."""
    store.write_manifest(run_dir, {"run_id": "run", "created": "2026-01-01T00:00:00", "git": {"short": "abc1234"}})
    for machine in machines:
        cores = MACHINES[machine][2]
        store.add_session(
            run_dir, machine, "s1", {"date": "2026-01-01", "cpu": {"model": "Made-up", "usable_cores": cores}}
        )
        points = [peak_point(machine), noise_point(machine, "numpy-bptt", 1e-3, 1.2e-3)]
        points += [noise_point(machine, "machine", 1e-3, 1e-3)]
        for B in batches:
            points += [baseline_point(machine, B), step_point(machine, "jax-scan", B, kind="epoch")]
            for impl in STEP_COST:
                status = "failed" if (machine, impl, B) in failed else "ok"
                points.append(step_point(machine, impl, B, status=status, growth=6 if impl == "torch-autograd" else 2))
        if accuracy:
            points += [accuracy_point(machine, "numpy-bptt", 1, 1.0), accuracy_point(machine, "jax-scan", 1, 0.1, 5.0)]
        for p in points:
            store.save_point(run_dir, p)
    store.combine(run_dir)
    return run_dir


# -- reading the report back --------------------------------------------------------------------------


def headings(text: str) -> list[str]:
    return re.findall(r"^## (.+)$", text, flags=re.MULTILINE)


def table_after(text: str, heading: str) -> list[dict]:
    """The first markdown table of a section, as rows of {column: cell}."""
    body = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in body.splitlines() if line.startswith("|")]
    if not lines:
        return []
    cols = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(cols, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]]


def section_text(text: str, heading: str) -> str:
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return make_run(tmp_path / "run")


@pytest.fixture
def report_deps():
    pytest.importorskip("matplotlib", reason="the report's plots need matplotlib (pip install 'rnnbench[report]')")


# -- analysis ------------------------------------------------------------------------------------------


def test_fits_recover_the_made_up_cost_and_need_three_batch_sizes(run_dir, tmp_path):
    fits = {(f["machine"], f["impl"], f["kind"]): f for f in analysis.fits(store.tables(run_dir)["summary"])}
    overhead, marginal = STEP_COST["numpy-bptt"]
    f = fits[("alpha", "numpy-bptt", "step")]
    assert f["overhead_s"] == pytest.approx(overhead)
    assert f["marginal_s"] == pytest.approx(marginal)
    assert f["crossover_batch"] == pytest.approx(overhead / marginal)
    assert f["n_points"] == len(BATCHES)
    assert fits[("alpha", "jax-scan", "epoch")]["overhead_s"] == pytest.approx(EPOCH_COST[0])  # per step of an epoch
    two = make_run(tmp_path / "two", batches=(1, 8))
    assert analysis.fits(store.tables(two)["summary"]) == []


def test_enrich_normalises_by_each_machines_own_peak_and_baseline(tmp_path):
    run = make_run(tmp_path / "run", machines=("alpha", "beta"))
    t = store.tables(run)
    rows = {(r["machine"], r["impl"], r["batch"]): r for r in analysis.enrich(t["summary"], t["peak"], t["baseline"])}
    for machine, (gflops, _, _) in MACHINES.items():
        r = rows[(machine, "numpy-bptt", 4)]
        assert r["peak_gflops"] == gflops
        assert r["pct_of_peak"] == pytest.approx(100 * r["gflops"] / gflops)
        assert r["x_baseline"] == pytest.approx(r["per_record_median_s"] / baseline_cost(machine, 4))


def test_configs_give_best_batch_speedup_api_share_and_first_call(run_dir):
    t = store.tables(run_dir)
    configs = analysis.configs(analysis.enrich(t["summary"], t["peak"], t["baseline"]))
    c = next(c for c in configs if (c["machine"], c["impl"], c["kind"]) == ("alpha", "numpy-bptt", "step"))
    assert list(c["points"]) == sorted(BATCHES)
    assert c["best"]["batch"] == max(BATCHES)  # the made-up cost per record falls with B
    at_1, best = cost_of("numpy-bptt", "step", 1)[0], cost_of("numpy-bptt", "step", max(BATCHES))[0] / max(BATCHES)
    assert c["speedup"] == pytest.approx(at_1 / best)
    assert c["api_share"] == pytest.approx((API_CHECK_S + API_CONVERT_S) / at_1)
    assert c["first_call_ratio"] == pytest.approx(50.0)


def test_headline_shape_is_the_one_most_calls_measured(tmp_path):
    run = make_run(tmp_path / "run")
    store.save_point(run, step_point("alpha", "numpy-bptt", 1, H=64, T=8))
    assert analysis.headline_shape(store.tables(run)["summary"]) == (16, 4)


def test_winners_per_machine(tmp_path):
    run = make_run(tmp_path / "run", machines=("alpha", "beta"))
    t = store.tables(run)
    wins = analysis.winners(analysis.configs(analysis.enrich(t["summary"], t["peak"], t["baseline"])))
    assert [w["machine"] for w in wins] == ["alpha", "beta"]
    assert [w["b1_call"] for w in wins] == [("jax-scan", "epoch", "cpu")] * 2  # 11.5 µs against 42 and 301 (30.1)
    assert [w["best_call"] for w in wins] == [("jax-scan", "epoch", "cpu"), ("torch-autograd", "step", "cpu")]
    assert wins[1]["best_B"] == max(BATCHES)
    assert wins[1]["best_s"] == pytest.approx(cost_of("torch-autograd", "step", max(BATCHES), "beta")[0] / max(BATCHES))


def test_time_to_target_on_both_clocks(run_dir):
    evals = store.tables(run_dir)["accuracy"]
    target, best = analysis.accuracy_target(evals)
    assert best == pytest.approx(1.0)
    assert target == pytest.approx(analysis.TARGET_FRACTION)
    runs = {a["impl"]: a for a in analysis.accuracy_runs([e for e in evals if e["machine"] == "alpha"], 0.6)}
    assert runs["numpy-bptt"]["time_to_target"] == pytest.approx(2.0)  # accuracy 0.6 at the third evaluation
    assert runs["numpy-bptt"]["time_to_target_steady"] == pytest.approx(2.0)
    assert runs["jax-scan"]["time_to_target"] == pytest.approx(5.2)
    assert runs["jax-scan"]["time_to_target_steady"] == pytest.approx(0.2)
    assert runs["jax-scan"]["compile_seconds"] == pytest.approx(5.0)


@pytest.mark.parametrize("target", [-0.5, 1.5, math.nan])
def test_impossible_targets_are_refused(run_dir, target):
    with pytest.raises(ValueError, match="between 0 and 1"):
        analysis.accuracy_target(store.tables(run_dir)["accuracy"], target)


def test_noise_drift_and_points_under_load(run_dir):
    t = store.tables(run_dir)
    drift = {w["impl"]: w for w in analysis.worker_noise(t["noise"])}
    assert drift["numpy-bptt"]["drift"] == pytest.approx(1.2)
    assert drift["numpy-bptt"]["drifted"]
    assert drift["machine"]["drift"] == pytest.approx(1.0)
    assert not drift["machine"]["drifted"]
    cores = analysis.machine_cores(store.load_environment(run_dir))
    assert cores == {"alpha": 2}
    assert [(r["machine"], r["point_id"]) for r in analysis.loaded(t["summary"], cores)] == [LOADED]


def test_overhead_parts_set_dispatches_beside_the_fitted_overhead(run_dir):
    t = store.tables(run_dir)
    configs = analysis.configs(analysis.enrich(t["summary"], t["peak"], t["baseline"]))
    found = analysis.overhead_parts(configs, analysis.fits(t["summary"]))
    parts = {p["impl"]: p for p in found if p["machine"] == "alpha"}
    assert set(parts) == {"numpy-bptt", "torch-autograd"}  # the fused epoch has no count
    assert parts["numpy-bptt"]["explained_s"] == pytest.approx(10e-6)
    assert parts["numpy-bptt"]["share"] == pytest.approx(0.25)
    assert parts["torch-autograd"]["share"] == pytest.approx(0.5)
    assert parts["torch-autograd"]["unexplained_s"] == pytest.approx(150e-6)


def test_memory_growth_ratio(run_dir):
    growth = {g["impl"]: g for g in analysis.memory_growth(store.tables(run_dir)["summary"])}
    assert growth["numpy-bptt"]["rise_ratio"] == pytest.approx(2.0)
    assert growth["torch-autograd"]["rise_ratio"] == pytest.approx(6.0)
    assert growth["torch-autograd"]["rise_ratio"] > analysis.MEMORY_GROWTH_LIMIT
    assert "jax-scan" not in growth  # epoch points measure no step peak


def test_csv_tables_read_back_with_their_types(run_dir):
    from_points = analysis.load(run_dir)
    shutil.rmtree(run_dir / store.POINTS)  # a committed run keeps only its CSVs
    from_csv = analysis.load(run_dir)
    for name in ("summary", "baseline", "peak", "accuracy", "noise"):
        assert from_csv[name] == from_points[name], name


# -- the report ----------------------------------------------------------------------------------------

SECTIONS = [
    "Headline",
    "Findings",
    "Per-record cost against batch size",
    "Fixed overhead and marginal cost",
    "What the overhead is made of",
    "Share of the matmul peak",
    "First call",
    "Memory",
    "Accuracy per second",
    "Noise",
    "Checks",
]


@pytest.mark.usefixtures("report_deps")
def test_report_structure_headline_and_plots(run_dir):
    from rnnbench.report import build_report

    text = build_report(run_dir).read_text(encoding="utf-8")
    assert headings(text) == SECTIONS
    head = {r["call"]: r for r in table_after(text, "Headline")}
    assert list(head) == ["numpy-bptt", "torch-autograd", "jax-scan (fused epoch)", "C baseline (1 thread)"]
    call_s = cost_of("numpy-bptt", "step", 1)[0]
    assert head["numpy-bptt"]["B=1"] == f"{fmt_time(call_s)} ({fmt_times(call_s / baseline_cost('alpha', 1))})"
    per_record_32 = cost_of("torch-autograd", "step", 32)[0] / 32
    assert head["torch-autograd"]["B=32"].startswith(fmt_time(per_record_32))
    assert head["torch-autograd"]["best B"].endswith(f"B={max(BATCHES)}")
    api = next(cell for column, cell in head["numpy-bptt"].items() if column.startswith("API"))
    assert api.startswith(f"{fmt_time(API_CHECK_S)} + {fmt_time(API_CONVERT_S)}")
    assert fmt_time(call_s) in api
    findings = re.findall(r"^\d+\. (.+)$", section_text(text, "Findings"), flags=re.MULTILINE)
    assert 1 <= len(findings) <= 10
    assert all(re.search(r"\d", s) for s in findings)
    assert {p.name for p in (run_dir / "plots").glob("*.png")} == {
        "per_record_cost.png", "overhead_marginal.png", "pct_of_peak.png", "memory.png", "accuracy.png"
    }  # fmt: skip
    assert "issue" not in text.lower()
    assert "docs/DESIGN.md" in text
    assert "results/README.md" in text


@pytest.mark.usefixtures("report_deps")
def test_report_tables_hold_the_derived_figures(run_dir):
    from rnnbench.report import build_report

    text = build_report(run_dir, target=0.6).read_text(encoding="utf-8")
    fit = {r["call"]: r for r in table_after(text, "Fixed overhead and marginal cost")}
    assert fit["numpy-bptt"]["overhead per step"] == fmt_time(STEP_COST["numpy-bptt"][0])
    memory = {r["call"]: r for r in table_after(text, "Memory")}
    assert memory["torch-autograd"]["rise ratio"] == "6.00"
    assert memory["numpy-bptt"]["rise ratio"] == "2.00"
    accuracy = {r["call"]: r for r in table_after(text, "Accuracy per second")}
    assert accuracy["jax-scan"]["to target"] == "5.2 s"
    assert accuracy["jax-scan"]["to target, compilation excluded"] == "0.2 s"
    parts = {r["call"]: r for r in table_after(text, "What the overhead is made of")}
    assert parts["torch-autograd"]["ops x cost per op"] == f"40 x {fmt_time(2.5e-6)}"
    assert parts["torch-autograd"]["compiled calls x cost per call"] == f"1 x {fmt_time(50e-6)}"
    assert parts["torch-autograd"]["share of overhead"] == "50%"
    assert parts["numpy-bptt"]["share of overhead"] == "25%"
    assert "made-up count of numpy-bptt" in section_text(text, "What the overhead is made of")
    assert re.search(r"numpy-bptt 25% of .*torch-autograd 50% of", section_text(text, "Findings"))
    noise = {r["worker"]: r for r in table_after(text, "Noise")}
    assert noise["numpy-bptt"]["drift"].startswith("1.200")
    assert noise["machine"]["drift"] == "1.000"
    assert LOADED[1] in section_text(text, "Noise")


@pytest.mark.usefixtures("report_deps")
def test_two_machines_side_by_side(tmp_path):
    from rnnbench.report import build_report

    run = make_run(tmp_path / "run", machines=("alpha", "beta"))
    text = build_report(run).read_text(encoding="utf-8")
    assert headings(text) == [*SECTIONS[:-1], "Machines side by side", "Checks"]
    rows = table_after(text, "Machines side by side")
    assert {(r["call"], r["machine"]) for r in rows} == {
        (call, m) for call in ("numpy-bptt", "torch-autograd", "jax-scan (fused epoch)") for m in MACHINES
    }
    for r in (r for r in rows if r["call"] == "numpy-bptt"):  # the same cost, each machine's own baseline
        call_s = cost_of("numpy-bptt", "step", 1)[0]
        assert r["B=1"] == f"{fmt_time(call_s)} ({fmt_times(call_s / baseline_cost(r['machine'], 1))})"
    assert (run / "plots" / "machines.png").is_file()
    assert {r["machine"] for r in table_after(text, "Headline")} == set(MACHINES)


@pytest.mark.usefixtures("report_deps")
def test_two_batch_sizes_draw_no_fit(tmp_path):
    from rnnbench.report import build_report

    run = make_run(tmp_path / "run", batches=(1, 8))
    text = build_report(run).read_text(encoding="utf-8")
    assert table_after(text, "Fixed overhead and marginal cost") == []
    assert not (run / "plots" / "overhead_marginal.png").exists()
    assert "B=32" not in table_after(text, "Headline")[0]  # no column of dashes for a B never measured


@pytest.mark.parametrize(("batches", "accuracy"), [((1,), True), ((), True), (BATCHES, False)])
@pytest.mark.usefixtures("report_deps")
def test_partial_runs_get_the_sections_their_data_allow(tmp_path, batches, accuracy):
    """One batch size, an accuracy-only run (--skip-sweep), a sweep without accuracy (--skip-accuracy)."""
    from rnnbench.report import build_report

    run = make_run(tmp_path / "run", batches=batches, accuracy=accuracy)
    text = build_report(run).read_text(encoding="utf-8")
    assert ("Headline" in headings(text)) == bool(batches)
    assert ("Accuracy per second" in headings(text)) == accuracy
    assert (run / "plots" / "accuracy.png").exists() == accuracy
    assert (run / "plots" / "per_record_cost.png").exists() == bool(batches)
    assert not (run / "plots" / "overhead_marginal.png").exists() or len(batches) >= analysis.FIT_MIN_BATCHES


@pytest.mark.usefixtures("report_deps")
def test_failed_points_are_listed_and_left_out(tmp_path):
    from rnnbench.report import build_report

    run = make_run(tmp_path / "run", failed=(("alpha", "numpy-bptt", 1),))
    text = build_report(run).read_text(encoding="utf-8")
    checks = table_after(text, "Checks")
    assert [(r["point"], r["status"]) for r in checks] == [("step-numpy-bptt-cpu-t1-H16-T4-B1", "failed")]
    head = {r["call"]: r for r in table_after(text, "Headline")}
    assert head["numpy-bptt"]["B=1"] == "-"


@pytest.mark.usefixtures("report_deps")
def test_a_run_with_only_its_csv_tables_gets_the_same_headline(run_dir):
    from rnnbench.report import build_report

    before = table_after(build_report(run_dir).read_text(encoding="utf-8"), "Headline")
    shutil.rmtree(run_dir / store.POINTS)
    assert table_after(build_report(run_dir).read_text(encoding="utf-8"), "Headline") == before


@pytest.mark.parametrize("target", ["-0.5", "1.5", "nan"])
def test_cli_refuses_an_impossible_target(run_dir, target, capsys):
    from rnnbench import cli

    assert cli.main(["report", str(run_dir), "--target-accuracy", target]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert target in err
    assert not (run_dir / "report.md").exists()


@pytest.mark.usefixtures("report_deps")
def test_cli_writes_the_report(run_dir, capsys):
    from rnnbench import cli

    assert cli.main(["report", str(run_dir), "--target-accuracy", "0.5"]) == 0
    assert str(run_dir / "report.md") in capsys.readouterr().out


def test_cli_names_a_missing_run(tmp_path, capsys):
    from rnnbench import cli

    assert cli.main(["report", "nothing-here", "--results-dir", str(tmp_path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.usefixtures("report_deps")
def test_outside_implementations_close_the_report(tmp_path, monkeypatch):
    """An outside implementation the gate let through: its B=1 cost beside the C baseline's of the same run;
    one it kept out: not measured, with its first failing case (docs/DESIGN.md §9)."""
    from rnnbench.report import build_report

    run = make_run(tmp_path / "run")
    monkeypatch.setitem(STEP_COST, "numba-loops", (3e-6, 1e-6))
    store.save_point(run, step_point("alpha", "numba-loops", 1))
    store.combine(run)
    origin = {"distribution": "rnnbench-numba", "version": "0.1.0"}
    gate = {  # the one not measured first: its row lacks the columns of a measured call
        "numba-bug": origin | {"checked": True, "passed": False, "first_failure": "case[x]: grad W_hh: too far"},
        "numba-loops": origin | {"checked": True, "passed": True, "cases": 120, "first_failure": None},
    }
    store.write_manifest(run, store.read_manifest(run) | {"gate": gate})
    text = build_report(run).read_text(encoding="utf-8")
    assert headings(text)[-1] == "Outside implementations"
    rows = {r["implementation"]: r for r in table_after(text, "Outside implementations")}
    mine, theirs = 4e-6, baseline_cost("alpha", 1)
    assert rows["numba-loops"]["B=1"] == f"{fmt_time(mine)} ({fmt_times(mine / theirs)})"
    assert rows["numba-loops"]["C baseline, B=1"] == fmt_time(theirs)
    assert rows["numba-loops"]["check"] == "passed rnnbench check (120 cases)"
    assert rows["numba-bug"]["check"] == "not measured: failed rnnbench check at case[x]: grad W_hh: too far"
    assert rows["numba-bug"]["B=1"] == "-"
    assert rows["numba-loops"]["threads"] == "1"
    assert "Outside implementations" not in build_report(make_run(tmp_path / "plain")).read_text(encoding="utf-8")


def _fit(impl: str, overhead_s: float, marginal_s: float) -> dict:
    return {"machine": "alpha", "impl": impl, "device": "cpu", "threads": 1, "hidden": 16, "seq_len": 4}, {
        "kind": "step",
        "overhead_s": overhead_s,
        "marginal_s": marginal_s,
        "crossover_batch": float("nan"),
        "max_rel_residual": 0.044,
        "batch_min": 1,
        "batch_max": 256,
    }


@pytest.mark.usefixtures("report_deps")
def test_a_fit_with_a_negative_marginal_cost_is_said_to_have_failed_and_why():
    from types import SimpleNamespace

    from rnnbench.report import sections

    fits = [a | b for a, b in (_fit("numpy-bptt", 40e-6, 2e-6), _fit("torch-nnrnn", 300e-6, -5.04e-6))]
    run = SimpleNamespace(configs=fits, fits=fits, at_shape=lambda rows: rows, machines=["alpha"], shape=(16, 4))
    text = sections.overhead(run, {})
    rows = {r["call"]: r for r in table_after(text, "Fixed overhead and marginal cost")}
    assert rows["numpy-bptt"]["fit"] == "ok"
    assert rows["torch-nnrnn"]["fit"] == (
        "failed: the marginal cost per record came out negative: the time per step does not grow with B over B=1-256"
    )
    assert "The failed fits (torch-nnrnn (threads 1)) are left out of the plot." in text


def test_machines_are_set_side_by_side_only_on_what_both_measured(tmp_path):
    """Merged shards: numpy-bptt's B=1 and torch-autograd's B=64 (beta's cheapest) ran on beta alone.
    Neither may make beta's cheapest call: each machine is judged on what the other measured too."""
    run = tmp_path / "run"
    store.write_manifest(run, {"run_id": "run", "created": "2026-01-01T00:00:00", "git": {"short": "abc1234"}})
    beta_alone = {("numpy-bptt", 1), ("torch-autograd", 64)}
    for machine in ("alpha", "beta"):
        for B in (1, 4, 64):
            for impl in ("numpy-bptt", "torch-autograd"):
                if machine == "beta" or (impl, B) not in beta_alone:
                    store.save_point(run, step_point(machine, impl, B))
    t = store.tables(run)
    wins = {w["machine"]: w for w in analysis.winners(analysis.configs(t["summary"]))}
    for w in wins.values():
        assert w["shared"]
        assert w["b1_call"] == ("torch-autograd", "step", "cpu"), "numpy-bptt's B=1 ran on beta alone"
        assert (w["best_call"], w["best_B"]) == (("numpy-bptt", "step", "cpu"), 64)


def test_machines_that_share_no_configuration_are_said_to(tmp_path):
    run = tmp_path / "run"
    store.write_manifest(run, {"run_id": "run", "created": "2026-01-01T00:00:00", "git": {"short": "abc1234"}})
    for B in (1, 4, 64):
        store.save_point(run, step_point("alpha", "numpy-bptt", B))
        store.save_point(run, step_point("beta", "torch-autograd", B))
    t = store.tables(run)
    wins = analysis.winners(analysis.configs(t["summary"]))
    assert [(w["shared"], w["best_call"], w["b1_call"]) for w in wins] == [(False, None, None)] * 2


@pytest.mark.usefixtures("report_deps")
def test_the_accuracy_tables_records_per_second_leave_compilation_apart(run_dir):
    """jax-scan's run spends 5 s compiling and 0.4 s training 400 records: 1,000 records/s steady."""
    from rnnbench.report import build_report

    text = build_report(run_dir).read_text()
    rows = {r["call"]: r for r in table_after(text, "Accuracy per second")}
    assert rows["jax-scan"]["records/s, steady"] == "1,000"
    assert rows["jax-scan"]["compile (apart)"] == "5 s"
    assert rows["numpy-bptt"]["records/s, steady"] == "100"


def _config(impl: str, costs: dict[int, float], kind: str = "epoch") -> dict:
    points = {b: {"per_record_median_s": s} for b, s in costs.items()}
    return {"impl": impl, "kind": kind, "device": "cpu", "threads": 1, "points": points}


def test_the_jax_rise_note_gives_the_largest_rise_over_b1_and_appears_only_where_jax_scan_rises():
    from rnnbench.report import sections

    risen = _config("jax-scan", {1: 8e-6, 2: 12e-6, 4: 10e-6, 32: 3e-6})
    falling = _config("jax-scan", {1: 8e-6, 2: 7e-6, 4: 5e-6}, kind="step")
    other = _config("numpy-bptt", {1: 1e-6, 2: 5e-6})  # a rise, but not jax-scan's
    note = sections.jax_rise_note([risen, falling, other])
    assert "(jax-scan (fused epoch), threads 1: 1.5x at B=2)" in note
    assert "YNNPACK" in note
    assert "numpy-bptt" not in note
    assert sections.jax_rise_note([falling, other]) == ""
    assert sections.jax_rise_note([_config("jax-scan", {2: 9e-6, 4: 12e-6})]) == ""  # no B=1 to rise from
