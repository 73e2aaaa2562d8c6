"""rnnbench.training.trainer: the training loop, its records, divergence, and `rnnbench train` end to end."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import impls
from impls import InputError, NonFiniteLossError
from rnnbench import cli, machine
from rnnbench.data.dataset import load_dataset
from rnnbench.training import resources
from rnnbench.training import trainer as train_module
from rnnbench.training.config import TrainConfig, load_data
from rnnbench.training.trainer import evaluate, memory_estimate, train

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
        pytest.param({"seed": -1}, r"seed must be an integer in \[0, 4294967296\), got -1", id="seed"),
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
    flags += ["--threads", "--max-len", "--per-class", "--eval-every", "--out", "--force", "--test-data"]
    flags += ["--val-fraction", "--test-fraction"]
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


# -- the output folder, checked before anything else ---------------------------------------------------


def _not_empty(tmp_path: Path) -> tuple[str, str]:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("someone's file\n", encoding="utf-8")
    return str(out), f"output folder '{out}' is not empty (it holds keep.txt); choose a new folder, or pass --force"


def _a_file(tmp_path: Path) -> tuple[str, str]:
    out = tmp_path / "results.txt"
    out.write_text("x\n", encoding="utf-8")
    return str(out), f"output folder '{out}' is a file, not a folder"


def _under_a_file(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "results.txt").write_text("x\n", encoding="utf-8")
    out = tmp_path / "results.txt" / "run"
    return str(out), f"output folder '{out}' cannot be written: Not a directory"


@pytest.mark.parametrize("make_out", [_not_empty, _a_file, _under_a_file], ids=["not-empty", "a-file", "under-a-file"])
def test_cli_refuses_an_unusable_out_before_loading_data(run_cli, tmp_path: Path, capsys, make_out) -> None:
    out, message = make_out(tmp_path)
    # the data spec is bad too: the out folder's error comes first, so no data was read and nothing trained
    assert run_cli(["train", "--data", "folder:/no/such/dir", "--out", out]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"rnnbench: error: {message}")
    assert captured.err.count("\n") == 1
    assert captured.out == ""


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write into a read-only folder")
def test_cli_refuses_a_read_only_out(run_cli, tmp_path: Path, capsys) -> None:
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert run_cli(["train", "--data", SYNTHETIC, "--out", str(out)]) == 2
    finally:
        out.chmod(0o700)
    assert f"output folder '{out}' cannot be written" in capsys.readouterr().err


def test_cli_force_replaces_the_model_files_of_a_non_empty_out(run_cli, tmp_path: Path) -> None:
    out, _ = _not_empty(tmp_path)
    argv = ["train", "--data", SYNTHETIC, "--hidden", "8", "--epochs", "1", "--out", out, "--force"]
    assert run_cli(argv) == 0
    assert run_cli(argv) == 0, "a second --force run replaces the first one's files"
    names = sorted(p.name for p in Path(out).iterdir())
    assert names == ["keep.txt", "metrics.json", "model.json", "params.npz"]


def test_cli_removes_the_out_folder_it_created_when_the_run_fails(run_cli, tmp_path: Path, capsys) -> None:
    out = tmp_path / "new" / "run"
    assert run_cli(["train", "--data", "folder:/no/such/dir", "--out", str(out)]) == 2
    assert "data folder '/no/such/dir' does not exist" in capsys.readouterr().err
    assert not out.exists()


def test_a_negative_seed_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """Through the console script's module, from a folder of the user's: exit 2, one line, no runs/."""
    (tmp_path / "F.csv").write_text("".join(f"{w}{i},{w}\n" for i in range(20) for w in ("ab", "cd")))
    env = os.environ | {"PYTHONPATH": str(machine.REPO_ROOT)}
    argv = [sys.executable, "-m", "rnnbench.cli", "train", "--data", "csv:F.csv", "--seed", "-1", "--out", "runs/s"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "rnnbench: error: seed must be an integer in [0, 4294967296), got -1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["F.csv"]


# -- splits from the command line ----------------------------------------------------------------------


def test_cli_trains_on_every_row_when_asked(run_cli, tmp_path: Path, capsys) -> None:
    train_csv = tmp_path / "train.csv"
    train_csv.write_text("".join(f"good film number {i},pos\nbad film number {i},neg\n" for i in range(6)))
    test_csv = tmp_path / "test.csv"
    test_csv.write_text("a good one,pos\na bad one,neg\ngood,pos\nbad,neg\n")
    argv = ["train", "--data", f"csv:{train_csv}", "--val-data", f"csv:{test_csv}", "--test-fraction", "0"]
    out = tmp_path / "run"
    assert run_cli([*argv, "--tokens", "word", "--epochs", "2", "--hidden", "8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "records: train 12, validation 4, test 0" in printed
    assert f"train: all 12 records of csv:{train_csv}" in printed
    assert f"validation: all 4 records of csv:{test_csv} (separate validation data)" in printed
    assert "test: none (test fraction 0)" in printed
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert [r["records_seen"] for r in metrics["epochs"]] == [12, 24]


def test_cli_test_data_replaces_the_test_split(run_cli, capsys) -> None:
    argv = ["train", "--data", SYNTHETIC, "--test-data", "synthetic:n=30,length=5,vocab=12,classes=3,seed=9"]
    assert run_cli([*argv, "--val-fraction", "0.25", "--epochs", "1", "--hidden", "8"]) == 0
    printed = capsys.readouterr().out
    train_n, val_n = (int(n) for n in re.search(r"records: train (\d+), validation (\d+), test 30\n", printed).groups())
    assert train_n + val_n == 400
    assert 95 <= val_n <= 105  # a quarter of each class, rounded per class


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--val-data", SYNTHETIC, "--val-fraction", "0.2"], "exclude each other", id="val-both"),
        pytest.param(["--test-data", SYNTHETIC, "--test-fraction", "0.2"], "exclude each other", id="test-both"),
        pytest.param(["--val-fraction", "0.6", "--test-fraction", "0.5"], "must be < 1", id="fractions-sum"),
    ],
)
def test_cli_split_conflicts(run_cli, capsys, argv: list[str], message: str) -> None:
    assert run_cli(["train", "--data", SYNTHETIC, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_cli_rejects_a_fraction_outside_0_1(run_cli, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["train", "--test-fraction", "1.5"])
    assert exit_info.value.code == 2
    assert "expected a fraction in [0, 1), got '1.5'" in capsys.readouterr().err


# -- the memory guard ----------------------------------------------------------------------------------


def test_cli_refuses_a_huge_hidden_size_with_one_line(run_cli, capsys) -> None:
    assert run_cli(["train", "--data", SYNTHETIC, "--hidden", "10000000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnbench: error: training needs about ")
    assert "parameters and optimizer state" in err
    assert " is available (" in err
    assert "lower --hidden, --batch-size or --max-len" in err
    assert err.count("\n") == 1


def test_train_refuses_what_does_not_fit_before_allocating(monkeypatch) -> None:
    monkeypatch.setattr(resources, "host_memory", lambda: resources.Available(50_000, "a test's budget"))
    with pytest.raises(InputError, match=r"training needs about .* but 48\.8 KiB is available \(a test's budget\)"):
        train(TrainConfig(**FAST, epochs=1), progress=False)


def test_memory_guard_names_the_bptt_shape_of_a_long_record(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("x" * 5000 + ",a\nshort,b\nother,a\nmore,b\n", encoding="utf-8")
    cfg = TrainConfig(data=f"csv:{path}", hidden=16, batch_size=4, max_len=10_000, val_fraction=0.0, test_fraction=0.0)
    need = memory_estimate(cfg, load_data(cfg))
    assert need.train_shape == resources.Shape(4, 5000)
    assert need.eval_shape.tokens == 5000
    assert "B x T x H = 4 x 5000 x 16" in need.describe()


@pytest.mark.parametrize(
    ("B", "T", "H", "V", "optimizer"),
    [
        pytest.param(16, 40, 32, 30, "adam", id="adam"),
        pytest.param(8, 20, 16, 700, "sgd", id="large-vocab-sgd"),
        # long records: torch-compile pads T=70 to a 128-step graph (the estimate must count the padding)
        # that compiles in seconds, where T=300 made a 512-step one that took most of a minute
        pytest.param(4, 70, 8, 5, "momentum", id="long-momentum"),
    ],
)
def test_memory_estimate_bounds_the_measured_step_memory(impl_name: str, B, T, H, V, optimizer) -> None:
    config = impls.ModelConfig(V, H, 4)
    spec = impls.Adam(lr=1e-3) if optimizer == "adam" else impls.SGD(lr=0.1, momentum=0.9 * (optimizer == "momentum"))
    model = impls.load(impl_name, config, impls.init_params(config), optimizer=spec, threads=1)
    rng = np.random.default_rng(0)
    measured = model.step_memory(impls.Batch(rng.integers(0, V, (B, T)), np.full(B, T), rng.integers(0, 4, B)))
    if measured.peak_bytes is None:
        pytest.skip(f"{impl_name} does not measure its step memory here: {measured.method}")
    shape = resources.Shape(B, T)
    need = resources.estimate(impl_name, config, optimizer=optimizer, train_shape=shape, eval_shape=shape)
    # a step allocates neither the parameters nor the copy handed back at the end: the estimate less those
    # two stays within a few times what a step was measured to allocate
    resident = 2 * config.np_dtype.itemsize * sum(int(np.prod(s)) for s in config.param_shapes().values())
    assert measured.peak_bytes <= need.step + need.parameters
    assert need.step + need.parameters - resident <= 4 * measured.peak_bytes


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_memory_estimate_covers_the_traced_peak_where_the_parameters_dominate(optimizer: str) -> None:
    """numpy-bptt at H=1024, V=5, B=T=2: the parameters, their gradients, the optimizer's state and the
    update's temporaries are nearly all a run holds. tracemalloc counts every NumPy allocation from the
    parameters' creation to the copy handed back (a count of bytes, not of time: load cannot move it)."""
    import tracemalloc

    config = impls.ModelConfig(5, 1024, 4)
    spec = impls.Adam(lr=1e-3) if optimizer == "adam" else impls.SGD(lr=0.1, momentum=0.9 * (optimizer == "momentum"))
    rng = np.random.default_rng(0)
    batch = impls.Batch(rng.integers(0, 5, (2, 2)), np.full(2, 2), rng.integers(0, 4, 2))
    tracemalloc.start()
    try:
        model = impls.load("numpy-bptt", config, impls.init_params(config), optimizer=spec, threads=1)
        for _ in range(2):
            model.train_step(batch)
        model.get_params()
        _, traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    shape = resources.Shape(2, 2)
    need = resources.estimate("numpy-bptt", config, optimizer=optimizer, train_shape=shape, eval_shape=shape)
    assert traced <= need.peak <= 1.5 * traced


# -- progress ------------------------------------------------------------------------------------------


class RecordingBar:
    def __init__(self) -> None:
        self.updates: list[int] = []

    def update(self, n: int) -> None:
        self.updates.append(n)

    def set_postfix(self, **_) -> None:
        pass

    def close(self) -> None:
        pass


def test_progress_advances_per_batch(impl_name: str, monkeypatch) -> None:
    bar = RecordingBar()
    monkeypatch.setattr(train_module, "_progress_bar", lambda _total, _enabled: bar)
    train(TrainConfig(**(FAST | {"impl": impl_name}), epochs=2), progress=True)
    if impl_name == "jax-scan":  # one fused call per epoch: the bar moves per call
        assert bar.updates == [320, 320]
    else:
        assert bar.updates == [16] * 40


def test_progress_is_silent_when_not_a_terminal(capsys) -> None:
    train(TrainConfig(**FAST, epochs=1), progress=True)
    assert capsys.readouterr().err == ""
