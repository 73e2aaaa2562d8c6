"""From `rnnbench bench`'s arguments to the worker specs it runs: the implementations, the profile, the
shard, the run folder (new, or resumed only if the code and libraries are still the ones it began
with), and the points still to measure, grouped per worker. Every bad input ends here, with one clear
line, before anything is measured or written."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rnnbench import machine, results
from rnnbench.bench import points as pts
from rnnbench.bench.profiles import PROFILES
from rnnbench.bench.shards import Shard, parse_shard, shard_points
from rnnbench.bench.worker import WorkerSpec


class PlanError(ValueError):
    """Bad input for `rnnbench bench`: the message is the one line to print."""


@dataclass
class Plan:
    sweep: pts.Sweep
    machine: str
    shard: Shard | None
    run_dir: Path
    specs: list[WorkerSpec]
    already_done: int = 0
    set_aside: list[str] = field(default_factory=list)  # per unreadable point file: what it was and what became of it


def group_of(spec: WorkerSpec) -> pts.WorkerGroup:
    return pts.WorkerGroup(spec.impl, spec.threads, spec.device)


def resolve_impls(names: list[str] | None, device: str) -> tuple[str, ...]:
    import impls

    if names is None:
        found = impls.available(device)
        if not found:
            raise PlanError(f"no implementation is installed for device {device!r}")
        return tuple(found)
    reasons = [r for n in names if (r := impls.unavailable_reason(n, device))]
    if reasons:
        raise PlanError("; ".join(reasons))
    return tuple(dict.fromkeys(names))


def make_sweep(args: argparse.Namespace) -> pts.Sweep:
    import impls

    names = resolve_impls(args.impl, args.device)
    profile = PROFILES[args.profile].with_overrides(
        hidden=args.hidden, seq_len=args.seq_len, batch_sizes=args.batch_sizes, data=args.data
    )
    return pts.Sweep(
        impls=names,
        profile=profile,
        threads=tuple(args.threads),
        device=args.device,
        fused=tuple(n for n in names if n in impls.FUSED_EPOCH),
        sweep=not args.skip_sweep,
        accuracy=not args.skip_accuracy,
    )


def manifest(sweep: pts.Sweep, run_id: str) -> dict:
    """What run.json records: the sweep asked for, and the code and library versions it ran with."""
    return {
        "run_id": run_id,
        "created": machine.now_iso(),
        "sweep": asdict(sweep),
        "git": machine.git(),
        "versions": machine.versions(),
    }


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


def sweep_changes(old: dict, sweep: pts.Sweep) -> list[str]:
    """What differs between the sweep a run.json records and this one (field: old -> new)."""
    if "sweep" not in old:
        return []
    now = json.loads(json.dumps(asdict(sweep)))  # tuples as lists, as run.json holds them
    was = old["sweep"] or {}
    out = [f"{k} {was.get(k)} -> {now[k]}" for k in now if k != "profile" and was.get(k) != now[k]]
    wp, np_ = was.get("profile") or {}, now["profile"]
    return out + [f"{k} {wp.get(k)} -> {np_[k]}" for k in np_ if wp.get(k) != np_[k]]


def _writable(root: Path) -> None:
    """The results folder exists (or can be made) and takes files: checked before anything runs."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PlanError(f"cannot create the results folder {root}: {e.strerror or e}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise PlanError(f"the results folder {root} is not writable")


def run_folder(args: argparse.Namespace, sweep: pts.Sweep) -> Path:
    root = Path(args.results_dir)
    if root.exists() and not root.is_dir():
        raise PlanError(f"--results-dir {root} is a file, not a folder")
    if args.resume and args.run_id is None:
        try:
            run_dir = results.resolve_run(None, root)
        except FileNotFoundError as e:
            raise PlanError(str(e)) from None
    else:
        try:
            run_id = results.check_name(args.run_id or results.new_run_id(machine.git().get("short")))
        except ValueError as e:
            raise PlanError(str(e)) from None
        run_dir = root / run_id
    _writable(run_dir if run_dir.exists() else root)
    now = manifest(sweep, run_dir.name)
    old = results.read_manifest(run_dir)
    if args.resume:
        if not (results.is_run(run_dir) or old):  # run.json alone: interrupted before its first point
            raise PlanError(f"nothing to resume: {run_dir} holds no run")
        other = sweep_changes(old, sweep)
        if other:
            raise PlanError(
                f"run {run_dir.name} measures another sweep ({'; '.join(other)}): resume it with the options it began with"
            )
        changes = code_changes(old, now) if old else ["the run has no run.json to check against"]
        if changes and not args.force:
            raise PlanError(
                f"refusing to resume {run_dir.name}: since it began, {'; '.join(changes)} (--force to resume anyway)"
            )
    elif results.point_files(run_dir):
        raise PlanError(f"run {run_dir} already has results; add --resume to continue it, or choose another --run-id")
    if not old or not args.resume:  # a fresh start in a folder left by an interrupted one records this code
        run_dir.mkdir(parents=True, exist_ok=True)
        results.write_manifest(run_dir, now)
    return run_dir


def make_plan(args: argparse.Namespace) -> Plan:
    if args.skip_sweep and args.skip_accuracy:
        raise PlanError("--skip-sweep and --skip-accuracy together leave nothing to measure")
    try:
        shard = parse_shard(args.shard) if args.shard else None
        label = results.check_name(args.machine, "a machine label") if args.machine else machine.machine_label()
    except ValueError as e:
        raise PlanError(str(e)) from None
    sweep = make_sweep(args)
    everything = pts.all_points(sweep)
    chosen = shard_points(everything, shard, sweep.profile) if shard else everything
    run_dir = run_folder(args, sweep)
    found = results.read_points(run_dir)
    unreadable = [(path, reason, results.set_aside(path)) for path, reason in found.unreadable]
    done = results.done_point_ids(run_dir, label) if args.resume else set()
    todo = [p for p in chosen if p.point_id not in done]
    todo_ids = {(label, p.point_id) for p in todo}
    set_aside = [
        f"{path} ({reason}): set aside as {target.name}"
        + ("; measured again" if (path.parent.name, path.stem) in todo_ids else "; not in this sweep")
        for path, reason, target in unreadable
    ]
    groups: dict[pts.WorkerGroup, list[str]] = {}
    for p in todo:
        groups.setdefault(p.group, []).append(p.point_id)
    profile = asdict(sweep.profile)
    specs = [
        WorkerSpec(
            str(run_dir),
            run_dir.name,
            label,
            g.impl,
            g.threads,
            g.device,
            profile,
            tuple(ids),
            shard.tag if shard else "",
        )
        for g, ids in groups.items()
    ]
    return Plan(sweep, label, shard, run_dir, specs, len(chosen) - len(todo), set_aside)
