"""Honest timers: every timed call ends with a sync, and a round of consecutive calls is timed whole too.

    loop = run_timed(lambda: model.train_step(batch), model.sync, rounds=7, iterations=20)
    loop.samples          # seconds of each call (rounds * iterations of them), warm-up not included
    loop.round_seconds    # wall seconds of each round as a whole
    loop.sanity()         # does the sum of the timed calls account for the rounds' wall time?

A round is one timer around `iterations` consecutive calls (pytest-benchmark's `pedantic(rounds=,
iterations=)` has the same meaning, so its loop can drive ours: see `runner`). Inside a round, the
only untimed work between two timed calls is the loop itself, so the gap between a round's wall time
and the sum of its calls is timer overhead; work that escaped the timers (a missing sync, asynchronous
dispatch finishing later) shows up there. SANITY_REL, SANITY_ABS say how large a gap is flagged.

Every timer here reads a `clock` (a Clock; default time.perf_counter, the only one production uses).
It is a parameter so that tests can time a fake model with a clock that moves only when that model
works (tests/fake_model.py): the figures are then exact, whatever the machine's speed or load.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

SANITY_REL = 0.05  # the rounds' untimed time may be at most 5% of their wall time ...
SANITY_ABS = 20e-6  # ... or 20 µs per round, whichever is larger (timer jitter on microsecond loops)

# runner(target, rounds, iterations, sync) -> wall seconds of each round. `target` times itself.
Runner = Callable[[Callable[[], None], int, int, Callable[[], None]], Sequence[float]]
# clock() -> seconds since an arbitrary origin (only differences are used)
Clock = Callable[[], float]


def own_runner(
    target: Callable[[], None],
    rounds: int,
    iterations: int,
    sync: Callable[[], None],
    clock: Clock = time.perf_counter,
) -> list[float]:
    """Our loop (a Runner): per round, one timer around `iterations` calls of target, then a sync."""
    out = []
    for _ in range(rounds):
        t0 = clock()
        for _ in range(iterations):
            target()
        sync()
        out.append(clock() - t0)
    return out


@dataclass
class Sanity:
    """The loop check: wall seconds of all rounds against the sum of the timed calls inside them."""

    total_seconds: float
    parts_seconds: float
    worst_round_gap: float  # largest (round wall - its calls) / round wall
    ok: bool

    @property
    def gap_fraction(self) -> float:
        return (self.total_seconds - self.parts_seconds) / self.total_seconds if self.total_seconds > 0 else 0.0

    def describe(self) -> str:
        return (
            f"timed calls sum to {self.parts_seconds:.6f} s of {self.total_seconds:.6f} s wall "
            f"({100 * self.gap_fraction:.2f}% untimed; worst round {100 * self.worst_round_gap:.2f}%)"
        )


@dataclass
class TimedLoop:
    """Seconds of each timed call, in order; wall seconds of each round; what each call returned."""

    samples: list[float]
    round_seconds: list[float]
    iterations: int
    results: list = field(default_factory=list)

    def sanity(self, rel: float = SANITY_REL, abs_: float = SANITY_ABS) -> Sanity:
        """Flag the loop when the rounds' total wall time and the sum of the timed calls differ by more
        than rel of the total (or abs_ per round, for microsecond loops). One round's gap can be one
        preemption by the OS: the worst round is reported, the verdict is on the total."""
        n = self.iterations
        worst = 0.0
        for r, wall in enumerate(self.round_seconds):
            gap = wall - math.fsum(self.samples[r * n : (r + 1) * n])
            worst = max(worst, gap / wall if wall > 0 else 0.0)
        total, parts = math.fsum(self.round_seconds), math.fsum(self.samples)
        ok = abs(total - parts) <= max(rel * total, abs_ * len(self.round_seconds))
        return Sanity(total, parts, worst, ok)


def timed_call(
    fn: Callable[[], object], sync: Callable[[], None], clock: Clock = time.perf_counter
) -> tuple[float, object]:
    """(seconds, result) of one call of fn followed by sync."""
    t0 = clock()
    result = fn()
    sync()
    return clock() - t0, result


def run_timed(
    fn: Callable[[], object],
    sync: Callable[[], None],
    *,
    rounds: int,
    iterations: int,
    runner: Runner | None = None,
    clock: Clock = time.perf_counter,
) -> TimedLoop:
    """Time rounds x iterations calls of fn, each ending with sync; see the module docstring.

    runner drives the loop (default: `own_runner`); a runner may call target more often than
    asked (pytest-benchmark makes one extra call for its result): only the first rounds * iterations
    samples are kept. clock times each call, and the rounds when runner is ours.
    """
    if rounds < 1 or iterations < 1:
        raise ValueError(f"rounds and iterations must be >= 1, got {rounds}, {iterations}")
    samples: list[float] = []
    results: list = []

    def target() -> None:
        t0 = clock()
        result = fn()
        sync()
        samples.append(clock() - t0)
        results.append(result)

    if runner is None:
        round_seconds = own_runner(target, rounds, iterations, sync, clock)
    else:
        round_seconds = list(runner(target, rounds, iterations, sync))
    n = rounds * iterations
    if len(samples) < n or len(round_seconds) != rounds:
        raise RuntimeError(f"the runner made {len(samples)} timed calls in {len(round_seconds)} rounds, expected {n}")
    return TimedLoop(samples[:n], round_seconds, iterations, results[:n])


def seconds_per_call(
    fn: Callable[[], object], sync: Callable[[], None], *, calls: int, runs: int = 5, clock: Clock = time.perf_counter
) -> float:
    """Median seconds of one call of fn, over `runs` runs of `calls` consecutive calls, each run ending with
    sync: for a call too short to time on its own (an input check, one trivial dispatch)."""
    out = []
    for _ in range(runs):
        t0 = clock()
        for _ in range(calls):
            fn()
        sync()
        out.append((clock() - t0) / calls)
    return float(np.median(out))


def robust_stats(values: Sequence[float]) -> dict[str, float]:
    """median, q1, q3, iqr, min, max, mean, n of values (numpy's linear-interpolation quantiles)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        nan = float("nan")
        return {"n": 0, "median": nan, "q1": nan, "q3": nan, "iqr": nan, "min": nan, "max": nan, "mean": nan}
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {
        "n": int(a.size),
        "median": float(med),
        "q1": float(q1),
        "q3": float(q3),
        "iqr": float(q3 - q1),
        "min": float(a.min()),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


def timing_fields(stats: dict, records_per_call: int) -> dict:
    """The summary columns (rnnbench.runs.records.Summary) of robust_stats of a point's per-call seconds."""
    return {
        "median_s": stats["median"],
        "q1_s": stats["q1"],
        "q3_s": stats["q3"],
        "iqr_s": stats["iqr"],
        "min_s": stats["min"],
        "mean_s": stats["mean"],
        "per_record_median_s": stats["median"] / records_per_call,
        "per_record_iqr_s": stats["iqr"] / records_per_call,
    }


def iterations_for(seconds_per_call: float, round_seconds: float, max_iterations: int) -> int:
    """Calls per round so that a round lasts about round_seconds, in [1, max_iterations]."""
    if not seconds_per_call > 0:
        return max_iterations
    return int(min(max_iterations, max(1, round(round_seconds / seconds_per_call))))


# -- this machine's matmul peak ------------------------------------------------------------------------


def matmul_peak(
    sizes: Sequence[int] = (256, 512, 1024),
    threads: int = 1,
    repeats: int = 5,
    libraries: Sequence[str] = ("numpy", "torch"),
    seed: int = 0,
) -> list[dict[str, object]]:
    """Time float32 square matmuls (2 n^3 FLOPs) with each library at `threads` threads.

    Returns one row per timed call: library, n, threads, sample, seconds, gflops, plus max_rel_error
    of that library's product against a float64 NumPy product (the same for every row of a size).
    A library that is not installed is left out. One untimed warm-up call per size and library.
    """
    import importlib.util

    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(np.float32)  # (n, n)
        b = rng.standard_normal((n, n)).astype(np.float32)  # (n, n)
        exact = a.astype(np.float64) @ b.astype(np.float64)  # (n, n)
        scale = float(np.abs(exact).max())
        for lib in libraries:
            if importlib.util.find_spec(lib) is None:
                continue
            fn, sync, limiter = _matmul_fn(lib, a, b, threads)
            with limiter:
                product = np.asarray(fn())  # warm-up, and the correctness check
                err = float(np.abs(product.astype(np.float64) - exact).max() / scale)
                for i in range(repeats):
                    seconds, _ = timed_call(fn, sync)
                    rows.append(
                        {
                            "library": lib,
                            "n": int(n),
                            "threads": int(threads),
                            "sample": i,
                            "seconds": seconds,
                            "gflops": 2.0 * n**3 / seconds / 1e9,
                            "max_rel_error": err,
                        }
                    )
    return rows


def _matmul_fn(lib: str, a: np.ndarray, b: np.ndarray, threads: int):
    import contextlib

    if lib == "numpy":
        try:
            from threadpoolctl import threadpool_limits

            limiter = threadpool_limits(limits=threads, user_api="blas")
        except ImportError:
            limiter = contextlib.nullcontext()
        return (lambda: a @ b), (lambda: None), limiter
    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        return (lambda: torch.mm(ta, tb).numpy()), (lambda: None), contextlib.nullcontext()
    raise ValueError(f"unknown library {lib!r} for the matmul peak")
