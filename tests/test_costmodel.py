"""The cost model (rnnbench.runs.costmodel) against counts made by hand and fits made another way.

The FLOP counts are the module docstring's, counted here at one small shape whose sizes all differ
(so that every term shows), and held to the docstring's closed form at others.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnbench.runs import costmodel


def test_step_flops_counted_by_hand():
    """H=2, V=3, C=5, T=7, B=11."""
    flops = costmodel.step_flops(hidden=2, vocab=3, classes=5, seq_len=7, batch=11)
    forward = 7 * (2 * 4 + 3 * 2) + 2 * 5 * 2 + 5 + 4 * 5  # 143
    backward = 3 * 5 + 4 * 5 * 2 + 5 + 7 * (4 * 4 + 5 * 2)  # 242
    params = 2 * 3 + 4 + 2 + 5 * 2 + 5  # 27
    assert flops == {
        "forward_per_record": 143.0,
        "backward_per_record": 242.0,
        "update_per_step": 54.0,
        "flops_per_step": 4289.0,
        "flops_per_record": 4289.0 / 11,
    }
    assert (forward, backward, 2 * params, 11 * (forward + backward) + 2 * params) == (143, 242, 54, 4289)


@pytest.mark.parametrize(("H", "V", "C", "T", "B"), [(1, 1, 1, 1, 1), (16, 60, 10, 4, 8), (256, 60, 10, 32, 512)])
def test_step_flops_closed_form(H, V, C, T, B):
    """B (6 T H^2 + 8 T H + 6 C H + 9 C) + 2P, P = HV + H^2 + H + CH + C."""
    flops = costmodel.step_flops(H, V, C, T, B)
    P = H * V + H * H + H + C * H + C
    assert flops["flops_per_step"] == B * (6 * T * H * H + 8 * T * H + 6 * C * H + 9 * C) + 2 * P
    assert flops["flops_per_record"] == flops["flops_per_step"] / B
    assert all(isinstance(v, float) for v in flops.values())


def test_bptt_cache_bytes():
    """(T + 1) B H hidden states and T B H pre-activations, of itemsize bytes each."""
    assert costmodel.bptt_cache_bytes(2, 7, 11) == 4 * (8 * 11 * 2 + 7 * 11 * 2)
    assert costmodel.bptt_cache_bytes(2, 7, 11, itemsize=8) == 8 * (8 * 11 * 2 + 7 * 11 * 2)
    assert costmodel.bptt_cache_bytes(3, 1, 1) == 4 * 9


def test_the_fit_recovers_exact_data():
    batch = [1, 2, 4, 8, 64]
    fit = costmodel.fit_overhead_marginal(batch, [3e-5 + b * 2e-6 for b in batch])
    assert fit.overhead == pytest.approx(3e-5, rel=1e-9)
    assert fit.marginal == pytest.approx(2e-6, rel=1e-9)
    assert fit.crossover == pytest.approx(15.0, rel=1e-9)
    assert fit.max_rel_residual < 1e-9
    assert fit.n == 5


def test_two_batch_sizes_fit_exactly():
    fit = costmodel.fit_overhead_marginal([1, 3], [3.0, 7.0])
    assert (fit.overhead, fit.marginal) == (pytest.approx(1.0, rel=1e-9), pytest.approx(2.0, rel=1e-9))
    assert fit.n == 2


def test_the_fit_minimises_the_relative_error():
    """Against NumPy's weighted polynomial fit (weights 1/t: the residuals divided by the times)."""
    batch = np.array([1.0, 2.0, 4.0, 16.0, 128.0])
    seconds = np.array([1.0, 1.5, 2.2, 6.0, 40.0])
    fit = costmodel.fit_overhead_marginal(batch, seconds)
    marginal, overhead = np.polyfit(batch, seconds, 1, w=1 / seconds)
    assert fit.overhead == pytest.approx(overhead, rel=1e-9)
    assert fit.marginal == pytest.approx(marginal, rel=1e-9)
    assert fit.crossover == pytest.approx(overhead / marginal, rel=1e-9)
    worst = np.max(np.abs(overhead + marginal * batch - seconds) / seconds)
    assert fit.max_rel_residual == pytest.approx(worst, rel=1e-9)
    assert fit.n == 5


def test_the_fit_leaves_out_what_is_not_a_time():
    batch = [1, 2, 4, 8, 16, 32, math.nan, math.inf]
    seconds = [3.0, 4.0, 6.0, math.nan, 0.0, -1.0, 5.0, 9.0]
    fit = costmodel.fit_overhead_marginal(batch, seconds)
    assert fit.n == 3
    assert fit.overhead == pytest.approx(2.0, rel=1e-9)
    assert fit.marginal == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize(
    ("batch", "seconds", "n"),
    [([], [], 0), ([4], [1.0], 1), ([4, 4, 4], [1.0, 1.1, 0.9], 3), ([1, 2], [1.0, math.nan], 1)],
    ids=["none", "one", "one-batch-size", "one-time"],
)
def test_the_fit_needs_two_batch_sizes(batch, seconds, n):
    fit = costmodel.fit_overhead_marginal(batch, seconds)
    assert fit.n == n
    assert all(math.isnan(v) for v in (fit.overhead, fit.marginal, fit.crossover, fit.max_rel_residual))


@pytest.mark.parametrize(
    ("seconds", "overhead", "marginal"),
    [([1.0, 3.0, 7.0], -1.0, 2.0), ([9.0, 8.0, 6.0], 10.0, -1.0)],
    ids=["negative-overhead", "negative-marginal"],
)
def test_no_crossover_without_two_positive_terms(seconds, overhead, marginal):
    fit = costmodel.fit_overhead_marginal([1, 2, 4], seconds)
    assert fit.overhead == pytest.approx(overhead, rel=1e-9)
    assert fit.marginal == pytest.approx(marginal, rel=1e-9)
    assert math.isnan(fit.crossover)


def test_overhead_fraction():
    fit = costmodel.LineFit(overhead=2.0, marginal=0.5, crossover=4.0, max_rel_residual=0.0, n=3)
    assert fit.overhead_fraction(4) == 0.5
    assert fit.overhead_fraction(12) == 0.25
