"""The single-thread plain-C baseline (rnnbench.bench.c_baseline): its SGD steps are the reference's, and measure() measures.

The baseline is float32 C; the reference is numpy-bptt in float64, so the comparison bounds the baseline's
own rounding (tolerances.py's float32 bounds). Every test that needs the binary skips, saying why,
where it cannot be built (no C compiler, a failed build, no benchmarks/ source beside rnnbench/).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tolerances
from helpers import assert_params_close, ragged_batch, random_params, rel_err

import impls
from rnnbench.bench import c_baseline

K = 5  # SGD steps per trajectory
T = 5
LR = 0.3  # the conformance suite's SGD step: large enough that K steps move every parameter

# Same bounds as the float32 implementations (float32 C against the float64 reference); the baseline's
# largest errors over these cases, measured: 1.5e-7 (parameters), 1.1e-7 (losses, relative).
PARAMS_TOL = tolerances.FLOAT32_TRAJECTORY["numpy-bptt"]
LOSS_TOL = tolerances.FLOAT32_STEP["numpy-bptt"]

# (V, H, C, parameter scale). H=5 pads to one 32-float panel; H=70 to 96 floats: a 64 and a 32 panel
# and padded units. The larger model starts smaller so that its K steps are not chaotic (an
# expanding map would amplify float32 rounding past any fixed tolerance).
SHAPES = [(7, 5, 3, 0.5), (60, 70, 10, 0.1)]
SHAPE_IDS = ["V7-H5-C3", "V60-H70-C10"]
# B=1: the matrix-vector path; B=6: row blocks of 4 plus a remainder, W_hh updated by the fused
# products; B=20: over RNN_BASELINE_DW_MIN_K (record, step) pairs, the gradient-buffer path.
BATCH_SIZES = [1, 6, 20]


def _batches(config: impls.ModelConfig, B: int) -> list[impls.Batch]:
    """K ragged batches of B records padded to T. For B = 1 the lengths run T, T-1, ..., so that
    the recurrence is exercised (a ragged batch of one record has length 1)."""
    if B > 1:
        return [ragged_batch(config, B, T, seed=10 + step) for step in range(K)]
    out = []
    for step in range(K):
        full = ragged_batch(config, T, T, seed=10 + step)  # lengths cover 1..T
        i = int(np.flatnonzero(full.lengths == T - step % T)[0])
        out.append(impls.Batch(full.tokens[i : i + 1], full.lengths[i : i + 1], full.labels[i : i + 1]))
    return out


def _build() -> c_baseline.Build:
    try:
        return c_baseline.build()
    except c_baseline.BaselineUnavailable as exc:
        pytest.skip(f"C baseline unavailable: {exc}")


@pytest.mark.parametrize("B", BATCH_SIZES, ids=[f"B{b}" for b in BATCH_SIZES])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_sgd_trajectory_matches_reference(shape, nonlinearity, B):
    """K plain-SGD steps on ragged float32 batches (lengths 1..T): parameters and losses agree with
    numpy-bptt in float64."""
    _build()
    V, H, C, scale = shape
    config = impls.ModelConfig(V, H, C, nonlinearity=nonlinearity, dtype="float32")
    params = random_params(config, seed=3, scale=scale)
    batches = _batches(config, B)

    config64 = impls.ModelConfig(V, H, C, nonlinearity=nonlinearity, dtype="float64")
    ref = impls.load("numpy-bptt", config64, {k: v.astype(np.float64) for k, v in params.items()},
                     optimizer=impls.SGD(lr=LR))  # fmt: skip
    ref_losses = [ref.train_step(batch) for batch in batches]

    moved = {k: rel_err(ref.get_params()[k], params[k]) for k in impls.PARAM_NAMES}
    assert min(moved.values()) > 100 * PARAMS_TOL, f"a parameter barely moves, the check is void: {moved}"

    got, losses = c_baseline.train(params, batches, lr=LR, steps=K, relu=nonlinearity == "relu")
    assert all(got[k].dtype == np.float32 and got[k].shape == params[k].shape for k in impls.PARAM_NAMES)
    assert_params_close(got, ref.get_params(), PARAMS_TOL, f"after {K} steps")
    assert len(losses) == K
    for step, (loss, ref_loss) in enumerate(zip(losses, ref_losses, strict=True)):
        assert abs(loss - ref_loss) <= LOSS_TOL * max(1.0, abs(ref_loss)), f"step {step}: loss {loss} != {ref_loss}"


def test_steps_cycle_through_batches_and_pad():
    """Step s trains on batches[s % N]; batches of different T are padded, which changes nothing."""
    _build()
    config = impls.ModelConfig(7, 5, 3, dtype="float32")
    params = random_params(config, seed=4)
    short, long = ragged_batch(config, 3, 2, seed=1), ragged_batch(config, 3, T, seed=2)
    cycled, cycled_losses = c_baseline.train(params, [short, long], lr=LR, steps=3)
    padded, padded_losses = c_baseline.train(params, [short.padded_to(T), long, short], lr=LR, steps=3)
    for name in impls.PARAM_NAMES:
        np.testing.assert_array_equal(cycled[name], padded[name])
    assert cycled_losses == padded_losses


def test_train_rejects_mixed_batch_sizes():
    config = impls.ModelConfig(7, 5, 3, dtype="float32")
    batches = [ragged_batch(config, 2, T, seed=1), ragged_batch(config, 3, T, seed=2)]
    with pytest.raises(impls.InputError, match="same B"):
        c_baseline.train(random_params(config), batches, lr=LR, steps=2)


@pytest.mark.parametrize("batch", [1, 5])
def test_measure_returns_times_and_record_counts(batch):
    build = _build()
    rounds, iterations = 3, 4
    out = c_baseline.measure(hidden=8, seq_len=3, batch=batch, rounds=rounds, iterations=iterations, warmup=2)
    assert out["iterations"] == iterations
    assert len(out["round_seconds"]) == len(out["step_seconds"]) == rounds
    assert all(math.isfinite(s) and s > 0 for s in out["round_seconds"])
    assert out["records_per_step"] == batch
    assert out["records_timed"] == rounds * iterations * batch
    assert out["median_step_seconds"] > 0
    assert out["median_record_seconds"] == pytest.approx(out["median_step_seconds"] / batch)
    assert math.isfinite(out["loss_first"])
    assert math.isfinite(out["loss_last"])
    assert out["threads"] == 1
    assert out["build"]["compiler"] == build.compiler
    assert out["build"]["compiler_version"] == build.compiler_version
    assert "-O3" in out["build"]["flags"]


def test_measure_chooses_iterations_for_the_round_length():
    _build()
    out = c_baseline.measure(hidden=8, seq_len=3, batch=2, rounds=2, round_seconds=0.01, warmup=1)
    assert out["iterations"] >= 1
    assert all(s > 0 for s in out["round_seconds"])
    # how long a round lasted depends on the machine and its load: only how the figures relate is asserted
    assert out["step_seconds"] == pytest.approx([s / out["iterations"] for s in out["round_seconds"]])


def test_build_is_reused(tmp_path):
    _build()
    first = c_baseline.build.__wrapped__(tmp_path)  # the unmemoised function: look at the folder itself
    stamp = first.binary.stat().st_mtime_ns
    again = c_baseline.build.__wrapped__(tmp_path)
    assert again.binary == first.binary
    assert again.binary.stat().st_mtime_ns == stamp
    assert first.binary.parent.parent == tmp_path


def test_no_compiler_is_baseline_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "no-such-c-compiler-rnnbench")
    with pytest.raises(c_baseline.BaselineUnavailable, match="no C compiler"):
        c_baseline.build.__wrapped__(tmp_path)


def test_missing_source_is_baseline_unavailable(tmp_path):
    with pytest.raises(c_baseline.BaselineUnavailable, match="source checkout"):
        c_baseline.build.__wrapped__(tmp_path, tmp_path / "rnn_baseline.c")
