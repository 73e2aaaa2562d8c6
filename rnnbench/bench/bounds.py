"""The machine's own figures, measured in every run beside the implementations: the float32 matmul
peak (the bound that "% of peak" reads against) and the single-thread plain-C baseline at the sweep's
shapes (rnnbench.bench.c_baseline: the same step with no framework and no Python in the timed loop)."""

from __future__ import annotations

import time

from rnnbench import machine
from rnnbench.bench import timing, workload
from rnnbench.bench.checks import Checks
from rnnbench.bench.points import BaselinePoint, PeakPoint
from rnnbench.bench.profiles import Profile
from rnnbench.runs import records


def measure_peak(point: PeakPoint, profile: Profile, *, run_id: str | None, machine_label: str) -> records.PointRecord:
    """Float32 matmul GFLOP/s at the point's thread count (NumPy and torch where installed); the best is the peak."""
    started = time.perf_counter()
    key = {"run_id": run_id, "machine": machine_label, "point_id": point.point_id}
    rows = [
        records.row(records.PeakSample(**key, **r))
        for r in timing.matmul_peak(profile.peak_sizes, threads=point.threads, repeats=profile.peak_repeats)
    ]
    checks = Checks()
    checks.problems += [
        f"{r['library']} n={r['n']} matmul is wrong: max relative error {r['max_rel_error']:.2e}"
        for r in rows
        if not r["max_rel_error"] < 1e-4
    ]
    if not rows:
        checks.problems.append("no matmul library could be timed")
    best = max(rows, key=lambda r: r["gflops"], default=None)
    return records.PointRecord(
        point_id=point.point_id,
        kind="peak",
        run_id=run_id,
        machine=machine_label,
        status=checks.status,
        params={**vars(point), "sizes": list(profile.peak_sizes), "repeats": profile.peak_repeats},
        summary={
            **key,
            "threads": point.threads,
            "peak_gflops": best["gflops"] if best else None,
            "library": best["library"] if best else None,
            "n": best["n"] if best else None,
        },
        tables={"peak": rows},
        checks=checks.as_dict(),
        date=machine.now_iso(),
        wall_seconds=time.perf_counter() - started,
    )


def measure_baseline(
    point: BaselinePoint, profile: Profile, *, run_id: str | None, machine_label: str
) -> records.PointRecord:
    """The C baseline at one sweep shape (float32, plain SGD at SYNTH_LR, one thread), timed inside the
    C program. Raises rnnbench.bench.c_baseline.BaselineUnavailable where no C compiler can build it."""
    from rnnbench.bench import c_baseline

    started, date = time.perf_counter(), machine.now_iso()
    m = c_baseline.measure(
        point.hidden,
        point.seq_len,
        point.batch,
        rounds=profile.rounds,
        warmup=profile.warmup,
        round_seconds=profile.round_seconds,
    )
    checks = Checks(loss_before=float(m["loss_first"]), loss_after=float(m["loss_last"]))
    checks.losses_finite([checks.loss_before, checks.loss_after], "C baseline")
    checks.loss_fell()
    stats, build = m["step_stats"], m["build"]
    summary = records.BaselineSummary(
        run_id=run_id,
        machine=machine_label,
        point_id=point.point_id,
        threads=point.threads,
        hidden=point.hidden,
        seq_len=point.seq_len,
        batch=point.batch,
        n_samples=stats["n"],
        iterations=m["iterations"],
        **timing.timing_fields(stats, point.batch),
        loss_first=checks.loss_before,
        loss_last=checks.loss_after,
        compiler=build["compiler_version"],
        flags=" ".join(build["flags"]),
        status=checks.status,
    )
    row = records.row(summary)
    return records.PointRecord(
        point_id=point.point_id,
        kind="baseline",
        run_id=run_id,
        machine=machine_label,
        status=checks.status,
        params={
            **vars(point),
            "profile": profile.name,
            "vocab": workload.SYNTH_VOCAB,
            "classes": workload.SYNTH_CLASSES,
        },
        summary=row,
        tables={"baseline": [row]},
        checks=checks.as_dict() | {"build": build},
        date=date,
        wall_seconds=time.perf_counter() - started,
    )
