"""rnnbench.compare.stats on synthetic timings: noise is not flagged, real changes are, the correction is applied.

The noise model is a noisy shared machine's: every call's seconds are base x shift x round_drift[r] x
call_noise, with lognormal call noise (CALL_CV) and a lognormal multiplicative drift per round
(ROUND_DRIFT) that all calls of a round share. Nothing is timed here.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from rnnbench.compare.stats import Change, compare_samples, judge, round_medians

CALL_CV = 0.15  # per-call spread (log-sd) of a small training step on a busy machine
ROUND_DRIFT = 0.10  # log-sd of the shared slowdown of one round against another
SWEEP = 200  # configurations compared at once, as in a full sweep


def synthetic_run(rng, rounds, per_round, shift=1.0, call_cv=CALL_CV, drift=ROUND_DRIFT, base=1e-3):
    """(samples (rounds * per_round,), round index of each): one configuration of one run."""
    round_of = np.repeat(np.arange(rounds), per_round)
    drift_r = rng.lognormal(0.0, drift, rounds)  # (rounds,)
    samples = base * shift * drift_r[round_of] * rng.lognormal(0.0, call_cv, rounds * per_round)
    return samples, round_of


def compare_runs(rng, rounds, per_round, shift=1.0, seed=0, **noise) -> Change:
    a, ra = synthetic_run(rng, rounds, per_round, **noise)
    b, rb = synthetic_run(rng, rounds, per_round, shift=shift, **noise)
    return compare_samples(a, b, rounds_a=ra, rounds_b=rb, seed=seed)


@functools.cache
def null_sweep(seed, rounds, per_round, run_offset=1.0) -> dict[int, Change]:
    """SWEEP configurations none of which changed; run B as a whole may be run_offset slower (a busier machine)."""
    rng = np.random.default_rng(seed)
    return {i: compare_runs(rng, rounds, per_round, shift=run_offset, seed=i) for i in range(SWEEP)}


def flagged(verdicts) -> list:
    return [k for k, v in verdicts.items() if v.status in ("regressed", "improved")]


# --- (a) a null difference yields no flags --------------------------------------------------------------

NULL_SEEDS = (0, 1, 2)
COMPLETE_NULLS = ((9, 1), (9, 40))  # (rounds, calls per round) of the harness's profiles


@pytest.mark.parametrize(("rounds", "per_round", "run_offset"), [(9, 1, 1.0), (9, 40, 1.0), (9, 40, 1.03)])
@pytest.mark.parametrize("seed", NULL_SEEDS)
def test_null_sweep_flags_nothing(seed, rounds, per_round, run_offset):
    """200 unchanged configurations, also when run B as a whole ran 3% slower: none is flagged at 1.10.
    (Not a certainty: a rare null sweep holds a fluke beyond the threshold, see the test below.)"""
    verdicts = judge(null_sweep(seed, rounds, per_round, run_offset), threshold=1.10)
    assert len(verdicts) == SWEEP
    assert flagged(verdicts) == []


def test_null_discoveries_stay_within_the_false_discovery_rate():
    """Under a complete null every discovery is false, and Benjamini-Hochberg at fdr bounds the chance
    that a sweep holds any by fdr, whatever the threshold (a flag needs a discovery). Over these 6 sweeps
    at most 0.3 are expected to hold one; 3 or more would break the promise (P < 0.3% if it holds)."""
    sweeps = [null_sweep(seed, rounds, per_round, 1.0) for seed in NULL_SEEDS for rounds, per_round in COMPLETE_NULLS]
    with_discovery = [any(v.p_adjusted <= 0.05 for v in judge(s, fdr=0.05).values()) for s in sweeps]
    assert sum(with_discovery) <= 2


def test_interval_covers_the_true_ratio():
    """The 95% interval holds the true ratio in most repeats (a too-narrow interval would flag noise)."""
    rng = np.random.default_rng(5)
    changes = [compare_runs(rng, 9, 1, shift=1.3, seed=s) for s in range(200)]
    coverage = np.mean([c.ci_low <= 1.3 <= c.ci_high for c in changes])
    assert coverage >= 0.90


# --- (b) a known shift is flagged -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_known_shift_is_flagged_and_nothing_else(seed):
    """One implementation 1.5x slower in 10 configurations, another 1.5x faster in 10, 180 unchanged."""
    rng = np.random.default_rng(seed)
    shifts = {i: 1.5 if i < 10 else 1 / 1.5 if i < 20 else 1.0 for i in range(SWEEP)}
    changes = {i: compare_runs(rng, 9, 40, shift=s, seed=i) for i, s in shifts.items()}
    verdicts = judge(changes, threshold=1.10)
    assert [i for i, v in verdicts.items() if v.status == "regressed"] == list(range(10))
    assert [i for i, v in verdicts.items() if v.status == "improved"] == list(range(10, 20))


def test_lone_regression_among_a_sweep_is_flagged():
    """One configuration 2x slower among 199 unchanged ones, 9 rounds a side: Benjamini-Hochberg then asks
    p <= 0.05 / 200, which the exact Mann-Whitney test reaches with 9 rounds and the normal approximation
    cannot."""
    changes = dict(null_sweep(0, 9, 40, 1.0))
    changes["slow"] = compare_runs(np.random.default_rng(9), 9, 40, shift=2.0)
    verdicts = judge(changes, threshold=1.10)
    assert flagged(verdicts) == ["slow"]
    assert verdicts["slow"].status == "regressed"


def test_ratio_and_interval_bracket_the_shift():
    a, ra = synthetic_run(np.random.default_rng(0), 15, 10)
    b, rb = synthetic_run(np.random.default_rng(1), 15, 10, shift=2.0)
    change = compare_samples(a, b, rounds_a=ra, rounds_b=rb)
    assert change.ci_low < change.ratio < change.ci_high
    assert change.ci_low > 1.6
    assert change.ci_high < 2.5
    assert change.p_value < 1e-4
    assert (change.n_a, change.n_b, change.units_a, change.units_b) == (150, 150, 15, 15)


# --- (c) the multiple-comparison correction is applied ---------------------------------------------------


def fixed_change(p_value, ratio=1.0, low=0.95, high=1.05) -> Change:
    return Change(ratio, low, high, p_value, 9, 9, 9, 9)


def test_benjamini_hochberg_is_applied_across_all_configurations():
    """A 1.5x change with raw p = 0.01 is a regression on its own, but not among 199 null configurations."""
    suspect = fixed_change(0.01, ratio=1.5, low=1.3, high=1.7)
    assert judge({"x": suspect})["x"].status == "regressed"
    null_p = np.random.default_rng(0).uniform(0.02, 1.0, SWEEP - 1)
    changes = {"x": suspect} | {i: fixed_change(float(p)) for i, p in enumerate(null_p)}
    verdicts = judge(changes)
    assert verdicts["x"].status == "same"
    expected = false_discovery_control([c.p_value for c in changes.values()], method="bh")
    np.testing.assert_allclose([v.p_adjusted for v in verdicts.values()], expected)
    assert verdicts["x"].p_adjusted > 0.05


def test_untestable_configuration_is_inconclusive_and_counts_as_p_one():
    a, b = [1.0e-3] * 5, [2.0e-3] * 5
    one_round = compare_samples(a, b, rounds_a=[0] * 5, rounds_b=[0] * 5)
    assert (one_round.units_a, one_round.units_b) == (1, 1)
    assert math.isnan(one_round.ci_low)
    assert math.isnan(one_round.p_value)
    assert one_round.ratio == pytest.approx(2.0)
    verdicts = judge({"one": one_round, "other": fixed_change(0.04, ratio=1.5, low=1.3, high=1.7)})
    assert verdicts["one"].status == "inconclusive"
    assert verdicts["other"].p_adjusted == pytest.approx(0.08)  # 0.04 * 2 / 1: the untestable one counted


# --- (d) significant but small is not flagged ---------------------------------------------------------------


def small_but_real_change() -> Change:
    """1.02x on a quiet machine with many rounds: significant, with an interval near 1.02."""
    return compare_runs(np.random.default_rng(3), 30, 40, shift=1.02, call_cv=0.10, drift=0.01)


def test_significant_tiny_change_is_not_flagged():
    change = small_but_real_change()
    verdict = judge({"x": change}, threshold=1.10)["x"]
    assert verdict.p_adjusted <= 0.05
    assert change.ci_low > 1 / 1.10
    assert change.ci_high < 1.10
    assert verdict.status == "same"


def test_interval_straddling_the_threshold_is_inconclusive():
    change = small_but_real_change()
    assert change.ci_low < 1.02 < change.ci_high
    assert judge({"x": change}, threshold=1.02)["x"].status == "inconclusive"


# --- (e) rounds widen the interval when rounds drift ----------------------------------------------------


def test_rounds_aware_interval_is_wider_than_naive_under_drift():
    rng = np.random.default_rng(4)
    a, ra = synthetic_run(rng, 9, 40)
    b, rb = synthetic_run(rng, 9, 40)
    aware = compare_samples(a, b, rounds_a=ra, rounds_b=rb)
    naive = compare_samples(a, b)
    assert (aware.units_a, naive.units_a) == (9, 360)
    assert math.log(aware.ci_high / aware.ci_low) > 2 * math.log(naive.ci_high / naive.ci_low)


def test_naive_samples_call_drift_a_change():
    """Why rounds matter: with 9 drifting rounds of 40 calls, treating the 360 calls as independent
    finds 'significant' differences between unchanged runs far more often than the 5% promised."""
    rng = np.random.default_rng(6)
    runs = [(synthetic_run(rng, 9, 40), synthetic_run(rng, 9, 40)) for _ in range(40)]
    naive = [compare_samples(a, b, n_boot=200).p_value for (a, _), (b, _) in runs]
    aware = [compare_samples(a, b, rounds_a=ra, rounds_b=rb, n_boot=200).p_value for (a, ra), (b, rb) in runs]
    assert np.mean(np.less_equal(naive, 0.05)) > 0.25
    assert np.mean(np.less_equal(aware, 0.05)) <= 0.10


# --- the API's contract -----------------------------------------------------------------------------------


def test_same_seed_same_result_and_round_order_irrelevant():
    a, ra = synthetic_run(np.random.default_rng(0), 9, 5)
    b, rb = synthetic_run(np.random.default_rng(1), 9, 5, shift=1.2)
    first = compare_samples(a, b, rounds_a=ra, rounds_b=rb, seed=7)
    assert compare_samples(a, b, rounds_a=ra, rounds_b=rb, seed=7) == first
    order = np.random.default_rng(2).permutation(a.size)
    labels = np.array([f"round-{r}" for r in ra])  # any hashable labels, in any order
    assert compare_samples(a[order], b, rounds_a=labels[order], rounds_b=rb, seed=7) == first


def test_swapping_runs_inverts_the_ratio():
    a, ra = synthetic_run(np.random.default_rng(0), 9, 5)
    b, rb = synthetic_run(np.random.default_rng(1), 9, 5, shift=1.2)
    ab = compare_samples(a, b, rounds_a=ra, rounds_b=rb)
    ba = compare_samples(b, a, rounds_a=rb, rounds_b=ra)
    assert ab.ratio == pytest.approx(1 / ba.ratio)
    assert ab.p_value == pytest.approx(ba.p_value)


@pytest.mark.parametrize("seed", range(4))
def test_swapping_runs_mirrors_the_interval_and_the_verdict(seed):
    """compare B A says exactly the mirror of compare A B: the reciprocal interval, the opposite verdict."""
    rng = np.random.default_rng(seed)
    a, ra = synthetic_run(rng, 5, 3)
    b, rb = synthetic_run(rng, 5, 3, shift=1.6)
    ab = compare_samples(a, b, rounds_a=ra, rounds_b=rb)
    ba = compare_samples(b, a, rounds_a=rb, rounds_b=ra)
    assert ab.ci_low == pytest.approx(1 / ba.ci_high, rel=1e-12)
    assert ab.ci_high == pytest.approx(1 / ba.ci_low, rel=1e-12)
    mirror = {"regressed": "improved", "improved": "regressed", "same": "same", "inconclusive": "inconclusive"}
    assert judge({0: ba})[0].status == mirror[judge({0: ab})[0].status]


def test_round_medians():
    np.testing.assert_allclose(round_medians([1.0, 2.0, 9.0, 4.0], [1, 1, 1, 0]), [4.0, 2.0])
    np.testing.assert_allclose(round_medians([3.0, 1.0]), [3.0, 1.0])


@pytest.mark.parametrize(
    ("a", "kwargs", "match"),
    [
        ([], {}, "no samples"),
        ([1.0, 0.0], {}, "> 0"),
        ([1.0, math.nan], {}, "finite"),
        ([1.0, 2.0], {"rounds_a": [0]}, "1 labels for 2 samples"),
        ([1.0, 2.0], {"confidence": 1.0}, "confidence"),
        ([1.0, 2.0], {"n_boot": 10}, "n_boot"),
    ],
)
def test_compare_samples_rejects_bad_input(a, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare_samples(a, [1.0, 2.0], **kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [({"fdr": 0.0}, "fdr"), ({"threshold": 1.0}, "threshold")])
def test_judge_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        judge({"x": fixed_change(0.5)}, **kwargs)


def test_judge_of_nothing_is_empty():
    assert judge({}) == {}
