"""Turn a benchmark run into results/<run-id>/report.md with PNG plots in results/<run-id>/plots/.

Plots (one set per thread setting): per-record cost against batch size (log-log, a line per
implementation, a panel per hidden size and sequence length), speed-up over B=1, fixed overhead against
marginal per-record cost (the fit time_per_step(B) = overhead + B * marginal) and the fit against the
measured medians, percent of this machine's matmul peak, first-call (tracing / compilation) times,
memory against batch size (the process's RSS high-water mark and the BPTT cache formula), and
validation accuracy against training seconds, with and without compilation. Tables of the headline
figures, threads side by side, the run beside the reference figures of issue #5, and sentences that
say what they mean: every number in them comes from the run's data (the issue's figures excepted,
and labelled so).

examples:
  rnnbench report                       the newest run in results/
  rnnbench report 20250101-120000-4211b91 --target-accuracy 0.7
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from pathlib import Path

from rnnbench import results

POOR_FIT = 0.25  # a fit whose worst relative error exceeds this gets a caveat in the report
MB = 1e6  # memory is reported in MB of 10^6 bytes
MIN_CACHE_RISE = 1e6  # below a 1 MB rise of the cache, a B sweep's high-water rise is not compared with it

# The figures of issue #5 ("Performance"): per-record cost of one training step (T=8, V=60, C=10,
# float32) that the issue's author saw "on this kind of machine" (2 cores), measured OUTSIDE rnnbench
# with his own scripts, not by this harness: a noisy guide, not thresholds, and never a pass/fail
# criterion. Per (H, B), each figure: (low, high) seconds per record and the issue's words; "jax" and
# "torch" are figures the issue gives for a framework without saying which code (step or whole epoch;
# which torch loop). The report compares with the high end of each range.
ISSUE5_REFERENCE: dict = {
    "source": "issue #5, measured outside rnnbench; noisy guide, not thresholds",
    "seq_len": 8,
    "vocab": 60,
    "classes": 10,
    "dtype": "float32",
    "figures": {
        (64, 1): {
            "floor": (8e-6, 8e-6, "plain C floor ~8 µs"),
            "best": (26e-6, 26e-6, "best seen in Python ~26 µs (JAX whole epoch in one jit)"),
            "numpy": (85e-6, 140e-6, "NumPy fused BPTT 85-140 µs"),
            "jax_step": (45e-6, 85e-6, "JAX jit step 45-85 µs"),
            "jax_epoch": (26e-6, 26e-6, "JAX whole epoch in one jit ~26 µs"),
            "torch_eager": (640e-6, 780e-6, "torch eager loop 640-780 µs"),
            "torch_nnrnn": (0.9e-3, 1.4e-3, "nn.RNN + optim 0.9-1.4 ms"),
        },
        (64, 256): {
            "floor": (1e-6, 2e-6, "floor ~1-2 µs at matmul peak"),
            "best": (3.5e-6, 3.5e-6, "best seen ~3.5 µs (JAX)"),
            "jax": (3.5e-6, 3.5e-6, "best seen ~3.5 µs (JAX; step or epoch not said)"),
            "numpy": (9e-6, 14e-6, "NumPy 9-14 µs"),
            "torch": (9e-6, 12e-6, "torch 9-12 µs (which torch code not said)"),
        },
        (256, 256): {
            "floor": (16e-6, 26e-6, "floor ~16-26 µs at matmul peak"),
            "best": (28e-6, 28e-6, "best seen ~28 µs (JAX epoch jit, 58% of the 2-core peak)"),
            "jax_epoch": (28e-6, 28e-6, "JAX epoch jit ~28 µs"),
            "numpy": (67e-6, 67e-6, "NumPy ~67 µs"),
            "torch": (48e-6, 48e-6, "torch ~48 µs (which torch code not said)"),
        },
    },
}
# Which of the issue's figures each of our (implementation, call) compares with: the first one the
# configuration has.
REFERENCE_FOR: dict[tuple[str, str], tuple[str, ...]] = {
    ("numpy-bptt", "step"): ("numpy",),
    ("jax-scan", "step"): ("jax_step", "jax"),
    ("jax-scan", "epoch"): ("jax_epoch", "jax"),
    ("torch-autograd", "step"): ("torch_eager", "torch"),
    ("torch-nnrnn", "step"): ("torch_nnrnn", "torch"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "run_dir",
        nargs="?",
        default=None,
        metavar="RUN",
        help="run folder or run id (default: the newest run in --results-dir)",
    )
    add("--results-dir", default=str(results.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add(
        "--target-accuracy",
        type=float,
        default=None,
        metavar="ACC",
        help="validation accuracy that 'time to target' refers to (default: --target-fraction of the best)",
    )
    add(
        "--target-fraction",
        type=float,
        default=0.9,
        metavar="F",
        help="target = F x the best validation accuracy of the run (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        run_dir = results.resolve_run(args.run_dir, args.results_dir)
        path = build_report(run_dir, target=args.target_accuracy, target_fraction=args.target_fraction)
    except FileNotFoundError as e:
        print(f"rnnbench: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"rnnbench: error: {e}; the report needs pandas and matplotlib: pip install 'rnnbench[report]'")
        return 2
    print(f"report: {path}")
    return 0


# -- formatting ----------------------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    """1.23 µs, 45.6 ms, 2.01 s."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale * (1 - 1e-9) or unit == "ns":  # 1e-6 from a fit may be 0.9999999e-6
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def _num(x, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


def _problems_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return "; ".join(map(str, value))
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def md_table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "_(no data)_\n"
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(out) + "\n"


# -- data ----------------------------------------------------------------------------------------------


def load_frames(run_dir: str | Path) -> dict:
    """The run's tables as pandas DataFrames, from its point files (or its CSVs when it has none)."""
    import pandas as pd

    run_dir = Path(run_dir)
    if results.load_points(run_dir):
        t = results.tables(run_dir)
        cols = {
            "samples": results.SAMPLE_COLUMNS,
            "summary": results.SUMMARY_COLUMNS,
            "fit": results.FIT_COLUMNS,
            "accuracy": results.ACCURACY_COLUMNS,
            "peak": results.PEAK_COLUMNS,
        }
        return {k: pd.DataFrame(t[k], columns=list(c)) for k, c in cols.items()}
    frames = {}
    for name, cols in (
        ("samples", results.SAMPLE_COLUMNS),
        ("summary", results.SUMMARY_COLUMNS),
        ("fit", results.FIT_COLUMNS),
        ("accuracy", results.ACCURACY_COLUMNS),
        ("peak", results.PEAK_COLUMNS),
    ):
        path = run_dir / f"{name}.csv"
        frame = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=list(cols))
        for col in cols:  # a run written before a column existed: the column, empty
            if col not in frame.columns:
                frame[col] = None
        frames[name] = frame
    if all(f.empty for f in frames.values()):
        raise FileNotFoundError(f"{run_dir} holds no benchmark results (no points/ and no CSV files)")
    return frames


def _colors(names) -> dict[str, object]:
    import matplotlib

    import impls

    order = list(impls.IMPLS) + sorted(set(names) - set(impls.IMPLS))
    cmap = matplotlib.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(order)}


def _grid(plt, n_rows: int, n_cols: int, title: str, width: float = 4.8, height: float = 3.7):
    fig_width = max(6.4, width * n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(fig_width, height * n_rows + 0.7), squeeze=False, constrained_layout=True
    )
    fig.suptitle(textwrap.fill(title, width=int(fig_width * 11)), fontsize=11)
    return fig, axes


def _log_axes(ax, x: bool = True, y: bool = True, xbase: int = 2) -> None:
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


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    return path


# -- plots ---------------------------------------------------------------------------------------------


def plot_per_record_cost(step, plt, colors, path: Path, threads: int) -> Path:
    """Median per-record cost (and its IQR band) against B, log-log; epoch points dashed."""
    hs, ts = sorted(step.hidden.unique()), sorted(step.seq_len.unique())
    fig, axes = _grid(plt, len(ts), len(hs), f"Per-record cost of a training step vs batch size (threads={threads})")
    for i, T in enumerate(ts):
        for j, H in enumerate(hs):
            ax = axes[i][j]
            sub = step[(step.hidden == H) & (step.seq_len == T)]
            for (impl, kind), g in sub.groupby(["impl", "kind"], sort=True):
                g = g.sort_values("batch")
                y = g.per_record_median_s * 1e6
                lo = (g.q1_s / g.records_per_call) * 1e6
                hi = (g.q3_s / g.records_per_call) * 1e6
                style = "--" if kind == "epoch" else "-"
                label = f"{impl} (fused epoch)" if kind == "epoch" else impl
                ax.plot(g.batch, y, style, marker="o", ms=3, color=colors[impl], label=label)
                ax.fill_between(g.batch, lo, hi, color=colors[impl], alpha=0.2, lw=0)
            _log_axes(ax)
            ax.set_title(f"H={H}, T={T}")
            ax.set_xlabel("batch size B (records per step)")
            ax.set_ylabel("µs per record (median, IQR band)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, path)


def plot_speedup(step, plt, colors, path: Path, threads: int) -> Path:
    """Per-record cost at B=1 divided by per-record cost at B (same implementation and kind)."""
    hs, ts = sorted(step.hidden.unique()), sorted(step.seq_len.unique())
    fig, axes = _grid(plt, len(ts), len(hs), f"Speed-up per record over B=1 (threads={threads})")
    for i, T in enumerate(ts):
        for j, H in enumerate(hs):
            ax = axes[i][j]
            sub = step[(step.hidden == H) & (step.seq_len == T) & (step.kind == "step")]
            for impl, g in sub.groupby("impl", sort=True):
                g = g.sort_values("batch")
                base = g[g.batch == g.batch.min()].per_record_median_s.iloc[0]
                ax.plot(g.batch, base / g.per_record_median_s, marker="o", ms=3, color=colors[impl], label=impl)
            bmax = sub.batch.max() if len(sub) else 2
            ax.plot([1, bmax], [1, bmax], ":", color="grey", label="ideal (cost per step constant)")
            _log_axes(ax)
            ax.set_title(f"H={H}, T={T}")
            ax.set_xlabel("batch size B")
            ax.set_ylabel("speed-up per record vs smallest B")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, path)


def plot_overhead_marginal(fit, plt, colors, path: Path, threads: int) -> Path:
    """Fixed overhead per step against marginal cost per record (from the fit), log-log: a point per
    (implementation, H, T); the grey diagonals are constant B* = overhead / marginal."""
    import numpy as np

    fit = fit[(fit.kind == "step") & (fit.overhead_s > 0) & (fit.marginal_s > 0)]
    fig, axes = _grid(
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
    for impl in sorted(fit.impl.unique(), key=list(colors).index):
        ax.plot([], [], "o", color=colors[impl], label=impl)
    for k, H in enumerate(hs):
        ax.plot([], [], markers[k % len(markers)], color="black", mfc="none", label=f"H={H}")
    _log_axes(ax, xbase=10)
    ax.set_xlabel("marginal cost: µs per record")
    ax.set_ylabel("fixed overhead: µs per step")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_fit(step, fit, plt, colors, path: Path, threads: int) -> Path:
    """Measured median time per step against B with the fitted line, log-log."""
    import numpy as np

    step = step[step.kind == "step"]
    hs, ts = sorted(step.hidden.unique()), sorted(step.seq_len.unique())
    fig, axes = _grid(plt, len(ts), len(hs), f"Time per step: measured medians and the fit (threads={threads})")
    for i, T in enumerate(ts):
        for j, H in enumerate(hs):
            ax = axes[i][j]
            sub = step[(step.hidden == H) & (step.seq_len == T)]
            for impl, g in sub.groupby("impl", sort=True):
                g = g.sort_values("batch")
                ax.plot(g.batch, g.median_s * 1e3, "o", ms=4, color=colors[impl], label=impl)
                f = fit[(fit.impl == impl) & (fit.hidden == H) & (fit.seq_len == T) & (fit.kind == "step")]
                if len(f) and math.isfinite(f.overhead_s.iloc[0]):
                    b = np.geomspace(g.batch.min(), g.batch.max(), 50)
                    y = (f.overhead_s.iloc[0] + b * f.marginal_s.iloc[0]) * 1e3
                    ax.plot(b, y, "-", color=colors[impl], alpha=0.7)
            _log_axes(ax)
            ax.set_title(f"H={H}, T={T} (points: medians; lines: fit)")
            ax.set_xlabel("batch size B")
            ax.set_ylabel("ms per step")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, path)


def plot_pct_peak(step, plt, colors, path: Path, threads: int, peak: float | None) -> Path:
    hs, ts = sorted(step.hidden.unique()), sorted(step.seq_len.unique())
    title = f"Model GFLOP/s as % of this machine's float32 matmul peak ({_num(peak)} GFLOP/s, threads={threads})"
    fig, axes = _grid(plt, len(ts), len(hs), title)
    for i, T in enumerate(ts):
        for j, H in enumerate(hs):
            ax = axes[i][j]
            sub = step[(step.hidden == H) & (step.seq_len == T)]
            for (impl, kind), g in sub.groupby(["impl", "kind"], sort=True):
                g = g.sort_values("batch")
                style = "--" if kind == "epoch" else "-"
                label = f"{impl} (fused epoch)" if kind == "epoch" else impl
                ax.plot(g.batch, g.pct_of_peak.astype(float), style, marker="o", ms=3, color=colors[impl], label=label)
            _log_axes(ax)
            ax.set_title(f"H={H}, T={T}")
            ax.set_xlabel("batch size B")
            ax.set_ylabel("% of peak")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, path)


def plot_first_call(step, plt, colors, path: Path, threads: int) -> Path:
    """First call of a fresh model (tracing, compilation, lazy setup) against the steady median."""
    hs, ts = sorted(step.hidden.unique()), sorted(step.seq_len.unique())
    title = f"First call (solid) vs steady-state call (dotted), per point (threads={threads})"
    fig, axes = _grid(plt, len(ts), len(hs), title)
    for i, T in enumerate(ts):
        for j, H in enumerate(hs):
            ax = axes[i][j]
            sub = step[(step.hidden == H) & (step.seq_len == T)]
            for (impl, kind), g in sub.groupby(["impl", "kind"], sort=True):
                g = g.sort_values("batch")
                label = f"{impl} {'train_epoch' if kind == 'epoch' else 'train_step'}"
                marker = "s" if kind == "epoch" else "o"
                ax.plot(g.batch, g.first_call_s * 1e3, "-", marker=marker, ms=3, color=colors[impl], label=label)
                ax.plot(g.batch, g.median_s * 1e3, ":", marker=marker, ms=2, color=colors[impl])
            _log_axes(ax)
            ax.set_title(f"H={H}, T={T}")
            ax.set_xlabel("batch size B")
            ax.set_ylabel("ms per call")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, path)


def plot_memory(step, plt, colors, path: Path, threads: int) -> Path:
    """Memory against B, log-log, a panel per (H, T): per implementation, how far the process's RSS
    high-water mark after the point lies above its RSS just before the model was created (solid;
    epoch points dashed), and the BPTT cache formula 4 (2T + 1) B H bytes (black, dashed)."""
    import numpy as np

    from rnnbench import costmodel

    hs, ts = sorted(step.hidden.unique()), sorted(step.seq_len.unique())
    title = (
        f"Memory vs batch size (threads={threads}): RSS high-water above the RSS before the model "
        "(per process, never falls; B ascending) and the BPTT cache formula"
    )
    fig, axes = _grid(plt, len(ts), len(hs), title)
    for i, T in enumerate(ts):
        for j, H in enumerate(hs):
            ax = axes[i][j]
            sub = step[(step.hidden == H) & (step.seq_len == T)]
            for (impl, kind), g in sub.groupby(["impl", "kind"], sort=True):
                g = g.sort_values("batch")
                y = g.rss_growth_bytes.astype(float) / MB
                keep = y > 0  # a high-water mark that did not rise has no place on a log axis
                style = "--" if kind == "epoch" else "-"
                label = f"{impl} (fused epoch)" if kind == "epoch" else impl
                if not keep.any():
                    label += " (never above the RSS before)"
                ax.plot(g.batch[keep], y[keep], style, marker="o", ms=3, color=colors[impl], label=label)
            if len(sub):
                b = np.geomspace(sub.batch.min(), sub.batch.max(), 50)
                cache = np.array([costmodel.bptt_cache_bytes(int(H), int(T), x) for x in b]) / MB
                ax.plot(b, cache, "--", color="black", lw=1.2, label="BPTT cache 4(2T+1)BH bytes")
            _log_axes(ax)
            ax.set_title(f"H={H}, T={T}")
            ax.set_xlabel("batch size B")
            ax.set_ylabel("MB (10^6 bytes)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, path)


def plot_accuracy(acc, plt, colors, path: Path, threads: int, target: float | None) -> Path:
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
    fig, axes = _grid(plt, len(names), 2, title, 5.2, 3.6)
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
            _log_axes(ax, y=False, xbase=10)
            if hi / lo > 300:  # over two and a half decades the 2 and 5 labels would run together
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlim(lo, hi)
            ax.set_title(f"{impl}: {what}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("validation accuracy")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, path)


# -- the report ----------------------------------------------------------------------------------------


def headline_rows(step) -> list[dict]:
    """Per (impl, threads, H, T): per-record cost at the smallest B, the best B and its cost."""
    rows = []
    step = step[step.kind == "step"]
    for (impl, threads, H, T), g in step.groupby(["impl", "threads", "hidden", "seq_len"], sort=True):
        g = g.sort_values("batch")
        small = g.iloc[0]
        best = g.loc[g.per_record_median_s.idxmin()]
        rows.append(
            {
                "impl": impl,
                "threads": int(threads),
                "H": int(H),
                "T": int(T),
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


def _mb(x) -> str:
    return "-" if x is None or not math.isfinite(float(x)) else f"{float(x) / MB:.3g}"


def _impl_kinds(frame) -> list[tuple[str, str]]:
    """(implementation, kind) pairs of a summary frame: registry order, step before epoch."""
    pairs = {(str(i), str(k)) for i, k in zip(frame.impl, frame.kind, strict=True)}
    order = {name: n for n, name in enumerate(_colors({i for i, _ in pairs}))}
    return sorted(pairs, key=lambda p: (order[p[0]], p[1] != "step"))


def _call_label(impl: str, kind: str) -> str:
    return f"{impl} (fused epoch)" if kind == "epoch" else impl


def memory_section(step, figures_md: str) -> list[str]:
    """Memory per point: a table per implementation, the rise over each B sweep against the cache."""
    out = [
        (
            "Per point: the BPTT activation cache the shapes call for, 4 x ((T+1) x B x H hidden states + "
            "T x B x H pre-activation / derivative buffer) bytes (rnnbench.costmodel; float32), the only "
            "part of a step's memory that grows with B x T x H; and the process's resident-set high-water "
            "mark (getrusage ru_maxrss) after the point's timed calls, with how far it lies above the "
            "resident set (/proc/self/statm) just before the point's model was created. The high-water mark "
            "is per process and monotone: each implementation runs in a process of its own per thread "
            "count, its points one after another with B ascending, so a point's mark includes every "
            "earlier point's (and the framework's start-up). The kernel keeps both counters approximately: "
            "they disagree by up to a few hundred KB, so a small negative difference means no rise (such "
            "points are left off the plot's log axis). MB = 10^6 bytes.\n"
        ),
    ]
    mem = step[step.peak_rss_bytes.notna()] if "peak_rss_bytes" in step else step.iloc[0:0]
    if not len(mem):
        return [*out, "_(no memory figures: this run's points were measured before rnnbench recorded them)_\n"]
    mem = mem.copy()
    for col in ("model_cache_bytes", "peak_rss_bytes", "rss_growth_bytes"):
        mem[col] = mem[col].astype(float)
    out.append(figures_md)
    sweep = mem[mem.kind == "step"]
    order = [impl for impl, _ in _impl_kinds(sweep)]
    groups = sweep.groupby(["impl", "threads", "hidden", "seq_len"], sort=True)
    rise = []
    for (impl, threads, H, T), g in sorted(groups, key=lambda x: (order.index(x[0][0]), *x[0][1:])):
        g = g.sort_values("batch")
        if len(g) < 2:
            continue
        first, last = g.iloc[0], g.iloc[-1]
        cache_rise = last.model_cache_bytes - first.model_cache_bytes
        hwm_rise = last.peak_rss_bytes - first.peak_rss_bytes
        if cache_rise >= MIN_CACHE_RISE:
            ratio = f"{hwm_rise / cache_rise:.2f}"
        else:
            ratio = f"- (cache rise under {MIN_CACHE_RISE / MB:g} MB)"
        rise.append(
            {
                "impl": impl,
                "threads": int(threads),
                "H": int(H),
                "T": int(T),
                "B": f"{int(first.batch)} -> {int(last.batch)}",
                "cache rise MB": _mb(cache_rise),
                "high-water rise MB": _mb(hwm_rise),
                "high-water rise / cache rise": ratio,
            }
        )
    if rise:
        out.append(
            "Over each B sweep (same process, B ascending), the rise of the high-water mark from the "
            "smallest to the largest B beside the rise of the cache formula. A ratio near 1 (or a few: "
            "gradients and temporaries of the same shapes) means memory grows as the BPTT cache and "
            "nothing grows beyond it; 0 means the mark was already higher from earlier work in the "
            "process; far above a few means something else grows with B. Where the cache rises by less "
            f"than {MIN_CACHE_RISE / MB:g} MB, allocations that do not grow with B (a first call at a new "
            "shape, allocator pools, lazy set-up) swamp it, and no ratio is given.\n"
        )
        out.append(
            md_table(
                rise,
                [
                    "impl",
                    "threads",
                    "H",
                    "T",
                    "B",
                    "cache rise MB",
                    "high-water rise MB",
                    "high-water rise / cache rise",
                ],
            )
        )
    if order:
        out.append("\nPer implementation, its train_step points (the epoch points' figures are in summary.csv):\n")
    for impl, g in sorted(sweep.groupby("impl"), key=lambda x: order.index(x[0])):
        out.append(f"\n### Memory: {impl}\n")
        out.append(
            md_table(
                [
                    {
                        "threads": int(r.threads),
                        "H": int(r.hidden),
                        "T": int(r.seq_len),
                        "B": int(r.batch),
                        "cache MB (formula)": _mb(r.model_cache_bytes),
                        "RSS high-water MB": _mb(r.peak_rss_bytes),
                        "above RSS before the model MB": _mb(r.rss_growth_bytes),
                    }
                    for r in g.sort_values(["threads", "hidden", "seq_len", "batch"]).itertuples()
                ],
                ["threads", "H", "T", "B", "cache MB (formula)", "RSS high-water MB", "above RSS before the model MB"],
            )
        )
    return out


def threads_section(step) -> list[str]:
    """Per-record median at the smallest and the largest B, a column per thread count, and the ratio of
    each thread count's cost to the fewest threads' (below 1: more threads are faster)."""
    counts = sorted(int(t) for t in step.threads.unique())
    if len(counts) < 2:
        what = f"threads={counts[0]}" if counts else "no thread count"
        return [
            f"This run measured {what} only; to see 1 and 2 threads side by side, run `rnnbench bench --threads 1,2`.\n"
        ]
    base = counts[0]
    rows = []
    for impl, kind in _impl_kinds(step):
        sub = step[(step.impl == impl) & (step.kind == kind)]
        for (H, T), g in sub.groupby(["hidden", "seq_len"], sort=True):
            for B in sorted({int(g.batch.min()), int(g.batch.max())}):
                at = g[g.batch == B]
                cost = {int(t): float(x) for t, x in zip(at.threads, at.per_record_median_s, strict=True)}
                row = {"impl": _call_label(impl, kind), "H": int(H), "T": int(T), "B": B}
                for t in counts:
                    row[f"threads={t}"] = fmt_time(cost.get(t))
                for t in counts[1:]:
                    ok = t in cost and base in cost and cost[base] > 0
                    row[f"t{t}/t{base}"] = f"{cost[t] / cost[base]:.2f}" if ok else "-"
                rows.append(row)
    columns = ["impl", "H", "T", "B", *[f"threads={t}" for t in counts], *[f"t{t}/t{base}" for t in counts[1:]]]
    return [
        (
            f"Per-record median at the smallest and the largest batch size measured, per thread count; "
            f"t{counts[1]}/t{base} is the cost with {counts[1]} threads over the cost with {base} (below 1: "
            "the extra threads help). Each thread count runs in sessions of its own, with its own plots above.\n"
        ),
        md_table(rows, columns),
    ]


def _reference_key(config: dict, impl: str, kind: str) -> str | None:
    return next((k for k in REFERENCE_FOR.get((impl, kind), ()) if k in config), None)


def reference_section(step, pairs: list[tuple[str, str]], best_peak: dict[int, float]) -> list[str]:
    """This run beside issue #5's figures (ISSUE5_REFERENCE), and % of the matmul peak at H=256, B=256."""
    ref = ISSUE5_REFERENCE
    T = ref["seq_len"]
    counts = sorted(int(t) for t in step.threads.unique()) or [1]
    cost = {
        (str(r.impl), str(r.kind), int(r.threads), int(r.hidden), int(r.seq_len), int(r.batch)): float(
            r.per_record_median_s
        )
        for r in step.itertuples()
    }
    out = [
        (
            f"Per-record median of this run (T={T}, V={ref['vocab']}, C={ref['classes']}, {ref['dtype']}) beside "
            f"the figures of the Performance issue: **{ref['source']}**. Those were seen on a machine of this "
            "kind with the issue author's own scripts, not with this harness. ours / issue divides our median "
            "by the upper end of the issue's range (by the figure itself where it gives one number); above 1, "
            "ours is slower.\n"
        ),
        md_table(
            [
                {"H": H, "B": B, "floor": c["floor"][2], "best seen": c["best"][2]}
                for (H, B), c in ref["figures"].items()
            ],
            ["H", "B", "floor", "best seen"],
        ),
        "",
    ]
    rows, measured = [], 0
    for (H, B), config in ref["figures"].items():
        for impl, kind in pairs:
            key = _reference_key(config, impl, kind)
            hi = config[key][1] if key else None
            row = {"H": H, "B": B, "impl": _call_label(impl, kind)}
            for t in counts:
                ours = cost.get((impl, kind, t, H, T, B))
                measured += ours is not None
                row[f"ours, threads={t}"] = fmt_time(ours)
                row[f"ours / issue (t{t})"] = f"{ours / hi:.2f}" if ours is not None and hi else "-"
            row["issue #5 figure (outside rnnbench)"] = config[key][2] if key else "(no comparable figure)"
            rows.append(row)
    columns = ["H", "B", "impl", *[f"ours, threads={t}" for t in counts], "issue #5 figure (outside rnnbench)"]
    columns += [f"ours / issue (t{t})" for t in counts]
    out.append(md_table(rows, columns))
    if not measured:
        out.append(
            f"\nThis run measured none of these configurations (T={T} with H=64 or 256 and B=1 or 256): the "
            "`quick` profile does (`rnnbench bench --threads 1,2`).\n"
        )
    out += ["", *peak_share_lines(step, best_peak)]
    return out


def peak_share_lines(step, best_peak: dict[int, float]) -> list[str]:
    """% of the matmul peak measured with the same thread count, per implementation, at H=256, T=8,
    B=256 (or at the run's largest configuration when it lacks that one); whether the fastest reaches
    50% and every implementation 25%."""
    H, T, B = 256, ISSUE5_REFERENCE["seq_len"], 256
    sub = step[(step.hidden == H) & (step.seq_len == T) & (step.batch == B)]
    where = f"H={H}, T={T}, B={B}"
    lead = f"### % of the matmul peak at {where}\n"
    if not len(sub) and len(step):
        H = int(step.hidden.max())
        at_h = step[step.hidden == H]
        T = T if (at_h.seq_len == T).any() else int(at_h.seq_len.max())
        B = int(at_h[at_h.seq_len == T].batch.max())
        sub = step[(step.hidden == H) & (step.seq_len == T) & (step.batch == B)]
        lead = (
            f"### % of the matmul peak\n\nThis run did not measure {where}; at its largest configuration "
            f"instead, H={H}, T={T}, B={B} (not the issue's):\n"
        )
        where = f"H={H}, T={T}, B={B}"
    if not len(sub):
        return [lead, "_(no data)_\n"]
    out = [
        lead,
        (
            "Model GFLOP/s of each call as % of the float32 matmul peak measured in this run with the SAME thread "
            "count (the peak is measured per thread count).\n"
        ),
    ]
    rows = [
        {
            "impl": _call_label(r.impl, r.kind),
            "threads": int(r.threads),
            "per record": fmt_time(r.per_record_median_s),
            "GFLOP/s": _num(r.gflops, ".3g"),
            "peak GFLOP/s (same threads)": _num(best_peak.get(int(r.threads)), ".3g"),
            "% of peak": _num(None if r.pct_of_peak is None else float(r.pct_of_peak), ".1f"),
        }
        for r in sub.sort_values(["threads", "per_record_median_s"]).itertuples()
    ]
    out.append(md_table(rows, ["impl", "threads", "per record", "GFLOP/s", "peak GFLOP/s (same threads)", "% of peak"]))
    out.append("")
    for threads, g in sub.groupby("threads", sort=True):
        peak = best_peak.get(int(threads))
        pct = g.pct_of_peak.astype(float)
        if not peak or pct.isna().all():
            out.append(f"- threads={threads}: no matmul peak was measured with {threads} threads, so no % of peak.")
            continue
        fastest = g.loc[g.per_record_median_s.idxmin()]
        top = float(fastest.pct_of_peak)
        below = [
            (_call_label(r.impl, r.kind), float(r.pct_of_peak)) for r in g.itertuples() if float(r.pct_of_peak) < 25
        ]
        verdict = "yes" if top >= 50 else "no"
        every = "yes" if not below else "no (below 25%: " + ", ".join(f"{name} {p:.1f}%" for name, p in below) + ")"
        out.append(
            f"- threads={threads} (peak {peak:.1f} GFLOP/s, {where}): the fastest, "
            f"{_call_label(fastest.impl, fastest.kind)} at {fmt_time(fastest.per_record_median_s)} per record, "
            f"reaches {top:.1f}% of the peak. Fastest at 50% or more: {verdict}. Every implementation at 25% "
            f"or more: {every}."
        )
    return [*out, ""]


def _environment(run_dir: Path) -> tuple[list[str], dict]:
    doc = results.load_machine(run_dir)
    sessions = doc.get("sessions", [])
    if not sessions:
        return ["_(no machine.json: environment unknown)_"], {}
    s = sessions[-1]
    cpu = s.get("cpu", {})
    libs = s.get("libraries", {})
    lib_text = ", ".join(f"{k} {v}" for k, v in libs.items() if v and k in ("numpy", "torch", "jax", "jaxlib"))
    blas = [p for p in s.get("blas_at_end", s.get("blas", [])) if p.get("user_api") == "blas"]
    blas_text = ", ".join(f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)" for p in blas)
    git = s.get("git", {})
    threads = sorted({x.get("threads_setting") for x in sessions if x.get("threads_setting") is not None})
    fw_text: list[str] = []  # each implementation runs in a session of its own: gather them all
    for x in sessions:
        fw = x.get("framework_threads_at_end", x.get("framework_threads", {}))
        tag = f" (threads {x.get('threads_setting')})" if len(threads) > 1 else ""
        if "torch" in fw:
            t = fw["torch"]
            fw_text.append(f"torch intra-op {t.get('intra_op_threads')}, inter-op {t.get('inter_op_threads')}{tag}")
        if "jax" in fw:
            j = fw["jax"]
            fw_text.append(f"jax NPROC={j.get('NPROC')}, XLA_FLAGS='{j.get('xla_flags', '')}'{tag}")
    fw_text = list(dict.fromkeys(fw_text))
    settings = s.get("profile_settings", {})
    grid = "; ".join(
        f"{name} {', '.join(map(str, settings[key]))}"
        for name, key in (("H", "hidden"), ("T", "seq_len"), ("B", "batch_sizes"))
        if settings.get(key)
    )
    lines = [
        f"- date: {s.get('date')}; git {git.get('short')}{' (uncommitted changes)' if git.get('dirty') else ''}",
        (
            f"- CPU: {cpu.get('model')} ({cpu.get('arch')}), {cpu.get('logical_cores')} logical / "
            f"{cpu.get('physical_cores')} physical cores, {cpu.get('usable_cores')} usable; "
            f"SIMD {', '.join(cpu.get('simd', [])) or '-'}; memory {s.get('memory_gib')} GiB"
        ),
        f"- threads setting (the same for every framework): {', '.join(map(str, threads))}; device {s.get('device')}",
        f"- threads in use: NumPy BLAS {blas_text or 'unknown'}" + "".join(f"; {x}" for x in fw_text),
        f"- {s.get('python')}; {lib_text}",
        f"- profile: {s.get('profile')}" + (f" ({grid})" if grid else ""),
    ]
    return lines, s


def _sentences(step, fit, headline, acc_rows, target, peak_best, checks) -> list[str]:
    """Plain statements derived from the data."""
    out = []
    st = step[step.kind == "step"]
    for (threads, H, T), g in st.groupby(["threads", "hidden", "seq_len"], sort=True):
        tag = f"H={H}, T={T}, threads={threads}"
        small_b = g.batch.min()
        at1 = g[g.batch == small_b].sort_values("per_record_median_s")
        if len(at1) >= 2:
            fast, slow = at1.iloc[0], at1.iloc[-1]
            out.append(
                f"At B={small_b} ({tag}) the cheapest step is {fast.impl}'s, {fmt_time(fast.per_record_median_s)} "
                f"per record; the dearest, {slow.impl}'s, costs {slow.per_record_median_s / fast.per_record_median_s:.1f}"
                f"x as much ({fmt_time(slow.per_record_median_s)})."
            )
        best = g.loc[g.per_record_median_s.idxmin()]
        h = [r for r in headline if r["impl"] == best.impl and (r["threads"], r["H"], r["T"]) == (threads, H, T)]
        if h:
            out.append(
                f"The lowest per-record cost ({tag}) is {fmt_time(best.per_record_median_s)}, {best.impl} at "
                f"B={best.batch}: {h[0]['speedup']:.1f}x less than its own cost at B={h[0]['B_min']}."
            )
        f = fit[(fit.threads == threads) & (fit.hidden == H) & (fit.seq_len == T) & (fit.kind == "step")]
        clauses = []
        for r in f.sort_values("impl").itertuples():
            if math.isfinite(r.overhead_s) and math.isfinite(r.marginal_s) and r.overhead_s > 0 and r.marginal_s > 0:
                share = r.overhead_s / (r.overhead_s + r.marginal_s)
                clauses.append(
                    f"{r.impl} {100 * share:.0f}% ({fmt_time(r.overhead_s)} + B x {fmt_time(r.marginal_s)}; "
                    f"B* = {r.crossover_batch:.0f})"
                )
        if clauses:
            out.append(
                f"Share of a B=1 step that is fixed overhead, from the fit ({tag}): "
                + "; ".join(clauses)
                + ". Past B*, the work on the records costs more than the overhead."
            )
        poor = f[f.max_rel_residual > POOR_FIT]
        if len(poor):
            worst = ", ".join(
                f"{r.impl} {100 * r.max_rel_residual:.0f}%" for r in poor.sort_values("impl").itertuples()
            )
            out.append(
                f"The straight line overhead + B x marginal describes some implementations poorly ({tag}; worst "
                f"error {worst}): their cost does not grow linearly in B (see the fit plot), so read their B* "
                "as rough."
            )
    if peak_best:
        valid = step[step.pct_of_peak.notna()]
        if len(valid):
            top = valid.loc[valid.pct_of_peak.astype(float).idxmax()]
            at1 = valid[valid.batch == valid.batch.min()]
            top1 = at1.loc[at1.pct_of_peak.astype(float).idxmax()]
            out.append(
                f"The highest efficiency is {float(top.pct_of_peak):.1f}% of this machine's float32 matmul peak "
                f"({peak_best:.1f} GFLOP/s): {top.impl} ({top.kind}) at H={top.hidden}, T={top.seq_len}, "
                f"B={top.batch}; at B={top1.batch} the best is {float(top1.pct_of_peak):.2f}% ({top1.impl})."
            )
    firsts = step.sort_values("first_call_s")
    if len(firsts):
        worst = firsts.iloc[-1]
        out.append(
            f"The dearest first call is {worst.impl}'s {'train_epoch' if worst.kind == 'epoch' else 'train_step'} at "
            f"H={worst.hidden}, T={worst.seq_len}, B={worst.batch}: {fmt_time(worst.first_call_s)}, "
            f"{worst.first_call_s / worst.median_s:.0f}x its steady-state call ({fmt_time(worst.median_s)})."
        )
    ep = step[step.kind == "epoch"]
    for (impl, threads, H, T), g in ep.groupby(["impl", "threads", "hidden", "seq_len"], sort=True):
        s = st[(st.impl == impl) & (st.threads == threads) & (st.hidden == H) & (st.seq_len == T)]
        m = g.merge(s, on="batch", suffixes=("_e", "_s"))
        if len(m):
            r = m.per_record_median_s_e / m.per_record_median_s_s
            lo, hi = m.loc[r.idxmin()], m.loc[r.idxmax()]
            out.append(
                f"{impl}'s fused train_epoch costs {r.min():.2f}x (B={lo.batch}) to {r.max():.2f}x (B={hi.batch}) "
                f"its per-step cost per record (H={H}, T={T}, threads={threads})."
            )
    if acc_rows:
        reached = [r for r in acc_rows if r["time_to_target"] is not None]
        if reached:
            first = min(reached, key=lambda r: r["time_to_target"])
            steady = min(reached, key=lambda r: r["time_to_target_steady"])
            out.append(
                f"Validation accuracy {target:.3f} is reached first by {first['impl']} with B={first['batch']}, "
                f"after {first['time_to_target']:.2f} s of training (wall clock, compilation included); "
                f"with compilation left out, first is {steady['impl']} with B={steady['batch']}, after "
                f"{steady['time_to_target_steady']:.2f} s."
            )
        for r in sorted(
            (r for r in acc_rows if r["batch"] == min(x["batch"] for x in acc_rows)), key=lambda r: r["impl"]
        ):
            others = [x for x in acc_rows if x["impl"] == r["impl"] and x["batch"] != r["batch"]]
            if r["time_to_target"] is None or not others:
                continue
            faster = [x for x in others if x["time_to_target"] is not None]
            if faster:
                best = min(faster, key=lambda x: x["time_to_target"])
                ratio = r["time_to_target"] / best["time_to_target"] if best["time_to_target"] > 0 else math.inf
                out.append(
                    f"{r['impl']}: per-record SGD (B={r['batch']}) takes {r['time_to_target']:.2f} s to the target, "
                    f"B={best['batch']} takes {best['time_to_target']:.2f} s ({ratio:.1f}x); without compilation "
                    f"{r['time_to_target_steady']:.2f} s and {best['time_to_target_steady']:.2f} s."
                )
        missing = [f"{r['impl']} B={r['batch']}" for r in acc_rows if r["time_to_target"] is None]
        if missing:
            out.append(f"Never reached the target within the epochs run: {', '.join(missing)}.")
    failed, flagged, total = checks
    if failed or flagged:
        out.append(
            f"Of {total} sweep points, {failed} failed a correctness check and {flagged} had timed parts that do "
            "not add up to their loop's wall time (see Checks); failed points are left out of every figure."
        )
    else:
        out.append(f"All {total} points passed their checks (finite, falling loss; timed parts add up to the loop).")
    return out


def build_report(run_dir: str | Path, target: float | None = None, target_fraction: float = 0.9) -> Path:
    """Write run_dir/report.md and run_dir/plots/*.png from the run's data; return report.md's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    frames = load_frames(run_dir)
    summary, fit, acc, peak = frames["summary"], frames["fit"], frames["accuracy"], frames["peak"]
    plots = run_dir / "plots"
    env_lines, _session = _environment(run_dir)
    run_id = (summary.run_id.dropna().iloc[0] if summary.run_id.notna().any() else None) or run_dir.name
    names = set(summary.impl) | set(acc.impl)
    colors = _colors(names)
    step = summary[summary.status != "failed"].copy()
    for col in ("per_record_median_s", "median_s", "q1_s", "q3_s", "first_call_s", "records_per_call"):
        step[col] = step[col].astype(float)
    figures: list[tuple[str, Path]] = []
    best_peak = {int(t): float(g.gflops.max()) for t, g in peak.groupby("threads")} if len(peak) else {}

    for threads in sorted(step.threads.unique()):
        st = step[step.threads == threads]
        ft = fit[fit.threads == threads]
        sfx = f"_t{threads}"
        figures.append(
            ("per-record cost", plot_per_record_cost(st, plt, colors, plots / f"per_record_cost{sfx}.png", threads))
        )
        figures.append(("speed-up over B=1", plot_speedup(st, plt, colors, plots / f"speedup{sfx}.png", threads)))
        if len(ft[ft.kind == "step"]):
            figures.append(
                (
                    "overhead vs marginal",
                    plot_overhead_marginal(ft, plt, colors, plots / f"overhead_marginal{sfx}.png", threads),
                )
            )
            figures.append(("fit", plot_fit(st, ft, plt, colors, plots / f"step_time_fit{sfx}.png", threads)))
        if st.pct_of_peak.notna().any():
            figures.append(
                (
                    "% of peak",
                    plot_pct_peak(st, plt, colors, plots / f"pct_of_peak{sfx}.png", threads, best_peak.get(threads)),
                )
            )
        figures.append(("first call", plot_first_call(st, plt, colors, plots / f"first_call{sfx}.png", threads)))
        if st.peak_rss_bytes.notna().any():
            figures.append(("memory", plot_memory(st, plt, colors, plots / f"memory{sfx}.png", threads)))
        plt.close("all")

    # accuracy per second: train_seconds includes compilation; steady_seconds leaves it out. Runs
    # recorded before compile_seconds existed count it as 0 (both clocks then agree).
    acc = acc.copy()
    compile_recorded = bool(acc.compile_seconds.notna().any()) if len(acc) else True
    acc["train_seconds"] = acc.train_seconds.astype(float)
    acc["compile_seconds"] = acc.compile_seconds.astype(float).fillna(0.0)
    acc["steady_seconds"] = acc.train_seconds - acc.compile_seconds
    acc_rows: list[dict] = []
    best_acc = float(acc.val_accuracy.max()) if len(acc) else None
    if target is None and best_acc is not None:
        target = target_fraction * best_acc
    for (impl, threads, b), g in acc.groupby(["impl", "threads", "batch"], sort=True):
        evals = g.to_dict("records")
        steady_evals = [e | {"train_seconds": e["steady_seconds"]} for e in evals]
        last = g.loc[g.train_seconds.idxmax()]
        acc_rows.append(
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
    for threads in sorted(acc.threads.unique()):
        figures.append(
            (
                "accuracy vs time",
                plot_accuracy(
                    acc[acc.threads == threads],
                    plt,
                    colors,
                    plots / f"accuracy_vs_time_t{threads}.png",
                    threads,
                    target,
                ),
            )
        )
    plt.close("all")

    headline = headline_rows(step)
    statuses = summary.status.value_counts().to_dict() if len(summary) else {}
    checks = (int(statuses.get("failed", 0)), int(statuses.get("flagged", 0)), len(summary))
    sentences = _sentences(step, fit, headline, acc_rows, target, max(best_peak.values(), default=None), checks)

    def img(title: str, path: Path) -> str:
        return f"![{title}](plots/{path.name})\n"

    def figs(prefix: str) -> str:
        return "".join(img(t, p) for t, p in figures if p.name.startswith(prefix))

    md: list[str] = [f"# rnnbench report: {run_id}\n"]
    md += ["## Environment\n", *env_lines, ""]
    md += ["## What the figures say\n", *[f"- {s}" for s in sentences], ""]

    md += ["## Per-record cost against batch size\n"]
    md += [
        (
            "Median over the timed steps (warm-up and the first call excluded; every step ends with the "
            "implementation's sync); the band is the interquartile range. Synthetic float32 data, V=60, C=10, "
            "every record of length T; plain SGD.\n"
        ),
        figs("per_record_cost"),
    ]
    md.append(
        md_table(
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
                    "best % of peak": _num(r["best_pct_peak"], ".2f"),
                }
                for r in headline
            ],
            [
                "impl",
                "threads",
                "H",
                "T",
                "per record at B=min",
                "best B",
                "per record at best B",
                "speed-up",
                "best % of peak",
            ],
        )
    )
    md += ["\n## Speed-up over B=1\n", figs("speedup")]
    md += ["\n## Threads side by side\n", *threads_section(step)]

    md += ["\n## Fixed overhead against marginal cost\n"]
    md.append(
        "time_per_step(B) = overhead + B x marginal, fitted by least squares on relative error to each "
        "point's median; B* = overhead / marginal is the batch size from which the per-record work "
        "costs more than the fixed per-step overhead.\n"
    )
    md.append(figs("overhead_marginal") + figs("step_time_fit"))
    md.append(
        md_table(
            [
                {
                    "impl": r.impl,
                    "kind": r.kind,
                    "threads": int(r.threads),
                    "H": int(r.hidden),
                    "T": int(r.seq_len),
                    "overhead per step": fmt_time(r.overhead_s),
                    "marginal per record": fmt_time(r.marginal_s),
                    "B*": _num(r.crossover_batch, ".1f"),
                    "overhead share at B=1": f"{100 * r.overhead_s / (r.overhead_s + r.marginal_s):.0f}%"
                    if r.overhead_s > 0 and r.marginal_s > 0
                    else "-",
                    "worst fit error": f"{100 * r.max_rel_residual:.0f}%" if math.isfinite(r.max_rel_residual) else "-",
                    "B range": f"{int(r.batch_min)}-{int(r.batch_max)}",
                }
                for r in fit.itertuples()
            ],
            [
                "impl",
                "kind",
                "threads",
                "H",
                "T",
                "overhead per step",
                "marginal per record",
                "B*",
                "overhead share at B=1",
                "worst fit error",
                "B range",
            ],
        )
    )

    md += ["\n## Efficiency: % of this machine's matmul peak\n"]
    md.append(
        "Model FLOPs of a training step (rnnbench.costmodel): per record 6TH^2 + 8TH + 6CH + 9C (forward "
        "recurrent matmul 2H^2 per time step, backward 4H^2, the head, the gather/scatter and "
        "elementwise work), plus 2P per step for the SGD update (P parameters). The peak is the best "
        "float32 square-matmul GFLOP/s of NumPy and PyTorch at the same thread count, measured in the same "
        "run.\n"
    )
    if len(peak):
        best_rows = peak.sort_values("gflops", ascending=False).groupby(["threads", "library", "n"], sort=True).head(1)
        md.append(
            md_table(
                [
                    {
                        "threads": int(r.threads),
                        "library": r.library,
                        "n": int(r.n),
                        "best GFLOP/s": f"{r.gflops:.1f}",
                        "max rel. error": f"{r.max_rel_error:.1e}",
                    }
                    for r in best_rows.sort_values(["threads", "library", "n"]).itertuples()
                ],
                ["threads", "library", "n", "best GFLOP/s", "max rel. error"],
            )
        )
    md.append("\n" + figs("pct_of_peak"))

    md += ["\n## Beside the reference figures of issue #5 (measured outside rnnbench)\n"]
    md += reference_section(step, _impl_kinds(summary), best_peak)

    md += ["\n## First call: tracing, compilation, lazy set-up\n"]
    md.append(
        "The first train_step (or train_epoch) of a fresh model, timed alone and never part of the "
        "steady-state figures.\n"
    )
    md.append(figs("first_call"))
    md.append(
        md_table(
            [
                {
                    "impl": r.impl,
                    "call": "train_epoch" if r.kind == "epoch" else "train_step",
                    "threads": int(r.threads),
                    "H": int(r.hidden),
                    "T": int(r.seq_len),
                    "B": int(r.batch),
                    "first call": fmt_time(r.first_call_s),
                    "steady call": fmt_time(r.median_s),
                    "ratio": f"{r.first_call_s / r.median_s:.0f}x",
                }
                for r in step[step.batch == step.batch.min()].itertuples()
            ],
            ["impl", "call", "threads", "H", "T", "B", "first call", "steady call", "ratio"],
        )
    )

    md += ["\n## Memory against batch size\n", *memory_section(step, figs("memory"))]

    md += ["\n## Accuracy per second\n"]
    if acc_rows:
        md.append(
            f"Training on {acc.data.iloc[0]} with plain SGD (gradient norm clipped), the same epochs for every "
            f"batch size, lr = lr(B=1) x sqrt(B); validation accuracy against training seconds (evaluation "
            f"excluded), two ways: the wall clock, a jitted implementation's compilations included (left "
            f"panels; train_seconds), and the steady state without them (right panels; train_seconds - "
            f"compile_seconds, the seconds spent in calls that compiled: the whole wall time of each such call, "
            f"its execution included, so where a call that compiled is a long fused chunk of training the "
            f"steady-state clock leaves that chunk's work out too). Target accuracy {target:.3f}"
            f"{'' if best_acc is None else f' ({target / best_acc:.2f} x the best, {best_acc:.3f})'}; "
            "time to target is read at the evaluations, so it is as fine as their spacing, and given both "
            "ways.\n"
        )
        if not compile_recorded:
            md.append(
                "This run's accuracy records predate compile_seconds: compilation is counted as 0 s, so "
                "both clocks read the same.\n"
            )
        md.append(figs("accuracy_vs_time"))
        md.append(
            md_table(
                [
                    r
                    | {
                        "lr": f"{r['lr']:.3g}",
                        "best_val_accuracy": f"{r['best_val_accuracy']:.3f}",
                        "final_val_accuracy": f"{r['final_val_accuracy']:.3f}",
                        "train_seconds": f"{r['train_seconds']:.2f}",
                        "compile_seconds": f"{r['compile_seconds']:.2f}",
                        "records_per_second": _num(r["records_per_second"], ".0f"),
                        "time_to_target": "not reached"
                        if r["time_to_target"] is None
                        else f"{r['time_to_target']:.2f} s",
                        "time_to_target excl. compile": "not reached"
                        if r["time_to_target_steady"] is None
                        else f"{r['time_to_target_steady']:.2f} s",
                    }
                    for r in acc_rows
                ],
                [
                    "impl",
                    "threads",
                    "batch",
                    "lr",
                    "epochs",
                    "best_val_accuracy",
                    "final_val_accuracy",
                    "train_seconds",
                    "compile_seconds",
                    "records_per_second",
                    "time_to_target",
                    "time_to_target excl. compile",
                ],
            )
        )
    else:
        md.append("_(no accuracy runs in this run)_\n")

    md += ["\n## Checks\n"]
    bad = summary[summary.status != "ok"] if len(summary) else summary
    if len(bad):
        md.append(
            md_table(
                [
                    {"point": r.point_id, "status": r.status, "problems": _problems_text(r.problems)}
                    for r in bad.itertuples()
                ],
                ["point", "status", "problems"],
            )
        )
    else:
        md.append(
            f"All {len(summary)} sweep points passed: losses finite and falling, timed parts add up to the loop.\n"
        )
    md += [
        "\n## Files\n",
        "- samples.csv: every timed call (kinds step, epoch, first_call_step, first_call_epoch)",
        (
            "- summary.csv: one row per point (memory: model_cache_bytes, rss_before_bytes, peak_rss_bytes, "
            "rss_growth_bytes); fit.csv: the cost model; peak.csv: the matmul samples"
        ),
        (
            "- accuracy.csv: every evaluation of every training run (compile_seconds: the part of train_seconds "
            "spent compiling); machine.json: the environment"
        ),
        "- points/: one JSON file per finished point (the source of every table here)",
        "- pytest-benchmark-t*.json: pytest-benchmark's own records",
        "",
    ]
    return results.atomic_write_text(run_dir / "report.md", "\n".join(md))
