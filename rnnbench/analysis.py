"""Figures derived from a run's tables, computed once: the report, compare and fit.csv read them here.

    enrich(summary, peak, baseline)   each step/epoch row with its machine's matmul peak at its thread
                                      count, % of that peak, and its ratio to the C baseline's cost at
                                      the same shape (of the same machine)
    fits(summary)                     time_per_step(B) = overhead + B x marginal per configuration
    memory_growth(summary)            a step's peak memory rise against the BPTT cache's rise
    time_to_target(evals, target)     training seconds to a validation accuracy

Plain Python and NumPy over lists of row dicts (rnnbench.records columns): no pandas needed.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from rnnbench import records, results
from rnnbench.costmodel import fit_overhead_marginal

CONFIG = ("machine", "impl", "device", "threads", "hidden", "seq_len", "kind")  # a configuration: all but B
MEMORY_GROWTH_LIMIT = 4.0  # a step peak rising more than this many times the cache's rise grows beyond it


def _f(x) -> float:
    """A CSV or JSON value as a float (NaN when empty)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def usable(rows: Iterable[dict]) -> list[dict]:
    """Rows whose point did not fail its checks (failed points are left out of every figure)."""
    return [r for r in rows if r.get("status") != "failed"]


def peaks(peak_rows: Iterable[dict]) -> dict[tuple[str, int], float]:
    """(machine, threads) -> the best matmul GFLOP/s measured there: the denominator of % of peak."""
    best: dict[tuple[str, int], float] = {}
    for r in peak_rows:
        key = (str(r["machine"]), int(r["threads"]))
        best[key] = max(best.get(key, 0.0), _f(r["gflops"]))
    return best


def baselines(baseline_rows: Iterable[dict]) -> dict[tuple[str, int, int, int, int], float]:
    """(machine, threads, H, T, B) -> the C baseline's median per-record seconds there (the median over
    shards when several shards of one machine measured the same shape)."""
    found: dict[tuple, list[float]] = defaultdict(list)
    for r in usable(baseline_rows):
        key = (str(r["machine"]), int(r["threads"]), int(r["hidden"]), int(r["seq_len"]), int(r["batch"]))
        found[key].append(_f(r["per_record_median_s"]))
    return {k: statistics.median(v) for k, v in found.items()}


def enrich(summary: Iterable[dict], peak_rows: Iterable[dict], baseline_rows: Iterable[dict]) -> list[dict]:
    """The usable summary rows, each with peak_gflops, pct_of_peak and x_baseline (per-record cost over
    the C baseline's at the same machine, threads and shape; None where either is missing)."""
    best, base = peaks(peak_rows), baselines(baseline_rows)
    out = []
    for r in usable(summary):
        machine, threads = str(r["machine"]), int(r["threads"])
        peak = best.get((machine, threads))
        gflops = _f(r.get("gflops"))
        c = base.get((machine, threads, int(r["hidden"]), int(r["seq_len"]), int(r["batch"])))
        per_record = _f(r["per_record_median_s"])
        out.append(
            r
            | {
                "peak_gflops": peak,
                "pct_of_peak": 100.0 * gflops / peak if peak and math.isfinite(gflops) else None,
                "x_baseline": per_record / c if c and math.isfinite(per_record) else None,
            }
        )
    return out


def config_key(r: dict) -> tuple:
    return tuple(str(r[k]) if k in ("machine", "impl", "device", "kind") else int(r[k]) for k in CONFIG)


def fits(summary: Iterable[dict]) -> list[dict]:
    """The cost-model fit (rnnbench.records.Fit rows) for every configuration with >= 2 batch sizes."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in usable(summary):
        groups[config_key(r)].append(r)
    out = []
    for key, rows in sorted(groups.items()):
        batch = [int(r["batch"]) for r in rows]
        # an epoch call covers many steps: fit the time per step, median_s / steps per call
        per_step = [_f(r["median_s"]) * int(r["batch"]) / _f(r["records_per_call"]) for r in rows]
        fit = fit_overhead_marginal(batch, per_step)
        out.append(
            records.row(
                records.Fit(
                    rows[0].get("run_id"),
                    *key,
                    overhead_s=fit.overhead,
                    marginal_s=fit.marginal,
                    crossover_batch=fit.crossover,
                    max_rel_residual=fit.max_rel_residual,
                    n_points=fit.n,
                    batch_min=min(batch),
                    batch_max=max(batch),
                )
            )
        )
    return out


def memory_growth(summary: Iterable[dict]) -> list[dict]:
    """Per train_step configuration with a step peak measured at two batch sizes or more: the peak and
    the BPTT cache at the smallest and largest B, and rise_ratio = the peak's rise / the cache's rise
    (a small constant: memory grows as the cache; more than MEMORY_GROWTH_LIMIT: something else grows)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in usable(summary):
        if r["kind"] == "step" and r.get("step_peak_bytes") not in (None, ""):
            groups[config_key(r)].append(r)
    out = []
    for key, rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda r: int(r["batch"]))
        if len(rows) < 2:
            continue
        first, last = rows[0], rows[-1]
        cache_rise = _f(last["model_cache_bytes"]) - _f(first["model_cache_bytes"])
        peak_rise = _f(last["step_peak_bytes"]) - _f(first["step_peak_bytes"])
        out.append(
            dict(zip(CONFIG, key, strict=True))
            | {
                "B_first": int(first["batch"]),
                "B_last": int(last["batch"]),
                "cache_first": _f(first["model_cache_bytes"]),
                "cache_last": _f(last["model_cache_bytes"]),
                "peak_first": _f(first["step_peak_bytes"]),
                "peak_last": _f(last["step_peak_bytes"]),
                "rise_ratio": peak_rise / cache_rise if cache_rise > 0 else math.nan,
                "method": str(last.get("step_memory_method")),
            }
        )
    return out


def time_to_target(evals: Sequence[dict], target: float, clock: str = "train_seconds") -> float | None:
    """Seconds (on `clock`) at the first evaluation whose val_accuracy reaches target (None if none
    does). The resolution is that of the evaluation schedule."""
    for r in sorted(evals, key=lambda r: _f(r[clock])):
        if _f(r["val_accuracy"]) >= target:
            return _f(r[clock])
    return None


def write_fit(run_dir: str | Path, summary: Sequence[dict] | None = None) -> Path:
    """fit.csv of a run, from its summary rows (default: read from its points)."""
    summary = results.tables(run_dir)["summary"] if summary is None else summary
    return results.write_table(run_dir, "fit", fits(summary))
