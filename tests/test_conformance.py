"""Conformance: every implementation computes what the NumPy reference computes (docs/DESIGN.md §5).

The cases live in rnnbench.conformance.cases, one list that `rnnbench check NAME` runs too; here each is
parametrized over the registry (the `impl_name` fixture), so a failure names the implementation and the
case, and one whose framework is missing is skipped with that reason.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_params

import impls
from rnnbench.conformance import cases
from rnnbench.conformance.cases import CASES, CLIPS, B, T, config_for, reference


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(impl_name, case):
    case.run(impl_name)


def test_case_ids_are_unique():
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("clip", ["value", "norm"])
def test_clip_thresholds_bind(clip):
    """The clip cases would test nothing if no gradient exceeded the threshold."""
    config = config_for((7, 5, 3, "tanh"), "float64")
    batch = cases.ragged_batch(config, B, T, seed=10)
    _, grads = reference(config, random_params(config, seed=3)).loss_and_grads(batch)
    if clip == "value":
        assert max(np.abs(g).max() for g in grads.values()) > CLIPS["value"].value
    else:
        assert np.sqrt(sum((g**2).sum() for g in grads.values())) > CLIPS["norm"].max_norm


def test_missing_framework_is_named(impl_name, monkeypatch):
    monkeypatch.setitem(impls.registry.FRAMEWORKS, impl_name, ("no_such_framework_rnnbench", "rnnbench[x]"))
    config = config_for((7, 5, 3, "tanh"), "float32")
    with pytest.raises(impls.FrameworkUnavailableError, match=r"needs no_such_framework_rnnbench.*pip install"):
        impls.load(impl_name, config, random_params(config))
