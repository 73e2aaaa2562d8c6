"""A step or epoch point: the steady-state cost of train_step (or a fused train_epoch) at one shape.

Each point is measured on a fresh model in three parts, so that a worker can interleave the rounds of
all its points (rnnbench.bench.rounds):

* `prepare`: the model; its first call timed alone (tracing, compilation, lazy initialisation: kind
  first_call_step / first_call_epoch); `warmup` more calls thrown away; the calls per round chosen.
* `PreparedStep.run_round`: one round of `iterations` calls, each ending with model.sync(), with the
  yardstick read just before and just after it (rnnbench.bench.yardstick) when one is given.
* `finish`: the record. Its statistics come from the quiet rounds (every round when no yardstick was
  read); rounds that were not quiet stay in the samples table, marked.

An epoch call runs N = profile.batches_per_epoch(B) same-shaped batches, so that a small-B epoch holds
enough records for its per-call cost to be amortised as in a real epoch; per-record cost = seconds /
(N * B). `measure_step` runs the three parts one after another (benchmarks/ drive its loop).

Beside the timing: what the public API adds per call, each part timed alone (its input validation,
and turning the batch into the framework's inputs), one more
untimed step with the framework's allocator accounting on (rnnbench.bench.memory), the resident set,
the load average before and after, and the checks of rnnbench.bench.checks.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rnnbench import jsonio, machine
from rnnbench.bench import dispatch, memory, timing, workload
from rnnbench.bench.checks import Checks
from rnnbench.bench.points import StepPoint
from rnnbench.bench.profiles import Profile
from rnnbench.bench.yardstick import Gate, Yardstick
from rnnbench.runs import costmodel, records

# With more than one thread, a framework's pool threads spin-wait a while after a call (OpenMP, XLA's
# pools) on the other cores: read at once, the yardstick would see the measured code's own threads as a
# busy machine. The reading after a round waits this long first.
SETTLE_S = 0.02
API_CALLS = 200  # calls timed together: one check or conversion takes microseconds


def api_seconds(fn, sync, clock: timing.Clock = time.perf_counter) -> float:
    """Median seconds of one call of fn, over 5 runs of API_CALLS calls, each run ending with sync."""
    return timing.seconds_per_call(fn, sync, calls=API_CALLS, clock=clock)


def compile_fields(model, after_first: int | None) -> dict:
    """compilations, compilations_timed and compile_s of a point whose model's compile_count was
    after_first after its first call (None: the implementation does not compile)."""
    if after_first is None:
        return {"compilations": None, "compilations_timed": None, "compile_s": None}
    total = model.compile_count
    return {"compilations": total, "compilations_timed": total - after_first, "compile_s": model.compile_seconds}


def _mean_loss(result) -> float:
    return float(np.mean(result)) if isinstance(result, (list, tuple)) else float(result)


@dataclass
class Round:
    """One timed round: its calls' seconds and results, its wall seconds, the yardstick's readings before
    and after it (None without a yardstick), and whether it counts (quiet, or no yardstick)."""

    index: int
    samples: list[float]
    results: list
    wall_s: float
    yardstick: tuple[float, float] | None = None
    quiet: bool = True


@dataclass
class PreparedStep:
    """A point ready for timed rounds: its model, batches and call, and what preparing it measured."""

    point: StepPoint
    profile: Profile
    config: object  # impls.ModelConfig
    params: dict
    model: object  # impls.RNNImpl
    pool: list
    call: Callable[[], object]
    records_per_call: int
    planned_rounds: int
    iterations: int
    first_s: float
    first_result: object
    warm: list[float]
    checks: Checks
    memory: dict
    load_before: float | None
    date: str
    started: float
    compiled_first: int | None = None  # the model's compilations after its first call (None: it compiles nothing)
    clock: timing.Clock = time.perf_counter  # every duration is read from it (tests give a fake one)
    rounds: list[Round] = field(default_factory=list)

    @property
    def epoch(self) -> bool:
        return self.point.kind == "epoch"

    def run_round(self, stick: Yardstick | None = None, gate: Gate | None = None, runner=None) -> Round:
        """Time one round of `iterations` calls, reading the yardstick before and after it."""
        before = stick.read() if stick else None
        loop = timing.run_timed(
            self.call, self.model.sync, rounds=1, iterations=self.iterations, runner=runner, clock=self.clock
        )
        if stick and self.point.threads > 1:  # the framework's other threads spin a while after the call
            time.sleep(SETTLE_S)
        after = stick.read() if stick else None
        readings = (before, after) if stick else None
        quiet = gate.is_quiet(readings, stick.steady()) if stick and gate else True
        r = Round(len(self.rounds), loop.samples, loop.results, loop.round_seconds[0], readings, quiet)
        self.rounds.append(r)
        return r

    def quiet_rounds(self) -> list[Round]:
        return [r for r in self.rounds if r.quiet]


def prepare(point: StepPoint, profile: Profile, clock: timing.Clock = time.perf_counter) -> PreparedStep:
    """A fresh model for the point, its first call timed, warmed up (see the module docstring); every
    duration read from clock."""
    import impls

    started, date = clock(), machine.now_iso()
    load_before = memory.load_average()
    config = workload.synthetic_config(point.hidden)
    params = impls.init_params(config, seed=workload.SEED)
    epoch = point.kind == "epoch"
    n_batches = profile.batches_per_epoch(point.batch) if epoch else workload.STEP_POOL
    pool = workload.synthetic_batches(point.batch, point.seq_len, n_batches)
    checks = Checks(loss_before=workload.reference_loss(config, params, pool[0]))
    rss_before = memory.current_rss_bytes()  # the model, its first call and warm-up come after
    model = impls.load(
        point.impl,
        config,
        params,
        device=point.device,
        optimizer=impls.SGD(lr=workload.SYNTH_LR),
        threads=point.threads,
    )
    if epoch:
        records_per_call = point.batch * len(pool)

        def call():
            return model.train_epoch(pool)

        first_s, first = timing.timed_call(call, model.sync, clock)
        compiled_first = getattr(model, "compile_count", None)
        warm = [timing.timed_call(call, model.sync, clock)[0] for _ in range(min(1, profile.warmup))]
        planned, iterations = profile.epoch_rounds, 1
    else:
        records_per_call = point.batch
        first_s, first = timing.timed_call(lambda: model.train_step(pool[0]), model.sync, clock)
        compiled_first = getattr(model, "compile_count", None)
        cycle = itertools.cycle(pool[1:] + pool[:1])

        def call():
            return model.train_step(next(cycle))

        warm = [timing.timed_call(call, model.sync, clock)[0] for _ in range(profile.warmup)]
        planned = profile.rounds
        iterations = timing.iterations_for(
            float(np.median(warm)) if warm else first_s, profile.round_seconds, profile.max_iterations
        )
    mem = memory.memory_fields(point.hidden, point.seq_len, point.batch, rss_before)
    return PreparedStep(
        point, profile, config, params, model, pool, call, records_per_call, planned, iterations,
        first_s, first, warm, checks, mem, load_before, date, started, compiled_first, clock,
    )  # fmt: skip


def measure_step(
    point: StepPoint,
    profile: Profile,
    *,
    run_id: str | None,
    machine_label: str,
    runner: timing.Runner | None = None,
    clock: timing.Clock = time.perf_counter,
) -> records.PointRecord:
    """Measure one step or epoch point alone: prepare, its planned rounds one after another, finish.
    runner drives the timed loop (benchmarks/ hand pytest-benchmark's in); no yardstick is read. Every
    duration it records is read from clock (rnnbench.bench.timing.Clock), and the rounds' wall time from
    runner when one is given."""
    prepared = prepare(point, profile, clock)
    loop = timing.run_timed(
        prepared.call, prepared.model.sync, rounds=prepared.planned_rounds, iterations=prepared.iterations,
        runner=runner, clock=clock,
    )  # fmt: skip
    n = prepared.iterations
    for i, wall in enumerate(loop.round_seconds):
        prepared.rounds.append(Round(i, loop.samples[i * n : (i + 1) * n], loop.results[i * n : (i + 1) * n], wall))
    return finish(prepared, run_id=run_id, machine_label=machine_label)


def _sanity(rounds: list[Round], iterations: int) -> timing.Sanity:
    samples = [s for r in rounds for s in r.samples]
    return timing.TimedLoop(samples, [r.wall_s for r in rounds], iterations).sanity()


def _key(point: StepPoint, run_id: str | None, machine_label: str) -> dict:
    return {
        "run_id": run_id,
        "machine": machine_label,
        "point_id": point.point_id,
        "impl": point.impl,
        "device": point.device,
        "threads": point.threads,
        "hidden": point.hidden,
        "seq_len": point.seq_len,
        "batch": point.batch,
    }


def _samples(p: PreparedStep, key: dict, losses_by_round: list[list[float]]) -> list[records.Sample]:
    """The first call, then every call of every round (quiet or not), with its round's yardstick."""
    point, n = p.point, p.records_per_call
    out = [
        records.Sample(**key, kind=f"first_call_{point.kind}", round=0, sample=0, seconds=p.first_s, records=n,
                       per_record_seconds=p.first_s / n, loss=_mean_loss(p.first_result), yardstick_s=None, quiet=None)
    ]  # fmt: skip
    k = 0
    for r, losses in zip(p.rounds, losses_by_round, strict=True):
        y = float(np.mean(r.yardstick)) if r.yardstick else None
        for s, loss in zip(r.samples, losses, strict=True):
            out.append(
                records.Sample(**key, kind=point.kind, round=r.index, sample=k, seconds=s, records=n,
                               per_record_seconds=s / n, loss=loss, yardstick_s=y, quiet=r.quiet)
            )  # fmt: skip
            k += 1
    return out


def _gate_fields(p: PreparedStep, gate: Gate | None, steady: float | None) -> dict:
    """How many rounds were quiet, and whether the point stayed loaded (too few quiet rounds)."""
    quiet = len(p.quiet_rounds())
    loaded = gate is not None and quiet < gate.needed(p.planned_rounds)
    return {
        "quiet_rounds": quiet,
        "loaded_rounds": len(p.rounds) - quiet,
        "yardstick_steady_s": steady,
        "loaded": loaded,
    }


def finish(
    p: PreparedStep, *, run_id: str | None, machine_label: str, gate: Gate | None = None, steady: float | None = None
) -> records.PointRecord:
    """The point's record: statistics over its quiet rounds (all rounds when none is quiet: then the
    point is loaded), memory, the public API's price, checks (see the module docstring)."""
    point, model, pool, checks = p.point, p.model, p.pool, p.checks
    gated = _gate_fields(p, gate, steady)
    counted = p.quiet_rounds() or p.rounds
    if gated["loaded"]:
        checks.flags.append(
            f"loaded: {gated['quiet_rounds']} of {len(p.rounds)} rounds quiet, {gate.needed(p.planned_rounds)} needed"
        )
    compiled = compile_fields(model, p.compiled_first)  # before the untimed calls below add any
    if compiled["compilations_timed"]:
        checks.flags.append(f"compiled {compiled['compilations_timed']} time(s) during warm-up and timing")
    mem = dict(p.memory)
    if p.epoch:
        mem |= {"step_peak_bytes": None, "step_memory_method": None}
    else:
        mem |= memory.step_memory_fields(model, pool[0])
    dispatched = {} if p.epoch else dispatch.dispatch_fields(model, pool[0])
    # what the public API adds to each call, timed alone: validation, and conversion to the framework
    stages = model.input_stages()
    api_check_s = api_seconds(lambda: stages["check"](pool[0]), model.sync, p.clock)
    api_convert_s = api_seconds(lambda: stages["convert"](pool[0]), model.sync, p.clock)
    sanity = _sanity(p.rounds, p.iterations)
    checks.sanity = {**vars(sanity), "gap_fraction": sanity.gap_fraction}
    if not sanity.ok:
        checks.flags.append("loop check: " + sanity.describe())
    losses_by_round = [[_mean_loss(x) for x in r.results] for r in p.rounds]
    checks.losses_finite([_mean_loss(p.first_result)] + [x for ls in losses_by_round for x in ls], "training")
    checks.loss_after = workload.reference_loss(p.config, model.get_params(), pool[0])
    checks.loss_fell()
    key = _key(point, run_id, machine_label)
    samples = _samples(p, key, losses_by_round)
    stats = timing.robust_stats([s for r in counted for s in r.samples])
    summary = _summary(p, key, stats, sanity, gated | compiled | dispatched, mem, api_check_s, api_convert_s)
    return records.PointRecord(
        point_id=point.point_id,
        kind=point.kind,
        run_id=run_id,
        machine=machine_label,
        status=checks.status,
        params={
            **vars(point),
            "profile": p.profile.name,
            "vocab": workload.SYNTH_VOCAB,
            "classes": workload.SYNTH_CLASSES,
            "dtype": "float32",
            "optimizer": f"sgd lr={workload.SYNTH_LR}",
            "warmup_seconds": p.warm,
            "rounds": p.planned_rounds,
            "iterations": p.iterations,
            "round_seconds": [r.wall_s for r in p.rounds],
            "gate": None if gate is None else vars(gate),
        },
        summary=records.row(summary),
        tables={"samples": [records.row(s) for s in samples], "summary": [records.row(summary)]},
        checks=checks.as_dict(),
        date=p.date,
        wall_seconds=p.clock() - p.started,
        thread_info=jsonio.jsonable(model.thread_info()),
    )


def _summary(p: PreparedStep, key, stats, sanity, gated, mem, api_check_s, api_convert_s) -> records.Summary:
    point, checks = p.point, p.checks
    flops = costmodel.step_flops(point.hidden, workload.SYNTH_VOCAB, workload.SYNTH_CLASSES, point.seq_len, point.batch)
    steps_per_call = p.records_per_call // point.batch
    return records.Summary(
        **key,
        kind=point.kind,
        records_per_call=p.records_per_call,
        n_samples=stats["n"],
        rounds=p.planned_rounds,
        iterations=p.iterations,
        **timing.timing_fields(stats, p.records_per_call),
        first_call_s=p.first_s,
        api_check_s=api_check_s,
        api_convert_s=api_convert_s,
        flops_per_step=flops["flops_per_step"],
        flops_per_record=flops["flops_per_record"],
        gflops=flops["flops_per_step"] * steps_per_call / stats["median"] / 1e9,
        **mem,
        loss_before=checks.loss_before,
        loss_after=checks.loss_after,
        sanity_gap=sanity.gap_fraction,
        sanity_ok=sanity.ok,
        load_before=p.load_before,
        load_after=memory.load_average(),
        **gated,
        status=checks.status,
        problems=checks.problems + checks.flags,
    )
