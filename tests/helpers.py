"""Small, framework-free helpers for the tests: those of the conformance cases (rnnbench.conformance.tools),
which the tests share with `rnnbench check`."""

from rnnbench.conformance.tools import (
    assert_close,
    assert_params_close,
    finite_difference_grads,
    ragged_batch,
    random_params,
    rel_err,
)

__all__ = [
    "assert_close",
    "assert_params_close",
    "finite_difference_grads",
    "ragged_batch",
    "random_params",
    "rel_err",
]
