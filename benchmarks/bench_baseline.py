"""The single-thread plain-C baseline at every shape of the sweep (rnnbench.bench.c_baseline). Asserts the
C program's losses are finite and fall; skips, saying why, where no C compiler can build it."""

from __future__ import annotations

import pytest

from rnnbench.bench.bounds import measure_baseline


def test_c_baseline(baseline_point, bench):
    from rnnbench.bench.c_baseline import BaselineUnavailable

    try:
        record = measure_baseline(baseline_point, bench.profile, **bench.label)
    except BaselineUnavailable as exc:
        pytest.skip(f"no C baseline: {exc}")
    assert bench.keep(record)["per_record_median_s"] > 0
