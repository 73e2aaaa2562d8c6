"""numpy-bptt: the reference. NumPy forward with a cache, hand-written backpropagation through time.

Two paths, held to the same tests:

- batched (B > 1), in matrix form: one Python loop over time steps, none over records. Variable lengths
  are handled by freezing a record's hidden state once its length is reached, so h_T == h_L for every row;
- per record (B = 1, per-record SGD): h is an (H,) vector over the record's own L steps, so there is
  no padding and no mask; the L pre-activation gradients are stacked in an (L, H) array, so that dW_hh
  and db_h are one product and one sum. With plain SGD and no clipping the step updates the parameters
  from those stacked gradients directly: only the L rows of W_xh.T the record uses change, and the
  gradient is scaled by -lr once, in dlogits (the backward pass is linear in it), not per parameter.

W_xh is held transposed, (V, H) C-contiguous, so that gathering and updating its columns reads and
writes contiguous rows; `self.p["W_xh"]` is the (H, V) view of it.
"""

from __future__ import annotations

import dis
import math
import sys
import tracemalloc

import numpy as np

from impls.base import RNNImpl
from impls.core import (
    CLIP_NORM_EPS,
    PARAM_NAMES,
    SGD,
    Adam,
    Batch,
    Clip,
    ClipNorm,
    ClipValue,
    DispatchCount,
    Optimizer,
    Params,
    StepMemory,
)

# The opcodes through which this module's Python hands NumPy an operation: calls, operators (@, +, *= ...),
# reading and writing through subscripts.
OPERATION_OPCODES = frozenset(dis.opmap[name] for name in ("CALL", "BINARY_OP", "BINARY_SUBSCR", "STORE_SUBSCR"))

# Above this vocabulary size, dW_xh is accumulated by sorting token ids instead of a one-hot matmul.
ONE_HOT_MAX_VOCAB = 512


def rnn_forward(tokens: np.ndarray, lengths: np.ndarray, p: Params, relu: bool):
    """Hidden states of the whole batch.

    tokens (B, T) int64, lengths (B,) int64 -> hs (T+1, B, H) with hs[0] = 0 and hs[t+1] the state
    after step t (frozen at hs[L] past a record's length L), and the cache for rnn_backward.
    """
    B, T = tokens.shape
    W_hh_T = p["W_hh"].T  # (H, H) view: h @ W_hh.T == (W_hh @ h.T).T
    xs = p["W_xh"].T[tokens.T]  # (T, B, H): the column gather W_xh[:, x_t]
    xs += p["b_h"]
    hs = np.empty((T + 1, B, xs.shape[2]), dtype=xs.dtype)  # (T+1, B, H)
    hs[0] = 0.0
    ragged = bool((lengths != T).any())
    alive = (np.arange(T)[:, None] < lengths[None, :])[:, :, None] if ragged else None  # (T, B, 1)
    for t in range(T):
        h = hs[t + 1]
        np.matmul(hs[t], W_hh_T, out=h)
        h += xs[t]
        if relu:
            np.maximum(h, 0.0, out=h)
        else:
            np.tanh(h, out=h)
        if ragged:
            np.copyto(h, hs[t], where=~alive[t])  # past its length a record keeps its last state
    return hs, (tokens, alive, hs)


def rnn_backward(dh_last: np.ndarray, cache, p: Params, relu: bool) -> Params:
    """dh_last (B, H), the gradient of the loss w.r.t. hs[T] -> dW_xh (H, V), dW_hh (H, H), db_h (H,)."""
    tokens, alive, hs = cache
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    W_hh = p["W_hh"]
    dzs = np.empty((T, B, H), dtype=hs.dtype)  # (T, B, H): dL/dz_t, z_t the pre-activation of step t
    dh = dh_last.copy()  # (B, H): dL/dh_{t+1}
    for t in range(T - 1, -1, -1):
        h = hs[t + 1]
        dz = dzs[t]
        if relu:
            np.multiply(dh, h > 0.0, out=dz)
        else:
            np.multiply(dh, 1.0 - h * h, out=dz)
        if alive is None:
            dh = dz @ W_hh  # W_hh.T applied to column vectors: dh_{t} = W_hh^T dz_t (Zhou's post has W_hh here)
        else:
            dz *= alive[t]  # a frozen step has no pre-activation; its state passes dh straight through
            dh = dz @ W_hh + dh * ~alive[t]
    dz2 = dzs.reshape(T * B, H)  # (T*B, H)
    dW_hh = dz2.T @ hs[:-1].reshape(T * B, H)  # (H, H): sum_t dz_t^T h_t
    db_h = dz2.sum(axis=0)  # (H,)
    dW_xh = _scatter_columns(tokens.T.reshape(-1), dz2, p["W_xh"].shape[1])  # (H, V)
    return {"W_xh": dW_xh, "W_hh": dW_hh, "b_h": db_h}


def _scatter_columns(ids: np.ndarray, rows: np.ndarray, V: int) -> np.ndarray:
    """sum of rows (N, H) into the columns named by ids (N,) of an (H, V) matrix.

    The result is the (H, V) view of a C-contiguous (V, H) array: the layout NumpyBPTT holds W_xh in."""
    N, H = rows.shape
    if V <= ONE_HOT_MAX_VOCAB:
        one_hot = np.zeros((V, N), dtype=rows.dtype)  # (V, N)
        one_hot[ids, np.arange(N)] = 1.0
        return (one_hot @ rows).T  # (H, V)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    out = np.zeros((V, H), dtype=rows.dtype)
    out[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return out.T


# -- one record (B = 1) ----------------------------------------------------------------------------


def record_forward(tokens: np.ndarray, p: Params, relu: bool) -> np.ndarray:
    """tokens (L,) int64, one record's own ids -> hs (L+1, H): hs[0] = 0, hs[t+1] the state after step t."""
    L = tokens.shape[0]
    W_hh = p["W_hh"]
    hs = np.empty((L + 1, W_hh.shape[0]), dtype=W_hh.dtype)  # (L+1, H)
    hs[0] = 0.0
    zs = hs[1:]  # (L, H): filled with W_xh[:, x_t] + b_h, then made the states in place, step by step
    np.add(p["W_xh"].T[tokens], p["b_h"], out=zs)
    for t in range(L):
        z = zs[t]
        if t:  # h_0 = 0: step 0 needs no product
            z += W_hh @ hs[t]
        if relu:
            np.maximum(z, 0.0, out=z)
        else:
            np.tanh(z, out=z)
    return hs


def record_backward(dh_last: np.ndarray, hs: np.ndarray, W_hh: np.ndarray, relu: bool) -> np.ndarray:
    """dh_last (H,), the gradient w.r.t. h_L -> dzs (L, H), dL/dz_t for each step's pre-activation z_t.

    dW_hh = dzs[1:].T @ hs[1:L] (step 0 met h_0 = 0), db_h = dzs.sum(0), W_xh[:, x_t] gets dzs[t]."""
    L = hs.shape[0] - 1
    if relu:
        dzs = (hs[1:] > 0.0).astype(hs.dtype)  # (L, H): phi'(z_t) for every step at once
    else:
        dzs = hs[1:] * hs[1:]
        np.subtract(1.0, dzs, out=dzs)
    dh = dh_last
    for t in range(L - 1, 0, -1):
        dz = dzs[t]
        dz *= dh
        dh = dz @ W_hh  # W_hh.T dz_t, the gradient w.r.t. h_{t-1}
    dzs[0] *= dh
    return dzs


def record_logits(h_last: np.ndarray, p: Params) -> np.ndarray:
    """h_last (H,) -> logits (C,)."""
    logits = p["W_hy"] @ h_last  # (C,)
    logits += p["b_y"]
    return logits


def record_head(h_last: np.ndarray, label: int, p: Params) -> tuple[float, np.ndarray, float]:
    """h_last (H,) -> the loss, and exp(logits - max) (C,) with its sum: dlogits is their ratio minus
    onehot(label)."""
    shifted = record_logits(h_last, p)
    shifted -= shifted.max()  # (C,): log-sum-exp without overflow
    e = np.exp(shifted)
    total = float(e.sum())
    return math.log(total) - float(shifted[label]), e, total


def _record_arrays(batch: Batch) -> tuple[np.ndarray, int]:
    """A batch of one -> its record's own tokens (L,) and its label."""
    return batch.tokens[0, : batch.max_length], int(batch.labels[0])


def add_rows(table: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    """table[ids[i]] += rows[i] for every i, ids repeating or not: table (V, H), ids (L,), rows (L, H)."""
    id_list = ids.tolist()
    if len(set(id_list)) == len(id_list):
        table[ids] += rows  # no id twice: one gather, add and scatter
    else:
        np.add.at(table, ids, rows)


def head_forward(h_last: np.ndarray, labels: np.ndarray, p: Params):
    """h_last (B, H), labels (B,) -> logits (B, C), mean loss (float), cache for head_backward."""
    logits = h_last @ p["W_hy"].T + p["b_y"]  # (B, C)
    shifted = logits - logits.max(axis=1, keepdims=True)  # (B, C): log-sum-exp without overflow
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (B, 1)
    log_probs = shifted - log_z  # (B, C)
    B = labels.shape[0]
    loss = -float(log_probs[np.arange(B), labels].mean())
    return logits, loss, (h_last, labels, log_probs)


def head_backward(cache, p: Params) -> tuple[np.ndarray, Params]:
    """-> dh_last (B, H), and dW_hy (C, H), db_y (C,) for the mean loss."""
    h_last, labels, log_probs = cache
    B = labels.shape[0]
    dlogits = np.exp(log_probs)  # (B, C): softmax - onehot(y), over B
    dlogits[np.arange(B), labels] -= 1.0
    dlogits /= B
    return dlogits @ p["W_hy"], {"W_hy": dlogits.T @ h_last, "b_y": dlogits.sum(axis=0)}


def clip_grads(grads: Params, clip: Clip) -> Params:
    """Clipping of docs/DESIGN.md §3, in place."""
    if isinstance(clip, ClipValue):
        for g in grads.values():
            np.clip(g, -clip.value, clip.value, out=g)
    elif isinstance(clip, ClipNorm):
        norm = np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
        scale = min(1.0, clip.max_norm / (norm + CLIP_NORM_EPS))
        if scale < 1.0:
            for g in grads.values():
                g *= scale
    return grads


class NumpyOptimizer:
    """SGD with momentum, or Adam, updating a Params dict in place (docs/DESIGN.md §3)."""

    def __init__(self, spec: Optimizer, params: Params) -> None:
        self.spec = spec
        self.step_count = 0
        zeros = {k: np.zeros_like(v) for k, v in params.items()}
        if isinstance(spec, Adam):
            self.m, self.s = zeros, {k: np.zeros_like(v) for k, v in params.items()}
        elif spec.momentum:
            self.v = zeros

    def update(self, params: Params, grads: Params) -> None:
        spec = self.spec
        self.step_count += 1
        if isinstance(spec, SGD):
            for k, g in grads.items():
                if spec.momentum:
                    v = self.v[k]
                    v *= spec.momentum
                    v += g
                    g = v
                params[k] -= spec.lr * g
            return
        t = self.step_count
        bias1, bias2 = 1.0 - spec.beta1**t, 1.0 - spec.beta2**t
        for k, g in grads.items():
            m, s = self.m[k], self.s[k]
            m *= spec.beta1
            m += (1.0 - spec.beta1) * g
            s *= spec.beta2
            s += (1.0 - spec.beta2) * (g * g)
            params[k] -= spec.lr * (m / bias1) / (np.sqrt(s / bias2) + spec.eps)


class NumpyBPTT(RNNImpl):
    """numpy-bptt: see the module docstring."""

    name = "numpy-bptt"

    def _setup(self, params: Params) -> None:
        self.W_xh_T = np.ascontiguousarray(params["W_xh"].T)  # (V, H): what the updates write
        self.p = params | {"W_xh": self.W_xh_T.T}  # canonical names and shapes, W_xh a view
        self.relu = self.config.nonlinearity == "relu"
        self.opt = NumpyOptimizer(self.optimizer, self.p)
        spec = self.optimizer
        # Plain SGD without clipping: the per-record step updates from the stacked gradients directly.
        self.sparse_sgd_lr = spec.lr if isinstance(spec, SGD) and not spec.momentum and self.clip is None else None

    def _set_threads(self, threads: int) -> None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # threadpoolctl is optional; without it the BLAS keeps its own setting
            return
        self._thread_limit = threadpool_limits(limits=threads, user_api="blas")

    def thread_info(self) -> dict[str, object]:
        info: dict[str, object] = {"requested": self.threads}
        try:
            from threadpoolctl import threadpool_info
        except ImportError:
            return info | {"blas": "unknown (threadpoolctl not installed)"}
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                info |= {"blas": pool.get("internal_api"), "blas_threads": pool.get("num_threads")}
                break
        return info

    # -- batched path (B > 1) --

    def _forward(self, batch: Batch):
        hs, rnn_cache = rnn_forward(batch.tokens, batch.lengths, self.p, self.relu)
        logits, loss, head_cache = head_forward(hs[-1], batch.labels, self.p)
        return logits, loss, (rnn_cache, head_cache)

    def _batch_loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        _, loss, (rnn_cache, head_cache) = self._forward(batch)
        dh_last, head_grads = head_backward(head_cache, self.p)
        grads = rnn_backward(dh_last, rnn_cache, self.p, self.relu) | head_grads
        return loss, {k: grads[k] for k in PARAM_NAMES}

    # -- per-record path (B = 1) --

    def _record_loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        tokens, label = _record_arrays(batch)
        p = self.p
        hs = record_forward(tokens, p, self.relu)
        loss, e, total = record_head(hs[-1], label, p)
        dlogits = e / total  # (C,): softmax - onehot(label)
        dlogits[label] -= 1.0
        dzs = record_backward(dlogits @ p["W_hy"], hs, p["W_hh"], self.relu)  # (L, H)
        dW_xh_T = np.zeros_like(self.W_xh_T)  # (V, H)
        add_rows(dW_xh_T, tokens, dzs)
        grads = {
            "W_xh": dW_xh_T.T,
            "W_hh": dzs[1:].T @ hs[1:-1],  # step 0 met h_0 = 0
            "b_h": dzs.sum(axis=0),
            "W_hy": np.outer(dlogits, hs[-1]),
            "b_y": dlogits,
        }
        return loss, grads

    def _record_sgd_step(self, batch: Batch, lr: float) -> float:
        """Plain SGD without clipping on one record, the update done from the stacked gradients."""
        tokens, label = _record_arrays(batch)
        p = self.p
        W_hy = p["W_hy"]
        hs = record_forward(tokens, p, self.relu)
        h_last = hs[-1]
        loss, e, total = record_head(h_last, label, p)
        step = e * (-lr / total)  # (C,): -lr dlogits; the backward pass is linear in it
        step[label] += lr
        dzs = record_backward(step @ W_hy, hs, p["W_hh"], self.relu)  # (L, H): -lr dL/dz_t
        W_hy += np.outer(step, h_last)
        p["b_y"] += step
        if dzs.shape[0] > 1:
            p["W_hh"] += dzs[1:].T @ hs[1:-1]
        p["b_h"] += dzs.sum(axis=0)
        add_rows(self.W_xh_T, tokens, dzs)
        return loss

    # -- RNNImpl --

    def _logits(self, batch: Batch) -> np.ndarray:
        if batch.size == 1:
            tokens, _ = _record_arrays(batch)
            return record_logits(record_forward(tokens, self.p, self.relu)[-1], self.p)[None, :]  # (1, C)
        return self._forward(batch)[0]

    def _loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        loss, grads = self._grads(batch)
        return loss, {k: np.ascontiguousarray(g) for k, g in grads.items()}  # W_xh's is built (V, H)-major

    def _grads(self, batch: Batch) -> tuple[float, Params]:
        return self._record_loss_and_grads(batch) if batch.size == 1 else self._batch_loss_and_grads(batch)

    def _train_step(self, batch: Batch) -> float:
        if batch.size == 1 and self.sparse_sgd_lr is not None:
            return self._record_sgd_step(batch, self.sparse_sgd_lr)
        loss, grads = self._grads(batch)
        self.opt.update(self.p, clip_grads(grads, self.clip))
        return loss

    def _get_params(self) -> Params:
        return {k: v.copy() for k, v in self.p.items()}

    def _dispatch_count(self, batch: Batch) -> DispatchCount:
        ops = python_operations(lambda: self._train_step(batch), __file__)
        method = "sys.settrace: calls, operators and subscripts executed in impls/numpy_bptt.py, each opcode one"
        return DispatchCount(ops, 0, None, method)

    def dispatch_probes(self) -> dict:
        a, b, out = np.ones(1), np.ones(1), np.empty(1)
        return {"framework_op": lambda: np.add(a, b, out=out)}  # one ufunc call on one-element arrays

    def _step_memory(self, batch: Batch) -> StepMemory:
        # NumPy reports every array's data buffer to tracemalloc; a caller already tracing keeps its trace.
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            self._train_step(batch)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            if not was_tracing:
                tracemalloc.stop()
        return StepMemory(max(0, peak - before), "tracemalloc peak (NumPy arrays and Python objects)")


def python_operations(run, filename: str) -> int:
    """Operations (OPERATION_OPCODES) executed in frames of code from `filename` while run() runs, counted
    per opcode with sys.settrace: in NumPy code nearly each is one NumPy dispatch (a ufunc or operator, a
    function, an index), while the few on Python numbers (a step index) count too. A tracer already set is
    put back afterwards."""
    count = 0
    code_bytes: dict = {}  # code object -> its bytecode (co_code builds a new bytes object per access)

    def trace(frame, event, _arg):
        nonlocal count
        code = frame.f_code
        if code.co_filename != filename:
            return None
        frame.f_trace_opcodes = True
        if event == "opcode":
            ops = code_bytes.get(code)
            if ops is None:
                ops = code_bytes[code] = code.co_code
            count += ops[frame.f_lasti] in OPERATION_OPCODES
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        run()
    finally:
        sys.settrace(previous)
    return count
