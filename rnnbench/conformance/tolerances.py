"""Agreement tolerances of the conformance cases, in one place (relative to each array's scale, see
tools.rel_err).

float64: every implementation agrees with the float64 NumPy reference to FLOAT64 (docs/DESIGN.md §5).
float32: each implementation in float32 is compared with the float64 reference, that is with the
exact answer, so the tolerance bounds its own float32 rounding error. FLOAT32_STEP covers logits,
loss and gradients of one pass; FLOAT32_TRAJECTORY the parameters after every step of a K-step run.
An implementation not named here (another package's, docs/DESIGN.md §9) is held to the DEFAULT ones.
Largest errors measured over the conformance cases (2026-11-22, this machine), for the margin:
numpy-bptt 3.0e-7 / 1.4e-7, torch-autograd 2.4e-7 / 1.4e-7, jax-scan 4.5e-7 / 1.6e-7,
torch-nnrnn 1.8e-7 / 1.4e-7 (step / trajectory). float32's unit roundoff is 6e-8.
"""

FLOAT64 = 1e-10

FLOAT32_STEP_DEFAULT = 3e-6
FLOAT32_TRAJECTORY_DEFAULT = 2e-6

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


def float32_step(impl_name: str) -> float:
    return FLOAT32_STEP.get(impl_name, FLOAT32_STEP_DEFAULT)


def float32_trajectory(impl_name: str) -> float:
    return FLOAT32_TRAJECTORY.get(impl_name, FLOAT32_TRAJECTORY_DEFAULT)


# The central-difference check: float64 with step 1e-6 leaves an error near 1e-9 relative.
FINITE_DIFFERENCES = 1e-7
