"""The framework-free contract: config, parameters, batches, optimizer specs, registry (docs/DESIGN.md §1-§4, §7)."""

from __future__ import annotations

import numpy as np
import pytest

import impls
from impls import registry

CONFIG = impls.ModelConfig(vocab_size=5, hidden_size=4, num_classes=3, dtype="float64")


def test_init_params_is_seeded_and_canonical():
    a, b, c = (impls.init_params(CONFIG, seed=s) for s in (0, 0, 1))
    assert list(a) == list(impls.PARAM_NAMES)
    for name, shape in CONFIG.param_shapes().items():
        assert a[name].shape == shape
        assert a[name].dtype == np.float64
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["W_hh"], c["W_hh"])
    bound = 1 / np.sqrt(CONFIG.hidden_size)
    assert np.abs(a["W_xh"]).max() <= bound
    assert not a["b_h"].any()


def test_init_params_float32_matches_float64_up_to_rounding():
    p32 = impls.init_params(impls.ModelConfig(5, 4, 3, dtype="float32"), seed=3)
    p64 = impls.init_params(CONFIG, seed=3)
    for name in impls.PARAM_NAMES:
        assert p32[name].dtype == np.float32
        np.testing.assert_array_equal(p32[name], p64[name].astype(np.float32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 0}, "vocab_size must be a positive integer"),
        ({"hidden_size": 2.5}, "hidden_size must be a positive integer"),
        ({"num_classes": -1}, "num_classes must be a positive integer"),
        ({"nonlinearity": "sigmoid"}, "nonlinearity must be one of"),
        ({"dtype": "float16"}, "dtype must be one of"),
    ],
)
def test_bad_config(kwargs, message):
    with pytest.raises(impls.InputError, match=message):
        impls.ModelConfig(**({"vocab_size": 5, "hidden_size": 4, "num_classes": 3} | kwargs))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("b_y"), "missing \\['b_y'\\]"),
        (lambda p: p.update(extra=np.zeros(1)), "unexpected \\['extra'\\]"),
        (lambda p: p.update(W_hh=np.zeros((4, 5))), "W_hh must have shape \\(4, 4\\)"),
        (lambda p: p["W_xh"].__setitem__((0, 0), np.nan), "W_xh has non-finite"),
        (lambda p: p["b_h"].__setitem__(1, np.inf), "b_h has non-finite"),
        (lambda p: p.update(b_y=np.zeros(3, dtype=np.int64)), "b_y must be floating point"),
    ],
)
def test_bad_params(change, message):
    params = impls.init_params(CONFIG)
    change(params)
    with pytest.raises(impls.InputError, match=message):
        impls.validate_params(params, CONFIG)


def test_validate_params_copies():
    params = impls.init_params(CONFIG)
    checked = impls.validate_params(params, CONFIG)
    checked["W_hh"][0, 0] = 123.0
    assert params["W_hh"][0, 0] != 123.0


@pytest.mark.parametrize(
    ("tokens", "lengths", "labels", "message"),
    [
        ([[1, 2, 3]], [0], [0], "lengths must be in \\[1, T_max=3\\]"),
        ([[1, 2, 3]], [4], [0], "lengths must be in \\[1, T_max=3\\]"),
        ([[1, -2, 3]], [3], [0], "token ids must be >= 0"),
        ([[1, 2, 3]], [3], [-1], "labels must be >= 0"),
        ([[1, 2, 3]], [3, 3], [0], "must have shape \\(B,\\) = \\(1,\\)"),
        ([[1, 2, 3]], [3], [0, 1], "must have shape \\(B,\\) = \\(1,\\)"),
        ([1, 2, 3], [3], [0], "tokens must have 2 dimension"),
        ([[1.0, 2.0]], [2], [0], "tokens must be an integer array"),
        ([[1, 2]], [True], [0], "lengths must be an integer array"),
        (np.zeros((0, 3), dtype=int), np.zeros(0, dtype=int), np.zeros(0, dtype=int), "B >= 1 and T >= 1"),
    ],
)
def test_bad_batch(tokens, lengths, labels, message):
    with pytest.raises(impls.InputError, match=message):
        impls.Batch(np.asarray(tokens), np.asarray(lengths), np.asarray(labels))


@pytest.mark.parametrize(
    ("tokens", "labels", "message"),
    [
        ([[1, 5]], [0], "token id 5 is out of range for vocab_size V=5"),
        ([[1, 4]], [3], "label 3 is out of range for num_classes C=3"),
    ],
)
def test_batch_check_against_config(tokens, labels, message):
    batch = impls.Batch(np.asarray(tokens), np.array([2]), np.asarray(labels))
    with pytest.raises(impls.InputError, match=message):
        batch.check(CONFIG)


def test_batch_is_a_read_only_copy():
    tokens = np.array([[1, 2, 3]])
    batch = impls.Batch(tokens, np.array([3]), np.array([0]))
    tokens[0, 0] = 99  # the caller's array may change; the batch must not
    assert batch.tokens[0, 0] == 1
    with pytest.raises(ValueError, match="read-only"):
        batch.tokens[0, 0] = 4


def test_batch_helpers():
    batch = impls.Batch.from_sequences([[1, 2, 3], [4]], [0, 2])
    assert batch.tokens.tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch.lengths.tolist() == [3, 1]
    one = batch.record(1)
    assert one.tokens.tolist() == [[4]]
    assert one.labels.tolist() == [2]
    assert batch.padded_to(5).tokens.shape == (2, 5)
    assert [b.size for b in batch.split(1)] == [1, 1]
    with pytest.raises(impls.InputError, match="at least one token"):
        impls.Batch.from_sequences([[1], []], [0, 0])
    with pytest.raises(impls.InputError, match="does not fit t_max=2"):
        impls.Batch.from_sequences([[1, 2, 3]], [0], t_max=2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: impls.SGD(lr=0), "SGD lr must be a positive"),
        (lambda: impls.SGD(momentum=1.0), "SGD momentum must be in \\[0, 1\\)"),
        (lambda: impls.Adam(lr=float("nan")), "Adam lr must be a positive"),
        (lambda: impls.Adam(beta2=1.5), "Adam beta2 must be in"),
        (lambda: impls.Adam(eps=0), "Adam eps must be positive"),
        (lambda: impls.ClipValue(-1), "clip value must be a positive"),
        (lambda: impls.ClipNorm(float("inf")), "clip norm must be a positive"),
    ],
)
def test_bad_optimizer_and_clip(make, message):
    with pytest.raises(impls.InputError, match=message):
        make()


def test_unknown_implementation_names_the_known_ones():
    with pytest.raises(impls.InputError, match=r"unknown implementation 'numpy'.*numpy-bptt"):
        impls.load("numpy", CONFIG, impls.init_params(CONFIG))


def test_registry_imports_nothing_heavy():
    import subprocess
    import sys

    code = "import sys, impls; impls.available(); print(sorted({'torch', 'jax'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL
    ).stdout
    assert out.strip() == "[]"


def test_available_lists_installed_frameworks_only(monkeypatch):
    monkeypatch.setitem(registry.FRAMEWORKS, "torch-nnrnn", ("no_such_framework_rnnbench", "rnnbench[x]"))
    assert "torch-nnrnn" not in impls.available()
    assert "numpy-bptt" in impls.available()
    assert "numpy-bptt" not in impls.available(device="cuda")
