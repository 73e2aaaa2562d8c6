"""Splitting a sweep into N disjoint shares that take about the same time.

`--shard K/N` keeps the K-th share of the sweep's step, epoch and accuracy points. The rule is stable:
it depends only on the point ids and the profile, so N machines that each run their own K compute the
same assignment, and together cover every point exactly once. Points are dealt out longest first
(points.expected_seconds), each to the share with the least expected time so far, ties broken by a
hash of the point id. Each share then measures its own machine's peak and C baseline (at its own
shapes), named with the shard, so that every machine's figures are normalised by that machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rnnbench.bench.points import (
    BaselinePoint,
    PeakPoint,
    Point,
    StepPoint,
    baseline_points,
    expected_seconds,
    stable_hash,
)
from rnnbench.bench.profiles import Profile


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @property
    def tag(self) -> str:
        return f"s{self.index}of{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """ "K/N" with 1 <= K <= N; ValueError (one clear line) for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise ValueError(f"--shard takes K/N (e.g. 1/2), got {text!r}")
    k, n = int(m[1]), int(m[2])
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"--shard K/N needs 1 <= K <= N, got {text!r}")
    return Shard(k, n)


def assign(points: Sequence[Point], count: int, profile: Profile) -> list[list[Point]]:
    """The work points (step, epoch, accuracy) dealt into `count` shares, longest first (see the module
    docstring); each share keeps the sweep's own order."""
    work = [p for p in points if not isinstance(p, (PeakPoint, BaselinePoint))]
    order = {p.point_id: i for i, p in enumerate(work)}
    ranked = sorted(work, key=lambda p: (-expected_seconds(p, profile), stable_hash(p.point_id)))
    shares: list[list[Point]] = [[] for _ in range(count)]
    load = [0.0] * count
    for p in ranked:
        k = min(range(count), key=lambda i: (load[i], i))
        shares[k].append(p)
        load[k] += expected_seconds(p, profile)
    return [sorted(s, key=lambda p: order[p.point_id]) for s in shares]


def shard_points(points: Sequence[Point], shard: Shard, profile: Profile) -> list[Point]:
    """The points shard K of N measures: its share of the work, and before each thread count's work its
    own matmul peak and C baseline at that work's shapes (skipped where the sweep had none)."""
    mine = assign(points, shard.count, profile)[shard.index - 1]
    wants_bounds = any(isinstance(p, PeakPoint) for p in points)
    out: list[Point] = []
    for t in dict.fromkeys(p.threads for p in mine):
        at_t = [p for p in mine if p.threads == t]
        if wants_bounds and any(isinstance(p, StepPoint) for p in at_t):
            out.append(PeakPoint(t, shard.tag))
            out += baseline_points(at_t, shard.tag)
        out += at_t
    return out
