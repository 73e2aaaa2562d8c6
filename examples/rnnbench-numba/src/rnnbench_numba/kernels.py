"""The compiled kernels of numba-loops: forward, backpropagation through time, clipping and the optimizer
update, in explicit loops, as a C programmer would write them (one record at a time, one hidden unit at
a time), compiled by Numba in float32 or float64 (one compilation per dtype, at the first call).

All parameters live in one flat vector theta (P,), in this order (the layout the kernels share):

    W_xh^T (V, H)   held transposed, so that the input column W_xh[:, x_t] is a contiguous row
    W_hh   (H, H)
    b_h    (H,)
    W_hy   (C, H)
    b_y    (C,)

so that the gradient g, the optimizer's state (m, s) and the update are each one vector and one loop.
The four are the rows of one array, state (4, P): theta, g, m, s. The training kernel's settings are two
small arrays, as a C program would pass two structs: ints (SETTINGS_INT) and floats (SETTINGS_FLOAT);
fewer arguments make a cheaper call from Python, which is most of a small step.
A batch is packed (impl.pack) as every record's own tokens back to back, with where each record starts:
no padding is stored or read, so ragged batches need no mask. Every product has a contiguous inner loop:
z_i = sum_j W_hh[i, j] h_j reads row i; the backward dh_j = sum_i dz_i W_hh[i, j] is a sum of rows.
"""

from __future__ import annotations

import math

import numba
import numpy as np

SGD, MOMENTUM, ADAM = 0, 1, 2  # optimizer codes
NO_CLIP, CLIP_VALUE, CLIP_NORM = 0, 1, 2  # clip codes
CLIP_NORM_EPS = 1e-6  # impls.core.CLIP_NORM_EPS: torch.nn.utils.clip_grad_norm_'s
THETA, GRAD, M, S = 0, 1, 2, 3  # rows of state
# ints: V, H, C, relu (0/1), optimizer code, clip code, steps taken (Adam's t, advanced by train), T_max
SETTINGS_INT = ("V", "H", "C", "relu", "optimizer", "clip", "steps", "t_max")
# floats: lr, momentum, beta1, beta2, eps, clip threshold
SETTINGS_FLOAT = ("lr", "momentum", "beta1", "beta2", "eps", "threshold")


def offsets(V: int, H: int, C: int) -> tuple[int, int, int, int, int, int]:
    """Where W_xh^T, W_hh, b_h, W_hy, b_y start in theta, and P, its length."""
    o_hh = V * H
    o_bh = o_hh + H * H
    o_hy = o_bh + H
    o_by = o_hy + C * H
    return 0, o_hh, o_bh, o_hy, o_by, o_by + C


offsets_jit = numba.njit(offsets)


@numba.njit(cache=False)
def forward(tokens, start, L, theta, V, H, C, relu, hs, logits):
    """One record's forward pass: tokens[start:start+L] -> hs (L+1, H) rows 0..L (hs[0] = 0), logits (C,)."""
    _, o_hh, o_bh, o_hy, o_by, _ = offsets_jit(V, H, C)
    W_xh_T = theta[0:o_hh].reshape((V, H))
    W_hh = theta[o_hh:o_bh].reshape((H, H))
    W_hy = theta[o_hy:o_by].reshape((C, H))
    for i in range(H):
        hs[0, i] = 0.0
    for t in range(L):
        x = tokens[start + t]
        for i in range(H):
            z = theta[o_bh + i] + W_xh_T[x, i]
            if t > 0:  # h_0 = 0: step 0 has no recurrent term
                for j in range(H):
                    z += W_hh[i, j] * hs[t, j]
            hs[t + 1, i] = max(z, 0.0) if relu else math.tanh(z)
    for c in range(C):
        y = theta[o_by + c]
        for j in range(H):
            y += W_hy[c, j] * hs[L, j]
        logits[c] = y


@numba.njit(cache=False)
def record_backward(tokens, start, L, label, scale, theta, g, V, H, C, relu, hs, logits, dh, dz):
    """Add one record's gradient, times `scale` (1/B: the batch's mean), to g; return its loss.

    hs and logits from forward; dh, dz (H,) are work space."""
    _, o_hh, o_bh, o_hy, o_by, _ = offsets_jit(V, H, C)
    W_hh = theta[o_hh:o_bh].reshape((H, H))
    W_hy = theta[o_hy:o_by].reshape((C, H))
    gW_xh_T = g[0:o_hh].reshape((V, H))
    gW_hh = g[o_hh:o_bh].reshape((H, H))
    gW_hy = g[o_hy:o_by].reshape((C, H))
    top = logits[0]
    for c in range(1, C):
        top = max(top, logits[c])
    total = 0.0
    for c in range(C):
        total += math.exp(logits[c] - top)
    loss = math.log(total) - (logits[label] - top)  # log-sum-exp, stable for large logits
    for j in range(H):
        dh[j] = 0.0
    for c in range(C):
        d = math.exp(logits[c] - top) / total  # softmax - onehot(label), times the scale
        if c == label:
            d -= 1.0
        d *= scale
        g[o_by + c] += d
        for j in range(H):
            gW_hy[c, j] += d * hs[L, j]
            dh[j] += d * W_hy[c, j]
    for t in range(L - 1, -1, -1):
        x = tokens[start + t]
        for i in range(H):
            h = hs[t + 1, i]
            dz[i] = dh[i] * ((1.0 if h > 0.0 else 0.0) if relu else 1.0 - h * h)
            g[o_bh + i] += dz[i]
            gW_xh_T[x, i] += dz[i]
        if t == 0:
            break  # h_0 = 0: no recurrent gradient, nothing to pass further back
        for j in range(H):
            dh[j] = 0.0
        for i in range(H):
            d = dz[i]
            for j in range(H):
                gW_hh[i, j] += d * hs[t, j]
                dh[j] += d * W_hh[i, j]  # W_hh^T dz, as a sum of W_hh's rows
    return loss


@numba.njit(cache=False)
def batch_grads(tokens, rec_start, labels, r0, r1, theta, g, V, H, C, relu, hs, logits, dh, dz):
    """g = the gradient of the mean loss over records r0..r1-1; returns that mean loss."""
    for k in range(g.shape[0]):
        g[k] = 0.0
    n = r1 - r0
    loss = 0.0
    for r in range(r0, r1):
        start, L = rec_start[r], rec_start[r + 1] - rec_start[r]
        forward(tokens, start, L, theta, V, H, C, relu, hs, logits)
        loss += record_backward(tokens, start, L, labels[r], 1.0 / n, theta, g, V, H, C, relu, hs, logits, dh, dz)
    return loss / n


@numba.njit(cache=False)
def clip(g, kind, threshold):
    """docs/DESIGN.md §3: element-wise to [-threshold, threshold], or scaled to a global norm of threshold."""
    if kind == CLIP_VALUE:
        for k in range(g.shape[0]):
            g[k] = min(max(g[k], -threshold), threshold)
    elif kind == CLIP_NORM:
        norm = 0.0
        for k in range(g.shape[0]):
            norm += float(g[k]) * float(g[k])
        scale = min(1.0, threshold / (math.sqrt(norm) + CLIP_NORM_EPS))
        if scale < 1.0:
            for k in range(g.shape[0]):
                g[k] *= scale


@numba.njit(cache=False)
def update(theta, g, m, s, kind, hyper, step):
    """One optimizer step (docs/DESIGN.md §3). hyper: SETTINGS_FLOAT (lr, momentum, beta1, beta2, eps);
    step: the step's number, from 1 (Adam's bias correction)."""
    lr = hyper[0]
    if kind == SGD:
        for k in range(theta.shape[0]):
            theta[k] -= lr * g[k]
    elif kind == MOMENTUM:
        mu = hyper[1]
        for k in range(theta.shape[0]):
            m[k] = mu * m[k] + g[k]
            theta[k] -= lr * m[k]
    else:
        b1, b2, eps = hyper[2], hyper[3], hyper[4]
        bias1, bias2 = 1.0 - b1**step, 1.0 - b2**step
        for k in range(theta.shape[0]):
            m[k] = b1 * m[k] + (1.0 - b1) * g[k]
            s[k] = b2 * s[k] + (1.0 - b2) * (g[k] * g[k])
            theta[k] -= lr * (m[k] / bias1) / (math.sqrt(s[k] / bias2) + eps)


@numba.njit(cache=False)
def train(tokens, rec_start, labels, batch_start, state, ints, floats):
    """One training step per batch (records batch_start[k]..batch_start[k+1]-1), in order: gradient of the
    mean loss, clipping, update. Returns each batch's loss before its update, (K,) float64."""
    V, H, C, relu, opt, clip_kind, t_max = ints[0], ints[1], ints[2], ints[3] != 0, ints[4], ints[5], ints[7]
    theta, g, m, s = state[THETA], state[GRAD], state[M], state[S]
    K = batch_start.shape[0] - 1
    hs = np.empty((t_max + 1, H), dtype=state.dtype)
    logits = np.empty(C, dtype=state.dtype)
    dh = np.empty(H, dtype=state.dtype)
    dz = np.empty(H, dtype=state.dtype)
    losses = np.empty(K)
    for k in range(K):
        losses[k] = batch_grads(
            tokens, rec_start, labels, batch_start[k], batch_start[k + 1], theta, g, V, H, C, relu, hs, logits, dh, dz
        )
        clip(g, clip_kind, floats[5])
        ints[6] += 1
        update(theta, g, m, s, opt, floats, ints[6])
    return losses


@numba.njit(cache=False)
def loss_and_grads(tokens, rec_start, labels, theta, g, V, H, C, relu, t_max):
    """The mean loss of one packed batch, and its gradient in g."""
    hs = np.empty((t_max + 1, H), dtype=theta.dtype)
    logits = np.empty(C, dtype=theta.dtype)
    dh = np.empty(H, dtype=theta.dtype)
    dz = np.empty(H, dtype=theta.dtype)
    return batch_grads(tokens, rec_start, labels, 0, labels.shape[0], theta, g, V, H, C, relu, hs, logits, dh, dz)


@numba.njit(cache=False)
def all_logits(tokens, rec_start, theta, V, H, C, relu, t_max):
    """Logits (N, C) of every record of a packed batch."""
    N = rec_start.shape[0] - 1
    hs = np.empty((t_max + 1, H), dtype=theta.dtype)
    out = np.empty((N, C), dtype=theta.dtype)
    for r in range(N):
        forward(tokens, rec_start[r], rec_start[r + 1] - rec_start[r], theta, V, H, C, relu, hs, out[r])
    return out
