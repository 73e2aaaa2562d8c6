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

import numpy as np

from rnnbench import jsonio, machine
from rnnbench.bench import memory, timing, workload
from rnnbench.bench.checks import Checks
from rnnbench.bench.points import StepPoint
from rnnbench.bench.profiles import Profile
from rnnbench.runs import costmodel, records

API_CALLS = 200  # calls timed together: one check or conversion takes microseconds


def api_seconds(fn, sync, clock: timing.Clock = time.perf_counter) -> float:
    """Median seconds of one call of fn, over 5 runs of API_CALLS calls, each run ending with sync."""
    runs = []
    for _ in range(5):
        t0 = clock()
        for _ in range(API_CALLS):
            fn()
        sync()
        runs.append((clock() - t0) / API_CALLS)
    return float(np.median(runs))


def _mean_loss(result) -> float:
    return float(np.mean(result)) if isinstance(result, (list, tuple)) else float(result)


def measure_step(
    point: StepPoint,
    profile: Profile,
    *,
    run_id: str | None,
    machine_label: str,
    runner: timing.Runner | None = None,
    clock: timing.Clock = time.perf_counter,
) -> records.PointRecord:
    """Measure one step or epoch point (see the module docstring). Every duration it records is read
    from clock (rnnbench.bench.timing.Clock), and the rounds' wall time from runner when one is given."""
    import impls

    started, date = clock(), machine.now_iso()
    load_before = memory.load_average()
    config = workload.synthetic_config(point.hidden)
    params = impls.init_params(config, seed=workload.SEED)
    epoch = point.kind == "epoch"
    n_batches = profile.batches_per_epoch(point.batch) if epoch else workload.STEP_POOL
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

    if epoch:
        records_per_call = point.batch * len(pool)

        def call():
            return model.train_epoch(pool)

        first_s, first = timing.timed_call(call, model.sync, clock)
        warm = [timing.timed_call(call, model.sync, clock)[0] for _ in range(min(1, profile.warmup))]
        rounds, iterations = profile.epoch_rounds, 1
    else:
        records_per_call = point.batch
        first_s, first = timing.timed_call(lambda: model.train_step(pool[0]), model.sync, clock)
        cycle = itertools.cycle(pool[1:] + pool[:1])

        def call():
            return model.train_step(next(cycle))

        warm = [timing.timed_call(call, model.sync, clock)[0] for _ in range(profile.warmup)]
        rounds = profile.rounds
        iterations = timing.iterations_for(
            float(np.median(warm)) if warm else first_s, profile.round_seconds, profile.max_iterations
        )

    loop = timing.run_timed(call, model.sync, rounds=rounds, iterations=iterations, runner=runner, clock=clock)
    mem = memory.memory_fields(point.hidden, point.seq_len, point.batch, rss_before)
    if epoch:
        mem |= {"step_peak_bytes": None, "step_memory_method": None}
    else:
        mem |= memory.step_memory_fields(model, pool[0])
    # what the public API adds to each call, timed alone: validation, and conversion to the framework
    api_check_s = api_seconds(lambda: model._check(pool[0]), model.sync, clock)
    api_convert_s = api_seconds(lambda: model._framework_inputs(pool[0]), model.sync, clock)
    sanity = loop.sanity()
    checks.sanity = {**vars(sanity), "gap_fraction": sanity.gap_fraction}
    if not sanity.ok:
        checks.flags.append("loop check: " + sanity.describe())
    losses = [_mean_loss(first)] + [_mean_loss(r) for r in loop.results]
    checks.losses_finite(losses, "training")
    checks.loss_after = workload.reference_loss(config, model.get_params(), pool[0])
    checks.loss_fell()
    load_after = memory.load_average()

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
    samples = [
        records.Sample(**key, kind=f"first_call_{point.kind}", round=0, sample=0, seconds=first_s,
                       records=records_per_call, per_record_seconds=first_s / records_per_call, loss=losses[0])
    ] + [
        records.Sample(**key, kind=point.kind, round=i // iterations, sample=i, seconds=s, records=records_per_call,
                       per_record_seconds=s / records_per_call, loss=losses[i + 1])
        for i, s in enumerate(loop.samples)
    ]  # fmt: skip
    stats = timing.robust_stats(loop.samples)
    flops = costmodel.step_flops(point.hidden, workload.SYNTH_VOCAB, workload.SYNTH_CLASSES, point.seq_len, point.batch)
    steps_per_call = records_per_call // point.batch
    summary = records.Summary(
        **key,
        kind=point.kind,
        records_per_call=records_per_call,
        n_samples=stats["n"],
        rounds=rounds,
        iterations=iterations,
        **timing.timing_fields(stats, records_per_call),
        first_call_s=first_s,
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
        load_before=load_before,
        load_after=load_after,
        status=checks.status,
        problems=checks.problems + checks.flags,
    )
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
            "warmup_seconds": warm,
            "rounds": rounds,
            "iterations": iterations,
            "round_seconds": loop.round_seconds,
        },
        summary=records.row(summary),
        tables={"samples": [records.row(s) for s in samples], "summary": [records.row(summary)]},
        checks=checks.as_dict(),
        date=date,
        wall_seconds=clock() - started,
        thread_info=jsonio.jsonable(model.thread_info()),
    )
