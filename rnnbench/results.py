"""Where benchmark results live, and how they are written so that none is ever half-written.

    results/<run-id>/
        machine.json                  environment of each session of the run (rnnbench.machine)
        points/<point-id>.json        one file per finished point, written atomically when it is done
        samples.csv                   long form: one row per timed call (kinds step, epoch, first_call_*)
        summary.csv                   one row per point: median, IQR, per-record cost, FLOPs, % of peak,
                                      memory (BPTT cache from the shapes, RSS high-water of the process)
        fit.csv                       time_per_step(B) = overhead + B * marginal per (impl, threads, H, T)
        peak.csv                      matmul samples behind the peak GFLOP/s
        floor.csv                     the plain-C floor (rnnbench.floor) at the sweep's shapes
        accuracy.csv                  validation accuracy against training seconds (and the seconds of
                                      them spent compiling), per training run
        pytest-benchmark-t<N>.json    pytest-benchmark's own record of each session
        report.md, plots/*.png        `rnnbench report`

The point files are the source of truth: the CSVs are rebuilt from them (`combine`) at the end of a
session, by `rnnbench report`, and after an interrupted run. Everything here needs only the standard
library and NumPy.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from rnnbench.atomic import atomic_write_text
from rnnbench.costmodel import fit_overhead_marginal

SCHEMA_VERSION = 1
DEFAULT_RESULTS_DIR = Path("results")
POINTS = "points"

SAMPLE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "point_id",
    "impl",
    "device",
    "threads",
    "hidden",
    "seq_len",
    "batch",
    "kind",
    "round",
    "sample",
    "seconds",
    "records",
    "per_record_seconds",
    "loss",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "run_id",
    "point_id",
    "impl",
    "device",
    "threads",
    "hidden",
    "seq_len",
    "batch",
    "kind",
    "records_per_call",
    "n_samples",
    "rounds",
    "iterations",
    "median_s",
    "q1_s",
    "q3_s",
    "iqr_s",
    "min_s",
    "mean_s",
    "per_record_median_s",
    "per_record_iqr_s",
    "first_call_s",
    "flops_per_step",
    "flops_per_record",
    "gflops",
    "peak_gflops",
    "pct_of_peak",
    "model_cache_bytes",
    "step_peak_bytes",
    "step_memory_method",
    "rss_before_bytes",
    "peak_rss_bytes",
    "rss_growth_bytes",
    "loss_before",
    "loss_after",
    "sanity_gap",
    "sanity_ok",
    "status",
    "problems",
)
FIT_COLUMNS: tuple[str, ...] = (
    "run_id",
    "impl",
    "device",
    "threads",
    "hidden",
    "seq_len",
    "kind",
    "overhead_s",
    "marginal_s",
    "crossover_batch",
    "max_rel_residual",
    "n_points",
    "batch_min",
    "batch_max",
)
ACCURACY_COLUMNS: tuple[str, ...] = (
    "run_id",
    "point_id",
    "impl",
    "device",
    "threads",
    "hidden",
    "batch",
    "optimizer",
    "lr",
    "epochs",
    "data",
    "eval",
    "epoch",
    "records_seen",
    "train_seconds",
    "compile_seconds",
    "val_accuracy",
    "val_loss",
)
PEAK_COLUMNS: tuple[str, ...] = ("run_id", "library", "n", "threads", "sample", "seconds", "gflops", "max_rel_error")
FLOOR_COLUMNS: tuple[str, ...] = (
    "run_id",
    "point_id",
    "threads",
    "hidden",
    "seq_len",
    "batch",
    "n_samples",
    "iterations",
    "median_s",
    "q1_s",
    "q3_s",
    "min_s",
    "per_record_median_s",
    "per_record_iqr_s",
    "loss_first",
    "loss_last",
    "compiler",
    "flags",
    "status",
)


# -- atomic writes (rnnbench.atomic) ------------------------------------------------------------------


def atomic_write_json(path: str | os.PathLike, obj: object) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False, default=_json_default, allow_nan=True))


def atomic_write_csv(path: str | os.PathLike, rows: Iterable[dict], columns: Sequence[str]) -> Path:
    """rows (dicts) as CSV with exactly `columns`, in that order; missing values are empty."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return atomic_write_text(path, buf.getvalue())


def _csv_value(v: object) -> object:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (list, tuple)):
        return "; ".join(str(x) for x in v)
    return v


def _json_default(obj: object) -> object:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


# -- runs and points -----------------------------------------------------------------------------------


def new_run_id(git_short: str | None, when: str | None = None) -> str:
    """date-time + short git hash, e.g. 20250101-120000-4211b91 (when: an ISO date-time, default now)."""
    import datetime as dt

    stamp = dt.datetime.fromisoformat(when) if when else dt.datetime.now()
    return f"{stamp:%Y%m%d-%H%M%S}" + (f"-{git_short}" if git_short else "")


def check_run_id(run_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", run_id or ""):
        raise ValueError(f"a run id may hold letters, digits and . _ + - (and no slash), got {run_id!r}")
    return run_id


def list_runs(results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR) -> list[Path]:
    """Run folders (those with a points/ folder or a summary.csv), oldest first by name and time."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and ((p / POINTS).is_dir() or (p / "summary.csv").is_file())]
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


def point_path(run_dir: str | os.PathLike, point_id: str) -> Path:
    return Path(run_dir) / POINTS / f"{point_id}.json"


def save_point(run_dir: str | os.PathLike, record: dict) -> Path:
    """Write one finished point's record atomically (see `load_points` for what it holds)."""
    record = {"schema": SCHEMA_VERSION} | record
    return atomic_write_json(point_path(run_dir, record["point_id"]), record)


def load_points(run_dir: str | os.PathLike) -> list[dict]:
    """Every complete point record of a run, in file-name order. Temporary files of an interrupted
    write are ignored; a file that is not a valid record is skipped with a warning."""
    folder = Path(run_dir) / POINTS
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or "point_id" not in record:
                raise ValueError("not a point record")
        except (OSError, ValueError) as e:
            warnings.warn(f"skipping unreadable point file {path}: {e}", stacklevel=2)
            continue
        out.append(record)
    return out


def done_point_ids(run_dir: str | os.PathLike) -> set[str]:
    """Points that need not run again on --resume: every saved point that did not fail its checks."""
    return {r["point_id"] for r in load_points(run_dir) if r.get("status") != "failed"}


def update_machine(run_dir: str | os.PathLike, session: dict) -> Path:
    """Append one session's environment to machine.json (read, extend, write atomically)."""
    path = Path(run_dir) / "machine.json"
    doc: dict = {"schema": SCHEMA_VERSION, "sessions": []}
    if path.is_file():
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict) and isinstance(loaded.get("sessions"), list):
                doc = loaded
    doc["sessions"].append(session)
    doc["latest"] = session
    return atomic_write_json(path, doc)


def finish_machine(run_dir: str | os.PathLike, extra: dict) -> Path | None:
    """Merge what is known only at a session's end (the thread pools the frameworks really started)
    into the last session of machine.json."""
    path = Path(run_dir) / "machine.json"
    doc = load_machine(run_dir)
    if not doc.get("sessions"):
        return None
    doc["sessions"][-1] |= extra
    doc["latest"] = doc["sessions"][-1]
    return atomic_write_json(path, doc)


def load_machine(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / "machine.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# -- tables --------------------------------------------------------------------------------------------


def peak_by_threads(peak_rows: Iterable[dict]) -> dict[int, float]:
    """Best matmul GFLOP/s measured at each thread count."""
    best: dict[int, float] = {}
    for row in peak_rows:
        t, g = int(row["threads"]), float(row["gflops"])
        best[t] = max(best.get(t, 0.0), g)
    return best


def tables(run_dir: str | os.PathLike) -> dict[str, list[dict]]:
    """The run's rows by table: samples, summary, fit, accuracy, peak, floor (lists of dicts, column
    names as in the *_COLUMNS tuples)."""
    samples: list[dict] = []
    summary: list[dict] = []
    accuracy: list[dict] = []
    peak: list[dict] = []
    floor: list[dict] = []
    for rec in load_points(run_dir):
        kind = rec.get("kind")
        if kind in ("step", "epoch"):
            samples += rec.get("rows", [])
            summary.append(rec["summary"])
        elif kind == "accuracy":
            accuracy += rec.get("rows", [])
        elif kind == "peak":
            peak += rec.get("rows", [])
        elif kind == "floor":
            floor.append(rec["summary"])
    best = peak_by_threads(peak)
    for row in summary:
        p = best.get(int(row["threads"]))
        row["peak_gflops"] = p
        g = row.get("gflops")
        row["pct_of_peak"] = 100.0 * g / p if p and g is not None and math.isfinite(g) else None
    order = ("impl", "threads", "hidden", "seq_len", "kind", "batch")

    def key(r):
        return tuple(str(r[k]) if k in ("impl", "kind") else int(r[k]) for k in order)

    summary.sort(key=key)
    samples.sort(key=lambda r: (*key(r | {"kind": r["kind"].removeprefix("first_call_")}), int(r["sample"])))
    floor.sort(key=lambda r: tuple(int(r[k]) for k in ("threads", "hidden", "seq_len", "batch")))
    out = {"samples": samples, "summary": summary, "fit": fits(summary), "accuracy": accuracy, "peak": peak}
    return out | {"floor": floor}


def fits(summary: Sequence[dict]) -> list[dict]:
    """The cost-model fit for every (impl, device, threads, hidden, seq_len, kind) with >= 2 batch sizes."""
    groups: dict[tuple, list[dict]] = {}
    for row in summary:
        if row.get("status") == "failed":
            continue
        key = (row["impl"], row["device"], int(row["threads"]), int(row["hidden"]), int(row["seq_len"]), row["kind"])
        groups.setdefault(key, []).append(row)
    out = []
    for (impl, device, threads, hidden, seq_len, kind), rows in sorted(groups.items()):
        batch = [int(r["batch"]) for r in rows]
        # an epoch call covers many steps: fit the time per step, median_s / steps per epoch
        per_step = [float(r["median_s"]) * int(r["batch"]) / float(r["records_per_call"]) for r in rows]
        fit = fit_overhead_marginal(batch, per_step)
        out.append(
            {
                "run_id": rows[0].get("run_id"),
                "impl": impl,
                "device": device,
                "threads": threads,
                "hidden": hidden,
                "seq_len": seq_len,
                "kind": kind,
                "overhead_s": fit.overhead,
                "marginal_s": fit.marginal,
                "crossover_batch": fit.crossover,
                "max_rel_residual": fit.max_rel_residual,
                "n_points": fit.n,
                "batch_min": min(batch),
                "batch_max": max(batch),
            }
        )
    return out


def combine(run_dir: str | os.PathLike) -> dict[str, Path]:
    """Rebuild the run's CSV files from its point files, each written atomically. Returns their paths."""
    run_dir = Path(run_dir)
    t = tables(run_dir)
    spec = {
        "samples": SAMPLE_COLUMNS,
        "summary": SUMMARY_COLUMNS,
        "fit": FIT_COLUMNS,
        "accuracy": ACCURACY_COLUMNS,
        "peak": PEAK_COLUMNS,
        "floor": FLOOR_COLUMNS,
    }
    return {name: atomic_write_csv(run_dir / f"{name}.csv", t[name], cols) for name, cols in spec.items()}


def time_to_target(evals: Sequence[dict], target: float) -> float | None:
    """Training seconds at the first evaluation whose val_accuracy reaches target (None if none does).

    The resolution is that of the evaluation schedule (eval_every records)."""
    for row in sorted(evals, key=lambda r: float(r["train_seconds"])):
        if float(row["val_accuracy"]) >= target:
            return float(row["train_seconds"])
    return None
