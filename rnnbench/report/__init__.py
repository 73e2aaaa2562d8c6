"""Turn a benchmark run into <run>/report.md with its plots in <run>/plots/ (the command line is
rnnbench.commands.report, which describes the report).

Here: the run as the report reads it (every figure from rnnbench.runs.analysis); sections.py writes the
markdown's sections, document.py puts them together under the opening, plots.py the figures (matplotlib, imported there only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rnnbench.atomic import atomic_write_text
from rnnbench.runs import analysis, seeds, store

__all__ = ["ReportedRun", "build_report", "read_run"]


@dataclass
class ReportedRun:
    """A run as the report reads it: its tables and the figures analysis derives from them."""

    run_dir: Path
    run_id: str
    manifest: dict
    environment: dict[str, list[dict]]  # machine -> its worker sessions
    tables: dict[str, list[dict]]
    configs: list[dict]  # analysis.configs: every configuration of every shape
    shape: tuple[int, int] | None  # the (H, T) of the tables (analysis.headline_shape)
    fits: list[dict]
    growth: list[dict]
    target: float | None
    best_accuracy: float | None
    accuracy: list[dict]  # analysis.accuracy_runs: one per training run (configuration and seed)
    seeded: list[dict]  # seeds.over_seeds: one per configuration, medians and intervals over its seeds
    noise: list[dict]  # analysis.worker_noise
    loaded: list[dict]  # step/epoch rows measured under load
    cores: dict[str, int]
    problems: list[dict] = field(default_factory=list)  # points whose status is not ok
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def machines(self) -> list[str]:
        found = {r["machine"] for rows in self.tables.values() for r in rows}
        return sorted(found | set(self.environment))

    def at_shape(self, items: list[dict]) -> list[dict]:
        """The items (configs, fits, growth rows) at the tables' shape."""
        return [c for c in items if (int(c["hidden"]), int(c["seq_len"])) == self.shape]


def read_run(run_dir: str | Path, target: float | None = None) -> ReportedRun:
    """Everything the report shows of run_dir. Raises FileNotFoundError for a folder with no results
    and ValueError for an impossible target accuracy."""
    run_dir = Path(run_dir)
    tables = analysis.load(run_dir)
    if not any(tables.values()):
        raise FileNotFoundError(f"{run_dir} holds no benchmark results (no point files and no CSV tables)")
    target, best = analysis.accuracy_target(tables["accuracy"], target)
    summary = tables["summary"]
    environment = store.load_environment(run_dir)
    cores = analysis.machine_cores(environment)
    points = store.read_points(run_dir)
    manifest = store.read_manifest(run_dir)
    accuracy = analysis.accuracy_runs(tables["accuracy"], target)
    return ReportedRun(
        run_dir=run_dir,
        # a merged run's records keep the ids of the runs they were measured in: run.json names this one
        run_id=manifest.get("run_id") or next((r["run_id"] for r in summary if r.get("run_id")), None) or run_dir.name,
        manifest=manifest,
        environment=environment,
        tables=tables,
        configs=analysis.configs(analysis.enrich(summary, tables["peak"], tables["baseline"])),
        shape=analysis.headline_shape(summary),
        fits=analysis.fits(summary),
        growth=analysis.memory_growth(summary),
        target=target,
        best_accuracy=best,
        accuracy=accuracy,
        seeded=seeds.over_seeds(accuracy),
        noise=analysis.worker_noise(tables["noise"]),
        loaded=analysis.loaded(summary, cores),
        cores=cores,
        problems=_problems(points.records, tables),
        unreadable=points.unreadable,
    )


def _problems(point_records: list[dict], tables: dict[str, list[dict]]) -> list[dict]:
    """machine, point_id, status, problems of every point that is not ok: from the point files, or
    from the summary and baseline tables of a run that keeps only its CSVs."""
    if point_records:
        rows = [
            {"machine": p["machine"], "point_id": p["point_id"], "status": p.get("status")}
            | {"problems": [*_listed(p, "problems"), *_listed(p, "flags"), *_listed(p, "skipped")]}
            for p in point_records
        ]
    else:
        rows = [r for name in ("summary", "baseline") for r in tables[name]]
    return [r for r in rows if r.get("status") not in ("ok", None)]


def _listed(point: dict, what: str) -> list[str]:
    """A point's checks[what] as a list of lines (a skip reason is one text)."""
    value = point.get("checks", {}).get(what) or []
    return [value] if isinstance(value, str) else list(value)


def build_report(run_dir: str | Path, target: float | None = None) -> Path:
    """Write run_dir/report.md and run_dir/plots/*.png from the run's data; return report.md's path.
    target: the validation accuracy that time-to-target refers to (default: 0.9 x the run's best)."""
    from rnnbench.report import document, outside, plots  # matplotlib loads only when a report is drawn

    run = read_run(run_dir, target)
    figures = plots.draw(run, run.run_dir / "plots")
    parts = [document.markdown(run, figures), outside.section(run)]  # the closing note: other packages' impls
    return atomic_write_text(run.run_dir / "report.md", "\n".join(p for p in parts if p))
