"""The overhead decomposition's inputs: what each implementation says one step dispatches, the trivial
calls it hands over to price a dispatch, and the columns a step point records (rnnbench.bench.dispatch).
Nothing here asserts a duration: only that counts and prices exist, and that the counters count."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from helpers import ragged_batch, random_params

import impls
from impls import numpy_bptt
from rnnbench.bench import dispatch
from rnnbench.runs import analysis

CONFIG = impls.ModelConfig(vocab_size=7, hidden_size=5, num_classes=3)


def test_dispatch_count_is_a_training_step(impl_name):
    """The counted step updates the parameters as train_step does, and counts something."""
    params = random_params(CONFIG, seed=1)
    batch = ragged_batch(CONFIG, 3, 4, seed=2)
    counted, stepped = (impls.load(impl_name, CONFIG, params) for _ in range(2))
    count = counted.dispatch_count(batch)
    stepped.train_step(batch)
    for name in impls.PARAM_NAMES:
        np.testing.assert_allclose(counted.get_params()[name], stepped.get_params()[name], rtol=1e-6, atol=1e-7)
    assert (count.framework_ops or 0) + count.compiled_calls > 0
    assert count.method


def test_probes_price_what_is_counted(impl_name):
    model = impls.load(impl_name, CONFIG, random_params(CONFIG, seed=3))
    batch = ragged_batch(CONFIG, 2, 4, seed=4)
    model.train_step(batch)  # as in the benchmark, which counts after timing: a compiled shape
    count = model.dispatch_count(batch)
    probes = model.dispatch_probes()
    assert set(probes) <= {"framework_op", "compiled_call"}
    assert ("compiled_call" in probes) == (count.compiled_calls > 0)
    assert ("framework_op" in probes) == bool(count.framework_ops)
    assert all(dispatch.probe_seconds(call, model.sync) > 0 for call in probes.values())


def three_operations(a: np.ndarray) -> float:
    b = a + 1.0  # BINARY_OP
    return b[0] * 2.0  # BINARY_SUBSCR, BINARY_OP


def test_python_operations_counts_operators_calls_and_subscripts():
    run = functools.partial(three_operations, np.ones(2))  # a C-level call: no frame of this file around it
    assert numpy_bptt.python_operations(run, __file__) == 3
    assert numpy_bptt.python_operations(run, "elsewhere.py") == 0


def test_top_level_aten_ops_leaves_out_inner_calls():
    torch = pytest.importorskip("torch", reason="ATen counting needs torch: pip install 'rnnbench[torch]'")
    from impls.torch_common import top_level_aten_ops

    x = torch.ones(3)
    # aten::ones (which calls empty and fill_ inside) and aten::add: two top-level operations
    assert top_level_aten_ops(lambda: torch.ones(3).add(x)) == 2


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"framework_ops": 10, "framework_op_s": 2e-6, "compiled_calls": 0, "compiled_call_s": None}, 2e-5),
        ({"framework_ops": 0, "framework_op_s": None, "compiled_calls": 1, "compiled_call_s": 3e-5}, 3e-5),
        ({"framework_ops": 4, "framework_op_s": 1e-6, "compiled_calls": 1, "compiled_call_s": 1e-5}, 1.4e-5),
        ({"framework_ops": None, "compiled_calls": 0}, None),
        ({}, None),
    ],
)
def test_explained_seconds(row, expected):
    assert analysis.explained_seconds(row) == pytest.approx(expected)
