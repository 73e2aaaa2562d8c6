"""What jax-scan needs besides its model's arithmetic: threads, compilation accounting, padded batches on
the host, clipping and the optimizer update (docs/DESIGN.md §3). Its process-wide cache of compiled
functions is `impls.core.shared`, which torch-compile uses too.

Compilation accounting. A jitted function runs its Python only while JAX traces it, and each trace is a
compilation, so `counted` wraps a function to add one to TRACES per trace; `compile_seconds` sums the
seconds JAX itself reports spending in tracing, lowering and XLA compilation (its jax.monitoring duration
events under /jax/core/compile/). Both are process-wide; a model reads them before and after each of its
calls (`Meter`) to attribute to itself what its own calls compiled.

Threads. XLA's CPU client sizes its thread pool from the environment variable NPROC when the backend
starts (jaxlib 0.10), and `--xla_cpu_multi_thread_eigen=false` in XLA_FLAGS (read at the same moment)
stops Eigen's own threading; `set_xla_threads(n)` sets both before the backend starts, and says that it
could not once the backend is already running.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from impls.core import CLIP_NORM_EPS, SGD, Batch, Clip, ClipNorm, ClipValue, Optimizer

# Thread settings this process made before the backend started (None: none made), shared by all models.
_THREADS_SET: int | None = None

COMPILE_EVENT_PREFIX = "/jax/core/compile/"
TRACES = [0]  # traces (compilations) of `counted` functions in this process
_COMPILE_CLOCK = [0.0]  # seconds JAX has reported spending in compilation in this process


def _count_compile_time(event: str, duration: float, **_kwargs) -> None:
    if event.startswith(COMPILE_EVENT_PREFIX):
        _COMPILE_CLOCK[0] += duration


jax.monitoring.register_event_duration_secs_listener(_count_compile_time)


def counted(fn: Callable) -> Callable:
    """fn, adding one to TRACES each time its Python runs, which under jax.jit is once per compilation."""

    @functools.wraps(fn)
    def traced(*args):
        TRACES[0] += 1
        return fn(*args)

    return traced


class Meter:
    """Per-model compilation accounting over shared jitted functions.

    `call(name, fn, *args)` runs fn(*args) and adds to counts[name] the traces it caused and to
    `seconds` the compilation seconds JAX reported during it; a call whose function was already
    compiled, by this model or by another with the same key, adds nothing.
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self.counts = dict.fromkeys(names, 0)
        self.seconds = 0.0

    def call(self, name: str, fn: Callable, *args):
        traces, clock = TRACES[0], _COMPILE_CLOCK[0]
        out = fn(*args)
        if TRACES[0] != traces:
            self.counts[name] += TRACES[0] - traces
            self.seconds += _COMPILE_CLOCK[0] - clock
        return out


# -- padded batches on the host ----------------------------------------------------------------


def bucket_length(T: int) -> int:
    """The padded length for a batch of T_max = T: 1, 2, 4, 8, then multiples of 8 up to 64, then
    multiples of 2^(k-3) for T in (2^(k-1), 2^k]. Padding adds at most 7 steps up to T = 64 and under
    25% of the steps beyond, the number of distinct buckets (compilations) grows like log T, and every
    bucket beyond 8 is a multiple of 8."""
    if T <= 8:
        return 1 << (T - 1).bit_length()
    step = max(8, 1 << ((T - 1).bit_length() - 3))
    return -(-T // step) * step


def pack(batch: Batch, T_pad: int) -> tuple[np.ndarray, bool]:
    """One int32 host array per batch, so that a step makes one host-to-device transfer; records right-aligned.

    -> data (B, T_pad + 2) int32: columns [0, T_pad) the tokens of each record moved to the end (record
    b's L_b tokens in columns [T_pad - L_b, T_pad), the columns before them a valid id that is never
    read), column T_pad the lengths, column T_pad + 1 the labels; and full: whether every record fills
    all T_pad steps. Right-aligned, every record ends at the last step, so a recurrence needs no mask
    past a record's end, only a gate before its start (jax_scan.final_state), and none when full.
    """
    tokens, lengths = batch.tokens, batch.lengths
    B, T = tokens.shape
    data = np.empty((B, T_pad + 2), dtype=np.int32)  # every column written below: a step's host cost is its own
    L = int(lengths[0]) if B == 1 else int(lengths.min())
    full = T_pad == T and L == T
    if full:
        data[:, :T] = tokens
    elif B == 1:
        data[0, : T_pad - L] = 0
        data[0, T_pad - L : T_pad] = tokens[0, :L]
    else:
        data[:, :T_pad] = _right_aligned(tokens, lengths, T_pad)
    data[:, T_pad] = lengths
    data[:, T_pad + 1] = batch.labels
    return data, full


def pack_many(batches: list[Batch], T_pad: int) -> tuple[np.ndarray, bool]:
    """N batches of one B -> (N, B, T_pad + 2) int32, `pack` of each, and whether every record of every
    batch fills all T_pad steps; in whole-array operations where the batches share one T. (np.concatenate
    and a reshape, not np.stack, which costs several times more Python per batch: at B = 1 it is the
    fused epoch's host cost per record.)"""
    N, (B, T) = len(batches), batches[0].tokens.shape
    if all(b.tokens.shape[1] == T for b in batches):
        tokens = np.concatenate([b.tokens for b in batches]).reshape(N, B, T)
    else:
        T = max(b.t_max for b in batches)
        tokens = np.zeros((N, B, T), dtype=np.int64)
        for row, b in zip(tokens, batches, strict=True):
            row[:, : b.t_max] = b.tokens
    lengths = np.concatenate([b.lengths for b in batches]).reshape(N, B)
    data = np.empty((N, B, T_pad + 2), dtype=np.int32)  # every column written below
    full = T_pad == T and min(b.min_length for b in batches) == T
    data[:, :, :T_pad] = tokens if full else _right_aligned(tokens, lengths, T_pad)
    data[:, :, T_pad] = lengths
    data[:, :, T_pad + 1] = np.concatenate([b.labels for b in batches]).reshape(N, B)
    return data, full


def _right_aligned(tokens: np.ndarray, lengths: np.ndarray, T_pad: int) -> np.ndarray:
    """tokens (..., T), lengths (...) -> (..., T_pad): step t of a record reads its token t - (T_pad - L);
    before the record starts, its first token (any valid id would do: those steps are gated to 0)."""
    source = np.arange(T_pad) - (T_pad - lengths)[..., None]  # (..., T_pad)
    return np.take_along_axis(tokens, np.maximum(source, 0), axis=-1)


def unpack(data: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(B, T_pad + 2) int32 -> tokens (B, T_pad), lengths (B,), labels (B,), all int32."""
    return data[:, :-2], data[:, -2], data[:, -1]


# -- clipping and the optimizer update ------------------------------------------------------------


def clip_tree(g: dict, clip: Clip) -> dict:
    """Clipping of docs/DESIGN.md §3 on gradients keyed like Params (python-float thresholds are weakly typed,
    so the dtype is kept); the global norm is the square root of the sum of the per-parameter squared norms."""
    if isinstance(clip, ClipValue):
        return {k: jnp.clip(v, -clip.value, clip.value) for k, v in g.items()}
    if isinstance(clip, ClipNorm):
        norm = jnp.sqrt(sum(jnp.vdot(v, v) for v in g.values()))  # 0-d
        factor = jnp.minimum(1.0, clip.max_norm / (norm + CLIP_NORM_EPS))  # exactly 1 where the bound is loose
        return {k: v * factor for k, v in g.items()}
    return g


def state_rows(spec: Optimizer) -> int:
    """S: arrays in each parameter's training state, the parameter plus the optimizer's slots."""
    if isinstance(spec, SGD):
        return 2 if spec.momentum else 1
    return 3


def adam_bias(spec: Optimizer, t: int) -> tuple[float, float]:
    """Adam's bias corrections (1 - b1^t, 1 - b2^t) for step t, in Python float64 as in the reference.

    The step count lives on the host (it is known without asking the device), so these arrive as an
    input of the step instead of a pow on the device.
    """
    return 1.0 - spec.beta1**t, 1.0 - spec.beta2**t


def apply_update(
    spec: Optimizer, rows: tuple[jax.Array, ...], g: jax.Array, bias: jax.Array | None
) -> tuple[jax.Array, ...]:
    """One optimizer update of docs/DESIGN.md §3 of one parameter, in the NumPy reference's order of operations.

    rows: the parameter, then its optimizer slots, each (*shape); g (*shape) the clipped gradient; bias (2,)
    Adam's bias corrections (None for SGD) -> the new rows.
    """
    p = rows[0]
    if isinstance(spec, SGD):
        if not spec.momentum:
            return (p - spec.lr * g,)
        v = spec.momentum * rows[1] + g
        return p - spec.lr * v, v
    m = spec.beta1 * rows[1] + (1.0 - spec.beta1) * g
    s = spec.beta2 * rows[2] + (1.0 - spec.beta2) * (g * g)
    p = p - spec.lr * (m / bias[0]) / (jnp.sqrt(s / bias[1]) + spec.eps)
    return p, m, s


# -- threads ---------------------------------------------------------------------------------------


def set_xla_threads(threads: int) -> bool:
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


def threads_set() -> int | None:
    """The thread count this process set before the backend started (None: none set)."""
    return _THREADS_SET


def thread_info(requested: int | None, applied: bool | None) -> dict[str, object]:
    """The thread settings XLA's CPU backend started with (as far as this process set them)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict[str, object] = {
        "requested": requested,
        "NPROC": os.environ.get("NPROC"),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "cpu_pool_threads": int(os.environ.get("NPROC") or cores),
    }
    if requested is not None:
        info["applied"] = applied
        if not applied:
            info["note"] = "JAX's CPU backend had started before threads were set: its thread pool is unchanged"
    return info
