"""A worker's step and epoch points, measured in interleaved rounds read against the yardstick.

    prepare every point (model, first call, warm-up)              # rnnbench.bench.step.prepare
    calibrate the yardstick (the machine at rest)                 # rnnbench.bench.yardstick
    round 1 of every point, then round 2 of every point, ...      # yardstick read before and after each
    while a point has fewer quiet rounds than it needs, and its budget of rounds is left:
        wait for the yardstick to come back to steady (the worker's waiting budget allowing),
        then one more round of that point
    finish every point (its record, statistics over its quiet rounds)

Interleaving puts a slow stretch of the machine on every point alike instead of on one; the yardstick
tells the rounds that ran on a busy machine apart, and they are measured again once it is quiet. A point
that stays without enough quiet rounds is marked loaded (docs/DESIGN.md §6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rnnbench.bench import step
from rnnbench.bench.points import StepPoint
from rnnbench.bench.profiles import Profile
from rnnbench.bench.yardstick import Gate, Yardstick, wait_for_quiet
from rnnbench.runs import records


def interleave(
    prepared: list[step.PreparedStep],
    stick: Yardstick,
    gate: Gate,
    on_failure: Callable[[StepPoint, Exception], None] | None = None,
) -> list[step.PreparedStep]:
    """Every point's planned rounds, round-robin; then repeated rounds for points short of quiet ones.
    A point whose round raises goes to on_failure and gets no more rounds (without on_failure, it raises).
    Returns the points still standing."""
    alive = list(prepared)

    def one_round(p: step.PreparedStep) -> None:
        try:
            p.run_round(stick, gate)
        except Exception as exc:
            if on_failure is None:
                raise
            on_failure(p.point, exc)
            alive.remove(p)

    for r in range(max((p.planned_rounds for p in prepared), default=0)):
        for p in [p for p in alive if r < p.planned_rounds]:
            one_round(p)
    wait_left = gate.wait_s
    for p in list(alive):
        while p in alive and len(p.quiet_rounds()) < gate.needed(p.planned_rounds):
            if len(p.rounds) >= gate.budget(p.planned_rounds):
                break
            if wait_left > 0:
                _, waited = wait_for_quiet(stick, gate, wait_left)
                wait_left -= waited
            one_round(p)
    return alive


def measure_points(
    points: Iterable[StepPoint],
    profile: Profile,
    *,
    run_id: str | None,
    machine_label: str,
    gate: Gate,
    on_record: Callable[[records.PointRecord], None],
    on_failure: Callable[[StepPoint, Exception], None],
    stick: Yardstick | None = None,
) -> Yardstick:
    """Measure the points interleaved (see the module docstring); each record goes to on_record as it is
    finished, each point that raised to on_failure (the others go on). Returns the yardstick read."""
    prepared: list[step.PreparedStep] = []
    for point in points:
        try:
            prepared.append(step.prepare(point, profile))
        except Exception as exc:  # noqa: BLE001 - a point that raises is recorded as failed; the others go on
            on_failure(point, exc)
    stick = stick or Yardstick()
    stick.calibrate()
    alive = interleave(prepared, stick, gate, on_failure)
    steady = stick.steady()
    for p in alive:
        try:
            record = step.finish(p, run_id=run_id, machine_label=machine_label, gate=gate, steady=steady)
        except Exception as exc:  # noqa: BLE001 - a point that raises is recorded as failed; the others go on
            on_failure(p.point, exc)
            continue
        on_record(record)
    return stick
