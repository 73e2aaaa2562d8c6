"""The report's markdown tables, each built from the frames (or rows derived from them) alone."""

from __future__ import annotations

import math

from rnnbench.report.derived import config_fields, impl_kinds, per_record_costs
from rnnbench.report.formatting import call_label, call_name, fmt_mb, fmt_num, fmt_time, md_table, problems_text
from rnnbench.report.reference import ISSUE5_REFERENCE, reference_key


def headline_table(headline: list[dict]) -> str:
    """Per configuration: per-record cost at the smallest B, the best B, the speed-up, the best % of peak."""
    return md_table(
        [
            {
                "impl": r["impl"],
                "threads": r["threads"],
                "H": r["H"],
                "T": r["T"],
                "per record at B=min": f"{fmt_time(r['per_record_at_B_min'])} (B={r['B_min']})",
                "best B": r["best_B"],
                "per record at best B": fmt_time(r["per_record_at_best"]),
                "speed-up": f"{r['speedup']:.1f}x",
                "best % of peak": fmt_num(r["best_pct_peak"], ".2f"),
            }
            for r in headline
        ]
    )


def threads_table(step, counts: list[int]) -> str:
    """Per call and shape, the per-record median at the smallest and the largest B, a column per thread
    count, and each thread count's cost over the fewest threads' cost."""
    base = counts[0]
    cost = per_record_costs(step)
    rows = []
    for impl, kind in impl_kinds(step):
        calls = step[(step.impl == impl) & (step.kind == kind)]
        for (H, T), g in calls.groupby(["hidden", "seq_len"], sort=True):
            for B in sorted({int(g.batch.min()), int(g.batch.max())}):
                at = {t: cost[key] for t in counts if (key := (impl, kind, t, int(H), int(T), B)) in cost}
                row = {"impl": call_label(impl, kind), "H": int(H), "T": int(T), "B": B}
                for t in counts:
                    row[f"threads={t}"] = fmt_time(at.get(t))
                for t in counts[1:]:
                    ok = t in at and base in at and at[base] > 0
                    row[f"t{t}/t{base}"] = f"{at[t] / at[base]:.2f}" if ok else "-"
                rows.append(row)
    return md_table(rows)


def fit_table(fit) -> str:
    """The fit time_per_step(B) = overhead + B x marginal of every configuration, with its worst error."""
    return md_table(
        [
            {
                "impl": r.impl,
                "kind": r.kind,
                "threads": int(r.threads),
                "H": int(r.hidden),
                "T": int(r.seq_len),
                "overhead per step": fmt_time(r.overhead_s),
                "marginal per record": fmt_time(r.marginal_s),
                "B*": fmt_num(r.crossover_batch, ".1f"),
                "overhead share at B=1": f"{100 * r.overhead_s / (r.overhead_s + r.marginal_s):.0f}%"
                if r.overhead_s > 0 and r.marginal_s > 0
                else "-",
                "worst fit error": f"{100 * r.max_rel_residual:.0f}%" if math.isfinite(r.max_rel_residual) else "-",
                "B range": f"{int(r.batch_min)}-{int(r.batch_max)}",
            }
            for r in fit.itertuples()
        ]
    )


def peak_samples_table(peak) -> str:
    """The best matmul sample per (threads, library, n): where the peak GFLOP/s comes from."""
    best = peak.sort_values("gflops", ascending=False).groupby(["threads", "library", "n"], sort=True).head(1)
    return md_table(
        [
            {
                "threads": int(r.threads),
                "library": r.library,
                "n": int(r.n),
                "best GFLOP/s": f"{r.gflops:.1f}",
                "max rel. error": f"{r.max_rel_error:.1e}",
            }
            for r in best.sort_values(["threads", "library", "n"]).itertuples()
        ]
    )


def floor_costs(floor) -> dict[tuple[int, int, int, int], float]:
    """(threads, H, T, B) -> the plain-C floor's per-record median, from the run's floor points."""
    if floor is None or not len(floor):
        return {}
    return {
        (int(r.threads), int(r.hidden), int(r.seq_len), int(r.batch)): float(r.per_record_median_s)
        for r in floor.itertuples()
    }


def reference_floor_table(floor=None) -> str:
    """Per (H, B): the issue's floor, the plain-C floor measured in this run (per thread setting of the
    session it ran in; the C program itself runs on one thread), and the issue's best-seen figure."""
    T = ISSUE5_REFERENCE["seq_len"]
    cost = floor_costs(floor)
    counts = sorted({k[0] for k in cost})
    rows = []
    for (H, B), c in ISSUE5_REFERENCE["figures"].items():
        row = {"H": H, "B": B, "floor (issue, outside rnnbench)": c["floor"][2]}
        row |= {f"plain C floor, this run (session t{t})": fmt_time(cost.get((t, H, T, B))) for t in counts}
        rows.append(row | {"best seen (issue)": c["best"][2]})
    return md_table(rows)


def reference_comparison_table(step, pairs: list[tuple[str, str]], counts: list[int], floor=None) -> tuple[str, bool]:
    """Per issue configuration and call, our per-record median per thread count beside the issue's figure,
    ours over the top of its range, and ours over the plain-C floor this run measured (where it did);
    with whether this run measured any of those configurations."""
    T = ISSUE5_REFERENCE["seq_len"]
    cost, floor_cost = per_record_costs(step), floor_costs(floor)
    rows, measured = [], False
    for (H, B), config in ISSUE5_REFERENCE["figures"].items():
        for impl, kind in pairs:
            key = reference_key(config, impl, kind)
            hi = config[key][1] if key else None
            ours = {t: cost.get((impl, kind, t, H, T, B)) for t in counts}
            measured = measured or any(x is not None for x in ours.values())
            row = {"H": H, "B": B, "impl": call_label(impl, kind)}
            row |= {f"ours, threads={t}": fmt_time(x) for t, x in ours.items()}
            row["issue #5 figure (outside rnnbench)"] = config[key][2] if key else "(no comparable figure)"
            row |= {f"ours / issue (t{t})": f"{x / hi:.2f}" if x is not None and hi else "-" for t, x in ours.items()}
            if floor_cost:
                for t, x in ours.items():
                    c = floor_cost.get((t, H, T, B))
                    row[f"ours / C floor (t{t})"] = f"{x / c:.1f}" if x is not None and c else "-"
            rows.append(row)
    return md_table(rows), measured


def peak_share_table(points, best_peak: dict[int, float]) -> str:
    """Each point's GFLOP/s beside the peak of its thread count, fastest first within a thread count."""
    return md_table(
        [
            {
                "impl": call_label(r.impl, r.kind),
                "threads": int(r.threads),
                "per record": fmt_time(r.per_record_median_s),
                "GFLOP/s": fmt_num(r.gflops, ".3g"),
                "peak GFLOP/s (same threads)": fmt_num(best_peak.get(int(r.threads)), ".3g"),
                "% of peak": fmt_num(None if r.pct_of_peak is None else float(r.pct_of_peak), ".1f"),
            }
            for r in points.sort_values(["threads", "per_record_median_s"]).itertuples()
        ]
    )


def first_call_table(step) -> str:
    """At the smallest B, each call's first (tracing, compiling) call beside its steady one."""
    return md_table(
        [
            {
                "impl": r.impl,
                "call": call_name(r.kind),
                "threads": int(r.threads),
                "H": int(r.hidden),
                "T": int(r.seq_len),
                "B": int(r.batch),
                "first call": fmt_time(r.first_call_s),
                "steady call": fmt_time(r.median_s),
                "ratio": f"{r.first_call_s / r.median_s:.0f}x",
            }
            for r in step[step.batch == step.batch.min()].itertuples()
        ]
    )


def memory_growth_table(growth: list[dict]) -> str:
    """Per configuration: the step's peak and the cache formula at the smallest and largest B, and the
    peak's rise over the cache's rise."""
    return md_table(
        [
            config_fields(r["impl"], r["threads"], r["H"], r["T"])
            | {
                "B": f"{r['B_first']} -> {r['B_last']}",
                "cache MB (formula)": f"{fmt_mb(r['cache_first'])} -> {fmt_mb(r['cache_last'])}",
                "step peak MB": f"{fmt_mb(r['peak_first'])} -> {fmt_mb(r['peak_last'])}",
                "peak rise / cache rise": fmt_num(r["rise_ratio"], ".2f"),
                "peak / cache at the largest B": fmt_num(r["peak_last"] / r["cache_last"], ".2f"),
            }
            for r in growth
        ]
    )


def memory_points_table(points) -> str:
    """Every train_step point of one implementation: the cache formula, the step's measured peak, the one
    over the other, and the process's resident-set high-water mark."""
    return md_table(
        [
            {
                "threads": int(r.threads),
                "H": int(r.hidden),
                "T": int(r.seq_len),
                "B": int(r.batch),
                "cache MB (formula)": fmt_mb(r.model_cache_bytes),
                "step peak MB": fmt_mb(r.step_peak_bytes),
                "step peak / cache": fmt_num(r.step_peak_bytes / r.model_cache_bytes, ".2f"),
                "process RSS high-water MB": fmt_mb(r.peak_rss_bytes),
            }
            for r in points.sort_values(["threads", "hidden", "seq_len", "batch"]).itertuples()
        ]
    )


def _seconds_or_not_reached(seconds: float | None) -> str:
    return "not reached" if seconds is None else f"{seconds:.2f} s"


def accuracy_table(acc_rows: list[dict]) -> str:
    """Per training run: settings, accuracy, speed, and time to target on both clocks."""
    return md_table(
        [
            {
                "impl": r["impl"],
                "threads": r["threads"],
                "batch": r["batch"],
                "lr": f"{r['lr']:.3g}",
                "epochs": r["epochs"],
                "best_val_accuracy": f"{r['best_val_accuracy']:.3f}",
                "final_val_accuracy": f"{r['final_val_accuracy']:.3f}",
                "train_seconds": f"{r['train_seconds']:.2f}",
                "compile_seconds": f"{r['compile_seconds']:.2f}",
                "records_per_second": fmt_num(r["records_per_second"], ".0f"),
                "time_to_target": _seconds_or_not_reached(r["time_to_target"]),
                "time_to_target excl. compile": _seconds_or_not_reached(r["time_to_target_steady"]),
            }
            for r in acc_rows
        ]
    )


def checks_table(bad) -> str:
    """The points that did not pass, with what was wrong."""
    return md_table(
        [{"point": r.point_id, "status": r.status, "problems": problems_text(r.problems)} for r in bad.itertuples()]
    )
