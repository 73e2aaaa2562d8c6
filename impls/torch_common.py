"""What the two torch implementations (torch-autograd, torch-nnrnn) share; only impls/ imports torch.

- `TorchImpl`, the device, batch, parameter and optimizer plumbing of both;
- `batch_to_device` / `DeviceBatch`, a Batch as tensors on the model's device;
- `FlatOptimizer`, clipping plus SGD or Adam (docs/DESIGN.md §3) on ONE flat tensor holding all five
  parameters: the arithmetic of clip_grad_value_ / clip_grad_norm_ and torch.optim.SGD (dampening 0)
  / torch.optim.Adam (no weight decay, foreach=False), in a few tensor ops per step, without .grad
  buffers, zero_grad, or any host sync;
- `cpu_allocation_peak`, a step's peak from torch's CPU allocator events.

Speed choices: the batch is trimmed to its longest record (exact: past every length there is only
padding), and masking is skipped when no record is shorter than that; on CUDA it goes to the device as
one buffer (each host-to-device copy has a fixed cost), on the CPU its arrays become tensors without
torch-side slicing. Plain SGD without clipping updates the five parameters with one multi-tensor add
of their gradients (no flat gradient is assembled); the other rules run on the flat buffer. The
step's one host sync is reading the loss. torch.set_num_threads is process-wide, so `threads`
applies to every torch model in the process.
"""

from __future__ import annotations

import abc
from typing import ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from impls.base import RNNImpl
from impls.core import (
    CLIP_NORM_EPS,
    PARAM_NAMES,
    SGD,
    Batch,
    Clip,
    ClipNorm,
    ClipValue,
    DispatchCount,
    ModelConfig,
    Optimizer,
    Params,
    StepMemory,
)

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class DeviceBatch(NamedTuple):
    """A Batch on the device, trimmed to T = its longest record.

    tokens (T, B) int64, time-major so that step t reads a contiguous row; labels (B,) int64;
    ragged: whether any record is shorter than T. Only for a ragged batch: lengths (B,) int64 on the
    device and lengths_host (B,) int64 on the host (packing wants them there); None otherwise.
    """

    tokens: torch.Tensor
    labels: torch.Tensor
    lengths: torch.Tensor | None
    lengths_host: torch.Tensor | None
    ragged: bool


def batch_to_device(batch: Batch, device: torch.device, t_pad: int | None = None) -> DeviceBatch:
    """The batch as tensors on `device`: one host-to-device copy on CUDA, none on the CPU. t_pad: a length
    to pad T up to (id 0 in the steps added, which every record is masked through), None: T itself."""
    B, T = batch.size, batch.max_length
    tokens = batch.tokens[:, :T].T  # (T, B) view of the (read-only) host array
    if t_pad is not None and t_pad > T:
        tokens = np.concatenate([tokens, np.zeros((t_pad - T, B), dtype=tokens.dtype)])  # (t_pad, B)
        T = t_pad
    ragged = batch.min_length != T  # decided on the host from what the Batch cached: no device sync
    if device.type == "cpu":
        # Writable copies (torch tensors must not wrap read-only memory), each a tensor as it is: torch's own
        # slicing and viewing cost more per call than these few host copies.
        lengths = torch.from_numpy(batch.lengths.copy()) if ragged else None
        return DeviceBatch(
            torch.from_numpy(tokens.copy()), torch.from_numpy(batch.labels.copy()), lengths, lengths, ragged
        )
    host = torch.from_numpy(np.concatenate([tokens.reshape(-1), batch.labels, batch.lengths]))  # (T*B + 2B,)
    flat = host.to(device, non_blocking=True)
    lengths, lengths_host = (flat[T * B + B :], host[T * B + B :]) if ragged else (None, None)
    return DeviceBatch(flat[: T * B].view(T, B), flat[T * B : T * B + B], lengths, lengths_host, ragged)


def split_flat(flat, shapes: dict[str, tuple[int, ...]]) -> dict:
    """flat (N,) tensor or array -> views of it with the given shapes, in the order of shapes."""
    views, start = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        views[name] = flat[start : start + size].reshape(shape)
        start += size
    return views


class FlatOptimizer:
    """Clipping plus SGD with momentum or Adam (docs/DESIGN.md §3), on one flat parameter tensor in place."""

    def __init__(self, spec: Optimizer, clip: Clip, flat: torch.Tensor) -> None:
        self.spec, self.clip, self.flat = spec, clip, flat  # flat (N,): every trained parameter
        self.step_count = 0  # a host int: the bias corrections need no device read
        if isinstance(spec, SGD):
            self.v = torch.zeros_like(flat) if spec.momentum else None  # (N,)
        else:
            self.m, self.s = torch.zeros_like(flat), torch.zeros_like(flat)  # (N,) each

    @torch.no_grad()
    def clip_(self, g: torch.Tensor) -> None:
        """Clip the flat gradient g (N,) in place, as clip_grad_value_ / clip_grad_norm_ do."""
        clip = self.clip
        if isinstance(clip, ClipValue):
            g.clamp_(-clip.value, clip.value)
        elif isinstance(clip, ClipNorm):
            norm = torch.linalg.vector_norm(g)  # 0-d: the global L2 norm over all five parameters
            g.mul_(torch.clamp(clip.max_norm / (norm + CLIP_NORM_EPS), max=1.0))  # stays on the device

    @torch.no_grad()
    def step(self, g: torch.Tensor) -> None:
        """Clip g (N,) in place, then update self.flat in place."""
        self.clip_(g)
        self.step_count += 1
        spec = self.spec
        if isinstance(spec, SGD):
            if self.v is not None:
                g = self.v.mul_(spec.momentum).add_(g)  # v <- mu v + g
            self.flat.add_(g, alpha=-spec.lr)  # theta <- theta - lr v
            return
        # torch.optim.Adam's single-tensor arithmetic, line for line.
        t = self.step_count
        self.m.lerp_(g, 1.0 - spec.beta1)  # m <- b1 m + (1-b1) g
        self.s.mul_(spec.beta2).addcmul_(g, g, value=1.0 - spec.beta2)  # s <- b2 s + (1-b2) g^2
        step_size = spec.lr / (1.0 - spec.beta1**t)
        denom = (self.s.sqrt() / (1.0 - spec.beta2**t) ** 0.5).add_(spec.eps)  # sqrt(s / (1-b2^t)) + eps
        self.flat.addcdiv_(self.m, denom, value=-step_size)


def flat_shapes(config: ModelConfig, xh_transposed: bool) -> dict[str, tuple[int, ...]]:
    """The shapes of the parameters in the flat buffer, in PARAM_NAMES order; W_xh as (V, H) where transposed."""
    shapes = config.param_shapes()
    if xh_transposed:
        shapes["W_xh"] = shapes["W_xh"][::-1]
    return shapes


class TorchImpl(RNNImpl):
    """What both torch implementations share: device, threads, a flat parameter buffer, the step.

    Subclasses write `_build` (make `self.trained`, the five leaf tensors autograd differentiates,
    ordered like PARAM_NAMES) and `_forward` (DeviceBatch -> logits (B, C)). With `xh_transposed`
    the flat buffer holds W_xh.T (V, H), so that gathering W_xh's columns reads contiguous rows.
    """

    xh_transposed: ClassVar[bool] = False

    def _setup(self, params: Params) -> None:
        self.dev = torch.device(self.device)
        self.dtype = TORCH_DTYPES[self.config.dtype]
        self.relu = self.config.nonlinearity == "relu"
        self.shapes = flat_shapes(self.config, self.xh_transposed)  # the layout of self.flat
        if self.xh_transposed:
            params = params | {"W_xh": params["W_xh"].T}
        host = np.concatenate([params[k].reshape(-1) for k in PARAM_NAMES])  # (N,)
        self.flat = torch.tensor(host, dtype=self.dtype, device=self.dev)  # (N,): what the optimizer updates
        self.views = split_flat(self.flat, self.shapes)
        # The five views of self.flat in PARAM_NAMES order, detached: the update writes through them outside
        # no_grad even where the views themselves are the leaves autograd differentiates.
        self.view_list = [v.detach() for v in self.views.values()]
        self.opt = FlatOptimizer(self.optimizer, self.clip, self.flat)
        spec = self.optimizer
        # Plain SGD without clipping: theta <- theta - lr g needs no flat gradient (see _update).
        self.plain_sgd_lr = spec.lr if isinstance(spec, SGD) and not spec.momentum and self.clip is None else None
        self.trained: list[torch.Tensor] = []
        self._build()

    @abc.abstractmethod
    def _build(self) -> None: ...

    @abc.abstractmethod
    def _forward(self, b: DeviceBatch) -> torch.Tensor: ...

    def _after_update(self) -> None:
        """Called after each optimizer step (where self.trained does not alias self.flat)."""

    def _set_threads(self, threads: int) -> None:
        torch.set_num_threads(threads)  # process-wide: intra-op threads of every torch op

    def thread_info(self) -> dict[str, object]:
        return {
            "requested": self.threads,
            "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
        }

    def _sync(self) -> None:
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    def _loss(self, batch: Batch) -> torch.Tensor:
        """0-d mean cross-entropy of the batch, with its autograd graph."""
        b = batch_to_device(batch, self.dev)
        return F.cross_entropy(self._forward(b), b.labels)

    def _grads(self, loss: torch.Tensor, t_max: int) -> tuple[torch.Tensor, ...]:
        """The gradient of loss for each of self.trained, in PARAM_NAMES order; t_max the batch's T."""
        # With T = 1 W_hh is never used: materialize_grads makes its gradient zeros, not None.
        return torch.autograd.grad(loss, self.trained, materialize_grads=t_max == 1)

    def _update(self, grads: tuple[torch.Tensor, ...]) -> None:
        """One optimizer step from the five gradients, then `_after_update`."""
        if self.plain_sgd_lr is not None:
            # theta <- theta - lr g for each parameter at once, into self.flat.
            torch._foreach_add_(self.view_list, grads, alpha=-self.plain_sgd_lr)
        else:
            self.opt.step(torch.cat([g.reshape(-1) for g in grads]))  # (N,), laid out like self.flat
        self._after_update()

    @torch.no_grad()
    def _logits(self, batch: Batch) -> np.ndarray:
        return self._forward(batch_to_device(batch, self.dev)).cpu().numpy()

    def _loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        loss = self._loss(batch)
        grads = self._grads(loss, batch.max_length)
        g = torch.cat([g.reshape(-1) for g in grads]).cpu().numpy()  # one device-to-host copy
        return loss.item(), self._split_host(g)

    def _framework_inputs(self, batch: Batch) -> DeviceBatch:
        return batch_to_device(batch, self.dev)

    def _train_step(self, batch: Batch) -> float:
        loss = self._loss(batch)
        self._update(self._grads(loss, batch.max_length))
        return loss.item()  # the step's one device-to-host read

    def _get_params(self) -> Params:
        return self._split_host(self.flat.cpu().numpy())

    def _step_memory(self, batch: Batch) -> StepMemory:
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)
            torch.cuda.reset_peak_memory_stats(self.dev)
            before = torch.cuda.memory_allocated(self.dev)
            self._train_step(batch)  # ends with loss.item(), which waits for the device
            peak = torch.cuda.max_memory_allocated(self.dev) - before
            return StepMemory(max(0, peak), "torch.cuda.max_memory_allocated (the CUDA caching allocator)")
        peak = cpu_allocation_peak(lambda: self._train_step(batch))
        return StepMemory(peak, "torch CPU allocator events (autograd profiler, profile_memory)")

    def _dispatch_count(self, batch: Batch) -> DispatchCount:
        ops = top_level_aten_ops(lambda: self._train_step(batch))
        return DispatchCount(ops, 0, None, "autograd profiler: top-level ATen operations")

    def dispatch_probes(self) -> dict:
        a, b, out = (torch.ones(1, dtype=self.dtype, device=self.dev) for _ in range(3))
        return {"framework_op": lambda: torch.add(a, b, out=out)}  # one op on one-element tensors

    def _split_host(self, flat: np.ndarray) -> Params:
        """A host (N,) array laid out like self.flat -> canonical Params, each its own C-contiguous copy."""
        out = split_flat(flat, self.shapes)
        if self.xh_transposed:
            out["W_xh"] = out["W_xh"].T
        return {k: np.ascontiguousarray(v).copy() for k, v in out.items()}


def profiled(run, profile_memory: bool) -> list[list]:
    """The autograd profiler's events of run(), a list of them per thread, each in the order they happened.
    The legacy profiler is used because the Kineto one prints to stderr at start and stop."""
    config = torch.autograd.ProfilerConfig(
        torch.autograd.ProfilerState.CPU,
        False,  # record_shapes
        profile_memory,
        False,  # with_stack
        False,  # with_flops
        False,  # with_modules
        torch._C._profiler._ExperimentalConfig(),
    )
    torch.autograd._enable_profiler_legacy(config)
    try:
        run()
    finally:
        thread_records = torch.autograd._disable_profiler_legacy()
    return thread_records


def cpu_allocation_peak(run) -> int:
    """Bytes in use at the peak of run() beyond those in use when it began, from the CPU allocator's
    allocation and free events as the autograd profiler records them (a block allocated before run()
    began is not seen when it is freed)."""
    events = [r for records in profiled(run, profile_memory=True) for r in records]
    if not events:
        return 0
    origin = events[0]
    changes = sorted(
        (origin.cpu_elapsed_us(r), r.cpu_memory_usage()) for r in events if r.kind() == "memory_alloc"
    )  # (time from the first event, signed bytes), in the order they happened across threads
    running = np.cumsum([0] + [c for _, c in changes])
    return int(running.max())


def top_level_aten_ops(run) -> int:
    """ATen operations dispatched while run() runs that no other ATen operation called: those that Python
    code, the autograd engine or compiled code's wrapper dispatched, not an operator's own inner calls."""
    count = 0
    for events in profiled(run, profile_memory=False):
        open_aten = []  # for each open range: whether it is an ATen operation
        for event in events:
            if event.kind() == "push":
                is_aten = event.name().startswith("aten::")
                count += is_aten and not any(open_aten)
                open_aten.append(is_aten)
            elif event.kind() == "pop" and open_aten:
                open_aten.pop()
    return count
