"""The report's figures (matplotlib, imported here only): a panel per (machine, threads) and shape.

    per_record_cost     per-record cost against B, log-log, the C baseline dotted in black
    overhead_marginal   the fit's fixed overhead per step against its marginal cost per record
    pct_of_peak         % of the machine's matmul peak against B
    memory              a step's peak memory against B, the BPTT cache dashed in black
    accuracy            validation accuracy against training seconds, with and without compilation
    machines            per call, the best per-record cost on each machine, raw and x its C baseline

A figure whose data the run lacks is not drawn.
"""

from __future__ import annotations

import math
from pathlib import Path

from rnnbench import analysis
from rnnbench.report.sections import call_label, impl_rank, label, ordered
from rnnbench.units import MB


def draw(run, folder: Path) -> dict[str, Path]:
    """Every figure the run's data allow, saved as folder/<name>.png; name -> path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed, nor wanted on a benchmark machine
    import matplotlib.pyplot as plt

    impls = sorted(
        {c["impl"] for c in run.configs} | {a["impl"] for a in run.accuracy}, key=lambda i: (impl_rank(i), i)
    )
    colors = {name: plt.get_cmap("tab10")(k % 10) for k, name in enumerate(impls)}
    makers = {
        "per_record_cost": per_record_cost,
        "overhead_marginal": overhead_marginal,
        "pct_of_peak": pct_of_peak,
        "memory": memory,
        "accuracy": accuracy,
        "machines": machines,
    }
    out = {}
    for name, make in makers.items():
        fig = make(plt, run, colors)
        if fig is not None:
            out[name] = save(fig, folder / f"{name}.png")
            plt.close(fig)
    return out


def save(fig, path: Path) -> Path:
    """fig as a PNG at path, written under a temporary name first so that no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(path)
    return path


def grid(plt, n_rows: int, n_cols: int, title: str, width: float = 4.6, height: float = 3.4):
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(max(6.4, width * n_cols), height * n_rows + 0.6),
        squeeze=False,
        constrained_layout=True,
    )
    fig.suptitle(title, fontsize=11)
    return fig, axes


def log_axes(ax, x: bool = True, y: bool = True, x_base: int = 2) -> None:
    """Log scales with plain tick labels (1, 2, 4, ... rather than 2^k; 0.1 rather than 10^-1), the
    minor ticks at 2 and 5 x a power of ten labelled so that an axis within one decade has numbers."""
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    minor = FuncFormatter(
        lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** math.floor(math.log10(v)), 6) in (2, 5) else ""
    )
    for on, axis, base in ((x, ax.xaxis, x_base), (y, ax.yaxis, 10)):
        if on:
            (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log", base=base)
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(minor)


def finish(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def sweep_panels(plt, run, configs: list[dict], title: str, ylabel: str, draw_panel, log_y: bool = True):
    """A panel per (machine, threads) (rows) and shape (columns); draw_panel(ax, configs, machine,
    threads, H, T) draws one. None when there is nothing to draw."""
    if not configs:
        return None
    sets = sorted({(c["machine"], int(c["threads"])) for c in configs})
    shapes = sorted({(int(c["hidden"]), int(c["seq_len"])) for c in configs})
    fig, axes = grid(plt, len(sets), len(shapes), title)
    for i, (machine, threads) in enumerate(sets):
        for j, (H, T) in enumerate(shapes):
            ax = axes[i][j]
            here = [
                c
                for c in configs
                if (c["machine"], c["threads"], c["hidden"], c["seq_len"]) == (machine, threads, H, T)
            ]
            if not here:
                ax.set_visible(False)
                continue
            draw_panel(ax, ordered(here), machine, threads, H, T)
            log_axes(ax, y=log_y)
            name = f"{machine}, " if len(run.machines) > 1 else ""
            finish(ax, f"{name}threads {threads}, H={H}, T={T}", "batch size B", ylabel)
    return fig


def line(ax, colors, c: dict, y_of) -> None:
    """One configuration's points against B: its implementation's colour, dashed for a fused epoch."""
    points = [p for _, p in sorted(c["points"].items()) if y_of(p) is not None]
    style = "--" if c["kind"] == "epoch" else "-"
    xs, ys = [p["batch"] for p in points], [y_of(p) for p in points]
    ax.plot(xs, ys, style, marker="o", ms=3, color=colors[c["impl"]], label=label(c))


def per_record_cost(plt, run, colors):
    baseline = analysis.usable(run.tables["baseline"])

    def panel(ax, configs, machine, threads, H, T):
        for c in configs:
            line(ax, colors, c, lambda p: p["per_record_median_s"] * 1e6)
        base = sorted(
            (
                r
                for r in baseline
                if (r["machine"], r["threads"], r["hidden"], r["seq_len"]) == (machine, threads, H, T)
            ),
            key=lambda r: r["batch"],
        )
        if base:
            ys = [r["per_record_median_s"] * 1e6 for r in base]
            ax.plot([r["batch"] for r in base], ys, ":", marker="x", color="black", label="C baseline (1 thread)")

    return sweep_panels(
        plt, run, run.configs, "Per-record cost of a training call against batch size", "µs per record", panel
    )


def pct_of_peak(plt, run, colors):
    configs = [c for c in run.configs if any(p.get("pct_of_peak") for p in c["points"].values())]

    def panel(ax, configs, *_):
        for c in configs:
            line(ax, colors, c, lambda p: p.get("pct_of_peak"))

    return sweep_panels(
        plt, run, configs, "Model GFLOP/s as % of the machine's float32 matmul peak", "% of peak", panel
    )


def memory(plt, run, colors):
    configs = [
        c for c in run.configs if c["kind"] == "step" and any(p.get("step_peak_bytes") for p in c["points"].values())
    ]

    def panel(ax, configs, *_):
        for c in configs:
            line(ax, colors, c, lambda p: None if p.get("step_peak_bytes") is None else p["step_peak_bytes"] / MB)
        cache = sorted({(p["batch"], p["model_cache_bytes"]) for c in configs for p in c["points"].values()})
        ax.plot([b for b, _ in cache], [x / MB for _, x in cache], "--", color="black", label="BPTT cache 4(2T+1)BH")

    return sweep_panels(plt, run, configs, "Peak memory of one training step against batch size", "MB", panel)


def overhead_marginal(plt, run, colors):
    """Per (machine, threads), every fit as a point: marginal per record (x) against overhead per step
    (y), log-log; grey diagonals are constant B* = overhead / marginal."""
    fits = [f for f in run.fits if f["overhead_s"] > 0 and f["marginal_s"] > 0]
    if not fits:
        return None
    sets = sorted({(f["machine"], int(f["threads"])) for f in fits})
    fig, axes = grid(plt, 1, len(sets), "Fixed overhead per step against marginal cost per record (the fit)", 6, 4.6)
    shapes = len({(f["hidden"], f["seq_len"]) for f in fits})
    for ax, (machine, threads) in zip(axes[0], sets, strict=True):
        here = ordered(f for f in fits if (f["machine"], f["threads"]) == (machine, threads))
        xs, ys = [f["marginal_s"] * 1e6 for f in here], [f["overhead_s"] * 1e6 for f in here]
        for f, x, y in zip(here, xs, ys, strict=True):
            ax.plot(x, y, "s" if f["kind"] == "epoch" else "o", color=colors[f["impl"]], label=label(f))
            if shapes > 1:
                ax.annotate(
                    f"H={f['hidden']} T={f['seq_len']}", (x, y), fontsize=6, xytext=(4, 3), textcoords="offset points"
                )
        (x0, x1), (y0, y1) = (min(xs) / 4, max(xs) * 4), (min(ys) / 4, max(ys) * 4)
        for b_star in (1, 4, 16, 64, 256, 1024):
            ax.plot([x0, x1], [x0 * b_star, x1 * b_star], "-", color="grey", lw=0.6, alpha=0.6)
            a, b = max(x0, y0 / b_star), min(x1, y1 / b_star)  # the part of the diagonal in view
            if a < b:
                ax.annotate(f"B*={b_star}", (math.sqrt(a * b), math.sqrt(a * b) * b_star), fontsize=7, color="grey")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        log_axes(ax, x_base=10)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))  # one legend entry per call
        finish(ax, f"{machine}, threads {threads}", "marginal: µs per record", "overhead: µs per step")
        ax.legend(unique.values(), unique.keys(), fontsize=7)
    return fig


def accuracy(plt, run, colors):
    """A row per (machine, threads, implementation): validation accuracy against training seconds
    (log), left with compilation, right without; a shade per B."""
    if not run.accuracy:
        return None
    rows = sorted(
        {(a["machine"], a["threads"], a["impl"]) for a in run.accuracy}, key=lambda k: (k[0], k[1], impl_rank(k[2]))
    )
    fig, axes = grid(plt, len(rows), 2, "Validation accuracy against training seconds (evaluation excluded)", 5, 2.8)
    batches = sorted({a["batch"] for a in run.accuracy})
    shade = {b: plt.get_cmap("viridis")(0.85 * k / max(1, len(batches) - 1)) for k, b in enumerate(batches)}
    seconds = [e[clock] for a in run.accuracy for e in a["curve"] for clock in ("train_seconds", "steady_seconds")]
    seconds = [x for x in seconds if x > 0] or [1.0]
    x_range = (min(seconds) / 1.5, max(seconds) * 1.5)  # one time axis for every panel: the panels compare
    for i, (machine, threads, impl) in enumerate(rows):
        for j, (clock, what) in enumerate(
            (("train_seconds", "with compilation"), ("steady_seconds", "compilation excluded"))
        ):
            ax = axes[i][j]
            for a in run.accuracy:
                if (a["machine"], a["threads"], a["impl"]) == (machine, threads, impl):
                    curve = [e for e in a["curve"] if e[clock] > 0]  # the evaluation before training is off a log axis
                    ax.plot(
                        [e[clock] for e in curve],
                        [e["val_accuracy"] for e in curve],
                        marker="o",
                        ms=3,
                        color=shade[a["batch"]],
                        label=f"B={a['batch']}",
                    )
            if run.target is not None:
                ax.axhline(run.target, ls="--", color="grey", lw=1, label=f"target {run.target:.3f}")
            log_axes(ax, y=False, x_base=10)
            ax.set_xlim(*x_range)
            name = f"{machine}, " if len(run.machines) > 1 else ""
            finish(ax, f"{name}{impl}, threads {threads}: {what}", "training seconds (log)", "validation accuracy")
    return fig


def machines(plt, run, _colors):
    """Grouped bars at the tables' shape: per call, the best per-record cost on each (machine, threads),
    raw (left) and as a multiple of that machine's C baseline (right)."""
    if len(run.machines) < 2:
        return None
    configs = run.at_shape(run.configs)
    calls = sorted({(c["impl"], c["kind"], c["device"]) for c in configs}, key=lambda k: (impl_rank(k[0]), k))
    sets = sorted({(c["machine"], int(c["threads"])) for c in configs})
    fig, axes = grid(plt, 1, 2, f"Best per-record cost per machine (H={run.shape[0]}, T={run.shape[1]})", 6.5, 4.2)
    width = 0.8 / len(sets)
    for ax, (what, y_of) in zip(
        axes[0],
        (
            ("µs per record at the best B", lambda p: p["per_record_median_s"] * 1e6),
            ("x that machine's C baseline", lambda p: p.get("x_baseline")),
        ),
        strict=True,
    ):
        for k, (machine, threads) in enumerate(sets):
            ys = []
            for call in calls:
                c = next(
                    (
                        c
                        for c in configs
                        if (c["impl"], c["kind"], c["device"]) == call
                        and (c["machine"], c["threads"]) == (machine, threads)
                    ),
                    None,
                )
                y = None if c is None else y_of(c["best"])
                ys.append(math.nan if y is None else y)
            ax.bar(
                [i + (k - (len(sets) - 1) / 2) * width for i in range(len(calls))],
                ys,
                width,
                label=f"{machine}, threads {threads}",
            )
        ax.set_xticks(range(len(calls)), [call_label(*c) for c in calls], rotation=20, ha="right", fontsize=8)
        log_axes(ax, x=False)
        if what.startswith("x "):
            ax.axhline(1.0, color="black", ls=":", lw=1, label="= the C baseline")
        ax.set_ylabel(what)
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return fig
