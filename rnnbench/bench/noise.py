"""How noisy the machine was: a fixed sentinel workload timed at a worker's start and end.

The sentinel is a small, fixed mix of Python-level work and a single-threaded float64 matmul, the same
on every run, so that its time says how fast this machine was running at that moment: a sentinel
that drifts between a worker's start and end, or between two runs, says the machine's speed changed
under the measurement (another process, frequency scaling, a noisy neighbour), not the code.
"""

from __future__ import annotations

import time

import numpy as np

from rnnbench import machine
from rnnbench.bench import memory, timing
from rnnbench.bench.points import WorkerGroup
from rnnbench.runs import records

SENTINEL_REPEATS = 15


def _sentinel_once(a: np.ndarray) -> None:
    total = 0
    for i in range(20_000):  # interpreter speed
        total += i * i
    for _ in range(4):  # (64, 64) matmuls: memory and arithmetic speed
        a = np.tanh(a @ a * 0.01)


def sentinel_seconds(repeats: int = SENTINEL_REPEATS) -> dict:
    """robust_stats of the sentinel's seconds over `repeats` runs (one untimed run first)."""
    a = np.random.default_rng(0).standard_normal((64, 64))
    _sentinel_once(a)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _sentinel_once(a)
        seconds.append(time.perf_counter() - t0)
    return timing.robust_stats(seconds)


def noise_point_id(group: WorkerGroup, shard: str = "") -> str:
    return f"noise-{group.impl}-{group.device}-t{group.threads}" + (f"-{shard}" if shard else "")


def noise_row(group: WorkerGroup, when: str, *, run_id: str | None, machine_label: str, shard: str = "") -> dict:
    """One Noise row: the sentinel's median and IQR now, and the load average."""
    stats = sentinel_seconds()
    return records.row(
        records.Noise(
            run_id=run_id,
            machine=machine_label,
            point_id=noise_point_id(group, shard),
            impl=group.impl,
            device=group.device,
            threads=group.threads,
            when=when,
            sentinel_s=stats["median"],
            sentinel_iqr_s=stats["iqr"],
            load=memory.load_average(),
        )
    )


def noise_record(
    rows: list[dict], group: WorkerGroup, *, run_id: str | None, machine_label: str, shard: str = ""
) -> records.PointRecord:
    """The worker's noise record: its start (and end) sentinel rows; drift = end / start."""
    start = next((r for r in rows if r["when"] == "start"), None)
    end = next((r for r in rows if r["when"] == "end"), None)
    drift = end["sentinel_s"] / start["sentinel_s"] if start and end and start["sentinel_s"] else None
    return records.PointRecord(
        point_id=noise_point_id(group, shard),
        kind="noise",
        run_id=run_id,
        machine=machine_label,
        status="ok",
        params={**vars(group), "repeats": SENTINEL_REPEATS},
        summary={
            "sentinel_start_s": start and start["sentinel_s"],
            "sentinel_end_s": end and end["sentinel_s"],
            "drift": drift,
        },
        tables={"noise": rows},
        checks={"problems": [], "flags": [], "status": "ok"},
        date=machine.now_iso(),
        wall_seconds=0.0,
    )
