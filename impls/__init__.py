"""rnnbench implementations: one RNN classifier, four frameworks, one interface.

    import impls
    config = impls.ModelConfig(vocab_size=V, hidden_size=H, num_classes=C)
    model = impls.load("numpy-bptt", config, impls.init_params(config, seed=0))
    loss = model.train_step(impls.Batch(tokens, lengths, labels))

Importing this package imports NumPy only; a framework is imported when its implementation loads.
`impls.names()` adds other packages' implementations (entry point group "rnnbench.impls") to the
built-in ones of `impls.IMPLS`; they load the same way.
"""

from impls.base import RNNImpl
from impls.core import (
    DTYPES,
    NONLINEARITIES,
    PARAM_NAMES,
    SGD,
    Adam,
    Batch,
    Clip,
    ClipNorm,
    ClipValue,
    DispatchCount,
    FrameworkUnavailableError,
    InputError,
    ModelConfig,
    NonFiniteLossError,
    Optimizer,
    Params,
    StepMemory,
    init_params,
    validate_params,
)
from impls.registry import (
    DEVICES,
    FUSED_EPOCH,
    IMPLS,
    available,
    device_present,
    framework_installed,
    load,
    names,
    unavailable_reason,
)

__all__ = [
    "DEVICES",
    "DTYPES",
    "FUSED_EPOCH",
    "IMPLS",
    "NONLINEARITIES",
    "PARAM_NAMES",
    "SGD",
    "Adam",
    "Batch",
    "Clip",
    "ClipNorm",
    "ClipValue",
    "DispatchCount",
    "FrameworkUnavailableError",
    "InputError",
    "ModelConfig",
    "NonFiniteLossError",
    "Optimizer",
    "Params",
    "RNNImpl",
    "StepMemory",
    "available",
    "device_present",
    "framework_installed",
    "init_params",
    "load",
    "names",
    "unavailable_reason",
    "validate_params",
]
