"""Conformance: every implementation computes what the NumPy reference computes (docs/DESIGN.md §5).

Each test is parametrized over the registry (the `impl_name` fixture), so a failure names the
implementation, and one whose framework is missing is skipped with that reason.
"""

from __future__ import annotations

import numpy as np
import pytest
import tolerances
from helpers import (
    assert_close,
    assert_params_close,
    finite_difference_grads,
    ragged_batch,
    random_params,
    rel_err,
)

import impls
from impls import numpy_bptt

# (V, H, C, nonlinearity): vocabulary and class counts of 1 included.
SHAPES = [(7, 5, 3, "tanh"), (7, 5, 3, "relu"), (1, 4, 1, "tanh"), (12, 6, 2, "relu"), (3, 1, 4, "tanh")]
SHAPE_IDS = [f"V{v}-H{h}-C{c}-{nl}" for v, h, c, nl in SHAPES]
B, T, K = 6, 5, 5

OPTIMIZERS = {
    "sgd": impls.SGD(lr=0.3),
    "momentum": impls.SGD(lr=0.1, momentum=0.9),
    "adam": impls.Adam(lr=0.02),
}
# Thresholds small enough that they bind on these models (checked in test_clip_thresholds_bind).
CLIPS = {"noclip": None, "value": impls.ClipValue(0.02), "norm": impls.ClipNorm(0.1)}


def config_for(shape, dtype: str) -> impls.ModelConfig:
    V, H, C, nonlinearity = shape
    return impls.ModelConfig(V, H, C, nonlinearity=nonlinearity, dtype=dtype)


def reference(config: impls.ModelConfig, params: impls.Params, **options) -> impls.RNNImpl:
    """The float64 NumPy reference for the same model and options."""
    config64 = impls.ModelConfig(
        config.vocab_size, config.hidden_size, config.num_classes, nonlinearity=config.nonlinearity, dtype="float64"
    )
    return impls.load("numpy-bptt", config64, {k: v.astype(np.float64) for k, v in params.items()}, **options)


def step_tolerance(impl_name: str, dtype: str) -> float:
    return tolerances.FLOAT64 if dtype == "float64" else tolerances.FLOAT32_STEP[impl_name]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_logits_loss_and_grads(impl_name, shape, dtype):
    config = config_for(shape, dtype)
    params = random_params(config, seed=1)
    batch = ragged_batch(config, B, T, seed=2)
    model, ref = impls.load(impl_name, config, params), reference(config, params)
    tol = step_tolerance(impl_name, dtype)

    logits = model.logits(batch)
    assert logits.shape == (B, config.num_classes)
    assert logits.dtype == config.np_dtype
    assert_close(logits, ref.logits(batch), tol, "logits")

    loss, grads = model.loss_and_grads(batch)
    ref_loss, ref_grads = ref.loss_and_grads(batch)
    assert isinstance(loss, float)
    assert abs(loss - ref_loss) <= tol * max(1.0, abs(ref_loss)), f"loss {loss} != {ref_loss}"
    assert all(grads[k].dtype == config.np_dtype for k in impls.PARAM_NAMES)
    assert_params_close(grads, ref_grads, tol, "grad")


def active_params(config: impls.ModelConfig) -> impls.Params:
    """Parameters under which every hidden unit's pre-activation stays positive at every step: b_h near 1
    outweighs the small input and recurrent terms. relu is then the identity on every unit, so the
    recurrence carries gradient through every step (random parameters leave many relu units dead)."""
    rng = np.random.default_rng(17)
    shapes = config.param_shapes()
    return {
        "W_xh": 0.2 * rng.standard_normal(shapes["W_xh"]),
        "W_hh": 0.3 * rng.standard_normal(shapes["W_hh"]),  # not symmetric: W_hh and W_hh.T differ
        "b_h": 1.0 + 0.1 * rng.standard_normal(shapes["b_h"]),
        "W_hy": rng.standard_normal(shapes["W_hy"]),
        "b_y": 0.1 * rng.standard_normal(shapes["b_y"]),
    }


FD_TOL = 1e-7  # central differences in float64 with step 1e-6 leave an error near 1e-9 relative


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_gradient_through_the_recurrence_matches_finite_differences(impl_name, nonlinearity):
    """Gradients against central differences of the float64 reference loss, with every unit active over
    T = 5 steps: a backward pass that propagates dh with W_hh instead of W_hh.T (Zhou's slip) fails here,
    under relu as under tanh."""
    config = config_for((4, 3, 2, nonlinearity), "float64")
    params = active_params(config)
    batch = impls.Batch.from_sequences([[0, 3, 1, 2, 1], [2, 2, 0, 1], [1, 3, 3]], [0, 1, 1])
    hs, _ = numpy_bptt.rnn_forward(batch.tokens, batch.lengths, params, relu=nonlinearity == "relu")
    assert (hs[1:] > 0).all(), "a unit is inactive at some step: the case would not exercise the recurrence"
    _, grads = impls.load(impl_name, config, params).loss_and_grads(batch)
    expected = finite_difference_grads(lambda p: reference(config, p).loss_and_grads(batch)[0], params)
    assert_params_close(grads, expected, FD_TOL, "grad vs finite differences")


@pytest.mark.parametrize("records", ["batch", "one-record"])
def test_loss_is_stable_for_large_logits(impl_name, records):
    """Logits near 1e4 overflow exp() in float32: the loss is the stable log-sum-exp form (docs/DESIGN.md §1),
    and loss and gradients are finite and as float64 computes them (a float64 loss near 3084 for the batch).
    A batch of one record too, which an implementation may run on a path of its own."""
    config = config_for((7, 5, 3, "tanh"), "float32")
    params = random_params(config, seed=9)
    params["W_hy"] = params["W_hy"] * 1e4
    batch = ragged_batch(config, B, T, seed=3)
    ref = reference(config, params)
    if records == "one-record":  # the record with the largest loss: far from a saturated softmax's zero
        batch = batch.record(max(range(B), key=lambda i: ref.loss_and_grads(batch.record(i))[0]))
    loss, grads = impls.load(impl_name, config, params).loss_and_grads(batch)
    ref_loss, ref_grads = ref.loss_and_grads(batch)
    assert ref_loss > 1e3  # the logits are large indeed
    assert np.isfinite(loss), f"loss {loss}"
    assert all(np.isfinite(g).all() for g in grads.values()), "non-finite gradient"
    tol = tolerances.FLOAT32_STEP[impl_name]
    assert abs(loss - ref_loss) <= tol * abs(ref_loss), f"loss {loss} != {ref_loss}"
    assert_params_close(grads, ref_grads, tol, "grad")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_training_trajectory(impl_name, nonlinearity, optimizer, clip, dtype):
    """K steps from the same start, each on a different ragged batch: parameters agree after every step."""
    config = config_for((7, 5, 3, nonlinearity), dtype)
    params = random_params(config, seed=3)
    options = {"optimizer": OPTIMIZERS[optimizer], "clip": CLIPS[clip]}
    model, ref = impls.load(impl_name, config, params, **options), reference(config, params, **options)
    tol = tolerances.FLOAT64 if dtype == "float64" else tolerances.FLOAT32_TRAJECTORY[impl_name]
    for step in range(K):
        batch = ragged_batch(config, B, T, seed=10 + step)
        loss, ref_loss = model.train_step(batch), ref.train_step(batch)
        assert abs(loss - ref_loss) <= tol * max(1.0, abs(ref_loss)), f"step {step}: loss {loss} != {ref_loss}"
        assert_params_close(model.get_params(), ref.get_params(), tol, f"after step {step + 1}")


@pytest.mark.parametrize("clip", ["value", "norm"])
def test_clip_thresholds_bind(clip):
    """The clip cases above would test nothing if no gradient exceeded the threshold."""
    config = config_for((7, 5, 3, "tanh"), "float64")
    _, grads = reference(config, random_params(config, seed=3)).loss_and_grads(ragged_batch(config, B, T, seed=10))
    if clip == "value":
        assert max(np.abs(g).max() for g in grads.values()) > CLIPS["value"].value
    else:
        assert np.sqrt(sum((g**2).sum() for g in grads.values())) > CLIPS["norm"].max_norm


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_batch_law(impl_name, nonlinearity):
    """The result for a batch == the mean of the results for each record alone (docs/DESIGN.md §2)."""
    config = config_for((7, 5, 3, nonlinearity), "float64")
    model = impls.load(impl_name, config, random_params(config, seed=4))
    batch = ragged_batch(config, B, T, seed=5)
    logits = model.logits(batch)
    loss, grads = model.loss_and_grads(batch)
    alone = [model.loss_and_grads(batch.record(i)) for i in range(B)]
    for i in range(B):
        assert_close(logits[i], model.logits(batch.record(i))[0], tolerances.FLOAT64, f"logits row {i}")
    for start, pair in zip(range(0, B, 2), batch.split(2), strict=True):  # batches of two, between 1 and B
        assert_close(model.logits(pair), logits[start : start + 2], tolerances.FLOAT64, f"logits rows {start}, +1")
    assert abs(loss - np.mean([loss_i for loss_i, _ in alone])) <= tolerances.FLOAT64 * abs(loss)
    for name in impls.PARAM_NAMES:
        mean_grad = np.mean([grads_i[name] for _, grads_i in alone], axis=0)
        assert_close(grads[name], mean_grad, tolerances.FLOAT64, f"mean grad {name}")


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_padding_does_not_change_results(impl_name, nonlinearity):
    """Other values at padded positions, and more padding, give the same logits, loss and grads."""
    config = config_for((7, 5, 3, nonlinearity), "float64")
    model = impls.load(impl_name, config, random_params(config, seed=6))
    batch = ragged_batch(config, B, T, seed=7)
    rng = np.random.default_rng(8)
    padded = batch.padded_to(T + 3)
    tokens = np.array(padded.tokens)
    is_padding = np.arange(T + 3)[None, :] >= batch.lengths[:, None]
    tokens[is_padding] = rng.integers(0, config.vocab_size, size=int(is_padding.sum()))
    other = impls.Batch(tokens, batch.lengths, batch.labels)
    assert not np.array_equal(other.tokens[:, :T], batch.tokens)  # the padding really changed
    loss, grads = model.loss_and_grads(batch)
    other_loss, other_grads = model.loss_and_grads(other)
    assert_close(model.logits(other), model.logits(batch), tolerances.FLOAT64, "logits")
    assert abs(other_loss - loss) <= tolerances.FLOAT64 * abs(loss)
    assert_params_close(other_grads, grads, tolerances.FLOAT64, "grad")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_identical_runs_give_identical_results(impl_name, dtype):
    config = config_for((7, 5, 3, "tanh"), dtype)
    params = random_params(config, seed=9)
    batches = [ragged_batch(config, B, T, seed=20 + i) for i in range(3)]
    runs = []
    for _ in range(2):
        model = impls.load(impl_name, config, params, optimizer=impls.Adam(lr=0.01))
        runs.append(([model.train_step(b) for b in batches], model.get_params()))
    assert runs[0][0] == runs[1][0]
    for name in impls.PARAM_NAMES:
        np.testing.assert_array_equal(runs[0][1][name], runs[1][1][name])


@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_train_epoch_equals_train_steps(impl_name, optimizer, clip):
    """A fused epoch (where an implementation fuses it) does the same arithmetic as one step per batch, and as
    the reference's steps, with each optimizer and clip (plain SGD without clipping may take a sparse update
    path; a batch of two records must not take a path meant for one)."""
    config = config_for((7, 5, 3, "tanh"), "float64")
    params = random_params(config, seed=11)
    batches = [ragged_batch(config, 2, T, seed=30 + i) for i in range(4)]
    options = {"optimizer": OPTIMIZERS[optimizer], "clip": CLIPS[clip]}
    fused = impls.load(impl_name, config, params, **options)
    stepped = impls.load(impl_name, config, params, **options)
    ref = reference(config, params, **options)
    losses = fused.train_epoch(batches)
    assert len(losses) == len(batches)
    np.testing.assert_allclose(losses, [stepped.train_step(b) for b in batches], rtol=tolerances.FLOAT64)
    assert_params_close(fused.get_params(), stepped.get_params(), tolerances.FLOAT64, "after epoch")
    np.testing.assert_allclose(losses, [ref.train_step(b) for b in batches], rtol=tolerances.FLOAT64)
    assert_params_close(fused.get_params(), ref.get_params(), tolerances.FLOAT64, "reference, after epoch")


# Longest record of each batch of a ragged epoch: lengths that pad to different buckets (1, 4, 8, 16) in an
# implementation that pads T, in no order.
EPOCH_T_MAX = [3, 12, 1, 7, 16, 5]


def epoch_batch(config: impls.ModelConfig, t_max: int, seed: int) -> impls.Batch:
    """3 records, the first t_max long, the others of random lengths in [1, t_max]."""
    rng = np.random.default_rng(seed)
    lengths = np.r_[t_max, rng.integers(1, t_max + 1, size=2)]
    tokens = rng.integers(0, config.vocab_size, size=(3, t_max))
    return impls.Batch(tokens, lengths, rng.integers(0, config.num_classes, size=3))


@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_ragged_epoch_matches_reference_steps(impl_name, nonlinearity, optimizer, clip):
    """A fused epoch over batches of very different lengths gives the reference's losses and parameters,
    one step per batch, with each optimizer, clip and nonlinearity."""
    config = config_for((7, 5, 3, nonlinearity), "float64")
    params = random_params(config, seed=18)
    batches = [epoch_batch(config, t_max, seed=40 + i) for i, t_max in enumerate(EPOCH_T_MAX)]
    options = {"optimizer": OPTIMIZERS[optimizer], "clip": CLIPS[clip]}
    fused, ref = impls.load(impl_name, config, params, **options), reference(config, params, **options)
    losses = fused.train_epoch(batches)
    np.testing.assert_allclose(losses, [ref.train_step(b) for b in batches], rtol=tolerances.FLOAT64)
    assert_params_close(fused.get_params(), ref.get_params(), tolerances.FLOAT64, "after the epoch")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_get_params_returns_host_copies(impl_name, dtype):
    config = config_for((7, 5, 3, "tanh"), dtype)
    params = random_params(config, seed=12)
    model = impls.load(impl_name, config, params)
    got = model.get_params()
    for name in impls.PARAM_NAMES:
        assert isinstance(got[name], np.ndarray)
        assert got[name].dtype == config.np_dtype
        np.testing.assert_array_equal(got[name], params[name])
    got["W_hh"][...] = 0.0  # a copy: changing it must not change the model
    np.testing.assert_array_equal(model.get_params()["W_hh"], params["W_hh"])
    model.sync()


def test_training_lowers_the_loss(impl_name):
    config = config_for((7, 8, 3, "tanh"), "float32")
    model = impls.load(impl_name, config, random_params(config, seed=13, scale=0.3), optimizer=impls.Adam(lr=0.05))
    batch = ragged_batch(config, 16, T, seed=14)
    losses = [model.train_step(batch) for _ in range(30)]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0]
    assert rel_err(model.loss_and_grads(batch)[0], losses[-1]) < 0.5


# -- bad input (docs/DESIGN.md §7): the same clear error from every implementation, before its framework runs --

BAD_BATCHES = {
    "token-out-of-range": (lambda V, _C: impls.Batch(np.array([[1, V]]), np.array([2]), np.array([0])), "token id"),
    "negative-token": (lambda _V, _C: impls.Batch(np.array([[1, -1]]), np.array([2]), np.array([0])), "token ids"),
    "negative-padding": (lambda _V, _C: impls.Batch(np.array([[1, -1]]), np.array([1]), np.array([0])), "token ids"),
    "label-out-of-range": (lambda _V, C: impls.Batch(np.array([[1, 2]]), np.array([2]), np.array([C])), "label"),
    "not-a-batch": (lambda _V, _C: (np.array([[1, 2]]), np.array([2]), np.array([0])), "expected an impls.Batch"),
}
METHODS = ["logits", "loss_and_grads", "train_step", "train_epoch", "step_memory"]


@pytest.fixture
def guarded_model(impl_name, monkeypatch):
    """A model whose framework-side methods fail the test if reached: validation must come first."""
    config = config_for((7, 5, 3, "tanh"), "float32")
    model = impls.load(impl_name, config, random_params(config))

    def framework_called(*_args, **_kwargs):
        raise AssertionError("the framework was called before the input was checked")

    for method in ("_logits", "_loss_and_grads", "_train_step", "_train_epoch", "_step_memory"):
        monkeypatch.setattr(model, method, framework_called)
    return model


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", list(BAD_BATCHES))
def test_bad_batch_gets_a_clear_error(guarded_model, bad, method):
    """The error may come from the Batch itself (ids < 0 need no config) or from the model's check of it
    against V and C; either way before the framework runs."""
    make, message = BAD_BATCHES[bad]

    def make_and_call() -> None:
        batch = make(guarded_model.config.vocab_size, guarded_model.config.num_classes)
        getattr(guarded_model, method)([batch] if method == "train_epoch" else batch)

    with pytest.raises(impls.InputError, match=message):
        make_and_call()


@pytest.mark.parametrize(("name", "value"), [("W_hh", np.nan), ("b_y", np.inf), ("W_xh", -np.inf)])
def test_non_finite_params_are_refused(impl_name, name, value):
    config = config_for((7, 5, 3, "tanh"), "float32")
    params = random_params(config)
    params[name].flat[0] = value
    with pytest.raises(impls.InputError, match=f"param {name} has non-finite"):
        impls.load(impl_name, config, params)


@pytest.mark.parametrize("device", ["gpu", "tpu", "CPU"])
def test_unknown_device_is_refused(impl_name, device):
    config = config_for((7, 5, 3, "tanh"), "float32")
    with pytest.raises(impls.InputError, match=f"unknown device '{device}' for {impl_name}"):
        impls.load(impl_name, config, random_params(config), device=device)


def test_missing_framework_is_named(impl_name, monkeypatch):
    monkeypatch.setitem(impls.registry.FRAMEWORKS, impl_name, ("no_such_framework_rnnbench", "rnnbench[x]"))
    config = config_for((7, 5, 3, "tanh"), "float32")
    with pytest.raises(impls.FrameworkUnavailableError, match=r"needs no_such_framework_rnnbench.*pip install"):
        impls.load(impl_name, config, random_params(config))


@pytest.mark.parametrize(("option", "value"), [("optimizer", "adam"), ("clip", 1.0), ("threads", 0)])
def test_bad_options_are_refused(impl_name, option, value):
    config = config_for((7, 5, 3, "tanh"), "float32")
    with pytest.raises(impls.InputError, match=option):
        impls.load(impl_name, config, random_params(config), **{option: value})
