"""torch-nnrnn: torch.nn.RNN plus a torch.nn.Linear head; gradients from autograd.

Mapping onto the canonical model (docs/DESIGN.md §1):

    nn.RNN(input_size=V, hidden_size=H):  weight_ih_l0 = W_xh (H, V), weight_hh_l0 = W_hh (H, H),
                                          bias_ih_l0 = b_h (H,), bias_hh_l0 = 0, never trained
    nn.Linear(H, C):                      weight = W_hy (C, H), bias = b_y (C,)

Input: nn.RNN multiplies its input by weight_ih, so it is given the one-hot vectors of the tokens,
making weight_ih exactly W_xh and W_ih @ onehot(x_t) exactly the column W_xh[:, x_t]. The one-hot
rows are made on the device by a scatter (no host sync), and only for real tokens when the batch is
ragged. This costs a (T*B, V) @ (V, H) product where a gather would do: the honest price of using
nn.RNN as it is, large for a word-level vocabulary.

Lengths: a ragged batch goes through `pack_padded_sequence(enforce_sorted=False)`, so nn.RNN's final
state h_n is h at each record's own length, in the batch's order; a batch whose records all have its
(trimmed) length T runs unpacked.

bias_hh_l0 is zero and outside the optimizer; it still requires grad, so its gradient (which equals
b_h's, as both are added to the same pre-activation) can be checked (tests/test_torch_specific.py).

Parameters and optimizer: see torch_common.TorchImpl. On the CPU the five trained nn parameters
are views of the flat buffer the optimizer updates; on CUDA cuDNN keeps nn.RNN's weights in a buffer
of its own layout, so they are copied from the flat buffer after each update (one multi-tensor copy).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from impls.core import PARAM_NAMES
from impls.torch_common import DeviceBatch, TorchImpl

# The nn attributes (module, name) that hold each canonical parameter, in PARAM_NAMES order.
NN_NAMES = (
    ("rnn", "weight_ih_l0"),
    ("rnn", "weight_hh_l0"),
    ("rnn", "bias_ih_l0"),
    ("head", "weight"),
    ("head", "bias"),
)


class TorchNNRNN(TorchImpl):
    """torch-nnrnn: see the module docstring. Devices "cpu" and "cuda"."""

    name = "torch-nnrnn"

    def _build(self) -> None:
        V, H, C = self.config.vocab_size, self.config.hidden_size, self.config.num_classes
        # Built on the meta device, then given memory: no random initialisation that we would overwrite
        # (and no draw from torch's global generator). to_empty lets nn.RNN flatten its weights for cuDNN.
        rnn = nn.RNN(V, H, nonlinearity=self.config.nonlinearity, batch_first=False, device="meta", dtype=self.dtype)
        self.rnn = rnn.to_empty(device=self.dev)
        self.head = nn.Linear(H, C, device="meta", dtype=self.dtype).to_empty(device=self.dev)
        self.aliased = self.dev.type == "cpu"
        with torch.no_grad():
            self.rnn.bias_hh_l0.zero_()
            for name, (module, attr) in zip(PARAM_NAMES, NN_NAMES, strict=True):
                if self.aliased:
                    setattr(getattr(self, module), attr, nn.Parameter(self.views[name]))  # shares memory
                else:
                    getattr(getattr(self, module), attr).copy_(self.views[name])
        self.trained = [getattr(getattr(self, module), attr) for module, attr in NN_NAMES]

    def _after_update(self) -> None:
        if not self.aliased:
            with torch.no_grad():
                torch._foreach_copy_(self.trained, self.view_list)

    def _one_hot(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (...) int64 -> (..., V) one-hot rows in the model dtype."""
        x = torch.zeros((*ids.shape, self.config.vocab_size), dtype=self.dtype, device=self.dev)
        return x.scatter_(-1, ids.unsqueeze(-1), 1.0)

    def _forward(self, b: DeviceBatch) -> torch.Tensor:
        if b.ragged:
            packed = pack_padded_sequence(b.tokens, b.lengths_host, enforce_sorted=False)  # ids of real tokens
            _, h_n = self.rnn(packed._replace(data=self._one_hot(packed.data)))  # data (sum of lengths, V)
        else:
            _, h_n = self.rnn(self._one_hot(b.tokens))  # input (T, B, V)
        return self.head(h_n[0])  # h_n (1, B, H): h at each record's own length -> logits (B, C)
