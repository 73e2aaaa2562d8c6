"""What each timed figure is: the timers of rnnbench.bench.timing and a step or epoch point's record
(rnnbench.bench.step.measure_step), on a fake model whose every cost is known (tests/fake_model.py).

The fake's first call, warm-up calls and steady calls cost recognisably different amounts, charged to
a clock that moves only when the fake works, most of it in sync(); each call returns its number as
its loss. So a point's samples must be exactly the steady calls' costs, dispatch and sync together,
and nothing here depends on how fast the machine is: every "seconds" below is the fake clock's.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from fake_model import CHECK_S, CONVERT_S, DISPATCH_S, NAME, WorkClock, call_seconds, install

import impls
from rnnbench.bench import memory, step, timing, workload
from rnnbench.bench.points import StepPoint
from rnnbench.bench.profiles import PROFILES
from rnnbench.runs import costmodel, records

WARMUP = 2
ROUNDS = 3
# calls per round: a round lasts about round_seconds, at the warm-up calls' median cost (64 s and a bit)
ITERATIONS = 3
# epochs of N = max(4, 16 // B) = 8 batches: not the 4 batches a step point cycles through
PROFILE = PROFILES["test"].with_overrides(
    warmup=WARMUP,
    rounds=ROUNDS,
    epoch_rounds=ROUNDS,
    round_seconds=ITERATIONS * 64.0,
    max_iterations=4,
    epoch_batches=4,
    epoch_records=16,
)
LOADS = (1.5, 2.5)  # the load average before and after the point
RSS_BEFORE = 4096
H, T, B = 4, 3, 2


class QueuedWork:
    """fn and sync of a loop whose calls cost `costs` (in order): DISPATCH_S in the call, the rest in sync."""

    def __init__(self, clock: WorkClock, costs: list[float]) -> None:
        self.clock, self.costs, self.queued, self.calls = clock, list(costs), 0.0, 0

    def fn(self) -> int:
        n = self.calls
        self.calls += 1
        self.clock.advance(DISPATCH_S)
        self.queued += self.costs[n] - DISPATCH_S
        return n

    def sync(self) -> None:
        self.clock.advance(self.queued)
        self.queued = 0.0


def costs_of(count: int) -> list[float]:
    return [1 + k / 8 for k in range(count)]  # all distinct, all exact


# -- the timers ----------------------------------------------------------------------------------------


def test_a_timed_call_contains_its_sync():
    clock = WorkClock()
    work = QueuedWork(clock, [5.0])
    seconds, result = timing.timed_call(work.fn, work.sync, clock)
    assert seconds == 5.0  # dispatch and the queued work: stopped before sync(), it would be DISPATCH_S
    assert result == 0
    assert work.queued == 0


@pytest.mark.parametrize(("rounds", "iterations"), [(1, 1), (3, 2), (2, 5)])
def test_each_sample_is_one_call_with_its_sync(rounds, iterations):
    clock = WorkClock()
    costs = costs_of(rounds * iterations)
    work = QueuedWork(clock, costs)
    loop = timing.run_timed(work.fn, work.sync, rounds=rounds, iterations=iterations, clock=clock)
    assert loop.samples == costs
    assert loop.results == list(range(rounds * iterations))
    assert loop.iterations == iterations
    assert loop.round_seconds == [math.fsum(costs[r * iterations : (r + 1) * iterations]) for r in range(rounds)]
    sanity = loop.sanity()
    assert sanity.ok
    assert sanity.gap_fraction == 0.0
    assert sanity.worst_round_gap == 0.0
    assert sanity.total_seconds == sanity.parts_seconds == math.fsum(costs)


def test_own_runner_times_each_round_whole_with_a_sync_at_its_end():
    clock = WorkClock()
    work = QueuedWork(clock, costs_of(4))
    round_seconds = timing.own_runner(work.fn, 2, 2, work.sync, clock)  # target: the untimed call itself
    assert round_seconds == [1 + (1 + 1 / 8), (1 + 2 / 8) + (1 + 3 / 8)]
    assert work.queued == 0


def foreign_runner(extra_calls: int = 1, rounds_made: int | None = None):
    """A runner like pytest-benchmark's: its own timer (here: counts of calls), extra_calls more calls."""

    def runner(target, rounds, iterations, sync):
        out = []
        for _ in range(rounds):
            for _ in range(iterations):
                target()
            sync()
            out.append(float(iterations))
        for _ in range(extra_calls):
            target()
        return out[:rounds_made] if rounds_made is not None else out

    return runner


def test_a_foreign_runner_drives_the_loop_and_its_extra_calls_are_dropped():
    clock = WorkClock()
    costs = costs_of(7)
    work = QueuedWork(clock, costs)
    loop = timing.run_timed(work.fn, work.sync, rounds=3, iterations=2, runner=foreign_runner(1), clock=clock)
    assert loop.samples == costs[:6]
    assert loop.results == list(range(6))
    assert loop.round_seconds == [2.0, 2.0, 2.0]  # the runner's own round times


def no_calls(_target, rounds, _iterations, _sync):
    return [1.0] * rounds


def a_round_short(target, rounds, iterations, sync):
    return foreign_runner(0)(target, rounds, iterations, sync)[:-1]


@pytest.mark.parametrize("runner", [no_calls, a_round_short])
def test_a_runner_that_makes_too_few_calls_or_rounds_is_refused(runner):
    clock = WorkClock()
    work = QueuedWork(clock, costs_of(7))
    with pytest.raises(RuntimeError, match=r"the runner made (0|6) timed calls in (3|2) rounds, expected 6"):
        timing.run_timed(work.fn, work.sync, rounds=3, iterations=2, runner=runner, clock=clock)


@pytest.mark.parametrize(("rounds", "iterations"), [(0, 1), (1, 0), (-1, 3)])
def test_run_timed_refuses_an_empty_loop(rounds, iterations):
    with pytest.raises(ValueError, match="rounds and iterations must be >= 1"):
        timing.run_timed(lambda: None, lambda: None, rounds=rounds, iterations=iterations)


def test_work_that_escapes_the_timers_fails_the_loop_check():
    """A call whose work runs after its timer stopped (here: the loop itself does it) shows up as the
    rounds' untimed time."""
    clock = WorkClock()

    def leaky_runner(target, rounds, iterations, _sync):
        out = []
        for r in range(rounds):
            t0 = clock()
            for _ in range(iterations):
                target()
            clock.advance(1.0 * (rounds - r))  # round r: rounds - r seconds outside the calls
            out.append(clock() - t0)
        return out

    def fn():
        clock.advance(4.0)

    loop = timing.run_timed(fn, lambda: None, rounds=2, iterations=2, runner=leaky_runner, clock=clock)
    assert loop.samples == [4.0] * 4
    assert loop.round_seconds == [10.0, 9.0]
    sanity = loop.sanity()
    assert not sanity.ok
    assert sanity.total_seconds == 19.0
    assert sanity.parts_seconds == 16.0
    assert sanity.gap_fraction == 3.0 / 19.0
    assert sanity.worst_round_gap == 2.0 / 10.0
    assert sanity.describe() == (
        "timed calls sum to 16.000000 s of 19.000000 s wall (15.79% untimed; worst round 20.00%)"
    )


@pytest.mark.parametrize(
    ("round_seconds", "samples", "ok"),
    [
        ([100.0], [95.0], True),  # 5% untimed: at the limit
        ([100.0], [94.0], False),
        ([100.0], [105.0], True),  # the calls sum to more than the wall: by 5% still fine
        ([100.0], [106.0], False),
        ([40e-6], [20e-6], True),  # microsecond rounds: 20 µs per round is allowed
        ([40e-6], [19e-6], False),
        ([40e-6, 40e-6], [20e-6, 20e-6], True),  # ... per round: 40 µs over two
        ([40e-6, 40e-6], [19e-6, 20e-6], False),
    ],
)
def test_the_loop_check_limits(round_seconds, samples, ok):
    loop = timing.TimedLoop(samples, round_seconds, iterations=1)
    assert loop.sanity().ok is ok


@pytest.mark.parametrize(("round_seconds", "samples", "worst"), [([4.0, 4.0], [3.0, 4.0], 0.25), ([0.5], [0.25], 0.5)])
def test_the_worst_round(round_seconds, samples, worst):
    assert timing.TimedLoop(samples, round_seconds, iterations=1).sanity().worst_round_gap == worst


def test_the_loop_check_takes_its_limits():
    loop = timing.TimedLoop([0.9], [1.0], iterations=1)
    assert not loop.sanity().ok
    assert loop.sanity(rel=0.1).ok
    assert loop.sanity(rel=0.0, abs_=0.1).ok
    assert not loop.sanity(rel=0.0, abs_=0.09).ok


def test_an_empty_loop_check_has_no_gap():
    sanity = timing.Sanity(0.0, 0.0, 0.0, True)
    assert sanity.gap_fraction == 0.0
    loop = timing.TimedLoop([0.0, 0.0], [0.0, 0.0], iterations=1)
    assert loop.sanity().worst_round_gap == 0.0
    assert loop.sanity().ok


def test_robust_stats():
    stats = timing.robust_stats([4.0, 1.0, 3.0, 2.0, 10.0])
    assert stats == {"n": 5, "median": 3.0, "q1": 2.0, "q3": 4.0, "iqr": 2.0, "min": 1.0, "max": 10.0, "mean": 4.0}
    assert isinstance(stats["n"], int)
    between = timing.robust_stats([1.0, 2.0])  # linear interpolation between the two
    assert (between["q1"], between["median"], between["q3"]) == (1.25, 1.5, 1.75)


def test_robust_stats_of_nothing():
    stats = timing.robust_stats([])
    assert stats["n"] == 0
    assert set(stats) == {"n", "median", "q1", "q3", "iqr", "min", "max", "mean"}
    assert all(math.isnan(v) for k, v in stats.items() if k != "n")


def test_timing_fields_divide_by_the_records_of_a_call():
    stats = {"median": 8.0, "q1": 6.0, "q3": 10.0, "iqr": 4.0, "min": 5.0, "mean": 9.0}
    assert timing.timing_fields(stats, 4) == {
        "median_s": 8.0,
        "q1_s": 6.0,
        "q3_s": 10.0,
        "iqr_s": 4.0,
        "min_s": 5.0,
        "mean_s": 9.0,
        "per_record_median_s": 2.0,
        "per_record_iqr_s": 1.0,
    }


@pytest.mark.parametrize(
    ("seconds_per_call", "round_seconds", "max_iterations", "expected"),
    [
        (0.01, 0.1, 100, 10),
        (0.01, 0.1, 4, 4),  # capped
        (1.0, 0.1, 100, 1),  # at least one
        (0.04, 0.1, 100, 2),  # rounded: 2.5 -> 2 (to even)
        (0.03, 0.1, 100, 3),  # 3.33 -> 3
        (0.0, 0.1, 7, 7),  # an unmeasurably fast call: as many as allowed
        (-1.0, 0.1, 7, 7),
        (math.nan, 0.1, 7, 7),
    ],
)
def test_iterations_for(seconds_per_call, round_seconds, max_iterations, expected):
    n = timing.iterations_for(seconds_per_call, round_seconds, max_iterations)
    assert n == expected
    assert isinstance(n, int)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_matmul_peak_rows(library):
    """Structure and arithmetic only: the seconds are the machine's, so no figure is checked."""
    pytest.importorskip(library, reason=f"the {library} peak needs {library}")
    rows = timing.matmul_peak(sizes=(8, 16), threads=1, repeats=2, libraries=("no-such-library", library))
    assert [(r["library"], r["n"], r["sample"]) for r in rows] == [
        (library, 8, 0),
        (library, 8, 1),
        (library, 16, 0),
        (library, 16, 1),
    ]
    for r in rows:
        assert r["threads"] == 1
        assert r["seconds"] > 0
        assert r["gflops"] == 2.0 * r["n"] ** 3 / r["seconds"] / 1e9
        assert 0 <= r["max_rel_error"] < 1e-5


def test_matmul_peak_defaults():
    """One thread, five timed calls per size, the same matrices (seed 0) in every run."""
    rows = timing.matmul_peak(sizes=(8,), libraries=("numpy",))
    again = timing.matmul_peak(sizes=(8,), threads=1, repeats=5, libraries=("numpy",), seed=0)
    assert [r["threads"] for r in rows] == [1] * 5
    assert [r["max_rel_error"] for r in rows] == [r["max_rel_error"] for r in again]


def test_the_numpy_peak_limits_blas_to_its_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="the thread limit needs threadpoolctl")
    one = np.ones((2, 2), np.float32)
    _, _, limiter = timing._matmul_fn("numpy", one, one, 1)
    with limiter:
        blas = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert blas
    assert set(blas) == {1}


def test_matmul_peak_refuses_an_unknown_library():
    with pytest.raises(ValueError, match="unknown library 'nolib'"):
        timing._matmul_fn("nolib", np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32), 1)


def test_api_seconds_times_whole_runs_of_calls():
    """The median of 5 runs of API_CALLS calls, each run closed by a sync, per call."""
    clock = WorkClock()
    calls = []

    def fn():
        calls.append(1)
        clock.advance(1 / 64)

    syncs = []

    def sync():  # a run's queued work: more in the later runs, so the median is the third run's
        syncs.append(1)
        clock.advance(len(syncs) * step.API_CALLS / 256)

    seconds = step.api_seconds(fn, sync, clock)
    assert len(calls) == 5 * step.API_CALLS
    assert len(syncs) == 5
    assert seconds == 1 / 64 + 3 / 256


# -- a step or epoch point's record --------------------------------------------------------------------


def warmups_of(kind: str) -> int:
    """Warm-up calls of a point: profile.warmup for steps, at most one for epochs (each call is an epoch)."""
    return WARMUP if kind == "step" else min(1, WARMUP)


def measure(monkeypatch, kind: str, profile=PROFILE, runner=None, nan_at=None, clock=None):
    """(point, record, fake model, clock) of one point of this kind measured on the fake model; the
    machine's load average and resident set are made up too (LOADS, RSS_BEFORE)."""
    clock = clock or WorkClock()
    made = install(monkeypatch, clock, warmups_of(kind) if profile is PROFILE else profile.warmup, nan_at)
    loads = iter(LOADS)
    monkeypatch.setattr(memory, "load_average", lambda: next(loads))
    monkeypatch.setattr(memory, "current_rss_bytes", lambda: RSS_BEFORE)
    point = StepPoint(NAME, H, T, B, 1, kind)
    origin = clock.now
    record = step.measure_step(point, profile, run_id="r", machine_label="box", runner=runner, clock=clock)
    (model,) = made
    clock.now -= origin  # seconds since the point began
    return point, record, model, clock


@pytest.fixture(params=["step", "epoch"])
def measured(request, monkeypatch):
    """A step point and a fused-epoch point, each measured on the fake model (see measure)."""
    return measure(monkeypatch, request.param)


def shape_of(point: StepPoint) -> tuple[int, int, int]:
    """(rounds, iterations, records per call) the point is measured with."""
    if point.kind == "epoch":
        return ROUNDS, 1, B * PROFILE.batches_per_epoch(B)
    return ROUNDS, ITERATIONS, B


def steady_calls(point: StepPoint) -> list[int]:
    rounds, iterations, _ = shape_of(point)
    first = 1 + warmups_of(point.kind)
    return list(range(first, first + rounds * iterations))


def rows_of(record, kind: str) -> list[dict]:
    return [r for r in record.tables["samples"] if r["kind"] == kind]


def test_the_samples_are_exactly_the_steady_calls(measured):
    point, record, _, _ = measured
    warm = warmups_of(point.kind)
    rows = rows_of(record, point.kind)
    assert [r["loss"] for r in rows] == steady_calls(point)  # each call returns its number
    assert [r["seconds"] for r in rows] == [call_seconds(n, warm) for n in steady_calls(point)]
    assert [r["sample"] for r in rows] == list(range(len(rows)))
    _, iterations, _ = shape_of(point)
    assert [r["round"] for r in rows] == [i // iterations for i in range(len(rows))]
    assert len(record.tables["samples"]) == len(rows) + 1  # and the first call; no warm-up row


def test_the_first_call_and_the_warm_up_are_recorded_apart(measured):
    point, record, _, _ = measured
    warm = warmups_of(point.kind)
    (first,) = rows_of(record, f"first_call_{point.kind}")
    assert record.tables["samples"][0] == first
    assert (first["loss"], first["round"], first["sample"]) == (0.0, 0, 0)
    assert first["seconds"] == call_seconds(0, warm)
    assert record.summary["first_call_s"] == call_seconds(0, warm)
    assert record.params["warmup_seconds"] == [call_seconds(n, warm) for n in range(1, 1 + warm)]


def test_the_summary_statistics_are_of_the_steady_calls_only(measured):
    point, record, _, _ = measured
    rounds, iterations, _ = shape_of(point)
    steady = [call_seconds(n, warmups_of(point.kind)) for n in steady_calls(point)]
    q1, median, q3 = statistics.quantiles(steady, n=4, method="inclusive")
    s = record.summary
    assert (s["rounds"], s["iterations"], s["n_samples"]) == (rounds, iterations, rounds * iterations)
    assert (record.params["rounds"], record.params["iterations"]) == (rounds, iterations)
    assert (s["median_s"], s["q1_s"], s["q3_s"], s["iqr_s"]) == (median, q1, q3, q3 - q1)
    assert (s["min_s"], s["mean_s"]) == (min(steady), statistics.fmean(steady))
    assert record.tables["summary"] == [s]


def test_every_timed_interval_holds_its_sync(measured):
    """The fake spends DISPATCH_S in a call and the rest in sync(): a sample of DISPATCH_S would mean
    the timer stopped before sync. The rounds, timed whole, account for their calls exactly."""
    point, record, model, _ = measured
    rows = record.tables["samples"]
    assert all(r["seconds"] > DISPATCH_S for r in rows)
    _, iterations, _ = shape_of(point)
    seconds = [r["seconds"] for r in rows_of(record, point.kind)]
    assert record.params["round_seconds"] == [
        math.fsum(seconds[i : i + iterations]) for i in range(0, len(seconds), iterations)
    ]
    assert record.summary["sanity_ok"] is True
    assert record.summary["sanity_gap"] == 0.0
    assert record.checks["sanity"]["gap_fraction"] == 0.0
    assert model.queued == 0.0


def test_per_record_figures_divide_by_the_records_of_each_call(measured):
    """A step call trains B records; a fused-epoch call N batches of B (N = profile.batches_per_epoch)."""
    point, record, _, _ = measured
    _, _, per_call = shape_of(point)
    assert per_call == (B if point.kind == "step" else 8 * B)
    for r in record.tables["samples"]:
        assert r["records"] == per_call
        assert r["per_record_seconds"] == r["seconds"] / per_call
    s = record.summary
    assert s["records_per_call"] == per_call
    assert s["per_record_median_s"] == s["median_s"] / per_call
    assert s["per_record_iqr_s"] == s["iqr_s"] / per_call
    flops = costmodel.step_flops(H, workload.SYNTH_VOCAB, workload.SYNTH_CLASSES, T, B)
    assert (s["flops_per_step"], s["flops_per_record"]) == (flops["flops_per_step"], flops["flops_per_record"])
    assert s["gflops"] == flops["flops_per_step"] * (per_call // B) / s["median_s"] / 1e9


def test_the_api_parts_are_timed_alone(measured):
    _, record, _, _ = measured
    assert record.summary["api_check_s"] == CHECK_S
    assert record.summary["api_convert_s"] == CONVERT_S


def test_the_point_wall_time_is_on_the_same_clock(measured):
    """Everything the fake did between the point's start and its record, and nothing else."""
    _, record, _, clock = measured
    assert record.wall_seconds == clock.now


def test_a_step_point_cycles_through_its_pool(monkeypatch):
    _, _, model, _ = measure(monkeypatch, "step")
    pool = workload.synthetic_batches(B, T, workload.STEP_POOL)
    index = [next(k for k, b in enumerate(pool) if np.array_equal(b.tokens, seen.tokens)) for seen in model.batches]
    assert index[0] == 0  # the first call
    assert index[1:] == [(1 + k) % workload.STEP_POOL for k in range(len(index) - 1)]  # warm-up and steady


def test_the_record_says_what_and_where(measured):
    point, record, model, _ = measured
    assert (record.point_id, record.kind, record.run_id, record.machine) == (point.point_id, point.kind, "r", "box")
    assert isinstance(record.date, str)
    assert (model.device, model.optimizer, model.threads) == ("cpu", impls.SGD(lr=workload.SYNTH_LR), 1)
    assert record.thread_info == {"requested": 1}
    key = {"run_id": "r", "machine": "box", "point_id": point.point_id, "impl": NAME, "device": "cpu"}
    key |= {"threads": 1, "hidden": H, "seq_len": T, "batch": B}
    for r in [*record.tables["samples"], record.summary]:
        assert {k: r[k] for k in key} == key
        assert set(r) == set(records.columns(records.Sample if "sample" in r else records.Summary))
    assert record.params == vars(point) | {
        "profile": PROFILE.name,
        "vocab": workload.SYNTH_VOCAB,
        "classes": workload.SYNTH_CLASSES,
        "dtype": "float32",
        "optimizer": f"sgd lr={workload.SYNTH_LR}",
        "warmup_seconds": record.params["warmup_seconds"],
        "rounds": record.summary["rounds"],
        "iterations": record.summary["iterations"],
        "round_seconds": record.params["round_seconds"],
        "gate": None,  # measured alone: no quiet gate
    }
    s = record.summary
    assert s["kind"] == point.kind
    assert (s["load_before"], s["load_after"]) == LOADS
    assert (s["rss_before_bytes"], s["model_cache_bytes"]) == (RSS_BEFORE, costmodel.bptt_cache_bytes(H, T, B))
    assert s["step_memory_method"] == (
        None if point.kind == "epoch" else "tracemalloc peak (NumPy arrays and Python objects)"
    )


def test_the_checks_are_of_the_trained_model(measured):
    """The check batch's loss by the NumPy reference, before (at the point's initial parameters) and after."""
    point, record, model, _ = measured
    config = workload.synthetic_config(H)
    pool = workload.synthetic_batches(B, T, 8 if point.kind == "epoch" else workload.STEP_POOL)
    before = workload.reference_loss(config, impls.init_params(config, seed=workload.SEED), pool[0])
    after = workload.reference_loss(config, model.get_params(), pool[0])
    assert (record.checks["loss_before"], record.checks["loss_after"]) == (before, after)
    assert (record.summary["loss_before"], record.summary["loss_after"]) == (before, after)
    assert after < before
    assert (record.status, record.summary["status"], record.checks["status"]) == ("ok", "ok", "ok")
    assert record.summary["problems"] == []


def test_a_loop_that_does_not_add_up_flags_the_point(monkeypatch):
    """The runner given drives the loop: one whose rounds hold untimed time gets the point flagged."""
    clock = WorkClock()

    def leaky(target, rounds, iterations, sync):
        out = []
        for _ in range(rounds):
            t0 = clock()
            for _ in range(iterations):
                target()
            sync()
            clock.advance(64.0)  # untimed work in every round
            out.append(clock() - t0)
        return out

    _, record, _, _ = measure(monkeypatch, "step", runner=leaky, clock=clock)
    assert record.status == "flagged"
    assert record.summary["sanity_ok"] is False
    (flag,) = record.checks["flags"]
    assert flag.startswith("loop check: timed calls sum to ")
    assert record.summary["problems"] == [flag]
    assert record.summary["status"] == "flagged"


def test_a_loss_that_is_not_finite_fails_the_point(monkeypatch):
    point, record, _, _ = measure(monkeypatch, "step", nan_at=1 + WARMUP)  # the first steady call
    _, iterations, _ = shape_of(point)
    calls = 1 + ROUNDS * iterations  # the first call and the steady ones
    assert record.status == "failed"
    assert record.checks["problems"] == [f"1 of {calls} training losses are not finite (first: nan)"]
    assert record.summary["problems"] == record.checks["problems"]


def test_without_warm_up_the_first_call_sets_the_iterations(monkeypatch):
    """No warm-up calls: the calls per round follow the first call's cost (so one per round here)."""
    profile = PROFILE.with_overrides(warmup=0)
    _, record, _, _ = measure(monkeypatch, "step", profile=profile)
    assert record.params["warmup_seconds"] == []
    assert record.summary["iterations"] == timing.iterations_for(4096.0, profile.round_seconds, 4) == 1
