"""What only torch-compile has: its compilations (bounded over lengths and batch sizes, counted, never a
silent fall-back to eager) and its arithmetic under inductor, the backend the benchmark measures. The
cross-implementation suite (test_conformance.py) runs it through a lighter backend (tests/conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import tolerances
from helpers import assert_params_close, random_params

import impls

torch = pytest.importorskip("torch", reason="torch-compile needs torch: pip install 'rnnbench[torch]'")

from impls import torch_compile

CONFIG = impls.ModelConfig(vocab_size=7, hidden_size=5, num_classes=3, dtype="float64")


@pytest.fixture(autouse=True)
def fresh_functions():
    """No compiled functions shared from earlier tests: the compilations a test counts are its own."""
    torch_compile.functions.cache_clear()


def batch_of(lengths: list[int], seed: int) -> impls.Batch:
    """Records of the given lengths, padded to the longest."""
    rng = np.random.default_rng(seed)
    sequences = [rng.integers(0, CONFIG.vocab_size, size=n) for n in lengths]
    return impls.Batch.from_sequences(sequences, rng.integers(0, CONFIG.num_classes, size=len(lengths)))


@pytest.mark.parametrize(("T", "bucket"), [(1, 8), (5, 8), (8, 8), (9, 16), (16, 16), (17, 32), (100, 128)])
def test_compile_bucket(T, bucket):
    assert impls.core.compile_bucket(T) == bucket


def test_lengths_and_batch_sizes_within_a_bucket_compile_once():
    """Six steps of six lengths (2..8, one bucket) and four batch sizes above one, with Adam's bias
    corrections changing every step: one compilation of the step, not one per length, size or step."""
    model = impls.load("torch-compile", CONFIG, random_params(CONFIG, seed=1), optimizer=impls.Adam(lr=0.01))
    for step, (B, T) in enumerate([(2, 2), (3, 5), (4, 8), (2, 7), (5, 3), (3, 6)]):
        model.train_step(batch_of([T] + [1 + (T + i) % T for i in range(B - 1)], seed=step))
    assert model.trace_counts == {"logits": 0, "loss_and_grads": 0, "train_step": 1}
    assert model.compile_count == 1
    assert model.compile_seconds > 0


def test_each_bucket_compiles_once():
    """Lengths in three buckets, each seen twice: three compilations, counted per function."""
    model = impls.load("torch-compile", CONFIG, random_params(CONFIG, seed=2))
    for step, T in enumerate([3, 12, 20, 5, 14, 31]):
        model.train_step(batch_of([T, 1, 2], seed=step))
    assert model.trace_counts["train_step"] == 3


def test_a_second_model_with_the_same_key_compiles_nothing_and_one_with_another_key_its_own():
    """Models of one config, optimizer, clip, device and backend share the compiled functions: the second
    one's step compiles nothing and counts nothing; a model with another optimizer compiles, and counts it."""
    batch = batch_of([4, 2], seed=3)
    first, second = (impls.load("torch-compile", CONFIG, random_params(CONFIG, seed=4)) for _ in range(2))
    other = impls.load("torch-compile", CONFIG, random_params(CONFIG, seed=4), optimizer=impls.SGD(lr=0.5))
    first.train_step(batch)
    second.train_step(batch)
    other.train_step(batch)
    assert (first.compile_count, second.compile_count, other.compile_count) == (1, 0, 1)
    assert_params_close(second.get_params(), first.get_params(), tolerances.FLOAT64, "a model on shared functions")


def test_recompile_limit_fails_instead_of_falling_back_to_eager(monkeypatch):
    """Past its recompile limit a compiled function would run eagerly, unnoticed: here it raises."""
    monkeypatch.setattr(torch_compile, "RECOMPILE_LIMIT", 1)
    model = impls.load("torch-compile", CONFIG, random_params(CONFIG, seed=5))
    model.train_step(batch_of([3, 2], seed=6))
    with pytest.raises(torch._dynamo.exc.FailOnRecompileLimitHit):
        model.train_step(batch_of([12, 2], seed=7))  # a second bucket: a second compilation


def test_trajectory_under_inductor_matches_the_reference(inductor_backend):
    """The benchmark's backend: K steps of Adam with norm clipping, over two buckets and B = 1 and 3, agree
    with the float64 NumPy reference after every step."""
    assert inductor_backend == "inductor"
    params = random_params(CONFIG, seed=8)
    options = {"optimizer": impls.Adam(lr=0.02), "clip": impls.ClipNorm(0.1)}
    model = impls.load("torch-compile", CONFIG, params, **options)
    ref = impls.load("numpy-bptt", CONFIG, params, **options)
    for step, lengths in enumerate([[5, 2, 3], [4], [11, 9, 1], [6, 6, 6]]):
        batch = batch_of(lengths, seed=10 + step)
        loss, ref_loss = model.train_step(batch), ref.train_step(batch)
        assert abs(loss - ref_loss) <= tolerances.FLOAT64 * max(1.0, abs(ref_loss)), f"step {step}"
        assert_params_close(model.get_params(), ref.get_params(), tolerances.FLOAT64, f"after step {step + 1}")
    assert model.trace_counts["train_step"] <= 4  # (bucket 8 or 16) x (B = 1 or not) x (masked or not), as met


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_trajectory_on_cuda_matches_the_reference():
    """On CUDA: the batch goes over in one copy, Adam's bias corrections each step; float64 agreement."""
    params = random_params(CONFIG, seed=9)
    options = {"optimizer": impls.Adam(lr=0.02), "clip": impls.ClipValue(0.02)}
    model = impls.load("torch-compile", CONFIG, params, device="cuda", **options)
    ref = impls.load("numpy-bptt", CONFIG, params, **options)
    for step, lengths in enumerate([[5, 2, 3], [4], [11, 9, 1]]):
        batch = batch_of(lengths, seed=20 + step)
        loss, ref_loss = model.train_step(batch), ref.train_step(batch)
        assert abs(loss - ref_loss) <= tolerances.FLOAT64 * max(1.0, abs(ref_loss)), f"step {step}"
        assert_params_close(model.get_params(), ref.get_params(), tolerances.FLOAT64, f"after step {step + 1}")
