"""The report's figures (matplotlib): cost, speed-up, fit, % of peak, first call and memory against batch
size, a set per thread count, and validation accuracy against training seconds."""

from __future__ import annotations

import math
from pathlib import Path

from rnnbench.report.derived import rows_where
from rnnbench.report.formatting import MB, call_name, fmt_num
from rnnbench.report.plot_layout import call_line, each_call, finish, grid, log_axes, save, shape_panels


def draw_figures(
    plt, colors, folder: Path, step, fit, acc, best_peak: dict, target, floor=None
) -> list[tuple[str, Path]]:
    """Every figure the run's data allow, saved under folder: (caption, path) each; a set per thread count.
    floor: the plain-C floor points (drawn on the per-record cost plot), or None."""
    figures = []
    for threads in sorted(step.threads.unique()):
        st, ft = step[step.threads == threads], fit[fit.threads == threads]
        fl = None if floor is None else floor[floor.threads == threads]
        for caption, stem, fig in thread_figures(plt, colors, st, ft, threads, best_peak.get(threads), fl):
            figures.append((caption, save(fig, folder / f"{stem}_t{threads}.png")))
        plt.close("all")
    for threads in sorted(acc.threads.unique()):
        fig = accuracy(plt, colors, acc[acc.threads == threads], threads, target)
        figures.append(("accuracy vs time", save(fig, folder / f"accuracy_vs_time_t{threads}.png")))
    plt.close("all")
    return figures


def thread_figures(plt, colors, step, fit, threads, peak: float | None, floor=None):
    """(caption, file stem, figure) for each sweep figure of one thread count that its data allow."""
    yield "per-record cost", "per_record_cost", per_record_cost(plt, colors, step, threads, floor)
    yield "speed-up over B=1", "speedup", speedup(plt, colors, step, threads)
    if len(fit[fit.kind == "step"]):
        yield "overhead vs marginal", "overhead_marginal", overhead_marginal(plt, colors, fit, threads)
        yield "fit", "step_time_fit", step_time_fit(plt, colors, step, fit, threads)
    if step.pct_of_peak.notna().any():
        yield "% of peak", "pct_of_peak", pct_of_peak(plt, colors, step, threads, peak)
    yield "first call", "first_call", first_call(plt, colors, step, threads)
    if "step_peak_bytes" in step and step.step_peak_bytes.notna().any():
        yield "memory", "memory", memory(plt, colors, step, threads)


def per_record_cost(plt, colors, step, threads, floor=None):
    """Median per-record cost (and its IQR band) against B, log-log; epoch points dashed; the plain-C
    floor of the same shapes (black, dotted) where the run measured it."""

    def draw(ax, rows, H, T):
        for impl, kind, g in each_call(rows):
            lo = (g.q1_s / g.records_per_call) * 1e6
            hi = (g.q3_s / g.records_per_call) * 1e6
            call_line(ax, colors, impl, kind, g.batch, g.per_record_median_s * 1e6)
            ax.fill_between(g.batch, lo, hi, color=colors[impl], alpha=0.2, lw=0)
        c = None if floor is None else rows_where(floor, hidden=H, seq_len=T).sort_values("batch")
        if c is not None and len(c):
            y = c.per_record_median_s * 1e6
            ax.plot(c.batch, y, ":", marker="x", ms=4, color="black", label="plain C floor (1 thread, no framework)")

    title = f"Per-record cost of a training step vs batch size (threads={threads})"
    return shape_panels(plt, step, title, "batch size B (records per step)", "µs per record (median, IQR band)", draw)


def speedup(plt, colors, step, threads):
    """Per-record cost at B=1 divided by per-record cost at B (same implementation and kind)."""

    def draw(ax, rows, H, T):
        rows = rows[rows.kind == "step"]
        for impl, _, g in each_call(rows):
            base = g[g.batch == g.batch.min()].per_record_median_s.iloc[0]
            ax.plot(g.batch, base / g.per_record_median_s, marker="o", ms=3, color=colors[impl], label=impl)
        bmax = rows.batch.max() if len(rows) else 2
        ax.plot([1, bmax], [1, bmax], ":", color="grey", label="ideal (cost per step constant)")

    title = f"Speed-up per record over B=1 (threads={threads})"
    return shape_panels(plt, step, title, "batch size B", "speed-up per record vs smallest B", draw)


def overhead_marginal(plt, colors, fit, threads):
    """Fixed overhead per step against marginal cost per record (from the fit), log-log: a point per
    (implementation, H, T); the grey diagonals are constant B* = overhead / marginal."""
    import numpy as np

    fit = fit[(fit.kind == "step") & (fit.overhead_s > 0) & (fit.marginal_s > 0)]
    fig, axes = grid(
        plt, 1, 1, f"Fixed overhead per step vs marginal cost per record, from the fit (threads={threads})", 7.5, 5.2
    )
    ax = axes[0][0]
    markers = "osD^v<>ph*"
    hs = sorted(fit.hidden.unique())
    for r in fit.itertuples():
        m = markers[hs.index(r.hidden) % len(markers)]
        ax.plot(r.marginal_s * 1e6, r.overhead_s * 1e6, m, ms=7, color=colors[r.impl], ls="none")
        ax.annotate(
            f"H={r.hidden} T={r.seq_len}",
            (r.marginal_s * 1e6, r.overhead_s * 1e6),
            fontsize=6,
            xytext=(4, 3),
            textcoords="offset points",
        )
    if len(fit):
        x = np.array([fit.marginal_s.min() * 1e6 / 3, fit.marginal_s.max() * 1e6 * 3])
        lo, hi = fit.overhead_s.min() * 1e6 / 3, fit.overhead_s.max() * 1e6 * 3
        for b_star in (1, 4, 16, 64, 256, 1024, 4096):
            y = b_star * x
            ax.plot(x, y, "-", color="grey", lw=0.6, alpha=0.6)
            a, b = max(x[0], lo / b_star), min(x[1], hi / b_star)  # the part of the line in view
            if a < b:
                xm = math.sqrt(a * b)
                ax.annotate(f"B*={b_star}", (xm, xm * b_star), fontsize=7, color="grey")
        ax.set_xlim(*x)
        ax.set_ylim(lo, hi)
    # legend entries without points: a colour per implementation, a marker per hidden size
    for impl in sorted(fit.impl.unique(), key=list(colors).index):
        ax.plot([], [], "o", color=colors[impl], label=impl)
    for k, H in enumerate(hs):
        ax.plot([], [], markers[k % len(markers)], color="black", mfc="none", label=f"H={H}")
    log_axes(ax, xbase=10)
    finish(ax, None, "marginal cost: µs per record", "fixed overhead: µs per step")
    return fig


def step_time_fit(plt, colors, step, fit, threads):
    """Measured median time per step against B with the fitted line, log-log."""
    import numpy as np

    def draw(ax, rows, H, T):
        for impl, _, g in each_call(rows):
            ax.plot(g.batch, g.median_s * 1e3, "o", ms=4, color=colors[impl], label=impl)
            f = rows_where(fit, impl=impl, hidden=H, seq_len=T, kind="step")
            if len(f) and math.isfinite(f.overhead_s.iloc[0]):
                b = np.geomspace(g.batch.min(), g.batch.max(), 50)
                y = (f.overhead_s.iloc[0] + b * f.marginal_s.iloc[0]) * 1e3
                ax.plot(b, y, "-", color=colors[impl], alpha=0.7)

    title = f"Time per step: measured medians and the fit (threads={threads})"
    panel_title = "H={H}, T={T} (points: medians; lines: fit)"
    return shape_panels(plt, step[step.kind == "step"], title, "batch size B", "ms per step", draw, panel_title)


def pct_of_peak(plt, colors, step, threads, peak: float | None):
    """Model GFLOP/s of each point as % of the matmul peak measured with the same thread count."""

    def draw(ax, rows, H, T):
        for impl, kind, g in each_call(rows):
            call_line(ax, colors, impl, kind, g.batch, g.pct_of_peak.astype(float))

    title = f"Model GFLOP/s as % of this machine's float32 matmul peak ({fmt_num(peak)} GFLOP/s, threads={threads})"
    return shape_panels(plt, step, title, "batch size B", "% of peak", draw)


def first_call(plt, colors, step, threads):
    """First call of a fresh model (tracing, compilation, lazy setup) against the steady median."""

    def draw(ax, rows, H, T):
        for impl, kind, g in each_call(rows):
            label = f"{impl} {call_name(kind)}"
            marker = "s" if kind == "epoch" else "o"
            ax.plot(g.batch, g.first_call_s * 1e3, "-", marker=marker, ms=3, color=colors[impl], label=label)
            ax.plot(g.batch, g.median_s * 1e3, ":", marker=marker, ms=2, color=colors[impl])

    title = f"First call (solid) vs steady-state call (dotted), per point (threads={threads})"
    return shape_panels(plt, step, title, "batch size B", "ms per call", draw)


def memory(plt, colors, step, threads):
    """Memory against B, log-log, a panel per (H, T): per implementation, the peak one train_step held
    beyond what was allocated before it (as its framework accounts it), and the BPTT cache formula
    4 (2T + 1) B H bytes (black, dashed)."""
    import numpy as np

    from rnnbench import costmodel

    def draw(ax, rows, H, T):
        for impl, kind, g in each_call(rows[rows.step_peak_bytes.notna()]):
            call_line(ax, colors, impl, kind, g.batch, g.step_peak_bytes.astype(float) / MB)
        if len(rows):
            b = np.geomspace(rows.batch.min(), rows.batch.max(), 50)
            cache = np.array([costmodel.bptt_cache_bytes(int(H), int(T), x) for x in b]) / MB
            ax.plot(b, cache, "--", color="black", lw=1.2, label="BPTT cache 4(2T+1)BH bytes")

    title = f"Peak memory of one training step vs batch size (threads={threads}), beside the BPTT cache formula"
    return shape_panels(plt, step[step.kind == "step"], title, "batch size B", "MB (10^6 bytes)", draw)


def accuracy(plt, colors, acc, threads, target: float | None):
    """Validation accuracy against training seconds (log scale, shared by the panels): a row per
    implementation, a line per B; left the wall clock with compilation included (train_seconds),
    right the steady state (train_seconds - compile_seconds). The evaluation before any training
    (0 s) is left off the log axis."""
    from matplotlib.ticker import NullFormatter

    names = sorted(acc.impl.unique(), key=list(colors).index)
    clocks = (
        ("train_seconds", "wall clock, compilation included", "training seconds, compilation included (log)"),
        ("steady_seconds", "steady state, compilation excluded", "training seconds - compile seconds (log)"),
    )
    title = f"Validation accuracy vs training seconds, evaluation excluded (threads={threads})"
    fig, axes = grid(plt, len(names), 2, title, 5.2, 3.6)
    batches = sorted(acc.batch.unique())
    cmap = plt.get_cmap("viridis")
    shade = {b: cmap(k / max(1, len(batches) - 1) * 0.85) for k, b in enumerate(batches)}
    xs = [x for col, *_ in clocks for x in acc[col] if x > 0]
    lo, hi = (min(xs) / 1.5, max(xs) * 1.5) if xs else (0.1, 10)
    for k, impl in enumerate(names):
        for c, (col, what, xlabel) in enumerate(clocks):
            ax = axes[k][c]
            timed = acc[(acc.impl == impl) & (acc[col] > 0)]
            for b, g in timed.groupby("batch", sort=True):
                g = g.sort_values(col)
                label = f"B={b}, lr={g.lr.iloc[0]:.3g}"
                ax.plot(g[col], g.val_accuracy, marker="o", ms=3, color=shade[b], label=label)
            if target is not None:
                ax.axhline(target, ls="--", color="grey", lw=1, label=f"target {target:.3f}")
            log_axes(ax, y=False, xbase=10)
            if hi / lo > 300:  # over two and a half decades the 2 and 5 labels would run together
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlim(lo, hi)
            finish(ax, f"{impl}: {what}", xlabel, "validation accuracy")
    return fig
