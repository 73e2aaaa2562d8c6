"""Step memory (RNNImpl.step_memory): what each implementation reports is a train_step's own peak, sized
like the BPTT cache, whatever was allocated before the step, and counted with frees as well as allocations.

A wrong accounting passes a loose check easily: one that sums allocation events and ignores frees still
grows with B about as the cache grows. So besides the growth test each implementation's peak is held to
a ceiling relative to the cache (tolerances.STEP_MEMORY_PER_CACHE), and the torch CPU accounting has a
unit test of its own.
"""

from __future__ import annotations

import importlib
import tracemalloc

import numpy as np
import pytest
import tolerances
from helpers import assert_params_close, ragged_batch, random_params

import impls

MIB = 1 << 20
# The reference shape of the memory tests: H = 32, T = 8, C = 4, V = 20, float32.
CONFIG = impls.ModelConfig(vocab_size=20, hidden_size=32, num_classes=4, dtype="float32")
SEQ_LEN = 8


def full_length_batch(config: impls.ModelConfig, batch: int, seq_len: int, seed: int) -> impls.Batch:
    """`batch` records of length seq_len each: no masking or packing, so the cache is exactly B x T x H."""
    tokens = np.random.default_rng(seed).integers(0, config.vocab_size, size=(batch, seq_len))
    return impls.Batch(tokens, np.full(batch, seq_len), tokens[:, -1] % config.num_classes)


def warm_peak(impl_name: str, batch_size: int) -> int:
    """step_memory of a second step at B = batch_size (the first call's set-up, such as compilation or
    lazily made buffers, is not the step's)."""
    model = impls.load(impl_name, CONFIG, impls.init_params(CONFIG, seed=0))
    batch = full_length_batch(CONFIG, batch_size, SEQ_LEN, seed=batch_size)
    model.train_step(batch)
    memory = model.step_memory(batch)
    assert isinstance(memory.peak_bytes, int), memory
    return memory.peak_bytes


def cache_bytes(batch_size: int) -> int:
    from rnnbench.runs.costmodel import bptt_cache_bytes

    return bptt_cache_bytes(CONFIG.hidden_size, SEQ_LEN, batch_size, itemsize=CONFIG.np_dtype.itemsize)


def test_step_memory_is_a_train_step(impl_name):
    config = impls.ModelConfig(7, 5, 3, dtype="float64")
    params = random_params(config, seed=15)
    batch = ragged_batch(config, 6, 5, seed=16)
    measured = impls.load(impl_name, config, params, optimizer=impls.SGD(lr=0.1))
    stepped = impls.load(impl_name, config, params, optimizer=impls.SGD(lr=0.1))
    memory = measured.step_memory(batch)
    stepped.train_step(batch)
    assert_params_close(measured.get_params(), stepped.get_params(), tolerances.FLOAT64, "after step_memory")
    assert isinstance(memory.peak_bytes, int), memory
    assert memory.peak_bytes > 0
    assert memory.method


def test_step_memory_grows_as_the_bptt_cache(impl_name):
    """From B=16 to B=128 a step's peak grows by the BPTT cache's growth (hidden states and
    pre-activations, 2 x B x T x H values) times a small factor (gradients and temporaries of those
    shapes): at least 0.9x, at most 4x. More would mean something beyond the cache grows with B."""
    small, large = warm_peak(impl_name, 16), warm_peak(impl_name, 128)
    growth = (large - small) / (cache_bytes(128) - cache_bytes(16))
    assert 0.9 <= growth <= 4.0, f"peaks {small}, {large}: grew {growth:.2f}x the cache's growth"


def test_step_peak_is_near_the_bptt_cache(impl_name):
    """At B=128 the peak holds at least the cache (0.9x), and at most the implementation's ceiling: what its
    step keeps alive beside the cache (gradients of the cache's shape, nn.RNN's one-hot input, XLA's
    temporaries) has a known size, and an accounting that counts allocations but not frees exceeds it."""
    ratio = warm_peak(impl_name, 128) / cache_bytes(128)
    ceiling = tolerances.STEP_MEMORY_PER_CACHE[impl_name]
    assert 0.9 <= ratio <= ceiling, f"peak is {ratio:.2f}x the BPTT cache; expected 0.9x to {ceiling}x"


@pytest.fixture
def caller_tracing():
    """tracemalloc already running when step_memory is called (as under a memory profiler); stopped after."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    yield
    if not was_tracing:
        tracemalloc.stop()


@pytest.mark.usefixtures("caller_tracing")
def test_memory_live_before_the_step_is_not_counted(impl_name):
    """A large array allocated before the step, and alive through it, is not part of the step's peak (the
    peak is counted from what was in use when the step began, and that includes a caller's trace)."""
    model = impls.load(impl_name, CONFIG, impls.init_params(CONFIG, seed=0))
    batch = full_length_batch(CONFIG, 16, SEQ_LEN, seed=16)
    model.train_step(batch)
    live = np.ones(8 * MIB, dtype=np.uint8)  # 8 MiB, some 200 times this step's own peak
    peak = model.step_memory(batch).peak_bytes
    assert tracemalloc.is_tracing(), "step_memory stopped the caller's trace"
    assert live.all()  # alive until after the step
    assert 0 < peak < MIB, f"step peak {peak} B: the {live.nbytes} B allocated before the step were counted"


def _cpu_allocation_peak():
    """torch's CPU allocator accounting: torch-autograd's, or that of the shared torch module if it moved there."""
    pytest.importorskip("torch", reason="the torch CPU allocator accounting needs torch: pip install 'rnnbench[torch]'")
    found = getattr(importlib.import_module("impls.torch_autograd"), "cpu_allocation_peak", None)
    return found or importlib.import_module("impls.torch_common").cpu_allocation_peak


def test_cpu_allocation_peak_counts_frees():
    """Allocating and freeing 1 MiB ten times over holds 1 MiB at most at once, not 10 MiB."""
    cpu_allocation_peak = _cpu_allocation_peak()  # skips where torch is not installed
    import torch

    def churn() -> None:
        for _ in range(10):
            block = torch.ones(MIB, dtype=torch.uint8)
            assert int(block[-1]) == 1
            del block  # freed before the next one is allocated

    peak = cpu_allocation_peak(churn)
    assert MIB <= peak < 2 * MIB, f"peak {peak} B for ten 1 MiB blocks, each freed before the next"
