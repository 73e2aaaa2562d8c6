"""Is configuration X slower in run B than in run A, or is that noise? The statistics behind compare.

    change = compare_samples(a_seconds, b_seconds, rounds_a=ra, rounds_b=rb)   # one configuration
    verdicts = judge({key: change, ...}, fdr=0.05, threshold=1.10)            # all of them at once
    verdicts[key].status   # "regressed", "improved", "same" or "inconclusive"

Three ideas, each answering a way a plain ratio of medians misleads:

Rounds are the unit. A run times `rounds` rounds of `iterations` consecutive calls. Calls inside one
round share the machine's state of that moment (frequency, cache, a neighbour's load), so on a shared
machine whole rounds drift by several percent against each other while the calls inside a round agree
closely. Treating 9 rounds x 40 calls as 360 independent samples makes an interval far too narrow, and
every drift between two runs looks "significant". Given the round of each sample, each round is
reduced to its median and those round medians are the units of the interval and of the test, so the
spread between rounds, which is what really differs from one run to the next, sets the width.

Significance and size both. A configuration is flagged only when its change is significant AND the
whole confidence interval of the ratio lies beyond the threshold. Significance alone would flag a
real 2% change that nobody cares about (and a whole run being 3% slower because the machine was
busier, which no statistic computed inside the runs can tell from a code change: the threshold is
the guard against that). Size alone (a ratio above the threshold) is what flags noise.

Benjamini-Hochberg across all configurations. A sweep compares ~200 configurations at once; at a
per-configuration level of 5%, about ten null configurations would pass by chance in every
comparison. The p-values are adjusted together (scipy.stats.false_discovery_control, method "bh"),
which bounds the expected fraction of false flags among the flags by `fdr`.

Limits worth knowing: with n rounds a side, the smallest two-sided Mann-Whitney p-value is
2 / C(2n, n), so few rounds cannot reach significance among many configurations (and one round a
side yields no interval at all: "inconclusive"). The interval is a per-configuration 95% interval,
not adjusted for having selected the flagged ones.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

N_BOOT = 2000  # bootstrap resamples: modest and fast; the interval's ends still move a little with the seed
EXACT_MAX_N = 50  # Mann-Whitney's exact distribution up to this many units a side (the normal approximation
# cannot reach the small p-values that the Benjamini-Hochberg correction asks of few units)

K = TypeVar("K", bound=Hashable)

STATUSES = ("regressed", "improved", "same", "inconclusive")


@dataclass(frozen=True)
class Change:
    """One configuration, run B against run A.

    ratio: median_b / median_a (of the round medians when rounds were given), > 1 means B is slower.
    ci_low, ci_high: the confidence interval of that ratio (nan when a side has fewer than 2 units).
    p_value: two-sided Mann-Whitney U on the units (nan when there is no test: see ci_low).
    n_a, n_b: samples of each run; units_a, units_b: what the statistics resampled (rounds or samples).
    """

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    n_a: int
    n_b: int
    units_a: int
    units_b: int


@dataclass(frozen=True)
class Verdict:
    """status: one of STATUSES (see judge); p_adjusted: the Benjamini-Hochberg adjusted p-value."""

    status: str
    p_adjusted: float
    change: Change


def _positive(name: str, x: Sequence[float]) -> np.ndarray:
    arr = np.asarray(x, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: no samples")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name}: seconds must be finite and > 0")
    return arr


def round_medians(samples: Sequence[float], rounds: Sequence[Hashable] | None = None) -> np.ndarray:
    """The statistics' units: the median of each round's samples, or the samples when rounds is None.

    samples: (n,) seconds; rounds: (n,) the round each sample was timed in (any labels, any order).
    Returns (k,) for k rounds, in the order of the sorted labels.
    """
    x = _positive("samples", samples)
    if rounds is None:
        return x
    labels = np.asarray(rounds).ravel()
    if labels.shape != x.shape:
        raise ValueError(f"rounds has {labels.size} labels for {x.size} samples")
    _, which = np.unique(labels, return_inverse=True)  # (n,) round number 0..k-1
    by_round = x[np.lexsort((x, which))]  # (n,) sorted by round, then by seconds
    counts = np.bincount(which)  # (k,)
    starts = np.cumsum(counts) - counts
    return (by_round[starts + (counts - 1) // 2] + by_round[starts + counts // 2]) / 2.0


def _row_medians(x: np.ndarray) -> np.ndarray:
    """(r, k) -> (r,): a sort of short rows is several times cheaper than np.median's partition."""
    x = np.sort(x, axis=1)
    k = x.shape[1]
    return (x[:, (k - 1) // 2] + x[:, k // 2]) / 2.0


def _bootstrap_ratio_ci(
    ua: np.ndarray, ub: np.ndarray, n_boot: int, seed: int, confidence: float
) -> tuple[float, float]:
    """Percentile interval of median(ub*) / median(ua*), each side resampled on its own (unpaired:
    the runs' rounds have nothing to do with each other). Vectorised: (n_boot, k) index draws. Written
    out rather than scipy.stats.bootstrap: the same interval, one way to seed it across scipy versions.

    Symmetric in its runs: the sides draw in an order fixed by their values, not by which is A, and the
    percentiles are taken of the log-ratio, so swapping A and B gives exactly the reciprocal interval."""
    rng = np.random.default_rng(seed)
    swap = _draw_key(ub) < _draw_key(ua)
    first, second = (ub, ua) if swap else (ua, ub)
    med_first = _row_medians(first[rng.integers(0, first.size, (n_boot, first.size))])  # (n_boot,)
    med_second = _row_medians(second[rng.integers(0, second.size, (n_boot, second.size))])  # (n_boot,)
    log_ratio = np.log(med_second) - np.log(med_first)  # (n_boot,) second over first
    if swap:
        log_ratio = -log_ratio  # B over A
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(log_ratio, [tail, 1.0 - tail])  # linear interpolation: quantile(-x, q) = -quantile(x, 1-q)
    return float(np.exp(low)), float(np.exp(high))


def _draw_key(units: np.ndarray) -> tuple:
    """The order in which two sides draw their resamples: by their values, whichever run each is."""
    return (units.size, tuple(np.sort(units).tolist()))


def _mann_whitney_p(ua: np.ndarray, ub: np.ndarray) -> float:
    from scipy.stats import mannwhitneyu

    tied = np.unique(np.concatenate([ua, ub])).size < ua.size + ub.size
    exact = not tied and max(ua.size, ub.size) <= EXACT_MAX_N
    return float(mannwhitneyu(ua, ub, alternative="two-sided", method="exact" if exact else "asymptotic").pvalue)


def compare_samples(
    a: Sequence[float],
    b: Sequence[float],
    *,
    rounds_a: Sequence[Hashable] | None = None,
    rounds_b: Sequence[Hashable] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = 0.95,
) -> Change:
    """Ratio of medians (B / A) with a bootstrap interval and a Mann-Whitney p-value, for one configuration.

    a, b: (n_a,), (n_b,) per-call seconds of the configuration in run A and run B.
    rounds_a, rounds_b: the round of each sample (e.g. index // iterations). When given, each round
    becomes one unit (its median) and the bootstrap resamples whole rounds; give them whenever the
    samples come in rounds, since calls within a round are correlated. Without them every sample is a unit.

    The interval is the bootstrap percentile interval of the ratio of medians: n_boot resamples of
    each run's units, drawn independently, seeded by `seed` (the same inputs and seed give the same
    interval). The p-value is the two-sided Mann-Whitney U test (scipy.stats.mannwhitneyu) of the
    two runs' units, exact when there are no ties and at most EXACT_MAX_N units a side, otherwise the
    normal approximation; it asks whether one run's units tend to be larger, independent of the bootstrap.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_boot < 100:
        raise ValueError(f"n_boot must be at least 100, got {n_boot}")
    ua, ub = round_medians(a, rounds_a), round_medians(b, rounds_b)
    ratio = float(np.median(ub) / np.median(ua))
    n_a, n_b = np.size(a), np.size(b)
    if min(ua.size, ub.size) < 2:  # one unit has no spread: no interval, no test
        return Change(ratio, math.nan, math.nan, math.nan, n_a, n_b, ua.size, ub.size)
    low, high = _bootstrap_ratio_ci(ua, ub, n_boot, seed, confidence)
    return Change(ratio, low, high, _mann_whitney_p(ua, ub), n_a, n_b, ua.size, ub.size)


def judge(changes: Mapping[K, Change], *, fdr: float = 0.05, threshold: float = 1.10) -> dict[K, Verdict]:
    """Verdicts for all compared configurations together.

    The p-values are adjusted by Benjamini-Hochberg over every configuration in `changes` (one
    without a test counts as p = 1, which only makes the others' adjustment more conservative).
    With p_adjusted the adjusted p-value and [ci_low, ci_high] the interval of the ratio B / A:

      regressed     p_adjusted <= fdr and ci_low > threshold          (B slower by more than threshold)
      improved      p_adjusted <= fdr and ci_high < 1 / threshold     (B faster by more than threshold)
      inconclusive  p_adjusted <= fdr but the interval reaches past threshold (or 1 / threshold)
                    without lying wholly beyond it: a real change that may or may not matter; or no
                    test was possible (fewer than 2 rounds a side)
      same          otherwise: no significant change, or a significant one wholly inside
                    [1 / threshold, threshold], too small to matter
    Only "regressed" should fail a comparison.
    """
    from scipy.stats import false_discovery_control

    if not 0.0 < fdr < 1.0:
        raise ValueError(f"fdr must lie in (0, 1), got {fdr}")
    if not threshold > 1.0:
        raise ValueError(f"threshold must be > 1, got {threshold}")
    keys = list(changes)
    if not keys:
        return {}
    raw = np.array([changes[k].p_value for k in keys])  # (m,)
    adjusted = false_discovery_control(np.where(np.isnan(raw), 1.0, raw), method="bh")  # (m,)
    verdicts = {}
    for k, p_adj in zip(keys, adjusted, strict=True):
        c = changes[k]
        if math.isnan(c.p_value):
            status = "inconclusive"
        elif p_adj > fdr:
            status = "same"
        elif c.ci_low > threshold:
            status = "regressed"
        elif c.ci_high < 1.0 / threshold:
            status = "improved"
        elif 1.0 / threshold <= c.ci_low and c.ci_high <= threshold:
            status = "same"
        else:
            status = "inconclusive"
        verdicts[k] = Verdict(status, float(p_adj), c)
    return verdicts
