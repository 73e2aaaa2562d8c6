"""This machine's float32 matmul peak at the session's thread count: the bound of "% of peak".
Asserts every product is right."""

from __future__ import annotations

from rnnbench.bench.bounds import measure_peak


def test_matmul_peak(peak_point, bench):
    s = bench.keep(measure_peak(peak_point, bench.profile, **bench.label))
    assert s["peak_gflops"] > 0
