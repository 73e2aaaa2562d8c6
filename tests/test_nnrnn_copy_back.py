"""torch-nnrnn's copy-back path, on the CPU.

On CUDA cuDNN keeps nn.RNN's weights in a buffer of its own, so torch-nnrnn copies the canonical values
into the nn modules when it is built and after every update; on the CPU the modules' parameters are views
of the flat buffer the optimizer updates, and that path never runs. Here it is forced on the CPU, so that
the CPU suite sees it: K steps must equal the NumPy reference's, and the modules must hold get_params().
"""

from __future__ import annotations

import numpy as np
import pytest
import tolerances
from helpers import assert_close, assert_params_close, ragged_batch, random_params

import impls

torch = pytest.importorskip("torch", reason="torch-nnrnn needs torch: pip install 'rnnbench[torch]'")

from impls.torch_nnrnn import NN_NAMES, TorchNNRNN

OPTIMIZERS = {
    "sgd": impls.SGD(lr=0.3),
    "momentum": impls.SGD(lr=0.1, momentum=0.9),
    "adam": impls.Adam(lr=0.02),
}
B, T, K = 6, 5, 4


class CopyBackNNRNN(TorchNNRNN):
    """torch-nnrnn as it runs on CUDA, on the CPU: `aliased` reads False whatever _build sets it to, so
    the modules get tensors of their own, filled from the flat buffer at build and after each update."""

    @property
    def aliased(self) -> bool:
        return False

    @aliased.setter
    def aliased(self, value: bool) -> None:
        pass  # _build sets it from the device type; the CPU would alias


def held_tensors(model: TorchNNRNN) -> dict[str, torch.Tensor]:
    """The nn modules' tensors that hold each canonical parameter, keyed like Params."""
    return {
        name: getattr(getattr(model, module), attr)
        for name, (module, attr) in zip(impls.PARAM_NAMES, NN_NAMES, strict=True)
    }


def test_forced_copy_back_does_not_alias_the_flat_buffer():
    """Without this the tests below would exercise the aliased path again."""
    config = impls.ModelConfig(7, 5, 3, dtype="float64")
    model = CopyBackNNRNN(config, random_params(config))
    flat = model.flat.untyped_storage().data_ptr()
    for name, tensor in held_tensors(model).items():
        assert tensor.untyped_storage().data_ptr() != flat, f"{name} shares the flat buffer's memory"


@pytest.mark.parametrize("layout", ["ragged", "full"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_copied_back_steps_match_reference(optimizer, layout):
    """K steps with the modules updated by copy: the reference's losses, logits and parameters after each
    step, and the modules hold exactly get_params()."""
    config = impls.ModelConfig(7, 5, 3, nonlinearity="relu", dtype="float64")
    params = random_params(config, seed=21)
    model = CopyBackNNRNN(config, params, optimizer=OPTIMIZERS[optimizer])
    ref = impls.load("numpy-bptt", config, params, optimizer=OPTIMIZERS[optimizer])
    for step in range(K):
        batch = ragged_batch(config, B, T, seed=30 + step)
        if layout == "full":
            batch = impls.Batch(batch.tokens, np.full(B, T), batch.labels)
        assert_close(model.logits(batch), ref.logits(batch), tolerances.FLOAT64, f"logits before step {step + 1}")
        loss, ref_loss = model.train_step(batch), ref.train_step(batch)
        assert abs(loss - ref_loss) <= tolerances.FLOAT64 * abs(ref_loss), f"step {step + 1}: {loss} != {ref_loss}"
        assert_params_close(model.get_params(), ref.get_params(), tolerances.FLOAT64, f"after step {step + 1}")
    got = model.get_params()
    assert not np.array_equal(got["W_hh"], params["W_hh"])  # it did train
    for name, tensor in held_tensors(model).items():
        np.testing.assert_array_equal(tensor.detach().numpy(), got[name], err_msg=name)
    assert torch.count_nonzero(model.rnn.bias_hh_l0).item() == 0
