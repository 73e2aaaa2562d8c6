"""rnnbench.train: the training loop, its records, divergence, and `rnnbench train` end to end."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

import impls
from impls import InputError, NonFiniteLossError
from rnnbench import cli
from rnnbench.data import load_dataset
from rnnbench.train import TrainConfig, evaluate, train

SYNTHETIC = "synthetic:n=400,length=5,vocab=12,classes=3"  # chance is 1/3
FAST = {"data": SYNTHETIC, "hidden": 16, "batch_size": 16, "lr": 0.01, "threads": 1}


@pytest.fixture
def run_cli():
    """The `rnnbench` entry point, called in-process."""
    return cli.main


@pytest.fixture(scope="module")
def learned():
    """One short training run on synthetic data, shared by the tests that inspect its result."""
    evals = []
    result = train(TrainConfig(**FAST, epochs=6), progress=False, on_eval=evals.append)
    return result, evals


def test_train_learns_above_chance(learned) -> None:
    result, _ = learned
    assert result.epochs[-1]["val_accuracy"] > 0.8
    assert result.test_accuracy > 0.8
    assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"]


def test_records_are_complete_and_finite(learned) -> None:
    result, evals = learned
    assert [r["epoch"] for r in result.epochs] == [1, 2, 3, 4, 5, 6]
    keys = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "train_seconds", "epoch_seconds"}
    for r in result.epochs:
        assert keys <= r.keys()
        assert all(math.isfinite(r[k]) for k in keys)
        assert r["records_seen"] == r["epoch"] * 320
        assert r["step"] == r["epoch"] * 20
    seconds = [r["train_seconds"] for r in result.epochs]
    assert seconds == sorted(seconds)
    assert math.isclose(sum(r["epoch_seconds"] for r in result.epochs), seconds[-1])
    assert evals == result.evals
    assert evals[0]["step"] == 0
    assert evals[0]["train_seconds"] == 0.0
    assert math.isfinite(result.test_loss)
    assert 0.0 <= result.test_accuracy <= 1.0
    assert set(result.params) == set(impls.PARAM_NAMES)
    assert result.params["W_xh"].shape == (16, result.data["vocab_size"])


@pytest.mark.parametrize(
    ("eval_every", "seen"),
    [
        pytest.param(0, [0, 320, 640], id="per-epoch"),
        # batches of 16, 20 per epoch: every 7 batches (112 records) from each epoch's start, and at its end
        pytest.param(100, [0, 112, 224, 320, 432, 544, 640], id="100"),
        pytest.param(320, [0, 320, 640], id="one-epoch"),
        pytest.param(500, [0, 320, 640], id="500"),  # longer than an epoch: at epoch ends only
    ],
)
def test_eval_every_records(eval_every: int, seen: list[int]) -> None:
    evals = []
    result = train(TrainConfig(**FAST, epochs=2, eval_every=eval_every), progress=False, on_eval=evals.append)
    assert [r["records_seen"] for r in evals] == seen  # the first before any training
    assert [r["records_seen"] for r in result.epochs] == [320, 640]


def test_evaluate_matches_the_model_loss() -> None:
    ds = load_dataset(SYNTHETIC)
    config = impls.ModelConfig(ds.vocab_size, 8, ds.num_classes, dtype="float64")
    model = impls.load("numpy-bptt", config, impls.init_params(config, seed=0))
    batch = impls.Batch.from_sequences(ds.val.sequences, ds.val.labels)
    loss, accuracy = evaluate(model, [batch])
    expected_loss, _ = model.loss_and_grads(batch)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    assert accuracy == np.mean(model.logits(batch).argmax(axis=1) == ds.val.labels)


def test_training_without_a_validation_split() -> None:
    dataset = load_dataset(SYNTHETIC, val_fraction=0.0)
    result = train(TrainConfig(**FAST, epochs=1), dataset, progress=False)
    assert result.epochs[0]["val_accuracy"] is None
    assert result.to_dict()["epochs"][0]["val_loss"] is None
    assert math.isfinite(result.test_accuracy)


def test_two_runs_give_identical_results() -> None:
    cfg = TrainConfig(**FAST, epochs=1)
    a, b = train(cfg, progress=False), train(cfg, progress=False)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in impls.PARAM_NAMES)
    assert [r["val_loss"] for r in a.evals] == [r["val_loss"] for r in b.evals]


def test_diverging_run_raises_non_finite_loss_error() -> None:
    cfg = TrainConfig(**(FAST | {"lr": 1e4}), optimizer="sgd", nonlinearity="relu", epochs=3)
    with pytest.raises(NonFiniteLossError, match=r"became (nan|inf) at epoch \d+, step \d+ .*lower the learning rate"):
        train(cfg, progress=False)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        pytest.param({"impl": "cuda-magic"}, "unknown implementation 'cuda-magic'", id="impl"),
        pytest.param({"device": "tpu"}, "unknown device 'tpu'", id="device"),
        pytest.param({"clip_value": 1.0, "clip_norm": 1.0}, "not both", id="two-clips"),
        pytest.param({"momentum": 0.9}, "momentum applies to the sgd optimizer only", id="momentum-with-adam"),
        pytest.param({"optimizer": "rmsprop"}, "optimizer must be one of", id="optimizer"),
        pytest.param({"epochs": 0}, "epochs must be a positive integer", id="epochs"),
        pytest.param({"eval_every": -1}, "eval_every must be a non-negative integer", id="eval-every"),
        pytest.param({"lr": -1.0}, "lr must be a positive finite number", id="lr"),
        pytest.param({"data": "nope:x"}, "unknown data source 'nope'", id="data"),
    ],
)
def test_bad_config_raises_input_error(changes: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        train(TrainConfig(**(FAST | changes)), progress=False)


# -- command line ------------------------------------------------------------------------------------


def test_cli_trains_and_writes_metrics_and_params(run_cli, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["train", "--data", SYNTHETIC, "--hidden", "16", "--epochs", "2", "--batch-size", "16"]
    assert run_cli([*argv, "--lr", "0.01", "--eval-every", "100", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "epoch 2/2" in printed
    assert "test: loss" in printed
    assert "metrics.json" in printed

    def no_nan(name: str):
        raise AssertionError(f"metrics.json holds {name}, which is not JSON")

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"), parse_constant=no_nan)
    assert metrics["config"]["hidden"] == 16
    assert metrics["config"]["eval_every"] == 100
    assert [r["epoch"] for r in metrics["epochs"]] == [1, 2]
    assert len(metrics["evals"]) == 1 + 2 * 3  # before training, then 3 per epoch (7 + 7 + 6 batches)
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert {"python", "numpy", "platform"} <= metrics["versions"].keys()
    assert metrics["date"]
    with np.load(out / "params.npz") as params:
        assert sorted(params.files) == sorted(impls.PARAM_NAMES)
        assert params["W_hh"].shape == (16, 16)
        assert params["W_hy"].shape == (3, 16)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.json", "params.npz"], "no temporary files"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        pytest.param(
            ["--impl", "nope"], 2, "rnnbench: error: unknown implementation 'nope'; known: numpy-bptt", id="impl"
        ),
        pytest.param(["--data", "folder:/no/such/dir"], 2, "rnnbench: error: data folder", id="data"),
        pytest.param(["--clip-value", "1", "--clip-norm", "1"], 2, "rnnbench: error: choose one of", id="clips"),
        pytest.param(
            ["--optimizer", "sgd", "--lr", "1e4", "--nonlinearity", "relu"], 1, "training diverged", id="diverges"
        ),
    ],
)
def test_cli_prints_clean_errors(run_cli, capsys, argv: list[str], code: int, message: str) -> None:
    assert run_cli(["train", "--data", SYNTHETIC, "--epochs", "2", *argv]) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_cli_help_explains_every_flag(run_cli, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["train", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    flags = ["--impl", "--data", "--val-data", "--tokens", "--hidden", "--batch-size", "--epochs", "--optimizer"]
    flags += ["--lr", "--momentum", "--clip-value", "--clip-norm", "--nonlinearity", "--dtype", "--seed", "--device"]
    flags += ["--threads", "--max-len", "--per-class", "--eval-every", "--out"]
    missing = [flag for flag in flags if flag not in text]
    assert not missing
    assert "default: numpy-bptt" in text
    assert "default: wordfreq:en,fr,de" in text


def test_every_implementation_trains_to_the_same_parameters(impl_name: str) -> None:
    cfg = TrainConfig(**FAST, epochs=1, dtype="float64")
    reference = train(cfg, progress=False)
    result = train(dataclasses.replace(cfg, impl=impl_name), progress=False)
    for name in impls.PARAM_NAMES:
        np.testing.assert_allclose(result.params[name], reference.params[name], rtol=1e-8, atol=1e-10, err_msg=name)
    assert result.epochs[0]["val_accuracy"] == reference.epochs[0]["val_accuracy"]
