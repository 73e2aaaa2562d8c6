"""Outside implementations for tests/test_plugins.py, registered there by fake entry points: a faithful
fork of numpy-bptt, and one with a single bug, a sign in the W_hh gradient."""

from __future__ import annotations

from impls.numpy_bptt import NumpyBPTT


class ForkOfNumpy(NumpyBPTT):
    """numpy-bptt under another name: passes every case."""

    name = "test-fork"


class WrongSign(NumpyBPTT):
    """numpy-bptt with dW_hh negated, in loss_and_grads and in every training step."""

    name = "test-wrong-sign"

    def _setup(self, params) -> None:
        super()._setup(params)
        self.sparse_sgd_lr = None  # every step goes through _grads, and its bug

    def _grads(self, batch):
        loss, grads = super()._grads(batch)
        return loss, grads | {"W_hh": -grads["W_hh"]}


class NotAnImplementation:
    """What an entry point may name by mistake."""

    name = "test-not-an-impl"
