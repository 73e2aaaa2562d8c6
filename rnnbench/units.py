"""Numbers as people read them: 1.23 µs, 45.6 ms, 2.01 s; 3.2x; 4.2%; 12.3 MB (or 11.7 MiB); "-" where there is none."""

from __future__ import annotations

import math

MB = 1e6  # memory is reported in MB of 10^6 bytes


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def fmt_time(seconds: float | None) -> str:
    """1.23 µs, 45.6 ms, 2.01 s; "-" where there is no finite number."""
    if not _finite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale * (1 - 1e-9) or unit == "ns":  # 1e-6 from a fit may be 0.9999999e-6
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def fmt_num(x: float | None, spec: str = ".3g") -> str:
    """x in the given format; "-" where there is no finite number."""
    return format(x, spec) if _finite(x) else "-"


def fmt_times(x: float | None) -> str:
    """A multiple: 0.523x, 3.14x, 240x."""
    return f"{x:.3g}x" if _finite(x) and x < 10 else (f"{x:.0f}x" if _finite(x) else "-")


def fmt_pct(x: float | None) -> str:
    """A percentage with two significant digits: 0.013%, 4.2%, 61%."""
    return f"{x:.2g}%" if _finite(x) and x < 100 else (f"{x:.0f}%" if _finite(x) else "-")


def fmt_bytes(n_bytes: float | None, *, binary: bool = False) -> str:
    """Bytes in decimal units, three significant digits: 576 B, 4.61 kB, 12.3 MB, 1.5 GB (the benchmark's
    tables); binary: powers of 1024, one decimal: 1000 B, 1.5 KiB, 48.8 KiB (the memory guard's messages)."""
    if not _finite(n_bytes):
        return "-"
    if binary:
        if n_bytes < 1024:
            return f"{n_bytes} B"
        value, unit = n_bytes / 1024, "KiB"
        for bigger in ("MiB", "GiB", "TiB"):
            if value < 1024:
                break
            value, unit = value / 1024, bigger
        return f"{value:.1f} {unit}"
    for unit, scale in (("GB", 1e9), ("MB", MB), ("kB", 1e3)):
        if abs(n_bytes) >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes:.0f} B"
