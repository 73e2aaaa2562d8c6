"""The framework-free contract: model config, canonical parameters, batches, optimizers, clipping.

Everything here needs NumPy only; no implementation's framework is imported. See docs/DESIGN.md §1-§3, §7.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np

Params: TypeAlias = dict[str, np.ndarray]
"""Canonical parameters: W_xh (H, V), W_hh (H, H), b_h (H,), W_hy (C, H), b_y (C,)."""

PARAM_NAMES: tuple[str, ...] = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")
NONLINEARITIES: tuple[str, ...] = ("tanh", "relu")
DTYPES: tuple[str, ...] = ("float32", "float64")


class InputError(ValueError):
    """Bad input to rnnbench (shapes, ranges, names, non-finite values): the message names the problem."""


class FrameworkUnavailableError(ImportError):
    """The framework an implementation needs is not installed (or its device is absent)."""


class NonFiniteLossError(FloatingPointError):
    """A training run's loss became NaN or infinite."""


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and arithmetic of the RNN classifier.

    vocab_size V, hidden_size H, num_classes C; nonlinearity phi in {tanh, relu}; dtype of every
    parameter and activation, "float32" or "float64".
    """

    vocab_size: int
    hidden_size: int
    num_classes: int
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    dtype: Literal["float32", "float64"] = "float32"

    def __post_init__(self) -> None:
        for field in ("vocab_size", "hidden_size", "num_classes"):
            _positive_int(field, getattr(self, field))
        if self.nonlinearity not in NONLINEARITIES:
            raise InputError(f"nonlinearity must be one of {NONLINEARITIES}, got {self.nonlinearity!r}")
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of each canonical parameter, keyed like Params."""
        V, H, C = self.vocab_size, self.hidden_size, self.num_classes
        return {"W_xh": (H, V), "W_hh": (H, H), "b_h": (H,), "W_hy": (C, H), "b_y": (C,)}


def init_params(config: ModelConfig, seed: int = 0) -> Params:
    """Seeded canonical parameters.

    Scheme (that of torch.nn.RNN and nn.Linear, with zero biases): every weight matrix is drawn from
    U(-1/sqrt(H), 1/sqrt(H)); b_h and b_y start at zero. Draws come from numpy's PCG64 in the order
    W_xh, W_hh, W_hy, in float64, then are cast to config.dtype, so the float32 and float64 models
    with the same seed start from the same values up to rounding.
    """
    rng = np.random.default_rng(seed)
    bound = 1.0 / math.sqrt(config.hidden_size)
    shapes = config.param_shapes()
    params = {name: np.zeros(shape) for name, shape in shapes.items()}
    for name in ("W_xh", "W_hh", "W_hy"):
        params[name] = rng.uniform(-bound, bound, size=shapes[name])
    return {name: params[name].astype(config.np_dtype) for name in PARAM_NAMES}


def validate_params(params: Params, config: ModelConfig) -> Params:
    """Check keys, shapes and finiteness; return C-contiguous copies in config.dtype."""
    if not isinstance(params, dict):
        raise InputError(f"params must be a dict keyed by {PARAM_NAMES}, got {type(params).__name__}")
    missing = [k for k in PARAM_NAMES if k not in params]
    extra = [k for k in params if k not in PARAM_NAMES]
    if missing or extra:
        raise InputError(f"params must have exactly the keys {PARAM_NAMES}: missing {missing}, unexpected {extra}")
    out: Params = {}
    for name, shape in config.param_shapes().items():
        value = np.asarray(params[name])
        if value.shape != shape:
            raise InputError(f"param {name} must have shape {shape} for {config}, got {value.shape}")
        if not np.issubdtype(value.dtype, np.floating):
            raise InputError(f"param {name} must be floating point, got dtype {value.dtype}")
        if not np.all(np.isfinite(value)):
            raise InputError(f"param {name} has non-finite values (NaN or inf)")
        out[name] = np.ascontiguousarray(value, dtype=config.np_dtype).copy()
    return out


def _int_array(name: str, value: object, ndim: int) -> np.ndarray:
    arr = np.asarray(value)
    kind = arr.dtype.kind  # kinds "i", "u", "m" are exactly np.issubdtype(dtype, np.integer), at a fraction of its cost
    if kind == "b" or (kind not in "ium" and arr.size != 0):
        raise InputError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise InputError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    arr = np.array(arr, dtype=np.int64, copy=True)
    arr.flags.writeable = False  # a Batch is validated once; nobody may change it afterwards
    return arr


@dataclass(frozen=True, eq=False)
class Batch:
    """B variable-length records, right-padded to T = T_max.

    tokens (B, T) int64 in [0, V), padding included; lengths (B,) int64 in [1, T]; labels (B,) int64.
    Positions t >= lengths[b] are padding: their values never change any result. The arrays are
    read-only copies, checked once here; `check(config)` checks the ranges that depend on V and C.
    """

    tokens: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        tokens = _int_array("tokens", self.tokens, 2)
        lengths = _int_array("lengths", self.lengths, 1)
        labels = _int_array("labels", self.labels, 1)
        B, T = tokens.shape
        if B < 1 or T < 1:
            raise InputError(f"tokens must have shape (B, T) with B >= 1 and T >= 1, got {tokens.shape}")
        if lengths.shape != (B,) or labels.shape != (B,):
            raise InputError(
                f"lengths and labels must have shape (B,) = ({B},) to match tokens {tokens.shape}, "
                f"got lengths {lengths.shape} and labels {labels.shape}"
            )
        shortest, longest = int(lengths.min()), int(lengths.max())
        if shortest < 1 or longest > T:
            bad = lengths[(lengths < 1) | (lengths > T)]
            raise InputError(f"lengths must be in [1, T_max={T}], got {bad.tolist()[:5]}")
        if tokens.min() < 0:
            raise InputError(f"token ids must be >= 0 (padding too), got {int(tokens.min())}")
        if labels.min() < 0:
            raise InputError(f"labels must be >= 0, got {int(labels.min())}")
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "lengths", lengths)
        object.__setattr__(self, "labels", labels)
        # Cached so that the per-step range check against a config costs two comparisons.
        object.__setattr__(self, "max_token", int(tokens.max()))
        object.__setattr__(self, "max_label", int(labels.max()))
        # Cached so that a step can trim padding past the longest record, and skip masking when every
        # record is that long, without reductions of its own.
        object.__setattr__(self, "min_length", shortest)
        object.__setattr__(self, "max_length", longest)

    @property
    def size(self) -> int:
        """B, the number of records."""
        return self.tokens.shape[0]

    @property
    def t_max(self) -> int:
        """T, the padded length."""
        return self.tokens.shape[1]

    def check(self, config: ModelConfig) -> Batch:
        """Raise InputError unless every token id is < V and every label < C; return self."""
        if self.max_token >= config.vocab_size:
            raise InputError(
                f"token id {self.max_token} is out of range for vocab_size V={config.vocab_size} (ids must be in [0, V))"
            )
        if self.max_label >= config.num_classes:
            raise InputError(
                f"label {self.max_label} is out of range for num_classes C={config.num_classes} (labels must be in [0, C))"
            )
        return self

    @classmethod
    def from_sequences(cls, sequences, labels, t_max: int | None = None, pad_id: int = 0) -> Batch:
        """Right-pad a list of B token-id sequences (each of length >= 1) with pad_id to T = t_max."""
        sequences = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sequences]
        if not sequences:
            raise InputError("a batch needs at least one record")
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        if lengths.min() < 1:
            raise InputError("every record needs at least one token (length 0 given)")
        T = int(lengths.max()) if t_max is None else int(t_max)
        if lengths.max() > T:
            raise InputError(f"a record of length {int(lengths.max())} does not fit t_max={T}")
        tokens = np.full((len(sequences), T), pad_id, dtype=np.int64)
        for row, seq in zip(tokens, sequences, strict=True):
            row[: len(seq)] = seq
        return cls(tokens, lengths, np.asarray(labels))

    def padded_to(self, t_max: int, pad_id: int = 0) -> Batch:
        """The same records padded (with pad_id) to a longer T."""
        if t_max < self.t_max:
            raise InputError(f"cannot pad a batch with T={self.t_max} down to {t_max}")
        tokens = np.full((self.size, t_max), pad_id, dtype=np.int64)
        tokens[:, : self.t_max] = self.tokens
        return Batch(tokens, self.lengths, self.labels)

    def record(self, i: int) -> Batch:
        """Record i alone, as a batch of one with T = its length."""
        n = int(self.lengths[i])
        return Batch(self.tokens[i : i + 1, :n], self.lengths[i : i + 1], self.labels[i : i + 1])

    def split(self, size: int) -> list[Batch]:
        """Consecutive sub-batches of `size` records (the last may be smaller), keeping T."""
        return [
            Batch(self.tokens[i : i + size], self.lengths[i : i + size], self.labels[i : i + size])
            for i in range(0, self.size, size)
        ]


@dataclass(frozen=True)
class SGD:
    """v <- momentum * v + g;  theta <- theta - lr * v  (torch.optim.SGD, dampening 0)."""

    lr: float = 0.1
    momentum: float = 0.0

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"SGD lr must be a positive finite number, got {self.lr!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise InputError(f"SGD momentum must be in [0, 1), got {self.momentum!r}")


@dataclass(frozen=True)
class Adam:
    """m <- b1 m + (1-b1) g; s <- b2 s + (1-b2) g^2; t += 1;
    theta <- theta - lr * (m / (1-b1^t)) / (sqrt(s / (1-b2^t)) + eps)   (torch.optim.Adam)."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"Adam lr must be a positive finite number, got {self.lr!r}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise InputError(f"Adam {name} must be in [0, 1), got {getattr(self, name)!r}")
        if not self.eps > 0:
            raise InputError(f"Adam eps must be positive, got {self.eps!r}")


@dataclass(frozen=True)
class ClipValue:
    """g <- clip(g, -value, value) element-wise (torch.nn.utils.clip_grad_value_)."""

    value: float

    def __post_init__(self) -> None:
        if not (self.value > 0 and math.isfinite(self.value)):
            raise InputError(f"clip value must be a positive finite number, got {self.value!r}")


@dataclass(frozen=True)
class ClipNorm:
    """n = global L2 norm of all gradients; g <- g * min(1, max_norm / (n + 1e-6))
    (torch.nn.utils.clip_grad_norm_)."""

    max_norm: float

    def __post_init__(self) -> None:
        if not (self.max_norm > 0 and math.isfinite(self.max_norm)):
            raise InputError(f"clip norm must be a positive finite number, got {self.max_norm!r}")


Optimizer: TypeAlias = SGD | Adam
Clip: TypeAlias = ClipValue | ClipNorm | None

CLIP_NORM_EPS = 1e-6


@dataclass(frozen=True)
class StepMemory:
    """What one training step allocated at its peak, beyond what was allocated when it began: the
    BPTT cache (hidden states and pre-activations, B x T x H each), gradients and temporaries.

    peak_bytes: None where the framework gives no way to see it. method: how it was counted, in words
    (each framework's own allocator accounting, or its compiler's buffer plan), so that a reader knows
    what two implementations' figures have in common."""

    peak_bytes: int | None
    method: str


COMPILE_MIN_BUCKET = 8  # torch-compile's shortest padded length: every T <= 8 runs the same compiled step


def compile_bucket(T: int) -> int:
    """The length torch-compile pads a batch whose longest record is T to: COMPILE_MIN_BUCKET, then
    powers of two (here, framework-free, so that the memory guard can size what it runs)."""
    return max(COMPILE_MIN_BUCKET, 1 << (T - 1).bit_length())


@dataclass(frozen=True)
class DispatchCount:
    """What one training step hands its framework, counted by the framework's own means.

    framework_ops: operations dispatched one by one (NumPy's C functions and methods, top-level ATen ops),
    None where not counted; compiled_calls: calls into compiled code (a jitted or torch.compile'd
    function); compiled_ops: the operations inside those calls (jaxpr equations), None where not counted;
    method: how they were counted, in words."""

    framework_ops: int | None
    compiled_calls: int
    compiled_ops: int | None
    method: str


def shared(build: Callable[..., object], maxsize: int = 64) -> Callable[..., object]:
    """build(*key), memoised process-wide on its hashable (frozen-dataclass) arguments, the most recently
    used `maxsize` keys kept: every model with the same key gets the same compiled functions, so that the
    framework's own per-function cache answers for shapes any of them has compiled."""
    cached = functools.lru_cache(maxsize=maxsize)(build)

    @functools.wraps(build)
    def get(*key: Hashable) -> object:
        return cached(*key)

    get.cache_clear = cached.cache_clear
    get.cache_info = cached.cache_info
    return get
