"""How the report writes its numbers and tables: times with their unit, plain numbers, MB, markdown."""

from __future__ import annotations

import math

MB = 1e6  # memory is reported in MB of 10^6 bytes


def fmt_time(seconds: float | None) -> str:
    """1.23 µs, 45.6 ms, 2.01 s."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale * (1 - 1e-9) or unit == "ns":  # 1e-6 from a fit may be 0.9999999e-6
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def fmt_num(x, spec: str = ".3g") -> str:
    """x in the given format; "-" where there is no finite number."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


def fmt_mb(x) -> str:
    """Bytes as MB (10^6 bytes), three significant digits."""
    return "-" if x is None or not math.isfinite(float(x)) else f"{float(x) / MB:.3g}"


def problems_text(value) -> str:
    """A point's problems, which a CSV holds as text and a point file as a list, as one line."""
    if isinstance(value, (list, tuple)):
        return "; ".join(map(str, value))
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def call_label(impl: str, kind: str) -> str:
    """The name of an implementation's timed call in legends and tables: its epoch call is marked."""
    return f"{impl} (fused epoch)" if kind == "epoch" else impl


def call_name(kind: str) -> str:
    """The method a point's kind times."""
    return "train_epoch" if kind == "epoch" else "train_step"


def md_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A markdown table, a row per dict; the columns are the first row's keys unless given."""
    if not rows:
        return "_(no data)_\n"
    columns = list(rows[0]) if columns is None else columns
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(out) + "\n"
