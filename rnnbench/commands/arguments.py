"""Value types of the command line's flags: each turns its text into a value or says, in one line, what
it expected (argparse prints it and exits 2)."""

from __future__ import annotations

import argparse


def _number(text: str, kind: type, ok, expected: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def positive_float(text: str) -> float:
    import math

    return _number(text, float, lambda v: v > 0 and math.isfinite(v), "a positive number")


def non_negative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def fraction(text: str) -> float:
    return _number(text, float, lambda v: 0.0 <= v < 1.0, "a fraction in [0, 1)")


def positive_int_list(text: str) -> tuple[int, ...]:
    """ "1,8,64" -> (1, 8, 64): comma-separated positive integers, at least one."""
    expected = f"comma-separated positive integers, got {text!r}"
    try:
        values = tuple(int(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected {expected}")
    return values


def name_list(text: str) -> list[str]:
    """ "a, b" -> ["a", "b"]."""
    return [s.strip() for s in text.split(",") if s.strip()]
