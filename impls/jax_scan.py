"""jax-scan: the time loop is `jax.lax.scan`; loss, gradient, clipping and update are one `jax.jit`.

The forward (DESIGN.md §1): one gather of W_xh's columns for the whole batch, then a scan over time
steps of h <- phi(x_t + h @ W_hh.T), with a record's state frozen (jnp.where with a (T, B) mask) once
its length is reached, so the final h is h at each record's own length. The loss is the mean of
logsumexp(logits) - logits[y]. Gradients come from `jax.value_and_grad`, except that the recurrence has
a hand-written backward (a `jax.custom_vjp`, `_recurrence`): a reverse scan with one dot per step, and
dW_hh as one stacked matmul after it. Both scans unroll up to UNROLL = 8 steps. Clipping and the optimizer
(DESIGN.md §3) are written here, in the same compiled function, and parameters and optimizer state stay
on the device between steps (their buffers are donated to the next step).

Compilations. A jitted function compiles once per input shape, so T is padded up to a bucket
(`bucket_length`: 1, 2, 4, 8, then multiples of 8 up to 64, then steps that pad by under 25%); padding
is exact because of the mask. `model.trace_counts` counts the traces (each one a compilation) of each
function, for the tests, and `model.compile_seconds` the seconds JAX itself reports spending in
tracing, lowering and XLA compilation (its jax.monitoring duration events), so that a training clock
can report compilation apart, without the run time of the call that compiled.

The fused epoch. `train_epoch` pads every batch of the call to ONE T_pad (the largest bucket among
them) and runs each run of equal-B batches as ONE compiled call (a `lax.scan` over the stacked batches,
the step inside it), so an epoch of many lengths and a smaller last batch compiles two functions (the
fused epoch and the step for the last batch) and later epochs of the same shape none. Inside the fused
call the state is split once into per-parameter carries of the scan ((S, *shape) each, W_xh stored
transposed as (S, V, H) so that its gather and its gradient's scatter touch rows), clipped and
updated parameter by parameter, and joined back into the (S, P) array only at the end: no slicing or
concatenating of the flat state or gradient per step (about 15-25% of a B = 1 epoch step). With plain
SGD and no clipping, the step differentiates with respect to the gathered input columns and scatters
-lr times their gradients into the W_xh rows they came from (the update of DESIGN.md §3 for the rows
touched, and exactly nothing for the rest), instead of a dense (V, H) gradient and a sweep over all V
rows (about 3 µs of a ~22 µs step at B=1, H=64, T=8). Where the buckets
differ, the fused call uses `_ragged_recurrence`: forward and backward time loops are `lax.fori_loop`s
that stop at each batch's own longest record, so a short batch does not pay for T_pad steps (not
unrolled, which costs ~10% on small batches, so a call whose batches share one bucket keeps the unrolled scans).

float64. 64-bit types are enabled only while a float64 model runs (the `jax.enable_x64(True)` context
around each of its calls), so importing this module changes nothing for other JAX code; every array
is cast explicitly to config.dtype (token, length and label arrays to int32), so a float32 model
computes in float32 even where a user has enabled x64 globally.

Threads. XLA's CPU client sizes its thread pool from the environment variable NPROC when the backend
starts (jaxlib 0.10), and `--xla_cpu_multi_thread_eigen=false` in XLA_FLAGS (read at the same moment)
stops Eigen's own threading; `threads=n` sets both before the backend starts, and records that it could
not once the backend is already running (`thread_info()` says which).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from impls.base import RNNImpl
from impls.core import CLIP_NORM_EPS, PARAM_NAMES, SGD, Batch, Clip, ClipNorm, ClipValue, Optimizer, Params, StepMemory

# Thread settings this module made before the backend started (None: none made), shared by all models.
_THREADS_SET: int | None = None
UNROLL = 8  # time steps unrolled per iteration of the recurrence's loops (all of them where T <= UNROLL)


# Seconds JAX has spent compiling in this process: tracing to a jaxpr, lowering it to MLIR, and XLA's
# backend compile, as JAX reports them through jax.monitoring (events under /jax/core/compile/).
_COMPILE_CLOCK = [0.0]
COMPILE_EVENT_PREFIX = "/jax/core/compile/"


def _count_compile_time(event: str, duration: float, **kwargs) -> None:
    if event.startswith(COMPILE_EVENT_PREFIX):
        _COMPILE_CLOCK[0] += duration


jax.monitoring.register_event_duration_secs_listener(_count_compile_time)


def bucket_length(T: int) -> int:
    """The padded length for a batch of T_max = T: 1, 2, 4, 8, then multiples of 8 up to 64, then
    multiples of 2^(k-3) for T in (2^(k-1), 2^k]. Padding adds at most 7 steps up to T = 64 and under
    25% of the steps beyond, and the number of distinct buckets (compilations) grows like log T."""
    if T <= 8:
        return 1 << (T - 1).bit_length()
    step = max(8, 1 << ((T - 1).bit_length() - 3))
    return -(-T // step) * step


def pack(batch: Batch, T_pad: int) -> np.ndarray:
    """One int32 host array per batch, so that a step makes one host-to-device transfer.

    -> (B, T_pad + 2) int32: columns [0, T) the tokens, [T, T_pad) zero padding (a valid id, masked
    out), column T_pad the lengths, column T_pad + 1 the labels.
    """
    B, T = batch.tokens.shape
    data = np.zeros((B, T_pad + 2), dtype=np.int32)
    data[:, :T] = batch.tokens
    data[:, T_pad] = batch.lengths
    data[:, T_pad + 1] = batch.labels
    return data


def unpack(data: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(B, T_pad + 2) int32 -> tokens (B, T_pad), lengths (B,), labels (B,), all int32."""
    return data[:, :-2], data[:, -2], data[:, -1]


def _recurrence(relu: bool, unroll: int) -> Callable:
    """h_T of h_t = phi(x_t + h_{t-1} @ W_hh.T) from h_0 = 0, with a hand-written backward (custom_vjp).

    recurrence(xs (T, B, H), W_hh (H, H), alive (T, B) bool) -> h_T (B, H). A record's state is frozen
    once t reaches its length (jnp.where with alive), so h_T is h at its own length. The backward is
    numpy-bptt's: a reverse scan that does one (B, H) x (H, H) dot per step and saves the dz_t, then dW_hh = sum_t dz_t^T h_{t-1} as
    ONE (H, T*B) x (T*B, H) dot after the loop, instead of autodiff's per-step outer product accumulated
    in the loop carry. `unroll` steps of the loops are unrolled (all of them at small T): XLA's CPU
    while loop costs a few microseconds per iteration, most of a small step.
    """
    phi = jax.nn.relu if relu else jnp.tanh

    def forward(xs, W_hh, alive):  # -> hs (T, B, H): h_1 .. h_T
        W_hh_T = W_hh.T  # h @ W_hh_T == (W_hh @ h.T).T

        def step(h, x_alive):
            x_t, alive_t = x_alive
            h_new = jnp.where(alive_t[:, None], phi(x_t + h @ W_hh_T), h)  # (B, H): frozen past a length
            return h_new, h_new

        h0 = jnp.zeros(xs.shape[1:], dtype=xs.dtype)
        return lax.scan(step, h0, (xs, alive), unroll=unroll)[1]

    @jax.custom_vjp
    def recurrence(xs, W_hh, alive):
        return forward(xs, W_hh, alive)[-1]

    def recurrence_fwd(xs, W_hh, alive):
        hs = forward(xs, W_hh, alive)
        return hs[-1], (hs, W_hh, alive)

    def recurrence_bwd(res, dh_last):  # dh_last (B, H) -> d xs (T, B, H), d W_hh (H, H), None
        hs, W_hh, alive = res

        def step(dh, h_alive):  # dh: dL/dh_t; h = h_t
            h, alive_t = h_alive
            zero = jnp.zeros((), h.dtype)  # not a Python 0.0: under global x64 that is an f64 constant
            dz = jnp.where(h > zero, dh, zero) if relu else dh * (1.0 - h * h)  # dL/d(pre-activation)
            dz = jnp.where(alive_t[:, None], dz, zero)  # a frozen step has no pre-activation
            return dz @ W_hh + jnp.where(alive_t[:, None], zero, dh), dz  # its state passes dh through

        dzs = lax.scan(step, dh_last, (hs, alive), reverse=True, unroll=unroll)[1]  # (T, B, H)
        T, B, H = hs.shape
        h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]]).reshape(T * B, H)  # h_0 .. h_{T-1}
        return dzs, dzs.reshape(T * B, H).T @ h_prev, None

    recurrence.defvjp(recurrence_fwd, recurrence_bwd)
    return recurrence


def _ragged_recurrence(relu: bool) -> Callable:
    """`_recurrence` with a dynamic trip count: only the first n = max(lengths) of T_pad steps run.

    recurrence(xs (T_pad, B, H), W_hh (H, H), alive (T_pad, B) bool, n 0-d int32) -> h_n (B, H), which
    is h_T of `_recurrence` since every record is frozen from step n on. For a batch padded past its own
    longest record (all batches of a mixed epoch share one T_pad, so that they share one compilation),
    the loops are `lax.fori_loop`s up to n over fixed (T_pad, B, H) buffers, forward and backward alike
    (the hand-written backward is why a dynamic trip count is possible: autodiff never differentiates
    the while loop); steps from n on stay zero in hs and in the dz_t, so they add nothing to dW_hh. No
    step is unrolled: a dynamic trip count cannot be.
    """
    phi = jax.nn.relu if relu else jnp.tanh

    def forward(xs, W_hh, alive, n):  # -> h_n (B, H), hs (T_pad, B, H): h_1 .. h_n, zeros after
        W_hh_T = W_hh.T

        def step(t, carry):
            h, hs = carry
            h_new = jnp.where(alive[t][:, None], phi(xs[t] + h @ W_hh_T), h)
            return h_new, hs.at[t].set(h_new)

        h0 = jnp.zeros(xs.shape[1:], dtype=xs.dtype)
        return lax.fori_loop(0, n, step, (h0, jnp.zeros_like(xs)))

    @jax.custom_vjp
    def recurrence(xs, W_hh, alive, n):
        return forward(xs, W_hh, alive, n)[0]

    def recurrence_fwd(xs, W_hh, alive, n):
        h, hs = forward(xs, W_hh, alive, n)
        return h, (hs, W_hh, alive, n)

    def recurrence_bwd(res, dh_last):  # as `_recurrence`'s, over steps n - 1 .. 0
        hs, W_hh, alive, n = res
        zero = jnp.zeros((), hs.dtype)

        def step(k, carry):
            dh, dzs = carry
            t = n - 1 - k
            h, alive_t = hs[t], alive[t][:, None]
            dz = jnp.where(h > zero, dh, zero) if relu else dh * (1.0 - h * h)
            dz = jnp.where(alive_t, dz, zero)
            return dz @ W_hh + jnp.where(alive_t, zero, dh), dzs.at[t].set(dz)

        dzs = lax.fori_loop(0, n, step, (dh_last, jnp.zeros_like(hs)))[1]  # (T_pad, B, H)
        T, B, H = hs.shape
        h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]]).reshape(T * B, H)
        return dzs, dzs.reshape(T * B, H).T @ h_prev, None, None

    recurrence.defvjp(recurrence_fwd, recurrence_bwd)
    return recurrence


def rnn_logits(
    p: dict[str, jax.Array], tokens: jax.Array, lengths: jax.Array, relu: bool, ragged: bool = False
) -> jax.Array:
    """The canonical forward. p keyed like Params; tokens (B, T) int32; lengths (B,) int32 -> logits (B, C).

    ragged: run the time loops only up to max(lengths) (`_ragged_recurrence`) instead of all T steps."""
    return logits_from_inputs(p, p["W_xh"].T[tokens.T], lengths, relu, ragged)  # the gather W_xh[:, x_t]


def logits_from_inputs(
    p: dict[str, jax.Array], inputs: jax.Array, lengths: jax.Array, relu: bool, ragged: bool = False
) -> jax.Array:
    """`rnn_logits` from the gathered input columns: inputs (T, B, H), inputs[t, b] = W_xh[:, x_t] of
    record b (p's W_xh is not used) -> logits (B, C)."""
    T = inputs.shape[0]
    xs = inputs + p["b_h"][None, None, :]  # (T, B, H)
    alive = jnp.arange(T, dtype=jnp.int32)[:, None] < lengths[None, :]  # (T, B): t < L_b
    if ragged:
        h_last = _ragged_recurrence(relu)(xs, p["W_hh"], alive, jnp.max(lengths))  # (B, H)
    else:
        h_last = _recurrence(relu, min(T, UNROLL))(xs, p["W_hh"], alive)  # (B, H)
    return h_last @ p["W_hy"].T + p["b_y"][None, :]  # (B, C)


def mean_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """logits (B, C), labels (B,) int32 -> 0-d mean of logsumexp(logits) - logits[y] (stable form)."""
    # logits[y] as a one-hot product: elementwise forward and backward, which fuse, where a gather's
    # backward would be a scatter of its own
    picked = jnp.sum(
        jnp.where(jnp.arange(logits.shape[1], dtype=labels.dtype)[None, :] == labels[:, None], logits, 0), axis=1
    )  # (B,)
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


class Layout:
    """Where each canonical parameter lives in one flat vector of P = sum of their sizes entries.

    The model's whole training state is one (S, P) device array: row 0 the parameters, then the
    optimizer's slots (momentum: v; Adam: m, s). One array, because every array that crosses the jit
    boundary costs a few microseconds of dispatch, which is most of a small step's cost, and because
    clipping and the update then run as one fused loop over P entries instead of five.
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.shapes = {k: shapes[k] for k in PARAM_NAMES}
        sizes = [int(np.prod(s)) for s in self.shapes.values()]
        self.offsets = dict(zip(PARAM_NAMES, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
        self.size = sum(sizes)  # P

    def flatten(self, tree: dict) -> jax.Array:
        """Arrays keyed like Params -> (P,)."""
        return jnp.concatenate([tree[k].reshape(-1) for k in PARAM_NAMES])

    def unflatten(self, flat, xp=jnp) -> dict:
        """(P,) -> arrays keyed like Params (views where xp is NumPy)."""
        out = {}
        for k, shape in self.shapes.items():
            start = self.offsets[k]
            out[k] = xp.reshape(flat[start : start + int(np.prod(shape))], shape)
        return out

    def split(self, state: jax.Array) -> dict:
        """(S, P) -> arrays keyed like Params, each (S, *shape): every row's view of one parameter."""
        S = state.shape[0]
        return {
            k: state[:, self.offsets[k] : self.offsets[k] + int(np.prod(s))].reshape(S, *s)
            for k, s in self.shapes.items()
        }

    def join(self, rows: dict) -> jax.Array:
        """`split`'s inverse: arrays keyed like Params, each (S, *shape) -> (S, P)."""
        return jnp.concatenate([rows[k].reshape(rows[k].shape[0], -1) for k in PARAM_NAMES], axis=1)


def clip_grads(g: jax.Array, clip: Clip) -> jax.Array:
    """Clipping of DESIGN.md §3 on the flat gradient g (P,) (python-float thresholds are weakly typed,
    so the dtype is kept)."""
    if isinstance(clip, ClipValue):
        return jnp.clip(g, -clip.value, clip.value)
    if isinstance(clip, ClipNorm):
        norm = jnp.sqrt(jnp.vdot(g, g))  # 0-d: the global L2 norm over all parameters
        return g * jnp.minimum(1.0, clip.max_norm / (norm + CLIP_NORM_EPS))  # a factor of exactly 1 if unbound
    return g


def clip_tree(g: dict, clip: Clip) -> dict:
    """`clip_grads` on gradients keyed like Params, without concatenating them: the global norm is the
    square root of the sum of the per-parameter squared norms."""
    if isinstance(clip, ClipValue):
        return {k: jnp.clip(v, -clip.value, clip.value) for k, v in g.items()}
    if isinstance(clip, ClipNorm):
        norm = jnp.sqrt(sum(jnp.vdot(v, v) for v in g.values()))
        factor = jnp.minimum(1.0, clip.max_norm / (norm + CLIP_NORM_EPS))
        return {k: v * factor for k, v in g.items()}
    return g


def state_rows(spec: Optimizer) -> int:
    """S: rows of the training state, the parameters plus the optimizer's slots."""
    if isinstance(spec, SGD):
        return 2 if spec.momentum else 1
    return 3


def adam_bias(spec: Optimizer, t: int) -> tuple[float, float]:
    """Adam's bias corrections (1 - b1^t, 1 - b2^t) for step t, in Python float64 as in the reference.

    The step count lives on the host (it is known without asking the device), so these arrive as an
    input of the step instead of a pow on the device.
    """
    return 1.0 - spec.beta1**t, 1.0 - spec.beta2**t


def apply_update(spec: Optimizer, state: jax.Array, g: jax.Array, bias: jax.Array | None) -> jax.Array:
    """One optimizer update of DESIGN.md §3, in the NumPy reference's order of operations.

    state (S, P), g (P,) the clipped gradient, bias (2,) Adam's bias corrections (None for SGD) -> (S, P).
    """
    p = state[0]  # (P,)
    if isinstance(spec, SGD):
        if not spec.momentum:
            return (p - spec.lr * g)[None, :]
        v = spec.momentum * state[1] + g  # (P,)
        return jnp.stack([p - spec.lr * v, v])
    m = spec.beta1 * state[1] + (1.0 - spec.beta1) * g  # (P,)
    s = spec.beta2 * state[2] + (1.0 - spec.beta2) * (g * g)  # (P,)
    p = p - spec.lr * (m / bias[0]) / (jnp.sqrt(s / bias[1]) + spec.eps)
    return jnp.stack([p, m, s])


def _set_xla_threads(threads: int) -> bool:
    """Set NPROC (and XLA_FLAGS for one thread) unless the backend has started; True if in effect."""
    global _THREADS_SET
    from jax._src import xla_bridge  # not public API: where it has moved, assume the backend has started

    if getattr(xla_bridge, "backends_are_initialized", lambda: True)():
        return threads == _THREADS_SET
    os.environ["NPROC"] = str(threads)
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_multi_thread_eigen")]
    if threads == 1:
        flags.append("--xla_cpu_multi_thread_eigen=false")
    os.environ["XLA_FLAGS"] = " ".join(flags)
    _THREADS_SET = threads
    return True


class JaxScan(RNNImpl):
    """jax-scan: see the module docstring.

    `trace_counts` maps each compiled function ("logits", "loss_and_grads", "train_step",
    "train_epoch") to how many times it has been traced, which is once per new input shape: each
    trace is a compilation. `compile_count` is their sum.
    """

    name = "jax-scan"

    def _setup(self, params: Params) -> None:
        self.dtype = self.config.np_dtype
        self.layout = Layout(self.config.param_shapes())
        self.step_count = 0  # Adam's t, on the host
        self.trace_counts = {"logits": 0, "loss_and_grads": 0, "train_step": 0, "train_epoch": 0}
        state = np.zeros((state_rows(self.optimizer), self.layout.size), dtype=self.dtype)  # (S, P)
        state[0] = np.concatenate([params[k].reshape(-1) for k in PARAM_NAMES])
        with self._precision():
            self.state = jnp.array(state, dtype=self.dtype)  # a device copy: it will be donated
        self._build()

    def _precision(self) -> contextlib.AbstractContextManager:
        """64-bit types on while a float64 model runs, and only then."""
        return jax.enable_x64(True) if self.config.dtype == "float64" else contextlib.nullcontext()

    def _build(self) -> None:
        """This model's four jitted functions; config, optimizer and clip are closed over (static)."""
        relu, spec, clip, layout, counts = (
            self.config.nonlinearity == "relu",
            self.optimizer,
            self.clip,
            self.layout,
            self.trace_counts,
        )

        def counted(name: str, fn: Callable) -> Callable:
            def traced(*args):
                counts[name] += 1  # Python runs only while JAX traces, i.e. once per compilation
                return fn(*args)

            return traced

        def timing_compiles(jitted: Callable) -> Callable:
            """jitted, adding the compilation seconds JAX reports during each call to compile_seconds."""

            def call(*args):
                before = _COMPILE_CLOCK[0]
                out = jitted(*args)
                self.compile_seconds += _COMPILE_CLOCK[0] - before
                return out

            call.lower = jitted.lower  # ahead-of-time lowering stays available (the tests inspect it)
            return call

        def loss_fn(params: dict, data: jax.Array, ragged: bool = False) -> jax.Array:  # data (B, T_pad + 2) -> 0-d
            tokens, lengths, labels = unpack(data)
            return mean_cross_entropy(rnn_logits(params, tokens, lengths, relu, ragged), labels)

        def logits(state, data):  # state (S, P) -> (B, C)
            tokens, lengths, _ = unpack(data)
            return rnn_logits(layout.unflatten(state[0]), tokens, lengths, relu)

        def loss_and_grads(state, data, ragged=False):  # -> loss 0-d, flat grads (P,)
            loss, grads = jax.value_and_grad(loss_fn)(layout.unflatten(state[0]), data, ragged)
            return loss, layout.flatten(grads)

        def step(state, data_bias, ragged=False):  # state (S, P); data (B, T_pad + 2); bias (2,) or None
            data, bias = data_bias
            loss, g = loss_and_grads(state, data, ragged)
            return apply_update(spec, state, clip_grads(g, clip), bias), loss

        def train_step(state, data, bias):
            return step(state, (data, bias))

        # The epoch step differentiates with respect to the gathered input columns, not W_xh itself. Plain
        # SGD without clipping then scatters -lr times their gradients into the rows they came from (the
        # T x B rows a step touched); every other update first sums them into the dense (V, H) gradient,
        # which is what autodiff's transpose of the gather would have made.
        sparse_xh = isinstance(spec, SGD) and not spec.momentum and clip is None

        def epoch_step(rows, data_bias, ragged):  # rows: name -> (S, *shape), W_xh as (S, V, H)
            data, bias = data_bias
            tokens, lengths, labels = unpack(data)
            ids = tokens.T  # (T, B); checked against V on the host
            inputs = rows["W_xh"][0].at[ids].get(mode="promise_in_bounds")  # (T, B, H): row x_t is W_xh[:, x_t]

            def loss_of(p, inputs):
                return mean_cross_entropy(logits_from_inputs(p, inputs, lengths, relu, ragged), labels)

            dense = {k: rows[k][0] for k in PARAM_NAMES if k != "W_xh"}
            loss, (g, g_inputs) = jax.value_and_grad(loss_of, argnums=(0, 1))(dense, inputs)
            if sparse_xh:  # padding positions add exact zeros
                new = {k: apply_update(spec, rows[k], g[k], None) for k in dense}
                new["W_xh"] = rows["W_xh"].at[0, ids].add(-spec.lr * g_inputs, mode="promise_in_bounds")
                return new, loss
            g["W_xh"] = jnp.zeros_like(rows["W_xh"][0]).at[ids].add(g_inputs, mode="promise_in_bounds")  # (V, H)
            g = clip_tree(g, clip)
            return {k: apply_update(spec, rows[k], g[k], bias) for k in PARAM_NAMES}, loss

        def train_epoch(state, data, bias, ragged):  # data (N, B, T_pad + 2); bias (N, 2) or None -> losses (N,)
            rows = layout.split(state)  # per-parameter carries: no slicing or concatenating per step
            rows["W_xh"] = jnp.swapaxes(rows["W_xh"], 1, 2)  # (S, V, H)
            rows, losses = lax.scan(lambda st, db: epoch_step(st, db, ragged), rows, (data, bias))
            rows["W_xh"] = jnp.swapaxes(rows["W_xh"], 1, 2)
            return layout.join(rows), losses

        self._logits_fn = timing_compiles(jax.jit(counted("logits", logits)))
        self._grads_fn = timing_compiles(jax.jit(counted("loss_and_grads", loss_and_grads)))
        # The old state is dead once a step has run: donate its buffer to the new one.
        self._step_fn = timing_compiles(jax.jit(counted("train_step", train_step), donate_argnums=0))
        self._epoch_fn = timing_compiles(
            jax.jit(counted("train_epoch", train_epoch), donate_argnums=0, static_argnums=3)
        )

    @property
    def compile_count(self) -> int:
        """Traces (hence compilations) of all of this model's functions so far."""
        counts = self.trace_counts
        return counts["logits"] + counts["loss_and_grads"] + counts["train_step"] + counts["train_epoch"]

    def _bias(self, steps: int) -> np.ndarray | None:
        """Adam's bias corrections for the next `steps` steps, (steps, 2) in config.dtype; None for SGD."""
        if isinstance(self.optimizer, SGD):
            return None
        t0 = self.step_count
        return np.array([adam_bias(self.optimizer, t0 + i + 1) for i in range(steps)], dtype=self.dtype)

    def _logits(self, batch: Batch) -> np.ndarray:
        with self._precision():
            out = self._logits_fn(self.state, pack(batch, bucket_length(batch.t_max)))
            return np.array(out, dtype=self.dtype)

    def _loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        with self._precision():
            loss, flat = self._grads_fn(self.state, pack(batch, bucket_length(batch.t_max)))
            grads = self.layout.unflatten(np.array(flat, dtype=self.dtype), xp=np)  # views of one host copy
            return float(loss), grads

    def _step_inputs(self, batch: Batch, T_pad: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The host arguments of the next train_step besides the state: packed data, Adam's bias (2,) or None."""
        bias = self._bias(1)
        return pack(batch, T_pad or bucket_length(batch.t_max)), None if bias is None else bias[0]

    def _train_step(self, batch: Batch, T_pad: int | None = None) -> float:
        with self._precision():
            self.state, loss = self._step_fn(self.state, *self._step_inputs(batch, T_pad))
            self.step_count += 1
            return float(loss)

    def _step_memory(self, batch: Batch) -> StepMemory:
        self._train_step(batch)  # compiles the step for these shapes if it is new
        with self._precision():
            # The same shapes as the step just run: XLA's compilation cache answers, nothing recompiles.
            compiled = self._step_fn.lower(self.state, *self._step_inputs(batch)).compile()
        stats = compiled.memory_analysis()
        if stats is None:
            return StepMemory(None, "not measured: XLA gave no memory analysis")
        # The state is donated and aliased to the new state; the batch and the loss are not.
        unaliased = stats.argument_size_in_bytes + stats.output_size_in_bytes - 2 * stats.alias_size_in_bytes
        return StepMemory(
            stats.temp_size_in_bytes + unaliased,
            "XLA buffer assignment of the compiled step (temporaries + arguments and outputs not aliased)",
        )

    def _train_epoch(self, batches: list[Batch]) -> list[float]:
        """All batches of the call are padded to one T_pad, the largest bucket among them, so that only
        B splits the call: each run of consecutive equal-B batches goes through the fused epoch function,
        a run of one through train_step (at T_pad too). A run that is all of the call but at most one
        batch (an epoch and its smaller last batch) is one call; other runs go in power-of-two chunks,
        so that only log2(run length) chunk sizes are ever compiled. Where the batches' buckets differ,
        the fused function runs each batch's time loops only to its own longest record (`ragged`)."""
        buckets = [bucket_length(b.t_max) for b in batches]
        T_pad, ragged = max(buckets), min(buckets) != max(buckets)
        losses: list[float] = []
        start = 0
        while start < len(batches):
            end = start + 1
            while end < len(batches) and batches[end].size == batches[start].size:
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
        data = np.stack([pack(b, T_pad) for b in batches])  # (N, B, T_pad + 2) int32
        bias = self._bias(len(batches))
        with self._precision():
            self.state, losses = self._epoch_fn(self.state, data, bias, ragged)
            self.step_count += len(batches)
            return np.asarray(losses, dtype=np.float64).tolist()

    def _get_params(self) -> Params:
        host = np.array(self.state, dtype=self.dtype)[0]  # (P,), a host copy
        return self.layout.unflatten(host, xp=np)

    def _sync(self) -> None:
        jax.block_until_ready(self.state)

    def _set_threads(self, threads: int) -> None:
        self._threads_applied = _set_xla_threads(threads)

    def thread_info(self) -> dict[str, object]:
        """The thread settings XLA's CPU backend started with (as far as this process set them)."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        info: dict[str, object] = {
            "requested": self.threads,
            "NPROC": os.environ.get("NPROC"),
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
            "cpu_pool_threads": int(os.environ.get("NPROC") or cores),
        }
        if self.threads is not None:
            info["applied"] = self._threads_applied
            if not self._threads_applied:
                info["note"] = "JAX's CPU backend had started before threads were set: its thread pool is unchanged"
        return info
