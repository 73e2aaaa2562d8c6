"""torch-autograd: a hand-written time loop over PyTorch tensors; gradients from autograd.

The forward is the canonical model written step by step (docs/DESIGN.md §1): one gather of W_xh's columns
for the whole batch (W_xh is held transposed, (V, H), so that the gather reads contiguous rows), then
for t = 0..T-1  h <- phi(x_t + h @ W_hh.T), a record's state frozen (torch.where with a (T, B, 1) mask)
once its length is reached, so the final h is h at each record's own length. The loss is
F.cross_entropy, i.e. mean(logsumexp(logits) - logits[y]) through log_softmax: the stable log-sum-exp
form, never softmax followed by log.

The device, batch, parameter and optimizer plumbing it shares with torch-nnrnn is in impls/torch_common.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from impls.core import PARAM_NAMES
from impls.torch_common import DeviceBatch, TorchImpl


def rnn_logits(p: dict[str, torch.Tensor], b: DeviceBatch, relu: bool) -> torch.Tensor:
    """The canonical forward -> logits (B, C) in p's dtype.

    p keyed like Params but with W_xh_T = W_xh.T (V, H) in place of W_xh; b on p's device.
    """
    phi = torch.relu if relu else torch.tanh
    xs = (F.embedding(b.tokens, p["W_xh_T"]) + p["b_h"]).unbind(0)  # T x (B, H): W_xh[:, x_t] + b_h
    alive = None
    if b.ragged:
        steps = torch.arange(len(xs), device=b.tokens.device)  # (T,)
        alive = (steps[:, None] < b.lengths[None, :])[:, :, None].unbind(0)  # T x (B, 1) bool
    W_hh_T = p["W_hh"].t()  # (H, H) view: h @ W_hh.T is W_hh @ h for each row
    h = phi(xs[0])  # (B, H): h_0 = 0, so step 0 needs no matmul (and every length is >= 1)
    for t in range(1, len(xs)):
        h_new = phi(torch.addmm(xs[t], h, W_hh_T))  # (B, H)
        h = h_new if alive is None else torch.where(alive[t], h_new, h)  # frozen past a record's length
    return torch.addmm(p["b_y"], h, p["W_hy"].t())  # (B, C)


class TorchAutograd(TorchImpl):
    """torch-autograd: see the module docstring. Devices "cpu" and "cuda"."""

    name = "torch-autograd"
    xh_transposed = True  # the gather of W_xh's columns reads rows of W_xh.T

    def _build(self) -> None:
        # The five parameters are leaf views of self.flat: autograd differentiates them, and the
        # optimizer's in-place update of self.flat is their update.
        self.trained = [self.views[k].requires_grad_() for k in PARAM_NAMES]
        self.p = dict(zip(("W_xh_T", *PARAM_NAMES[1:]), self.trained, strict=True))

    def _forward(self, b: DeviceBatch) -> torch.Tensor:
        return rnn_logits(self.p, b, self.relu)
