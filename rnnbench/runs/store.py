"""Where benchmark results live, and how they are written so that none is ever half-written.

    results/<run-id>/
        run.json                          what the run is: its sweep, code version and library versions
        environment/<machine>.json        each machine's environment, one entry per worker session
        points/<machine>/<point-id>.json  one record per finished point (rnnbench.runs.records.PointRecord),
                                          written atomically when it is done: the source of truth
        summary.csv, accuracy.csv, peak.csv, baseline.csv, noise.csv, samples.csv.gz
                                          the tables of rnnbench.runs.records, rebuilt from the points (`combine`)
        fit.csv                           derived by rnnbench.runs.analysis
        report.md, plots/*.png            `rnnbench report`

Storage only: nothing here computes a figure. Needs the standard library only.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rnnbench.atomic import atomic_write, atomic_write_text
from rnnbench.jsonio import jsonable, read_json, write_json
from rnnbench.runs import records

DEFAULT_RESULTS_DIR = Path("results")
POINTS = "points"
ENVIRONMENT = "environment"
MANIFEST = "run.json"
CORRUPT_SUFFIX = ".corrupt"


# -- runs ----------------------------------------------------------------------------------------------


def new_run_id(git_short: str | None, when: str | None = None) -> str:
    """date-time + short git hash, e.g. 20250101-120000-4211b91 (when: an ISO date-time, default now)."""
    import datetime as dt

    stamp = dt.datetime.fromisoformat(when) if when else dt.datetime.now()
    return f"{stamp:%Y%m%d-%H%M%S}" + (f"-{git_short}" if git_short else "")


NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def check_name(name: str, what: str = "a run id") -> str:
    """A run id or machine label: letters, digits and . _ + - (no slash, nothing hidden)."""
    if not NAME_RE.fullmatch(name or ""):
        raise ValueError(f"{what} may hold letters, digits and . _ + - (and no slash), got {name!r}")
    return name


def is_run(path: Path) -> bool:
    """A run folder: one with point files, or one kept as its tables only."""
    return path.is_dir() and (
        (path / POINTS).is_dir() or (path / MANIFEST).is_file() or (path / "summary.csv").is_file()
    )


def list_runs(results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR) -> list[Path]:
    """Run folders, oldest first by the time their points last changed, then by name."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if is_run(p)]
    return sorted(runs, key=lambda p: ((p / POINTS).stat().st_mtime if (p / POINTS).is_dir() else 0.0, p.name))


def resolve_run(run: str | os.PathLike | None, results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR) -> Path:
    """A run folder from a path, a run id under results_dir, or (None) the newest run there."""
    if run is None:
        runs = list_runs(results_dir)
        if not runs:
            raise FileNotFoundError(f"no benchmark runs in {results_dir}/ (run `rnnbench bench` first)")
        return runs[-1]
    path = Path(run)
    for candidate in (path, Path(results_dir) / path):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no benchmark run {str(run)!r} (looked for it as a folder and under {results_dir}/)")


def write_manifest(run_dir: str | os.PathLike, manifest: dict) -> Path:
    return write_json(Path(run_dir) / MANIFEST, manifest)


def code_changes(old: dict, new: dict) -> list[str]:
    """What differs between two manifests' code (commit, uncommitted changes) and library versions."""
    changes = []
    a, b = old.get("git") or {}, new.get("git") or {}
    if a.get("commit") != b.get("commit"):
        changes.append(f"git commit {a.get('short')} -> {b.get('short')}")
    elif a.get("diff_sha256") != b.get("diff_sha256"):
        changes.append("other uncommitted changes")
    va, vb = old.get("versions") or {}, new.get("versions") or {}
    changes += [
        f"{lib} {va.get(lib)} -> {vb.get(lib)}" for lib in sorted(va.keys() | vb.keys()) if va.get(lib) != vb.get(lib)
    ]
    return changes


def read_manifest(run_dir: str | os.PathLike) -> dict:
    """The run's run.json ({} when it has none or it is unreadable)."""
    try:
        doc = read_json(Path(run_dir) / MANIFEST)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


# -- points --------------------------------------------------------------------------------------------


def point_path(run_dir: str | os.PathLike, machine: str, point_id: str) -> Path:
    return Path(run_dir) / POINTS / machine / f"{point_id}.json"


def save_point(run_dir: str | os.PathLike, record: records.PointRecord | dict) -> Path:
    """Write one finished point's record atomically."""
    doc = record.as_dict() if isinstance(record, records.PointRecord) else record
    return write_json(point_path(run_dir, doc["machine"], doc["point_id"]), doc)


@dataclass
class Points:
    """A run's point records, and the point files that could not be read (path, reason)."""

    records: list[dict] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def point_files(run_dir: str | os.PathLike) -> list[Path]:
    """Every point file of a run (temporary files of an interrupted write are not point files)."""
    folder = Path(run_dir) / POINTS
    return sorted(folder.glob("*/*.json")) if folder.is_dir() else []


def read_points(run_dir: str | os.PathLike) -> Points:
    """Every readable point record of a run, in file-name order, and the files that are not records."""
    out = Points()
    for path in point_files(run_dir):
        try:
            doc = read_json(path)
            if not isinstance(doc, dict) or not {"point_id", "machine", "kind", "tables"} <= doc.keys():
                raise ValueError("not a point record")
            if doc["point_id"] != path.stem or doc["machine"] != path.parent.name:
                raise ValueError(f"holds point {doc['point_id']!r} of machine {doc['machine']!r}")
        except (OSError, ValueError, UnicodeDecodeError) as e:
            out.unreadable.append((path, str(e)))
            continue
        out.records.append(doc)
    return out


def load_points(run_dir: str | os.PathLike) -> list[dict]:
    """Every readable point record of a run (see read_points for the unreadable ones)."""
    return read_points(run_dir).records


def set_aside(path: Path) -> Path:
    """Rename an unreadable point file to <name>.corrupt (kept for a look; no longer a point file)."""
    target = path.with_name(path.name + CORRUPT_SUFFIX)
    os.replace(path, target)
    return target


def done_point_ids(run_dir: str | os.PathLike, machine: str) -> set[str]:
    """Points of this machine that need not run again on resume: every saved point that did not fail."""
    return {r["point_id"] for r in load_points(run_dir) if r["machine"] == machine and r.get("status") != "failed"}


# -- environment ---------------------------------------------------------------------------------------


def add_session(run_dir: str | os.PathLike, machine: str, session_id: str, session: dict) -> Path:
    """Write one worker session's environment to environment/<machine>/<session_id>.json (a file per
    session: workers of one machine may run at once)."""
    return write_json(Path(run_dir) / ENVIRONMENT / machine / f"{session_id}.json", session)


def load_environment(run_dir: str | os.PathLike) -> dict[str, list[dict]]:
    """machine label -> its worker sessions' environments, oldest first."""
    folder = Path(run_dir) / ENVIRONMENT
    out: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*/*.json")) if folder.is_dir() else []:
        try:
            out.setdefault(path.parent.name, []).append(read_json(path))
        except (OSError, ValueError):
            continue
    for sessions in out.values():
        sessions.sort(key=lambda s: str(s.get("date", "")))
    return out


# -- tables --------------------------------------------------------------------------------------------


def tables(run_dir: str | os.PathLike, point_records: Sequence[dict] | None = None) -> dict[str, list[dict]]:
    """The run's rows by table name (rnnbench.runs.records.TABLES; fit is derived elsewhere), gathered
    from its point records (default: read from run_dir), in point-file order; a run kept without its
    point files (as results/reference is) is read from its CSV files instead."""
    if point_records is None:
        point_records = load_points(run_dir)
        if not point_records and not point_files(run_dir):
            return {name: read_table(run_dir, name) for name in records.TABLES if name != "fit"}
    out: dict[str, list[dict]] = {name: [] for name in records.TABLES if name != "fit"}
    for rec in point_records:
        for name, rows in rec.get("tables", {}).items():
            if name in out:
                out[name] += rows
    return out


def _csv_value(v: object) -> object:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (list, tuple)):
        return "; ".join(str(x) for x in v)
    return v


def csv_text(rows: Iterable[dict], columns: Sequence[str]) -> str:
    """rows (dicts) as CSV with exactly `columns`, in that order; missing values are empty."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _csv_value(r.get(k)) for k in columns})
    return buf.getvalue()


def table_path(run_dir: str | os.PathLike, name: str) -> Path:
    return Path(run_dir) / (f"{name}.csv.gz" if name in records.COMPRESSED else f"{name}.csv")


def write_table(run_dir: str | os.PathLike, name: str, rows: Iterable[dict]) -> Path:
    """One table of rnnbench.runs.records as CSV (gzip-compressed for the raw samples), atomically."""
    text = csv_text(rows, records.columns(records.TABLES[name]))
    path = table_path(run_dir, name)
    if name in records.COMPRESSED:  # mtime=0: the same rows give the same bytes
        return atomic_write(path, lambda f: f.write(gzip.compress(text.encode("utf-8"), mtime=0)))
    return atomic_write_text(path, text)


def read_table(run_dir: str | os.PathLike, name: str) -> list[dict]:
    """A table's rows from its CSV, each value of its column's type ([] when the file is missing)."""
    path = table_path(run_dir, name)
    if not path.is_file():
        return []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        return [records.parse_row(records.TABLES[name], cells) for cells in csv.DictReader(f)]


def combine(run_dir: str | os.PathLike) -> dict[str, Path]:
    """Rebuild the run's CSV files from its point files. Returns their paths by table name."""
    t = tables(run_dir)
    return {name: write_table(run_dir, name, rows) for name, rows in t.items()}


def dumps(obj) -> str:
    return json.dumps(jsonable(obj), indent=1)
