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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import impls
from impls import Batch, FrameworkUnavailableError, InputError, NonFiniteLossError
from rnnbench import jsonio
from rnnbench.data.dataset import Dataset, Vocab, batches
from rnnbench.training import resources
from rnnbench.training.config import TrainConfig, load_data
from rnnbench.training.evaluation import eval_batches, evaluate, largest_eval_shape, quiet_numpy

Record = dict[str, Any]


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


# -- the checks before training, each done once ------------------------------------------------------


def require_framework(impl: str) -> None:
    """FrameworkUnavailableError, naming what to install, when impl's framework is missing."""
    if not impls.framework_installed(impl):
        raise FrameworkUnavailableError(impls.unavailable_reason(impl))


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


@dataclass(frozen=True)
class Checked:
    """A run whose settings passed cfg.check() and whose memory estimate fits (check_memory): what
    train_checked takes, its caller having checked the framework too (require_framework)."""

    cfg: TrainConfig
    dataset: Dataset
    need: resources.MemoryEstimate
    available: resources.Available


def check_memory(cfg: TrainConfig, dataset: Dataset) -> Checked:
    """The run with its estimate and the memory available; InputError naming both when it cannot fit.
    cfg must have passed cfg.check()."""
    need, available = memory_estimate(cfg, dataset), resources.device_memory(cfg.device)
    resources.check_fits(
        need, available, "training", "lower --hidden, --batch-size or --max-len (the BPTT cache grows as B x T x H)"
    )
    return Checked(cfg, dataset, need, available)


def _model_config(cfg: TrainConfig, dataset: Dataset) -> impls.ModelConfig:
    return impls.ModelConfig(
        vocab_size=dataset.vocab_size,
        hidden_size=cfg.hidden,
        num_classes=dataset.num_classes,
        nonlinearity=cfg.nonlinearity,
        dtype=cfg.dtype,
    )


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


@dataclass
class Clock:
    """Seconds so far: in training steps (each ending with the sync), in evaluation, and the part of
    training spent in calls that compiled (JIT only)."""

    train: float = 0.0
    eval: float = 0.0
    compile: float = 0.0


@dataclass
class StepTally:
    """Optimizer steps and records trained so far, and the record-weighted loss since the last evaluation."""

    step: int = 0
    records: int = 0
    loss_sum: float = 0.0
    loss_records: int = 0


@dataclass
class Session:
    """One training run in progress: the model, its evaluation batches, and the state that grows (clock,
    tally, evaluations, epochs). Each method says what it changes."""

    cfg: TrainConfig
    model: impls.RNNImpl
    val_batches: list[Batch]
    train_eval_batches: list[Batch]
    on_eval: Callable[[Record], None] | None = None
    clock: Clock = field(default_factory=Clock)
    tally: StepTally = field(default_factory=StepTally)
    evals: list[Record] = field(default_factory=list)
    epochs: list[Record] = field(default_factory=list)

    def evaluate_timed(self, batches_: list[Batch]) -> tuple[float | None, float | None]:
        """evaluate(model, batches_), its seconds added to clock.eval."""
        start = time.perf_counter()
        out = evaluate(self.model, batches_)
        self.clock.eval += time.perf_counter() - start
        return out

    def train_chunk(self, chunk: list[Batch], epoch: int, bar) -> float:
        """Train on chunk; return the record-weighted sum of its losses (clock.train, clock.compile and the
        tally's steps and records advance). The progress bar advances per batch, outside the clock; an
        implementation that fuses an epoch (impls.FUSED_EPOCH) runs the chunk in one call."""
        model = self.model
        compiled_before = model.compile_seconds
        with quiet_numpy():  # divergence is reported below as NonFiniteLossError, not as NumPy warnings
            if model.name in impls.FUSED_EPOCH:
                start = time.perf_counter()
                losses = model.train_epoch(chunk)
                model.sync()
                self.clock.train += time.perf_counter() - start
                bar.update(sum(b.size for b in chunk))
            else:
                losses = []
                for batch in chunk:
                    start = time.perf_counter()
                    losses.append(model.train_step(batch))
                    self.clock.train += time.perf_counter() - start
                    bar.update(batch.size)
                start = time.perf_counter()
                model.sync()
                self.clock.train += time.perf_counter() - start
        self.clock.compile += model.compile_seconds - compiled_before  # part of train, reported apart
        for k, loss in enumerate(losses):
            if not math.isfinite(loss):
                raise _non_finite(self.cfg, "the training loss", loss, epoch, self.tally.step + k + 1)
        self.tally.step += len(chunk)
        self.tally.records += sum(b.size for b in chunk)
        return float(sum(loss * b.size for loss, b in zip(losses, chunk, strict=True)))

    def evaluate_val(self, epoch: int, epoch_end: bool) -> Record:
        """Evaluate on the validation split; the record goes to evals (and on_eval), and the tally's loss
        since the last evaluation starts again."""
        start = time.perf_counter()
        val_loss, val_accuracy = evaluate(self.model, self.val_batches)
        seconds = time.perf_counter() - start
        self.clock.eval += seconds
        if val_loss is not None and not math.isfinite(val_loss):
            raise _non_finite(self.cfg, "the validation loss", val_loss, epoch, self.tally.step)
        since = self.tally.loss_records
        record = {
            "epoch": epoch,
            "step": self.tally.step,
            "records_seen": self.tally.records,
            "train_seconds": self.clock.train,
            "compile_seconds": self.clock.compile,  # of train_seconds, spent in calls that compiled (JIT only)
            "train_loss": self.tally.loss_sum / since if since else None,  # mean over the steps since the last
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "eval_seconds": seconds,
            "epoch_end": epoch_end,
        }
        self.tally.loss_sum, self.tally.loss_records = 0.0, 0
        self.evals.append(record)
        if self.on_eval is not None:
            self.on_eval(record)
        return record

    def chunks(self, epoch: int, dataset: Dataset) -> list[list[Batch]]:
        """The epoch's batches, cut into the runs between evaluations: the same cut points every epoch,
        so the same chunk shapes every epoch."""
        cfg = self.cfg
        epoch_batches = batches(dataset.train, cfg.batch_size, seed=cfg.seed, epoch=epoch)
        if not cfg.eval_every:
            return [epoch_batches]
        per_chunk = -(-cfg.eval_every // cfg.batch_size)  # batches between evaluations
        return [epoch_batches[i : i + per_chunk] for i in range(0, len(epoch_batches), per_chunk)]

    def run_epoch(self, epoch: int, dataset: Dataset, bar) -> Record:
        """Train one epoch with its evaluations; the epoch-end record goes to epochs and is returned."""
        epoch_start = self.clock.train
        epoch_loss, epoch_records = 0.0, 0
        chunks = self.chunks(epoch, dataset)
        for k, chunk in enumerate(chunks):
            loss_sum = self.train_chunk(chunk, epoch, bar)
            records = sum(b.size for b in chunk)
            epoch_loss, epoch_records = epoch_loss + loss_sum, epoch_records + records
            self.tally.loss_sum += loss_sum
            self.tally.loss_records += records
            if k < len(chunks) - 1:
                record = self.evaluate_val(epoch, epoch_end=False)
                bar.set_postfix(val_acc=format_optional(record["val_accuracy"], ".3f"), refresh=False)
        record = dict(self.evaluate_val(epoch, epoch_end=True))
        train_eval_loss, train_accuracy = self.evaluate_timed(self.train_eval_batches)
        record |= {
            "train_loss": epoch_loss / epoch_records,  # mean over the epoch's steps, each before its update
            "train_accuracy": train_accuracy,  # the whole train split, after the epoch
            "train_eval_loss": train_eval_loss,
            "epoch_seconds": self.clock.train - epoch_start,
        }
        self.epochs.append(record)
        return record


def train(
    cfg: TrainConfig,
    dataset: Dataset | None = None,
    *,
    progress: bool = True,
    on_eval: Callable[[Record], None] | None = None,
    on_epoch: Callable[[Record], None] | None = None,
) -> TrainResult:
    """Train cfg.impl on dataset (default: load_dataset from cfg) and evaluate it: every check (cfg.check,
    require_framework, check_memory), then train_checked (see there). InputError or
    FrameworkUnavailableError for bad settings."""
    cfg.check()
    require_framework(cfg.impl)
    if dataset is None:
        dataset = load_data(cfg)
    return train_checked(check_memory(cfg, dataset), progress=progress, on_eval=on_eval, on_epoch=on_epoch)


def train_checked(
    checked: Checked,
    *,
    progress: bool = True,
    on_eval: Callable[[Record], None] | None = None,
    on_epoch: Callable[[Record], None] | None = None,
) -> TrainResult:
    """Train a checked run and evaluate it.

    Calls on_eval(record) after every evaluation (the first at step 0, before training) and
    on_epoch(record) after every epoch. Raises InputError for an empty train split, NonFiniteLossError
    when the loss turns NaN or infinite.
    """
    cfg, dataset = checked.cfg, checked.dataset
    if len(dataset.train) == 0:
        raise InputError(f"data {dataset.spec!r} has no training records")
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
    session = Session(cfg, model, eval_batches(dataset.val), eval_batches(dataset.train), on_eval)
    session.evaluate_val(0, epoch_end=False)
    bar = _progress_bar(cfg.epochs * len(dataset.train), progress)
    try:
        for epoch in range(1, cfg.epochs + 1):
            record = session.run_epoch(epoch, dataset, bar)
            bar.set_postfix(val_acc=format_optional(record["val_accuracy"], ".3f"))
            if on_epoch is not None:
                on_epoch(record)
    finally:
        bar.close()
    start = time.perf_counter()  # the test batches are built on the evaluation clock, as they always were
    test_loss, test_accuracy = evaluate(model, eval_batches(dataset.test))
    session.clock.eval += time.perf_counter() - start
    return TrainResult(
        config=cfg,
        model_config=model_config,
        data=_describe_data(dataset),
        epochs=session.epochs,
        evals=session.evals,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        train_seconds=session.clock.train,
        eval_seconds=session.clock.eval,
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
