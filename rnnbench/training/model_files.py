"""A trained model's folder: what prediction needs, written atomically and read without running any code.

    DIR/model.json    format and version, the model config, the tokenization and max_len, the class
                      names, the vocabulary, and the SHA-256 of params.npz; a checksum over the rest of
                      model.json itself
    DIR/params.npz    the canonical parameters as plain arrays (read with allow_pickle=False)
    DIR/metrics.json  the training records (rnnbench.training.model_files.save_training; prediction does not read it)

A model folder may come from someone else: loading parses JSON and reads plain arrays, never a pickle,
and checks every field, shape and checksum, so a damaged, truncated or edited file gets one line that
names it (the checksums catch damage and careless edits; they are no signature against a forger).
model.json is written last, so a folder whose writing was cut short holds no model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import impls
from impls import InputError, ModelConfig, Params
from rnnbench import machine
from rnnbench.atomic import atomic_write, atomic_write_text
from rnnbench.data.dataset import TOKENIZATIONS, Vocab

FORMAT = "rnnbench-model"
FORMAT_VERSION = 1
MODEL_FILE, PARAMS_FILE = "model.json", "params.npz"


class ModelFileError(InputError):
    """A model folder that holds no model, or a damaged one: the message names the folder and the file."""


@dataclass(frozen=True)
class SavedModel:
    """Everything needed to label new text: parameters, their config, and how text becomes ids."""

    config: ModelConfig
    params: Params
    vocab: Vocab
    tokens: str
    max_len: int
    classes: list[str]
    trained: dict[str, Any]  # how it was trained (implementation, data spec): for people, not for prediction


# -- the output folder ---------------------------------------------------------------------------------


def prepare_out_dir(path: str, force: bool) -> bool:
    """Make sure path can take a model before any work: a folder (created if absent), writable, and empty
    unless force. Returns whether it was created here (the caller may remove it again if nothing is written)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output folder {path!r} is a file, not a folder")
    if folder.is_dir():
        entries = sorted(os.listdir(folder))
        if entries and not force:
            shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
            raise InputError(
                f"output folder {path!r} is not empty (it holds {shown}); choose a new folder, or pass "
                "--force to replace the model files in it"
            )
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".rnnbench-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise InputError(f"output folder {path!r} cannot be written: {e.strerror or e}") from None
    return created


# -- writing -------------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def body_checksum(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def save_model(
    out: str,
    *,
    config: ModelConfig,
    params: Params,
    vocab: Vocab,
    tokens: str,
    max_len: int,
    classes: list[str],
    trained: dict[str, Any],
) -> list[Path]:
    """Write out/params.npz, then out/model.json (each atomically); return their paths."""
    folder = Path(out)
    model_path, params_path = folder / MODEL_FILE, folder / PARAMS_FILE
    with contextlib.suppress(FileNotFoundError):
        model_path.unlink()  # while the parameters change, the folder must not look like a whole model
    arrays = impls.validate_params(params, config)
    atomic_write(params_path, lambda f: np.savez(f, **arrays))
    body = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": {
            "vocab_size": config.vocab_size,
            "hidden_size": config.hidden_size,
            "num_classes": config.num_classes,
            "nonlinearity": config.nonlinearity,
            "dtype": config.dtype,
        },
        "tokens": tokens,
        "max_len": int(max_len),
        "classes": list(classes),
        "vocab": list(vocab.tokens),
        "files": {PARAMS_FILE: file_sha256(params_path)},
        "trained": trained,
    }
    text = json.dumps(body | {"checksum": body_checksum(body)}, indent=1, ensure_ascii=False, allow_nan=False)
    atomic_write_text(model_path, text + "\n")
    return [params_path, model_path]


# -- reading -------------------------------------------------------------------------------------------


def load_model(path: str) -> SavedModel:
    """The model in folder path, every part checked; ModelFileError names what is missing or damaged."""
    folder = Path(path)
    if not folder.exists():
        raise ModelFileError(f"model folder {path!r} does not exist")
    if not folder.is_dir():
        raise ModelFileError(f"{path!r} is a file, not a model folder (rnnbench train --out DIR writes one)")
    model_path, params_path = folder / MODEL_FILE, folder / PARAMS_FILE
    if not model_path.is_file():
        older = " (params.npz without model.json: written before models could be reloaded)"
        raise ModelFileError(
            f"{path!r} holds no model: it has no {MODEL_FILE}{older if params_path.exists() else ''}; "
            "rnnbench train --out DIR writes one"
        )
    body = _read_model_json(model_path)
    where = f"{model_path}"
    config = _model_config(body, where)
    tokens, max_len = body.get("tokens"), body.get("max_len")
    if tokens not in TOKENIZATIONS:
        raise ModelFileError(f"{where}: tokens must be one of {TOKENIZATIONS}, got {tokens!r}")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ModelFileError(f"{where}: max_len must be a positive integer, got {max_len!r}")
    classes = _strings(body, "classes", config.num_classes, where)
    vocab_tokens = _strings(body, "vocab", config.vocab_size, where)
    if vocab_tokens[0] != Vocab.UNK:
        raise ModelFileError(f"{where}: the vocabulary's first token must be {Vocab.UNK!r}")
    files = body.get("files")
    expected = files.get(PARAMS_FILE) if isinstance(files, dict) else None
    if not isinstance(expected, str):
        raise ModelFileError(f"{where}: no checksum of {PARAMS_FILE}")
    params = _read_params(params_path, expected, config)
    trained = body.get("trained") if isinstance(body.get("trained"), dict) else {}
    return SavedModel(config, params, Vocab(tuple(vocab_tokens)), tokens, max_len, classes, trained)


def _read_model_json(model_path: Path) -> dict[str, Any]:
    try:
        text = model_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"{model_path} is damaged: not UTF-8 text") from None
    except OSError as e:
        raise ModelFileError(f"cannot read {model_path}: {e.strerror or e}") from None
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        msg = getattr(e, "msg", "nested too deeply")
        raise ModelFileError(f"{model_path} is damaged or truncated: not JSON ({msg})") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ModelFileError(f'{model_path} is not an rnnbench model file (no "format": {FORMAT!r})')
    if body.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{model_path} has format version {body.get('format_version')!r}; this rnnbench reads {FORMAT_VERSION}"
        )
    checksum = body.pop("checksum", None)
    try:
        actual = body_checksum(body)
    except (TypeError, ValueError):
        actual = None
    if checksum != actual:
        raise ModelFileError(f"{model_path} was changed after it was written: its checksum does not match")
    return body


def _model_config(body: dict[str, Any], where: str) -> ModelConfig:
    fields = body.get("model")
    names = ("vocab_size", "hidden_size", "num_classes", "nonlinearity", "dtype")
    if not isinstance(fields, dict) or sorted(fields) != sorted(names):
        raise ModelFileError(f'{where}: "model" must hold exactly {", ".join(names)}')
    try:
        return ModelConfig(**fields)
    except (InputError, TypeError) as e:
        raise ModelFileError(f"{where}: bad model config: {e}") from None


def _strings(body: dict[str, Any], key: str, count: int, where: str) -> list[str]:
    values = body.get(key)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ModelFileError(f"{where}: {key!r} must be a list of strings")
    if len(values) != count:
        raise ModelFileError(f"{where}: {key!r} has {len(values)} entries but the model config says {count}")
    if len(set(values)) != len(values):
        raise ModelFileError(f"{where}: {key!r} names an entry twice")
    return values


def _read_params(params_path: Path, expected_sha256: str, config: ModelConfig) -> Params:
    if not params_path.is_file():
        raise ModelFileError(f"{params_path} is missing")
    if file_sha256(params_path) != expected_sha256:
        raise ModelFileError(f"{params_path} is damaged, truncated or replaced: its checksum does not match model.json")
    try:
        with np.load(params_path, allow_pickle=False) as npz:
            names = list(npz.files)
            arrays = {name: npz[name] for name in impls.PARAM_NAMES if name in names}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:  # an object array would need a pickle
        raise ModelFileError(f"{params_path} cannot be read as plain arrays: {e}") from None
    if sorted(names) != sorted(impls.PARAM_NAMES):
        raise ModelFileError(f"{params_path} must hold exactly {', '.join(impls.PARAM_NAMES)}, got {names}")
    try:
        return impls.validate_params(arrays, config)
    except InputError as e:
        raise ModelFileError(f"{params_path}: {e}") from None


def save_training(result, out: str) -> list[str]:
    """Write out/metrics.json, then the model (out/params.npz, out/model.json; see rnnbench.training.model_files),
    each file atomically; return their paths. Without result.vocab only metrics.json and params.npz."""
    os.makedirs(out, exist_ok=True)
    versions = {"python": platform.python_version(), "platform": platform.platform(), **machine.versions()}
    metrics = result.to_dict() | {"versions": versions, "date": machine.now_iso()}
    text = json.dumps(metrics, indent=2, allow_nan=False) + "\n"
    metrics_path = os.path.join(out, "metrics.json")
    atomic_write_text(metrics_path, text)
    if result.vocab is None:  # a result built by hand, without its data set: parameters only
        params_path = os.path.join(out, PARAMS_FILE)
        atomic_write(params_path, lambda f: np.savez(f, **result.params))
        return [metrics_path, params_path]
    data = result.data
    written = save_model(
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
