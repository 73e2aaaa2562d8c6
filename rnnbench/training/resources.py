"""A memory guard: estimate what training (or prediction) will hold, and refuse before it starts if it cannot fit.

The estimate is an upper bound built from the shapes, checked against each implementation's measured
step memory in tests/test_train.py:

    parameters    itemsize x P x (3 + optimizer slots + update temporaries): the parameters, their
                  gradients, the copy handed back at the end, Adam's two moments (SGD momentum: one), and
                  the arrays the update makes on its way (lr x g; Adam's (1 - b1) g, g^2, the bias-corrected
                  moments and their quotient: up to three at once, a list of them for a foreach update)
    training step itemsize x B x T x (kH + V_in): the BPTT cache grows as B x T x H (inputs gathered,
                  hidden states, their gradients, temporaries: k = 4, and 7 for jax-scan, whose compiled
                  step keeps more buffers alive; T padded as torch-compile pads it), plus a one-hot input row per token where the
                  implementation builds one (V_in = V, else 0)
    evaluation    itemsize x B x T x (2H + V_in) for the largest evaluation batch (forward only)

P = HV + H^2 + H + CH + C. Available memory is the kernel's MemAvailable, or what a cgroup limit leaves if
that is less; on a CUDA device, the device's free memory. Where neither can be read the guard says so
and lets the run go on.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import impls
from rnnbench import machine
from rnnbench.units import fmt_bytes

# Implementations that feed the recurrence one-hot rows of width V: torch-nnrnn always (nn.RNN takes
# dense inputs), numpy-bptt for its dW_xh scatter when V is small (impls/numpy_bptt.py).
ONE_HOT_ALWAYS: frozenset[str] = frozenset({"torch-nnrnn"})
ONE_HOT_SMALL_VOCAB: dict[str, int] = {"numpy-bptt": 512}
OPTIMIZER_SLOTS: dict[str, int] = {"adam": 2, "momentum": 1, "sgd": 0}
UPDATE_TEMPORARIES: dict[str, int] = {"adam": 3, "momentum": 1, "sgd": 1}  # parameter-sized, at once
CACHE_UNITS, CACHE_UNITS_BY_IMPL = 4, {"jax-scan": 7}  # B x T x H arrays a training step holds at once
PADDED_LENGTH = {"torch-compile": impls.core.compile_bucket}  # T -> the length an implementation runs


@dataclass(frozen=True)
class Shape:
    """The largest batch a phase runs: B records padded to T tokens."""

    records: int
    tokens: int


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes each part of a run holds at most; peak is what must fit at once."""

    parameters: int
    step: int
    evaluation: int
    train_shape: Shape | None
    eval_shape: Shape
    hidden: int

    @property
    def peak(self) -> int:
        return self.parameters + max(self.step, self.evaluation)

    def describe(self) -> str:
        """One phrase: the peak and its parts, with the B x T x H of the biggest batch."""
        parts = [f"parameters and optimizer state {format_bytes(self.parameters)}"]
        if self.train_shape is not None:
            B, T = self.train_shape.records, self.train_shape.tokens
            parts.append(f"a training step {format_bytes(self.step)} (B x T x H = {B} x {T} x {self.hidden})")
        B, T = self.eval_shape.records, self.eval_shape.tokens
        parts.append(f"an evaluation batch {format_bytes(self.evaluation)} ({B} x {T} x {self.hidden})")
        return f"about {format_bytes(self.peak)} ({'; '.join(parts)})"


def estimate(
    impl: str,
    config: impls.ModelConfig,
    *,
    optimizer: str,
    train_shape: Shape | None,
    eval_shape: Shape,
) -> MemoryEstimate:
    """The memory a run of impl on config holds: optimizer "sgd", "momentum" or "adam"; train_shape None
    for prediction (no gradients, no optimizer state)."""
    itemsize = config.np_dtype.itemsize
    V, H, C = config.vocab_size, config.hidden_size, config.num_classes
    n_params = H * V + H * H + H + C * H + C
    one_hot = V if impl in ONE_HOT_ALWAYS or ONE_HOT_SMALL_VOCAB.get(impl, 0) >= V else 0
    if train_shape is None:
        copies = 1  # the parameters alone
        step = 0
    else:
        copies = 3 + OPTIMIZER_SLOTS[optimizer] + UPDATE_TEMPORARIES[optimizer]
        B, T = train_shape.records, PADDED_LENGTH.get(impl, int)(train_shape.tokens)
        units = CACHE_UNITS_BY_IMPL.get(impl, CACHE_UNITS)
        step = itemsize * B * (T * (units * H + one_hot) + H + 2 * C)
    B, T = eval_shape.records, PADDED_LENGTH.get(impl, int)(eval_shape.tokens)
    evaluation = itemsize * B * (T * (2 * H + one_hot) + C)
    return MemoryEstimate(
        parameters=itemsize * n_params * copies,
        step=step,
        evaluation=evaluation,
        train_shape=train_shape,
        eval_shape=eval_shape,
        hidden=H,
    )


@dataclass(frozen=True)
class Available:
    """Bytes free for the run (None when unknown) and where the figure came from."""

    bytes: int | None
    source: str


def host_memory(meminfo: str = "/proc/meminfo", cgroup: str = "/sys/fs/cgroup") -> Available:
    """MemAvailable from meminfo, or the room a cgroup v2 limit leaves when that is smaller."""
    found: list[tuple[int, str]] = []
    if (free := machine.meminfo_bytes("MemAvailable", meminfo)) is not None:
        found.append((free, f"MemAvailable in {meminfo}"))
    limit, current = _read_int(os.path.join(cgroup, "memory.max")), _read_int(os.path.join(cgroup, "memory.current"))
    if limit is not None and current is not None:
        found.append((max(0, limit - current), f"the cgroup limit {format_bytes(limit)} less its use"))
    if not found and hasattr(os, "sysconf"):
        with contextlib.suppress(ValueError, OSError):
            found.append((os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free physical pages"))
    if not found:
        return Available(None, "no reading of free memory on this system")
    return Available(*min(found))


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())  # "max" (no limit) is no integer
    except (OSError, ValueError):
        return None


def device_memory(device: str) -> Available:
    """Free memory of a CUDA device (torch imported here, lazily); host memory for cpu."""
    if not device.startswith("cuda"):
        return host_memory()
    try:
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
    except (ImportError, RuntimeError, AssertionError, ValueError) as e:  # no torch or no CUDA: the run says so
        return Available(None, f"the free memory of {device} could not be read ({type(e).__name__})")
    return Available(int(free), f"free memory of {device}")


def check_fits(need: MemoryEstimate, available: Available, what: str, advice: str) -> None:
    """InputError, naming the estimate and the available memory, when need.peak exceeds it."""
    if available.bytes is not None and need.peak > available.bytes:
        raise impls.InputError(
            f"{what} needs {need.describe()}, but {format_bytes(available.bytes)} is available "
            f"({available.source}); {advice}"
        )


def format_bytes(n: int) -> str:
    """1536 -> '1.5 KiB': memory as the guard's messages state it."""
    return fmt_bytes(n, binary=True)
