"""The NumPy reference against an independent oracle: central finite differences in float64."""

from __future__ import annotations

import helpers
import numpy as np
import pytest
from helpers import assert_close, assert_params_close, ragged_batch, random_params, rel_err

import impls
from impls import numpy_bptt

FD_STEP = 1e-6
FD_TOL = 1e-7  # central differences in float64 with step 1e-6 leave an error near 1e-9 relative


def finite_difference_grads(config, params, batch) -> impls.Params:
    """d(mean loss)/d(theta) of the reference by central differences (slow; tiny models only)."""
    return helpers.finite_difference_grads(
        lambda p: impls.load("numpy-bptt", config, p).loss_and_grads(batch)[0], params, FD_STEP
    )


def one_record(config: impls.ModelConfig, length: int, t_max: int, seed: int, repeat: bool = True) -> impls.Batch:
    """A batch of one record of `length` tokens padded to t_max with other ids. With `repeat` (and
    length >= 2) its first id comes again at its end, so that W_xh's gradient sums two steps in one column."""
    rng = np.random.default_rng(seed)
    if repeat:
        ids = rng.integers(0, config.vocab_size, size=length)
        ids[-1] = ids[0]
    else:
        ids = rng.permutation(config.vocab_size)[:length]
    tokens = np.concatenate([ids, rng.integers(0, config.vocab_size, size=t_max - length)])
    return impls.Batch(tokens[None, :], np.array([length]), rng.integers(0, config.num_classes, size=1))


# (V, H, C, B, T); B = 1 runs the per-record path, on a record shorter than T whose ids repeat.
FD_CASES = [(6, 4, 3, 5, 4), (1, 3, 1, 2, 3), (9, 5, 4, 1, 1), (6, 4, 3, 1, 6), (2, 3, 2, 1, 4)]


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize(("V", "H", "C", "B", "T"), FD_CASES)
@pytest.mark.parametrize("param", impls.PARAM_NAMES)
def test_gradient_matches_finite_differences(nonlinearity, V, H, C, B, T, param):
    config = impls.ModelConfig(V, H, C, nonlinearity=nonlinearity, dtype="float64")
    params = random_params(config, seed=1)
    batch = ragged_batch(config, B, T, seed=2) if B > 1 else one_record(config, max(1, T - 1), T, seed=2)
    _, grads = impls.load("numpy-bptt", config, params).loss_and_grads(batch)
    expected = finite_difference_grads(config, params, batch)[param]
    if np.abs(expected).max() == 0:  # C == 1: the loss is 0 whatever the parameters
        np.testing.assert_array_equal(grads[param], 0.0)
    else:
        assert_close(grads[param], expected, FD_TOL, param)


def test_finite_differences_catch_the_untransposed_recurrent_gradient():
    """Zhou's post propagates dh with W_hh @ dz; the right term is W_hh.T @ dz. Run the backward pass with
    that slip (W_hh transposed for the backward only) and check that the oracle tells the two apart."""
    config = impls.ModelConfig(4, 3, 2, dtype="float64")
    params = random_params(config, seed=5)
    batch = ragged_batch(config, 3, 5, seed=6)
    hs, cache = numpy_bptt.rnn_forward(batch.tokens, batch.lengths, params, relu=False)
    _, _, head_cache = numpy_bptt.head_forward(hs[-1], batch.labels, params)
    dh_last, _ = numpy_bptt.head_backward(head_cache, params)
    right = numpy_bptt.rnn_backward(dh_last, cache, params, relu=False)
    slipped = numpy_bptt.rnn_backward(dh_last, cache, dict(params, W_hh=params["W_hh"].T), relu=False)
    expected = finite_difference_grads(config, params, batch)["W_hh"]
    assert_close(right["W_hh"], expected, FD_TOL, "W_hh")
    assert rel_err(slipped["W_hh"], expected) > 1e-2


@pytest.mark.parametrize("V", [3, numpy_bptt.ONE_HOT_MAX_VOCAB + 1])
def test_scatter_columns_both_paths(V):
    """dW_xh by one-hot matmul (small V) and by sorted segment sums (large V) equal a plain loop."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, size=40)
    rows = rng.standard_normal((40, 6))
    expected = np.zeros((6, V))
    for i, row in zip(ids, rows, strict=True):
        expected[:, i] += row
    np.testing.assert_allclose(numpy_bptt._scatter_columns(ids, rows, V), expected, rtol=1e-12, atol=1e-12)


BATCH_LAW_TOL = 1e-12


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_batch_law_holds_to_rounding(nonlinearity):
    """docs/DESIGN.md §2 for the reference, tighter than the cross-implementation suite: a batch's mean loss
    and gradients equal the mean over its records alone, to float64 rounding."""
    config = impls.ModelConfig(9, 6, 4, nonlinearity=nonlinearity, dtype="float64")
    model = impls.load("numpy-bptt", config, random_params(config, seed=3))
    batch = ragged_batch(config, 7, 6, seed=4)
    loss, grads = model.loss_and_grads(batch)
    alone = [model.loss_and_grads(batch.record(i)) for i in range(batch.size)]
    assert abs(loss - np.mean([loss_i for loss_i, _ in alone])) <= BATCH_LAW_TOL * abs(loss)
    for name in impls.PARAM_NAMES:
        assert_close(grads[name], np.mean([g[name] for _, g in alone], axis=0), BATCH_LAW_TOL, name)


def batched_path(params: impls.Params, batch: impls.Batch, relu: bool) -> tuple[np.ndarray, float, impls.Params]:
    """Logits, loss and gradients by the batched path's functions, whatever the batch size."""
    hs, cache = numpy_bptt.rnn_forward(batch.tokens, batch.lengths, params, relu)
    logits, loss, head_cache = numpy_bptt.head_forward(hs[-1], batch.labels, params)
    dh_last, head_grads = numpy_bptt.head_backward(head_cache, params)
    return logits, loss, numpy_bptt.rnn_backward(dh_last, cache, params, relu) | head_grads


PATH_TOL = 1e-12  # the two paths order their sums differently; float64 rounding stays far below this


@pytest.mark.parametrize("repeat", [True, False], ids=["ids-repeat", "ids-distinct"])
@pytest.mark.parametrize("length", [1, 2, 5])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_record_path_equals_batched_path(nonlinearity, length, repeat):
    """A batch of one goes through the per-record path; the batched path's functions give the same
    logits, loss and gradients for it, padding or not, with a token id used twice or not."""
    config = impls.ModelConfig(7, 6, 4, nonlinearity=nonlinearity, dtype="float64")
    params = random_params(config, seed=5)
    batch = one_record(config, length, 6, seed=6, repeat=repeat)
    model = impls.load("numpy-bptt", config, params)
    logits, loss, grads = batched_path(params, batch, nonlinearity == "relu")
    assert_close(model.logits(batch), logits, PATH_TOL, "logits")
    record_loss, record_grads = model.loss_and_grads(batch)
    assert abs(record_loss - loss) <= PATH_TOL * abs(loss)
    for name in impls.PARAM_NAMES:
        assert record_grads[name].flags.c_contiguous, name
        assert_close(record_grads[name], grads[name], PATH_TOL, name)


OPTIMIZERS = {"sgd": impls.SGD(lr=0.3), "momentum": impls.SGD(lr=0.1, momentum=0.9), "adam": impls.Adam(lr=0.02)}
CLIPS = {"noclip": None, "value": impls.ClipValue(0.02)}


@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_record_steps_equal_dense_updates(nonlinearity, optimizer, clip):
    """Per-record SGD: K train_steps on batches of one (plain SGD without clipping updates from the stacked
    gradients, touching only the record's W_xh columns) == the batched path's dense gradients, clipped
    and applied by the optimizer, step by step."""
    config = impls.ModelConfig(7, 6, 4, nonlinearity=nonlinearity, dtype="float64")
    params = random_params(config, seed=7)
    spec, clip_spec = OPTIMIZERS[optimizer], CLIPS[clip]
    model = impls.load("numpy-bptt", config, params, optimizer=spec, clip=clip_spec)
    expected = {k: v.copy() for k, v in params.items()}
    opt = numpy_bptt.NumpyOptimizer(spec, expected)
    for step in range(6):
        batch = one_record(config, 1 + step % 5, 5, seed=20 + step, repeat=step % 2 == 0)
        _, loss, grads = batched_path(expected, batch, nonlinearity == "relu")
        assert abs(model.train_step(batch) - loss) <= PATH_TOL * abs(loss), f"step {step}"
        opt.update(expected, numpy_bptt.clip_grads(grads, clip_spec))
        assert_params_close(model.get_params(), expected, PATH_TOL, f"after step {step + 1}")


@pytest.mark.parametrize("ids", [[4, 1, 4, 0, 4], [3, 0, 2], [5]], ids=["repeated", "distinct", "one"])
def test_add_rows_sums_repeated_ids(ids):
    """table[ids[i]] += rows[i] for every i: an id that repeats gets every one of its rows."""
    rng = np.random.default_rng(8)
    table = rng.standard_normal((6, 3))
    rows = rng.standard_normal((len(ids), 3))
    expected = table.copy()
    for i, row in zip(ids, rows, strict=True):
        expected[i] += row
    numpy_bptt.add_rows(table, np.array(ids), rows)
    np.testing.assert_allclose(table, expected, rtol=1e-15, atol=1e-15)
