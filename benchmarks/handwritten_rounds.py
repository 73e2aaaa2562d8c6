"""What jax_vs_handwritten.py and numpy_torch_vs_handwritten.py share: rounds that alternate the contenders'
order, the ratio read from them, and the flags that choose the points."""

from __future__ import annotations

import argparse
import statistics
import time


def side_by_side(calls: dict, rounds: int, records: int) -> dict:
    """name -> seconds per record in each round, contenders alternating their order from round to round."""
    names = list(calls)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            start = time.perf_counter()
            calls[name]()
            seconds[name].append((time.perf_counter() - start) / records)
    return seconds


def ratio(seconds: dict, public: str, hand_prefix: str) -> float:
    """Median over rounds of public's seconds over the fastest in that round of the contenders whose names
    start with hand_prefix."""
    hands = [values for name, values in seconds.items() if name.startswith(hand_prefix)]
    best = [min(round_seconds) for round_seconds in zip(*hands, strict=True)]
    return statistics.median(a / b for a, b in zip(seconds[public], best, strict=True))


def add_point_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that choose the points and the rounds, of both scripts."""
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--seq-len", type=int, default=8)
    parser.add_argument(
        "--records", type=int, default=2048, help="records per contender per round (at least 8 batches)"
    )
    parser.add_argument("--rounds", type=int, default=7)
