"""The environment a benchmark ran in: CPU, cores, threads per framework, BLAS, library versions, git, date.

`collect(threads)` returns a JSON-ready dict that goes into every worker session's environment record
(rnnbench.runs.store), and into the `rnnbench` key of pytest-benchmark's machine_info. Frameworks are
asked for their thread counts only when they are already imported; nothing here imports one.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

# Libraries whose versions every result records (distribution names).
LIBRARIES: tuple[str, ...] = (
    "rnnbench",
    "numpy",
    "torch",
    "jax",
    "jaxlib",
    "pandas",
    "matplotlib",
    "pytest",
    "pytest-benchmark",
    "threadpoolctl",
    "py-cpuinfo",
    "scipy",
    "submitit",
    "wordfreq",
)

# Environment variables that decide how many threads a framework uses.
THREAD_ENV: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NPROC",
    "XLA_FLAGS",
    "JAX_PLATFORMS",
    "CUDA_VISIBLE_DEVICES",
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that limit every framework to `threads` threads, set before any import.

    OpenMP / MKL / OpenBLAS (NumPy's BLAS and PyTorch's intra-op pool) read the *_NUM_THREADS
    variables; JAX's CPU backend sizes its pool from NPROC, and runs Eigen single-threaded with
    --xla_cpu_multi_thread_eigen=false (what impls.jax_scan sets when the backend has not started).
    """
    t = str(int(threads))
    env = dict.fromkeys(THREAD_ENV[:5], t)
    env["NPROC"] = t
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_multi_thread_eigen")]
    if threads == 1:
        flags.append("--xla_cpu_multi_thread_eigen=false")
    env["XLA_FLAGS"] = " ".join(flags)
    return env


def versions() -> dict[str, str | None]:
    """Installed version of each library in LIBRARIES (None when absent); imports nothing."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _proc_cpuinfo() -> dict[str, object]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, object] = {}
    physical: set[tuple[str, str]] = set()
    phys_id = "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and "model" not in info:
            info["model"] = value
        elif key == "physical id":
            phys_id = value
        elif key == "core id":
            physical.add((phys_id, value))
        elif key == "flags" and "flags" not in info:
            info["flags"] = value.split()
    if physical:
        info["physical_cores"] = len(physical)
    return info


@cache
def cpu() -> dict[str, object]:
    """CPU model, architecture, logical / physical / usable cores, the SIMD flags that matter for GEMM."""
    info = _proc_cpuinfo()
    if "model" not in info and importlib.util.find_spec("cpuinfo") is not None:
        try:
            import cpuinfo

            raw = cpuinfo.get_cpu_info() or {}
            info.setdefault("model", raw.get("brand_raw"))
            info.setdefault("flags", raw.get("flags", []))
        except Exception as e:  # noqa: BLE001 - py-cpuinfo runs helper processes; its failure must not stop a run
            info.setdefault("model", f"unknown ({type(e).__name__})")
    flags = set(info.pop("flags", []) or [])
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "model": info.get("model") or platform.processor() or "unknown",
        "arch": platform.machine(),
        "logical_cores": os.cpu_count(),
        "physical_cores": info.get("physical_cores"),
        "usable_cores": usable,
        "simd": sorted(flags & {"avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "neon", "asimd"}),
    }


def meminfo_bytes(field: str, meminfo: str = "/proc/meminfo") -> int | None:
    """One field of the kernel's meminfo (MemTotal, MemAvailable...) in bytes; None where it cannot be read."""
    try:
        with open(meminfo, encoding="ascii") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_gib() -> float | None:
    total = meminfo_bytes("MemTotal")
    return None if total is None else round(total / 2**30, 1)


def blas() -> list[dict[str, object]]:
    """The thread pools loaded in this process (BLAS, OpenMP), as threadpoolctl sees them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl not installed"}]
    keys = ("user_api", "internal_api", "num_threads", "version", "threading_layer", "architecture", "prefix")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def framework_threads() -> dict[str, dict[str, object]]:
    """Thread counts each framework already imported in this process reports (none is imported here)."""
    out: dict[str, dict[str, object]] = {}
    if "numpy" in sys.modules:
        pools = [p for p in blas() if p.get("user_api") == "blas"]
        out["numpy"] = {"blas": pools[0].get("internal_api") if pools else None}
        out["numpy"]["blas_threads"] = pools[0].get("num_threads") if pools else None
    if "torch" in sys.modules:
        import torch

        out["torch"] = {
            "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads(),
            "parallel_info": torch.__config__.parallel_info().splitlines()[:6],
            "cuda": torch.cuda.is_available(),
            "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        }
    if "jax" in sys.modules:
        out["jax"] = {"NPROC": os.environ.get("NPROC"), "xla_flags": os.environ.get("XLA_FLAGS", "")}
        if _jax_started():  # asking for devices would start the backend, fixing its thread pool too early
            import jax

            out["jax"] |= {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()]}
    return out


def _jax_started() -> bool:
    try:
        from jax._src import xla_bridge  # not public API: hence the fallback
    except ImportError:
        return False
    return bool(getattr(xla_bridge, "backends_are_initialized", lambda: False)())


def git(root: Path = REPO_ROOT) -> dict[str, object]:
    """Commit, short hash and whether the working tree has changes (read-only git calls), of the checkout
    at root (default: this one)."""

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    diff = run("diff", "HEAD") if status else ""
    return {
        "commit": commit,
        "short": commit[:7] if commit else None,
        "dirty": bool(status) if status is not None else None,
        # which uncommitted changes: a resumed run refuses other ones
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:16] if diff else None,
        "branch": run("rev-parse", "--abbrev-ref", "HEAD"),
    }


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def collect(threads: int | None = None, device: str = "cpu") -> dict[str, object]:
    """Everything above, plus the thread setting used (the same for every framework) and the device."""
    return {
        "date": now_iso(),
        "threads_setting": threads,
        "device": device,
        "hostname": platform.node(),
        "gpus": gpus(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu": cpu(),
        "memory_gib": memory_gib(),
        "libraries": versions(),
        "blas": blas(),
        "framework_threads": framework_threads(),
        "thread_env": {k: os.environ.get(k) for k in THREAD_ENV},
        "git": git(),
    }


@cache
def gpus() -> list[str]:
    """The names of this machine's NVIDIA GPUs (from nvidia-smi, so that no framework is imported); []
    where there is none or no nvidia-smi."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []


def _slug(text: str) -> str:
    for noise in ("(R)", "(TM)", "(tm)", "CPU", "Processor", "NVIDIA"):
        text = text.replace(noise, " ")
    text = re.sub(r"@.*$", "", text)  # the nominal clock: the model already names the part
    return re.sub(r"[^A-Za-z0-9.+]+", "-", text).strip("-") or "unknown"


def machine_label() -> str:
    """The default machine label of a run's points: the CPU model, the usable core count and the GPUs
    if any, e.g. "Intel-Xeon-2c" or "AMD-EPYC-7763-64-Core-16c-H200". Not the host name: identical
    cluster nodes share a label, and different hardware never does."""
    info = cpu()
    label = f"{_slug(str(info['model']))}-{info['usable_cores']}c"
    found = gpus()
    if found:
        label += "-" + (f"{len(found)}x" if len(found) > 1 else "") + _slug(found[0])
    return label
