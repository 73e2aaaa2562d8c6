"""Train one implementation on a data set; report loss and accuracy per epoch, then test accuracy.

The default task tells a word's language (English, French, German) from its letters, using the word
lists of the wordfreq package. Seconds are TRAINING seconds: time spent in training steps (ending with
the implementation's sync), never in evaluation, so accuracy against time is honest.

examples:
  rnnbench train --impl numpy-bptt
  rnnbench train --impl jax-scan --batch-size 1 --optimizer sgd --lr 0.05 --clip-value 1 --epochs 2
  rnnbench train --data folder:examples/names --epochs 20 --out runs/names
  rnnbench predict runs/names Kowalski Nakamura
  rnnbench train --data csv:train.csv,text=sentence,label=sentiment --val-data csv:test.csv --test-fraction 0
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable

import impls
from impls import FrameworkUnavailableError, InputError, NonFiniteLossError
from rnnbench.commands import arguments
from rnnbench.data.dataset import TOKENIZATIONS
from rnnbench.data.sources import WORDFREQ_DEFAULT_N
from rnnbench.training.config import OPTIMIZERS, TrainConfig, load_data
from rnnbench.training.model_files import prepare_out_dir, save_training
from rnnbench.training.resources import Available, MemoryEstimate, format_bytes
from rnnbench.training.trainer import Record, check_memory, format_optional, require_framework, train_checked

# -- command line --------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `rnnbench train`, one per TrainConfig field."""
    d = TrainConfig()
    _data_arguments(parser.add_argument, d)
    _model_arguments(parser.add_argument, d)
    _run_arguments(parser.add_argument, d)


def _data_arguments(add: Callable[..., object], d: TrainConfig) -> None:
    """--impl, then what is trained on: --data, its splits, tokens (and, in _run_arguments, --max-len)."""
    add("--impl", default=d.impl, help=f"implementation: {', '.join(impls.names())} (default: %(default)s)")
    add(
        "--data",
        default=d.data,
        metavar="SPEC",
        help="data set: wordfreq:LANG,LANG[,n=N,alpha=0|1] (word lists of the wordfreq package, label = "
        "language), folder:PATH (one <label>.txt per class, one example a line), "
        "csv:PATH[,text=COL,label=COL,header=1|0] (COL: a column name from the header row or an index from 0; "
        "without them the columns text,label or those a header names, or the two columns of a 2-column file; "
        "the header row is told apart from records), synthetic[:n=,length=,vocab=,classes=] (default: %(default)s)",
    )
    add(
        "--val-data",
        default=d.val_data,
        metavar="SPEC",
        help="separate validation data (same forms as --data); it replaces the validation split of --data",
    )
    add(
        "--test-data",
        default=d.test_data,
        metavar="SPEC",
        help="separate test data (same forms as --data); it replaces the test split of --data",
    )
    add(
        "--val-fraction",
        type=arguments.fraction,
        default=d.val_fraction,
        metavar="F",
        help="share of each class of --data drawn for validation; 0 = none (default: 0.1, or 0 with --val-data)",
    )
    add(
        "--test-fraction",
        type=arguments.fraction,
        default=d.test_fraction,
        metavar="F",
        help="share of each class of --data drawn for test; 0 = none, every other record trains "
        "(default: 0.1, or 0 with --test-data)",
    )
    add(
        "--tokens",
        default=d.tokens,
        choices=TOKENIZATIONS,
        help="tokenize records into characters or whitespace-separated words (default: %(default)s)",
    )


def _model_arguments(add: Callable[..., object], d: TrainConfig) -> None:
    """The model and its training: hidden size, batch, epochs, optimizer, clipping, nonlinearity, dtype."""
    add(
        "--hidden",
        type=arguments.positive_int,
        default=d.hidden,
        metavar="H",
        help="hidden size H (default: %(default)s)",
    )
    add(
        "--batch-size",
        type=arguments.positive_int,
        default=d.batch_size,
        metavar="B",
        help="records per training step; 1 = per-record SGD (default: %(default)s)",
    )
    add(
        "--epochs",
        type=arguments.positive_int,
        default=d.epochs,
        help="passes over the train split (default: %(default)s)",
    )
    add("--optimizer", default=d.optimizer, choices=OPTIMIZERS, help="update rule (default: %(default)s)")
    add("--lr", type=float, default=d.lr, help="learning rate (default: %(default)s)")
    add("--momentum", type=float, default=d.momentum, help="SGD momentum, 0 = plain SGD (default: %(default)s)")
    add(
        "--clip-value",
        type=float,
        default=d.clip_value,
        metavar="C",
        help="clip every gradient element to [-C, C] (default: no clipping)",
    )
    add(
        "--clip-norm",
        type=float,
        default=d.clip_norm,
        metavar="C",
        help="scale the gradients so their global L2 norm is at most C (default: no clipping)",
    )
    add(
        "--nonlinearity",
        default=d.nonlinearity,
        choices=impls.NONLINEARITIES,
        help="phi in h_t = phi(W_xh[:, x_t] + W_hh h_{t-1} + b_h) (default: %(default)s)",
    )
    add("--dtype", default=d.dtype, choices=impls.DTYPES, help="parameter and activation dtype (default: %(default)s)")


def _run_arguments(add: Callable[..., object], d: TrainConfig) -> None:
    """Seed, device, threads, record limits, evaluation and where the model goes."""
    add(
        "--seed",
        type=int,
        default=d.seed,
        help="seed of the initial parameters, the data split and the shuffling (default: %(default)s)",
    )
    add("--device", default=d.device, help="device: cpu, or cuda for the torch implementations (default: %(default)s)")
    add(
        "--threads",
        type=arguments.non_negative_int,
        default=d.threads,
        metavar="N",
        help="threads the framework may use; 0 = the framework's own setting. One thread is fastest for "
        "small models and immune to other processes holding a core (default: %(default)s)",
    )
    add(
        "--max-len",
        type=arguments.positive_int,
        default=d.max_len,
        metavar="L",
        help="cut records to their first L tokens (default: %(default)s)",
    )
    add(
        "--per-class",
        type=arguments.positive_int,
        default=d.per_class,
        metavar="N",
        help="at most N records per class (wordfreq: the N most frequent words per language; default: all, "
        f"wordfreq {WORDFREQ_DEFAULT_N})",
    )
    add(
        "--eval-every",
        type=arguments.non_negative_int,
        default=d.eval_every,
        metavar="N",
        help="also evaluate on the validation split every N training records (whole batches, counted from "
        "each epoch's start); 0 = at epoch ends only, "
        "which lets an implementation fuse the epoch (default: %(default)s)",
    )
    add(
        "--out",
        default=d.out,
        metavar="DIR",
        help="write the trained model to DIR (model.json: vocabulary, tokenization, classes, config; params.npz) "
        "for `rnnbench predict DIR`, and DIR/metrics.json (config, records, versions). DIR must be new or empty; "
        "it is checked before the data is loaded (default: write nothing)",
    )
    add(
        "--force",
        action="store_true",
        default=d.force,
        help="let --out DIR be a folder that is not empty, replacing the model files in it",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig named by parsed flags."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**(values | {"threads": values["threads"] or None}))


def _print_epoch(total: int) -> Callable[[Record], None]:
    from tqdm import tqdm

    def show(r: Record) -> None:
        tqdm.write(
            f"epoch {r['epoch']}/{total}: train loss {format_optional(r['train_loss'])} acc {format_optional(r['train_accuracy'], '.3f')}"
            f" | val loss {format_optional(r['val_loss'])} acc {format_optional(r['val_accuracy'], '.3f')}"
            f" | {r['epoch_seconds']:.2f} s (training total {r['train_seconds']:.2f} s"
            + (f", of which compiling {r['compile_seconds']:.2f} s)" if r["compile_seconds"] else ")")
        )

    return show


def _print_eval(r: Record) -> None:
    from tqdm import tqdm

    if r["step"] and not r["epoch_end"]:  # epoch ends are printed by _print_epoch
        tqdm.write(
            f"  {r['records_seen']} records, {r['train_seconds']:.2f} s: val loss {format_optional(r['val_loss'])} "
            f"acc {format_optional(r['val_accuracy'], '.3f')}"
        )


def _print_model(cfg: TrainConfig, need: MemoryEstimate, available: Available) -> None:
    clip = cfg.clip_spec()
    room = format_bytes(available.bytes) if available.bytes is not None else "unknown"
    print(
        f"model: {cfg.impl} on {cfg.device}, H={cfg.hidden} {cfg.nonlinearity} {cfg.dtype}; {cfg.optimizer} "
        f"lr={cfg.lr}{f' momentum={cfg.momentum}' if cfg.momentum else ''}, clip {clip or 'none'}; "
        f"batch {cfg.batch_size}, {cfg.epochs} epochs, seed {cfg.seed}; threads {cfg.threads or 'framework default'}"
        f"\nmemory: {need.describe()}; available {room} ({available.source})",
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    """`rnnbench train`: 0 on success, 1 when training diverged, 2 for bad input or a missing framework."""
    created = False
    try:
        cfg = config_from_args(args)
        cfg.check()
        if cfg.out is not None:  # before any data is loaded: a folder we cannot use costs no training
            created = prepare_out_dir(cfg.out, cfg.force)
        dataset = load_data(cfg)
        print(dataset.describe())
        checked = check_memory(cfg, dataset)
        _print_model(cfg, checked.need, checked.available)
        require_framework(cfg.impl)
        result = train_checked(
            checked,
            progress=True,
            on_epoch=_print_epoch(cfg.epochs),
            on_eval=_print_eval if cfg.eval_every else None,
        )
    except (InputError, FrameworkUnavailableError) as e:
        return _fail(f"rnnbench: error: {e}", 2, cfg_out(args), created)
    except NonFiniteLossError as e:
        return _fail(f"rnnbench: error: {e}", 1, cfg_out(args), created)
    except MemoryError:
        message = "rnnbench: error: out of memory while training; lower --hidden, --batch-size or --max-len"
        return _fail(message, 2, cfg_out(args), created)
    except KeyboardInterrupt:
        return _fail("rnnbench: interrupted", 130, cfg_out(args), created)
    tested = (
        f"test: loss {format_optional(result.test_loss)} accuracy {format_optional(result.test_accuracy, '.3f')}"
        if result.test_accuracy is not None
        else "test: none (no test split)"
    )
    print(
        f"{tested} after {cfg.epochs} epochs, {result.train_seconds:.2f} s of training "
        f"({result.eval_seconds:.2f} s evaluating)"
    )
    if cfg.out is not None:
        try:
            paths = save_training(result, cfg.out)
        except OSError as e:
            print(f"rnnbench: error: cannot write results to {cfg.out!r}: {e}", file=sys.stderr)
            return 2
        print(f"wrote {', '.join(paths)}; label new text with: rnnbench predict {cfg.out} TEXT...")
    return 0


def cfg_out(args: argparse.Namespace) -> str | None:
    return getattr(args, "out", None)


def _fail(message: str, code: int, out: str | None, created: bool) -> int:
    """Print message; remove the --out folder again when this run created it and wrote nothing in it."""
    print(message, file=sys.stderr)
    if created and out is not None:
        with contextlib.suppress(OSError):
            os.rmdir(out)  # only an empty folder goes
    return code
