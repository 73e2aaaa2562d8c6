"""Accuracy per second: each implementation trained with per-record SGD (B=1) and minibatches on the
profile's data set. Asserts finite validation losses, accuracies in [0, 1], a best accuracy above the
majority class, a validation loss that falls, and a training clock that never runs backwards."""

from __future__ import annotations

import functools

from rnnbench.bench.accuracy import load_accuracy_data, measure_accuracy

_data = functools.cache(load_accuracy_data)


def test_accuracy_per_second(accuracy_point, bench):
    bench.skip_unless_runnable(accuracy_point)
    s = bench.keep(measure_accuracy(accuracy_point, bench.profile, _data(bench.profile), **bench.label))
    assert s["best_val_accuracy"] > s["majority_accuracy"]
