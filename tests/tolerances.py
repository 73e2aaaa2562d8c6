"""Agreement tolerances of the conformance suite, in one place (relative to each array's scale, see helpers.rel_err).

float64: every implementation agrees with the float64 NumPy reference to FLOAT64 (DESIGN.md §5).
float32: each implementation in float32 is compared with the float64 reference, that is with the
exact answer, so the tolerance is its own float32 rounding error. FLOAT32_STEP covers one forward and
backward pass and one update; FLOAT32_TRAJECTORY a K-step run (Adam divides by sqrt(s), which
enlarges rounding error on entries whose gradient is small).
"""

FLOAT64 = 1e-10

FLOAT32_STEP: dict[str, float] = {
    "numpy-bptt": 1e-5,
    "torch-autograd": 1e-5,
    "jax-scan": 1e-5,
    "torch-nnrnn": 1e-5,
}

FLOAT32_TRAJECTORY: dict[str, float] = {
    "numpy-bptt": 1e-4,
    "torch-autograd": 1e-4,
    "jax-scan": 1e-4,
    "torch-nnrnn": 1e-4,
}
