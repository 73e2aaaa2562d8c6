"""Step cost: time per training step and per record, one test per (implementation, H, T, B), and
jax-scan's fused train_epoch beside it. Asserts every loss finite and the loss of a fixed batch lower
after the steps."""

from __future__ import annotations

from rnnbench.bench.step import measure_step


def test_step_cost(step_point, bench, runner):
    bench.skip_unless_runnable(step_point)
    s = bench.keep(measure_step(step_point, bench.profile, runner=runner, **bench.label))
    assert s["per_record_median_s"] > 0


def test_epoch_cost(epoch_point, bench, runner):
    bench.skip_unless_runnable(epoch_point)
    s = bench.keep(measure_step(epoch_point, bench.profile, runner=runner, **bench.label))
    assert s["records_per_call"] == epoch_point.batch * bench.profile.batches_per_epoch(epoch_point.batch)
