"""The single-thread plain-C baseline: the training step as a C program, measured beside the frameworks.

benchmarks/c_baseline/rnn_baseline.c does the SGD step of docs/DESIGN.md §1-§3 (forward, hand-written BPTT, plain
SGD) in float32 with no BLAS, no threads and no dispatch: what a step costs with no framework and no
Python in the way. It is a baseline, not a bound: a tuned BLAS (large B) or a second thread can beat it,
and the matmul peak (rnnbench.bench.bounds) is then the bound to read against. This module builds it with the machine's C compiler
(once; the binary is cached by a hash of source, compiler, flags and CPU) and drives it through a binary
file protocol (documented at the top of the C file):

    info = c_baseline.measure(hidden=64, seq_len=8, batch=1)     # timed on synthetic data
    info["median_record_seconds"]                            # seconds per record, median over rounds
    params, losses = c_baseline.train(params, batches, lr=0.05, steps=5)    # for the correctness tests

No C compiler, a failed build, or an install without the repository's benchmarks/ folder raise
BaselineUnavailable with the reason. NumPy is imported only by the functions that need it.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from impls.core import Batch, ModelConfig, Params

# rnnbench/ and benchmarks/ are siblings in a source checkout.
SOURCE = Path(__file__).resolve().parents[2] / "benchmarks" / "c_baseline" / "rnn_baseline.c"

# Tried in order until one builds. -ffp-contract=fast: ISO C mode (-std=c99) would otherwise forbid
# fusing a*b+c into one FMA instruction, halving the arithmetic rate of every product (BLAS fuses too).
FLAG_SETS: tuple[tuple[str, ...], ...] = (
    ("-O3", "-march=native", "-std=c99", "-ffp-contract=fast"),
    ("-O3", "-std=c99", "-ffp-contract=fast"),
    ("-O3", "-std=c99"),
)
LIBS: tuple[str, ...] = ("-lm",)

MAGIC = 0x464E4E52  # the bytes "RNNF", little-endian
VERSION = 1
HEADER_WORDS = 16

ROUND_SECONDS = 0.2


class BaselineUnavailable(RuntimeError):
    """The C baseline cannot be built here: no C compiler, the build failed, or no rnn_baseline.c (says which)."""


@dataclass(frozen=True)
class Build:
    """A built rnn_baseline: the binary, the compiler (command and first line of `--version`) and flags."""

    binary: Path
    compiler: str
    compiler_version: str
    flags: tuple[str, ...]
    source: Path

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: paths as strings, flags as the list passed to the compiler (libraries included)."""
        return asdict(self) | {"binary": str(self.binary), "source": str(self.source), "flags": [*self.flags, *LIBS]}


def find_compiler() -> tuple[str, ...]:
    """The C compiler command: $CC if set (split like a shell word list: "ccache gcc" works), else the
    first of cc, gcc, clang on PATH. Its first word is resolved to a path."""
    if os.environ.get("CC", "").strip():
        words = shlex.split(os.environ["CC"])
        candidates = [(words[0], tuple(words[1:]))]
    else:
        candidates = [(name, ()) for name in ("cc", "gcc", "clang")]
    for name, args in candidates:
        path = shutil.which(name)
        if path:
            return (path, *args)
    raise BaselineUnavailable(f"no C compiler: none of {', '.join(n for n, _ in candidates)} is on PATH (set CC)")


@functools.cache
def compiler_version(compiler: tuple[str, ...]) -> str:
    """First line of `compiler --version` ("" when it prints nothing)."""
    try:
        out = subprocess.run([*compiler, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BaselineUnavailable(f"C compiler {' '.join(compiler)} does not run: {exc}") from exc
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else ""


@functools.cache
def _cpu_key() -> str:
    """What -march=native compiles for: the CPU model and feature flags (Linux), else the platform's
    words. Part of the build hash, so that a cache shared with another CPU is not run on this one."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    wanted = [ln for ln in lines if ln.split(":")[0].strip() in ("model name", "flags", "Features", "CPU part")]
    return "\n".join(sorted(set(wanted))) or f"{platform.machine()} {platform.processor()}"


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/rnnbench/c_baseline, else ~/.cache/rnnbench/c_baseline."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rnnbench" / "c_baseline"


@functools.cache
def build(cache_dir: Path | None = None, source: Path | None = None) -> Build:
    """The rnn_baseline binary, built now or found in cache_dir/<hash of source, compiler, flags, CPU>/.

    Tries FLAG_SETS in order (a compiler without -march=native falls back to portable flags) and
    raises BaselineUnavailable when none builds. The binary is written under a temporary name and
    renamed, so that two processes building at once both end with a whole binary. Memoised per process.
    """
    source = Path(source) if source is not None else SOURCE
    if not source.is_file():
        raise BaselineUnavailable(
            f"the C source {source} is missing: the C baseline needs a source checkout (benchmarks/ beside rnnbench/)"
        )
    compiler = find_compiler()
    version = compiler_version(compiler)
    code = source.read_bytes()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    errors = []
    for flags in FLAG_SETS:
        parts = [code, " ".join(compiler), version, " ".join(flags), _cpu_key()]
        key = hashlib.sha256(b"\0".join(p if isinstance(p, bytes) else p.encode() for p in parts))
        folder = root / key.hexdigest()[:16]
        binary = folder / "rnn_baseline"
        if not binary.is_file():
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=".rnn_baseline.", suffix=".tmp")
                os.close(fd)
            except OSError as exc:
                raise BaselineUnavailable(f"cannot write the build folder {folder}: {exc}") from exc
            cmd = [*compiler, *flags, "-o", tmp, str(source), *LIBS]
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                out = subprocess.CompletedProcess(cmd, -1, "", str(exc))
            if out.returncode != 0:
                Path(tmp).unlink(missing_ok=True)
                errors.append(f"{' '.join(cmd)}: {(out.stderr or out.stdout).strip()[-500:]}")
                continue
            os.replace(tmp, binary)
        return Build(binary, " ".join(compiler), version, flags, source)
    raise BaselineUnavailable("the C baseline does not build here:\n" + "\n".join(errors))


# -- the protocol ----------------------------------------------------------------------------------------


def _header(V: int, H: int, C: int, T: int, B: int, n_batches: int, lr: float, **words: float) -> bytes:
    """The 16 little-endian int32 words that open an input file. words: steps, relu, warmup, rounds,
    iterations (0 by default) and round_seconds (sent as microseconds)."""
    import numpy as np

    known = ("steps", "relu", "warmup", "rounds", "iterations", "round_seconds")
    if set(words) - set(known):
        raise TypeError(f"unknown header words {sorted(set(words) - set(known))}")
    w = {name: words.get(name, 0) for name in known}
    out = [MAGIC, VERSION, V, H, C, T, B, n_batches, w["steps"], int(w["relu"]), w["warmup"], w["rounds"]]
    out += [w["iterations"], round(w["round_seconds"] * 1e6), int(np.array(lr, dtype="<f4").view("<i4")), 0]
    assert len(out) == HEADER_WORDS
    return np.array(out, dtype="<i4").tobytes()


def _payload(config: ModelConfig, params: Params, batches: Sequence[Batch], lr: float, **words: float) -> bytes:
    """An input file: the header (words as in `_header`), then the canonical float32 parameters, then int32
    tokens (N, B, T), lengths (N, B), labels (N, B) of the batches, each padded to the longest T."""
    import numpy as np

    B, T = batches[0].size, max(b.t_max for b in batches)
    tokens = np.stack([b.padded_to(T).tokens for b in batches])  # (N, B, T)
    lengths = np.stack([b.lengths for b in batches])  # (N, B)
    labels = np.stack([b.labels for b in batches])  # (N, B)
    V, H, C = config.vocab_size, config.hidden_size, config.num_classes
    parts = [_header(V, H, C, T, B, len(batches), lr, **words)]
    parts += [np.ascontiguousarray(params[k], dtype="<f4").tobytes() for k in config.param_shapes()]
    parts += [np.ascontiguousarray(a, dtype="<i4").tobytes() for a in (tokens, lengths, labels)]
    return b"".join(parts)


def _run(binary: Path, mode: str, payload: bytes) -> bytes:
    with tempfile.TemporaryDirectory(prefix="rnn_baseline.") as tmp:
        src, dst = Path(tmp) / "input.bin", Path(tmp) / "output.bin"
        src.write_bytes(payload)
        out = subprocess.run([str(binary), mode, str(src), str(dst)], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"rnn_baseline {mode} failed (exit {out.returncode}): {out.stderr.strip()}")
        return dst.read_bytes()


def _unpack_params(flat: np.ndarray, config: ModelConfig) -> Params:
    """A float32 (P,) array in the input's parameter order -> canonical Params."""
    out, at = {}, 0
    for name, shape in config.param_shapes().items():
        n = math.prod(shape)
        out[name] = flat[at : at + n].reshape(shape).astype("float32")
        at += n
    return out


def train(
    params: Params, batches: Sequence[Batch], lr: float, steps: int, relu: bool = False, cache_dir: Path | None = None
) -> tuple[Params, list[float]]:
    """`steps` plain-SGD steps of the C baseline from canonical params (cast to float32), step s on
    batches[s % len(batches)] -> (canonical float32 params after the last step, loss of each step).

    Every batch needs the same B; shorter T are padded to the longest (padding changes no result).
    W_xh (H, V) gives V; W_hy (C, H) gives C. Raises BaselineUnavailable when the C baseline cannot be built.
    """
    import numpy as np

    from impls.core import SGD, InputError, ModelConfig, validate_params

    SGD(lr=lr)  # the same checks of lr as every implementation's
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise InputError(f"steps must be a non-negative integer, got {steps!r}")
    if not batches:
        raise InputError("train needs at least one batch")
    H, V = np.shape(params["W_xh"])
    C = np.shape(params["W_hy"])[0]
    config = ModelConfig(V, H, C, "relu" if relu else "tanh", "float32")
    params = validate_params(params, config)
    B = batches[0].size
    if any(b.size != B for b in batches):
        raise InputError(f"every batch of the C baseline must have the same B, got {[b.size for b in batches]}")
    for b in batches:
        b.check(config)
    binary = build(cache_dir).binary
    payload = _payload(config, params, batches, lr, steps=steps, relu=relu)
    out = np.frombuffer(_run(binary, "train", payload), dtype="<f4")
    n_params = sum(math.prod(shape) for shape in config.param_shapes().values())
    if out.size != n_params + steps:
        raise RuntimeError(f"rnn_baseline train wrote {out.size} floats, expected {n_params + steps}")
    return _unpack_params(out[:n_params], config), [float(x) for x in out[n_params:]]


def measure(
    hidden: int,
    seq_len: int,
    batch: int,
    vocab: int | None = None,
    classes: int | None = None,
    rounds: int = 7,
    iterations: int | None = None,
    warmup: int = 20,
    lr: float | None = None,
    seed: int = 0,
    round_seconds: float = ROUND_SECONDS,
    relu: bool = False,
    cache_dir: Path | None = None,
) -> dict[str, object]:
    """Time the C baseline's SGD step (one thread) on synthetic data of shape (B, T), V symbols, C classes.

    `warmup` untimed steps, then `rounds` rounds of `iterations` consecutive steps, each round timed
    whole inside the C program (no Python, no process start in the figure). iterations None: the
    program calibrates it so that a round lasts about round_seconds. Parameters start from
    impls.init_params(seed) (tanh unless relu); the steps cycle through the sweep's pool of
    rnnbench.bench.workload.STEP_POOL synthetic batches. vocab, classes and lr default to those of the
    sweep's synthetic step points (SYNTH_VOCAB, SYNTH_CLASSES, SYNTH_LR).

    Returns JSON-ready: the shape, lr, rounds, iterations, round_seconds (each round, seconds),
    step_seconds (each round / iterations), median_step_seconds, median_record_seconds (/ B),
    step_stats (rnnbench.bench.timing.robust_stats of step_seconds), records_per_step (B), records_timed,
    loss_first and loss_last (of the first and the last step run), threads (1) and build.
    """
    import numpy as np

    from impls.core import ModelConfig, init_params
    from rnnbench.bench import workload

    vocab = workload.SYNTH_VOCAB if vocab is None else vocab
    classes = workload.SYNTH_CLASSES if classes is None else classes
    lr = workload.SYNTH_LR if lr is None else lr

    _check_counts(hidden=hidden, seq_len=seq_len, batch=batch, rounds=rounds, iterations=iterations)
    info = build(cache_dir)
    config = ModelConfig(vocab, hidden, classes, "relu" if relu else "tanh", "float32")
    params = init_params(config, seed)
    pool = workload.synthetic_batches(batch, seq_len, workload.STEP_POOL, seed, vocab, classes)
    payload = _payload(
        config,
        params,
        pool,
        lr,
        relu=relu,
        warmup=max(1, warmup),
        rounds=rounds,
        iterations=iterations or 0,
        round_seconds=round_seconds,
    )
    out = _run(info.binary, "bench", payload)
    its, n_rounds = (int(x) for x in np.frombuffer(out[:8], dtype="<i4"))
    tail = np.frombuffer(out[16:], dtype="<f8")  # seconds of each round, then the first and last loss
    if n_rounds != rounds or tail.size != rounds + 2:
        raise RuntimeError(f"rnn_baseline bench wrote {tail.size} numbers for {rounds} rounds")
    round_s = [float(x) for x in tail[:rounds]]
    setup = {"seed": seed, "warmup": max(1, warmup), "rounds": rounds, "iterations": its}
    return _measured(config, batch, seq_len, lr, setup, round_s, [float(tail[rounds]), float(tail[rounds + 1])], info)


def _check_counts(*, iterations: int | None, **counts: int) -> None:
    """ValueError for a shape or round count below 1, or iterations neither None nor at least 1."""
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if iterations is not None and iterations < 1:
        raise ValueError(f"iterations must be >= 1 or None, got {iterations}")


def _measured(config, batch: int, seq_len: int, lr: float, setup: dict, round_s: list[float], losses, info) -> dict:
    """measure's JSON-ready result (see there) from the seconds of each round and the first and last loss."""
    import numpy as np

    from rnnbench.bench.timing import robust_stats

    its, rounds = setup["iterations"], setup["rounds"]
    step_s = [x / its for x in round_s]
    median_step = float(np.median(step_s))
    return {
        "hidden": config.hidden_size,
        "seq_len": seq_len,
        "batch": batch,
        "vocab": config.vocab_size,
        "classes": config.num_classes,
        "nonlinearity": config.nonlinearity,
        "lr": lr,
        "seed": setup["seed"],
        "warmup": setup["warmup"],
        "rounds": rounds,
        "iterations": its,
        "round_seconds": round_s,
        "step_seconds": step_s,
        "median_step_seconds": median_step,
        "median_record_seconds": median_step / batch,
        "step_stats": robust_stats(step_s),
        "records_per_step": batch,
        "records_timed": rounds * its * batch,
        "loss_first": losses[0],
        "loss_last": losses[1],
        "threads": 1,
        "build": info.as_dict(),
    }
