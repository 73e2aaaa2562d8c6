"""Property-based conformance (hypothesis): random shapes, lengths and parameters, every implementation
against the float64 NumPy reference. Few examples each: a JIT implementation compiles per new shape."""

from __future__ import annotations

import numpy as np
import tolerances
from helpers import assert_close, assert_params_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import impls


@st.composite
def problems(draw):
    """A float64 config, parameters and a ragged batch with V, H, C, B, T >= 1."""
    V, H, C = draw(st.integers(1, 9)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    B, T = draw(st.integers(1, 5)), draw(st.integers(1, 7))
    nonlinearity = draw(st.sampled_from(impls.NONLINEARITIES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    config = impls.ModelConfig(V, H, C, nonlinearity=nonlinearity, dtype="float64")
    params = {k: 0.7 * rng.standard_normal(shape) for k, shape in config.param_shapes().items()}
    lengths = rng.integers(1, T + 1, size=B)
    batch = impls.Batch(rng.integers(0, V, size=(B, T)), lengths, rng.integers(0, C, size=B))
    return config, params, batch


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=problems())
def test_random_problems_match_the_reference(impl_name, problem):
    config, params, batch = problem
    model, ref = impls.load(impl_name, config, params), impls.load("numpy-bptt", config, params)
    assert_close(model.logits(batch), ref.logits(batch), tolerances.FLOAT64, "logits")
    loss, grads = model.loss_and_grads(batch)
    ref_loss, ref_grads = ref.loss_and_grads(batch)
    assert abs(loss - ref_loss) <= tolerances.FLOAT64 * max(1.0, abs(ref_loss))
    assert_params_close(grads, ref_grads, tolerances.FLOAT64, "grad")
