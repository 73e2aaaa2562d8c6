"""From `rnnbench bench`'s arguments to the worker specs it runs: the implementations, the profile, the
shard, the run folder (new, or resumed only if the code and libraries are still the ones it began
with), and the points still to measure, grouped per worker. Every bad input ends here, with one clear
line, before anything is measured or written."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rnnbench import machine
from rnnbench.bench import executors, gate
from rnnbench.bench import points as pts
from rnnbench.bench.profiles import PROFILES, Profile
from rnnbench.bench.shards import Shard, parse_shard, shard_points
from rnnbench.bench.worker import WorkerSpec
from rnnbench.runs import store


class PlanError(ValueError):
    """Bad input for `rnnbench bench`: the message is the one line to print."""


@dataclass
class Plan:
    """machine None: each job takes the label of the node it lands on (SLURM without --machine).
    jobs: what the executor submits, one per shard (one "all" job for an unsharded sweep); specs: every
    job's worker specs, in order."""

    sweep: pts.Sweep
    machine: str | None
    shard: Shard | None
    run_dir: Path
    specs: list[WorkerSpec]
    already_done: int = 0
    set_aside: list[str] = field(default_factory=list)  # per unreadable point file: what it was and what became of it
    jobs: list[executors.ShardJob] = field(default_factory=list)
    execution: executors.ExecutorOptions = field(default_factory=executors.ExecutorOptions)
    gate: dict[str, dict] = field(default_factory=dict)  # outside implementation -> its check's verdict (gate.py)


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


# the flags of `rnnbench bench` that set a field of the profile: those of the step-cost sweep, then those
# of the accuracy runs
SWEEP_FLAGS: dict[str, str] = {"--hidden": "hidden", "--seq-len": "seq_len", "--batch-sizes": "batch_sizes"}
ACCURACY_FLAGS: dict[str, str] = {
    "--data": "data",
    "--acc-hidden": "acc_hidden",
    "--acc-batch-sizes": "acc_batch_sizes",
    "--acc-epochs": "epochs",
    "--acc-lr": "lr_b1",
    "--seeds": "acc_seeds",
}
PROFILE_FLAGS: dict[str, str] = SWEEP_FLAGS | ACCURACY_FLAGS


def _dest(flag: str) -> str:
    return flag[2:].replace("-", "_")


def check_flags_apply(args: argparse.Namespace) -> None:
    """A flag of the part that --skip-sweep or --skip-accuracy leaves out is refused, not ignored."""
    for skip, flags, part in (
        ("skip_sweep", SWEEP_FLAGS, "the step-cost sweep, which --skip-sweep leaves out"),
        ("skip_accuracy", ACCURACY_FLAGS, "the accuracy runs, which --skip-accuracy leaves out"),
    ):
        given = [flag for flag in flags if getattr(args, _dest(flag), None) is not None]
        if getattr(args, skip) and given:
            raise PlanError(f"{', '.join(given)} {'sets' if len(given) == 1 else 'set'} {part}: drop one or the other")


def make_sweep(args: argparse.Namespace, verdicts: dict[str, dict] | None = None) -> pts.Sweep:
    import impls

    check_flags_apply(args)
    names = gate.admitted(resolve_impls(args.impl, args.device), verdicts or {})
    if not names:
        refused = (gate.describe(n, v) for n, v in (verdicts or {}).items())
        raise PlanError(f"no implementation left to measure: {'; '.join(refused)}")
    profile = PROFILES[args.profile].with_overrides(
        **{name: getattr(args, _dest(flag), None) for flag, name in PROFILE_FLAGS.items()}
    )
    if not args.skip_accuracy:
        profile = replace(profile, data=checked_data(profile))
    return pts.Sweep(
        impls=names,
        profile=profile,
        threads=tuple(args.threads),
        device=args.device,
        fused=tuple(n for n in names if impls.registry.fuses_epoch(n)),
        sweep=not args.skip_sweep,
        accuracy=not args.skip_accuracy,
    )


def checked_data(profile: Profile) -> str:
    """The accuracy runs' data spec with its path made absolute against the current folder (the workers
    run in the checkout), after loading it as the accuracy runs will: a spec that cannot be read, a
    missing folder, a one-class set is refused here, before anything is measured (PlanError)."""
    from impls.core import InputError
    from rnnbench.bench.accuracy import load_accuracy_data
    from rnnbench.data.sources import absolute_spec

    try:
        spec = absolute_spec(profile.data)
        load_accuracy_data(replace(profile, data=spec))
    except InputError as e:
        raise PlanError(str(e)) from None
    return spec


def manifest(sweep: pts.Sweep, run_id: str, root: Path = machine.REPO_ROOT) -> dict:
    """What run.json records: the sweep asked for, and the code (of the checkout at root) and library
    versions it ran with."""
    return {
        "run_id": run_id,
        "created": machine.now_iso(),
        "sweep": asdict(sweep),
        "git": machine.git(root),
        "versions": machine.versions(),
    }


def sweep_changes(old: dict, sweep: pts.Sweep) -> list[str]:
    """What differs between the sweep a run.json records and this one (field: old -> new). More seeds
    than the run began with is no change: the same training runs, more of them (more_seeds)."""
    if "sweep" not in old:
        return []
    now = json.loads(json.dumps(asdict(sweep)))  # tuples as lists, as run.json holds them
    was = old["sweep"] or {}
    out = [f"{k} {was.get(k)} -> {now[k]}" for k in now if k != "profile" and was.get(k) != now[k]]
    wp, np_ = was.get("profile") or {}, now["profile"]
    wp = wp | {"data": _recorded_data(wp.get("data"))}
    changed = [k for k in np_ if wp.get(k) != np_[k] and not (k == "acc_seeds" and more_seeds(old, sweep))]
    return out + [f"{k} {wp.get(k)} -> {np_[k]}" for k in changed]


def more_seeds(old: dict, sweep: pts.Sweep) -> bool:
    """This sweep asks for more accuracy seeds than the run.json `old` records."""
    was = ((old.get("sweep") or {}).get("profile") or {}).get("acc_seeds")
    return isinstance(was, int) and sweep.profile.acc_seeds > was


def _recorded_data(spec: str | None) -> str | None:
    """The data spec of a run.json, absolute: an older one holds a path as given, which its workers read
    from the checkout (their working folder)."""
    from impls.core import InputError
    from rnnbench.data.sources import absolute_spec

    try:
        return absolute_spec(spec, str(machine.REPO_ROOT)) if spec else spec
    except InputError:
        return spec


def _writable(root: Path) -> None:
    """The results folder exists (or can be made) and takes files: checked before anything runs."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PlanError(f"cannot create the results folder {root}: {e.strerror or e}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise PlanError(f"the results folder {root} is not writable")


def run_folder(args: argparse.Namespace, sweep: pts.Sweep) -> Path:
    root = Path(args.results_dir).expanduser().absolute()  # the workers run in the checkout, not here
    if root.exists() and not root.is_dir():
        raise PlanError(f"--results-dir {root} is a file, not a folder")
    if args.resume and args.run_id is None:
        try:
            run_dir = store.resolve_run(None, root)
        except FileNotFoundError as e:
            raise PlanError(str(e)) from None
    else:
        try:
            run_id = store.check_name(args.run_id or store.new_run_id(machine.git().get("short")))
        except ValueError as e:
            raise PlanError(str(e)) from None
        run_dir = root / run_id
    _writable(run_dir if run_dir.exists() else root)
    now = manifest(sweep, run_dir.name)
    old = store.read_manifest(run_dir)
    if args.resume:
        if not (store.is_run(run_dir) or old):  # run.json alone: interrupted before its first point
            raise PlanError(f"nothing to resume: {run_dir} holds no run")
        other = sweep_changes(old, sweep)
        if other:
            raise PlanError(
                f"run {run_dir.name} measures another sweep ({'; '.join(other)}): resume it with the options it began with"
            )
        changes = store.code_changes(old, now) if old else ["the run has no run.json to check against"]
        if changes and not args.force:
            raise PlanError(
                f"refusing to resume {run_dir.name}: since it began, {'; '.join(changes)} (--force to resume anyway)"
            )
        if changes and old:
            old = forced_resume(old, now, changes)
            store.write_manifest(run_dir, old)
        if more_seeds(old, sweep):  # run.json records the sweep the run now measures
            store.write_manifest(run_dir, old | {"sweep": now["sweep"]})
    elif store.point_files(run_dir):
        raise PlanError(f"run {run_dir} already has results; add --resume to continue it, or choose another --run-id")
    if not old or not args.resume:  # a fresh start in a folder left by an interrupted one records this code
        run_dir.mkdir(parents=True, exist_ok=True)
        store.write_manifest(run_dir, now)
    return run_dir


def forced_resume(old: dict, now: dict, changes: list[str]) -> dict:
    """run.json of a run resumed with --force over other code or libraries: the versions it began with
    stay, each forced resume adds its own (date, git, versions, what changed), and the run is mixed."""
    session = {"created": now["created"], "git": now["git"], "versions": now["versions"], "changes": changes}
    return old | {"mixed": True, "resumed": [*(old.get("resumed") or []), session]}


def execution_options(args: argparse.Namespace) -> executors.ExecutorOptions:
    """--executor and its options, checked (PlanError). --jobs left out is 1, or on --resume the number
    of jobs the run was submitted as (resumed_jobs)."""
    try:
        minutes = executors.parse_minutes(args.slurm_time) if getattr(args, "slurm_time", None) else None
        options = executors.ExecutorOptions(
            name=getattr(args, "executor", None) or "here",
            jobs=getattr(args, "jobs", None) or 1,
            slurm_partition=getattr(args, "slurm_partition", None),
            slurm_constraint=getattr(args, "slurm_constraint", None),
            gpus_per_node=getattr(args, "gpus_per_node", None),
            slurm_time=minutes,
        )
        executors.check_options(options)
    except ValueError as e:
        raise PlanError(str(e)) from None
    if options.jobs > 1 and args.shard:
        raise PlanError("--shard K/N and --jobs N both split the sweep: give one of them")
    return options


def resumed_jobs(args: argparse.Namespace, run_dir: Path, options: executors.ExecutorOptions):
    """On --resume without --jobs or --shard, the jobs the run was submitted as (run.json), so that each
    shard keeps its points and its own peak and C baseline."""
    if not args.resume or getattr(args, "jobs", None) is not None or args.shard:
        return options
    before = store.read_manifest(run_dir).get("execution") or {}
    return replace(options, jobs=max(1, int(before.get("jobs") or 1)))


def _todo(chosen: list[pts.Point], run_dir: Path, label: str | None, resume: bool) -> list[pts.Point]:
    """The chosen points still to measure. With a machine label: those it has not done. Without one
    (each job takes its node's label): the step, epoch and accuracy points that no machine has done,
    and the peak and C baseline of each thread count that keeps work (the job skips those its own
    machine has done)."""
    if not resume:
        return list(chosen)
    if label is not None:
        done = store.done_point_ids(run_dir, label)
        return [p for p in chosen if p.point_id not in done]
    done = {r["point_id"] for r in store.load_points(run_dir) if r.get("status") != "failed"}
    bounds = (pts.PeakPoint, pts.BaselinePoint)
    work = {p for p in chosen if not isinstance(p, bounds) and p.point_id not in done}
    busy = {p.threads for p in work}
    return [p for p in chosen if p in work or (isinstance(p, bounds) and p.threads in busy)]


def _specs(todo: list[pts.Point], run_dir: Path, label: str | None, profile: dict, tag: str) -> list[WorkerSpec]:
    """The points grouped per worker, in the order each group first appears."""
    groups: dict[pts.WorkerGroup, list[str]] = {}
    for p in todo:
        groups.setdefault(p.group, []).append(p.point_id)
    return [
        WorkerSpec(str(run_dir), run_dir.name, label or "", g.impl, g.threads, g.device, profile, tuple(ids), tag)
        for g, ids in groups.items()
    ]


def make_plan(args: argparse.Namespace) -> Plan:
    if args.skip_sweep and args.skip_accuracy:
        raise PlanError("--skip-sweep and --skip-accuracy together leave nothing to measure")
    try:
        shard = parse_shard(args.shard) if args.shard else None
        label = store.check_name(args.machine, "a machine label") if args.machine else None
    except ValueError as e:
        raise PlanError(str(e)) from None
    execution = execution_options(args)
    if label is None and execution.name != "slurm":  # a SLURM job takes the label of its node
        label = machine.machine_label()
    checking = not getattr(args, "no_check", False)
    verdicts = gate.judge(resolve_impls(args.impl, args.device), args.results_dir, checking)
    sweep = make_sweep(args, verdicts)
    everything = pts.all_points(sweep)
    run_dir = run_folder(args, sweep)
    if verdicts:  # what the gate decided, beside the sweep it let through
        store.write_manifest(run_dir, store.read_manifest(run_dir) | {"gate": verdicts})
    if (execution.name != "here" or execution.jobs > 1) and not args.resume:  # --resume keeps the jobs
        store.write_manifest(run_dir, store.read_manifest(run_dir) | {"execution": asdict(execution)})
    execution = resumed_jobs(args, run_dir, execution)
    if shard:
        shards: list[Shard | None] = [shard]
    elif execution.jobs > 1:
        shards = [Shard(k, execution.jobs) for k in range(1, execution.jobs + 1)]
    else:
        shards = [None]
    found = store.read_points(run_dir)
    unreadable = [(path, reason, store.set_aside(path)) for path, reason in found.unreadable]
    profile = asdict(sweep.profile)
    jobs, already_done, todo_ids = [], 0, set()
    for s in shards:
        chosen = shard_points(everything, s, sweep.profile) if s else everything
        todo = _todo(chosen, run_dir, label, args.resume)
        already_done += len(chosen) - len(todo)
        todo_ids |= {p.point_id for p in todo}
        specs = _specs(todo, run_dir, label, profile, s.tag if s else "")
        if specs:
            jobs.append(executors.ShardJob(s.tag if s else "all", str(run_dir), label, tuple(specs)))
    set_aside = [
        f"{path} ({reason}): set aside as {target.name}"
        + ("; measured again" if path.stem in todo_ids and label in (None, path.parent.name) else "; not in this sweep")
        for path, reason, target in unreadable
    ]
    specs = [spec for job in jobs for spec in job.specs]
    return Plan(sweep, label, shard, run_dir, specs, already_done, set_aside, jobs, execution, verdicts)
