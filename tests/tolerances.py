"""Agreement tolerances of the tests: the conformance cases' (rnnbench.conformance.tolerances, shared with
`rnnbench check`), and the memory ceilings of tests/test_memory.py."""

from rnnbench.conformance.tolerances import FLOAT32_STEP, FLOAT32_TRAJECTORY, FLOAT64

__all__ = ["FLOAT32_STEP", "FLOAT32_TRAJECTORY", "FLOAT64", "STEP_MEMORY_PER_CACHE"]

# Ceiling of a step's peak memory over its BPTT cache (rnnbench.runs.costmodel.bptt_cache_bytes) at H=32, T=8,
# B=128, V=20, float32 (tests/test_memory.py). Beside the cache a step holds gradients and temporaries of
# its shapes: numpy-bptt the (T, B, H) dz buffer's share, torch-nnrnn also the (T*B, V) one-hot input,
# jax-scan XLA's temporaries and its unaliased arguments. Measured (2026-11-22, this machine): numpy-bptt
# 1.52, torch-autograd 1.00, jax-scan 2.49, torch-nnrnn 1.76; counting allocations without frees gave
# torch-autograd 3.42 and torch-nnrnn 3.96, which these ceilings refuse.
STEP_MEMORY_PER_CACHE: dict[str, float] = {
    "numpy-bptt": 2.0,
    "torch-autograd": 1.5,
    "jax-scan": 3.0,
    "torch-nnrnn": 2.5,
    "torch-compile": 2.5,
}
