"""numba-loops: the RNN classifier of rnnbench in Numba's explicit loops (kernels.py), behind rnnbench's
one interface (impls.RNNImpl): the base class checks every input, this class packs batches, holds the
flat parameter vector and the optimizer's state, and calls the kernels."""

from __future__ import annotations

import time

import numba
import numpy as np

from impls import SGD, Batch, ClipNorm, ClipValue, Params, RNNImpl
from rnnbench_numba import kernels


class Packed:
    """A batch as the kernels read it: every record's own tokens back to back (tokens (sum of lengths,)),
    where record r starts (rec_start (N+1,)), labels (N,), and the longest length."""

    __slots__ = ("labels", "rec_start", "t_max", "tokens")

    def __init__(self, tokens: np.ndarray, rec_start: np.ndarray, labels: np.ndarray, t_max: int) -> None:
        self.tokens, self.rec_start, self.labels, self.t_max = tokens, rec_start, labels, t_max


def read_only(a: np.ndarray) -> np.ndarray:
    """a, marked read-only like a Batch's own arrays: Numba types (and compiles for) a read-only array apart
    from a writeable one, so every call passes tokens and labels the same way and compiles once."""
    a.flags.writeable = False
    return a


def record_tokens(b: Batch) -> np.ndarray:
    """Every record's first L_r tokens, back to back in record order (no copy when every record fills T)."""
    if b.min_length == b.t_max:
        return b.tokens.reshape(-1)
    return read_only(b.tokens[np.arange(b.t_max)[None, :] < b.lengths[:, None]])


def starts(lengths: np.ndarray) -> np.ndarray:
    """(N,) lengths -> (N+1,) where each starts, and the end."""
    out = np.empty(lengths.shape[0] + 1, dtype=np.int64)
    out[0] = 0
    np.cumsum(lengths, out=out[1:])
    return out


def pack(batches: list[Batch]) -> tuple[Packed, np.ndarray]:
    """Checked batches -> one Packed of all their records, and where each batch's records start (K+1,)."""
    if len(batches) == 1:  # a training step: the call whose overhead B=1 measures
        b = batches[0]
        rec_start = np.array([0, b.max_length]) if b.size == 1 else starts(b.lengths)
        return Packed(record_tokens(b), rec_start, b.labels, b.max_length), np.array([0, b.size])
    packed = Packed(
        read_only(np.concatenate([record_tokens(b) for b in batches])),
        starts(np.concatenate([b.lengths for b in batches])),
        read_only(np.concatenate([b.labels for b in batches])),
        max(b.max_length for b in batches),
    )
    return packed, starts(np.array([b.size for b in batches]))


class NumbaLoops(RNNImpl):
    """numba-loops: see the module docstring and kernels.py."""

    name = "numba-loops"

    def _setup(self, params: Params) -> None:
        V, H, C = self.config.vocab_size, self.config.hidden_size, self.config.num_classes
        self.sizes = (V, H, C)
        self.relu = self.config.nonlinearity == "relu"
        o = kernels.offsets(V, H, C)
        self.state = np.zeros((4, o[5]), dtype=self.config.np_dtype)  # theta, gradient, m, s: kernels.py
        self.theta, self.grad = self.state[kernels.THETA], self.state[kernels.GRAD]
        views = {
            "W_xh_T": self.theta[o[0] : o[1]].reshape(V, H),
            "W_hh": self.theta[o[1] : o[2]].reshape(H, H),
            "b_h": self.theta[o[2] : o[3]],
            "W_hy": self.theta[o[3] : o[4]].reshape(C, H),
            "b_y": self.theta[o[4] : o[5]],
        }
        views["W_xh_T"][...] = params["W_xh"].T
        for name in ("W_hh", "b_h", "W_hy", "b_y"):
            views[name][...] = params[name]
        spec, clip = self.optimizer, self.clip
        if isinstance(spec, SGD):
            opt = kernels.MOMENTUM if spec.momentum else kernels.SGD
            hyper = [spec.lr, spec.momentum, 0.0, 0.0, 0.0]
        else:
            opt = kernels.ADAM
            hyper = [spec.lr, 0.0, spec.beta1, spec.beta2, spec.eps]
        if isinstance(clip, ClipValue):
            clip_kind, threshold = kernels.CLIP_VALUE, clip.value
        elif isinstance(clip, ClipNorm):
            clip_kind, threshold = kernels.CLIP_NORM, clip.max_norm
        else:
            clip_kind, threshold = kernels.NO_CLIP, 0.0
        self.ints = np.array([V, H, C, int(self.relu), opt, clip_kind, 0, 0], dtype=np.int64)  # SETTINGS_INT
        self.floats = np.array([*hyper, threshold], dtype=np.float64)  # SETTINGS_FLOAT

    def _timed(self, kernel, *args):
        """kernel(*args), the call's seconds added to compile_seconds when it compiled a new signature."""
        before = len(kernel.overloads)  # (not .signatures, which costs more than a small step)
        started = time.perf_counter()
        out = kernel(*args)
        if len(kernel.overloads) > before:
            self.compile_seconds += time.perf_counter() - started
        return out

    def _framework_inputs(self, batch: Batch) -> tuple[Packed, np.ndarray]:
        return pack([batch])

    def _train(self, packed: Packed, batch_start: np.ndarray) -> np.ndarray:
        self.ints[7] = packed.t_max
        args = (packed.tokens, packed.rec_start, packed.labels, batch_start, self.state, self.ints, self.floats)
        return self._timed(kernels.train, *args)

    def _logits(self, batch: Batch) -> np.ndarray:
        packed, _ = pack([batch])
        V, H, C = self.sizes
        args = (packed.tokens, packed.rec_start, self.theta, V, H, C, self.relu, packed.t_max)
        return self._timed(kernels.all_logits, *args)  # (B, C)

    def _loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        packed, _ = pack([batch])
        V, H, C = self.sizes
        args = (packed.tokens, packed.rec_start, packed.labels, self.theta, self.grad, V, H, C, self.relu, packed.t_max)
        loss = self._timed(kernels.loss_and_grads, *args)
        return float(loss), self._canonical(self.grad)

    def _train_step(self, batch: Batch) -> float:
        return float(self._train(*pack([batch]))[0])

    def _train_epoch(self, batches: list[Batch]) -> list[float]:
        return self._train(*pack(batches)).tolist()  # every step in one compiled call

    def _canonical(self, flat: np.ndarray) -> Params:
        """Copies of the parameters (or gradients) in flat, in canonical names, shapes and layout."""
        V, H, C = self.sizes
        o = kernels.offsets(V, H, C)
        return {
            "W_xh": np.ascontiguousarray(flat[o[0] : o[1]].reshape(V, H).T),
            "W_hh": flat[o[1] : o[2]].reshape(H, H).copy(),
            "b_h": flat[o[2] : o[3]].copy(),
            "W_hy": flat[o[3] : o[4]].reshape(C, H).copy(),
            "b_y": flat[o[4] : o[5]].copy(),
        }

    def _get_params(self) -> Params:
        return self._canonical(self.theta)

    def thread_info(self) -> dict[str, object]:
        return {"requested": self.threads, "numba": f"{numba.__version__}, serial loops (no prange): one thread"}
