"""Training runs over seeds: per configuration, the median time and epochs to a target accuracy and the
final accuracy, each with an interval over seeds; whether two configurations differ.

    intervals = over_seeds(analysis.accuracy_runs(evals, target))   # one row per configuration
    judged = rank(intervals[0], intervals[1])                      # Mann-Whitney U on per-seed times

The interval of a median is the order-statistic interval (distribution-free, from the binomial
distribution): [x_(k), x_(n+1-k)] of the n sorted seeds covers the true median with probability
1 - 2 P(Binomial(n, 1/2) <= k - 1). The widest such interval, k = 1, is the range of the seeds, and
covers 1 - 2^(1-n): 75% at 3 seeds, 94% at 5, 97% at 6. So below 6 seeds no interval reaches 95%: the
range is shown with the coverage it has (the `coverage` field), never a narrower one that claims more.
A bootstrap of the median would print a 95% interval at 3 seeds, but it cannot hold: its ends are
seeds' own values and it cannot reach beyond them.

A seed that never reaches the target counts as +inf seconds and epochs, never dropped: the median is
"not reached" when half the seeds or more never reach it, and the interval's top is open-ended
(inf) when one of them does not.

Two configurations differ when Mann-Whitney U on their per-seed times (inf for never reached, tied
with each other) is significant at ALPHA, two-sided, exact without ties and asymptotic with them,
the rule of rnnbench.compare.stats. With 3 seeds a side the smallest two-sided p-value is 2 / C(6, 3)
= 0.1: at 3 seeds no difference can be found; at 4 a side, 0.029; at 5, 0.008.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
ALPHA = 0.05  # two-sided level of the Mann-Whitney test between two configurations
EXACT_MAX_N = 50  # as rnnbench.compare.stats: the exact distribution up to this many seeds a side

RUN_KEY = ("machine", "impl", "device", "threads", "batch")  # a configuration: all but the seed


@dataclass(frozen=True)
class MedianInterval:
    """The median of n values and an order-statistic interval around it (see the module docstring).

    median, low, high: inf where the value is "never" (a seed that never reached the target);
    coverage: the probability that [low, high] holds the true median (CONFIDENCE when n allows it)."""

    median: float
    low: float
    high: float
    coverage: float
    n: int


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> MedianInterval:
    """The median of values with the narrowest order-statistic interval covering `confidence`, or the
    range with its own coverage when n is too small for that. ValueError for no values or a NaN."""
    from scipy.stats import binom

    x = sorted(float(v) for v in values)
    n = len(x)
    if n == 0 or any(math.isnan(v) for v in x):
        raise ValueError("median_interval needs at least one value and no NaN")

    def cover(k: int) -> float:  # of [x_(k), x_(n+1-k)]
        return float(1.0 - 2.0 * binom.cdf(k - 1, n, 0.5))

    ks = [k for k in range(1, (n + 1) // 2 + 1) if cover(k) >= confidence]
    k = max(ks, default=1)
    middle = x[(n - 1) // 2 : n // 2 + 1]  # one value, or the two middle ones
    median = math.inf if math.inf in middle else sum(middle) / len(middle)
    return MedianInterval(median, x[k - 1], x[n - k], max(0.0, cover(k)), n)


def describe(m: MedianInterval, unit: str) -> str:
    """ "0.127 s [0.11, 0.15]": a median with its interval; "not reached" for a median seed, "never" for
    an end of the interval, that never reached the target; the median alone for one seed."""
    value = lambda x: "never" if math.isinf(x) else f"{x:.3g}"
    median = "not reached" if math.isinf(m.median) else f"{m.median:.3g}{' ' + unit if unit else ''}"
    return median if m.n == 1 else f"{median} [{value(m.low)}, {value(m.high)}]"


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value of two sets of per-seed values (inf allowed); 1.0 when every
    value is the same (nothing to tell apart)."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    ua, ub = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.concatenate([ua, ub])
    if np.unique(both).size == 1:
        return 1.0
    tied = np.unique(both).size < both.size
    exact = not tied and max(ua.size, ub.size) <= EXACT_MAX_N
    p = float(mannwhitneyu(ua, ub, alternative="two-sided", method="exact" if exact else "asymptotic").pvalue)
    return p if math.isfinite(p) else 1.0


def _measured(rows: list[dict], column: str) -> list[float]:
    return [r[column] for r in rows if r[column] is not None]


def _never(value: float | None) -> float:
    return math.inf if value is None else float(value)


def over_seeds(runs: Iterable[dict]) -> list[dict]:
    """Per configuration (RUN_KEY) of analysis.accuracy_runs rows: seeds (sorted), reached (how many seeds
    reached the target), and a MedianInterval of time_to_target, time_to_target_steady, epochs_to_target
    (inf for a seed that never reached it), final_val_accuracy and compile_seconds; per_seed: those values
    seed by seed; lr, and the medians over seeds of records_per_second and steady_records_per_second."""
    import statistics

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        groups[tuple(r[k] for k in RUN_KEY)].append(r)
    measures = ("time_to_target", "time_to_target_steady", "epochs_to_target", "final_val_accuracy", "compile_seconds")
    out = []
    for key, rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda r: r["seed"])
        per_seed = {m: [_never(r[m]) for r in rows] for m in measures}
        out.append(
            dict(zip(RUN_KEY, key, strict=True))
            | {
                "seeds": [r["seed"] for r in rows],
                "reached": sum(r["time_to_target"] is not None for r in rows),
                "per_seed": per_seed,
                "lr": rows[0]["lr"],
                "records_per_second": statistics.median(speed)
                if (speed := _measured(rows, "records_per_second"))
                else None,
                "steady_records_per_second": statistics.median(steady)
                if (steady := _measured(rows, "steady_records_per_second"))
                else None,
            }
            | {m: median_interval(v) for m, v in per_seed.items()}
        )
    return out


@dataclass(frozen=True)
class Ranking:
    """Two configurations compared on a measure: first has the lower median; differ: Mann-Whitney's p
    is below ALPHA. n: the fewer seeds of the two."""

    first: dict
    second: dict
    measure: str
    p_value: float
    differ: bool
    n: int


def rank(a: dict, b: dict, measure: str = "time_to_target") -> Ranking:
    """a and b (over_seeds rows) on `measure`: the one with the lower median first (ties: a)."""
    first, second = (b, a) if b[measure].median < a[measure].median else (a, b)
    p = mann_whitney_p(first["per_seed"][measure], second["per_seed"][measure])
    return Ranking(first, second, measure, p, p < ALPHA, min(len(a["seeds"]), len(b["seeds"])))


def fastest_two(rows: Sequence[dict], measure: str = "time_to_target") -> Ranking | None:
    """The two configurations with the lowest medians of `measure` (reached by the median seed), ranked;
    None when fewer than one reaches it at the median or there is only one configuration."""
    ordered = sorted(rows, key=lambda r: r[measure].median)
    if len(ordered) < 2 or not math.isfinite(ordered[0][measure].median):
        return None
    return rank(ordered[0], ordered[1], measure)
