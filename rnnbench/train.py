"""Training: run one implementation over a data set, evaluate it, and keep the records.

Seconds are TRAINING seconds: time spent in training steps (ending with the implementation's sync),
never in evaluation, so accuracy against time is honest; a JIT implementation's compilation is part of
them and also reported apart (compile_seconds). The command line is rnnbench.train_cli.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

import impls
from impls import Batch, FrameworkUnavailableError, InputError, NonFiniteLossError
from impls.registry import FRAMEWORKS
from rnnbench import model_files, resources
from rnnbench.atomic import atomic_write, atomic_write_text
from rnnbench.data import DEFAULT_DATA, TOKENIZATIONS, Dataset, Split, Vocab, batches, load_dataset, split_fractions

EVAL_BATCH_SIZE = 512
EVAL_BATCH_TOKENS = 65536  # padded tokens per evaluation batch at most (but one record always fits): bounds memory
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
FRAMEWORK_PACKAGES: dict[str, tuple[str, ...]] = {
    "numpy-bptt": ("numpy",),
    "torch-autograd": ("torch",),
    "torch-nnrnn": ("torch",),
    "jax-scan": ("jax", "jaxlib"),
}

Record = dict[str, Any]


# Overflow in a diverging run is caught by the loss check and raised as NonFiniteLossError.
def _quiet_numpy() -> np.errstate:
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (the CLI flags of `rnnbench train`, one for one).

    eval_every: evaluate on the validation split every this many training records (rounded up to whole
    batches, counted from each epoch's start) as well as at each epoch's end (0 = at epoch ends only,
    which lets an implementation fuse a whole epoch). Every epoch is cut at the same batch counts, so
    a JIT implementation sees the same chunk shapes every epoch and compiles them once.
    val_fraction, test_fraction: the share of each class of data drawn for validation and test (None =
    0.1 each, 0 = none); val_data, test_data: separate data that replaces that split instead.
    clip_value and clip_norm exclude each other; momentum applies to sgd only. threads: 1 by default,
    because this model's matrices are too small to gain from more and a multi-threaded BLAS slows down
    many times over when another process holds a core; None leaves the framework's own setting.
    out: a folder for the model (model.json, params.npz: what `rnnbench predict` reads) and metrics.json
    (None = write nothing); force: replace the model files of a non-empty out folder.
    """

    impl: str = "numpy-bptt"
    data: str = DEFAULT_DATA
    val_data: str | None = None
    val_fraction: float | None = None
    test_fraction: float | None = None
    test_data: str | None = None
    tokens: str = "char"
    hidden: int = 64
    batch_size: int = 32
    epochs: int = 8
    optimizer: str = "adam"
    lr: float = 0.005
    momentum: float = 0.0
    clip_value: float | None = None
    clip_norm: float | None = None
    nonlinearity: str = "tanh"
    dtype: str = "float32"
    seed: int = 0
    device: str = "cpu"
    threads: int | None = 1
    max_len: int = 32
    per_class: int | None = None
    eval_every: int = 0
    out: str | None = None
    force: bool = False

    def optimizer_spec(self) -> impls.Optimizer:
        """impls.SGD or impls.Adam for this run (InputError for a bad name or setting)."""
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.optimizer == "sgd":
            return impls.SGD(lr=self.lr, momentum=self.momentum)
        if self.momentum:
            raise InputError(f"momentum applies to the sgd optimizer only, got momentum={self.momentum} with adam")
        return impls.Adam(lr=self.lr)

    def clip_spec(self) -> impls.Clip:
        """impls.ClipValue, impls.ClipNorm or None."""
        if self.clip_value is not None and self.clip_norm is not None:
            raise InputError("choose one of clip_value (--clip-value) and clip_norm (--clip-norm), not both")
        if self.clip_value is not None:
            return impls.ClipValue(self.clip_value)
        if self.clip_norm is not None:
            return impls.ClipNorm(self.clip_norm)
        return None

    def check(self) -> None:
        """Raise InputError for a bad setting, before any data is loaded or framework imported."""
        if self.impl not in impls.IMPLS:
            raise InputError(f"unknown implementation {self.impl!r}; known: {', '.join(impls.IMPLS)}")
        if self.device not in impls.DEVICES[self.impl]:
            devices = ", ".join(impls.DEVICES[self.impl])
            raise InputError(f"unknown device {self.device!r} for {self.impl}; it runs on: {devices}")
        for name in ("hidden", "batch_size", "epochs", "max_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise InputError(f"eval_every must be a non-negative integer (0 = per epoch), got {self.eval_every!r}")
        if self.tokens not in TOKENIZATIONS:
            raise InputError(f"tokens must be one of {TOKENIZATIONS}, got {self.tokens!r}")
        if self.nonlinearity not in impls.NONLINEARITIES:
            raise InputError(f"nonlinearity must be one of {impls.NONLINEARITIES}, got {self.nonlinearity!r}")
        if self.dtype not in impls.DTYPES:
            raise InputError(f"dtype must be one of {impls.DTYPES}, got {self.dtype!r}")
        self.optimizer_spec()
        self.clip_spec()
        for split, fraction, data in (
            ("val", self.val_fraction, self.val_data),
            ("test", self.test_fraction, self.test_data),
        ):
            if data is not None and fraction:
                raise InputError(
                    f"--{split}-fraction {fraction} and --{split}-data exclude each other: the separate data "
                    f"replaces that split (leave --{split}-fraction out)"
                )
        split_fractions(self.val_fraction, self.test_fraction, self.val_data, self.test_data)

    def optimizer_state(self) -> str:
        """What the optimizer keeps per parameter: "adam", "momentum" or "sgd" (nothing)."""
        return "adam" if self.optimizer == "adam" else ("momentum" if self.momentum else "sgd")


def load_data(cfg: TrainConfig) -> Dataset:
    """The data set cfg names, split as it says."""
    return load_dataset(
        cfg.data,
        tokens=cfg.tokens,
        val_spec=cfg.val_data,
        test_spec=cfg.test_data,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        per_class=cfg.per_class,
        max_len=cfg.max_len,
    )


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
        return _finite(
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
            }
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
        framework, extra = FRAMEWORKS[cfg.impl]
        raise FrameworkUnavailableError(f"{cfg.impl} needs {framework}, which is not installed: pip install '{extra}'")
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


# -- output files --------------------------------------------------------------------------------------


def _finite(obj: Any) -> Any:
    """obj with NaN and infinities replaced by None (strict JSON), NumPy scalars made Python ones."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def versions(impl: str) -> dict[str, str]:
    """Versions of Python, rnnbench, NumPy and the implementation's framework, and the platform."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine()}
    for package in ("rnnbench", "numpy", *FRAMEWORK_PACKAGES.get(impl, ())):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def save(result: TrainResult, out: str) -> list[str]:
    """Write out/metrics.json, then the model (out/params.npz, out/model.json; see rnnbench.model_files),
    each file atomically; return their paths. Without result.vocab only metrics.json and params.npz."""
    os.makedirs(out, exist_ok=True)
    metrics = result.to_dict() | {
        "versions": versions(result.config.impl),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    text = json.dumps(metrics, indent=2, allow_nan=False) + "\n"
    metrics_path = os.path.join(out, "metrics.json")
    atomic_write_text(metrics_path, text)
    if result.vocab is None:  # a result built by hand, without its data set: parameters only
        params_path = os.path.join(out, model_files.PARAMS_FILE)
        atomic_write(params_path, lambda f: np.savez(f, **result.params))
        return [metrics_path, params_path]
    data = result.data
    written = model_files.save_model(
        out,
        config=result.model_config,
        params=result.params,
        vocab=result.vocab,
        tokens=data["tokens"],
        max_len=data["max_len"],
        classes=data["classes"],
        trained={"impl": result.config.impl, "data": data["spec"], "val_data": data["val_spec"]},
    )
    return [metrics_path, *map(str, written)]
