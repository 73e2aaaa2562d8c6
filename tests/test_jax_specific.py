"""jax-scan beyond the shared conformance suite: compilations (shared between models), bucketing, the fused
epoch, dtypes, threads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax-scan needs jax: pip install 'rnnbench[jax]'")

import tolerances
from helpers import assert_close, assert_params_close, ragged_batch, random_params

import impls
from impls import jax_common, jax_scan

METHODS = ["logits", "loss_and_grads", "train_step", "train_epoch"]
OPTIMIZERS = {
    "sgd": impls.SGD(lr=0.3),
    "momentum": impls.SGD(lr=0.1, momentum=0.9),
    "adam": impls.Adam(lr=0.02),
}
CLIPS = {"noclip": None, "value": impls.ClipValue(0.02), "norm": impls.ClipNorm(0.1)}

# XLA backend compilations in this process, as JAX reports them (one duration event per compilation).
BACKEND_COMPILES = [0]


def _count_backend_compiles(event: str, _duration: float, **_kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        BACKEND_COMPILES[0] += 1


jax.monitoring.register_event_duration_secs_listener(_count_backend_compiles)


@pytest.fixture
def fresh_functions():
    """No jitted functions shared from earlier tests: the compilations a test counts are its own."""
    jax_scan.functions.cache_clear()


def make_config(dtype: str = "float64", nonlinearity: str = "tanh") -> impls.ModelConfig:
    return impls.ModelConfig(7, 5, 3, nonlinearity=nonlinearity, dtype=dtype)


def make_model(dtype: str = "float64", **options) -> jax_scan.JaxScan:
    config = make_config(dtype)
    return impls.load("jax-scan", config, random_params(config, seed=1), **options)


def call(model: jax_scan.JaxScan, method: str, batch: impls.Batch):
    """One public call; train_epoch gets an epoch of three equally shaped batches."""
    if method == "train_epoch":
        return model.train_epoch([batch, batch, batch])
    return getattr(model, method)(batch)


# -- (1), (2): compilations --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.usefixtures("fresh_functions")
def test_second_call_with_same_shapes_does_not_recompile(method, dtype):
    model = make_model(dtype, optimizer=impls.Adam(lr=0.01))
    config = model.config
    call(model, method, ragged_batch(config, 4, 6, seed=0))
    assert model.trace_counts[method] == 1
    compiled = dict(model.trace_counts)
    call(model, method, ragged_batch(config, 4, 6, seed=1))  # other values, same shapes
    call(model, method, ragged_batch(config, 4, 6, seed=2))
    assert model.trace_counts == compiled
    fn = getattr(model._fns, method)
    if hasattr(fn, "_cache_size"):  # JAX's own count, where this version exposes it
        assert fn._cache_size() == 1


def run_every_method(model: jax_scan.JaxScan, seed: int) -> list:
    """Each public method once on fixed shapes (B = 4, T = 6; an epoch of three batches); their results."""
    batch = ragged_batch(model.config, 4, 6, seed=seed)
    return [call(model, method, batch) for method in METHODS]


@pytest.mark.usefixtures("fresh_functions")
def test_second_model_with_the_same_key_compiles_nothing():
    """Functions are shared by (config, optimizer, clip): a second model with the same ones and other
    parameters compiles nothing, by its own count and by JAX's, and still computes with its own parameters."""
    options = {"optimizer": impls.Adam(lr=0.01), "clip": impls.ClipNorm(0.5)}
    config = make_config("float32")
    first = impls.load("jax-scan", config, random_params(config, seed=1), **options)
    run_every_method(first, seed=0)
    assert first.trace_counts == dict.fromkeys(METHODS, 1)
    backend_compiles = BACKEND_COMPILES[0]

    second_params = random_params(config, seed=2)
    second = impls.load("jax-scan", config, second_params, **options)
    results = run_every_method(second, seed=3)
    assert second.compile_count == 0, second.trace_counts
    assert second.compile_seconds == 0.0
    assert BACKEND_COMPILES[0] == backend_compiles, "XLA compiled during the second model's calls"
    assert second._fns is first._fns

    ref = impls.load("numpy-bptt", config, second_params, **options)
    expected = run_every_method(ref, seed=3)
    tol = tolerances.FLOAT32_STEP["jax-scan"]
    assert_close(results[0], expected[0], tol, "logits")
    assert_params_close(results[1][1], expected[1][1], tol, "grads")
    np.testing.assert_allclose(results[2:3] + results[3], expected[2:3] + expected[3], rtol=tol)
    assert_params_close(second.get_params(), ref.get_params(), tolerances.FLOAT32_TRAJECTORY["jax-scan"], "trained")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_loading_and_reading_a_model_compile_nothing(dtype):
    """Only the four functions compile: putting the state on the device and reading the parameters
    back do not, even at shapes no model has had (jnp.asarray and device indexing would, per shape)."""
    backend_compiles = BACKEND_COMPILES[0]
    config = impls.ModelConfig(11, 3, 2, dtype=dtype)  # used by no other test
    params = random_params(config, seed=4)
    model = impls.load("jax-scan", config, params, optimizer=impls.SGD(lr=0.1, momentum=0.5))
    assert_params_close(model.get_params(), params, 0.0, "as loaded")
    assert all(leaf.dtype == np.dtype(dtype) for leaf in jax.tree.leaves(model.state))
    assert BACKEND_COMPILES[0] == backend_compiles


def test_functions_are_keyed_by_value():
    """Equal, separately built configs and options (frozen dataclasses, hashable by value) share one set."""

    def key():
        return (impls.ModelConfig(7, 5, 3, "relu", "float64"), impls.SGD(lr=0.1, momentum=0.5), impls.ClipValue(1.0))

    first, second = key(), key()
    assert all(a is not b and a == b and hash(a) == hash(b) for a, b in zip(first, second, strict=True))
    assert jax_scan.functions(*first) is jax_scan.functions(*second)


CHANGES = {
    "lr": {"optimizer": impls.SGD(lr=0.2)},
    "momentum": {"optimizer": impls.SGD(lr=0.1, momentum=0.5)},
    "adam": {"optimizer": impls.Adam(lr=0.1)},
    "clip": {"clip": impls.ClipValue(0.01)},
    "nonlinearity": {"nonlinearity": "relu"},
    "dtype": {"dtype": "float32"},
    "hidden": {"hidden_size": 4},
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_models_that_differ_do_not_share_functions(change):
    """A model whose config, optimizer or clip differs gets functions of its own, which train as the
    NumPy reference does with those settings (the settings are baked into the compiled code)."""
    base = {"vocab_size": 7, "hidden_size": 5, "num_classes": 3, "nonlinearity": "tanh", "dtype": "float64"}
    options = {"optimizer": impls.SGD(lr=0.1), "clip": None}
    config0 = impls.ModelConfig(**base)
    first = impls.load("jax-scan", config0, random_params(config0, seed=1), **options)
    config_changes = {k: v for k, v in CHANGES[change].items() if k in base}
    config = impls.ModelConfig(**(base | config_changes))
    options |= {k: v for k, v in CHANGES[change].items() if k not in base}
    params = random_params(config, seed=1)
    second = impls.load("jax-scan", config, params, **options)
    assert second._fns is not first._fns
    ref = impls.load("numpy-bptt", config, params, **options)
    batches = [ragged_batch(config, 3, 5, seed=i) for i in range(3)]
    tol = tolerances.FLOAT64 if config.dtype == "float64" else tolerances.FLOAT32_TRAJECTORY["jax-scan"]
    np.testing.assert_allclose(second.train_epoch(batches), ref.train_epoch(batches), rtol=tol)
    assert_params_close(second.get_params(), ref.get_params(), tol, f"after an epoch, {change} changed")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.usefixtures("fresh_functions")
def test_lengths_in_one_bucket_do_not_recompile(method):
    model = make_model("float32", optimizer=impls.SGD(lr=0.1, momentum=0.5))
    assert {jax_scan.bucket_length(T) for T in range(9, 17)} == {16}
    for T in range(9, 17):
        call(model, method, ragged_batch(model.config, 3, T, seed=T))
    assert model.trace_counts[method] == 1
    call(model, method, ragged_batch(model.config, 3, 17, seed=0))  # the next bucket: one more
    assert model.trace_counts[method] == 2


def test_bucket_length():
    buckets = [jax_scan.bucket_length(T) for T in range(1, 2049)]
    assert buckets[:8] == [1, 2, 4, 4, 8, 8, 8, 8]
    assert all(b >= T for T, b in enumerate(buckets, start=1))
    assert buckets == sorted(buckets)
    assert all(b - T < 8 for T, b in enumerate(buckets, start=1) if T <= 64)  # at most 7 padded steps
    assert all((b - T) / b < 0.25 for T, b in enumerate(buckets, start=1) if T > 64)  # under 25% of them
    assert set(range(8, 65, 8)) <= set(buckets)
    assert len(set(buckets)) <= 40  # logarithmically many shapes, hence compilations


@pytest.mark.usefixtures("fresh_functions")
def test_mixed_length_epoch_compiles_at_most_two_functions():
    """An epoch of many T and a smaller last batch: one fused call (all batches padded to the largest
    bucket, each batch's time loop only as long as its longest record) and one step; nothing new the
    second time. Same losses and parameters as the per-step loop and as numpy-bptt."""
    config = make_config("float64")
    lengths = [3, 12, 1, 7, 5, 16, 2, 9, 4, 12, 6]
    batches = [ragged_batch(config, 4, T, seed=i) for i, T in enumerate(lengths)] + [
        ragged_batch(config, 3, 5, seed=99)
    ]
    options = {"optimizer": impls.Adam(lr=0.02), "clip": impls.ClipNorm(0.5)}
    fused = impls.load("jax-scan", config, random_params(config, seed=2), **options)
    stepped = impls.load("jax-scan", config, random_params(config, seed=2), **options)
    ref = impls.load("numpy-bptt", config, random_params(config, seed=2), **options)
    for epoch in range(2):
        losses = fused.train_epoch(batches)
        assert fused.trace_counts == {"logits": 0, "loss_and_grads": 0, "train_step": 1, "train_epoch": 1}
        expected = [stepped.train_step(b) for b in batches]
        np.testing.assert_allclose(losses, expected, rtol=1e-12, err_msg=f"losses of epoch {epoch}")
        assert_params_close(fused.get_params(), stepped.get_params(), 1e-12, f"after epoch {epoch}")
        np.testing.assert_allclose(losses, ref.train_epoch(batches), rtol=tolerances.FLOAT64)
        assert_params_close(fused.get_params(), ref.get_params(), tolerances.FLOAT64, f"numpy-bptt, epoch {epoch}")


# Plain SGD scatters its W_xh update into the rows a step read where it reads fewer than V (T_pad x B
# = 16 here); otherwise, and for every other optimizer, the update is dense.
W_XH_UPDATES = {"sgd-sparse": (40, "sgd"), "sgd-dense": (7, "sgd"), "momentum": (7, "momentum")}


@pytest.mark.parametrize("update", list(W_XH_UPDATES))
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.usefixtures("fresh_functions")
def test_mixed_length_epoch_of_single_records(nonlinearity, update):
    """B = 1 with records of many lengths: one compilation, numpy-bptt's losses and parameters, with the
    sparse and the dense W_xh update."""
    vocab, optimizer = W_XH_UPDATES[update]
    config = impls.ModelConfig(vocab, 5, 3, nonlinearity=nonlinearity, dtype="float64")
    records = ragged_batch(config, 30, 11, seed=4)
    batches = [
        impls.Batch(
            records.tokens[i : i + 1, : records.lengths[i]], records.lengths[i : i + 1], records.labels[i : i + 1]
        )
        for i in range(30)
    ]
    assert len({jax_scan.bucket_length(b.t_max) for b in batches}) > 1
    fused = impls.load("jax-scan", config, random_params(config, seed=1), optimizer=OPTIMIZERS[optimizer])
    ref = impls.load("numpy-bptt", config, random_params(config, seed=1), optimizer=OPTIMIZERS[optimizer])
    np.testing.assert_allclose(fused.train_epoch(batches), ref.train_epoch(batches), rtol=tolerances.FLOAT64)
    assert fused.trace_counts == {"logits": 0, "loss_and_grads": 0, "train_step": 0, "train_epoch": 1}
    assert_params_close(fused.get_params(), ref.get_params(), tolerances.FLOAT64, "after the epoch")


@pytest.mark.usefixtures("fresh_functions")
def test_mixed_batch_sizes_epoch_compiles_few_chunk_sizes():
    """Runs of one B within a mixed epoch go in power-of-two chunks: few compilations, in order."""
    model = make_model("float64")
    config = model.config
    shapes = [(2, 5)] * 7 + [(3, 5)] * 1 + [(2, 12)] * 5 + [(2, 5)] * 6
    batches = [ragged_batch(config, B, T, seed=i) for i, (B, T) in enumerate(shapes)]
    losses = model.train_epoch(batches)  # first, so that every compilation it needs is its own
    stepped = make_model("float64")
    expected = [stepped.train_step(b) for b in batches]
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    assert_params_close(model.get_params(), stepped.get_params(), 1e-12, "after a mixed epoch")
    # All at T_pad 16; chunks by B: 4 2 1 | 1 | 8 2 1 -> epochs of N = 4, 2, 8 (B2), steps (B2) (B3)
    assert model.trace_counts["train_epoch"] == 3
    assert model.trace_counts["train_step"] == 2


# -- (3): the fused epoch --------------------------------------------------------------------------


@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.usefixtures("fresh_functions")
def test_fused_epoch_equals_step_loop(optimizer, clip):
    config = make_config("float64")
    batches = [ragged_batch(config, 3, 6, seed=40 + i) for i in range(6)]
    options = {"optimizer": OPTIMIZERS[optimizer], "clip": CLIPS[clip]}
    fused = impls.load("jax-scan", config, random_params(config, seed=2), **options)
    stepped = impls.load("jax-scan", config, random_params(config, seed=2), **options)
    # Two epochs, so that the second one continues the optimizer state (Adam's t) of the first.
    for epoch in range(2):
        losses = fused.train_epoch(batches)
        expected = [stepped.train_step(b) for b in batches]
        assert fused.trace_counts["train_step"] == 0
        np.testing.assert_allclose(losses, expected, rtol=1e-13, err_msg=f"losses of epoch {epoch}")
        assert_params_close(fused.get_params(), stepped.get_params(), 1e-13, f"after epoch {epoch}")
    assert fused.trace_counts["train_epoch"] == 1
    stepped_ref = impls.load("numpy-bptt", config, random_params(config, seed=2), **options)
    for _ in range(2):
        stepped_ref.train_epoch(batches)
    assert_params_close(fused.get_params(), stepped_ref.get_params(), tolerances.FLOAT64, "against numpy-bptt")


@pytest.mark.usefixtures("fresh_functions")
def test_fused_epoch_of_single_records():
    """Per-record SGD (B = 1) over a whole epoch is one compiled call, not one dispatch per record."""
    config = make_config("float64")
    records = ragged_batch(config, 40, 8, seed=3)
    batches = [
        impls.Batch(records.tokens[i : i + 1], records.lengths[i : i + 1], records.labels[i : i + 1]) for i in range(40)
    ]
    fused, ref = make_model("float64"), impls.load("numpy-bptt", config, random_params(config, seed=1))
    np.testing.assert_allclose(fused.train_epoch(batches), ref.train_epoch(batches), rtol=tolerances.FLOAT64)
    assert fused.trace_counts == {"logits": 0, "loss_and_grads": 0, "train_step": 0, "train_epoch": 1}
    assert_params_close(fused.get_params(), ref.get_params(), tolerances.FLOAT64, "after the epoch")


# -- (4): float64 agreement, float32 stays float32 ---------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_float64_agrees_with_numpy_on_a_ragged_batch(nonlinearity):
    config = make_config("float64", nonlinearity)
    params = random_params(config, seed=5)
    batch = ragged_batch(config, 7, 5, seed=6)  # T = 5 is padded to the bucket 8
    model, ref = impls.load("jax-scan", config, params), impls.load("numpy-bptt", config, params)
    logits = model.logits(batch)
    assert logits.dtype == np.float64
    assert_close(logits, ref.logits(batch), tolerances.FLOAT64, "logits")
    loss, grads = model.loss_and_grads(batch)
    ref_loss, ref_grads = ref.loss_and_grads(batch)
    assert abs(loss - ref_loss) <= tolerances.FLOAT64 * abs(ref_loss)
    assert all(g.dtype == np.float64 for g in grads.values())
    assert_params_close(grads, ref_grads, tolerances.FLOAT64, "grad")


def lowered_text(model: jax_scan.JaxScan, batch: impls.Batch) -> str:
    """The StableHLO of the model's train step for this batch's shapes."""
    data, full = jax_scan.pack(batch, jax_scan.bucket_length(batch.t_max))
    bias = model._bias(1)
    with model._precision():
        return model._fns.train_step.lower(model.state, data, None if bias is None else bias[0], not full).as_text()


@pytest.mark.parametrize("global_x64", [False, True])
def test_float32_model_stays_float32(global_x64):
    """Even after a float64 model ran, and even where a user enabled x64 globally."""
    model64 = make_model("float64", optimizer=impls.Adam())
    batch = ragged_batch(model64.config, 4, 6, seed=0)
    model64.train_step(batch)
    assert model64.get_params()["W_hh"].dtype == np.float64
    assert jax.numpy.zeros(1).dtype == np.float32  # the float64 model left x64 off for everyone else

    model32 = make_model("float32", optimizer=impls.Adam(), clip=impls.ClipNorm(1.0))
    with jax.enable_x64(global_x64):
        loss = model32.train_step(batch)
        assert np.isfinite(loss)
        assert model32.logits(batch).dtype == np.float32
        assert all(g.dtype == np.float32 for g in model32.loss_and_grads(batch)[1].values())
        assert all(p.dtype == np.float32 for p in model32.get_params().values())
        assert all(leaf.dtype == np.float32 for leaf in jax.tree.leaves(model32.state))
        text = lowered_text(model32, batch)
    # No float64 anywhere and no int64 array: data is float32 and int32. (Under global x64, lax.scan's own
    # loop counter is a 0-d int64: JAX's bookkeeping, not the model's arithmetic.)
    wide = sorted(set(re.findall(r"tensor<(?:[0-9x]*f64|[0-9x]+xi64)>", text)))
    assert not wide, f"64-bit values in a float32 model's step: {wide}"
    assert "xf32>" in text


# -- (5): bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_out_of_range_token_raises_instead_of_clamping(method):
    model = make_model("float32")
    V = model.config.vocab_size
    before = model.get_params()
    bad = impls.Batch(np.array([[1, V, 2], [0, 1, 2]]), np.array([3, 2]), np.array([0, 1]))
    with pytest.raises(impls.InputError, match=f"token id {V} is out of range"):
        call(model, method, bad)
    # A token past the length (padding) is checked too: JAX would clamp it silently.
    padding_bad = impls.Batch(np.array([[1, 2, V + 5]]), np.array([2]), np.array([0]))
    with pytest.raises(impls.InputError, match="out of range"):
        call(model, method, padding_bad)
    assert model.compile_count == 0  # nothing reached JAX
    assert_params_close(model.get_params(), before, 0.0, "after the refused call")


# -- state on the device, donation, threads --------------------------------------------------------


def test_params_are_host_copies_that_survive_later_steps():
    model = make_model("float64", optimizer=impls.SGD(lr=0.5, momentum=0.9))
    batch = ragged_batch(model.config, 4, 6, seed=0)
    model.train_step(batch)
    snapshot = model.get_params()
    frozen = {k: v.copy() for k, v in snapshot.items()}
    for _ in range(3):
        model.train_step(batch)  # each step donates the state buffer of the one before
    model.sync()
    assert_params_close(snapshot, frozen, 0.0, "an earlier get_params()")
    assert not np.array_equal(model.get_params()["W_hh"], frozen["W_hh"])


def test_threads_after_backend_start_are_reported_as_not_applied():
    jax.numpy.zeros(1).block_until_ready()  # the backend is running now
    model = make_model("float32", threads=3)
    info = model.thread_info()
    assert info["requested"] == 3
    assert info["applied"] is (jax_common.threads_set() == 3)
    if not info["applied"]:
        assert "unchanged" in info["note"]


def test_threads_before_backend_start_are_applied():
    """In a fresh process: threads=1 sets NPROC and turns Eigen's threading off before XLA starts."""
    script = textwrap.dedent(
        """
        import impls
        config = impls.ModelConfig(5, 3, 2)
        model = impls.load("jax-scan", config, impls.init_params(config), threads=1)
        model.train_step(impls.Batch([[1, 2]], [2], [1]))
        info = model.thread_info()
        assert info["applied"] is True, info
        assert info["NPROC"] == "1" and info["cpu_pool_threads"] == 1, info
        assert "--xla_cpu_multi_thread_eigen=false" in info["XLA_FLAGS"], info
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NPROC", "XLA_FLAGS")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.usefixtures("fresh_functions")
def test_compile_seconds_count_only_calls_that_compiled():
    config = impls.ModelConfig(7, 5, 3, dtype="float32")
    model = impls.load("jax-scan", config, impls.init_params(config))
    batch = impls.Batch(np.array([[1, 2, 3]]), np.array([3]), np.array([0]))
    assert model.compile_seconds == 0.0
    model.train_step(batch)
    compiled = model.compile_seconds
    assert compiled > 0.0
    model.train_step(batch)  # same shapes: no compilation, so nothing more is counted
    assert model.compile_seconds == compiled
