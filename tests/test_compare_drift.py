"""compare against the machine's speed (docs/DESIGN.md §6): recorded samples with a drift injected.

Each made-up round carries the yardstick read around it, as `rnnbench bench` records it: a machine that
ran slower during a round slowed the round and its yardstick alike; a slower code slowed the round
only. Nothing is timed.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rnnbench.cli import main
from rnnbench.runs import records, store

ROUNDS, PER_ROUND = 9, 6
CALL_CV, YARDSTICK_CV = 0.05, 0.01
REST_S = 400e-6  # the yardstick at rest
COSTS = {("numpy-bptt", 1): 40e-6, ("numpy-bptt", 8): 12e-6, ("torch-autograd", 1): 90e-6, ("torch-autograd", 8): 20e-6}


def step_record(rng, impl, B, cost, machine_speed, *, quiet=None, loaded=None):
    """ROUNDS rounds of PER_ROUND calls. machine_speed: (ROUNDS,) how much slower the machine ran in each
    round (it slows the calls and the yardstick alike); quiet: (ROUNDS,) the gate's verdicts (None: no gate)."""
    point_id = f"step-{impl}-cpu-t1-H32-T8-B{B}"
    key = {"run_id": "r", "machine": "m1", "point_id": point_id, "impl": impl, "device": "cpu", "threads": 1}
    key |= {"hidden": 32, "seq_len": 8, "batch": B}
    yardstick = REST_S * machine_speed * rng.lognormal(0.0, YARDSTICK_CV, ROUNDS)  # (ROUNDS,)
    per_record = cost * np.repeat(machine_speed, PER_ROUND) * rng.lognormal(0.0, CALL_CV, ROUNDS * PER_ROUND)
    samples = [
        records.row(
            records.Sample(**key, kind="step", round=i // PER_ROUND, sample=i, seconds=float(s) * B, records=B,
                           per_record_seconds=float(s), loss=1.0, yardstick_s=float(yardstick[i // PER_ROUND]),
                           quiet=None if quiet is None else bool(quiet[i // PER_ROUND]))
        )
        for i, s in enumerate(per_record)
    ]  # fmt: skip
    summary = dict.fromkeys(records.columns(records.Summary)) | key | {"kind": "step", "status": "ok"}
    summary |= {"records_per_call": B, "per_record_median_s": float(np.median(per_record)), "loaded": loaded}
    summary |= {"quiet_rounds": ROUNDS if quiet is None else int(np.sum(quiet)), "yardstick_steady_s": REST_S}
    tables = {"samples": samples, "summary": [summary]}
    return records.PointRecord(point_id, "step", "r", "m1", "ok", {}, summary, tables, {}, "", 0.0)


def make_run(run_dir, seed, *, code=None, speed=None, quiet=None, loaded=()):
    """code: {(impl, B): factor} on the code; speed: (impl, B) -> (ROUNDS,) the machine's slowdown per round
    (default 1.0 throughout); quiet: (impl, B) -> (ROUNDS,) gate verdicts; loaded: points left loaded."""
    rng = np.random.default_rng(seed)
    for (impl, B), cost in COSTS.items():
        m = (speed or {}).get((impl, B), np.ones(ROUNDS))
        q = (quiet or {}).get((impl, B))
        rec = step_record(rng, impl, B, cost * (code or {}).get((impl, B), 1.0), m, quiet=q, loaded=(impl, B) in loaded)
        store.save_point(run_dir, rec)
    env = {"date": "2026-01-01T00:00:00", "cpu": {"model": "Test CPU", "usable_cores": 2}, "gpus": []}
    store.add_session(run_dir, "m1", "session-1", env)
    return run_dir


def verdict_lines(out: str) -> dict[str, str]:
    found = {}
    for line in out.splitlines():
        m = re.match(r"(numpy-bptt|torch-autograd)\s+step\s+\d+\s+\d+\s+\d+\s+(\d+)\s", line)
        if m:
            found[f"{m[1]} {m[2]}"] = line
    return found


EVERYTHING_SLOWER = dict.fromkeys(COSTS, np.full(ROUNDS, 1.5))


def test_a_machine_that_ran_slower_throughout_b_is_not_a_regression_in_yardsticks(tmp_path, capsys):
    """A co-runner on the other hyperthread for the whole of B: every round and its yardstick 1.5x slower,
    too evenly for the gate to see within the run. Seconds call it a regression; yardsticks do not."""
    a, b = make_run(tmp_path / "a", 1), make_run(tmp_path / "b", 2, speed=EVERYTHING_SLOWER)
    assert main(["compare", str(a), str(b)]) == 1  # seconds, the default
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--basis", "yardstick"]) == 0
    out = capsys.readouterr().out
    assert "in yardsticks" in out
    assert "0 regressed" in out


def test_slower_code_is_still_flagged_with_the_raw_ratio_beside(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, code={("numpy-bptt", 1): 1.5, ("numpy-bptt", 8): 1.5})
    assert main(["compare", str(a), str(b), "--all", "--basis", "yardstick"]) == 1
    lines = verdict_lines(capsys.readouterr().out)
    assert "REGRESSED" in lines["numpy-bptt 1"]
    assert "REGRESSED" in lines["numpy-bptt 8"]
    assert "REGRESSED" not in lines["torch-autograd 1"] + lines["torch-autograd 8"]
    ratios = [float(x) for x in re.findall(r"\b\d\.\d{3}\b", lines["numpy-bptt 1"])]
    assert ratios[0] == pytest.approx(1.5, rel=0.1)  # in yardsticks
    assert ratios[-1] == pytest.approx(1.5, rel=0.1)  # raw, beside


def test_every_implementation_slower_with_the_yardstick_unchanged_is_flagged_everywhere(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, code=dict.fromkeys(COSTS, 1.4))
    assert main(["compare", str(a), str(b), "--basis", "yardstick"]) == 1
    assert "4 regressed" in capsys.readouterr().out


def test_busy_rounds_the_gate_marked_are_left_out(tmp_path, capsys):
    """B's first three rounds ran 3x slower and the gate marked them; the quiet rounds agree with A."""
    busy = np.array([3.0] * 3 + [1.0] * 6)
    quiet = busy < 1.1
    b = make_run(tmp_path / "b", 2, speed=dict.fromkeys(COSTS, busy), quiet=dict.fromkeys(COSTS, quiet))
    a = make_run(tmp_path / "a", 1)
    assert main(["compare", str(a), str(b), "--basis", "seconds"]) == 0
    assert "0 regressed" in capsys.readouterr().out


def test_a_configuration_too_unsteady_to_judge_is_said_so_and_not_judged(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2, code={("numpy-bptt", 1): 3.0}, loaded={("numpy-bptt", 1)})
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "not judged, too unsteady" in out
    assert "numpy-bptt" in next(x for x in out.splitlines() if x.startswith("not judged"))
    assert "3 configurations compared" in out


def test_yardstick_basis_needs_both_runs_to_have_one(tmp_path, capsys):
    a = make_run(tmp_path / "a", 1)
    b = make_run(tmp_path / "b", 2)
    for path in store.point_files(b):  # B made before the yardstick was recorded
        doc = json.loads(path.read_text(encoding="utf-8"))
        for s in doc["tables"]["samples"]:
            s["yardstick_s"] = None
        store.save_point(b, doc)
    assert main(["compare", str(a), str(b), "--basis", "yardstick"]) == 2
    assert "no yardstick" in capsys.readouterr().err
    assert main(["compare", str(a), str(b)]) == 0  # seconds, the default
    assert "in yardsticks" not in capsys.readouterr().out
