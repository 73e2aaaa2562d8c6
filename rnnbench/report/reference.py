"""The figures of issue #5 that the report sets this run beside, and which of them each call compares with."""

from __future__ import annotations

# The figures of issue #5 ("Performance"): per-record cost of one training step (T=8, V=60, C=10,
# float32) that the issue's author saw "on this kind of machine" (2 cores), measured OUTSIDE rnnbench
# with his own scripts, not by this harness: a noisy guide, not thresholds, and never a pass/fail
# criterion. Per (H, B), each figure: (low, high) seconds per record and the issue's words; "jax" and
# "torch" are figures the issue gives for a framework without saying which code (step or whole epoch;
# which torch loop). The report compares with the high end of each range.
ISSUE5_REFERENCE: dict = {
    "source": "issue #5, measured outside rnnbench; noisy guide, not thresholds",
    "seq_len": 8,
    "vocab": 60,
    "classes": 10,
    "dtype": "float32",
    "figures": {
        (64, 1): {
            "floor": (8e-6, 8e-6, "plain C floor ~8 µs"),
            "best": (26e-6, 26e-6, "best seen in Python ~26 µs (JAX whole epoch in one jit)"),
            "numpy": (85e-6, 140e-6, "NumPy fused BPTT 85-140 µs"),
            "jax_step": (45e-6, 85e-6, "JAX jit step 45-85 µs"),
            "jax_epoch": (26e-6, 26e-6, "JAX whole epoch in one jit ~26 µs"),
            "torch_eager": (640e-6, 780e-6, "torch eager loop 640-780 µs"),
            "torch_nnrnn": (0.9e-3, 1.4e-3, "nn.RNN + optim 0.9-1.4 ms"),
        },
        (64, 256): {
            "floor": (1e-6, 2e-6, "floor ~1-2 µs at matmul peak"),
            "best": (3.5e-6, 3.5e-6, "best seen ~3.5 µs (JAX)"),
            "jax": (3.5e-6, 3.5e-6, "best seen ~3.5 µs (JAX; step or epoch not said)"),
            "numpy": (9e-6, 14e-6, "NumPy 9-14 µs"),
            "torch": (9e-6, 12e-6, "torch 9-12 µs (which torch code not said)"),
        },
        (256, 256): {
            "floor": (16e-6, 26e-6, "floor ~16-26 µs at matmul peak"),
            "best": (28e-6, 28e-6, "best seen ~28 µs (JAX epoch jit, 58% of the 2-core peak)"),
            "jax_epoch": (28e-6, 28e-6, "JAX epoch jit ~28 µs"),
            "numpy": (67e-6, 67e-6, "NumPy ~67 µs"),
            "torch": (48e-6, 48e-6, "torch ~48 µs (which torch code not said)"),
        },
    },
}
# Which of the issue's figures each of our (implementation, call) compares with: the first one the
# configuration has.
REFERENCE_FOR: dict[tuple[str, str], tuple[str, ...]] = {
    ("numpy-bptt", "step"): ("numpy",),
    ("jax-scan", "step"): ("jax_step", "jax"),
    ("jax-scan", "epoch"): ("jax_epoch", "jax"),
    ("torch-autograd", "step"): ("torch_eager", "torch"),
    ("torch-nnrnn", "step"): ("torch_nnrnn", "torch"),
}


def reference_key(config: dict, impl: str, kind: str) -> str | None:
    """The key of the issue's figure for (impl, kind) in one (H, B) configuration; None where it has none."""
    return next((k for k in REFERENCE_FOR.get((impl, kind), ()) if k in config), None)
