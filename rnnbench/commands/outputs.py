"""What a run gets once its points are measured or merged, for `rnnbench bench` and `rnnbench merge` alike:
its tables from the points, fit.csv, and its report."""

from __future__ import annotations

from pathlib import Path

from rnnbench.runs import store


def finish(run_dir: Path, report: bool) -> None:
    """The run's tables from its points, fit.csv, and (if asked and possible) its report."""
    from rnnbench.runs import analysis

    store.combine(run_dir)
    analysis.write_fit(run_dir)
    if not report:
        return
    try:
        from rnnbench import report as report_module

        print(f"report: {report_module.build_report(run_dir)}")
    except ImportError as e:
        print(f"no report: {e} (pip install 'rnnbench[report]')")
