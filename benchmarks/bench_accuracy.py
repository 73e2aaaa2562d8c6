"""Accuracy per second: train each implementation with per-record SGD (B=1) and minibatches, the same
epochs, and record validation accuracy against training seconds (evaluation excluded).

Asserts: finite validation losses, accuracies in [0, 1], a best accuracy above the majority class,
a validation loss that falls, and a training clock that never runs backwards.
"""

from __future__ import annotations

from rnnbench import harness


def test_accuracy_per_second(accuracy_point, bench, request):
    bench.start(accuracy_point.point_id, accuracy_point.impl)
    record = harness.measure_accuracy(accuracy_point, bench.profile, bench.dataset(), run_id=bench.run_id)
    s = record["summary"]
    best = s["best_val_accuracy"]
    status = (
        f"best val acc {best:.3f} in {s['train_seconds']:.2f} s of training ({s['records_per_second']:.0f} records/s)"
        if best is not None
        else "failed"
    )
    bench.save(record, request, status)
    bench.check(record, strict=True)
