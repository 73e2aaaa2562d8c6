"""Assembling report.md: read the run, draw its figures, and write its sections in order."""

from __future__ import annotations

from pathlib import Path

from rnnbench import results
from rnnbench.report import derived, load, sections
from rnnbench.report.findings import findings
from rnnbench.report.plot_layout import impl_colors
from rnnbench.report.plots import draw_figures


def build_report(run_dir: str | Path, target: float | None = None, target_fraction: float = 0.9) -> Path:
    """Write run_dir/report.md and run_dir/plots/*.png from the run's data; return report.md's path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed, nor wanted on a benchmark machine
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    frames = load.load_frames(run_dir)
    summary, fit, peak = frames["summary"], frames["fit"], frames["peak"]
    step = load.usable_points(summary)
    floor = load.usable_floor(frames["floor"])
    acc = load.with_both_clocks(frames["accuracy"])
    target, best_acc = derived.accuracy_target(acc, target, target_fraction)
    best_peak = derived.best_peak_by_threads(peak)

    colors = impl_colors(set(summary.impl) | set(acc.impl))
    figures = draw_figures(plt, colors, run_dir / "plots", step, fit, acc, best_peak, target, floor)

    headline = derived.headline_rows(step)
    acc_rows = derived.accuracy_rows(acc, target)
    sentences = findings(step, fit, headline, acc_rows, target, best_peak, derived.check_counts(summary), floor)

    md = [
        *sections.title_section(_run_id(summary, run_dir)),
        *sections.environment_section(run_dir),
        *sections.findings_section(sentences),
        *sections.per_record_cost_section(headline, figures),
        *sections.speedup_section(figures),
        *sections.threads_section(step),
        *sections.overhead_section(fit, figures),
        *sections.efficiency_section(peak, figures),
        *sections.reference_section(step, derived.impl_kinds(summary), best_peak, floor),
        *sections.first_call_section(step, figures),
        *sections.memory_section(step, figures),
        *sections.accuracy_section(acc, acc_rows, target, best_acc, load.compile_recorded(frames["accuracy"]), figures),
        *sections.checks_section(summary),
        *sections.files_section(),
    ]
    return results.atomic_write_text(run_dir / "report.md", "\n".join(md))


def _run_id(summary, run_dir: Path) -> str:
    """The run id the points carry; the folder's name for points that carry none."""
    return (summary.run_id.dropna().iloc[0] if summary.run_id.notna().any() else None) or run_dir.name
