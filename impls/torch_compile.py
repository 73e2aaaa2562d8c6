"""torch-compile: torch-autograd's model with the whole training step (forward, backward, clipping and the
update) compiled by `torch.compile` into one graph.

What a PyTorch user reaches for first. The arithmetic is torch-autograd's (`torch_autograd.rnn_logits`, the
same cross-entropy, the clipping and update rules of `torch_common.FlatOptimizer`), written as a function of
the flat parameter buffer: `torch.func.grad_and_value` differentiates it, and the update writes the buffer in
place, all inside the compiled function (`fullgraph=True`: no graph break, nothing runs outside the graph).
`logits` and `loss_and_grads` are compiled the same way.

The known traps (PyTorch's issue tracker and docs, torch.compile's docstring) and what is done about each:
- The time loop is a Python loop, which Dynamo unrolls and guards on T: `dynamic=True` would still compile
  once per length, and compile time grows fast with T. So T is padded up to a bucket (`compile_bucket`: 8,
  16, 32, ... steps), the padded steps masked exactly as a ragged batch's are; a model compiles at most
  once per (bucket, masked or not, B = 1 or not): the number of compilations grows like log2(T), and is
  counted (`compile_count`, `compile_seconds`).
- B is marked dynamic (`torch._dynamo.maybe_mark_dynamic`), so a smaller last batch does not recompile;
  Dynamo specialises a dimension of size 1, so B = 1 is a compilation of its own.
- After `recompile_limit` compilations a function falls back to eager silently, which would make a
  "compiled" figure an eager one. With `fullgraph=True` it raises instead (FailOnRecompileLimitHit).
- The compiled functions depend only on the model's config, optimizer, clip, device and backend, and
  `functions(...)` keeps them process-wide, as jax-scan does: a second model with the same key compiles
  nothing for the variants the first one has run (a model's `trace_counts` count what its own calls
  compiled). Each key gets fresh copies of the functions (their own code objects: Dynamo keeps its cache,
  its recompile limit and its process-wide cap per code object), so a function's compilations are its
  own key's variants (bucket x masked x B = 1), however many models share it.
- The learning rate and Adam's bias corrections reach the graph as a tensor (`hyper`): as Python floats they
  would be baked in as constants, and a changing one (Adam's 1 - beta^t) would recompile every step.
- The scan higher-order op (torch._higher_order_ops.scan) would take T out of the graph, but in torch 2.13
  it fails under `torch.func.grad` inside `torch.compile` (an internal FakeTensor assertion), and
  `torch.autograd.grad` is not traced into a full graph: buckets are the way left for a whole-step graph.
- `mode="reduce-overhead"` (CUDA graphs) does nothing on the CPU; the default mode is used on both devices.
- A compiled call keeps a fixed cost per call on a cache hit (guard evaluation, the call into the compiled
  code); the benchmark measures it rather than assuming it away.

`backend` is a class attribute: "inductor" (the default backend, C++ code generated with the system
compiler on the CPU, Triton on CUDA) is what the benchmark measures; the test suite may run most cases
through a lighter backend to keep compile time bounded.
"""

from __future__ import annotations

import functools
import time
import types
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch._dynamo.utils import counters

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
    compile_bucket,
    shared,
)
from impls.torch_autograd import rnn_logits
from impls.torch_common import DeviceBatch, TorchImpl, batch_to_device, flat_shapes, top_level_aten_ops

RECOMPILE_LIMIT = 16  # per compiled function of one model: buckets up to 8 x 2^3 steps in all four variants
FUNCTION_NAMES = ("logits", "loss_and_grads", "train_step")


def fresh_copy(fn: Callable) -> Callable:
    """fn with a code object of its own: Dynamo's cache, recompile limit and compile counter are per code
    object, so that a model's compilations neither reuse nor count against another model's."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def graph_count() -> int:
    """Graphs Dynamo has compiled in this process so far."""
    return counters["stats"]["unique_graphs"]


@functools.cache
def trivial_compiled(backend: str) -> Callable:
    """A compiled function that adds one to a tensor in place, the least a compiled call can do: its
    cost on a cache hit is the fixed price of calling compiled code (guards, the call, the return)."""

    def add_one(x: torch.Tensor) -> None:
        x.add_(1)

    return torch.compile(fresh_copy(add_one), fullgraph=True, dynamic=False, backend=backend)


def _build(
    config: ModelConfig, spec: Optimizer, clip: Clip, device: str, backend: str, recompile_limit: int
) -> dict[str, Callable]:
    """The three compiled functions of one key; the model's flat buffer (N,) holds W_xh as W_xh.T (V, H).

    logits(flat, b) -> (B, C); loss_and_grads(flat, b) -> loss 0-d, gradient (N,) laid out like flat;
    train_step(flat, slots, b, hyper) -> loss 0-d, flat and slots updated in place.
    device is part of the key so that each function's compilations (and its recompile limit) are one
    device's."""
    del device
    relu = config.nonlinearity == "relu"
    shapes = flat_shapes(config, TorchCompile.xh_transposed)
    # (name, start, end, shape) of each parameter in the flat buffer, worked out here: no NumPy in the graph
    offsets = np.cumsum([0] + [int(np.prod(shape)) for shape in shapes.values()]).tolist()
    layout = [
        (name, offsets[i], offsets[i + 1], shape)
        for i, (name, shape) in enumerate(zip(("W_xh_T", *PARAM_NAMES[1:]), shapes.values(), strict=True))
    ]

    def logits_of(flat: torch.Tensor, b: DeviceBatch) -> torch.Tensor:
        p = {name: flat[start:end].view(shape) for name, start, end, shape in layout}  # W_xh as W_xh_T (V, H)
        return rnn_logits(p, b, relu)

    def loss_of(flat: torch.Tensor, b: DeviceBatch) -> torch.Tensor:
        return F.cross_entropy(logits_of(flat, b), b.labels)

    def loss_and_grads(flat: torch.Tensor, b: DeviceBatch):
        grad, loss = torch.func.grad_and_value(loss_of)(flat, b)  # grad (N,) laid out like flat
        return loss, grad

    def train_step(flat: torch.Tensor, slots: tuple, b: DeviceBatch, hyper: torch.Tensor) -> torch.Tensor:
        grad, loss = torch.func.grad_and_value(loss_of)(flat, b)
        update(flat, slots, clipped(grad), hyper)
        return loss

    def clipped(g: torch.Tensor) -> torch.Tensor:  # clip_grad_value_ / clip_grad_norm_ on the flat gradient
        if isinstance(clip, ClipValue):
            return g.clamp(-clip.value, clip.value)
        if isinstance(clip, ClipNorm):
            norm = torch.linalg.vector_norm(g)  # 0-d: the global L2 norm over all five parameters
            return g * torch.clamp(clip.max_norm / (norm + CLIP_NORM_EPS), max=1.0)
        return g

    def update(flat: torch.Tensor, slots: tuple, g: torch.Tensor, hyper: torch.Tensor) -> None:
        if isinstance(spec, SGD):  # FlatOptimizer.step's SGD: v <- mu v + g; theta <- theta - lr v
            if spec.momentum:
                g = slots[0].mul_(spec.momentum).add_(g)
            flat.sub_(hyper[0] * g)
            return
        m, s = slots  # torch.optim.Adam's single-tensor arithmetic, as FlatOptimizer.step
        m.lerp_(g, 1.0 - spec.beta1)
        s.mul_(spec.beta2).addcmul_(g, g, value=1.0 - spec.beta2)
        denom = (s.sqrt() / hyper[1]).add_(spec.eps)  # sqrt(s / (1-b2^t)) + eps
        flat.sub_(hyper[0] * (m / denom))

    def compiled(fn: Callable) -> Callable:
        return torch.compile(
            fresh_copy(fn), fullgraph=True, dynamic=False, backend=backend, recompile_limit=recompile_limit
        )

    return {
        "logits": compiled(logits_of),  # flat needs no grad: nothing is recorded
        "loss_and_grads": compiled(loss_and_grads),
        "train_step": compiled(train_step),
    }


functions = shared(_build)
"""functions(config, optimizer, clip, device, backend, recompile_limit) -> the compiled functions, one set
per key in the process (see the module docstring)."""


class TorchCompile(TorchImpl):
    """torch-compile: see the module docstring. Devices "cpu" and "cuda".

    `trace_counts` maps each compiled function to the compilations this model's calls caused;
    `compile_count` is their sum, `compile_seconds` the wall seconds of the calls that compiled.
    """

    name = "torch-compile"
    xh_transposed = True  # the layout of torch-autograd's flat buffer: W_xh held as W_xh.T (V, H)
    backend: ClassVar[str] = "inductor"

    def _build(self) -> None:
        self.trace_counts = dict.fromkeys(FUNCTION_NAMES, 0)
        self.compile_seconds = 0.0
        spec = self.optimizer
        # The optimizer's slots, each (N,) like self.flat: SGD's velocity, or Adam's two moments.
        if isinstance(spec, SGD):
            self.slots = (torch.zeros_like(self.flat),) if spec.momentum else ()
        else:
            self.slots = (torch.zeros_like(self.flat), torch.zeros_like(self.flat))
        # hyper: what changes between steps or models without changing the graph. SGD [lr]; Adam
        # [lr / (1 - b1^t), sqrt(1 - b2^t)], rewritten on the host before each step (t = step count).
        self.hyper_host = np.array([spec.lr] if isinstance(spec, SGD) else [0.0, 1.0], dtype=np.float64)
        self.hyper = torch.tensor(self.hyper_host, dtype=self.dtype, device=self.dev)
        self.step_count = 0
        self.fns = functions(self.config, spec, self.clip, str(self.dev), self.backend, RECOMPILE_LIMIT)

    def _forward(self, b: DeviceBatch) -> torch.Tensor:  # TorchImpl's abstract forward: the eager path
        return self._call("logits", self.flat, b)

    @property
    def compile_count(self) -> int:
        """Compilations this model's calls caused so far, all functions together."""
        return sum(self.trace_counts.values())

    def _call(self, name: str, *args):
        """fns[name](*args), counting the compilations it caused and the seconds of a call that compiled."""
        graphs, started = graph_count(), time.perf_counter()
        out = self.fns[name](*args)
        if graph_count() != graphs:
            self._sync()
            self.trace_counts[name] += graph_count() - graphs
            self.compile_seconds += time.perf_counter() - started
        return out

    def _framework_inputs(self, batch: Batch) -> DeviceBatch:
        b = batch_to_device(batch, self.dev, compile_bucket(batch.max_length))
        torch._dynamo.maybe_mark_dynamic(b.tokens, 1)  # (T_pad, B): B may vary without a recompile
        torch._dynamo.maybe_mark_dynamic(b.labels, 0)
        if b.lengths is not None:
            torch._dynamo.maybe_mark_dynamic(b.lengths, 0)
        return b

    def _logits(self, batch: Batch) -> np.ndarray:
        return self._call("logits", self.flat, self._framework_inputs(batch)).cpu().numpy()

    def _loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        loss, g = self._call("loss_and_grads", self.flat, self._framework_inputs(batch))
        return loss.item(), self._split_host(g.cpu().numpy())

    def _next_hyper(self) -> None:
        """Adam's step size and bias correction for the step about to run, into self.hyper."""
        spec = self.optimizer
        self.step_count += 1
        if isinstance(spec, SGD):
            return
        t = self.step_count
        self.hyper_host[:] = (spec.lr / (1.0 - spec.beta1**t), (1.0 - spec.beta2**t) ** 0.5)
        if self.dev.type == "cpu" and self.dtype == torch.float64:
            self.hyper.copy_(torch.from_numpy(self.hyper_host))
        else:
            self.hyper.copy_(torch.from_numpy(self.hyper_host).to(self.dtype), non_blocking=True)

    def _train_step(self, batch: Batch) -> float:
        b = self._framework_inputs(batch)
        self._next_hyper()
        return self._call("train_step", self.flat, self.slots, b, self.hyper).item()  # the one host read

    def _dispatch_count(self, batch: Batch) -> DispatchCount:
        compiled = self.compile_count
        ops = top_level_aten_ops(lambda: self._train_step(batch))
        if self.compile_count != compiled:  # the profiler saw compilation, not the step
            return DispatchCount(None, 1, None, "not counted: the step compiled (count a shape already run)")
        return DispatchCount(
            ops, 1, None, "autograd profiler: top-level ATen operations, in and around the one compiled call"
        )

    def dispatch_probes(self) -> dict:
        x = torch.zeros(1, dtype=self.dtype, device=self.dev)
        trivial = trivial_compiled(self.backend)
        trivial(x)  # compiles it, once per process and backend
        return super().dispatch_probes() | {"compiled_call": lambda: trivial(x)}
