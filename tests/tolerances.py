"""Agreement tolerances of the conformance suite, in one place (relative to each array's scale, see helpers.rel_err).

float64: every implementation agrees with the float64 NumPy reference to FLOAT64 (docs/DESIGN.md §5).
float32: each implementation in float32 is compared with the float64 reference, that is with the
exact answer, so the tolerance bounds its own float32 rounding error. FLOAT32_STEP covers logits,
loss and gradients of one pass; FLOAT32_TRAJECTORY the parameters after every step of a K-step run.
Largest errors measured over the conformance cases (2026-11-22, this machine), for the margin:
numpy-bptt 3.0e-7 / 1.4e-7, torch-autograd 2.4e-7 / 1.4e-7, jax-scan 4.5e-7 / 1.6e-7,
torch-nnrnn 1.8e-7 / 1.4e-7 (step / trajectory). float32's unit roundoff is 6e-8.
"""

FLOAT64 = 1e-10

FLOAT32_STEP: dict[str, float] = {
    "numpy-bptt": 3e-6,
    "torch-autograd": 3e-6,
    "jax-scan": 3e-6,
    "torch-nnrnn": 3e-6,
    "torch-compile": 3e-6,
}

FLOAT32_TRAJECTORY: dict[str, float] = {
    "numpy-bptt": 2e-6,
    "torch-autograd": 2e-6,
    "jax-scan": 2e-6,
    "torch-nnrnn": 2e-6,
    "torch-compile": 2e-6,
}

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
