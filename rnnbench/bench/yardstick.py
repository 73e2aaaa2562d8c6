"""The machine's speed at this moment: a short fixed workload timed beside every timed round.

On a shared machine the speed of a core changes within seconds: a neighbour on the other hyperthread of
the same physical core slows ours by a large factor without raising the load average above the core
count, and a cloud VM's other tenants come and go. A sentinel timed at a worker's start and end cannot see
that; a yardstick timed right before and right after each round can. Each round is then read against the
machine's speed at that moment (docs/DESIGN.md §6):

* the quiet gate (`Gate`): a round whose yardstick ran slower than the worker's steady value by more than
  a margin ran on a busy machine; it is kept in the record, marked not quiet, and measured again once the
  yardstick is back at its steady value;
* compare can read each round's cost in yardsticks (seconds / the round's yardstick), which cancels a
  slowdown that the round and its yardstick shared.

The workload mixes what an RNN step at small batch does (Python-level dispatch, small float32 matrix
products, an elementwise tanh) in the proportions of a few hundred microseconds; one reading is the
median of `repeats` runs after an untimed one, so that neither one preemption nor the caches a large
round leaves behind move it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

REPEATS = 5  # runs per reading; the reading is their median
CALIBRATION_READINGS = 9  # readings at a worker's start, before anything is timed
STEADY_QUANTILE = 25  # the steady value: this percentile of the readings so far (the machine at rest)


class Workload:
    """The fixed work: the same arrays and the same operations on every run and every machine."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w = (0.1 * rng.standard_normal((48, 48))).astype(np.float32)  # (H, H)
        self.h0 = rng.standard_normal((4, 48)).astype(np.float32)  # (B, H)

    def run(self) -> float:
        h = self.h0
        total = 0.0
        for _ in range(64):  # a time loop of small products, as a small-batch RNN step makes
            h = np.tanh(h @ self.w)
            total += float(h[0, 0])
        for i in range(6_000):  # the interpreter's own speed
            total += i & 7
        return total


@dataclass
class Yardstick:
    """Readings of the workload's seconds, in the order they were taken.

    clock: the timer (time.perf_counter); tests give a fake one that advances by known amounts."""

    repeats: int = REPEATS
    clock: Callable[[], float] = time.perf_counter
    readings: list[float] = field(default_factory=list)
    _work: Workload = field(default_factory=Workload, repr=False)

    def read(self) -> float:
        """One reading now (median seconds of `repeats` runs, after one untimed run that brings the workload
        back into the caches the timed round just filled with its own data: a reading measures the machine,
        not what the round left in the caches); it is kept in `readings`."""
        self._work.run()
        seconds = []
        for _ in range(self.repeats):
            t0 = self.clock()
            self._work.run()
            seconds.append(self.clock() - t0)
        reading = float(np.median(seconds))
        self.readings.append(reading)
        return reading

    def calibrate(self, readings: int = CALIBRATION_READINGS) -> float:
        """A first untimed run (caches, lazy imports), then `readings` readings; the steady value."""
        self._work.run()
        for _ in range(readings):
            self.read()
        return self.steady()

    def steady(self) -> float:
        """The machine at rest: a low percentile of every reading so far (a busy spell only adds slow ones)."""
        if not self.readings:
            raise ValueError("no yardstick reading yet: calibrate first")
        return float(np.percentile(self.readings, STEADY_QUANTILE))

    def spread(self) -> float:
        """(q3 - q1) / median of the readings: how steady the yardstick itself was."""
        q1, med, q3 = np.percentile(self.readings, [25, 50, 75])
        return float((q3 - q1) / med) if med > 0 else float("nan")


@dataclass(frozen=True)
class Gate:
    """When a round counts as quiet, and how hard to try for quiet rounds.

    margin: a round is quiet when both its yardstick readings (before and after it) are within
      (1 + margin) x the steady value.
    extra_rounds: a point may be given up to this many times its planned rounds again, to replace
      rounds that were not quiet.
    wait_s: how long a worker may wait in all, over every repeated round, for the yardstick to come back
      to steady before it repeats a round (0: repeat at once).
    min_quiet_fraction: a point with fewer quiet rounds than this fraction of its planned rounds is
      "loaded": kept in the record, left out of the headline table, the fit and the findings."""

    margin: float = 0.10
    extra_rounds: float = 2.0
    wait_s: float = 120.0
    min_quiet_fraction: float = 1.0

    def is_quiet(self, readings: tuple[float, float], steady: float) -> bool:
        return max(readings) <= (1.0 + self.margin) * steady

    def needed(self, planned_rounds: int) -> int:
        """Quiet rounds a point needs to be trusted."""
        return max(1, round(self.min_quiet_fraction * planned_rounds))

    def budget(self, planned_rounds: int) -> int:
        """Rounds a point may be measured in all, the planned ones included."""
        return planned_rounds + round(self.extra_rounds * planned_rounds)


def wait_for_quiet(
    stick: Yardstick, gate: Gate, limit_s: float, sleep: Callable[[float], None] = time.sleep
) -> tuple[bool, float]:
    """Read the yardstick until a reading is within the gate's margin of steady, pausing between readings
    (0.05 s, doubling up to 1 s), for at most limit_s by the yardstick's clock. (quiet, seconds waited)."""
    steady = stick.steady()
    start = stick.clock()
    pause = 0.05
    while True:
        reading = stick.read()
        waited = stick.clock() - start
        if reading <= (1.0 + gate.margin) * steady:
            return True, waited
        if waited >= limit_s:
            return False, waited
        sleep(min(pause, max(0.0, limit_s - waited)))
        pause = min(2 * pause, 1.0)
