"""A step or epoch point: the steady-state cost of train_step (or a fused train_epoch) at one shape.

Each point is measured on a fresh model: the first call is timed alone (tracing, compilation, lazy
initialisation: kind first_call_step / first_call_epoch); `warmup` more calls are thrown away; then
`rounds` rounds of `iterations` calls are timed, each call ending with model.sync(). An epoch call runs
N = profile.batches_per_epoch(B) same-shaped batches, so that a small-B epoch holds enough records for
its per-call cost to be amortised as in a real epoch; per-record cost = seconds / (N * B).

Beside the timing: what the public API adds per call, each part timed alone (its input validation,
and turning the batch into the framework's inputs), one more
untimed step with the framework's allocator accounting on (rnnbench.bench.memory), the resident set,
the load average before and after, and the checks of rnnbench.bench.checks.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np

from rnnbench import jsonio, machine
from rnnbench.bench import memory, timing, workload
from rnnbench.bench.checks import Checks
from rnnbench.bench.points import StepPoint
from rnnbench.bench.profiles import Profile
from rnnbench.runs import costmodel, records

API_CALLS = 200  # calls timed together: one check or conversion takes microseconds


def api_seconds(fn, sync) -> float:
    """Median seconds of one call of fn, over 5 runs of API_CALLS calls, each run ending with sync."""
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(API_CALLS):
            fn()
        sync()
        runs.append((time.perf_counter() - t0) / API_CALLS)
    return float(np.median(runs))


def _mean_loss(result) -> float:
    return float(np.mean(result)) if isinstance(result, (list, tuple)) else float(result)


@dataclass
class Timed:
    """What the timing of one point found: the first call alone (seconds, result), the warm-up calls'
    seconds, the timed loop, and its shape (rounds of iterations calls, records_per_call each)."""

    first_s: float
    first: object
    warm: list[float]
    loop: timing.TimedLoop
    rounds: int
    iterations: int
    records_per_call: int


def time_calls(model, point: StepPoint, profile: Profile, pool: list, runner: timing.Runner | None) -> Timed:
    """Time train_epoch over the pool (an epoch point) or train_step cycling through it (a step point)."""
    if point.kind == "epoch":

        def call():
            return model.train_epoch(pool)

        first_s, first = timing.timed_call(call, model.sync)
        warm = [timing.timed_call(call, model.sync)[0] for _ in range(min(1, profile.warmup))]
        rounds, iterations, records_per_call = profile.epoch_rounds, 1, point.batch * len(pool)
    else:
        first_s, first = timing.timed_call(lambda: model.train_step(pool[0]), model.sync)
        cycle = itertools.cycle(pool[1:] + pool[:1])

        def call():
            return model.train_step(next(cycle))

        warm = [timing.timed_call(call, model.sync)[0] for _ in range(profile.warmup)]
        rounds, records_per_call = profile.rounds, point.batch
        iterations = timing.iterations_for(
            float(np.median(warm)) if warm else first_s, profile.round_seconds, profile.max_iterations
        )
    loop = timing.run_timed(call, model.sync, rounds=rounds, iterations=iterations, runner=runner)
    return Timed(first_s, first, warm, loop, rounds, iterations, records_per_call)


def measure_step(
    point: StepPoint, profile: Profile, *, run_id: str | None, machine_label: str, runner: timing.Runner | None = None
) -> records.PointRecord:
    """Measure one step or epoch point (see the module docstring)."""
    import impls

    started, date = time.perf_counter(), machine.now_iso()
    load_before = memory.load_average()
    config = workload.synthetic_config(point.hidden)
    params = impls.init_params(config, seed=workload.SEED)
    n_batches = profile.batches_per_epoch(point.batch) if point.kind == "epoch" else workload.STEP_POOL
    pool = workload.synthetic_batches(point.batch, point.seq_len, n_batches)
    checks = Checks(loss_before=workload.reference_loss(config, params, pool[0]))
    rss_before = memory.current_rss_bytes()  # the model, its first call, warm-up and timed calls come after
    model = impls.load(
        point.impl,
        config,
        params,
        device=point.device,
        optimizer=impls.SGD(lr=workload.SYNTH_LR),
        threads=point.threads,
    )
    timed = time_calls(model, point, profile, pool, runner)
    mem = memory.memory_fields(point.hidden, point.seq_len, point.batch, rss_before)
    if point.kind == "epoch":
        mem |= {"step_peak_bytes": None, "step_memory_method": None}
    else:
        mem |= memory.step_memory_fields(model, pool[0])
    # what the public API adds to each call, timed alone: validation, and conversion to the framework
    stages = model.input_stages()
    api = {f"api_{name}_s": api_seconds(lambda f=stages[name]: f(pool[0]), model.sync) for name in ("check", "convert")}
    sanity = timed.loop.sanity()
    checks.sanity = {**vars(sanity), "gap_fraction": sanity.gap_fraction}
    if not sanity.ok:
        checks.flags.append("loop check: " + sanity.describe())
    losses = [_mean_loss(timed.first)] + [_mean_loss(r) for r in timed.loop.results]
    checks.losses_finite(losses, "training")
    checks.loss_after = workload.reference_loss(config, model.get_params(), pool[0])
    checks.loss_fell()
    loads = {"load_before": load_before, "load_after": memory.load_average()}
    key = {
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
    summary = _summary(key, point, timed, checks, sanity, mem | api | loads)
    return records.PointRecord(
        point_id=point.point_id,
        kind=point.kind,
        run_id=run_id,
        machine=machine_label,
        status=checks.status,
        params={
            **vars(point),
            "profile": profile.name,
            "vocab": workload.SYNTH_VOCAB,
            "classes": workload.SYNTH_CLASSES,
            "dtype": "float32",
            "optimizer": f"sgd lr={workload.SYNTH_LR}",
            "warmup_seconds": timed.warm,
            "rounds": timed.rounds,
            "iterations": timed.iterations,
            "round_seconds": timed.loop.round_seconds,
        },
        summary=records.row(summary),
        tables={"samples": _samples(key, point, timed, losses), "summary": [records.row(summary)]},
        checks=checks.as_dict(),
        date=date,
        wall_seconds=time.perf_counter() - started,
        thread_info=jsonio.jsonable(model.thread_info()),
    )


def _samples(key: dict, point: StepPoint, timed: Timed, losses: list[float]) -> list[dict]:
    """Rows of the samples table: the first call, then every timed call."""
    n, iterations, first_s = timed.records_per_call, timed.iterations, timed.first_s
    samples = [
        records.Sample(**key, kind=f"first_call_{point.kind}", round=0, sample=0, seconds=first_s,
                       records=n, per_record_seconds=first_s / n, loss=losses[0])
    ] + [
        records.Sample(**key, kind=point.kind, round=i // iterations, sample=i, seconds=s, records=n,
                       per_record_seconds=s / n, loss=losses[i + 1])
        for i, s in enumerate(timed.loop.samples)
    ]  # fmt: skip
    return [records.row(s) for s in samples]


def _summary(key: dict, point: StepPoint, timed: Timed, checks: Checks, sanity, measured: dict) -> records.Summary:
    """The point's summary row; measured: its memory fields, api_check_s, api_convert_s, load_before, load_after."""
    stats = timing.robust_stats(timed.loop.samples)
    flops = costmodel.step_flops(point.hidden, workload.SYNTH_VOCAB, workload.SYNTH_CLASSES, point.seq_len, point.batch)
    steps_per_call = timed.records_per_call // point.batch
    return records.Summary(
        **key,
        kind=point.kind,
        records_per_call=timed.records_per_call,
        n_samples=stats["n"],
        rounds=timed.rounds,
        iterations=timed.iterations,
        **timing.timing_fields(stats, timed.records_per_call),
        first_call_s=timed.first_s,
        flops_per_step=flops["flops_per_step"],
        flops_per_record=flops["flops_per_record"],
        gflops=flops["flops_per_step"] * steps_per_call / stats["median"] / 1e9,
        **measured,
        loss_before=checks.loss_before,
        loss_after=checks.loss_after,
        sanity_gap=sanity.gap_fraction,
        sanity_ok=sanity.ok,
        status=checks.status,
        problems=checks.problems + checks.flags,
    )
