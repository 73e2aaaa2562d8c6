"""An accuracy point: rnnbench.training.trainer on a real data set, validation accuracy against training seconds.

Every implementation trains with plain SGD at lr = profile.lr(B) and gradient-norm clipping, the same
epochs, evaluated about profile.evals_per_run times (evaluation time excluded from the clock). Seed S of a point
sets the initial weights and the shuffling (workload.SEED + S); the data's split stays the same for
every seed, so that every run is judged on the same validation set.
Checks: finite validation losses, accuracies in [0, 1], a best accuracy above the majority class, a
validation loss that falls, and a training clock that never runs backwards.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np

from rnnbench import jsonio, machine
from rnnbench.bench import workload
from rnnbench.bench.checks import Checks
from rnnbench.bench.points import AccuracyPoint
from rnnbench.bench.profiles import Profile
from rnnbench.runs import records


def load_accuracy_data(profile: Profile):
    """The profile's data set, split as rnnbench train splits it."""
    from rnnbench.data.dataset import load_dataset

    return load_dataset(profile.data, per_class=profile.per_class, max_len=profile.max_len, seed=workload.SEED)


def eval_every(n_train: int, epochs: int, batch: int, evals_per_run: int) -> int:
    """Records between evaluations: about evals_per_run evaluations per run, a whole number of batches."""
    per = max(1, round(n_train * epochs / max(1, evals_per_run)))
    return max(batch, math.ceil(per / batch) * batch)


def _check(checks: Checks, evals: list[dict], majority: float) -> None:
    accs = [r["val_accuracy"] for r in evals]
    losses = [r["val_loss"] for r in evals]
    if not evals:
        checks.problems.append("the run made no evaluation")
        return
    if any(v is None or not math.isfinite(v) for v in losses):
        checks.problems.append("a validation loss is missing or not finite")
    if any(v is None or not 0.0 <= v <= 1.0 for v in accs):
        checks.problems.append("a validation accuracy is missing or outside [0, 1]")
    if any(b < a for a, b in itertools.pairwise(r["train_seconds"] for r in evals)):
        checks.problems.append("training seconds went backwards between evaluations")
    if checks.problems:
        return
    if not max(accs) > majority:
        checks.problems.append(
            f"best validation accuracy {max(accs):.3f} is no better than the majority class {majority:.3f}"
        )
    elif not min(losses[1:], default=math.inf) < losses[0]:
        checks.problems.append(f"the validation loss never fell below its start {losses[0]:.4f}")


def train_config(point: AccuracyPoint, profile: Profile, dataset):
    """The training run of an accuracy point: SGD at the profile's learning rate for point.batch."""
    from rnnbench.training.config import TrainConfig

    return TrainConfig(
        impl=point.impl,
        data=profile.data,
        hidden=profile.acc_hidden,
        batch_size=point.batch,
        epochs=profile.epochs,
        optimizer="sgd",
        lr=profile.lr(point.batch),
        clip_norm=profile.clip_norm,
        seed=workload.SEED + point.seed,
        device=point.device,
        threads=point.threads,
        max_len=profile.max_len,
        per_class=profile.per_class,
        eval_every=eval_every(len(dataset.train), profile.epochs, point.batch, profile.evals_per_run),
    )


def measure_accuracy(
    point: AccuracyPoint, profile: Profile, dataset, *, run_id: str | None, machine_label: str
) -> records.PointRecord:
    """Train point.impl with batch size point.batch on dataset; see the module docstring."""
    from rnnbench.training.trainer import train

    started, date = time.perf_counter(), machine.now_iso()
    cfg = train_config(point, profile, dataset)
    result = train(cfg, dataset, progress=False)
    key = {
        "run_id": run_id,
        "machine": machine_label,
        "point_id": point.point_id,
        "impl": point.impl,
        "device": point.device,
        "threads": point.threads,
        "hidden": profile.acc_hidden,
        "batch": point.batch,
        "seed": point.seed,
        "optimizer": "sgd",
        "lr": cfg.lr,
        "epochs": profile.epochs,
        "data": profile.data,
    }
    evals = [
        records.row(
            records.AccuracyEval(
                **key,
                eval=i,
                epoch=r["epoch"],
                records_seen=r["records_seen"],
                train_seconds=r["train_seconds"],
                compile_seconds=float(r.get("compile_seconds") or 0.0),
                val_accuracy=r["val_accuracy"],
                val_loss=r["val_loss"],
            )
        )
        for i, r in enumerate(result.evals)
    ]
    counts = np.bincount(dataset.train.labels, minlength=dataset.num_classes)
    majority = float(counts.max() / counts.sum())
    checks = Checks()
    _check(checks, evals, majority)
    accs = [r["val_accuracy"] for r in evals]
    return records.PointRecord(
        point_id=point.point_id,
        kind="accuracy",
        run_id=run_id,
        machine=machine_label,
        status=checks.status,
        params={
            **vars(point),
            "profile": profile.name,
            "data": profile.data,
            "train_records": len(dataset.train),
            "val_records": len(dataset.val),
            "config": vars(cfg),
        },
        summary={
            **key,
            "best_val_accuracy": max(accs) if accs and not checks.problems else None,
            "final_val_accuracy": accs[-1] if accs else None,
            "train_seconds": result.train_seconds,
            "compile_seconds": max((r["compile_seconds"] for r in evals), default=0.0),
            "eval_seconds": result.eval_seconds,
            "test_accuracy": result.test_accuracy,
            "majority_accuracy": majority,
            "records_per_second": len(dataset.train) * profile.epochs / result.train_seconds
            if result.train_seconds > 0
            else None,
        },
        tables={"accuracy": evals},
        checks=checks.as_dict(),
        date=date,
        wall_seconds=time.perf_counter() - started,
        thread_info=jsonio.jsonable(result.threads),
    )
