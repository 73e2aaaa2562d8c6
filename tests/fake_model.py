"""A fake implementation whose every cost is known, and a clock that moves only when it works.

FakeModel trains for real (it wraps the NumPy reference, so its loss falls and its parameters are
true ones) but takes no time of its own: each call charges a WorkClock instead. Call n (counted from
0, whatever its kind: train_step, train_epoch or step_memory) costs

    n == 0 (the first call: tracing, compilation)       FIRST_S
    1 <= n <= warmup (the warm-up calls)                 WARMUP_S + n / 64
    n > warmup (steady calls)                            STEADY_S + n / 1024

of which DISPATCH_S passes during the call and the rest is queued until sync(), as an asynchronous
framework's work is: a timer stopped before sync() misses it. Each call returns its number as its
loss, so that every row of a record says which call it timed. The API's parts cost CHECK_S
(validation) and CONVERT_S (conversion) per call, at once. Every cost is a binary fraction, so the
clock's sums and differences are exact: tests compare the timed figures with ==, and none depends on
the machine's speed.
"""

from __future__ import annotations

import impls

NAME = "counted-fake"  # the implementation name the fake loads under (not in impls.IMPLS)
FIRST_S = 4096.0
WARMUP_S = 64.0
STEADY_S = 1.0
DISPATCH_S = 1 / 256
CHECK_S = 1 / 512
CONVERT_S = 1 / 128


def call_seconds(n: int, warmup: int) -> float:
    """What call n costs (see the module docstring), dispatch and queued work together."""
    if n == 0:
        return FIRST_S
    if n <= warmup:
        return WARMUP_S + n / 64
    return STEADY_S + n / 1024


class WorkClock:
    """A clock (rnnbench.bench.timing.Clock) that moves only when the fake model works; its origin is
    not 0, as perf_counter's is not."""

    def __init__(self, origin: float = 1024.0) -> None:
        self.now = origin

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeModel:
    """The public interface measure_step uses (impls.RNNImpl's), charging WorkClock as the module says."""

    def __init__(
        self, config, params, clock: WorkClock, warmup: int, *, device, optimizer, threads, nan_at: int | None = None
    ):
        from impls.numpy_bptt import NumpyBPTT

        self.inner = NumpyBPTT(config, params, optimizer=optimizer)  # threads left alone: no process-wide setting
        self.clock = clock
        self.warmup = warmup
        self.device, self.optimizer, self.threads = device, optimizer, threads
        self.nan_at = nan_at  # the call whose loss is NaN (None: every loss is finite)
        self.calls = 0
        self.queued = 0.0
        self.batches: list = []  # what each train_step call trained on

    def _charge(self) -> float:
        """Start call n: spend its dispatch now, queue the rest; return n as the call's loss."""
        n = self.calls
        self.calls += 1
        self.clock.advance(DISPATCH_S)
        self.queued += call_seconds(n, self.warmup) - DISPATCH_S
        return float("nan") if n == self.nan_at else float(n)

    def train_step(self, batch) -> float:
        self.inner.train_step(batch)
        self.batches.append(batch)
        return self._charge()

    def train_epoch(self, batches) -> list[float]:
        self.inner.train_epoch(batches)
        return [self._charge()] * len(batches)

    def sync(self) -> None:
        self.clock.advance(self.queued)
        self.queued = 0.0

    def step_memory(self, batch):
        measured = self.inner.step_memory(batch)
        self._charge()
        self.sync()  # the allocator's accounting waits for the step
        return measured

    def _check(self, batch):
        self.clock.advance(CHECK_S)
        return self.inner._check(batch)

    def _framework_inputs(self, batch):
        self.clock.advance(CONVERT_S)
        return self.inner._framework_inputs(batch)

    def input_stages(self) -> dict:
        return {"check": self._check, "convert": self._framework_inputs}

    def dispatch_count(self, batch):
        """The reference's own count, untimed: counting is no work the clock charges."""
        return self.inner.dispatch_count(batch)

    def dispatch_probes(self) -> dict:
        return {}

    def get_params(self):
        return self.inner.get_params()

    def thread_info(self) -> dict:
        return {"requested": self.threads}


def install(monkeypatch, clock: WorkClock, warmup: int, nan_at: int | None = None) -> list[FakeModel]:
    """Make impls.load create a FakeModel for NAME (every other name loads as before); returns the
    list the fakes it creates are appended to."""
    real_load = impls.load
    made: list[FakeModel] = []

    def load(name, config, params, device="cpu", **options):
        if name != NAME:
            return real_load(name, config, params, device=device, **options)
        made.append(FakeModel(config, params, clock, warmup, device=device, nan_at=nan_at, **options))
        return made[-1]

    monkeypatch.setattr(impls, "load", load)
    return made
