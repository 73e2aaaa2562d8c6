"""torch-autograd: a hand-written time loop over PyTorch tensors; gradients from autograd.

The forward is the canonical model written step by step (DESIGN.md §1): one gather of W_xh's columns
for the whole batch (W_xh is held transposed, (V, H), so that the gather reads contiguous rows), then for t = 0..T-1  h <- phi(x_t + h @ W_hh.T), a record's state frozen
(torch.where with a (T, B, 1) mask) once its length is reached, so the final h is h at each record's
own length. The loss is F.cross_entropy, i.e. mean(logsumexp(logits) - logits[y]) through
log_softmax: the stable log-sum-exp form, never softmax followed by log.

Also here, shared with torch-nnrnn (only these two modules import torch):

- `TorchImpl`, the device, batch, parameter and optimizer plumbing of both torch implementations;
- `FlatOptimizer`, clipping plus SGD or Adam (DESIGN.md §3) on ONE flat tensor holding all five
  parameters: the arithmetic of clip_grad_value_ / clip_grad_norm_ and torch.optim.SGD (dampening 0)
  / torch.optim.Adam (no weight decay, foreach=False), in a few tensor ops per step, without .grad
  buffers, zero_grad, or any host sync.

Speed choices: the batch goes to the device as one buffer, trimmed to its longest record (exact: past
every length there is only padding); masking is skipped when no record is shorter than that; the
step's one host sync is reading the loss. torch.set_num_threads is process-wide, so `threads` applies
to every torch model in the process.
"""

from __future__ import annotations

import abc
from typing import ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from impls.base import RNNImpl
from impls.core import CLIP_NORM_EPS, PARAM_NAMES, SGD, Batch, Clip, ClipNorm, ClipValue, Optimizer, Params, StepMemory

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class DeviceBatch(NamedTuple):
    """A Batch on the device, trimmed to T = its longest record.

    tokens (T, B) int64, time-major so that step t reads a contiguous row; labels (B,) int64;
    lengths (B,) int64 on the device and lengths_host (B,) int64 on the host (packing wants them there);
    ragged: whether any record is shorter than T.
    """

    tokens: torch.Tensor
    labels: torch.Tensor
    lengths: torch.Tensor
    lengths_host: torch.Tensor
    ragged: bool


def batch_to_device(batch: Batch, device: torch.device) -> DeviceBatch:
    """One host-to-device copy per batch (on CUDA each copy has a fixed cost of its own)."""
    B = batch.size
    T = int(batch.lengths.max())
    host = torch.from_numpy(np.concatenate([batch.tokens[:, :T].T.reshape(-1), batch.labels, batch.lengths]))
    flat = host.to(device, non_blocking=True)  # (T*B + 2B,); on the CPU the same tensor, no copy
    ragged = bool((batch.lengths != T).any())  # decided on the host: no device sync
    return DeviceBatch(flat[: T * B].view(T, B), flat[T * B : T * B + B], flat[T * B + B :], host[T * B + B :], ragged)


def split_flat(flat, shapes: dict[str, tuple[int, ...]]) -> dict:
    """flat (N,) tensor or array -> views of it with the given shapes, in the order of shapes."""
    views, start = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        views[name] = flat[start : start + size].reshape(shape)
        start += size
    return views


class FlatOptimizer:
    """Clipping plus SGD with momentum or Adam (DESIGN.md §3), on one flat parameter tensor in place."""

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
        self.shapes = self.config.param_shapes()  # the layout of self.flat
        if self.xh_transposed:
            self.shapes["W_xh"] = self.shapes["W_xh"][::-1]
            params = params | {"W_xh": params["W_xh"].T}
        host = np.concatenate([params[k].reshape(-1) for k in PARAM_NAMES])  # (N,)
        self.flat = torch.tensor(host, dtype=self.dtype, device=self.dev)  # (N,): what the optimizer updates
        self.views = split_flat(self.flat, self.shapes)
        self.opt = FlatOptimizer(self.optimizer, self.clip, self.flat)
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

    def _flat_grad(self, loss: torch.Tensor) -> torch.Tensor:
        """(N,) gradient of loss, laid out like self.flat."""
        # materialize_grads: with T = 1 W_hh is never used, and its gradient is zero, not None.
        grads = torch.autograd.grad(loss, self.trained, materialize_grads=True)
        return torch.cat([g.reshape(-1) for g in grads])

    @torch.no_grad()
    def _logits(self, batch: Batch) -> np.ndarray:
        return self._forward(batch_to_device(batch, self.dev)).cpu().numpy()

    def _loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        loss = self._loss(batch)
        g = self._flat_grad(loss).cpu().numpy()  # one device-to-host copy
        return loss.item(), self._split_host(g)

    def _train_step(self, batch: Batch) -> float:
        loss = self._loss(batch)
        self.opt.step(self._flat_grad(loss))
        self._after_update()
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

    def _split_host(self, flat: np.ndarray) -> Params:
        """A host (N,) array laid out like self.flat -> canonical Params, each its own C-contiguous copy."""
        out = split_flat(flat, self.shapes)
        if self.xh_transposed:
            out["W_xh"] = out["W_xh"].T
        return {k: np.ascontiguousarray(v).copy() for k, v in out.items()}


def cpu_allocation_peak(run) -> int:
    """Bytes in use at the peak of run() beyond those in use when it began, from the CPU allocator's
    allocation and free events as the autograd profiler records them (freeing older memory counts
    negative). The legacy profiler is used because the Kineto one prints to stderr at start and stop."""
    config = torch.autograd.ProfilerConfig(
        torch.autograd.ProfilerState.CPU,
        False,  # record_shapes
        True,  # profile_memory
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
    events = [r for records in thread_records for r in records]
    if not events:
        return 0
    origin = events[0]
    changes = sorted(
        (origin.cpu_elapsed_us(r), r.cpu_memory_usage()) for r in events if r.kind() == "memory_alloc"
    )  # (time from the first event, signed bytes), in the order they happened across threads
    running = np.cumsum([0] + [c for _, c in changes])
    return int(running.max())


def rnn_logits(p: dict[str, torch.Tensor], b: DeviceBatch, relu: bool) -> torch.Tensor:
    """The canonical forward -> logits (B, C) in p's dtype.

    p keyed like Params but with W_xh_T = W_xh.T (V, H) in place of W_xh; b on p's device.
    """
    phi = torch.relu if relu else torch.tanh
    xs = (F.embedding(b.tokens, p["W_xh_T"]) + p["b_h"]).unbind(0)  # T x (B, H): W_xh[:, x_t] + b_h
    alive = None
    if b.ragged:
        steps = torch.arange(len(xs), device=b.tokens.device)  # (T,)
        alive = (steps[:, None] < b.lengths[None, :])[:, :, None].unbind(0)  # T x (B, 1) bool
    W_hh_T = p["W_hh"].t()  # (H, H) view: h @ W_hh.T is W_hh @ h for each row
    h = phi(xs[0])  # (B, H): h_0 = 0, so step 0 needs no matmul (and every length is >= 1)
    for t in range(1, len(xs)):
        h_new = phi(torch.addmm(xs[t], h, W_hh_T))  # (B, H)
        h = h_new if alive is None else torch.where(alive[t], h_new, h)  # frozen past a record's length
    return torch.addmm(p["b_y"], h, p["W_hy"].t())  # (B, C)


class TorchAutograd(TorchImpl):
    """torch-autograd: see the module docstring. Devices "cpu" and "cuda"."""

    name = "torch-autograd"
    xh_transposed = True  # the gather of W_xh's columns reads rows of W_xh.T

    def _build(self) -> None:
        # The five parameters are leaf views of self.flat: autograd differentiates them, and the
        # optimizer's in-place update of self.flat is their update.
        self.trained = [self.views[k].requires_grad_() for k in PARAM_NAMES]
        self.p = dict(zip(("W_xh_T", *PARAM_NAMES[1:]), self.trained, strict=True))

    def _forward(self, b: DeviceBatch) -> torch.Tensor:
        return rnn_logits(self.p, b, self.relu)
