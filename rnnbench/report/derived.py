"""Figures the report derives from the frames: per configuration, per training run, per thread count,
and the order in which implementations are listed."""

from __future__ import annotations

from rnnbench import results

CONFIG = ["impl", "threads", "hidden", "seq_len"]  # the points of one configuration differ only in B (and kind)
MEMORY_GROWTH_LIMIT = 4.0  # a step peak rising more than this many times the cache's rise grows beyond it


def rows_where(frame, **equal):
    """The rows of frame whose columns equal the given values, e.g. rows_where(step, hidden=64, kind="step")."""
    mask = True
    for column, value in equal.items():
        mask = mask & (frame[column] == value)
    return frame[mask]


def config_fields(impl, threads, H, T) -> dict:
    """The leading columns of a per-configuration row: impl, threads, H, T."""
    return {"impl": impl, "threads": int(threads), "H": int(H), "T": int(T)}


def thread_counts(frame) -> list[int]:
    """The thread counts a frame holds, fewest first."""
    return sorted(int(t) for t in frame.threads.unique())


def impl_order(names) -> list[str]:
    """Registry order, then any other name alphabetically: the order of colours, legends and tables."""
    import impls

    return list(impls.IMPLS) + sorted(set(names) - set(impls.IMPLS))


def impl_kinds(frame) -> list[tuple[str, str]]:
    """(implementation, kind) pairs of a summary frame: registry order, step before epoch."""
    pairs = {(str(i), str(k)) for i, k in zip(frame.impl, frame.kind, strict=True)}
    order = {name: n for n, name in enumerate(impl_order({i for i, _ in pairs}))}
    return sorted(pairs, key=lambda p: (order[p[0]], p[1] != "step"))


def best_peak_by_threads(peak) -> dict[int, float]:
    """The best matmul GFLOP/s measured with each thread count: the denominator of % of peak."""
    return {int(t): float(g.gflops.max()) for t, g in peak.groupby("threads")} if len(peak) else {}


def check_counts(summary) -> tuple[int, int, int]:
    """(failed, flagged, all) sweep points."""
    statuses = summary.status.value_counts().to_dict() if len(summary) else {}
    return int(statuses.get("failed", 0)), int(statuses.get("flagged", 0)), len(summary)


def headline_rows(step) -> list[dict]:
    """Per (impl, threads, H, T): per-record cost at the smallest B, the best B and its cost."""
    rows = []
    step = step[step.kind == "step"]
    for (impl, threads, H, T), g in step.groupby(CONFIG, sort=True):
        g = g.sort_values("batch")
        small = g.iloc[0]
        best = g.loc[g.per_record_median_s.idxmin()]
        rows.append(
            config_fields(impl, threads, H, T)
            | {
                "B_min": int(small.batch),
                "per_record_at_B_min": small.per_record_median_s,
                "first_call_at_B_min": small.first_call_s,
                "best_B": int(best.batch),
                "per_record_at_best": best.per_record_median_s,
                "speedup": small.per_record_median_s / best.per_record_median_s,
                "best_pct_peak": float(g.pct_of_peak.astype(float).max()) if g.pct_of_peak.notna().any() else None,
            }
        )
    return rows


def accuracy_target(acc, target: float | None, target_fraction: float) -> tuple[float | None, float | None]:
    """(target, best validation accuracy of the run): the target given, else target_fraction x the best."""
    best_acc = float(acc.val_accuracy.max()) if len(acc) else None
    if target is None and best_acc is not None:
        target = target_fraction * best_acc
    return target, best_acc


def accuracy_rows(acc, target: float | None) -> list[dict]:
    """Per training run (impl, threads, B): its settings, accuracy, speed and time to target on both clocks."""
    rows = []
    for (impl, threads, b), g in acc.groupby(["impl", "threads", "batch"], sort=True):
        evals = g.to_dict("records")
        steady_evals = [e | {"train_seconds": e["steady_seconds"]} for e in evals]
        last = g.loc[g.train_seconds.idxmax()]
        rows.append(
            {
                "impl": impl,
                "threads": int(threads),
                "batch": int(b),
                "lr": float(g.lr.iloc[0]),
                "epochs": int(g.epochs.iloc[0]),
                "best_val_accuracy": float(g.val_accuracy.max()),
                "final_val_accuracy": float(last.val_accuracy),
                "train_seconds": float(last.train_seconds),
                "compile_seconds": float(last.compile_seconds),
                "records_per_second": float(last.records_seen) / float(last.train_seconds)
                if last.train_seconds > 0
                else None,
                "time_to_target": results.time_to_target(evals, target),
                "time_to_target_steady": results.time_to_target(steady_evals, target),
            }
        )
    return rows


def per_record_costs(step) -> dict[tuple[str, str, int, int, int, int], float]:
    """Per-record median of every point, keyed by (impl, kind, threads, H, T, B): for looking points up."""
    return {
        (str(r.impl), str(r.kind), int(r.threads), int(r.hidden), int(r.seq_len), int(r.batch)): float(
            r.per_record_median_s
        )
        for r in step.itertuples()
    }


def memory_growth(step) -> list[dict]:
    """Per train_step configuration with a step peak measured at two batch sizes or more: the peak and the
    BPTT cache formula at the smallest and the largest B, and the peak's rise over the cache's rise (a
    small constant: memory grows as the cache; more: something else grows with B)."""
    if "step_peak_bytes" not in step:
        return []
    measured = step[(step.kind == "step") & step.step_peak_bytes.notna()]
    order = impl_order(measured.impl.unique())
    out = []
    groups = sorted(measured.groupby(CONFIG, sort=True), key=lambda x: (order.index(x[0][0]), *x[0][1:]))
    for (impl, threads, H, T), g in groups:
        g = g.sort_values("batch")
        if len(g) < 2:
            continue
        first, last = g.iloc[0], g.iloc[-1]
        cache_rise = float(last.model_cache_bytes - first.model_cache_bytes)
        peak_rise = float(last.step_peak_bytes - first.step_peak_bytes)
        out.append(
            config_fields(impl, threads, H, T)
            | {
                "B_first": int(first.batch),
                "B_last": int(last.batch),
                "cache_first": float(first.model_cache_bytes),
                "cache_last": float(last.model_cache_bytes),
                "peak_first": float(first.step_peak_bytes),
                "peak_last": float(last.step_peak_bytes),
                "rise_ratio": peak_rise / cache_rise if cache_rise > 0 else float("nan"),
                "method": str(last.step_memory_method),
            }
        )
    return out
