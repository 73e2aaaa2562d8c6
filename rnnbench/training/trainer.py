"""Training: run one implementation over a data set, evaluate it, and keep the records.

Seconds are TRAINING seconds: time spent in training steps (ending with the implementation's sync),
never in evaluation, so accuracy against time is honest; a JIT implementation's compilation is part of
them and also reported apart (compile_seconds). The command line is rnnbench.commands.train.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import impls
from impls import Batch, FrameworkUnavailableError, InputError, NonFiniteLossError
from rnnbench import jsonio
from rnnbench.data.dataset import Dataset, Split, Vocab, batches
from rnnbench.training import resources
from rnnbench.training.config import TrainConfig, load_data

EVAL_BATCH_SIZE = 512
EVAL_BATCH_TOKENS = 65536  # padded tokens per evaluation batch at most (but one record always fits): bounds memory

Record = dict[str, Any]


# Overflow in a diverging run is caught by the loss check and raised as NonFiniteLossError.
def _quiet_numpy() -> np.errstate:
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


@dataclass
class TrainResult:
    """What a run produced; params are the final canonical parameters.

    evals: one record per evaluation, the first before any training: epoch, step (optimizer steps so
    far), records_seen, train_seconds (the cumulative training clock, evaluation excluded), compile_seconds
    (the part of train_seconds spent in calls that compiled: jax-scan's tracing; 0 elsewhere), train_loss
    (mean step loss since the previous evaluation; None at step 0), val_loss, val_accuracy (None
    without a validation split), eval_seconds, epoch_end. epochs: one per epoch, the epoch-end
    evaluation with train_loss the mean over the epoch's steps (each taken before its update),
    train_accuracy and train_eval_loss over the whole train split after the epoch, and epoch_seconds.
    """

    config: TrainConfig
    model_config: impls.ModelConfig
    data: dict[str, Any]
    epochs: list[Record]
    evals: list[Record]
    test_loss: float | None
    test_accuracy: float | None
    train_seconds: float
    eval_seconds: float
    params: impls.Params
    threads: dict[str, Any]
    vocab: Vocab | None = None  # the data set's: with data["tokens"], max_len and classes, what prediction needs

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no parameters; non-finite numbers become None)."""
        return jsonio.jsonable(
            {
                "config": dataclasses.asdict(self.config),
                "model": dataclasses.asdict(self.model_config)
                | {"parameters": int(sum(p.size for p in self.params.values()))},
                "data": self.data,
                "epochs": self.epochs,
                "evals": self.evals,
                "test": {"loss": self.test_loss, "accuracy": self.test_accuracy},
                "train_seconds": self.train_seconds,
                "eval_seconds": self.eval_seconds,
                "threads": self.threads,
            },
            finite=True,
        )


# -- evaluation ----------------------------------------------------------------------------------------


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


def memory_estimate(cfg: TrainConfig, dataset: Dataset) -> resources.MemoryEstimate:
    """What training cfg on dataset holds at most: the BPTT cache of its longest batch, B x T x H, the
    largest evaluation batch, and the parameters with their gradients and optimizer state."""
    train_lengths = dataset.train.lengths  # (N,)
    all_lengths = np.concatenate([train_lengths, dataset.val.lengths, dataset.test.lengths])
    train_shape = resources.Shape(min(cfg.batch_size, len(train_lengths)), int(train_lengths.max(initial=0)))
    eval_shape = max(
        (largest_eval_shape(s.lengths) for s in (dataset.train, dataset.val, dataset.test) if len(s)),
        key=lambda shape: shape.records * shape.tokens,
        default=resources.Shape(0, int(all_lengths.max(initial=0))),
    )
    return resources.estimate(
        cfg.impl,
        _model_config(cfg, dataset),
        optimizer=cfg.optimizer_state(),
        train_shape=train_shape,
        eval_shape=eval_shape,
    )


def check_memory(cfg: TrainConfig, dataset: Dataset) -> tuple[resources.MemoryEstimate, resources.Available]:
    """The estimate and the memory available; InputError naming both when the run cannot fit."""
    need, available = memory_estimate(cfg, dataset), resources.device_memory(cfg.device)
    resources.check_fits(
        need, available, "training", "lower --hidden, --batch-size or --max-len (the BPTT cache grows as B x T x H)"
    )
    return need, available


def _model_config(cfg: TrainConfig, dataset: Dataset) -> impls.ModelConfig:
    return impls.ModelConfig(
        vocab_size=dataset.vocab_size,
        hidden_size=cfg.hidden,
        num_classes=dataset.num_classes,
        nonlinearity=cfg.nonlinearity,
        dtype=cfg.dtype,
    )


def evaluate(model: impls.RNNImpl, batches_: list[Batch]) -> tuple[float | None, float | None]:
    """Mean loss and accuracy over the records of batches_, from model.logits, in float64 NumPy.

    (None, None) when there are no records.
    """
    loss_sum, correct, n = 0.0, 0, 0
    for batch in batches_:
        with _quiet_numpy():  # a diverged model's inf logits give a NaN loss, checked by the caller
            logits = np.asarray(model.logits(batch), dtype=np.float64)  # (B, C)
            shifted = logits - logits.max(axis=1, keepdims=True)  # (B, C)
            log_z = np.log(np.exp(shifted).sum(axis=1))  # (B,)
            loss_sum += float((log_z - shifted[np.arange(batch.size), batch.labels]).sum())
        correct += int((logits.argmax(axis=1) == batch.labels).sum())
        n += batch.size
    if n == 0:
        return None, None
    return loss_sum / n, correct / n


# -- training ------------------------------------------------------------------------------------------


def _non_finite(cfg: TrainConfig, what: str, value: float, epoch: int, step: int) -> NonFiniteLossError:
    clip = cfg.clip_spec()
    return NonFiniteLossError(
        f"{what} became {value} at epoch {epoch}, step {step} ({cfg.impl}, {cfg.optimizer} lr={cfg.lr}, "
        f"{cfg.nonlinearity}, clip {clip or 'none'}): training diverged; lower the learning rate (--lr) "
        "or clip the gradients (--clip-norm 5 or --clip-value 1)"
    )


def _progress_bar(total: int, enabled: bool):
    """Records trained, with records per second; silent unless enabled and standard error is a terminal."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="rec",
        unit_scale=True,
        smoothing=0.1,
        disable=not (enabled and sys.stderr.isatty()),
        leave=False,
        file=sys.stderr,
    )


def _fuses_epochs(model: impls.RNNImpl) -> bool:
    """Whether model runs train_epoch as one fused call (jax-scan) rather than train_step per batch."""
    return type(model)._train_epoch is not impls.RNNImpl._train_epoch


def train(
    cfg: TrainConfig,
    dataset: Dataset | None = None,
    *,
    progress: bool = True,
    on_eval: Callable[[Record], None] | None = None,
    on_epoch: Callable[[Record], None] | None = None,
) -> TrainResult:
    """Train cfg.impl on dataset (default: load_dataset from cfg) and evaluate it.

    Calls on_eval(record) after every evaluation (the first at step 0, before training) and
    on_epoch(record) after every epoch. Raises InputError or FrameworkUnavailableError for bad
    settings, NonFiniteLossError when the loss turns NaN or infinite.
    """
    cfg.check()
    if not impls.framework_installed(cfg.impl):
        raise FrameworkUnavailableError(impls.unavailable_reason(cfg.impl))
    if dataset is None:
        dataset = load_data(cfg)
    if len(dataset.train) == 0:
        raise InputError(f"data {dataset.spec!r} has no training records")
    check_memory(cfg, dataset)  # before the parameters exist: a huge H is refused, not a MemoryError
    model_config = _model_config(cfg, dataset)
    model = impls.load(
        cfg.impl,
        model_config,
        impls.init_params(model_config, seed=cfg.seed),
        device=cfg.device,
        optimizer=cfg.optimizer_spec(),
        clip=cfg.clip_spec(),
        threads=cfg.threads,
    )
    val_batches, train_eval_batches = eval_batches(dataset.val), eval_batches(dataset.train)

    epochs: list[Record] = []
    evals: list[Record] = []
    clock = {"train": 0.0, "eval": 0.0, "compile": 0.0}
    state = {"step": 0, "records": 0, "loss_sum": 0.0, "loss_records": 0}

    fused = _fuses_epochs(model)

    def run_chunk(chunk: list[Batch], epoch: int) -> float:
        """Train on chunk; return the record-weighted sum of its losses. The progress bar advances per
        batch, outside the clock; an implementation that fuses an epoch runs the chunk in one call."""
        compiled_before = model.compile_seconds
        with _quiet_numpy():  # divergence is reported below as NonFiniteLossError, not as NumPy warnings
            if fused:
                start = time.perf_counter()
                losses = model.train_epoch(chunk)
                model.sync()
                clock["train"] += time.perf_counter() - start
                bar.update(sum(b.size for b in chunk))
            else:
                losses = []
                for batch in chunk:
                    start = time.perf_counter()
                    losses.append(model.train_step(batch))
                    clock["train"] += time.perf_counter() - start
                    bar.update(batch.size)
                start = time.perf_counter()
                model.sync()
                clock["train"] += time.perf_counter() - start
        clock["compile"] += model.compile_seconds - compiled_before  # part of train, reported apart
        for k, loss in enumerate(losses):
            if not math.isfinite(loss):
                raise _non_finite(cfg, "the training loss", loss, epoch, state["step"] + k + 1)
        state["step"] += len(chunk)
        state["records"] += sum(b.size for b in chunk)
        return float(sum(loss * b.size for loss, b in zip(losses, chunk, strict=True)))

    def run_eval(epoch: int, epoch_end: bool) -> Record:
        start = time.perf_counter()
        val_loss, val_accuracy = evaluate(model, val_batches)
        seconds = time.perf_counter() - start
        clock["eval"] += seconds
        if val_loss is not None and not math.isfinite(val_loss):
            raise _non_finite(cfg, "the validation loss", val_loss, epoch, state["step"])
        since = state["loss_records"]
        record = {
            "epoch": epoch,
            "step": state["step"],
            "records_seen": state["records"],
            "train_seconds": clock["train"],
            "compile_seconds": clock["compile"],  # of train_seconds, spent in calls that compiled (JIT only)
            "train_loss": state["loss_sum"] / since if since else None,  # mean over the steps since the last
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "eval_seconds": seconds,
            "epoch_end": epoch_end,
        }
        state["loss_sum"], state["loss_records"] = 0.0, 0
        evals.append(record)
        if on_eval is not None:
            on_eval(record)
        return record

    run_eval(0, epoch_end=False)
    bar = _progress_bar(cfg.epochs * len(dataset.train), progress)
    try:
        for epoch in range(1, cfg.epochs + 1):
            epoch_batches = batches(dataset.train, cfg.batch_size, seed=cfg.seed, epoch=epoch)
            epoch_start = clock["train"]
            epoch_loss, epoch_records = 0.0, 0
            chunks = [epoch_batches]
            if cfg.eval_every:  # the same cut points every epoch: the same chunk shapes every epoch
                per_chunk = -(-cfg.eval_every // cfg.batch_size)  # batches between evaluations
                chunks = [epoch_batches[i : i + per_chunk] for i in range(0, len(epoch_batches), per_chunk)]
            for k, chunk in enumerate(chunks):
                loss_sum = run_chunk(chunk, epoch)
                records = sum(b.size for b in chunk)
                epoch_loss, epoch_records = epoch_loss + loss_sum, epoch_records + records
                state["loss_sum"] += loss_sum
                state["loss_records"] += records
                if k < len(chunks) - 1:
                    record = run_eval(epoch, epoch_end=False)
                    bar.set_postfix(val_acc=format_optional(record["val_accuracy"], ".3f"), refresh=False)
            record = dict(run_eval(epoch, epoch_end=True))
            start = time.perf_counter()
            train_eval_loss, train_accuracy = evaluate(model, train_eval_batches)
            clock["eval"] += time.perf_counter() - start
            record |= {
                "train_loss": epoch_loss / epoch_records,  # mean over the epoch's steps, each before its update
                "train_accuracy": train_accuracy,  # the whole train split, after the epoch
                "train_eval_loss": train_eval_loss,
                "epoch_seconds": clock["train"] - epoch_start,
            }
            epochs.append(record)
            bar.set_postfix(val_acc=format_optional(record["val_accuracy"], ".3f"))
            if on_epoch is not None:
                on_epoch(record)
    finally:
        bar.close()

    start = time.perf_counter()
    test_loss, test_accuracy = evaluate(model, eval_batches(dataset.test))
    clock["eval"] += time.perf_counter() - start
    return TrainResult(
        config=cfg,
        model_config=model_config,
        data=_describe_data(dataset),
        epochs=epochs,
        evals=evals,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        train_seconds=clock["train"],
        eval_seconds=clock["eval"],
        params=model.get_params(),
        threads=model.thread_info(),
        vocab=dataset.vocab,
    )


def _describe_data(dataset: Dataset) -> dict[str, Any]:
    return {
        "spec": dataset.spec,
        "val_spec": dataset.val_spec,
        "test_spec": dataset.test_spec,
        "splits": dataset.origins,
        "read": list(dataset.notes),
        "warnings": list(dataset.warnings),
        "tokens": dataset.tokens,
        "max_len": dataset.max_len,
        "classes": dataset.classes,
        "vocab_size": dataset.vocab_size,
        "records": {"train": len(dataset.train), "val": len(dataset.val), "test": len(dataset.test)},
        "truncated": dataset.truncated,
    }


def format_optional(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)
