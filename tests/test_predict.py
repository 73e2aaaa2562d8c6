"""rnnbench predict and the model folder: round trip, agreement with training, and every bad input."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import impls
from impls import InputError
from rnnbench import cli
from rnnbench.data.dataset import load_dataset
from rnnbench.training import model_files
from rnnbench.training.model_files import ModelFileError, load_model
from rnnbench.training.predict import predict

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "names"
TRAIN_ARGS = ["--data", f"folder:{EXAMPLE}", "--epochs", "6", "--hidden", "32", "--seed", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A model trained on the shipped example folder by `rnnbench train --out`."""
    out = tmp_path_factory.mktemp("model") / "names"
    assert cli.main(["train", *TRAIN_ARGS, "--out", str(out)]) == 0
    return out


@pytest.fixture
def model_copy(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained model folder that a test may damage."""
    return Path(shutil.copytree(trained, tmp_path / "copy"))


def predicted_labels(output: str) -> list[str]:
    return [line.split("\t")[0] for line in output.splitlines()]


# -- agreement with training ---------------------------------------------------------------------------


def test_predictions_agree_with_the_reported_validation_accuracy(trained: Path, tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    metrics = json.loads((trained / "metrics.json").read_text(encoding="utf-8"))
    reported = metrics["epochs"][-1]["val_accuracy"]
    val = load_dataset(f"folder:{EXAMPLE}", seed=1).val  # the split training drew: same spec, same seed
    names = tmp_path / "val.txt"
    names.write_text("\n".join(val.texts) + "\n", encoding="utf-8")
    assert cli.main(["predict", str(trained), "--input", str(names)]) == 0
    labels = predicted_labels(capsys.readouterr().out)
    classes = metrics["data"]["classes"]
    correct = sum(label == classes[y] for label, y in zip(labels, val.labels.tolist(), strict=True))
    assert len(labels) == len(val)
    assert correct / len(val) == reported
    assert reported > 1 / len(classes), "the example data set is learnable"


def test_saved_model_round_trips(trained: Path) -> None:
    saved = load_model(str(trained))
    metrics = json.loads((trained / "metrics.json").read_text(encoding="utf-8"))
    assert saved.classes == metrics["data"]["classes"] == ["English", "French", "German", "Italian", "Spanish"]
    assert saved.tokens == "char"
    assert saved.max_len == 32
    assert saved.config == impls.ModelConfig(metrics["data"]["vocab_size"], 32, 5)
    assert saved.vocab.tokens[0] == "<unk>"
    assert len(saved.vocab) == saved.config.vocab_size
    assert saved.trained["impl"] == "numpy-bptt"


def test_every_implementation_predicts_the_same(trained: Path, impl_name: str) -> None:
    saved = load_model(str(trained))
    records = ["Kowalski", "Rossini", "Schweinsteiger", "Dupré", "O'Neill", "x" * 100]
    reference, _, _ = predict(saved, records, "numpy-bptt")
    probs, _, _ = predict(saved, records, impl_name)
    assert probs.shape == (6, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(probs, reference, atol=1e-5)


# -- output and input forms ----------------------------------------------------------------------------


def test_top_k_lines(trained: Path, capsys) -> None:
    capsys.readouterr()
    assert cli.main(["predict", str(trained), "Kowalski", "Nakamura", "--top", "9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[-1] for line in lines] == ["Kowalski", "Nakamura"]
    for line in lines:
        fields = line.split("\t")
        assert len(fields) == 2 * 5 + 1, "--top past the number of classes shows every class"
        labels, probs = fields[0:-1:2], [float(p) for p in fields[1:-1:2]]
        assert sorted(labels) == ["English", "French", "German", "Italian", "Spanish"]
        assert probs == sorted(probs, reverse=True)
        assert sum(probs) == pytest.approx(1.0, abs=5e-4)


def test_options_may_come_between_the_model_and_the_texts(trained: Path, capsys) -> None:
    capsys.readouterr()
    assert cli.main(["predict", str(trained), "--top", "2", "Kowalski", "Nakamura"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[-1] for line in lines] == ["Kowalski", "Nakamura"]
    assert all(len(line.split("\t")) == 2 * 2 + 1 for line in lines)


def test_an_unknown_option_after_the_texts_gets_the_sub_commands_usage(trained: Path, capsys) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        cli.main(["predict", str(trained), "--top", "2", "Kowalski", "--bogus"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: rnnbench predict")
    assert "rnnbench predict: error: unrecognized arguments:" in err
    assert "--bogus" in err


def test_a_text_with_a_line_break_or_a_tab_is_one_line(trained: Path, capsys) -> None:
    capsys.readouterr()
    assert cli.main(["predict", str(trained), "Kowal\nski", "Naka\tmura"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[-1] for line in lines] == ["Kowal\\nski", "Naka\\tmura"]


def test_input_file_and_standard_input(trained: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    capsys.readouterr()
    path = tmp_path / "in.txt"
    path.write_bytes("\ufeffKowalski\n\n  Rossini  \r\nDupré\n".encode())  # a BOM, a blank line, CRLF, spaces
    assert cli.main(["predict", str(trained), "--input", str(path)]) == 0
    from_file = capsys.readouterr().out
    assert [line.split("\t")[-1] for line in from_file.splitlines()] == ["Kowalski", "Rossini", "Dupré"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes()), encoding="utf-8"))
    assert cli.main(["predict", str(trained), "--input", "-"]) == 0
    assert capsys.readouterr().out == from_file
    assert cli.main(["predict", str(trained), "Kowalski", "Rossini", "Dupré"]) == 0
    assert capsys.readouterr().out == from_file


def test_unknown_tokens_count_as_unk(trained: Path, capsys) -> None:
    capsys.readouterr()
    assert cli.main(["predict", str(trained), "Жуков", "Kowalski"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err == "note: 5 of 13 tokens are not in the model's vocabulary and count as <unk>\n"
    saved = load_model(str(trained))
    unknown_only, _, _ = predict(saved, ["Жуков"])
    all_unk, _, _ = predict(saved, ["ЖЖЖЖЖ"])
    np.testing.assert_array_equal(unknown_only, all_unk)  # every unseen token is the same <unk>


# -- bad input -----------------------------------------------------------------------------------------


def _no_records(model: Path, _tmp: Path) -> list[str]:
    return [str(model)]


def _both(model: Path, _tmp: Path) -> list[str]:
    return [str(model), "Kowalski", "--input", "-"]


def _empty_text(model: Path, _tmp: Path) -> list[str]:
    return [str(model), "Kowalski", "  "]


def _missing_input(model: Path, tmp: Path) -> list[str]:
    return [str(model), "--input", str(tmp / "nope.txt")]


def _blank_input(model: Path, tmp: Path) -> list[str]:
    (tmp / "blank.txt").write_text("\n  \n", encoding="utf-8")
    return [str(model), "--input", str(tmp / "blank.txt")]


def _latin1_input(model: Path, tmp: Path) -> list[str]:
    (tmp / "latin1.txt").write_bytes("Müller\n".encode("latin-1"))
    return [str(model), "--input", str(tmp / "latin1.txt")]


def _no_folder(_model: Path, tmp: Path) -> list[str]:
    return [str(tmp / "nowhere"), "Kowalski"]


def _folder_without_model(_model: Path, tmp: Path) -> list[str]:
    return [str(tmp), "Kowalski"]


def _old_folder(model: Path, _tmp: Path) -> list[str]:
    (model / "model.json").unlink()
    return [str(model), "Kowalski"]


def _unknown_impl(model: Path, _tmp: Path) -> list[str]:
    return [str(model), "Kowalski", "--impl", "fortran"]


@pytest.mark.parametrize(
    ("make_argv", "message"),
    [
        pytest.param(_no_records, "no records to label: give TEXT arguments, or --input FILE", id="no-records"),
        pytest.param(_both, "give the records as TEXT arguments or with --input, not both", id="text-and-input"),
        pytest.param(_empty_text, "record 2 is empty: there is nothing to label", id="empty-text"),
        pytest.param(_missing_input, "input file '{tmp}/nope.txt' does not exist", id="missing-input"),
        pytest.param(_blank_input, "'{tmp}/blank.txt' holds no records", id="blank-input"),
        pytest.param(_latin1_input, "input file '{tmp}/latin1.txt' is not valid UTF-8", id="input-not-utf8"),
        pytest.param(_no_folder, "model folder '{tmp}/nowhere' does not exist", id="no-folder"),
        pytest.param(_folder_without_model, "'{tmp}' holds no model: it has no model.json", id="no-model"),
        pytest.param(_old_folder, "params.npz without model.json", id="params-only"),
        pytest.param(_unknown_impl, "unknown implementation 'fortran'", id="unknown-impl"),
    ],
)
def test_bad_input_gets_one_line(model_copy: Path, tmp_path: Path, capsys, make_argv, message: str) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    capsys.readouterr()
    assert cli.main(["predict", *make_argv(model_copy, inputs)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("rnnbench: error: ")
    assert message.format(tmp=inputs) in captured.err
    assert captured.err.count("\n") == 1
    assert captured.out == ""


# -- a model folder from someone else ------------------------------------------------------------------


def _rewrite_model_json(folder: Path, change) -> None:
    """Apply change(body) to model.json and write it back with honest checksums (a careful forger)."""
    body = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    body.pop("checksum")
    change(body)
    body["files"]["params.npz"] = model_files.file_sha256(folder / "params.npz")
    body["checksum"] = model_files.body_checksum(body)
    (folder / "model.json").write_text(json.dumps(body), encoding="utf-8")


def _edit_a_class(folder: Path) -> None:
    path = folder / "model.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"French"', '"Klingon"'), encoding="utf-8")


def _truncate(name: str):
    def damage(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])

    return damage


def _pickled_params(folder: Path) -> None:
    with np.load(folder / "params.npz") as npz:
        arrays = dict(npz)
    arrays["b_y"] = np.array([{"not": "an array"}] * 5, dtype=object)  # loading it would need a pickle
    with open(folder / "params.npz", "wb") as f:
        np.savez(f, **arrays)
    _rewrite_model_json(folder, lambda _body: None)


def _wrong_shape(folder: Path) -> None:
    with np.load(folder / "params.npz") as npz:
        arrays = dict(npz)
    arrays["W_hh"] = arrays["W_hh"][:, :-1]
    with open(folder / "params.npz", "wb") as f:
        np.savez(f, **arrays)
    _rewrite_model_json(folder, lambda _body: None)


def _non_finite(folder: Path) -> None:
    with np.load(folder / "params.npz") as npz:
        arrays = dict(npz)
    arrays["b_h"][0] = np.nan
    with open(folder / "params.npz", "wb") as f:
        np.savez(f, **arrays)
    _rewrite_model_json(folder, lambda _body: None)


def _short_vocab(folder: Path) -> None:
    _rewrite_model_json(folder, lambda body: body["vocab"].pop())


def _new_version(folder: Path) -> None:
    _rewrite_model_json(folder, lambda body: body.update(format_version=99))


def _bad_tokens(folder: Path) -> None:
    _rewrite_model_json(folder, lambda body: body.update(tokens="bytes"))


def _extra_array(folder: Path) -> None:
    with np.load(folder / "params.npz") as npz:
        arrays = dict(npz)
    with open(folder / "params.npz", "wb") as f:
        np.savez(f, **arrays, extra=np.zeros(3))
    _rewrite_model_json(folder, lambda _body: None)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(_edit_a_class, r"model\.json was changed after it was written: its checksum", id="edited"),
        pytest.param(_truncate("model.json"), r"model\.json is damaged or truncated: not JSON", id="json-truncated"),
        pytest.param(_truncate("params.npz"), r"params\.npz is damaged, truncated or replaced", id="npz-truncated"),
        pytest.param(_pickled_params, r"params\.npz cannot be read as plain arrays", id="object-array"),
        pytest.param(_wrong_shape, r"params\.npz: param W_hh must have shape \(32, 32\)", id="wrong-shape"),
        pytest.param(_non_finite, r"params\.npz: param b_h has non-finite values", id="non-finite"),
        pytest.param(_extra_array, r"params\.npz must hold exactly W_xh, W_hh, b_h, W_hy, b_y", id="extra-array"),
        pytest.param(_short_vocab, r"'vocab' has \d+ entries but the model config says \d+", id="vocab-length"),
        pytest.param(_new_version, r"has format version 99; this rnnbench reads 1", id="format-version"),
        pytest.param(_bad_tokens, r"tokens must be one of \('char', 'word'\), got 'bytes'", id="tokens"),
    ],
)
def test_a_damaged_model_gets_one_clear_line(model_copy: Path, capsys, damage, message: str) -> None:
    damage(model_copy)
    with pytest.raises(ModelFileError, match=message):
        load_model(str(model_copy))
    capsys.readouterr()
    assert cli.main(["predict", str(model_copy), "Kowalski"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnbench: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_prediction_refuses_what_does_not_fit(trained: Path, monkeypatch) -> None:
    from rnnbench.training import resources

    monkeypatch.setattr(resources, "host_memory", lambda: resources.Available(1000, "a test's budget"))
    with pytest.raises(InputError, match=r"prediction needs about .* but 1000 B is available \(a test's budget\)"):
        predict(load_model(str(trained)), ["Kowalski"])
