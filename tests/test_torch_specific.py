"""What only the torch implementations have: their code paths, nn.RNN's second bias, the fused optimizer
checked against torch.optim, threads, and CUDA. The cross-implementation suite is test_conformance.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import tolerances
from helpers import assert_close, assert_params_close, ragged_batch, random_params

import impls

torch = pytest.importorskip("torch", reason="the torch implementations need torch: pip install 'rnnbench[torch]'")

import torch.nn.functional as F
from torch.nn.utils import clip_grad_norm_, clip_grad_value_

from impls.torch_autograd import rnn_logits
from impls.torch_common import FlatOptimizer, batch_to_device

TORCH_IMPLS = ["torch-autograd", "torch-nnrnn"]
CUDA = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")]
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]
CUDA_IMPLS = [pytest.param(name, marks=CUDA) for name in TORCH_IMPLS]

OPTIMIZERS = {
    "sgd": impls.SGD(lr=0.3),
    "momentum": impls.SGD(lr=0.1, momentum=0.9),
    "adam": impls.Adam(lr=0.02),
}
CLIPS = {"noclip": None, "value": impls.ClipValue(0.02), "norm": impls.ClipNorm(0.1)}
B, T, K = 6, 5, 4


def config64(nonlinearity: str = "tanh") -> impls.ModelConfig:
    return impls.ModelConfig(vocab_size=7, hidden_size=5, num_classes=3, nonlinearity=nonlinearity, dtype="float64")


def batch_for(layout: str, config: impls.ModelConfig, seed: int = 0) -> impls.Batch:
    """The three input paths of the torch implementations.

    ragged: lengths 1..T (masking / packing); full: every length T (neither); overpadded: ragged and
    padded past its longest record with non-zero ids (trimmed away before the device sees it).
    """
    batch = ragged_batch(config, B, T, seed=seed)
    if layout == "full":
        return impls.Batch(batch.tokens, np.full(B, T), batch.labels)
    if layout == "overpadded":
        return batch.padded_to(T + 3, pad_id=config.vocab_size - 1)
    return batch


@pytest.fixture
def restore_torch_threads():
    """torch.set_num_threads is process-wide: put it back after the test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("layout", ["ragged", "full", "overpadded"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("name", TORCH_IMPLS)
def test_each_input_path_matches_reference(name, nonlinearity, layout):
    config = config64(nonlinearity)
    params = random_params(config, seed=1)
    batch = batch_for(layout, config, seed=2)
    model, ref = impls.load(name, config, params), impls.load("numpy-bptt", config, params)
    assert_close(model.logits(batch), ref.logits(batch), tolerances.FLOAT64, "logits")
    (loss, grads), (ref_loss, ref_grads) = model.loss_and_grads(batch), ref.loss_and_grads(batch)
    assert abs(loss - ref_loss) <= tolerances.FLOAT64 * abs(ref_loss)
    assert_params_close(grads, ref_grads, tolerances.FLOAT64, "grad")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", ["ragged", "full", "overpadded"])
def test_batch_to_device_trims_and_lays_out_time_major(layout, device):
    """tokens (T, B) with T the longest record's length, labels (B,); lengths only when some record is
    shorter than T. The tensors are the model's to use: on the CPU too they do not wrap the Batch's
    read-only arrays."""
    config = config64()
    batch = batch_for(layout, config, seed=3)
    longest = int(batch.lengths.max())
    b = batch_to_device(batch, torch.device(device))
    np.testing.assert_array_equal(b.tokens.cpu().numpy(), batch.tokens[:, :longest].T)
    np.testing.assert_array_equal(b.labels.cpu().numpy(), batch.labels)
    assert b.tokens.device.type == b.labels.device.type == device
    assert b.ragged == (layout != "full")
    if b.ragged:
        np.testing.assert_array_equal(b.lengths.cpu().numpy(), batch.lengths)
        assert b.lengths.device.type == device
        np.testing.assert_array_equal(b.lengths_host.numpy(), batch.lengths)
        assert b.lengths_host.device.type == "cpu"
    else:
        assert b.lengths is None
        assert b.lengths_host is None
    assert not np.shares_memory(b.tokens.cpu().numpy(), batch.tokens)
    assert not np.shares_memory(b.labels.cpu().numpy(), batch.labels)


@pytest.mark.parametrize("name", TORCH_IMPLS)
def test_length_one_batch_has_zero_W_hh_gradient(name):
    """With T = 1 W_hh is never used: its gradient is zeros (not None, not an error)."""
    config = config64()
    batch = impls.Batch(np.array([[1], [2]]), np.array([1, 1]), np.array([0, 2]))
    _, grads = impls.load(name, config, random_params(config)).loss_and_grads(batch)
    assert grads["W_hh"].shape == (5, 5)
    assert not grads["W_hh"].any()


@pytest.mark.parametrize("layout", ["ragged", "full"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_nnrnn_bias_hh_gradient_equals_b_h_gradient(nonlinearity, layout):
    """docs/DESIGN.md §1: nn.RNN's second bias, held at zero, has the gradient of b_h (= bias_ih)."""
    config = config64(nonlinearity)
    model = impls.load("torch-nnrnn", config, random_params(config, seed=4))
    batch = batch_for(layout, config, seed=5)
    g_hh, g_ih = torch.autograd.grad(model._loss(batch), [model.rnn.bias_hh_l0, model.rnn.bias_ih_l0])
    assert g_hh.abs().max() > 0
    assert_close(g_hh.numpy(), g_ih.numpy(), 1e-12, "grad bias_hh vs bias_ih")
    _, grads = model.loss_and_grads(batch)
    assert_close(g_hh.numpy(), grads["b_h"], 1e-12, "grad bias_hh vs b_h")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_nnrnn_modules_hold_the_trained_parameters(optimizer, device):
    """After steps, nn.RNN and nn.Linear hold exactly the canonical parameters, and bias_hh is still 0."""
    config = config64()
    params = random_params(config, seed=6)
    model = impls.load("torch-nnrnn", config, params, device=device, optimizer=OPTIMIZERS[optimizer])
    for step in range(K):
        model.train_step(ragged_batch(config, B, T, seed=step))
    p = model.get_params()
    assert not np.array_equal(p["W_hh"], params["W_hh"])  # it did train
    assert torch.count_nonzero(model.rnn.bias_hh_l0).item() == 0
    held = {
        "W_xh": model.rnn.weight_ih_l0,
        "W_hh": model.rnn.weight_hh_l0,
        "b_h": model.rnn.bias_ih_l0,
        "W_hy": model.head.weight,
        "b_y": model.head.bias,
    }
    for name, tensor in held.items():
        np.testing.assert_array_equal(tensor.detach().cpu().numpy(), p[name], err_msg=name)


@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_flat_optimizer_matches_torch_optim(optimizer, clip):
    """FlatOptimizer on one flat tensor == clip_grad_*_ and torch.optim on the five parameters apart."""
    spec, clip_spec = OPTIMIZERS[optimizer], CLIPS[clip]
    shapes = config64().param_shapes()
    rng = np.random.default_rng(7)
    start = [rng.standard_normal(shape) for shape in shapes.values()]
    oracle = [torch.nn.Parameter(torch.tensor(a)) for a in start]
    if isinstance(spec, impls.SGD):
        torch_opt = torch.optim.SGD(oracle, lr=spec.lr, momentum=spec.momentum)
    else:
        torch_opt = torch.optim.Adam(oracle, lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps)
    flat = torch.cat([torch.tensor(a).reshape(-1) for a in start])  # (N,)
    fused = FlatOptimizer(spec, clip_spec, flat)
    for step in range(K):
        grads = [0.1 * rng.standard_normal(shape) for shape in shapes.values()]
        for param, g in zip(oracle, grads, strict=True):
            param.grad = torch.tensor(g)
        if isinstance(clip_spec, impls.ClipValue):
            clip_grad_value_(oracle, clip_spec.value)
        elif isinstance(clip_spec, impls.ClipNorm):
            clip_grad_norm_(oracle, clip_spec.max_norm)
        torch_opt.step()
        fused.step(torch.cat([torch.tensor(g).reshape(-1) for g in grads]))
        expected = torch.cat([param.detach().reshape(-1) for param in oracle])
        assert_close(flat.numpy(), expected.numpy(), 1e-13, f"step {step}")


@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("name", TORCH_IMPLS)
def test_train_step_matches_torch_optim_oracle(name, optimizer, clip):
    """K train_steps == the same model trained the textbook way: .backward(), clip_grad_*_, torch.optim."""
    config = config64("relu")
    params = random_params(config, seed=8)
    spec, clip_spec = OPTIMIZERS[optimizer], CLIPS[clip]
    model = impls.load(name, config, params, optimizer=spec, clip=clip_spec)

    oracle = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
    oracle["W_xh_T"] = torch.nn.Parameter(torch.tensor(params["W_xh"].T.copy()))  # rnn_logits gathers rows
    del oracle["W_xh"]
    if isinstance(spec, impls.SGD):
        torch_opt = torch.optim.SGD(oracle.values(), lr=spec.lr, momentum=spec.momentum)
    else:
        torch_opt = torch.optim.Adam(oracle.values(), lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps)

    for step in range(K):
        batch = ragged_batch(config, B, T, seed=10 + step)
        loss = model.train_step(batch)
        b = batch_to_device(batch, torch.device("cpu"))
        torch_opt.zero_grad()
        oracle_loss = F.cross_entropy(rnn_logits(oracle, b, relu=True), b.labels)
        oracle_loss.backward()
        if isinstance(clip_spec, impls.ClipValue):
            clip_grad_value_(oracle.values(), clip_spec.value)
        elif isinstance(clip_spec, impls.ClipNorm):
            clip_grad_norm_(oracle.values(), clip_spec.max_norm)
        torch_opt.step()
        assert abs(loss - oracle_loss.item()) <= tolerances.FLOAT64 * abs(loss)
        expected = {k: v.detach().numpy() for k, v in oracle.items() if k != "W_xh_T"}
        expected["W_xh"] = oracle["W_xh_T"].detach().numpy().T
        assert_params_close(model.get_params(), expected, tolerances.FLOAT64, f"step {step}")


@pytest.mark.usefixtures("restore_torch_threads")
@pytest.mark.parametrize("name", TORCH_IMPLS)
def test_threads_set_and_reported(name):
    config = config64()
    model = impls.load(name, config, random_params(config), threads=1)
    assert torch.get_num_threads() == 1
    info = model.thread_info()
    assert info["requested"] == 1
    assert info["torch_threads"] == 1
    assert info["torch_interop_threads"] >= 1


@pytest.mark.parametrize("name", TORCH_IMPLS)
def test_loading_leaves_torch_generator_alone(name):
    """Creation from canonical parameters draws no random numbers (nn modules are built on 'meta')."""
    state = torch.random.get_rng_state()
    config = config64()
    impls.load(name, config, random_params(config))
    assert torch.equal(state, torch.random.get_rng_state())


# The flat-buffer optimizer path, and plain SGD's multi-tensor update of the parameters' views.
CUDA_OPTIONS = {
    "adam-norm": {"optimizer": impls.Adam(lr=0.02), "clip": impls.ClipNorm(0.1)},
    "sgd-noclip": {"optimizer": impls.SGD(lr=0.3)},
}


@pytest.mark.parametrize("options", list(CUDA_OPTIONS))
@pytest.mark.parametrize("name", CUDA_IMPLS)
def test_cuda_matches_cpu(name, options):
    """float64 on CUDA (cuDNN for nn.RNN) gives the CPU's logits, loss, grads and K-step parameters."""
    config = config64("tanh")
    params = random_params(config, seed=11)
    options = CUDA_OPTIONS[options]
    cpu = impls.load(name, config, params, **options)
    cuda = impls.load(name, config, params, device="cuda", **options)
    assert cuda.flat.device.type == "cuda"
    batch = ragged_batch(config, B, T, seed=12)
    assert_close(cuda.logits(batch), cpu.logits(batch), tolerances.FLOAT64, "logits")
    (loss, grads), (cpu_loss, cpu_grads) = cuda.loss_and_grads(batch), cpu.loss_and_grads(batch)
    assert abs(loss - cpu_loss) <= tolerances.FLOAT64 * abs(cpu_loss)
    assert_params_close(grads, cpu_grads, tolerances.FLOAT64, "grad")
    for step in range(K):
        batch = ragged_batch(config, B, T, seed=20 + step)
        cuda.train_step(batch)
        cpu.train_step(batch)
        cuda.sync()
        assert_params_close(cuda.get_params(), cpu.get_params(), tolerances.FLOAT64, f"step {step}")


@pytest.mark.parametrize("name", CUDA_IMPLS)
def test_cuda_sync_waits_for_queued_work(name):
    config = impls.ModelConfig(vocab_size=50, hidden_size=256, num_classes=10, dtype="float32")
    model = impls.load(name, config, impls.init_params(config), device="cuda")
    batch = ragged_batch(config, 512, 32, seed=13)
    model.train_step(batch)
    done = torch.cuda.Event()
    done.record()
    model.sync()
    assert done.query()


@pytest.mark.parametrize("name", CUDA_IMPLS)
def test_cuda_step_memory_counts_the_device_peak(name):
    """On CUDA the peak comes from the caching allocator's statistics and holds at least the BPTT cache."""
    from rnnbench.runs.costmodel import bptt_cache_bytes

    config = impls.ModelConfig(vocab_size=50, hidden_size=128, num_classes=10, dtype="float32")
    model = impls.load(name, config, impls.init_params(config), device="cuda")
    tokens = np.random.default_rng(14).integers(0, 50, size=(256, 16))
    batch = impls.Batch(tokens, np.full(256, 16), tokens[:, -1] % 10)
    model.train_step(batch)
    memory = model.step_memory(batch)
    assert "cuda" in memory.method
    assert memory.peak_bytes >= 0.9 * bptt_cache_bytes(128, 16, 256)
