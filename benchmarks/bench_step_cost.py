"""Step cost: time per training step and per record as batch size B sweeps from 1 upward.

One test per (implementation, H, T, B): a fresh model, its first call timed apart, warm-up thrown
away, then rounds of timed steps (each ending with sync) driven by pytest-benchmark, whose per-step
figures match ours. Asserts: every loss finite, the loss of a fixed batch lower after the steps; in
test mode (--benchmark-disable) also that the timed steps account for the loop's wall time.
"""

from __future__ import annotations

from rnnbench import harness
from rnnbench.report import fmt_time


def _status(record: dict) -> str:
    s = record["summary"]
    spread = 100 * s["iqr_s"] / s["median_s"] if s["median_s"] else float("nan")
    text = (
        f"{fmt_time(s['per_record_median_s'])}/record (call {fmt_time(s['median_s'])}, IQR {spread:.0f}%, "
        f"n={s['n_samples']}), first call {fmt_time(s['first_call_s'])}"
    )
    if record["status"] == "flagged":
        return "FLAGGED " + text + " | " + "; ".join(record["checks"]["flags"])
    return text


def _measure(point, bench, benchmark, request) -> None:
    bench.start(point.point_id, point.impl)
    record = harness.measure_step(point, bench.profile, runner=bench.runner(benchmark), run_id=bench.run_id)
    benchmark.extra_info.update(
        {k: record["summary"][k] for k in ("point_id", "kind", "impl", "hidden", "seq_len", "batch", "status")}
        | {"per_record_median_s": record["summary"]["per_record_median_s"], "threads": point.threads}
    )
    bench.save(record, request, _status(record))
    bench.check(record, strict=bench.benchmark_disabled)


def test_step_cost(step_point, bench, benchmark, request):
    """One train_step per timed call."""
    _measure(step_point, bench, benchmark, request)


def test_epoch_cost(epoch_point, bench, benchmark, request):
    """One fused train_epoch over profile.batches_per_epoch(B) same-shaped batches per timed call."""
    _measure(epoch_point, bench, benchmark, request)
