"""Numbers as people read them: 1.23 µs, 45.6 ms, 2.01 s."""

from __future__ import annotations

import math


def fmt_time(seconds: float | None) -> str:
    """1.23 µs, 45.6 ms, 2.01 s; "-" where there is no finite number."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale * (1 - 1e-9) or unit == "ns":  # 1e-6 from a fit may be 0.9999999e-6
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"
