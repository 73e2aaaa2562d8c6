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


def pack(batches: list[Batch]) -> tuple[Packed, np.ndarray]:
    """Checked batches -> one Packed of all their records, and where each batch's records start (K+1,)."""
    tokens, lengths = [], []
    for b in batches:
        if b.min_length == b.t_max:  # every record fills T: the tokens as they are
            tokens.append(b.tokens.reshape(-1))
        else:  # the first L_r tokens of each record, in record order
            tokens.append(b.tokens[np.arange(b.t_max)[None, :] < b.lengths[:, None]])
        lengths.append(b.lengths)
    lengths_all = np.concatenate(lengths) if len(lengths) > 1 else lengths[0]
    rec_start = np.zeros(lengths_all.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths_all, out=rec_start[1:])
    batch_start = np.zeros(len(batches) + 1, dtype=np.int64)
    np.cumsum([b.size for b in batches], out=batch_start[1:])
    labels = np.concatenate([b.labels for b in batches]) if len(batches) > 1 else batches[0].labels
    packed = Packed(
        np.concatenate(tokens) if len(tokens) > 1 else tokens[0], rec_start, labels, max(b.max_length for b in batches)
    )
    return packed, batch_start


class NumbaLoops(RNNImpl):
    """numba-loops: see the module docstring and kernels.py."""

    name = "numba-loops"

    def _setup(self, params: Params) -> None:
        V, H, C = self.config.vocab_size, self.config.hidden_size, self.config.num_classes
        self.sizes = (V, H, C)
        self.relu = self.config.nonlinearity == "relu"
        o = kernels.offsets(V, H, C)
        self.theta = np.empty(o[5], dtype=self.config.np_dtype)  # (P,): every parameter, kernels.py's layout
        self.views = {
            "W_xh_T": self.theta[o[0] : o[1]].reshape(V, H),
            "W_hh": self.theta[o[1] : o[2]].reshape(H, H),
            "b_h": self.theta[o[2] : o[3]],
            "W_hy": self.theta[o[3] : o[4]].reshape(C, H),
            "b_y": self.theta[o[4] : o[5]],
        }
        self.views["W_xh_T"][...] = params["W_xh"].T
        for name in ("W_hh", "b_h", "W_hy", "b_y"):
            self.views[name][...] = params[name]
        self.grad = np.zeros_like(self.theta)
        self.m = np.zeros_like(self.theta)  # momentum's v, or Adam's first moment
        self.s = np.zeros_like(self.theta)  # Adam's second moment
        self.steps = np.zeros(1, dtype=np.int64)
        spec = self.optimizer
        if isinstance(spec, SGD):
            self.opt = kernels.MOMENTUM if spec.momentum else kernels.SGD
            self.hyper = np.array([spec.lr, spec.momentum, 0.0, 0.0, 0.0])
        else:
            self.opt = kernels.ADAM
            self.hyper = np.array([spec.lr, 0.0, spec.beta1, spec.beta2, spec.eps])
        if isinstance(self.clip, ClipValue):
            self.clip_kind, self.threshold = kernels.CLIP_VALUE, float(self.clip.value)
        elif isinstance(self.clip, ClipNorm):
            self.clip_kind, self.threshold = kernels.CLIP_NORM, float(self.clip.max_norm)
        else:
            self.clip_kind, self.threshold = kernels.NO_CLIP, 0.0

    def _timed(self, kernel, *args):
        """kernel(*args), the call's seconds added to compile_seconds when it compiled a new signature."""
        before = len(kernel.signatures)
        started = time.perf_counter()
        out = kernel(*args)
        if len(kernel.signatures) > before:
            self.compile_seconds += time.perf_counter() - started
        return out

    def _framework_inputs(self, batch: Batch) -> tuple[Packed, np.ndarray]:
        return pack([batch])

    def _train(self, packed: Packed, batch_start: np.ndarray) -> np.ndarray:
        V, H, C = self.sizes
        return self._timed(
            kernels.train,
            packed.tokens,
            packed.rec_start,
            packed.labels,
            batch_start,
            self.theta,
            self.grad,
            self.m,
            self.s,
            V,
            H,
            C,
            self.relu,
            self.opt,
            self.hyper,
            self.clip_kind,
            self.threshold,
            self.steps,
            packed.t_max,
        )

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
