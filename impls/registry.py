"""Registry of implementations: names map to "module:Class" strings; nothing heavy is imported here.

Beside the built-in ones below, other packages' implementations (impls/plugins.py) are found by entry
point and loaded the same way, lazily; every function here takes either kind of name."""

from __future__ import annotations

import importlib
import importlib.util

from impls import plugins as _plugins
from impls.core import FrameworkUnavailableError, InputError, ModelConfig, Params

IMPLS: dict[str, str] = {
    "numpy-bptt": "impls.numpy_bptt:NumpyBPTT",
    "torch-autograd": "impls.torch_autograd:TorchAutograd",
    "jax-scan": "impls.jax_scan:JaxScan",
    "torch-nnrnn": "impls.torch_nnrnn:TorchNNRNN",
    "torch-compile": "impls.torch_compile:TorchCompile",
}

# What each implementation needs installed, and the extra that installs it.
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "numpy-bptt": ("numpy", "rnnbench"),
    "torch-autograd": ("torch", "rnnbench[torch]"),
    "jax-scan": ("jax", "rnnbench[jax]"),
    "torch-nnrnn": ("torch", "rnnbench[torch]"),
    "torch-compile": ("torch", "rnnbench[torch]"),
}

DEVICES: dict[str, tuple[str, ...]] = {
    "numpy-bptt": ("cpu",),
    "torch-autograd": ("cpu", "cuda"),
    "jax-scan": ("cpu",),
    "torch-nnrnn": ("cpu", "cuda"),
    "torch-compile": ("cpu", "cuda"),
}

# Implementations with a train_epoch of their own (one fused call per epoch); the others run
# train_step in a loop. tests/test_core.py holds this to what each class really does.
FUSED_EPOCH: frozenset[str] = frozenset({"jax-scan"})


def plugins() -> dict[str, _plugins.Plugin]:
    """Outside implementations by name (entry points, read once; broken ones carry their problem)."""
    return _plugins.discover(frozenset(IMPLS))


def names() -> list[str]:
    """Every implementation's name: the built-in ones, then the plugins'."""
    return [*IMPLS, *(n for n in plugins() if n not in IMPLS)]


def _check_name(name: str) -> None:
    if name not in IMPLS and name not in plugins():
        raise InputError(f"unknown implementation {name!r}; known: {', '.join(names())}")


def _check_device(name: str, device: str) -> None:
    if name not in IMPLS:  # a plugin's class names its devices, read when it loads
        return
    if device not in DEVICES[name]:
        raise InputError(f"unknown device {device!r} for {name}; it runs on: {', '.join(DEVICES[name])}")


def check_known(name: str, device: str = "cpu") -> None:
    """InputError for an unknown implementation, or a device it does not run on (imports nothing)."""
    _check_name(name)
    _check_device(name, device)


def framework_installed(name: str) -> bool:
    """Whether the framework that implementation `name` needs can be imported (without importing it)."""
    _check_name(name)
    if name not in IMPLS:
        return plugins()[name].problem is None
    return importlib.util.find_spec(FRAMEWORKS[name][0]) is not None


def device_present(device: str) -> bool:
    """Whether `device` exists here. "cuda" asks torch, so call it only where torch is installed."""
    if device == "cpu":
        return True
    if device == "cuda":
        if importlib.util.find_spec("torch") is None:
            return False
        import torch

        return torch.cuda.is_available()
    return False


def available(device: str = "cpu") -> list[str]:
    """Names of the implementations whose framework is installed and that run on `device` here; plugins
    that nothing is known against, on "cpu" (the device every implementation runs on)."""
    builtin = [n for n in IMPLS if device in DEVICES[n] and framework_installed(n) and device_present(device)]
    return builtin + [n for n, p in plugins().items() if device == "cpu" and p.problem is None]


def unavailable_reason(name: str, device: str = "cpu") -> str | None:
    """Why implementation `name` cannot run on `device` here (an unknown name or device, a missing
    framework, an absent device), or None when it can. Imports no framework."""
    if name not in IMPLS:
        if name not in plugins():
            return f"unknown implementation {name!r}; known: {', '.join(names())}"
        return plugins()[name].problem
    if device not in DEVICES[name]:
        return f"unknown device {device!r} for {name}; it runs on: {', '.join(DEVICES[name])}"
    framework, extra = FRAMEWORKS[name]
    if not framework_installed(name):
        return f"{name} needs {framework}, which is not installed: pip install '{extra}'"
    if not device_present(device):
        return f"{name} on device {device!r}: no such device is present on this machine"
    return None


def load(name: str, config: ModelConfig, params: Params, device: str = "cpu", **options):
    """Create implementation `name` from canonical params. Options: optimizer, clip, threads.

    Raises InputError for an unknown name or device, FrameworkUnavailableError when the framework
    is not installed or the device is absent, both before the framework is imported.
    """
    _check_name(name)
    _check_device(name, device)
    reason = unavailable_reason(name, device)
    if reason is not None:
        raise (FrameworkUnavailableError if name in IMPLS else _plugins.PluginError)(reason)
    return implementation_class(name)(config, params, device=device, **options)


def implementation_class(name: str) -> type:
    """The class of implementation `name`, its module imported (a plugin's: PluginError if it cannot be)."""
    _check_name(name)
    if name not in IMPLS:
        return _plugins.load_class(plugins()[name])
    module_name, class_name = IMPLS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def fuses_epoch(name: str) -> bool:
    """Whether `name` runs train_epoch as one fused call: FUSED_EPOCH for a built-in one (nothing imported),
    what its class does for a plugin (its module imported)."""
    if name in IMPLS:
        return name in FUSED_EPOCH
    cls = implementation_class(name)  # an RNNImpl subclass: impls.base is imported now
    return cls._train_epoch is not _plugins.rnn_impl()._train_epoch
