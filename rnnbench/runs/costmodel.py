"""What a training step should cost: FLOPs from the shapes, and the fit time(B) = overhead + B * marginal.

FLOPs of one SGD training step on a batch of B records, every record of length T (a multiply-add is
2 FLOPs; tanh, exp and log count 1 each; gathers and copies count 0). The model FLOPs, not what an
implementation executes: numpy-bptt's one-hot matmul for dW_xh, or padding, cost more.

    per record, forward:   T * (2H^2 + 3H)       h_t = tanh(W_xh[:, x_t] + W_hh h_{t-1} + b_h):
                                                 W_hh h (2H^2), + x-column (H), + b_h (H), tanh (H)
                           + 2CH + C              logits = W_hy h_T + b_y
                           + 4C                   loss: max, subtract-and-exp, sum, log and pick
    per record, backward:  3C                     dlogits = softmax - onehot(y), / B
                           + 4CH + C              dW_hy += dlogits h_T^T (2CH), dh_T = W_hy^T dlogits (2CH), db_y
                           + T * (4H^2 + 5H)      dz = dh * (1 - h^2) (3H), dh = W_hh^T dz (2H^2),
                                                  dW_hh += dz h^T (2H^2), db_h += dz (H), dW_xh[:, x_t] += dz (H)
    per step, update:      2P                     theta -= lr * g for all P parameters (plain SGD)
                           P = HV + H^2 + H + CH + C

so a step costs B * (6 T H^2 + 8 T H + 6 C H + 9 C) + 2P: the recurrent matmuls (6 T H^2 per record)
dominate. The per-record figure below is flops_per_step / B.

Memory of one training step: the BPTT activation cache, what backpropagation through time must keep
from the forward pass until the backward pass has used it (4 bytes per float32 number):

    hidden states          (T + 1) * B * H        h_0 (zeros) .. h_T, each (B, H)
    pre-activation /       T * B * H              z_t or the derivative (1 - h_t^2) of each step, (B, H)
    derivative buffer
    cache bytes            4 * (2T + 1) * B * H

It is the only part of a step's memory that grows with B x T x H. The parameters, their gradients
and the optimizer's state (a few times 4P bytes) do not depend on B or T; the tokens (B x T integers),
the logits and their gradient (B x C each) and the per-step temporaries of the backward pass (a few
B x H arrays) grow with B but not with T x H, and stay small beside the cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def step_flops(hidden: int, vocab: int, classes: int, seq_len: int, batch: int) -> dict[str, float]:
    """FLOPs of one training step (see the module docstring): forward, backward, update, total, per_record."""
    H, V, C, T, B = hidden, vocab, classes, seq_len, batch
    forward = T * (2 * H * H + 3 * H) + 2 * C * H + C + 4 * C
    backward = 3 * C + 4 * C * H + C + T * (4 * H * H + 5 * H)
    params = H * V + H * H + H + C * H + C
    update = 2 * params
    total = B * (forward + backward) + update
    return {
        "forward_per_record": float(forward),
        "backward_per_record": float(backward),
        "update_per_step": float(update),
        "flops_per_step": float(total),
        "flops_per_record": float(total) / B,
    }


def bptt_cache_bytes(hidden: int, seq_len: int, batch: int, itemsize: int = 4) -> int:
    """Bytes of the BPTT activation cache of one step (see the module docstring):
    itemsize * ((T + 1) * B * H hidden states + T * B * H pre-activation / derivative buffer)."""
    H, T, B = hidden, seq_len, batch
    return itemsize * ((T + 1) * B * H + T * B * H)


@dataclass(frozen=True)
class LineFit:
    """time_per_step(B) = overhead + B * marginal (seconds), fitted to (B, median step seconds) points.

    crossover: B* = overhead / marginal, the batch size from which the marginal per-record work is
    the larger part of a step (NaN when a term is not positive). max_rel_residual: the worst
    |fitted - measured| / measured over the points; n: how many points.
    """

    overhead: float
    marginal: float
    crossover: float
    max_rel_residual: float
    n: int

    def overhead_fraction(self, batch: float) -> float:
        """Share of a step at this batch size that the fit puts in fixed overhead."""
        return self.overhead / (self.overhead + batch * self.marginal)


def fit_overhead_marginal(batch: Sequence[float], seconds: Sequence[float]) -> LineFit:
    """Least squares on relative error: minimise sum ((a + b B_i - t_i) / t_i)^2 over a, b.

    Relative weighting makes the B=1 point count as much as the B=512 one, whose absolute time is
    hundreds of times larger; fit the medians of each point, not raw samples (robust to outliers).
    Exact data (t = a + b B) is recovered exactly. Needs at least two distinct batch sizes.
    """
    B = np.asarray(batch, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    keep = np.isfinite(B) & np.isfinite(t) & (t > 0)
    B, t = B[keep], t[keep]
    if B.size < 2 or np.unique(B).size < 2:
        nan = float("nan")
        return LineFit(nan, nan, nan, nan, int(B.size))
    design = np.stack([np.ones_like(B), B], axis=1) / t[:, None]  # (n, 2): rows [1, B_i] / t_i
    (a, b), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    resid = np.abs(a + b * B - t) / t
    crossover = a / b if a > 0 and b > 0 else math.nan
    return LineFit(float(a), float(b), float(crossover), float(resid.max()), int(B.size))


def fit_failure(overhead: float, marginal: float, batch_min: int, batch_max: int) -> str | None:
    """Why a fitted line describes no step (None when it does): a step cannot cost less than nothing, so
    a negative (or zero) marginal cost or overhead means the measured time per step did not follow
    overhead + B x marginal over batch_min..batch_max (noise, or a cost that falls with B)."""
    if not (math.isfinite(overhead) and math.isfinite(marginal)):
        return "no line could be fitted"
    if marginal <= 0:
        return (
            f"the marginal cost per record came out {'negative' if marginal < 0 else 'zero'}: the time per step "
            f"does not grow with B over B={batch_min}-{batch_max}"
        )
    if overhead <= 0:
        return f"the overhead per step came out {'negative' if overhead < 0 else 'zero'}: no fixed cost to split off"
    return None
