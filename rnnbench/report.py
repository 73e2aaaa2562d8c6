"""Turn a benchmark run into results/<run-id>/report.md with PNG plots in results/<run-id>/plots/.

Plots (one set per thread setting): per-record cost against batch size (log-log, a line per
implementation, a panel per hidden size and sequence length), speed-up over B=1, fixed overhead against
marginal per-record cost (the fit time_per_step(B) = overhead + B * marginal) and the fit against the
measured medians, percent of this machine's matmul peak, first-call (tracing / compilation) times,
and validation accuracy against training seconds. Tables of the headline figures, and sentences that
say what they mean: every number in them comes from the run's data.

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
        frames[name] = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=list(cols))
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


def plot_accuracy(acc, plt, colors, path: Path, threads: int, target: float | None) -> Path:
    """Validation accuracy against training seconds (log scale, shared by the panels): a panel per
    implementation, a line per B. The evaluation before any training (0 s) is left off the log axis."""
    names = sorted(acc.impl.unique(), key=list(colors).index)
    n_cols = min(2, len(names))
    n_rows = math.ceil(len(names) / n_cols)
    title = f"Validation accuracy vs training wall-clock, evaluation excluded (threads={threads})"
    fig, axes = _grid(plt, n_rows, n_cols, title, 5.2, 3.8)
    batches = sorted(acc.batch.unique())
    cmap = plt.get_cmap("viridis")
    shade = {b: cmap(k / max(1, len(batches) - 1) * 0.85) for k, b in enumerate(batches)}
    timed = acc[acc.train_seconds > 0]
    lo, hi = (timed.train_seconds.min() / 1.5, timed.train_seconds.max() * 1.5) if len(timed) else (0.1, 10)
    for k, impl in enumerate(names):
        ax = axes[k // n_cols][k % n_cols]
        for b, g in timed[timed.impl == impl].groupby("batch", sort=True):
            g = g.sort_values("train_seconds")
            label = f"B={b}, lr={g.lr.iloc[0]:.3g}"
            ax.plot(g.train_seconds, g.val_accuracy, marker="o", ms=3, color=shade[b], label=label)
        if target is not None:
            ax.axhline(target, ls="--", color="grey", lw=1, label=f"target {target:.3f}")
        _log_axes(ax, y=False, xbase=10)
        ax.set_xlim(lo, hi)
        ax.set_title(impl)
        ax.set_xlabel("training seconds (log scale)")
        ax.set_ylabel("validation accuracy")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for k in range(len(names), n_rows * n_cols):
        axes[k // n_cols][k % n_cols].set_visible(False)
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
            out.append(
                f"Validation accuracy {target:.3f} is reached first by {first['impl']} with B={first['batch']}, "
                f"after {first['time_to_target']:.2f} s of training."
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
                out.append(
                    f"{r['impl']}: per-record SGD (B={r['batch']}) takes {r['time_to_target']:.2f} s to the target, "
                    f"B={best['batch']} takes {best['time_to_target']:.2f} s ({r['time_to_target'] / best['time_to_target']:.1f}x)."
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
        plt.close("all")

    # accuracy per second
    acc_rows: list[dict] = []
    best_acc = float(acc.val_accuracy.max()) if len(acc) else None
    if target is None and best_acc is not None:
        target = target_fraction * best_acc
    for (impl, threads, b), g in acc.groupby(["impl", "threads", "batch"], sort=True):
        evals = g.to_dict("records")
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
                "records_per_second": float(last.records_seen) / float(last.train_seconds)
                if last.train_seconds > 0
                else None,
                "time_to_target": results.time_to_target(evals, target),
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

    md += ["\n## Accuracy per second\n"]
    if acc_rows:
        md.append(
            f"Training on {acc.data.iloc[0]} with plain SGD (gradient norm clipped), the same epochs for every "
            f"batch size, lr = lr(B=1) x sqrt(B); validation accuracy against training seconds (evaluation "
            f"excluded; a jitted implementation's compilations included). Target accuracy {target:.3f}"
            f"{'' if best_acc is None else f' ({target / best_acc:.2f} x the best, {best_acc:.3f})'}; "
            "time to target is read at the evaluations, so it is as fine as their spacing.\n"
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
                        "records_per_second": _num(r["records_per_second"], ".0f"),
                        "time_to_target": "not reached"
                        if r["time_to_target"] is None
                        else f"{r['time_to_target']:.2f} s",
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
                    "records_per_second",
                    "time_to_target",
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
        "- summary.csv: one row per point; fit.csv: the cost model; peak.csv: the matmul samples",
        "- accuracy.csv: every evaluation of every training run; machine.json: the environment",
        "- points/: one JSON file per finished point (the source of every table here)",
        "- pytest-benchmark-t*.json: pytest-benchmark's own records",
        "",
    ]
    return results.atomic_write_text(run_dir / "report.md", "\n".join(md))
