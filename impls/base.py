"""The one interface every implementation shares (docs/DESIGN.md §4), and the checks it does for them.

A subclass writes only what differs per framework: `_setup`, `_logits`, `_loss_and_grads`,
`_train_step`, `_get_params`, and optionally `_train_epoch`, `_sync`, `_set_threads`. Every public
method validates its input here, before any framework is called (docs/DESIGN.md §7).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from impls.core import (
    SGD,
    Adam,
    Batch,
    Clip,
    ClipNorm,
    ClipValue,
    DispatchCount,
    InputError,
    ModelConfig,
    Optimizer,
    Params,
    StepMemory,
    validate_params,
)
from impls.registry import DEVICES


class RNNImpl(abc.ABC):
    """A many-to-one RNN classifier with a training step (docs/DESIGN.md §1-§4).

    Created from canonical parameters; `get_params()` returns canonical host NumPy copies.
    """

    name: ClassVar[str]  # the registry name, e.g. "numpy-bptt"
    # Where an outside implementation runs (a built-in one's are impls.DEVICES[name]).
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    # Wall seconds spent in calls that traced and compiled (JIT implementations count it; others stay 0).
    compile_seconds: float = 0.0

    def __init__(
        self,
        config: ModelConfig,
        params: Params,
        *,
        device: str = "cpu",
        optimizer: Optimizer | None = None,
        clip: Clip = None,
        threads: int | None = None,
    ) -> None:
        if not isinstance(config, ModelConfig):
            raise InputError(f"config must be an impls.ModelConfig, got {type(config).__name__}")
        devices = DEVICES.get(self.name, self.devices)
        if device not in devices:
            raise InputError(f"unknown device {device!r} for {self.name}; it runs on: {', '.join(devices)}")
        optimizer = SGD() if optimizer is None else optimizer
        if not isinstance(optimizer, (SGD, Adam)):
            raise InputError(f"optimizer must be impls.SGD or impls.Adam, got {type(optimizer).__name__}")
        if clip is not None and not isinstance(clip, (ClipValue, ClipNorm)):
            raise InputError(f"clip must be None, impls.ClipValue or impls.ClipNorm, got {type(clip).__name__}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InputError(f"threads must be None or a positive integer, got {threads!r}")
        self.config = config
        self.device = device
        self.optimizer = optimizer
        self.clip = clip
        self.threads = threads
        params = validate_params(params, config)
        if threads is not None:
            self._set_threads(threads)
        self._setup(params)

    # -- public interface ---------------------------------------------------------------------

    def logits(self, batch: Batch) -> np.ndarray:
        """Logits (B, C) in config.dtype, as a host NumPy array."""
        return self._logits(self._check(batch))

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """Mean loss over the batch and the gradients of that mean, keyed like Params (host NumPy)."""
        return self._loss_and_grads(self._check(batch))

    def train_step(self, batch: Batch) -> float:
        """One step: mean loss and gradients, clipping, optimizer update. Returns the loss before it."""
        return self._train_step(self._check(batch))

    def train_epoch(self, batches: Sequence[Batch]) -> list[float]:
        """`train_step` over each batch in order; returns each step's loss. Subclasses may fuse it."""
        batches = [self._check(b) for b in batches]
        if not batches:
            return []
        return self._train_epoch(batches)

    def get_params(self) -> Params:
        """Current canonical parameters as host NumPy copies in config.dtype."""
        return self._get_params()

    def sync(self) -> None:
        """Block until all queued device work is done (a no-op where work is synchronous)."""
        self._sync()

    def step_memory(self, batch: Batch) -> StepMemory:
        """Run one `train_step` on the batch (the parameters update as by train_step) and report the most
        memory it held at once beyond what was allocated when it began, as the framework accounts it.
        The accounting can slow that step: time steps elsewhere."""
        return self._step_memory(self._check(batch))

    def input_stages(self) -> dict[str, Callable[[Batch], object]]:
        """What every public call does to its batch before the framework computes, stage by stage, in
        order: "check" (the validation of docs/DESIGN.md §7) and "convert" (the framework's inputs: tensors
        on the device, packed arrays; NumPy converts nothing). The benchmark times each stage alone as
        the public API's price per call."""
        return {"check": self._check, "convert": self._framework_inputs}

    def thread_info(self) -> dict[str, object]:
        """What this implementation's framework uses for threads (for benchmark records)."""
        return {"requested": self.threads}

    def dispatch_count(self, batch: Batch) -> DispatchCount:
        """Run one `train_step` on the batch (the parameters update as by train_step) and count what it
        dispatched to the framework. The counting slows that step: time steps elsewhere."""
        return self._dispatch_count(self._check(batch))

    def dispatch_probes(self) -> dict[str, Callable[[], object]]:
        """Trivial calls whose cost is the framework's price of one dispatch, by what `dispatch_count`
        counts: "framework_op" (one trivial operation on one-element data) and, where the implementation
        compiles, "compiled_call" (a call of a trivial compiled function, compiled before it is returned).
        Each returns once its work is done."""
        return {}

    # -- what subclasses write -----------------------------------------------------------------

    @abc.abstractmethod
    def _setup(self, params: Params) -> None: ...

    @abc.abstractmethod
    def _logits(self, batch: Batch) -> np.ndarray: ...

    @abc.abstractmethod
    def _loss_and_grads(self, batch: Batch) -> tuple[float, Params]: ...

    @abc.abstractmethod
    def _train_step(self, batch: Batch) -> float: ...

    @abc.abstractmethod
    def _get_params(self) -> Params: ...

    def _train_epoch(self, batches: list[Batch]) -> list[float]:
        return [self._train_step(b) for b in batches]

    def _sync(self) -> None:
        return None

    def _step_memory(self, batch: Batch) -> StepMemory:
        self._train_step(batch)
        return StepMemory(None, f"not measured: {self.name} has no allocator accounting")

    def _dispatch_count(self, batch: Batch) -> DispatchCount:
        self._train_step(batch)
        return DispatchCount(None, 0, None, f"not counted: {self.name} has no dispatch counting")

    def _set_threads(self, _threads: int) -> None:  # a framework with no thread setting of its own
        return None

    def _framework_inputs(self, batch: Batch) -> object:
        """What train_step turns a checked batch into before its framework computes (tensors on the
        device, packed arrays). The benchmark times it alone, as part of the public API's price per
        call. Default: the batch itself (NumPy converts nothing)."""
        return batch

    # -- shared checks -------------------------------------------------------------------------

    def _check(self, batch: Batch) -> Batch:
        if not isinstance(batch, Batch):
            raise InputError(f"expected an impls.Batch, got {type(batch).__name__}")
        return batch.check(self.config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config}, device={self.device!r}, optimizer={self.optimizer}, clip={self.clip})"
