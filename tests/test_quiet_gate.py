"""The yardstick and the quiet gate (rnnbench.bench.yardstick, rnnbench.bench.rounds) on scripted machines:
a fake clock that advances by known amounts, so that a busy spell is exactly where the test puts it and
nothing depends on this machine's speed."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from rnnbench.bench import rounds, step
from rnnbench.bench.yardstick import Gate, Yardstick, wait_for_quiet

REST_S = 1e-3  # the scripted yardstick run at rest


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class ScriptedWork:
    """The yardstick's workload on a scripted machine: each run takes REST_S x the slowdown of the moment."""

    clock: FakeClock
    slowdowns: list[float] = field(default_factory=list)  # consumed one per run; 1.0 once empty

    def run(self) -> float:
        self.clock.now += REST_S * (self.slowdowns.pop(0) if self.slowdowns else 1.0)
        return 0.0


def scripted_stick(*slowdowns_per_reading: float, repeats: int = 3) -> tuple[Yardstick, ScriptedWork]:
    clock = FakeClock()
    work = ScriptedWork(clock, [s for s in slowdowns_per_reading for _ in range(repeats + 1)])  # +1: untimed run
    return Yardstick(repeats=repeats, clock=clock, _work=work), work


def test_a_reading_is_the_median_of_its_runs_so_one_preemption_does_not_move_it():
    clock = FakeClock()
    stick = Yardstick(repeats=5, clock=clock, _work=ScriptedWork(clock, [1.0, 1.0, 9.0, 1.0, 1.0, 1.0]))
    assert stick.read() == pytest.approx(REST_S)


def test_steady_is_the_machine_at_rest_even_when_busy_readings_outnumber_a_quarter():
    stick, _ = scripted_stick(1.0, 1.0, 1.0, 1.5, 1.5, 1.0, 1.5, 1.0)
    for _ in range(8):
        stick.read()
    assert stick.steady() == pytest.approx(REST_S)
    assert stick.spread() > 0.1  # the busy readings show as spread


def test_steady_needs_a_reading():
    with pytest.raises(ValueError, match="calibrate"):
        Yardstick().steady()


@pytest.mark.parametrize(
    ("readings", "quiet"),
    [((1.0, 1.0), True), ((1.1, 1.0), True), ((1.0, 1.11), False), ((1.5, 1.0), False)],
)
def test_a_round_is_quiet_only_when_both_its_readings_are_within_the_margin(readings, quiet):
    assert Gate(margin=0.10).is_quiet(tuple(REST_S * r for r in readings), REST_S) is quiet


def test_the_gate_asks_for_every_planned_round_and_allows_extra_ones():
    gate = Gate(extra_rounds=2.0, min_quiet_fraction=1.0)
    assert gate.needed(9) == 9
    assert gate.budget(9) == 27
    assert Gate(min_quiet_fraction=0.5).needed(7) == 4


def test_waiting_for_quiet_reads_until_the_machine_is_back_at_rest():
    stick, work = scripted_stick(1.0, 1.0, 1.0)
    stick.calibrate(readings=3)
    per_reading = 3 + 1  # the untimed run, then the timed ones
    work.slowdowns = [1.5] * (3 * per_reading) + [1.0] * per_reading  # three busy readings, then rest
    slept = []
    quiet, waited = wait_for_quiet(stick, Gate(margin=0.1), limit_s=10.0, sleep=slept.append)
    assert quiet
    assert len(slept) == 3
    assert waited == pytest.approx(3 * per_reading * 1.5 * REST_S + per_reading * REST_S)


def test_a_reading_runs_the_workload_once_untimed_first():
    """A large round leaves its own data in the caches: the first run after it is slow for that reason
    alone, and must not count."""
    clock = FakeClock()
    stick = Yardstick(repeats=3, clock=clock, _work=ScriptedWork(clock, [5.0, 1.0, 1.0, 1.0]))
    assert stick.read() == pytest.approx(REST_S)


def test_waiting_for_quiet_gives_up_at_its_limit():
    stick, work = scripted_stick(1.0)
    stick.calibrate(readings=1)
    work.slowdowns = [2.0] * 1000

    def sleep(seconds: float) -> None:
        stick.clock.now += seconds

    quiet, waited = wait_for_quiet(stick, Gate(margin=0.1), limit_s=0.5, sleep=sleep)
    assert not quiet
    assert 0.5 <= waited < 0.5 + 1.0 + 10 * REST_S


# -- interleaving --------------------------------------------------------------------------------------


@dataclass
class FakePoint:
    point_id: str
    kind: str = "step"


class FakePrepared:
    """A prepared point whose rounds are quiet or busy as scripted; it logs the order rounds ran in."""

    def __init__(self, name: str, planned: int, busy: set[int], log: list[str], fails_at: int | None = None):
        self.point, self.planned_rounds, self.busy, self.log, self.fails_at = (
            FakePoint(name),
            planned,
            busy,
            log,
            fails_at,
        )
        self.rounds: list[step.Round] = []

    def run_round(self, _stick, _gate) -> step.Round:
        k = len(self.rounds)
        if k == self.fails_at:
            raise RuntimeError(f"{self.point.point_id} broke")
        self.log.append(f"{self.point.point_id}{k}")
        r = step.Round(k, [1.0], [0.0], 1.0, (REST_S, REST_S), quiet=k not in self.busy)
        self.rounds.append(r)
        return r

    def quiet_rounds(self):
        return [r for r in self.rounds if r.quiet]


def calm_stick() -> Yardstick:
    stick, _ = scripted_stick(1.0)
    stick.calibrate(readings=1)
    return stick


def test_rounds_are_interleaved_round_robin():
    log: list[str] = []
    prepared = [FakePrepared(n, 3, set(), log) for n in "abc"]
    rounds.interleave(prepared, calm_stick(), Gate(wait_s=0.0))
    assert log == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


def test_busy_rounds_are_measured_again_after_the_planned_ones():
    log: list[str] = []
    a, b = FakePrepared("a", 3, {1}, log), FakePrepared("b", 3, {0, 3}, log)
    rounds.interleave([a, b], calm_stick(), Gate(wait_s=0.0))
    assert log == ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3", "b4"]
    assert len(a.quiet_rounds()) == len(b.quiet_rounds()) == 3


def test_a_point_that_stays_busy_stops_at_its_budget():
    log: list[str] = []
    always_busy = FakePrepared("a", 2, set(range(100)), log)
    rounds.interleave([always_busy], calm_stick(), Gate(extra_rounds=1.5, wait_s=0.0))
    assert len(always_busy.rounds) == Gate(extra_rounds=1.5).budget(2) == 5
    assert always_busy.quiet_rounds() == []


def test_a_point_whose_round_raises_is_reported_and_the_others_go_on():
    log: list[str] = []
    failures = []
    a, b = FakePrepared("a", 2, set(), log, fails_at=1), FakePrepared("b", 2, set(), log)
    alive = rounds.interleave([a, b], calm_stick(), Gate(wait_s=0.0), lambda p, e: failures.append((p, str(e))))
    assert alive == [b]
    assert failures == [(a.point, "a broke")]
    assert log == ["a0", "b0", "b1"]


@pytest.mark.parametrize(("busy", "loaded"), [(set(), False), ({0}, False), ({0, 1, 2, 3, 4, 5}, True)])
def test_a_point_short_of_quiet_rounds_is_loaded(busy, loaded):
    log: list[str] = []
    p = FakePrepared("a", 2, busy, log)
    gate = Gate(extra_rounds=2.0, wait_s=0.0)
    rounds.interleave([p], calm_stick(), gate)
    fields = step._gate_fields(p, gate, REST_S)
    assert fields["loaded"] is loaded
    assert fields["quiet_rounds"] + fields["loaded_rounds"] == len(p.rounds)


# -- what the figures take ------------------------------------------------------------------------------


def test_a_loaded_point_is_left_out_of_every_figure_and_listed():
    from rnnbench.runs import analysis

    rows = [
        {"machine": "m", "point_id": "ok", "status": "ok", "loaded": False, "quiet_rounds": 9, "loaded_rounds": 2},
        {"machine": "m", "point_id": "gated", "status": "ok", "loaded": True, "quiet_rounds": 3, "loaded_rounds": 24},
        {"machine": "m", "point_id": "old", "status": "ok", "load_before": 0.5},  # no yardstick: counts
        {"machine": "m", "point_id": "busy", "status": "ok", "loaded": False, "load_after": 3.0, "quiet_rounds": 9},
    ]
    assert [r["point_id"] for r in analysis.usable(rows)] == ["ok", "old", "busy"]
    listed = {r["point_id"]: r["gated"] for r in analysis.loaded(rows, {"m": 2})}
    assert listed == {"gated": True, "busy": False}
    assert analysis.gate_counts(rows) == {"points": 3, "quiet_rounds": 21, "busy_rounds": 26, "loaded_points": 1}
