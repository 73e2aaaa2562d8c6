"""The plain-C floor: the same training step as the implementations, in C with no framework and no
Python in the timed loop (rnnbench.floor), at every shape of the sweep, in the matmul-peak session.
What a step costs when nothing but the arithmetic is paid for: the report sets every implementation
beside it. Asserts the C program's losses are finite and fall; skips, saying why, without a C compiler.
"""

from __future__ import annotations

import pytest

from rnnbench import harness
from rnnbench.report import fmt_time


def test_c_floor(floor_point, bench, request):
    from rnnbench.floor import FloorUnavailable

    bench.start(floor_point.point_id)
    try:
        record = harness.measure_floor(floor_point, bench.profile, run_id=bench.run_id)
    except FloorUnavailable as exc:
        pytest.skip(f"no plain-C floor: {exc}")
    s = record["summary"]
    bench.save(record, request, f"{fmt_time(s['per_record_median_s'])}/record (C, 1 thread, n={s['n_samples']})")
    bench.check(record, strict=True)
    assert s["per_record_median_s"] > 0
