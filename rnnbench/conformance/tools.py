"""What the conformance cases are made of: data, parameters, a norm-wise closeness check, and the checks
that fail a case. Framework-free (NumPy only), and independent of pytest and of `assert` statements, so
that `rnnbench check` runs the same cases as the tests, under `python -O` as well."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

import impls


class CaseFailure(AssertionError):
    """A conformance case found a disagreement: the message says what, and by how much."""


def require(condition: object, message: str) -> None:
    """Fail the case with `message` unless `condition` holds."""
    if not condition:
        raise CaseFailure(message)


@contextmanager
def raises(error: type[BaseException], match: str) -> Iterator[None]:
    """The block must raise `error` with a message in which `match` (a regex) is found; another
    exception goes through as it is (the case errs rather than fails)."""
    try:
        yield
    except error as e:
        require(re.search(match, str(e)), f"{type(e).__name__} {str(e)!r} does not match {match!r}")
        return
    raise CaseFailure(f"no {error.__name__} raised (expected one matching {match!r})")


def random_params(config: impls.ModelConfig, seed: int = 0, scale: float = 0.5) -> impls.Params:
    """Parameters with every entry non-zero (biases too), so that every gradient path is exercised."""
    rng = np.random.default_rng(seed)
    return {
        name: (scale * rng.standard_normal(shape)).astype(config.np_dtype)
        for name, shape in config.param_shapes().items()
    }


def ragged_batch(config: impls.ModelConfig, B: int, T: int, seed: int = 0) -> impls.Batch:
    """B records whose lengths cover 1..T (cycled), padded to T with random (valid) token ids."""
    rng = np.random.default_rng(seed)
    lengths = (np.arange(B) % T) + 1
    rng.shuffle(lengths)
    tokens = rng.integers(0, config.vocab_size, size=(B, T))
    labels = rng.integers(0, config.num_classes, size=B)
    return impls.Batch(tokens, lengths, labels)


def rel_err(actual, expected) -> float:
    """max |actual - expected| / max |expected|: relative to the array's scale, robust to zero entries."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    require(actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}")
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    return float(np.max(np.abs(actual - expected), initial=0.0)) / scale


def assert_close(actual, expected, tol: float, what: str = "") -> None:
    err = rel_err(actual, expected)
    require(err <= tol, f"{what}: relative error {err:.3e} > tolerance {tol:.1e}")


def assert_params_close(actual: impls.Params, expected: impls.Params, tol: float, what: str = "") -> None:
    require(
        set(actual) == set(expected) == set(impls.PARAM_NAMES),
        f"{what}: keys {sorted(actual)} != {sorted(impls.PARAM_NAMES)}",
    )
    for name in impls.PARAM_NAMES:
        assert_close(actual[name], expected[name], tol, f"{what} {name}")


def finite_difference_grads(loss, params: impls.Params, step: float = 1e-6) -> impls.Params:
    """d loss(params) / d theta by central differences, entry by entry (tiny float64 models only).

    loss: Params -> float. With step 1e-6 in float64 the error is near 1e-9 relative to the gradient."""
    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][idx] += step
            minus[name][idx] -= step
            g[idx] = (loss(plus) - loss(minus)) / (2 * step)
        grads[name] = g
    return grads
