"""JSON that always writes: NumPy scalars and arrays, paths and anything else made JSON-ready, and
written atomically (rnnbench.atomic)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from rnnbench.atomic import atomic_write_text


def jsonable(obj, finite: bool = False):
    """obj with every dict key a string and every value JSON-ready: NumPy scalars as Python numbers,
    arrays and tuples as lists, anything else unknown as its str(); finite: NaN and infinities as None
    (for strict JSON readers)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v, finite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, finite) for v in obj]
    if isinstance(obj, float) and finite and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "tolist"):  # NumPy scalars and arrays, without importing NumPy
        return jsonable(obj.tolist(), finite)
    return str(obj)


def write_json(path: str | os.PathLike, obj: object) -> Path:
    """obj as indented JSON at path, atomically (NaN written as NaN, as Python's json reads it back)."""
    return atomic_write_text(path, json.dumps(jsonable(obj), indent=1, allow_nan=True))


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text(encoding="utf-8"))
