"""The report's plain sentences: what the figures say, every number in them taken from the run's data."""

from __future__ import annotations

import math

from rnnbench.report.derived import CONFIG, MEMORY_GROWTH_LIMIT, memory_growth, rows_where
from rnnbench.report.formatting import call_label, call_name, fmt_time

POOR_FIT = 0.25  # a fit whose worst relative error exceeds this gets a caveat in the report


def findings(step, fit, headline, acc_rows, target, best_peak, checks, floor=None) -> list[str]:
    """Plain statements derived from the data, in the order the report gives them."""
    steps = step[step.kind == "step"]
    return [
        *shape_findings(steps, fit, headline),
        *floor_findings(step, floor),
        *efficiency_findings(step, best_peak),
        *first_call_findings(step),
        *fused_epoch_findings(step[step.kind == "epoch"], steps),
        *memory_findings(memory_growth(step)),
        *accuracy_findings(acc_rows, target),
        checks_finding(*checks),
    ]


def shape_findings(steps, fit, headline) -> list[str]:
    """Per (threads, H, T) of the train_step points: the spread at the smallest B, the lowest cost, the
    share of fixed overhead and where the fit is poor."""
    out = []
    for (threads, H, T), g in steps.groupby(["threads", "hidden", "seq_len"], sort=True):
        tag = f"H={H}, T={T}, threads={threads}"
        f = rows_where(fit, threads=threads, hidden=H, seq_len=T, kind="step")
        out += _spread_at_smallest_batch(g, tag)
        out += _lowest_cost(g, [r for r in headline if (r["threads"], r["H"], r["T"]) == (threads, H, T)], tag)
        out += _overhead_shares(f, tag)
        out += _poor_fits(f, tag)
    return out


def _spread_at_smallest_batch(g, tag: str) -> list[str]:
    small_b = g.batch.min()
    at1 = g[g.batch == small_b].sort_values("per_record_median_s")
    if len(at1) < 2:
        return []
    fast, slow = at1.iloc[0], at1.iloc[-1]
    return [
        (
            f"At B={small_b} ({tag}) the cheapest step is {fast.impl}'s, {fmt_time(fast.per_record_median_s)} "
            f"per record; the dearest, {slow.impl}'s, costs {slow.per_record_median_s / fast.per_record_median_s:.1f}"
            f"x as much ({fmt_time(slow.per_record_median_s)})."
        )
    ]


def _lowest_cost(g, headline: list[dict], tag: str) -> list[str]:
    """The cheapest point of a shape, against its own implementation's cost at the smallest B."""
    best = g.loc[g.per_record_median_s.idxmin()]
    h = [r for r in headline if r["impl"] == best.impl]
    if not h:
        return []
    return [
        (
            f"The lowest per-record cost ({tag}) is {fmt_time(best.per_record_median_s)}, {best.impl} at "
            f"B={best.batch}: {h[0]['speedup']:.1f}x less than its own cost at B={h[0]['B_min']}."
        )
    ]


def _overhead_shares(f, tag: str) -> list[str]:
    clauses = []
    for r in f.sort_values("impl").itertuples():
        if math.isfinite(r.overhead_s) and math.isfinite(r.marginal_s) and r.overhead_s > 0 and r.marginal_s > 0:
            share = r.overhead_s / (r.overhead_s + r.marginal_s)
            clauses.append(
                f"{r.impl} {100 * share:.0f}% ({fmt_time(r.overhead_s)} + B x {fmt_time(r.marginal_s)}; "
                f"B* = {r.crossover_batch:.0f})"
            )
    if not clauses:
        return []
    return [
        (
            f"Share of a B=1 step that is fixed overhead, from the fit ({tag}): "
            + "; ".join(clauses)
            + ". Past B*, the work on the records costs more than the overhead."
        )
    ]


def _poor_fits(f, tag: str) -> list[str]:
    poor = f[f.max_rel_residual > POOR_FIT]
    if not len(poor):
        return []
    worst = ", ".join(f"{r.impl} {100 * r.max_rel_residual:.0f}%" for r in poor.sort_values("impl").itertuples())
    return [
        (
            f"The straight line overhead + B x marginal describes some implementations poorly ({tag}; worst "
            f"error {worst}): their cost does not grow linearly in B (see the fit plot), so read their B* "
            "as rough."
        )
    ]


def floor_findings(step, floor) -> list[str]:
    """Per (threads, H, T) where the run measured the plain-C floor: each call's per-record cost over the
    floor's, at the smallest and the largest B both measured."""
    if floor is None or not len(floor):
        return []
    out = []
    for (threads, H, T), c in floor.groupby(["threads", "hidden", "seq_len"], sort=True):
        g = rows_where(step, threads=threads, hidden=H, seq_len=T)
        batches = sorted(set(c.batch) & set(g.batch))
        if not batches:
            continue
        parts, floors = [], []
        for B in dict.fromkeys((batches[0], batches[-1])):
            base = float(c[c.batch == B].per_record_median_s.iloc[0])
            at = g[g.batch == B].sort_values("per_record_median_s")
            ratios = ", ".join(
                f"{call_label(r.impl, r.kind)} {r.per_record_median_s / base:.1f}x" for r in at.itertuples()
            )
            parts.append(f"at B={B} {ratios}")
            floors.append(f"{fmt_time(base)} per record at B={B}")
        out.append(
            f"Against the plain-C floor measured in this run (H={H}, T={T}, threads={threads} session; the C step "
            f"runs on one thread: {' and '.join(floors)}): {'; '.join(parts)}."
        )
    return out


def efficiency_findings(step, best_peak: dict[int, float]) -> list[str]:
    """The highest % of the matmul peak of any point, and the highest at the smallest B, each against
    the peak measured with the point's own thread count."""
    valid = step[step.pct_of_peak.notna()]
    if not best_peak or not len(valid):
        return []
    top = valid.loc[valid.pct_of_peak.astype(float).idxmax()]
    at1 = valid[valid.batch == valid.batch.min()]
    top1 = at1.loc[at1.pct_of_peak.astype(float).idxmax()]
    peak = best_peak.get(int(top.threads))
    peak_text = f" ({peak:.1f} GFLOP/s with {int(top.threads)} thread(s))" if peak else ""
    return [
        (
            f"The highest efficiency is {float(top.pct_of_peak):.1f}% of this machine's float32 matmul peak"
            f"{peak_text}: {top.impl} ({top.kind}) at H={top.hidden}, T={top.seq_len}, B={top.batch}, "
            f"threads={int(top.threads)}; at B={top1.batch} the best is {float(top1.pct_of_peak):.2f}% "
            f"({top1.impl}, threads={int(top1.threads)})."
        )
    ]


def first_call_findings(step) -> list[str]:
    """The slowest first call against its own steady-state call."""
    firsts = step.sort_values("first_call_s")
    if not len(firsts):
        return []
    worst = firsts.iloc[-1]
    return [
        (
            f"The dearest first call is {worst.impl}'s {call_name(worst.kind)} at "
            f"H={worst.hidden}, T={worst.seq_len}, B={worst.batch}: {fmt_time(worst.first_call_s)}, "
            f"{worst.first_call_s / worst.median_s:.0f}x its steady-state call ({fmt_time(worst.median_s)})."
        )
    ]


def fused_epoch_findings(epochs, steps) -> list[str]:
    """Per configuration with a fused train_epoch: its per-record cost over train_step's, lowest to highest."""
    out = []
    for (impl, threads, H, T), g in epochs.groupby(CONFIG, sort=True):
        s = rows_where(steps, impl=impl, threads=threads, hidden=H, seq_len=T)
        m = g.merge(s, on="batch", suffixes=("_e", "_s"))
        if len(m):
            r = m.per_record_median_s_e / m.per_record_median_s_s
            lo, hi = m.loc[r.idxmin()], m.loc[r.idxmax()]
            out.append(
                f"{impl}'s fused train_epoch costs {r.min():.2f}x (B={lo.batch}) to {r.max():.2f}x (B={hi.batch}) "
                f"its per-step cost per record (H={H}, T={T}, threads={threads})."
            )
    return out


def memory_findings(growth: list[dict]) -> list[str]:
    """Per thread count and shape: how much a step's peak rises per byte of BPTT cache over the B sweep,
    least and most, and whether anything beyond the cache grows with B."""
    out = []
    shapes = sorted({(r["threads"], r["H"], r["T"]) for r in growth})
    for threads, H, T in shapes:
        rows = [r for r in growth if (r["threads"], r["H"], r["T"]) == (threads, H, T)]
        rows = sorted((r for r in rows if math.isfinite(r["rise_ratio"])), key=lambda r: r["rise_ratio"])
        if not rows:
            continue
        low, high = rows[0], rows[-1]
        beyond = [r["impl"] for r in rows if r["rise_ratio"] > MEMORY_GROWTH_LIMIT]
        verdict = (
            f"more than {MEMORY_GROWTH_LIMIT:g}x for {', '.join(beyond)}: something beyond the cache grows with B"
            if beyond
            else "memory grows as B x T x H and nothing grows beyond it"
        )
        span = f"{low['B_first']} to B={low['B_last']}"
        out.append(
            f"From B={span} (H={H}, T={T}, threads={threads}) a training step's peak memory rises "
            f"{low['rise_ratio']:.2f}x ({low['impl']}) to {high['rise_ratio']:.2f}x ({high['impl']}) as much as "
            f"the BPTT cache: {verdict}."
        )
    return out


def accuracy_findings(acc_rows: list[dict], target: float | None) -> list[str]:
    """Who reaches the target accuracy first on either clock, what batching buys each implementation over
    per-record SGD, and which training runs never reach it."""
    if not acc_rows:
        return []
    out = []
    reached = [r for r in acc_rows if r["time_to_target"] is not None]
    if reached:
        first = min(reached, key=lambda r: r["time_to_target"])
        steady = min(reached, key=lambda r: r["time_to_target_steady"])
        out.append(
            f"Validation accuracy {target:.3f} is reached first by {first['impl']} with B={first['batch']} "
            f"(threads={first['threads']}), "
            f"after {first['time_to_target']:.2f} s of training (wall clock, compilation included); "
            f"with compilation left out, first is {steady['impl']} with B={steady['batch']} "
            f"(threads={steady['threads']}), after "
            f"{steady['time_to_target_steady']:.2f} s."
        )
    smallest = min(x["batch"] for x in acc_rows)
    for r in sorted((r for r in acc_rows if r["batch"] == smallest), key=lambda r: r["impl"]):
        faster = [
            x
            for x in acc_rows
            if x["impl"] == r["impl"]
            and x["threads"] == r["threads"]
            and x["batch"] != r["batch"]
            and x["time_to_target"] is not None
        ]
        if r["time_to_target"] is None or not faster:
            continue
        best = min(faster, key=lambda x: x["time_to_target"])
        ratio = r["time_to_target"] / best["time_to_target"] if best["time_to_target"] > 0 else math.inf
        out.append(
            f"{r['impl']} (threads={r['threads']}): per-record SGD (B={r['batch']}) takes "
            f"{r['time_to_target']:.2f} s to the target, "
            f"B={best['batch']} takes {best['time_to_target']:.2f} s ({ratio:.1f}x); without compilation "
            f"{r['time_to_target_steady']:.2f} s and {best['time_to_target_steady']:.2f} s."
        )
    missing = [f"{r['impl']} B={r['batch']}" for r in acc_rows if r["time_to_target"] is None]
    if missing:
        out.append(f"Never reached the target within the epochs run: {', '.join(missing)}.")
    return out


def checks_finding(failed: int, flagged: int, total: int) -> str:
    if failed or flagged:
        return (
            f"Of {total} sweep points, {failed} failed a correctness check and {flagged} had timed parts that do "
            "not add up to their loop's wall time (see Checks); failed points are left out of every figure."
        )
    return f"All {total} points passed their checks (finite, falling loss; timed parts add up to the loop)."


def peak_share_verdicts(points, best_peak: dict[int, float], where: str) -> list[str]:
    """Per thread count: whether the fastest call reaches 50% of the peak, and every call 25%."""
    out = []
    for threads, g in points.groupby("threads", sort=True):
        peak = best_peak.get(int(threads))
        pct = g.pct_of_peak.astype(float)
        if not peak or pct.isna().all():
            out.append(f"- threads={threads}: no matmul peak was measured with {threads} threads, so no % of peak.")
            continue
        fastest = g.loc[g.per_record_median_s.idxmin()]
        top = float(fastest.pct_of_peak)
        below = [
            (call_label(r.impl, r.kind), float(r.pct_of_peak)) for r in g.itertuples() if float(r.pct_of_peak) < 25
        ]
        verdict = "yes" if top >= 50 else "no"
        every = "yes" if not below else "no (below 25%: " + ", ".join(f"{name} {p:.1f}%" for name, p in below) + ")"
        out.append(
            f"- threads={threads} (peak {peak:.1f} GFLOP/s, {where}): the fastest, "
            f"{call_label(fastest.impl, fastest.kind)} at {fmt_time(fastest.per_record_median_s)} per record, "
            f"reaches {top:.1f}% of the peak. Fastest at 50% or more: {verdict}. Every implementation at 25% "
            f"or more: {every}."
        )
    return out
