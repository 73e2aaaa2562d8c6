"""This machine's float32 matmul peak, measured in the same session at the same thread count: the
denominator of "% of peak" in the report. Asserts every product is right."""

from __future__ import annotations

from rnnbench import harness


def test_matmul_peak(bench, request):
    bench.start(f"peak-t{bench.threads}")
    record = harness.measure_peak(bench.profile, bench.threads, run_id=bench.run_id)
    s = record["summary"]
    bench.save(record, request, f"{s['peak_gflops']:.1f} GFLOP/s ({s['library']}, n={s['n']})")
    bench.check(record, strict=True)
    assert s["peak_gflops"] > 0
