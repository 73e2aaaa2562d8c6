"""Training runs over seeds (rnnbench.runs.seeds) on recorded curves: made-up AccuracyEval rows whose
time and epochs to the target are known, so that the medians, their intervals, the never-reached case
and the report's wording are pinned."""

from __future__ import annotations

import math

import pytest

from rnnbench.runs import analysis, records, seeds, store

TARGET = 0.5
EPOCHS = 2
RECORDS_PER_EPOCH = 400
EVALS = 4  # per run: after 200, 400, 600, 800 records, i.e. every half epoch


def curve(impl: str, B: int, seed: int, seconds_per_eval: float, reach_at: int | None, machine="alpha") -> list[dict]:
    """One recorded run: EVALS evaluations every seconds_per_eval; the accuracy reaches TARGET at evaluation
    reach_at (1-based; None: never) and stays below it before."""
    point_id = f"accuracy-{impl}-cpu-t1-B{B}-s{seed}"
    return [
        records.row(
            records.AccuracyEval(
                "run", machine, point_id, impl, "cpu", 1, 16, B, "sgd", 0.05, EPOCHS, "made-up", i, i // 2,
                records_seen=(i + 1) * RECORDS_PER_EPOCH * EPOCHS // EVALS,
                train_seconds=(i + 1) * seconds_per_eval, compile_seconds=0.0,
                val_accuracy=TARGET + 0.1 if reach_at is not None and i + 1 >= reach_at else TARGET - 0.1,
                val_loss=1.0, seed=seed,
            )
        )
        for i in range(EVALS)
    ]  # fmt: skip


def seeded(*runs: tuple) -> list[dict]:
    """over_seeds of the recorded runs (impl, B, seed, seconds_per_eval, reach_at)."""
    evals = [row for r in runs for row in curve(*r)]
    return seeds.over_seeds(analysis.accuracy_runs(evals, TARGET))


def test_three_seeds_give_the_median_and_the_range_with_its_coverage():
    (a,) = seeded(("numpy-bptt", 32, 0, 1.0, 2), ("numpy-bptt", 32, 1, 1.0, 3), ("numpy-bptt", 32, 2, 1.0, 1))
    assert a["seeds"] == [0, 1, 2]
    assert a["reached"] == 3
    assert a["per_seed"]["time_to_target"] == [2.0, 3.0, 1.0]
    assert a["time_to_target"] == seeds.MedianInterval(2.0, 1.0, 3.0, 0.75, 3)  # 1 - 2 / 2^3
    assert a["epochs_to_target"] == seeds.MedianInterval(1.0, 0.5, 1.5, 0.75, 3)  # half an epoch per evaluation
    assert a["final_val_accuracy"].median == pytest.approx(TARGET + 0.1)


@pytest.mark.parametrize(
    ("n", "low", "high", "coverage"),
    [
        (1, 1, 1, 0.0),
        (5, 1, 5, 1 - 2 / 2**5),  # still the range: no interval of 5 values reaches 95%
        (6, 1, 6, 1 - 2 / 2**6),  # the first n with a 95% interval
        (20, 6, 15, 0.9586105346679688),  # [x_(6), x_(15)]: 1 - 2 P(Binomial(20, 1/2) <= 5)
    ],
)
def test_the_order_statistic_interval_of_the_median(n, low, high, coverage):
    got = seeds.median_interval(list(range(n, 0, -1)))
    assert (got.low, got.high, got.n) == (low, high, n)
    assert got.coverage == pytest.approx(coverage)
    assert got.median == pytest.approx((n + 1) / 2)


def test_a_seed_that_never_reaches_the_target_is_counted_as_never():
    (a,) = seeded(("jax-scan", 1, 0, 1.0, 2), ("jax-scan", 1, 1, 1.0, None), ("jax-scan", 1, 2, 1.0, 3))
    assert a["reached"] == 2
    assert a["per_seed"]["time_to_target"] == [2.0, math.inf, 3.0]
    assert a["time_to_target"] == seeds.MedianInterval(3.0, 2.0, math.inf, 0.75, 3)
    assert a["epochs_to_target"].high == math.inf


def test_a_median_seed_that_never_reaches_it_makes_the_median_not_reached():
    (a,) = seeded(("jax-scan", 1, 0, 1.0, None), ("jax-scan", 1, 1, 1.0, None), ("jax-scan", 1, 2, 1.0, 4))
    assert a["time_to_target"] == seeds.MedianInterval(math.inf, 4.0, math.inf, 0.75, 3)
    assert seeds.describe(a["time_to_target"], "s") == "not reached [4, never]"
    assert seeds.fastest_two([a, a], "time_to_target") is None


def test_a_run_from_before_seeds_is_seed_0():
    evals = [r | {"seed": None} for r in curve("numpy-bptt", 1, 0, 1.0, 2)]
    (run,) = analysis.accuracy_runs(evals, TARGET)
    assert run["seed"] == 0
    assert run["epochs_to_target"] == pytest.approx(1.0)


def two_calls(n: int, numpy_s: list[float], jax_s: list[float]) -> list[tuple]:
    """numpy-bptt at B=32 and jax-scan at B=1, seed k reaching the target at its second evaluation,
    seconds_per_eval from the lists (time to target: twice that)."""
    return [("numpy-bptt", 32, k, numpy_s[k], 2) for k in range(n)] + [
        ("jax-scan", 1, k, jax_s[k], 2) for k in range(n)
    ]


def test_overlapping_seeds_are_no_difference():
    rows = seeded(*two_calls(3, [1.0, 1.2, 0.9], [1.1, 0.8, 1.3]))
    r = seeds.fastest_two(rows)
    assert (r.first["impl"], r.second["impl"], r.n, r.differ) == ("numpy-bptt", "jax-scan", 3, False)
    assert r.p_value == pytest.approx(1.0)  # U = 4 of 9: as even as 3 a side can be


def test_three_seeds_a_side_can_never_tell_two_calls_apart():
    """Even when every seed of one is faster than every seed of the other: exact p = 2 / C(6, 3) = 0.1."""
    r = seeds.fastest_two(seeded(*two_calls(3, [1.0, 1.1, 1.2], [5.0, 6.0, 7.0])))
    assert (r.p_value, r.differ) == (pytest.approx(0.1), False)


def test_five_seeds_apart_are_a_ranking():
    r = seeds.fastest_two(seeded(*two_calls(5, [5.0, 6.0, 7.0, 8.0, 9.0], [1.0, 1.1, 1.2, 1.3, 1.4])))
    assert (r.first["impl"], r.second["impl"], r.differ) == ("jax-scan", "numpy-bptt", True)
    assert r.p_value == pytest.approx(2 / 252)


def test_never_reached_seeds_count_in_the_test():
    """jax-scan's seeds all reach the target later than numpy-bptt's, or never: still apart at 5 seeds."""
    numpy = [("numpy-bptt", 32, k, 1.0 + 0.1 * k, 2) for k in range(5)]
    jax = [("jax-scan", 1, k, 5.0, 2 if k < 2 else None) for k in range(5)]
    r = seeds.fastest_two(seeded(*numpy, *jax))
    assert (r.first["impl"], r.differ) == ("numpy-bptt", True)
    assert r.second["time_to_target"].median == math.inf


def write_run(run_dir, runs: list[tuple]) -> None:
    store.write_manifest(run_dir, {"run_id": "run", "created": "2026-01-01T00:00:00", "git": {"short": "abc1234"}})
    for r in runs:
        rows = curve(*r)
        store.save_point(
            run_dir,
            records.PointRecord(rows[0]["point_id"], "accuracy", "run", "alpha", "ok", {}, {}, {"accuracy": rows}, {},
                                "2026-01-01T00:00:00", 0.1),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("n", "numpy_s", "jax_s", "wording"),
    [
        (3, [1.0, 1.2, 0.9], [1.1, 0.8, 1.3], "no difference found at 3 seeds"),
        (
            5,
            [5.0, 6.0, 7.0, 8.0, 9.0],
            [1.0, 1.1, 1.2, 1.3, 1.4],
            "jax-scan at B=1 reaches the target accuracy 0.500 first",
        ),
    ],
)
def test_the_report_names_a_ranking_only_when_the_seeds_tell_them_apart(tmp_path, n, numpy_s, jax_s, wording):
    pytest.importorskip("matplotlib", reason="the report's plots need matplotlib (pip install 'rnnbench[report]')")
    from rnnbench.report import build_report

    write_run(tmp_path, two_calls(n, numpy_s, jax_s))
    text = build_report(tmp_path, target=TARGET).read_text(encoding="utf-8")
    (finding,) = [line for line in text.splitlines() if "target accuracy 0.500" in line and line[:1].isdigit()]
    assert wording in finding
    assert ("ahead of" in finding) == (wording != "no difference found at 3 seeds")
    assert f"| {n} ({n} reached) |" in text
    assert (tmp_path / "plots" / "accuracy.png").is_file()


@pytest.mark.parametrize(
    ("b_seconds", "verdict"),
    [
        ([1.1, 0.8, 1.3, 0.95, 1.05], "no difference found at 5 seeds"),
        ([0.1, 0.11, 0.12, 0.13, 0.14], "faster"),
        ([9.0, 9.1, 9.2, 9.3, None], "slower"),  # one seed of B never reaches the target: counted, not dropped
    ],
)
def test_compare_judges_time_to_target_per_configuration_over_seeds(tmp_path, capsys, b_seconds, verdict):
    from rnnbench.cli import main

    a_seconds = [1.0, 1.2, 0.9, 1.1, 1.05]
    write_run(tmp_path / "a", [("numpy-bptt", 32, k, s, 2) for k, s in enumerate(a_seconds)])
    write_run(tmp_path / "b", [("numpy-bptt", 32, k, s or 1.0, 2 if s else None) for k, s in enumerate(b_seconds)])
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--target-accuracy", str(TARGET)]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "numpy-bptt" in line]
    assert line.endswith(f": {verdict}"), out
    assert "time to target accuracy 0.500" in out


def test_merging_runs_of_other_seeds_gives_every_seed(tmp_path):
    """Seeds 0-2 in one run and 3-4 in another (e.g. measured on two days): the merged run holds all five."""
    from rnnbench.runs.merge import merge

    write_run(tmp_path / "a", [("numpy-bptt", 32, k, 1.0, 2) for k in range(3)])
    write_run(tmp_path / "b", [("numpy-bptt", 32, k, 1.0, 2) for k in range(3, 5)])
    target, _ = merge(["a", "b"], "both", tmp_path)
    (a,) = seeds.over_seeds(analysis.accuracy_runs(store.tables(target)["accuracy"], TARGET))
    assert a["seeds"] == [0, 1, 2, 3, 4]
