"""Prediction: label records with a saved model (rnnbench.training.model_files), each record tokenized as
in training, cut to the model's max_len and encoded with the training vocabulary (a token never seen
in training counts as <unk>). The command line is rnnbench.commands.predict."""

from __future__ import annotations

import numpy as np

import impls
from impls import Batch, InputError
from rnnbench.data.dataset import tokenize
from rnnbench.training import resources
from rnnbench.training.evaluation import eval_groups, largest_eval_shape
from rnnbench.training.model_files import SavedModel
from rnnbench.training.trainer import require_framework


def encode(saved: SavedModel, records: list[str]) -> tuple[list[np.ndarray], int, int]:
    """Token ids per record, (L,) int64 cut to max_len; and the counts of unknown and all tokens."""
    sequences, unknown, total = [], 0, 0
    for i, record in enumerate(records, start=1):
        ids = saved.vocab.encode(tokenize(record, saved.tokens)[: saved.max_len])  # (L,)
        if len(ids) == 0:
            raise InputError(f"record {i} {record!r} has no {saved.tokens} tokens")
        sequences.append(ids)
        unknown += int((ids == saved.vocab.UNK_ID).sum())
        total += len(ids)
    return sequences, unknown, total


def probabilities(model: impls.RNNImpl, sequences: list[np.ndarray]) -> np.ndarray:
    """Class probabilities (N, C) float64 of each sequence, in the order given."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)  # (N,)
    out = np.empty((len(sequences), model.config.num_classes), dtype=np.float64)  # (N, C)
    for group in eval_groups(lengths):
        batch = Batch.from_sequences([sequences[i] for i in group], np.zeros(len(group), dtype=np.int64))
        logits = np.asarray(model.logits(batch), dtype=np.float64)  # (B, C)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))  # (B, C)
        out[group] = shifted / shifted.sum(axis=1, keepdims=True)
    return out


def predict(saved: SavedModel, records: list[str], impl: str = "numpy-bptt", device: str = "cpu", threads: int = 1):
    """(probabilities (N, C), unknown tokens, all tokens) of records under saved, run by impl."""
    impls.registry.check_known(impl)
    require_framework(impl)
    sequences, unknown, total = encode(saved, records)
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    need = resources.estimate(
        impl, saved.config, optimizer="sgd", train_shape=None, eval_shape=largest_eval_shape(lengths)
    )
    resources.check_fits(need, resources.device_memory(device), "prediction", "label fewer or shorter records")
    model = impls.load(impl, saved.config, saved.params, device=device, threads=threads)
    return probabilities(model, sequences), unknown, total
