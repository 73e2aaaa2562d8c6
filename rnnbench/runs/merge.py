"""Merging runs: one run from several, e.g. the shards of a sweep measured by hand on several machines
(the command line, which says what is kept and what refused, is rnnbench.commands.merge).

The merged run is an ordinary run (results/<run-id>/, docs/DESIGN.md §8). Points keep their machine
(points/<machine>/<point-id>.json); each machine's environment/ sessions are kept; run.json lists the
runs it came from.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rnnbench import machine
from rnnbench.jsonio import read_json, write_json
from rnnbench.runs import store


class MergeError(ValueError):
    """Bad input for `rnnbench merge`: the message is the one line to print."""


@dataclass
class RunToMerge:
    """One run to merge: its folder, run.json and point records (the unreadable files: path, why)."""

    path: Path
    manifest: dict
    points: list[dict]
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def machines(self) -> list[str]:
        return sorted({r["machine"] for r in self.points})


def load_sources(runs: list[str], results_dir: str | os.PathLike) -> list[RunToMerge]:
    out: list[RunToMerge] = []
    seen: set[Path] = set()
    for run in runs:
        try:
            path = store.resolve_run(run, results_dir)
        except FileNotFoundError as e:
            raise MergeError(str(e)) from None
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        found = store.read_points(path)
        if not found.records:
            raise MergeError(f"{path} holds no point records (points/<machine>/*.json) to merge")
        out.append(RunToMerge(path, store.read_manifest(path), found.records, found.unreadable))
    return out


def code_differences(sources: list[RunToMerge]) -> list[str]:
    """How each run's code and library versions differ from the first run's (empty when they agree)."""
    first, out = sources[0], []
    if not first.manifest:
        out.append(f"{first.name} has no run.json, so its code version is unknown")
    for other in sources[1:]:
        if not other.manifest:
            out.append(f"{other.name} has no run.json, so its code version is unknown")
        elif first.manifest and (changes := store.code_changes(first.manifest, other.manifest)):
            out.append(f"{other.name} against {first.name}: {', '.join(changes)}")
    return out


def _canonical(record: dict) -> str:
    return json.dumps(record, sort_keys=True)  # NaN as NaN: two copies of one record compare equal


def join_points(sources: list[RunToMerge]) -> dict[tuple[str, str], dict]:
    """(machine, point id) -> its record, from every source; MergeError when two copies differ."""
    joined: dict[tuple[str, str], tuple[dict, RunToMerge]] = {}
    clashes: list[str] = []
    for source in sources:
        for record in source.points:
            key = (record["machine"], record["point_id"])
            if key not in joined:
                joined[key] = (record, source)
            elif _canonical(joined[key][0]) != _canonical(record):
                first, where = joined[key]
                clashes.append(
                    f"point {key[1]} of machine {key[0]} differs between {where.name} (measured {first.get('date')}) "
                    f"and {source.name} (measured {record.get('date')})"
                )
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise MergeError(f"refusing to merge: {clashes[0]}{more}; merge only one of the runs that measured it")
    return {key: record for key, (record, _) in joined.items()}


def join_environment(sources: list[RunToMerge]) -> dict[str, dict]:
    """environment/<machine>/<session>.json of every source (relative path -> its document); a session
    file of the same name but other content is kept under the name of its run as well."""
    out: dict[str, dict] = {}
    for source in sources:
        folder = source.path / store.ENVIRONMENT
        for path in sorted(folder.glob("*/*.json")) if folder.is_dir() else []:
            try:
                doc = read_json(path)
            except (OSError, ValueError):
                continue
            rel = f"{path.parent.name}/{path.name}"
            if rel in out and _canonical(out[rel]) != _canonical(doc):
                rel = f"{path.parent.name}/{path.stem}-{source.name}.json"
            out.setdefault(rel, doc)
    return out


def merged_manifest(run_id: str, sources: list[RunToMerge], differences: list[str]) -> dict:
    """run.json of the merged run: the runs it came from (with their own run.json facts and machines),
    the code and library versions of the first, and the sweep when every run measured the same one."""
    first = sources[0].manifest
    sweeps = {_canonical(s.manifest.get("sweep")) for s in sources}
    doc = {
        "run_id": run_id,
        "created": machine.now_iso(),
        "merged_from": [
            {
                "run_id": s.manifest.get("run_id", s.name),
                "path": str(s.path.resolve()),
                "created": s.manifest.get("created"),
                "machines": s.machines,
                "points": len(s.points),
                "git": s.manifest.get("git"),
                "versions": s.manifest.get("versions"),
            }
            for s in sources
        ],
        "machines": sorted({m for s in sources for m in s.machines}),
        "git": first.get("git"),
        "versions": first.get("versions"),
    }
    if len(sweeps) == 1 and first.get("sweep") is not None:
        doc["sweep"] = first["sweep"]
    if differences:
        doc["code_differences"] = differences  # merged anyway, with --force
    return doc


def target_folder(results_dir: str | os.PathLike, run_id: str) -> Path:
    try:
        store.check_name(run_id)
    except ValueError as e:
        raise MergeError(str(e)) from None
    root = Path(results_dir)
    if root.exists() and not root.is_dir():
        raise MergeError(f"--results-dir {root} is a file, not a folder")
    target = root / run_id
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise MergeError(f"{target} already exists; choose another --run-id")
    return target


def write_merged(target: Path, points: dict[tuple[str, str], dict], environment: dict[str, dict], manifest: dict):
    """Write the merged run beside its final place and rename it there, so that it appears whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.merging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for record in points.values():
            store.save_point(staging, record)
        for rel, doc in environment.items():
            write_json(staging / store.ENVIRONMENT / rel, doc)
        store.write_manifest(staging, manifest)
        if target.exists():  # an empty folder (checked): the rename takes its place
            target.rmdir()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def merge(
    runs: list[str], run_id: str, results_dir: str | os.PathLike = store.DEFAULT_RESULTS_DIR, force: bool = False
) -> tuple[Path, list[str]]:
    """Merge runs into results_dir/run_id (see the module docstring); MergeError for bad input, before
    anything is written. Returns the merged run's folder (its tables are not yet combined) and a line for
    each point file left out as unreadable."""
    target = target_folder(results_dir, run_id)
    sources = load_sources(runs, results_dir)
    differences = code_differences(sources)
    if differences and not force:
        raise MergeError(
            f"refusing to merge runs made with other code or library versions: {'; '.join(differences)} "
            "(--force to merge anyway)"
        )
    points = join_points(sources)
    write_merged(target, points, join_environment(sources), merged_manifest(run_id, sources, differences))
    left_out = [
        f"left out an unreadable point file of {source.name}: {path} ({why})"
        for source in sources
        for path, why in source.unreadable
    ]
    return target, left_out
