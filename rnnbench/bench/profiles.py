"""How much a benchmark run measures: the named profiles `test`, `quick` and `full`."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

BATCH_SIZES_FULL: tuple[int, ...] = tuple(2**k for k in range(10))  # 1 .. 512


@dataclass(frozen=True)
class Profile:
    """Step sweep: hidden x seq_len x batch_sizes per implementation; timing: warmup, rounds of
    iterations (chosen so a round lasts about round_seconds, at most max_iterations); epoch points:
    N = max(epoch_batches, epoch_records // B) batches per timed call; matmul peak: peak_sizes, each
    timed peak_repeats times; accuracy: train on `data` with each of acc_batch_sizes for `epochs`
    epochs, SGD with lr = lr_b1 * sqrt(B) and gradient-norm clipping at clip_norm, evaluating about
    evals_per_run times, once per seed of acc_seeds (initialisation and shuffling: 0 .. acc_seeds - 1).
    Quiet gate: a round whose yardstick ran more than quiet_margin slower than the worker's steady value is measured again, up to quiet_extra_rounds x the planned rounds, after waiting
    for quiet (at most quiet_wait_s per worker in all)."""

    name: str
    hidden: tuple[int, ...]
    seq_len: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    warmup: int
    rounds: int
    round_seconds: float
    max_iterations: int
    epoch_batches: int
    epoch_rounds: int
    epoch_records: int
    peak_sizes: tuple[int, ...]
    peak_repeats: int
    data: str
    per_class: int | None
    max_len: int
    acc_batch_sizes: tuple[int, ...]
    acc_hidden: int
    epochs: int
    evals_per_run: int
    lr_b1: float = 0.02
    acc_seeds: int = 1
    clip_norm: float = 5.0
    quiet_margin: float = 0.10  # the quiet gate (rnnbench.bench.yardstick.Gate)
    quiet_extra_rounds: float = 2.0
    quiet_wait_s: float = 120.0

    def gate(self):
        """The quiet gate of this profile's step and epoch points."""
        from rnnbench.bench.yardstick import Gate

        return Gate(margin=self.quiet_margin, extra_rounds=self.quiet_extra_rounds, wait_s=self.quiet_wait_s)

    def lr(self, batch: int) -> float:
        """SGD learning rate for batch size B: lr_b1 * sqrt(B) (the mean loss's gradient noise falls
        as 1/sqrt(B); the same rule for every implementation)."""
        return self.lr_b1 * math.sqrt(batch)

    def batches_per_epoch(self, batch: int) -> int:
        """N, the batches of one timed train_epoch call at batch size B."""
        return max(self.epoch_batches, self.epoch_records // batch)

    def with_overrides(self, **kw) -> Profile:
        """A copy with the given fields replaced (None leaves a field as it is)."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


PROFILES: dict[str, Profile] = {
    # CI: every point once, tiny, to prove the benchmarks work; its timings mean nothing
    "test": Profile(
        name="test",
        hidden=(16,),
        seq_len=(4,),
        batch_sizes=(1, 8),
        warmup=1,
        rounds=2,
        round_seconds=0.01,
        max_iterations=2,
        epoch_batches=4,
        epoch_records=8,
        epoch_rounds=2,
        peak_sizes=(64,),
        peak_repeats=2,
        data="synthetic:n=600,length=6,vocab=12,classes=3,rule=last",
        per_class=None,
        max_len=8,
        acc_batch_sizes=(1, 16),
        acc_hidden=16,
        epochs=2,
        evals_per_run=4,
        lr_b1=0.05,
        acc_seeds=2,
        quiet_margin=math.inf,  # every round counts: a test run's timings mean nothing, its records must not
        quiet_extra_rounds=0.0,  # depend on how busy the machine was
        quiet_wait_s=0.0,
    ),
    # `rnnbench bench` default: minutes on 2 cores for all four implementations
    "quick": Profile(
        name="quick",
        hidden=(64, 256),
        seq_len=(8,),
        batch_sizes=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        warmup=3,
        rounds=9,
        round_seconds=0.04,
        max_iterations=40,
        epoch_batches=16,
        epoch_records=1024,
        epoch_rounds=7,
        peak_sizes=(256, 512, 1024),
        peak_repeats=5,
        data="wordfreq:en,fr,de",
        per_class=None,
        max_len=32,
        acc_batch_sizes=(1, 32),  # three seeds each: B=256 and a third epoch would double the minutes
        acc_hidden=64,
        epochs=2,
        evals_per_run=12,
        acc_seeds=3,
    ),
    "full": Profile(
        name="full",
        hidden=(32, 64, 128, 256),
        seq_len=(8, 32),
        batch_sizes=BATCH_SIZES_FULL,
        warmup=5,
        rounds=15,
        round_seconds=0.1,
        max_iterations=100,
        epoch_batches=32,
        epoch_records=4096,
        epoch_rounds=9,
        peak_sizes=(256, 512, 1024, 2048),
        peak_repeats=7,
        data="wordfreq:en,fr,de",
        per_class=None,
        max_len=32,
        acc_batch_sizes=(1, 8, 32, 256),
        acc_hidden=64,
        epochs=5,
        evals_per_run=20,
        acc_seeds=5,
    ),
}
