"""Evaluation: the batches a split is evaluated in (sorted by length, bounded in padded tokens), and the
mean loss and accuracy over them. Training and prediction cut their batches the same way."""

from __future__ import annotations

import numpy as np

import impls
from impls import Batch
from rnnbench.data.dataset import Split
from rnnbench.training import resources

EVAL_BATCH_SIZE = 512
EVAL_BATCH_TOKENS = 65536  # padded tokens per evaluation batch at most (but one record always fits): bounds memory


# Overflow in a diverging run is caught by the loss check and raised as NonFiniteLossError.
def quiet_numpy() -> np.errstate:
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def eval_groups(
    lengths: np.ndarray, batch_size: int = EVAL_BATCH_SIZE, max_tokens: int = EVAL_BATCH_TOKENS
) -> list[np.ndarray]:
    """Record indices per evaluation batch: sorted by length (less padding), each group at most batch_size
    records and, unless its one record is longer, at most max_tokens tokens once padded to its longest."""
    order = np.argsort(lengths, kind="stable")
    groups, start = [], 0
    while start < len(order):
        stop = start + 1
        while (
            stop < len(order) and stop - start < batch_size and (stop - start + 1) * lengths[order[stop]] <= max_tokens
        ):
            stop += 1
        groups.append(order[start:stop])
        start = stop
    return groups


def eval_batches(split: Split, batch_size: int = EVAL_BATCH_SIZE) -> list[Batch]:
    """Batches of split (eval_groups), each padded to its own longest record."""
    return [
        Batch.from_sequences([split.sequences[i] for i in idx], split.labels[idx])
        for idx in eval_groups(split.lengths, batch_size)
    ]


def largest_eval_shape(lengths: np.ndarray) -> resources.Shape:
    """The (records, padded tokens) of the evaluation batch with the most padded tokens."""
    shapes = [(len(g), int(lengths[g].max())) for g in eval_groups(lengths)] or [(0, 0)]
    return resources.Shape(*max(shapes, key=lambda shape: shape[0] * shape[1]))


def evaluate(model: impls.RNNImpl, batches_: list[Batch]) -> tuple[float | None, float | None]:
    """Mean loss and accuracy over the records of batches_, from model.logits, in float64 NumPy.

    (None, None) when there are no records.
    """
    loss_sum, correct, n = 0.0, 0, 0
    for batch in batches_:
        with quiet_numpy():  # a diverged model's inf logits give a NaN loss, checked by the caller
            logits = np.asarray(model.logits(batch), dtype=np.float64)  # (B, C)
            shifted = logits - logits.max(axis=1, keepdims=True)  # (B, C)
            log_z = np.log(np.exp(shifted).sum(axis=1))  # (B,)
            loss_sum += float((log_z - shifted[np.arange(batch.size), batch.labels]).sum())
        correct += int((logits.argmax(axis=1) == batch.labels).sum())
        n += batch.size
    if n == 0:
        return None, None
    return loss_sum / n, correct / n
