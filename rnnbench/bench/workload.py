"""The synthetic workload of the step sweep, shared by every implementation and the C baseline.

Float32 data of a fixed shape: V = SYNTH_VOCAB symbols, C = SYNTH_CLASSES classes, every record of
length T, tokens uniform in [0, V), the label the last token mod C (so that the loss can fall); plain
SGD at SYNTH_LR. A step point cycles through STEP_POOL distinct same-shaped batches.
"""

from __future__ import annotations

import numpy as np

SYNTH_VOCAB = 60
SYNTH_CLASSES = 10
SYNTH_LR = 0.05  # plain SGD on the synthetic batches: small enough that the loss falls at every B
STEP_POOL = 4
SEED = 0


def synthetic_config(hidden: int, dtype: str = "float32"):
    """The impls.ModelConfig of a sweep point with hidden size H."""
    from impls import ModelConfig

    return ModelConfig(SYNTH_VOCAB, hidden, SYNTH_CLASSES, dtype=dtype)


def synthetic_batches(
    batch: int, seq_len: int, n: int, seed: int = SEED, vocab: int = SYNTH_VOCAB, classes: int = SYNTH_CLASSES
) -> list:
    """n impls.Batch of shape (B, T): tokens uniform in [0, V), every length T, label = last token mod C."""
    from impls import Batch

    rng = np.random.default_rng([seed, batch, seq_len])
    out = []
    for _ in range(n):
        tokens = rng.integers(0, vocab, size=(batch, seq_len))  # (B, T)
        lengths = np.full(batch, seq_len)  # (B,)
        out.append(Batch(tokens, lengths, tokens[:, -1] % classes))
    return out


def reference_loss(config, params, batch) -> float:
    """Mean loss of params on batch by the NumPy reference (independent of the implementation timed)."""
    import impls

    return float(impls.load("numpy-bptt", config, params).loss_and_grads(batch)[0])
