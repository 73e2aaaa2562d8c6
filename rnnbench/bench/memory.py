"""The process's memory around a point (resident set, Linux) and one step's peak as its framework counts it.

The resident-set high-water mark is per process and never falls: the points of one implementation
run in one worker, B ascending, so a point's mark includes every earlier point's. The kernel keeps
both counters approximately (they can disagree by a few hundred KB).
"""

from __future__ import annotations

import os
import sys

from rnnbench.runs import costmodel


def current_rss_bytes() -> int | None:
    """The process's resident set now, from /proc/self/statm (Linux); None where there is none."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def peak_rss_bytes() -> int | None:
    """The process's resident-set high-water mark so far (getrusage ru_maxrss: KiB on Linux, bytes
    on macOS); None where the resource module is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss) if sys.platform == "darwin" else int(maxrss) * 1024


def memory_fields(hidden: int, seq_len: int, batch: int, rss_before: int | None) -> dict:
    """The BPTT cache the shapes call for, and the resident-set high-water mark now and its rise
    above rss_before (measured just before the model was created)."""
    peak = peak_rss_bytes()
    return {
        "model_cache_bytes": costmodel.bptt_cache_bytes(hidden, seq_len, batch),
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak,
        "rss_growth_bytes": peak - rss_before if peak is not None and rss_before is not None else None,
    }


def step_memory_fields(model, batch) -> dict:
    """One more (untimed) training step with the framework's allocator accounting on: the bytes it held
    at its peak beyond those allocated before it (impls.RNNImpl.step_memory), and how they were counted."""
    measured = model.step_memory(batch)
    return {"step_peak_bytes": measured.peak_bytes, "step_memory_method": measured.method}


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None
