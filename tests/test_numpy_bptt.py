"""The NumPy reference against an independent oracle: central finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, ragged_batch, random_params, rel_err

import impls
from impls import numpy_bptt

FD_STEP = 1e-6
FD_TOL = 1e-7  # central differences in float64 with step 1e-6 leave an error near 1e-9 relative


def finite_difference_grads(config, params, batch) -> impls.Params:
    """d(mean loss)/d(theta) by central differences, entry by entry (slow; tiny models only)."""

    def loss(p):
        return impls.load("numpy-bptt", config, p).loss_and_grads(batch)[0]

    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][idx] += FD_STEP
            minus[name][idx] -= FD_STEP
            g[idx] = (loss(plus) - loss(minus)) / (2 * FD_STEP)
        grads[name] = g
    return grads


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize(("V", "H", "C", "B", "T"), [(6, 4, 3, 5, 4), (1, 3, 1, 2, 3), (9, 5, 4, 1, 1)])
@pytest.mark.parametrize("param", impls.PARAM_NAMES)
def test_gradient_matches_finite_differences(nonlinearity, V, H, C, B, T, param):
    config = impls.ModelConfig(V, H, C, nonlinearity=nonlinearity, dtype="float64")
    params = random_params(config, seed=1)
    batch = ragged_batch(config, B, T, seed=2)
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
    """DESIGN.md §2 for the reference, tighter than the cross-implementation suite: a batch's mean loss
    and gradients equal the mean over its records alone, to float64 rounding."""
    config = impls.ModelConfig(9, 6, 4, nonlinearity=nonlinearity, dtype="float64")
    model = impls.load("numpy-bptt", config, random_params(config, seed=3))
    batch = ragged_batch(config, 7, 6, seed=4)
    loss, grads = model.loss_and_grads(batch)
    alone = [model.loss_and_grads(batch.record(i)) for i in range(batch.size)]
    assert abs(loss - np.mean([loss_i for loss_i, _ in alone])) <= BATCH_LAW_TOL * abs(loss)
    for name in impls.PARAM_NAMES:
        assert_close(grads[name], np.mean([g[name] for _, g in alone], axis=0), BATCH_LAW_TOL, name)
