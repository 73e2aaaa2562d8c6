"""What a run measures: its points, their ids, the order they run in, and the workers that run them.

A point is one measurement, named by a point id that says what it is:

    step-<impl>-<device>-t<threads>-H<H>-T<T>-B<B>      one train_step per timed call
    epoch-<impl>-<device>-t<threads>-H<H>-T<T>-B<B>     one fused train_epoch per timed call
    accuracy-<impl>-<device>-t<threads>-B<B>-s<S>       a training run on real data, seed S (initialisation
                                                         and shuffling; an id without -s<S> is seed 0)
    peak-t<threads>[-s<K>of<N>]                          the machine's float32 matmul peak
    baseline-t<threads>-H<H>-T<T>-B<B>[-s<K>of<N>]      the single-thread plain-C baseline at one shape

Peak and baseline points describe the machine, not a framework: every shard of a sharded sweep
measures its own (hence the shard suffix), so that each machine's figures are normalised by that
machine's bounds. A worker (rnnbench.bench.worker) is one process per WorkerGroup: one implementation
(or the machine's bounds), one thread count, one device.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rnnbench.bench.profiles import Profile

MACHINE_GROUP = "machine"  # the worker group of the peak and baseline points


@dataclass(frozen=True)
class StepPoint:
    """One configuration of the step-cost sweep; kind "step" or "epoch"."""

    impl: str
    hidden: int
    seq_len: int
    batch: int
    threads: int
    kind: str = "step"
    device: str = "cpu"

    @property
    def point_id(self) -> str:
        return f"{self.kind}-{self.impl}-{self.device}-t{self.threads}-H{self.hidden}-T{self.seq_len}-B{self.batch}"

    @property
    def group(self) -> WorkerGroup:
        return WorkerGroup(self.impl, self.threads, self.device)


@dataclass(frozen=True)
class BaselinePoint:
    """One sweep shape run by the plain-C baseline; threads is the session's setting (the C program
    itself runs one thread)."""

    hidden: int
    seq_len: int
    batch: int
    threads: int
    shard: str = ""  # "s1of2" in a sharded sweep

    @property
    def point_id(self) -> str:
        return f"baseline-t{self.threads}-H{self.hidden}-T{self.seq_len}-B{self.batch}" + _suffix(self.shard)

    @property
    def group(self) -> WorkerGroup:
        return WorkerGroup(MACHINE_GROUP, self.threads, "cpu")


@dataclass(frozen=True)
class PeakPoint:
    threads: int
    shard: str = ""

    @property
    def point_id(self) -> str:
        return f"peak-t{self.threads}" + _suffix(self.shard)

    @property
    def group(self) -> WorkerGroup:
        return WorkerGroup(MACHINE_GROUP, self.threads, "cpu")


@dataclass(frozen=True)
class AccuracyPoint:
    """One training run; seed S trains with workload.SEED + S for the initial weights and the shuffling."""

    impl: str
    batch: int
    threads: int
    device: str = "cpu"
    seed: int = 0

    @property
    def point_id(self) -> str:
        return f"accuracy-{self.impl}-{self.device}-t{self.threads}-B{self.batch}-s{self.seed}"

    @property
    def group(self) -> WorkerGroup:
        return WorkerGroup(self.impl, self.threads, self.device)


Point = StepPoint | BaselinePoint | PeakPoint | AccuracyPoint


@dataclass(frozen=True, order=True)
class WorkerGroup:
    """What one worker process runs: one implementation (or MACHINE_GROUP), one thread count, one device."""

    impl: str
    threads: int
    device: str

    @property
    def label(self) -> str:
        what = "matmul peak and C baseline" if self.impl == MACHINE_GROUP else self.impl
        return f"{what}, threads {self.threads}" + (f", {self.device}" if self.device != "cpu" else "")


def _suffix(shard: str) -> str:
    return f"-{shard}" if shard else ""


_SHAPE = r"t(?P<threads>\d+)-H(?P<hidden>\d+)-T(?P<seq_len>\d+)-B(?P<batch>\d+)"
_PATTERNS = {
    "step": re.compile(rf"(?P<kind>step|epoch)-(?P<impl>.+)-(?P<device>[a-z]+(?::\d+)?)-{_SHAPE}"),
    "baseline": re.compile(rf"baseline-{_SHAPE}(?:-(?P<shard>s\d+of\d+))?"),
    "peak": re.compile(r"peak-t(?P<threads>\d+)(?:-(?P<shard>s\d+of\d+))?"),
    "accuracy": re.compile(
        r"accuracy-(?P<impl>.+)-(?P<device>[a-z]+(?::\d+)?)-t(?P<threads>\d+)-B(?P<batch>\d+)(?:-s(?P<seed>\d+))?"
    ),
}


def parse_point_id(point_id: str) -> Point:
    """The point a point id names; ValueError for anything else."""
    for kind, pattern in _PATTERNS.items():
        m = pattern.fullmatch(point_id)
        if not m:
            continue
        d = m.groupdict()
        ints = {k: int(v) for k, v in d.items() if k in ("threads", "hidden", "seq_len", "batch")}
        if kind == "step":
            return StepPoint(
                d["impl"], ints["hidden"], ints["seq_len"], ints["batch"], ints["threads"], d["kind"], d["device"]
            )
        if kind == "baseline":
            return BaselinePoint(ints["hidden"], ints["seq_len"], ints["batch"], ints["threads"], d["shard"] or "")
        if kind == "peak":
            return PeakPoint(ints["threads"], d["shard"] or "")
        return AccuracyPoint(d["impl"], ints["batch"], ints["threads"], d["device"], int(d["seed"] or 0))
    raise ValueError(f"not a point id: {point_id!r}")


@dataclass(frozen=True)
class Sweep:
    """What `rnnbench bench` asked for (before sharding)."""

    impls: tuple[str, ...]
    profile: Profile
    threads: tuple[int, ...]
    device: str = "cpu"
    fused: tuple[str, ...] = ()  # implementations with their own train_epoch: they get epoch points
    sweep: bool = True
    accuracy: bool = True


def step_points(sweep: Sweep, threads: int) -> list[StepPoint]:
    """Per implementation, per H, per T, B ascending; epoch points after each implementation's steps."""
    p = sweep.profile
    grid = list(itertools.product(p.hidden, p.seq_len, p.batch_sizes))
    out: list[StepPoint] = []
    for impl in sweep.impls:
        out += [StepPoint(impl, H, T, B, threads, "step", sweep.device) for H, T, B in grid]
        if impl in sweep.fused:
            out += [StepPoint(impl, H, T, B, threads, "epoch", sweep.device) for H, T, B in grid]
    return out


def all_points(sweep: Sweep) -> list[Point]:
    """Every point of the sweep, in the order it runs: per thread count, the machine's bounds, then
    each implementation's step, epoch and accuracy points."""
    out: list[Point] = []
    for t in sweep.threads:
        if sweep.sweep:
            out.append(PeakPoint(t))
            out += baseline_points(step_points(sweep, t))
            out += step_points(sweep, t)
        if sweep.accuracy:
            out += accuracy_points(sweep, t)
    return out


def accuracy_points(sweep: Sweep, threads: int) -> list[AccuracyPoint]:
    """Per implementation: seed 0 at every batch size, then seed 1, ... up to acc_seeds - 1 (a run cut
    short still holds every batch size at its first seeds)."""
    p = sweep.profile
    grid = itertools.product(sweep.impls, range(p.acc_seeds), p.acc_batch_sizes)
    return [AccuracyPoint(i, b, threads, sweep.device, s) for i, s, b in grid]


def baseline_points(points: Sequence[Point], shard: str = "") -> list[BaselinePoint]:
    """The C baseline at every shape the step and epoch points use, in sweep order."""
    shapes = dict.fromkeys((p.hidden, p.seq_len, p.batch, p.threads) for p in points if isinstance(p, StepPoint))
    return [BaselinePoint(H, T, B, t, shard) for H, T, B, t in shapes]


def expected_seconds(point: Point, profile: Profile) -> float:
    """A rough static estimate of a point's wall time, for balancing shards: a fixed cost per point
    (model creation, first call, checks) plus the timed rounds, plus a term for the arithmetic."""
    if isinstance(point, PeakPoint):
        return 2.0 + 0.05 * profile.peak_repeats * len(profile.peak_sizes)
    if isinstance(point, AccuracyPoint):
        return 20.0 + 60.0 / point.batch**0.5
    work = point.hidden**2 * point.seq_len * point.batch * 1e-9  # ~ seconds of arithmetic per step
    if isinstance(point, BaselinePoint):
        return 0.5 + profile.rounds * profile.round_seconds
    first_call = 2.0 if point.impl.startswith("jax") else 0.3
    rounds = profile.epoch_rounds if point.kind == "epoch" else profile.rounds
    return first_call + rounds * max(profile.round_seconds, 50 * work)


def stable_hash(text: str) -> int:
    """A hash of text that is the same in every process and on every machine (unlike hash())."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
