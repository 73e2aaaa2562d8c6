"""What every plot shares: a colour per implementation, grids of panels, log axes with readable ticks,
the finishing of a panel (labels, grid, legend) and saving a PNG without ever leaving half of one."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from rnnbench.report.derived import impl_order, rows_where
from rnnbench.report.formatting import call_label


def impl_colors(names) -> dict[str, object]:
    """A tab10 colour per implementation, the same one in every plot of a run."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(impl_order(names))}


def grid(plt, n_rows: int, n_cols: int, title: str, width: float = 4.8, height: float = 3.7):
    """A figure of n_rows x n_cols panels under a wrapped title; (figure, axes[row][column])."""
    fig_width = max(6.4, width * n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(fig_width, height * n_rows + 0.7), squeeze=False, constrained_layout=True
    )
    fig.suptitle(textwrap.fill(title, width=int(fig_width * 11)), fontsize=11)
    return fig, axes


def log_axes(ax, x: bool = True, y: bool = True, xbase: int = 2) -> None:
    """Log scales with plain tick labels (1, 2, 4, ... rather than 2^k); minor ticks labelled at 2 and 5
    times a power of ten, so that an axis spanning less than a decade still has numbers."""
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")

    def minor(v, _):
        if v <= 0:
            return ""
        lead = round(v / 10 ** math.floor(math.log10(v)), 6)
        return f"{v:g}" if lead in (2.0, 5.0) else ""

    for on, axis, base in ((x, ax.xaxis, xbase), (y, ax.yaxis, 10)):
        if not on:
            continue
        (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log", base=base)
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(FuncFormatter(minor))


def finish(ax, title: str | None, xlabel: str, ylabel: str) -> None:
    """Title (where given), axis labels, a grid on every tick and the legend: the last touches of a panel."""
    if title is not None:
        ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def shape_panels(plt, step, title: str, xlabel: str, ylabel: str, draw, panel_title: str = "H={H}, T={T}"):
    """A figure with a log-log panel per shape, a row per sequence length T and a column per hidden size
    H; draw(ax, rows, H, T) puts one panel's points on it. Returns the figure."""
    hs, ts = sorted(step.hidden.unique()), sorted(step.seq_len.unique())
    fig, axes = grid(plt, len(ts), len(hs), title)
    for i, T in enumerate(ts):
        for j, H in enumerate(hs):
            ax = axes[i][j]
            draw(ax, rows_where(step, hidden=H, seq_len=T), H, T)
            log_axes(ax)
            finish(ax, panel_title.format(H=H, T=T), xlabel, ylabel)
    return fig


def each_call(rows):
    """(impl, kind, its rows in ascending B) for every timed call among rows, in a stable order."""
    for (impl, kind), g in rows.groupby(["impl", "kind"], sort=True):
        yield impl, kind, g.sort_values("batch")


def call_line(ax, colors, impl: str, kind: str, x, y, label: str | None = None) -> None:
    """One timed call's line against B: its implementation's colour, dashed for a fused epoch."""
    style = "--" if kind == "epoch" else "-"
    ax.plot(x, y, style, marker="o", ms=3, color=colors[impl], label=call_label(impl, kind) if label is None else label)


def save(fig, path: Path) -> Path:
    """fig as a PNG at path, written under a temporary name first so that no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    return path
