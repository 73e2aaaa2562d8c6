"""The report's figures (matplotlib, imported here only); a figure whose data the run lacks is not drawn.

per_record_cost     per-record cost against B, the C baseline dotted in black   } a panel per
pct_of_peak         % of the machine's matmul peak against B                    } (machine, threads)
memory              a step's peak memory against B, the BPTT cache dashed       } and shape
overhead_marginal   each fit's fixed overhead per step against its marginal cost per record
accuracy            validation accuracy against training seconds, with and without compilation
machines            per call, the best per-record cost on each machine, raw and x its C baseline
"""

from __future__ import annotations

import math
from pathlib import Path

from rnnbench.report.sections import impl_rank, label, ordered
from rnnbench.runs import analysis
from rnnbench.units import MB


def draw(run, folder: Path) -> dict[str, Path]:
    """Every figure the run's data allow, saved as folder/<name>.png; name -> path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed, nor wanted on a benchmark machine
    import matplotlib.pyplot as plt

    names = sorted(
        {c["impl"] for c in run.configs} | {a["impl"] for a in run.accuracy}, key=lambda i: (impl_rank(i), i)
    )
    colors = {name: plt.get_cmap("tab10")(k % 10) for k, name in enumerate(names)}
    out = {}
    for make in (per_record_cost, overhead_marginal, pct_of_peak, memory, accuracy, machines):
        if (fig := make(plt, run, colors)) is not None:
            path = folder / f"{make.__name__}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.tmp.png")  # renamed when whole: no reader sees half a file
            fig.savefig(tmp, dpi=100)
            out[make.__name__] = tmp.replace(path)
            plt.close(fig)
    return out


def grid(plt, n_rows: int, n_cols: int, title: str, width: float = 4.6, height: float = 3.4):
    size = (max(6.4, width * n_cols), height * n_rows + 0.6)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=size, squeeze=False, constrained_layout=True)
    fig.suptitle(title, fontsize=11)
    return fig, axes


def log_axes(ax, x: bool = True, y: bool = True, x_base: int = 2) -> None:
    """Log scales with plain tick labels (1, 2, 4 rather than 2^k; 0.1 rather than 10^-1), the minor ticks
    at 2 and 5 x a power of ten labelled so that an axis within one decade still has numbers."""
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    lead = lambda v: round(v / 10 ** math.floor(math.log10(v)), 6) if v > 0 else 0
    minor = FuncFormatter(lambda v, _: f"{v:g}" if lead(v) in (2, 5) else "")
    for on, axis, scale, base in ((x, ax.xaxis, ax.set_xscale, x_base), (y, ax.yaxis, ax.set_yscale, 10)):
        if on:
            scale("log", base=base)
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(minor)


def finish(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        unique = dict(zip(labels, handles, strict=True))  # one entry per label
        ax.legend(unique.values(), unique.keys(), fontsize=7)


def sweep_panels(plt, run, configs: list[dict], title: str, ylabel: str, draw_panel):
    """A panel per (machine, threads) (rows) and shape (columns); draw_panel(ax, configs, key) draws one,
    key = (machine, threads, H, T). None when there is nothing to draw."""
    if not configs:
        return None
    key = lambda c: (c["machine"], c["threads"], c["hidden"], c["seq_len"])
    sets = sorted({key(c)[:2] for c in configs})
    shapes = sorted({key(c)[2:] for c in configs})
    fig, axes = grid(plt, len(sets), len(shapes), title)
    for i, (machine, threads) in enumerate(sets):
        for j, (H, T) in enumerate(shapes):
            ax, here = axes[i][j], [c for c in configs if key(c) == (machine, threads, H, T)]
            ax.set_visible(bool(here))
            if here:
                draw_panel(ax, ordered(here), (machine, threads, H, T))
                log_axes(ax)
                name = f"{machine}, " if len(run.machines) > 1 else ""
                finish(ax, f"{name}threads {threads}, H={H}, T={T}", "batch size B", ylabel)
    return fig


def line(ax, colors, c: dict, y_of) -> None:
    """One configuration's points against B: its implementation's colour, dashed for a fused epoch."""
    points = [(b, y_of(p)) for b, p in sorted(c["points"].items()) if y_of(p) is not None]
    style = "--" if c["kind"] == "epoch" else "-"
    ax.plot(*zip(*points, strict=True), style, marker="o", ms=3, color=colors[c["impl"]], label=label(c))


def per_record_cost(plt, run, colors):
    baseline = analysis.usable(run.tables["baseline"])

    def panel(ax, configs, key):
        for c in configs:
            line(ax, colors, c, lambda p: p["per_record_median_s"] * 1e6)
        base = sorted((r["batch"], r["per_record_median_s"] * 1e6) for r in baseline if
                      (r["machine"], r["threads"], r["hidden"], r["seq_len"]) == key)  # fmt: skip
        if base:
            ax.plot(*zip(*base, strict=True), ":", marker="x", color="black", label="C baseline (1 thread)")

    title = "Per-record cost of a training call against batch size"
    return sweep_panels(plt, run, run.configs, title, "µs per record", panel)


def pct_of_peak(plt, run, colors):
    configs = [c for c in run.configs if any(p.get("pct_of_peak") for p in c["points"].values())]

    def panel(ax, configs, _key):
        for c in configs:
            line(ax, colors, c, lambda p: p.get("pct_of_peak"))

    title = "Model GFLOP/s as % of the machine's float32 matmul peak"
    return sweep_panels(plt, run, configs, title, "% of peak", panel)


def memory(plt, run, colors):
    peak = lambda p: None if p.get("step_peak_bytes") is None else p["step_peak_bytes"] / MB
    configs = [c for c in run.configs if c["kind"] == "step" and any(peak(p) for p in c["points"].values())]

    def panel(ax, configs, _key):
        for c in configs:
            line(ax, colors, c, peak)
        cache = sorted({(b, p["model_cache_bytes"] / MB) for c in configs for b, p in c["points"].items()})
        ax.plot(*zip(*cache, strict=True), "--", color="black", label="BPTT cache 4(2T+1)BH")

    return sweep_panels(plt, run, configs, "Peak memory of one training step against batch size", "MB", panel)


def overhead_marginal(plt, run, colors):
    """A panel per (machine, threads), a point per fit: marginal per record against overhead per step,
    log-log; the grey diagonals are constant B* = overhead / marginal."""
    fits = [f for f in run.fits if f["overhead_s"] > 0 and f["marginal_s"] > 0]
    if not fits:
        return None
    sets = sorted({(f["machine"], f["threads"]) for f in fits})
    fig, axes = grid(plt, 1, len(sets), "Fixed overhead per step against marginal cost per record (the fit)", 6, 4.6)
    for ax, (machine, threads) in zip(axes[0], sets, strict=True):
        here = ordered(f for f in fits if (f["machine"], f["threads"]) == (machine, threads))
        xs, ys = [f["marginal_s"] * 1e6 for f in here], [f["overhead_s"] * 1e6 for f in here]
        for f, x, y in zip(here, xs, ys, strict=True):
            ax.plot(x, y, "s" if f["kind"] == "epoch" else "o", color=colors[f["impl"]], label=label(f))
            ax.annotate(
                f"H={f['hidden']} T={f['seq_len']}", (x, y), fontsize=6, xytext=(4, 3), textcoords="offset points"
            )
        (x0, x1), (y0, y1) = (min(xs) / 4, max(xs) * 4), (min(ys) / 4, max(ys) * 4)
        for b_star in (1, 4, 16, 64, 256, 1024):
            ax.plot([x0, x1], [x0 * b_star, x1 * b_star], "-", color="grey", lw=0.6, alpha=0.6)
            xm = min(max(math.sqrt(x0 * x1), 1.5 * y0 / b_star), y1 / b_star / 1.5)  # on the diagonal, in view
            ax.annotate(f"B*={b_star}", (xm, xm * b_star), fontsize=7, color="grey", annotation_clip=True)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        log_axes(ax, x_base=10)
        finish(ax, f"{machine}, threads {threads}", "marginal: µs per record", "overhead: µs per step")
    return fig


def accuracy(plt, run, _colors):
    """A row per (machine, threads, implementation): validation accuracy against training seconds
    (log, one range for every panel), left with compilation, right without; a shade per B: the median
    curve over seeds, and a band from the lowest to the highest seed."""
    if not run.accuracy:
        return None
    rows = sorted(
        {(a["machine"], a["threads"], a["impl"]) for a in run.accuracy}, key=lambda k: (*k[:2], impl_rank(k[2]))
    )
    fig, axes = grid(plt, len(rows), 2, "Validation accuracy against training seconds (evaluation excluded)", 5, 2.8)
    batches = sorted({a["batch"] for a in run.accuracy})
    shade = {b: plt.get_cmap("viridis")(0.85 * k / max(1, len(batches) - 1)) for k, b in enumerate(batches)}
    clocks = (("train_seconds", "with compilation"), ("steady_seconds", "compilation excluded"))
    seconds = [e[clock] for a in run.accuracy for e in a["curve"] for clock, _ in clocks if e[clock] > 0] or [1.0]
    for i, row in enumerate(rows):
        machine, threads, impl = row
        for ax, (clock, what) in zip(axes[i], clocks, strict=True):
            for batch in batches:
                runs = [a for a in run.accuracy if (a["machine"], a["threads"], a["impl"], a["batch"]) == (*row, batch)]
                if runs:
                    seed_band(ax, runs, clock, shade[batch], f"B={batch}" + (f", {len(runs)} seeds" * (len(runs) > 1)))
            if run.target is not None:
                ax.axhline(run.target, ls="--", color="grey", lw=1, label=f"target {run.target:.3f}")
            log_axes(ax, y=False, x_base=10)
            ax.set_xlim(min(seconds) / 1.5, max(seconds) * 1.5)
            name = f"{machine}, " if len(run.machines) > 1 else ""
            finish(ax, f"{name}{impl}, threads {threads}: {what}", "training seconds", "validation accuracy")
    return fig


def seed_band(ax, runs: list[dict], clock: str, color, name: str) -> None:
    """The median over seeds of the k-th evaluation's seconds and accuracy (every seed evaluates after
    the same records), and a band between the lowest and the highest seed's accuracy there."""
    import numpy as np

    k = min(len(a["curve"]) for a in runs)
    seconds = np.array([[e[clock] for e in a["curve"][:k]] for a in runs])  # (seeds, k)
    acc = np.array([[e["val_accuracy"] for e in a["curve"][:k]] for a in runs])  # (seeds, k)
    x = np.median(seconds, axis=0)  # (k,)
    shown = x > 0  # 0 s is off a log axis
    ax.plot(x[shown], np.median(acc, axis=0)[shown], marker="o", ms=3, color=color, label=name)
    if len(runs) > 1:
        ax.fill_between(x[shown], acc.min(axis=0)[shown], acc.max(axis=0)[shown], color=color, alpha=0.2, lw=0)


def machines(plt, run, _colors):
    """Grouped bars at the tables' shape: per call, its best per-record cost on each (machine, threads),
    raw (left) and as a multiple of that machine's C baseline (right)."""
    if len(run.machines) < 2:
        return None
    best = {(c["machine"], c["threads"], label(c)): c["best"] for c in run.at_shape(run.configs)}
    calls = [label(c) for c in sorted(run.at_shape(run.configs), key=lambda c: (impl_rank(c["impl"]), label(c)))]
    calls = list(dict.fromkeys(calls))
    sets = sorted({k[:2] for k in best})
    fig, axes = grid(plt, 1, 2, f"Best per-record cost per machine (H={run.shape[0]}, T={run.shape[1]})", 6.5, 4.2)
    panels = (
        ("µs per record at the best B", "per_record_median_s", 1e6),
        ("x that machine's C baseline", "x_baseline", 1),
    )
    for ax, (what, column, scale) in zip(axes[0], panels, strict=True):
        width = 0.8 / len(sets)
        for k, (machine, threads) in enumerate(sets):
            ys = [(best.get((machine, threads, call)) or {}).get(column) for call in calls]
            xs = [i + (k - (len(sets) - 1) / 2) * width for i in range(len(calls))]
            ax.bar(xs, [math.nan if y is None else y * scale for y in ys], width, label=f"{machine}, threads {threads}")
        if column == "x_baseline":
            ax.axhline(1.0, color="black", ls=":", lw=1, label="= the C baseline")
        ax.set_xticks(range(len(calls)), calls, rotation=20, ha="right", fontsize=8)
        log_axes(ax, x=False)
        finish(ax, "", "", what)
    return fig
