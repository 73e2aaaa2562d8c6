"""The conformance cases (docs/DESIGN.md §5): what every implementation must compute, checked against the
float64 NumPy reference. One list, CASES, run by tests/test_conformance.py (parametrized over it and the
registry) and by `rnnbench check NAME` (rnnbench.conformance.runner).

Each case is a function of the implementation's name (and fixed arguments) that returns when the
implementation conforms and raises tools.CaseFailure saying what disagrees when it does not. The
implementation loads through the registry, so nothing here imports a framework.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import impls
from rnnbench.conformance import tolerances
from rnnbench.conformance.tools import (
    assert_close,
    assert_params_close,
    finite_difference_grads,
    ragged_batch,
    raises,
    random_params,
    rel_err,
    require,
)

# (V, H, C, nonlinearity): vocabulary and class counts of 1 included.
SHAPES = [(7, 5, 3, "tanh"), (7, 5, 3, "relu"), (1, 4, 1, "tanh"), (12, 6, 2, "relu"), (3, 1, 4, "tanh")]
SHAPE_IDS = [f"V{v}-H{h}-C{c}-{nl}" for v, h, c, nl in SHAPES]
B, T, K = 6, 5, 5

OPTIMIZERS = {
    "sgd": impls.SGD(lr=0.3),
    "momentum": impls.SGD(lr=0.1, momentum=0.9),
    "adam": impls.Adam(lr=0.02),
}
# Thresholds small enough that they bind on these models (tests/test_conformance.py checks it).
CLIPS = {"noclip": None, "value": impls.ClipValue(0.02), "norm": impls.ClipNorm(0.1)}
NONLINEARITIES = ["tanh", "relu"]
DTYPES = ["float64", "float32"]


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
    return tolerances.FLOAT64 if dtype == "float64" else tolerances.float32_step(impl_name)


def check_loss(loss: float, ref_loss: float, tol: float, what: str = "loss") -> None:
    require(abs(loss - ref_loss) <= tol * max(1.0, abs(ref_loss)), f"{what} {loss} != {ref_loss}")


# -- forward, loss and gradients ---------------------------------------------------------------------


def logits_loss_and_grads(impl_name: str, shape, dtype: str) -> None:
    config = config_for(shape, dtype)
    params = random_params(config, seed=1)
    batch = ragged_batch(config, B, T, seed=2)
    model, ref = impls.load(impl_name, config, params), reference(config, params)
    tol = step_tolerance(impl_name, dtype)

    logits = model.logits(batch)
    require(logits.shape == (B, config.num_classes), f"logits shape {logits.shape} != {(B, config.num_classes)}")
    require(logits.dtype == config.np_dtype, f"logits dtype {logits.dtype} != {config.dtype}")
    assert_close(logits, ref.logits(batch), tol, "logits")

    loss, grads = model.loss_and_grads(batch)
    ref_loss, ref_grads = ref.loss_and_grads(batch)
    require(isinstance(loss, float), f"loss is a {type(loss).__name__}, not a float")
    require(abs(loss - ref_loss) <= tol * max(1.0, abs(ref_loss)), f"loss {loss} != {ref_loss}")
    wrong = [k for k in impls.PARAM_NAMES if grads[k].dtype != config.np_dtype]
    require(not wrong, f"gradients {wrong} are not {config.dtype}")
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


def finite_differences(impl_name: str, nonlinearity: str) -> None:
    """Gradients against central differences of the float64 reference loss, with every unit active over
    T = 5 steps: a backward pass that propagates dh with W_hh instead of W_hh.T (Zhou's slip) fails here,
    under relu as under tanh."""
    from impls import numpy_bptt  # NumPy only

    config = config_for((4, 3, 2, nonlinearity), "float64")
    params = active_params(config)
    batch = impls.Batch.from_sequences([[0, 3, 1, 2, 1], [2, 2, 0, 1], [1, 3, 3]], [0, 1, 1])
    hs, _ = numpy_bptt.rnn_forward(batch.tokens, batch.lengths, params, relu=nonlinearity == "relu")
    require((hs[1:] > 0).all(), "a unit is inactive at some step: the case would not exercise the recurrence")
    _, grads = impls.load(impl_name, config, params).loss_and_grads(batch)
    expected = finite_difference_grads(lambda p: reference(config, p).loss_and_grads(batch)[0], params)
    assert_params_close(grads, expected, tolerances.FINITE_DIFFERENCES, "grad vs finite differences")


def large_logits(impl_name: str, records: str) -> None:
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
    require(ref_loss > 1e3, f"reference loss {ref_loss}: the logits are not large")
    require(np.isfinite(loss), f"loss {loss}")
    require(all(np.isfinite(g).all() for g in grads.values()), "non-finite gradient")
    tol = tolerances.float32_step(impl_name)
    require(abs(loss - ref_loss) <= tol * abs(ref_loss), f"loss {loss} != {ref_loss}")
    assert_params_close(grads, ref_grads, tol, "grad")


# -- trajectories ------------------------------------------------------------------------------------


def training_trajectory(impl_name: str, nonlinearity: str, optimizer: str, clip: str, dtype: str) -> None:
    """K steps from the same start, each on a different ragged batch: parameters agree after every step."""
    config = config_for((7, 5, 3, nonlinearity), dtype)
    params = random_params(config, seed=3)
    options = {"optimizer": OPTIMIZERS[optimizer], "clip": CLIPS[clip]}
    model, ref = impls.load(impl_name, config, params, **options), reference(config, params, **options)
    tol = tolerances.FLOAT64 if dtype == "float64" else tolerances.float32_trajectory(impl_name)
    for step in range(K):
        batch = ragged_batch(config, B, T, seed=10 + step)
        loss, ref_loss = model.train_step(batch), ref.train_step(batch)
        check_loss(loss, ref_loss, tol, f"step {step}: loss")
        assert_params_close(model.get_params(), ref.get_params(), tol, f"after step {step + 1}")


def identical_runs(impl_name: str, dtype: str) -> None:
    config = config_for((7, 5, 3, "tanh"), dtype)
    params = random_params(config, seed=9)
    batches = [ragged_batch(config, B, T, seed=20 + i) for i in range(3)]
    runs = []
    for _ in range(2):
        model = impls.load(impl_name, config, params, optimizer=impls.Adam(lr=0.01))
        runs.append(([model.train_step(b) for b in batches], model.get_params()))
    require(runs[0][0] == runs[1][0], f"losses {runs[0][0]} then {runs[1][0]}")
    for name in impls.PARAM_NAMES:
        require(np.array_equal(runs[0][1][name], runs[1][1][name]), f"{name} differs between two identical runs")


def check_losses(losses, expected, what: str) -> None:
    losses, expected = np.asarray(losses, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    require(losses.shape == expected.shape, f"{what}: {losses.shape[0]} losses, expected {expected.shape[0]}")
    ok = np.abs(losses - expected) <= tolerances.FLOAT64 * np.abs(expected)  # numpy's assert_allclose(rtol=)
    require(ok.all(), f"{what}: losses {losses.tolist()} != {expected.tolist()}")


def train_epoch_equals_train_steps(impl_name: str, optimizer: str, clip: str) -> None:
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
    require(len(losses) == len(batches), f"{len(losses)} losses for {len(batches)} batches")
    check_losses(losses, [stepped.train_step(b) for b in batches], "epoch against steps")
    assert_params_close(fused.get_params(), stepped.get_params(), tolerances.FLOAT64, "after epoch")
    check_losses(losses, [ref.train_step(b) for b in batches], "epoch against the reference")
    assert_params_close(fused.get_params(), ref.get_params(), tolerances.FLOAT64, "reference, after epoch")


def training_lowers_the_loss(impl_name: str) -> None:
    config = config_for((7, 8, 3, "tanh"), "float32")
    model = impls.load(impl_name, config, random_params(config, seed=13, scale=0.3), optimizer=impls.Adam(lr=0.05))
    batch = ragged_batch(config, 16, T, seed=14)
    losses = [model.train_step(batch) for _ in range(30)]
    require(np.isfinite(losses).all(), f"non-finite loss in {losses}")
    require(losses[-1] < 0.5 * losses[0], f"loss {losses[0]} fell only to {losses[-1]} in 30 steps")
    require(rel_err(model.loss_and_grads(batch)[0], losses[-1]) < 0.5, "loss_and_grads disagrees with train_step")


# -- ragged batches ----------------------------------------------------------------------------------


def batch_law(impl_name: str, nonlinearity: str) -> None:
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
    mean_loss = np.mean([loss_i for loss_i, _ in alone])
    require(abs(loss - mean_loss) <= tolerances.FLOAT64 * abs(loss), f"loss {loss} != mean {mean_loss}")
    for name in impls.PARAM_NAMES:
        mean_grad = np.mean([grads_i[name] for _, grads_i in alone], axis=0)
        assert_close(grads[name], mean_grad, tolerances.FLOAT64, f"mean grad {name}")


def padding_does_not_change_results(impl_name: str, nonlinearity: str) -> None:
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
    require(not np.array_equal(other.tokens[:, :T], batch.tokens), "the padding did not change")
    loss, grads = model.loss_and_grads(batch)
    other_loss, other_grads = model.loss_and_grads(other)
    assert_close(model.logits(other), model.logits(batch), tolerances.FLOAT64, "logits")
    require(abs(other_loss - loss) <= tolerances.FLOAT64 * abs(loss), f"loss {other_loss} != {loss}")
    assert_params_close(other_grads, grads, tolerances.FLOAT64, "grad")


# Longest record of each batch of a ragged epoch: lengths that pad to different buckets (1, 4, 8, 16) in an
# implementation that pads T, in no order.
EPOCH_T_MAX = [3, 12, 1, 7, 16, 5]


def epoch_batch(config: impls.ModelConfig, t_max: int, seed: int) -> impls.Batch:
    """3 records, the first t_max long, the others of random lengths in [1, t_max]."""
    rng = np.random.default_rng(seed)
    lengths = np.r_[t_max, rng.integers(1, t_max + 1, size=2)]
    tokens = rng.integers(0, config.vocab_size, size=(3, t_max))
    return impls.Batch(tokens, lengths, rng.integers(0, config.num_classes, size=3))


def ragged_epoch(impl_name: str, nonlinearity: str, optimizer: str, clip: str) -> None:
    """A fused epoch over batches of very different lengths gives the reference's losses and parameters,
    one step per batch, with each optimizer, clip and nonlinearity."""
    config = config_for((7, 5, 3, nonlinearity), "float64")
    params = random_params(config, seed=18)
    batches = [epoch_batch(config, t_max, seed=40 + i) for i, t_max in enumerate(EPOCH_T_MAX)]
    options = {"optimizer": OPTIMIZERS[optimizer], "clip": CLIPS[clip]}
    fused, ref = impls.load(impl_name, config, params, **options), reference(config, params, **options)
    losses = fused.train_epoch(batches)
    check_losses(losses, [ref.train_step(b) for b in batches], "epoch against the reference")
    assert_params_close(fused.get_params(), ref.get_params(), tolerances.FLOAT64, "after the epoch")


# -- the interface -----------------------------------------------------------------------------------


def get_params_returns_host_copies(impl_name: str, dtype: str) -> None:
    config = config_for((7, 5, 3, "tanh"), dtype)
    params = random_params(config, seed=12)
    model = impls.load(impl_name, config, params)
    got = model.get_params()
    for name in impls.PARAM_NAMES:
        require(isinstance(got[name], np.ndarray), f"{name} is a {type(got[name]).__name__}, not a NumPy array")
        require(got[name].dtype == config.np_dtype, f"{name} dtype {got[name].dtype} != {config.dtype}")
        require(np.array_equal(got[name], params[name]), f"{name} is not the parameter the model was made with")
    got["W_hh"][...] = 0.0  # a copy: changing it must not change the model
    require(np.array_equal(model.get_params()["W_hh"], params["W_hh"]), "get_params returned a view, not a copy")
    model.sync()


# -- bad input (docs/DESIGN.md §7): the same clear error from every implementation, before its framework runs --

BAD_BATCHES = {
    "token-out-of-range": (lambda V, _C: impls.Batch(np.array([[1, V]]), np.array([2]), np.array([0])), "token id"),
    "negative-token": (lambda _V, _C: impls.Batch(np.array([[1, -1]]), np.array([2]), np.array([0])), "token ids"),
    "negative-padding": (lambda _V, _C: impls.Batch(np.array([[1, -1]]), np.array([1]), np.array([0])), "token ids"),
    "label-out-of-range": (lambda _V, C: impls.Batch(np.array([[1, 2]]), np.array([2]), np.array([C])), "label"),
    "not-a-batch": (lambda _V, _C: (np.array([[1, 2]]), np.array([2]), np.array([0])), "expected an impls.Batch"),
}
METHODS = ["logits", "loss_and_grads", "train_step", "train_epoch", "step_memory"]


def guarded_model(impl_name: str) -> impls.RNNImpl:
    """A model whose framework-side methods fail the case if reached: validation must come first."""
    config = config_for((7, 5, 3, "tanh"), "float32")
    model = impls.load(impl_name, config, random_params(config))

    def framework_called(*_args, **_kwargs):
        raise AssertionError("the framework was called before the input was checked")

    for method in ("_logits", "_loss_and_grads", "_train_step", "_train_epoch", "_step_memory"):
        setattr(model, method, framework_called)  # on this instance only, which the case then drops
    return model


def bad_batch_gets_a_clear_error(impl_name: str, bad: str, method: str) -> None:
    """The error may come from the Batch itself (ids < 0 need no config) or from the model's check of it
    against V and C; either way before the framework runs."""
    model = guarded_model(impl_name)
    make, message = BAD_BATCHES[bad]
    with raises(impls.InputError, match=message):
        batch = make(model.config.vocab_size, model.config.num_classes)
        getattr(model, method)([batch] if method == "train_epoch" else batch)


def non_finite_params_are_refused(impl_name: str, name: str, value: float) -> None:
    config = config_for((7, 5, 3, "tanh"), "float32")
    params = random_params(config)
    params[name].flat[0] = value
    with raises(impls.InputError, match=f"param {name} has non-finite"):
        impls.load(impl_name, config, params)


def unknown_device_is_refused(impl_name: str, device: str) -> None:
    config = config_for((7, 5, 3, "tanh"), "float32")
    with raises(impls.InputError, match=f"unknown device '{device}' for {impl_name}"):
        impls.load(impl_name, config, random_params(config), device=device)


def bad_options_are_refused(impl_name: str, option: str, value: object) -> None:
    config = config_for((7, 5, 3, "tanh"), "float32")
    with raises(impls.InputError, match=option):
        impls.load(impl_name, config, random_params(config), **{option: value})


# -- the list ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One conformance case: `run(impl_name)` returns, or raises tools.CaseFailure saying what disagrees.

    id: the function's name and its arguments, e.g. "training_trajectory[tanh-adam-norm-float64]";
    group: the row of `rnnbench check`'s table it counts in."""

    id: str
    group: str
    check: Callable[..., None]
    arguments: tuple = ()

    def run(self, impl_name: str) -> None:
        self.check(impl_name, *self.arguments)


GROUPS = {
    "float64 forward, loss, gradients": "logits, loss and gradients against numpy-bptt in float64",
    "float32 forward, loss, gradients": "the same in float32, and the stable loss for large logits",
    "finite differences": "gradients against central differences, through the recurrence",
    "trajectories": "K steps with every optimizer and clip; fused epochs; identical runs; the loss falls",
    "ragged batches": "the batch law, padding invariance, an epoch of very different lengths",
    "interface": "get_params returns host copies in the model's dtype",
    "bad input": "the same InputError cases as every implementation, before the framework runs",
}


def _cases(group: str, check: Callable[..., None], *axes: list, ids: list[list[str]] | None = None) -> list[Case]:
    """One case per combination of the axes' values (the first axis outermost)."""
    labels = ids or [[str(v) for v in axis] for axis in axes]
    combos = zip(itertools.product(*axes), itertools.product(*labels), strict=True)
    return [
        Case(check.__name__ + (f"[{'-'.join(words)}]" if words else ""), group, check, values)
        for values, words in combos
    ]


def _all_cases() -> list[Case]:
    cases = []
    for dtype in DTYPES:
        cases += _cases(
            f"{dtype} forward, loss, gradients", logits_loss_and_grads, SHAPES, [dtype], ids=[SHAPE_IDS, [dtype]]
        )
    cases += _cases("float32 forward, loss, gradients", large_logits, ["batch", "one-record"])
    cases += _cases("finite differences", finite_differences, NONLINEARITIES)
    cases += _cases("trajectories", training_trajectory, NONLINEARITIES, list(OPTIMIZERS), list(CLIPS), DTYPES)
    cases += _cases("trajectories", train_epoch_equals_train_steps, list(OPTIMIZERS), list(CLIPS))
    cases += _cases("trajectories", identical_runs, DTYPES)
    cases += _cases("trajectories", training_lowers_the_loss)
    cases += _cases("ragged batches", batch_law, NONLINEARITIES)
    cases += _cases("ragged batches", padding_does_not_change_results, NONLINEARITIES)
    cases += _cases("ragged batches", ragged_epoch, NONLINEARITIES, list(OPTIMIZERS), list(CLIPS))
    cases += _cases("interface", get_params_returns_host_copies, DTYPES)
    cases += _cases("bad input", bad_batch_gets_a_clear_error, list(BAD_BATCHES), METHODS)
    non_finite = [("W_hh", np.nan), ("b_y", np.inf), ("W_xh", -np.inf)]
    cases += [
        Case(f"non_finite_params_are_refused[{n}-{v}]", "bad input", non_finite_params_are_refused, (n, v))
        for n, v in non_finite
    ]
    cases += _cases("bad input", unknown_device_is_refused, ["gpu", "tpu", "CPU"])
    bad_options = [("optimizer", "adam"), ("clip", 1.0), ("threads", 0)]
    cases += [
        Case(f"bad_options_are_refused[{o}-{v}]", "bad input", bad_options_are_refused, (o, v)) for o, v in bad_options
    ]
    return cases


CASES: list[Case] = _all_cases()
