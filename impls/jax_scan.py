"""jax-scan: the time loop is `jax.lax.scan`, gradients are JAX's own autodiff (`jax.value_and_grad`
through the scan), and loss, gradient, clipping and update are one `jax.jit`.

The forward (docs/DESIGN.md §1): one gather of W_xh's columns for the whole batch, then a scan over time
steps of h <- phi(x_t + h @ W_hh.T). Records are right-aligned in the padded batch (`jax_common.pack`):
every record ends at the last step, and before its first token its h is gated to exactly 0 (one
multiplication per step), so the final h is h at each record's own length; a batch whose records all
fill the padded length runs without the gate (its own compilation, `masked=False`). The loss is the
mean of logsumexp(logits) - logits[y]. No backward is written here: JAX transposes the scan. How the
forward is written still decides what autodiff makes of it:
- At B = 1, h @ W_hh.T is a dot_general that contracts h with W_hh's second axis: XLA makes it a
  matrix-vector product, where a transpose inside the step would be copied per step, forward and
  backward, once the scan is unrolled. From B = 2 on XLA hands the products to its YNNPACK fusions,
  which take h @ W_hh.T faster than the dot_general (benchmarks/jax_vs_handwritten.py, results/README.md).
- The scan unrolls UNROLL = 8 steps (all of them where T <= 8): XLA's CPU while loop costs a few
  microseconds per iteration, most of a small step.
- Right-aligned records need no mask past their end: a mask that froze h there is a select per step
  forward and two back, and a residual more per step, where the gate is a multiplication each way.
- The step differentiates with respect to the gathered input columns, not W_xh itself. Plain SGD
  without clipping, where a step reads fewer than V columns (T x B < V), then scatters -lr times
  their gradients into the W_xh rows they came from (the update of docs/DESIGN.md §3 for those rows, and
  exactly nothing for the rest); every other update first sums them into the dense (V, H) gradient,
  as autodiff's transpose of the gather would (XLA's scatter into zeros, then one pass over V rows,
  is the faster of the two once a step touches more rows than there are).
Clipping and the optimizer (docs/DESIGN.md §3) follow in the same compiled function. The training state is,
per parameter, the parameter and then the optimizer's slots, each an array of its own in the canonical
shape (W_xh stored transposed as (V, H), so that its gather and scatter touch rows), kept on the device
between calls and donated to the next step. Arrays of their own, not one (S, *shape) stack per
parameter: XLA updates a separate array in place, where it copied a stacked W_hh (even at S = 1) in every
iteration of the fused epoch.

Compilations. A jitted function compiles once per input shape, so T is padded up to a bucket
(`jax_common.bucket_length`); padding is exact because of the gate. The jitted functions depend only on
the model's frozen ModelConfig, optimizer and clip, and `functions(config, optimizer, clip)` keeps them
process-wide: a second model with the same key compiles nothing for shapes the first one has run.
`model.trace_counts` counts the traces (each one a compilation) that the model's own calls caused, per
function, and `model.compile_seconds` the seconds JAX reported spending on them.

The fused epoch. `train_epoch` pads every batch of the call to ONE T_pad (the largest bucket among
them) and runs each run of equal-B batches as ONE compiled call (a `lax.scan` over the stacked batches,
the step inside it), so an epoch of many lengths and a smaller last batch compiles two functions (the
fused epoch and the step for the last batch) and later epochs of the same shape none. Where the
batches' buckets differ (`ragged`), each batch's time loop runs in chunks of 8 steps, and a `lax.cond`
skips the chunks before its own longest record starts: autodiff cannot differentiate a loop of dynamic
trip count, but it transposes a cond inside a scan, and skips the same chunks on the way back.

float64. 64-bit types are enabled only while a float64 model runs (the `jax.enable_x64(True)` context
around each of its calls), so importing this module changes nothing for other JAX code; every array
is cast explicitly to config.dtype (token, length and label arrays to int32), so a float32 model
computes in float32 even where a user has enabled x64 globally.

Threads: `threads=n` sets XLA's CPU thread pool before the backend starts (see impls.jax_common).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from impls import jax_common
from impls.base import RNNImpl
from impls.core import PARAM_NAMES, SGD, Batch, Clip, DispatchCount, ModelConfig, Optimizer, Params, StepMemory, shared
from impls.jax_common import bucket_length, pack, pack_many, unpack

UNROLL = 8  # time steps (or chunks of them) unrolled per iteration of the time loop (all where T <= UNROLL)
CHUNK = 8  # time steps per skippable chunk of a ragged batch's time loop; every bucket beyond 8 is a multiple
FUNCTION_NAMES = ("logits", "loss_and_grads", "train_step", "train_epoch")

# The training state: per parameter, in PARAM_NAMES order, the parameter and its optimizer's slots, each
# (*shape); W_xh's as (V, H).
State = tuple[tuple[jax.Array, ...], ...]


def _dot_t(a: jax.Array, b: jax.Array) -> jax.Array:
    """a @ b.T for a (B, K), b (N, K) -> (B, N), contracting both second axes: no transpose op, which an
    unrolled scan would otherwise copy per step, forward and backward."""
    return lax.dot_general(a, b, (((1,), (1,)), ((), ())))


def final_state(
    xs: jax.Array,
    W_hh: jax.Array,
    b_h: jax.Array,
    relu: bool,
    live: jax.Array | None = None,
    n: jax.Array | None = None,
) -> jax.Array:
    """h_T of h_t = phi(x_t + b_h + h_{t-1} @ W_hh.T) from h_0 = 0, for right-aligned records; xs (T, B, H)
    the gathered input columns, W_hh (H, H), b_h (H,) -> (B, H). (b_h is added in the step, not to xs
    before the loop: one (T, B, H) pass fewer each way.)

    live (T, B) bool, whether record b has started by step t (None: every record fills all T steps).
    Right-aligned (see `jax_common.pack`), every record ends at step T; before it starts, its h is
    multiplied by 0, so h is exactly 0 when it starts, and h_T is h at its own last token. The gate is one
    multiplication per step, and its derivative is too, where a mask that froze h past each record's end
    would be a select forward and two back. n (0-d int32, None: T): the batch's longest length; chunks
    of CHUNK steps that end before step T - n are skipped (h is 0 throughout them for every record), T
    then being a multiple of CHUNK.
    """
    phi = jax.nn.relu if relu else jnp.tanh
    T, B, H = xs.shape
    gates = None if live is None else live[:, :, None].astype(xs.dtype)  # (T, B, 1)

    # At B = 1, XLA's CPU backend makes the unrolled step's products matrix-vector dots, where a transpose
    # would be copied per step; from B = 2 on, it hands them to its YNNPACK fusions, which take h @ W_hh.T
    # faster than the dot_general (benchmarks/jax_vs_handwritten.py).
    recur = _dot_t if B == 1 else lambda h, W: h @ W.T

    def step(h, x_gate):
        x_t, gate_t = x_gate
        h_new = phi(x_t + b_h[None, :] + recur(h, W_hh))  # (B, H)
        return (h_new if gate_t is None else h_new * gate_t), None

    h0 = jnp.zeros((B, H), dtype=xs.dtype)
    if n is None or T <= CHUNK:
        return lax.scan(step, h0, (xs, gates), unroll=min(T, UNROLL))[0]

    def chunk(h, k_x_gate):
        k, x, gate = k_x_gate  # x (CHUNK, B, H), gate (CHUNK, B, 1)
        run = lambda h: lax.scan(step, h, (x, gate), unroll=CHUNK)[0]
        return lax.cond((k + 1) * CHUNK > T - n, run, lambda h: h, h), None

    K = T // CHUNK
    chunks = (jnp.arange(K, dtype=jnp.int32), xs.reshape(K, CHUNK, B, H), gates.reshape(K, CHUNK, B, 1))
    return lax.scan(chunk, h0, chunks, unroll=min(K, UNROLL))[0]  # a rolled loop costs its conds' gain at B = 1


def live_steps(T: int, lengths: jax.Array) -> jax.Array:
    """lengths (B,) int32 -> (T, B) bool: whether right-aligned record b has started at step t (t >= T - L_b)."""
    return jnp.arange(T, dtype=jnp.int32)[:, None] >= (T - lengths)[None, :]


def logits_from_inputs(
    p: dict[str, jax.Array],
    inputs: jax.Array,
    live: jax.Array | None,
    relu: bool,
    n: jax.Array | None = None,
) -> jax.Array:
    """The canonical forward from the gathered input columns of right-aligned records: inputs (T, B, H),
    inputs[t, b] = W_xh[:, x] for the token x that step t of record b reads; live (T, B) bool or None
    and n as in `final_state`; p keyed like Params (its W_xh unused) -> logits (B, C)."""
    h_last = final_state(inputs, p["W_hh"], p["b_h"], relu, live, n)  # (B, H)
    return _dot_t(h_last, p["W_hy"]) + p["b_y"][None, :]  # (B, C)


def mean_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """logits (B, C), labels (B,) int32 -> 0-d mean of logsumexp(logits) - logits[y] (stable form)."""
    # logits[y] as a one-hot product: elementwise forward and backward, which fuse, where a gather's
    # backward would be a scatter of its own
    one_hot = jnp.arange(logits.shape[1], dtype=labels.dtype)[None, :] == labels[:, None]  # (B, C)
    picked = jnp.sum(jnp.where(one_hot, logits, 0), axis=1)  # (B,)
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


class Functions(NamedTuple):
    """The jitted functions of one (config, optimizer, clip); state is donated by the training ones.

    logits(state, data (B, T_pad + 2)) -> (B, C)
    loss_and_grads(state, data) -> loss 0-d, gradients in PARAM_NAMES order, canonical shapes
    train_step(state, data, bias (2,) or None, masked) -> state, loss 0-d
    train_epoch(state, data (N, B, T_pad + 2), bias (N, 2) or None, ragged, masked) -> state, losses (N,)
    ragged and masked are static: see `forward_pass`.
    """

    logits: Callable
    loss_and_grads: Callable
    train_step: Callable
    train_epoch: Callable


def _build(config: ModelConfig, spec: Optimizer, clip: Clip) -> Functions:
    """The four jitted functions; config, optimizer and clip are baked in (static)."""
    relu, update = config.nonlinearity == "relu", jax_common.apply_update
    sparse_xh = isinstance(spec, SGD) and not spec.momentum and clip is None  # see the module docstring

    def forward_pass(state: State, data: jax.Array, ragged: bool = False, masked: bool = True):
        """-> the gathered inputs (T, B, H), the dense parameters, a loss of (dense, inputs), ids (T, B).

        masked=False: every record fills all T steps (no gate); ragged: skip chunks no record reaches."""
        tokens, lengths, labels = unpack(data)  # tokens right-aligned by `pack`
        ids = tokens.T  # (T, B); checked against V on the host
        live = live_steps(tokens.shape[1], lengths) if masked else None
        inputs = state[0][0].at[ids].get(mode="promise_in_bounds")  # (T, B, H): row x is W_xh[:, x]
        dense = {k: state[i][0] for i, k in enumerate(PARAM_NAMES) if k != "W_xh"}
        n = jnp.max(lengths) if ragged else None

        def loss_of(dense, inputs):
            return mean_cross_entropy(logits_from_inputs(dense, inputs, live, relu, n), labels)

        return inputs, dense, loss_of, ids, live

    def logits(state, data):
        inputs, dense, _, _, live = forward_pass(state, data)
        return logits_from_inputs(dense, inputs, live, relu)

    def dense_xh(state, g_inputs, ids):  # (T, B, H) gradients of the gathered columns -> (V, H)
        return jnp.zeros_like(state[0][0]).at[ids].add(g_inputs, mode="promise_in_bounds")

    def loss_and_grads(state, data):
        inputs, dense, loss_of, ids, _ = forward_pass(state, data)
        loss, (g, g_inputs) = jax.value_and_grad(loss_of, argnums=(0, 1))(dense, inputs)
        return loss, (dense_xh(state, g_inputs, ids).T, *(g[k] for k in PARAM_NAMES[1:]))

    def step(state, data_bias, ragged, masked):
        data, bias = data_bias
        inputs, dense, loss_of, ids, _ = forward_pass(state, data, ragged, masked)
        loss, (g, g_inputs) = jax.value_and_grad(loss_of, argnums=(0, 1))(dense, inputs)
        if sparse_xh and ids.size < config.vocab_size:  # steps before a record starts add exact zeros
            new_xh = (state[0][0].at[ids].add(-spec.lr * g_inputs, mode="promise_in_bounds"),)
            rest = (update(spec, state[i], g[k], None) for i, k in enumerate(PARAM_NAMES) if i)
            return (new_xh, *rest), loss
        g["W_xh"] = dense_xh(state, g_inputs, ids)
        g = jax_common.clip_tree(g, clip)
        return tuple(update(spec, state[i], g[k], bias) for i, k in enumerate(PARAM_NAMES)), loss

    def train_step(state, data, bias, masked):
        return step(state, (data, bias), False, masked)

    def train_epoch(state, data, bias, ragged, masked):
        return lax.scan(lambda st, db: step(st, db, ragged, masked), state, (data, bias))

    counted = jax_common.counted
    return Functions(
        jax.jit(counted(logits)),
        jax.jit(counted(loss_and_grads)),
        jax.jit(counted(train_step), donate_argnums=0, static_argnums=3),  # the old state is dead once a step has run
        jax.jit(counted(train_epoch), donate_argnums=0, static_argnums=(3, 4)),
    )


functions = shared(_build)
"""functions(config, optimizer, clip) -> Functions, one set per key in the process (see the module docstring)."""


class JaxScan(RNNImpl):
    """jax-scan: see the module docstring.

    `trace_counts` maps each compiled function ("logits", "loss_and_grads", "train_step",
    "train_epoch") to how many traces (each one a compilation) this model's calls caused: once per new
    input shape, unless another model with the same config, optimizer and clip compiled it first.
    `compile_count` is their sum.
    """

    name = "jax-scan"

    def _setup(self, params: Params) -> None:
        self.dtype = self.config.np_dtype
        self._x64 = self.config.dtype == "float64"
        self._sgd = isinstance(self.optimizer, SGD)
        self.step_count = 0  # Adam's t, on the host
        self._meter = jax_common.Meter(FUNCTION_NAMES)
        self.trace_counts = self._meter.counts
        S = jax_common.state_rows(self.optimizer)
        host = dict(params, W_xh=params["W_xh"].T)  # (V, H): rows are what the gather reads
        with self._precision():
            # Device copies of their own (they will be donated); jnp.asarray would compile a copy per shape.
            self.state: State = tuple(
                tuple(
                    jax.device_put(
                        np.asarray(host[k] if i == 0 else np.zeros_like(host[k]), self.dtype), may_alias=False
                    )
                    for i in range(S)
                )
                for k in PARAM_NAMES
            )
        self._fns: Functions = functions(self.config, self.optimizer, self.clip)

    @property
    def compile_seconds(self) -> float:
        """Seconds JAX reported compiling during this model's calls (RNNImpl.compile_seconds)."""
        return self._meter.seconds

    @property
    def compile_count(self) -> int:
        """Traces (hence compilations) that this model's calls caused so far, all functions together."""
        return sum(self.trace_counts.values())

    def _precision(self) -> contextlib.AbstractContextManager:
        """64-bit types on while a float64 model runs, and only then."""
        return jax.enable_x64(True) if self._x64 else contextlib.nullcontext()

    def _bias(self, steps: int) -> np.ndarray | None:
        """Adam's bias corrections for the next `steps` steps, (steps, 2) in config.dtype; None for SGD."""
        if self._sgd:
            return None
        t0 = self.step_count
        return np.array([jax_common.adam_bias(self.optimizer, t0 + i + 1) for i in range(steps)], dtype=self.dtype)

    def _logits(self, batch: Batch) -> np.ndarray:
        with self._precision():
            data = pack(batch, bucket_length(batch.t_max))[0]
            out = self._meter.call("logits", self._fns.logits, self.state, data)
            return np.array(out, dtype=self.dtype)

    def _loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        with self._precision():
            data = pack(batch, bucket_length(batch.t_max))[0]
            loss, grads = self._meter.call("loss_and_grads", self._fns.loss_and_grads, self.state, data)
            return float(loss), {k: np.array(g, dtype=self.dtype) for k, g in zip(PARAM_NAMES, grads, strict=True)}

    def _step_inputs(self, batch: Batch, T_pad: int | None = None) -> tuple[np.ndarray, np.ndarray | None, bool]:
        """The arguments of the next train_step besides the state: packed data, Adam's bias (2,) or None, masked."""
        data, full = pack(batch, T_pad or bucket_length(batch.t_max))
        return data, None if self._sgd else self._bias(1)[0], not full

    def _framework_inputs(self, batch: Batch) -> tuple:
        """The packed host arguments of the step; the jitted call copies them to the device as it dispatches,
        which an explicit jax.device_put would overstate by its own Python overhead."""
        return self._step_inputs(batch)

    def _train_step(self, batch: Batch, T_pad: int | None = None) -> float:
        # The per-record path: nothing here beyond packing, the call and reading the loss back.
        args = self._step_inputs(batch, T_pad)
        if self._x64:
            with jax.enable_x64(True):
                self.state, loss = self._meter.call("train_step", self._fns.train_step, self.state, *args)
        else:
            self.state, loss = self._meter.call("train_step", self._fns.train_step, self.state, *args)
        self.step_count += 1
        return float(np.asarray(loss))  # float() of a jax.Array itself costs several times more

    def _step_memory(self, batch: Batch) -> StepMemory:
        self._train_step(batch)  # compiles the step for these shapes if it is new
        with self._precision():
            # The same shapes as the step just run: XLA's compilation cache answers, nothing recompiles.
            compiled = self._fns.train_step.lower(self.state, *self._step_inputs(batch)).compile()
        stats = compiled.memory_analysis()
        if stats is None:
            return StepMemory(None, "not measured: XLA gave no memory analysis")
        # The state is donated and aliased to the new state; the batch and the loss are not.
        unaliased = stats.argument_size_in_bytes + stats.output_size_in_bytes - 2 * stats.alias_size_in_bytes
        return StepMemory(
            stats.temp_size_in_bytes + unaliased,
            "XLA buffer assignment of the compiled step (temporaries + arguments and outputs not aliased)",
        )

    def _dispatch_count(self, batch: Batch) -> DispatchCount:
        with self._precision():
            # The same trace as the step's own: JAX's trace cache answers, nothing compiles.
            jaxpr = self._fns.train_step.trace(self.state, *self._step_inputs(batch)).jaxpr
        self._train_step(batch)
        method = (
            "one jitted call per step; equations of its jaxpr (loop bodies counted once), not dispatched one by one"
        )
        return DispatchCount(0, 1, jaxpr_equations(jaxpr.jaxpr), method)

    def dispatch_probes(self) -> dict:
        x = jnp.zeros((), dtype=jnp.float32)
        trivial = _trivial_jit()
        trivial(x).block_until_ready()  # compiles it, once per process
        return {"compiled_call": lambda: trivial(x).block_until_ready()}

    def _train_epoch(self, batches: list[Batch]) -> list[float]:
        """All batches of the call are padded to one T_pad, the largest bucket among them, so that only
        B splits the call: each run of consecutive equal-B batches goes through the fused epoch function,
        a run of one through train_step (at T_pad too). A run that is all of the call but at most one
        batch (an epoch and its smaller last batch) is one call; other runs go in power-of-two chunks,
        so that only log2(run length) chunk sizes are ever compiled. Where the batches' buckets differ,
        the fused function skips each batch's time steps past its own longest record (`ragged`)."""
        T_min = min(b.t_max for b in batches)
        T_max = max(b.t_max for b in batches)
        T_pad = bucket_length(T_max)
        ragged = bucket_length(T_min) != T_pad and T_pad > CHUNK  # up to CHUNK steps, one chunk: nothing to skip
        losses: list[float] = []
        start = 0
        while start < len(batches):
            B = batches[start].size
            end = start + 1
            while end < len(batches) and batches[end].size == B:
                end += 1
            run = end - start
            chunk = run if run >= len(batches) - 1 else 1 << (run.bit_length() - 1)
            losses += self._fused(batches[start : start + chunk], T_pad, ragged)
            start += chunk
        return losses

    def _fused(self, batches: list[Batch], T_pad: int, ragged: bool) -> list[float]:
        """N batches of one B padded to T_pad, in one compiled call -> their N losses."""
        if len(batches) == 1:
            return [self._train_step(batches[0], T_pad)]
        data, full = pack_many(batches, T_pad)  # (N, B, T_pad + 2) int32
        bias = self._bias(len(batches))
        with self._precision():
            self.state, losses = self._meter.call(
                "train_epoch", self._fns.train_epoch, self.state, data, bias, ragged, not full
            )
            self.step_count += len(batches)
            return np.asarray(losses, dtype=np.float64).tolist()

    def _get_params(self) -> Params:
        host = {k: np.array(rows[0], dtype=self.dtype) for k, rows in zip(PARAM_NAMES, self.state, strict=True)}
        host["W_xh"] = np.ascontiguousarray(host["W_xh"].T)  # (H, V)
        return host

    def _sync(self) -> None:
        jax.block_until_ready(self.state)

    def _set_threads(self, threads: int) -> None:
        self._threads_applied = jax_common.set_xla_threads(threads)

    def thread_info(self) -> dict[str, object]:
        """The thread settings XLA's CPU backend started with (as far as this process set them)."""
        return jax_common.thread_info(self.threads, getattr(self, "_threads_applied", None))


@functools.cache
def _trivial_jit() -> Callable:
    """A jitted x + 1: its cost per call is the fixed price of calling compiled code."""
    return jax.jit(lambda x: x + 1)


def jaxpr_equations(jaxpr) -> int:
    """The primitive equations of a jaxpr, those inside the sub-jaxprs of a scan, cond or nested jit
    counted in place of the equation that holds them (each body once, however often it runs)."""
    count = 0
    for eqn in jaxpr.eqns:
        inner = [j for v in eqn.params.values() for j in (v if isinstance(v, (tuple, list)) else (v,))]
        inner = [
            getattr(j, "jaxpr", j) for j in inner if hasattr(j, "eqns") or hasattr(getattr(j, "jaxpr", None), "eqns")
        ]
        count += sum(jaxpr_equations(j) for j in inner) if inner else 1
    return count
