"""`rnnbench compare`: per configuration, B/A of the raw samples' rounds with an interval and a p-value,
Benjamini-Hochberg across configurations, machines told apart, both runs' noise shown.

Made-up runs only, written as point records the way `rnnbench bench` writes them: nothing is timed.
The noise model is a shared machine's: each call's per-record seconds are cost x shift x round drift
x call noise, both lognormal, the drift shared by the calls of one round.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from rnnbench import compare
from rnnbench.cli import main
from rnnbench.runs import records, store

ROUNDS, PER_ROUND = 9, 8
CALL_CV, ROUND_DRIFT = 0.10, 0.03
CPU = "Test CPU 3000"

# (impl, B) -> per-record seconds of the made-up configurations
COSTS = {
    ("numpy-bptt", 1): 40e-6,
    ("numpy-bptt", 8): 12e-6,
    ("numpy-bptt", 64): 5e-6,
    ("torch-autograd", 1): 90e-6,
    ("torch-autograd", 8): 20e-6,
    ("torch-autograd", 64): 6e-6,
}
BASELINE = {1: 10e-6, 8: 5e-6, 64: 4e-6}  # B -> the C baseline's per-record seconds
H, T = 32, 8


def _blank(row_type) -> dict:
    return dict.fromkeys(records.columns(row_type))


def step_record(
    rng, machine, impl, B, cost, *, kind="step", threads=1, status="ok", load=1.0, run_id="r", device="cpu"
):
    """A step point's record: ROUNDS rounds of PER_ROUND calls of made-up per-record seconds around cost."""
    point_id = f"{kind}-{impl}-{device}-t{threads}-H{H}-T{T}-B{B}"
    key = {"run_id": run_id, "machine": machine, "point_id": point_id, "impl": impl, "device": device}
    key |= {"threads": threads, "hidden": H, "seq_len": T, "batch": B}
    drift = rng.lognormal(0.0, ROUND_DRIFT, ROUNDS)  # (ROUNDS,)
    per_record = cost * np.repeat(drift, PER_ROUND) * rng.lognormal(0.0, CALL_CV, ROUNDS * PER_ROUND)
    samples = [
        records.row(
            records.Sample(
                **key,
                kind=kind,
                round=i // PER_ROUND,
                sample=i,
                seconds=float(s) * B,
                records=B,
                per_record_seconds=float(s),
                loss=1.0,
            )
        )
        for i, s in enumerate(per_record)
    ]
    first = samples[0] | {"kind": f"first_call_{kind}", "round": 0, "per_record_seconds": 1.0, "seconds": 1.0 * B}
    flops = 1e4 * B
    summary = _blank(records.Summary) | key | {"kind": kind, "status": status, "records_per_call": B}
    summary |= {"median_s": float(np.median(per_record)) * B, "per_record_median_s": float(np.median(per_record))}
    summary |= {"gflops": flops / (float(np.median(per_record)) * B) / 1e9, "load_before": load, "load_after": load}
    tables = {"samples": [first, *samples], "summary": [summary]} if status != "failed" else {"summary": [summary]}
    return records.PointRecord(point_id, kind, run_id, machine, status, {}, summary, tables, {}, "", 0.0)


def baseline_record(machine, B, cost, threads=1, run_id="r"):
    point_id = f"baseline-t{threads}-H{H}-T{T}-B{B}"
    row = _blank(records.BaselineSummary) | {"run_id": run_id, "machine": machine, "point_id": point_id}
    row |= {"threads": threads, "hidden": H, "seq_len": T, "batch": B, "per_record_median_s": cost, "status": "ok"}
    return records.PointRecord(point_id, "baseline", run_id, machine, "ok", {}, row, {"baseline": [row]}, {}, "", 0.0)


def peak_record(machine, gflops: dict[tuple[str, int], list[float]], threads=1, run_id="r"):
    """gflops: (library, n) -> the GFLOP/s of each timed matmul."""
    point_id = f"peak-t{threads}"
    key = {"run_id": run_id, "machine": machine, "point_id": point_id}
    rows = [
        records.row(records.PeakSample(**key, library=lib, n=n, threads=threads, sample=i, seconds=1.0, gflops=g, max_rel_error=0.0))
        for (lib, n), values in gflops.items()
        for i, g in enumerate(values)
    ]  # fmt: skip
    return records.PointRecord(point_id, "peak", run_id, machine, "ok", {}, {}, {"peak": rows}, {}, "", 0.0)


def noise_record(machine, start_s, end_s, load, run_id="r"):
    point_id = "noise-numpy-bptt-cpu-t1"
    rows = [
        records.row(records.Noise(run_id, machine, point_id, "numpy-bptt", "cpu", 1, when, s, s * 0.01, load))
        for when, s in (("start", start_s), ("end", end_s))
    ]
    return records.PointRecord(point_id, "noise", run_id, machine, "ok", {}, {}, {"noise": rows}, {}, "", 0.0)


def make_run(
    run_dir,
    seed,
    *,
    machine="m1",
    shift=None,
    speed=1.0,
    cpu=CPU,
    cores=2,
    peak=None,
    sentinel=1e-3,
    load=1.0,
    costs=COSTS,
    baselines=True,
    **kw,
):
    """A run of made-up point records in run_dir. shift: {(impl, B): factor} on the code; speed: a
    factor on everything the machine does (implementations, C baseline and peak alike)."""
    rng = np.random.default_rng(seed)
    shift = shift or {}
    for (impl, B), cost in costs.items():
        rec = step_record(rng, machine, impl, B, cost * speed * shift.get((impl, B), 1.0), load=load, **kw)
        store.save_point(run_dir, rec)
    if baselines:
        for B, cost in BASELINE.items():
            store.save_point(run_dir, baseline_record(machine, B, cost * speed))
    peak = peak or {("numpy", 512): [100.0, 101.0, 102.0], ("torch", 1024): [95.0, 97.0, 99.0]}
    store.save_point(run_dir, peak_record(machine, {k: [g / speed for g in v] for k, v in peak.items()}))
    store.save_point(run_dir, noise_record(machine, sentinel * speed, sentinel * speed * 1.02, load))
    env = {"date": "2026-01-01T00:00:00", "cpu": {"model": cpu, "usable_cores": cores}, "gpus": []}
    store.add_session(run_dir, machine, "session-1", env)
    return run_dir


def table_lines(out: str) -> dict[str, str]:
    """The table's lines by 'impl B', e.g. 'numpy-bptt 64'."""
    found = {}
    for line in out.splitlines():
        m = re.match(r"(?:\S+\s+)?(numpy-bptt|torch-autograd)\s+(step|epoch)\s+\d+\s+\d+\s+\d+\s+(\d+)\s", line)
        if m:
            found[f"{m[1]} {m[3]}"] = line
    return found


# -- the statistics, end to end ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_unchanged_code_is_not_flagged(tmp_path, capsys, seed):
    a, b = make_run(tmp_path / "a", 2 * seed), make_run(tmp_path / "b", 2 * seed + 1)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "6 configurations compared" in out
    assert "false-discovery rate 0.05" in out
    assert "0 regressed, 0 improved" in out


def test_a_known_slowdown_is_flagged_alone(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, shift={("torch-autograd", 64): 1.5})
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    lines = table_lines(out)
    assert "REGRESSED" in lines["torch-autograd 64"]
    ratio, low, high = (
        float(x) for x in re.search(r"([\d.]+) \[([\d.]+), ([\d.]+)\]", lines["torch-autograd 64"]).groups()
    )
    assert 1.1 < low < ratio < high
    assert ratio == pytest.approx(1.5, rel=0.1)
    assert sum("REGRESSED" in line for line in out.splitlines()) == 1
    assert "1 regressed" in out


def test_an_improvement_does_not_fail(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, shift={("numpy-bptt", 1): 0.5})
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "improved" in table_lines(out)["numpy-bptt 1"]
    assert "1 improved" in out


@pytest.mark.parametrize(("threshold", "code"), [(1.5, 0), (1.2, 1)])
def test_the_whole_interval_must_lie_beyond_the_threshold(tmp_path, threshold, code):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, shift={("numpy-bptt", 8): 1.35})
    assert main(["compare", str(a), str(b), "--threshold", str(threshold)]) == code


def test_a_change_straddling_the_threshold_is_inconclusive_and_does_not_fail(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, shift={("numpy-bptt", 8): 1.10})
    assert main(["compare", str(a), str(b)]) == 0
    assert "inconclusive" in table_lines(capsys.readouterr().out)["numpy-bptt 8"]


def test_p_values_are_adjusted_across_all_configurations(tmp_path):
    a = compare.load_run(make_run(tmp_path / "a", 1))
    b = compare.load_run(make_run(tmp_path / "b", 2, shift={("numpy-bptt", 8): 1.3, ("torch-autograd", 1): 1.05}))
    c = compare.compare_runs(a, b)
    raw = np.array([r.verdict.change.p_value for r in c.rows])
    assert [r.verdict.p_adjusted for r in c.rows] == pytest.approx(list(false_discovery_control(raw, method="bh")))
    assert len(c.rows) == len(COSTS)


def test_a_stricter_false_discovery_rate_flags_less(tmp_path):
    """9 rounds a side cannot reach p = 1e-6 (Mann-Whitney's smallest is 2 / C(18, 9)): nothing is significant."""
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, shift={("numpy-bptt", 8): 1.5})
    assert main(["compare", str(a), str(b)]) == 1
    assert main(["compare", str(a), str(b), "--fdr", "1e-6"]) == 0


def test_the_verdicts_do_not_depend_on_the_order_of_the_runs(tmp_path):
    """compare B A is the mirror of compare A B, configuration by configuration."""
    shift = {("numpy-bptt", 8): 1.3, ("torch-autograd", 1): 0.8, ("numpy-bptt", 64): 1.12}
    a = compare.load_run(make_run(tmp_path / "a", 1))
    b = compare.load_run(make_run(tmp_path / "b", 2, shift=shift))
    mirror = {"regressed": "improved", "improved": "regressed", "same": "same", "inconclusive": "inconclusive"}
    forward = {r.key: r for r in compare.compare_runs(a, b).rows}
    backward = {r.key: r for r in compare.compare_runs(b, a).rows}
    assert forward.keys() == backward.keys()
    for key, row in forward.items():
        back = backward[key].verdict
        assert back.status == mirror[row.verdict.status], key
        assert back.change.ci_low == pytest.approx(1 / row.verdict.change.ci_high), key


def test_ratios_are_per_configuration(tmp_path):
    a = compare.load_run(make_run(tmp_path / "a", 1, costs={("numpy-bptt", 1): 1e-5, ("numpy-bptt", 8): 1e-5}))
    b = compare.load_run(make_run(tmp_path / "b", 2, costs={("numpy-bptt", 1): 2e-5, ("numpy-bptt", 64): 1e-5}))
    c = compare.compare_runs(a, b)
    assert [(r.fields["batch"], r.verdict.change.ratio) for r in c.rows] == [(1, pytest.approx(2.0, rel=0.1))]
    assert len(c.only_a) == len(c.only_b) == 1


def test_kind_selects_the_points(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    make_run(tmp_path / "a", 3, costs={("numpy-bptt", 8): 1e-5}, kind="epoch")
    b = make_run(tmp_path / "b", 2)
    make_run(tmp_path / "b", 4, costs={("numpy-bptt", 8): 2e-5}, kind="epoch")
    assert main(["compare", str(a), str(b), "--kind", "step"]) == 0
    assert "6 configurations compared" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--kind", "epoch"]) == 1
    assert "1 configurations compared" in capsys.readouterr().out


def test_devices_are_told_apart(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    make_run(tmp_path / "a", 3, costs={("torch-autograd", 8): 1e-6}, device="cuda")
    b = make_run(tmp_path / "b", 2)
    make_run(tmp_path / "b", 4, costs={("torch-autograd", 8): 2e-6}, device="cuda")
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "7 configurations compared" in out
    flagged = [line for line in out.splitlines() if "REGRESSED" in line]
    assert len(flagged) == 1
    assert flagged[0].split()[:3] == ["torch-autograd", "cuda", "step"]


def test_failed_points_are_left_out(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2)
    store.save_point(b, step_record(np.random.default_rng(0), "m1", "numpy-bptt", 8, 1.0, status="failed"))
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "5 configurations compared" in out
    assert "1 configurations only in A" in out


def test_the_csv_files_alone_give_the_same_comparison(tmp_path):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, shift={("numpy-bptt", 8): 1.5})
    from_points = compare.compare_runs(compare.load_run(a), compare.load_run(b))
    store.combine(b)
    for path in store.point_files(b):
        path.unlink()
    from_csv = compare.compare_runs(compare.load_run(a), compare.load_run(b))
    assert [(r.key, r.verdict.status) for r in from_csv.rows] == [(r.key, r.verdict.status) for r in from_points.rows]
    assert [r.verdict.change.ratio for r in from_csv.rows] == pytest.approx(
        [r.verdict.change.ratio for r in from_points.rows]
    )


# -- machines ------------------------------------------------------------------------------------------


def test_same_machine_is_compared_in_seconds(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, peak={("numpy", 512): [99.0, 100.5, 103.0], ("torch", 1024): [96.0, 97.0, 98.0]})
    assert main(["compare", str(a), str(b), "--all"]) == 0
    out = capsys.readouterr().out
    assert "MACHINES DIFFER" not in out
    assert "per record" in out
    assert "x C" not in out


def test_one_matmul_size_hit_by_a_busy_moment_is_not_another_machine(tmp_path, capsys):
    """Only each run's best matmul counts: B's torch n=1024 fell to a third, its numpy n=512 did not."""
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, peak={("numpy", 512): [99.0, 100.0, 101.0], ("torch", 1024): [30.0, 31.0, 35.0]})
    assert main(["compare", str(a), str(b)]) == 0
    assert "MACHINES DIFFER" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("b_machine", "why"),
    [
        ({"machine": "m2", "cpu": "Other CPU 9000"}, "CPU Test CPU 3000 vs Other CPU 9000"),
        ({"machine": "m2", "cores": 16}, "2 vs 16 usable cores"),
        ({"cpu": "Other CPU 9000"}, "CPU Test CPU 3000 vs Other CPU 9000"),  # one label, other hardware
        ({}, "matmul peak 101 vs 50 GFLOP/s at threads 1"),  # the same hardware, half as fast
    ],
)
def test_a_slower_machine_is_told_apart_and_normalised(tmp_path, capsys, b_machine, why):
    """B runs everything (code, C baseline, matmul) twice as slowly: normalised, nothing changed."""
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, speed=2.0, **b_machine)
    assert main(["compare", str(a), str(b), "--all"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("MACHINES DIFFER")
    assert why in first
    assert "x C baseline" in out
    assert "6 configurations compared" in out
    assert "0 regressed" in out
    row = table_lines(out)["numpy-bptt 1"]
    assert "4x C" in row  # 40 µs against a 10 µs baseline
    assert "%" in row  # % of peak beside it


def test_raw_compares_seconds_across_machines(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, speed=2.0, machine="m2", cpu="Other CPU 9000")
    assert main(["compare", str(a), str(b), "--raw"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("MACHINES DIFFER")
    assert "raw seconds" in out.splitlines()[0]
    assert "6 regressed" in out


def test_a_regression_shows_through_the_normalisation(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, speed=2.0, machine="m2", cpu="Other CPU 9000", shift={("numpy-bptt", 64): 1.6})
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSED" in table_lines(out)["numpy-bptt 64"]
    assert "1 regressed" in out


def test_normalising_needs_the_c_baseline(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, machine="m2", cpu="Other CPU 9000", baselines=False)
    assert main(["compare", str(a), str(b)]) == 2
    assert "--raw" in capsys.readouterr().err
    assert main(["compare", str(a), str(b), "--raw"]) == 0


def test_runs_of_several_machines_compare_each_machine_with_itself(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1, machine="m1")
    make_run(tmp_path / "a", 3, machine="m2", cpu="Other CPU 9000", speed=2.0)
    b = make_run(tmp_path / "b", 2, machine="m1")
    make_run(tmp_path / "b", 4, machine="m2", cpu="Other CPU 9000", speed=2.0, shift={("numpy-bptt", 8): 1.5})
    make_run(tmp_path / "b", 5, machine="m3")
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "MACHINES DIFFER" not in out
    assert "12 configurations compared" in out
    flagged = [line for line in out.splitlines() if "REGRESSED" in line]
    assert len(flagged) == 1
    assert flagged[0].startswith("m2 ")
    assert "machines measured by one run only: m3" in out


def test_runs_sharing_no_machine_among_several_are_bad_input(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1, machine="m1")
    make_run(tmp_path / "a", 3, machine="m2")
    b = make_run(tmp_path / "b", 2, machine="m3")
    assert main(["compare", str(a), str(b)]) == 2
    assert "share no machine" in capsys.readouterr().err


# -- noise ---------------------------------------------------------------------------------------------


def test_both_runs_noise_is_shown(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1, sentinel=1e-3, load=0.5)
    b = make_run(tmp_path / "b", 2, sentinel=1.3e-3, load=3.5)
    main(["compare", str(a), str(b)])
    out = capsys.readouterr().out
    noise_a = next(line for line in out.splitlines() if line.startswith("noise A:"))
    noise_b = next(line for line in out.splitlines() if line.startswith("noise B:"))
    assert "sentinel 1.01 ms" in noise_a  # the median of its start (1 ms) and end
    assert "drift end/start 1.02" in noise_a
    assert "0 of 6 points measured with load above 2" in noise_a
    assert "load 3.5-3.5 on 2 cores, 6 of 6 points measured with load above 2" in noise_b
    assert "sentinel B/A 1.300: the machine itself ran slower in B" in out


# -- bad input -----------------------------------------------------------------------------------------


def test_a_missing_run_is_bad_input(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    assert main(["compare", str(a), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnbench: error: no benchmark run")
    assert "Traceback" not in err


def test_a_run_without_samples_is_bad_input(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = tmp_path / "b"
    store.save_point(b, baseline_record("m1", 1, 1e-5))
    assert main(["compare", str(a), str(b)]) == 2
    assert "holds no raw samples" in capsys.readouterr().err


def test_runs_sharing_no_configuration_are_bad_input(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1, costs={("numpy-bptt", 1): 1e-5})
    b = make_run(tmp_path / "b", 2, costs={("numpy-bptt", 8): 1e-5})
    assert main(["compare", str(a), str(b)]) == 2
    assert "share no configuration" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value"), [("--threshold", "1.0"), ("--threshold", "0.9"), ("--fdr", "0"), ("--fdr", "1")]
)
def test_bad_options_are_bad_input(tmp_path, capsys, option, value):
    a, b = make_run(tmp_path / "a", 1), make_run(tmp_path / "b", 2)
    assert main(["compare", str(a), str(b), option, value]) == 2
    assert option in capsys.readouterr().err


def test_an_unreadable_point_file_is_named(tmp_path, capsys):
    a, b = make_run(tmp_path / "a", 1), make_run(tmp_path / "b", 2)
    broken = store.point_path(b, "m1", "step-numpy-bptt-cpu-t1-H32-T8-B8")
    broken.write_text("{", encoding="utf-8")
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert f"{broken} is unreadable" in out
    assert "5 configurations compared" in out
