"""The two runs of a comparison: their tables, and whether they come from the same machine."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnbench.runs import records, store
from rnnbench.runs.records import to_float

KEY = ("machine", "impl", "device", "threads", "hidden", "seq_len", "batch", "kind")
TEXT_FIELDS = ("machine", "impl", "device", "kind")
READ = ("samples", "summary", "peak", "baseline", "noise", "accuracy")  # the tables compare reads
CONFIDENCE = 0.95
VERDICT_ORDER = ("regressed", "inconclusive", "improved", "same")


class CompareError(ValueError):
    """Bad input for `rnnbench compare`: the message is the one line to print (exit status 2)."""


def to_int(x) -> int:
    return int(float(x))


# -- runs ----------------------------------------------------------------------------------------------


@dataclass
class ComparedRun:
    """What compare reads of a run: its tables (rows of rnnbench.runs.records), environments and run.json."""

    path: Path
    tables: dict[str, list[dict]]
    environment: dict[str, list[dict]] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def timed_samples(self) -> list[dict]:
        """The timed calls of step and epoch points that count: first calls, failed points and rounds the
        quiet gate found busy (rnnbench.bench.yardstick) left out."""
        failed = {(r["machine"], r["point_id"]) for r in self.tables["summary"] if r.get("status") == "failed"}
        return [
            r
            for r in self.tables["samples"]
            if r["kind"] in records.STEP_KINDS
            and (r["machine"], r["point_id"]) not in failed
            and r.get("quiet") is not False
        ]

    def has_yardstick(self) -> bool:
        """Whether every counted round carries the yardstick read around it (runs from before it do not)."""
        samples = self.timed_samples()
        return bool(samples) and all(math.isfinite(to_float(r.get("yardstick_s"))) for r in samples)

    def machines(self) -> set[str]:
        return {str(r["machine"]) for r in self.timed_samples()}


def load_run(run: str | Path, results_dir: str | Path = store.DEFAULT_RESULTS_DIR) -> ComparedRun:
    """A run's tables from its point files (or, for a run that has only its CSV files, from those)."""
    try:
        path = store.resolve_run(run, results_dir)
    except FileNotFoundError as e:
        raise CompareError(str(e)) from None
    found = store.read_points(path)
    if found.records:
        tables = store.tables(path, found.records)
    else:
        tables = {name: store.read_table(path, name) for name in READ}
    out = ComparedRun(
        path,
        {name: tables.get(name, []) for name in READ},
        store.load_environment(path),
        store.read_manifest(path),
        found.unreadable,
    )
    if not out.timed_samples() and not out.tables["accuracy"]:
        raise CompareError(
            f"{path} holds no raw samples of step or epoch points (a run made with --skip-sweep, or in an older "
            "format without samples) and no accuracy points: nothing to compare"
        )
    return out


# -- machines ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hardware:
    cpu: str | None
    cores: int | None
    gpus: tuple[str, ...]

    def describe(self) -> str:
        text = f"{self.cpu or 'unknown CPU'}, {self.cores or '?'} usable cores"
        return text + (f", {', '.join(self.gpus)}" if self.gpus else "")


def hardware(run: ComparedRun, label: str) -> Hardware | None:
    """The hardware a machine label of the run stands for, from its first worker session (None: unknown)."""
    sessions = run.environment.get(label) or []
    if not sessions:
        return None
    first = sessions[0]
    cpu = first.get("cpu") or {}
    return Hardware(cpu.get("model"), cpu.get("usable_cores"), tuple(first.get("gpus") or ()))


def hardware_differences(a: Hardware | None, b: Hardware | None) -> list[str]:
    if a is None or b is None:
        return []
    out = []
    if a.cpu != b.cpu:
        out.append(f"CPU {a.cpu} vs {b.cpu}")
    if a.cores != b.cores:
        out.append(f"{a.cores} vs {b.cores} usable cores")
    if a.gpus != b.gpus:
        out.append(f"GPUs {', '.join(a.gpus) or 'none'} vs {', '.join(b.gpus) or 'none'}")
    return out


def peak_samples(run: ComparedRun, label: str) -> dict[tuple[int, str, int], np.ndarray]:
    """(threads, library, n) -> the GFLOP/s of each timed matmul of that machine."""
    found: dict[tuple[int, str, int], list[float]] = defaultdict(list)
    for r in run.tables["peak"]:
        if str(r["machine"]) == label:
            found[(to_int(r["threads"]), str(r["library"]), to_int(r["n"]))].append(to_float(r["gflops"]))
    return {k: np.asarray(v) for k, v in found.items()}


def peak_difference(a: ComparedRun, label_a: str, b: ComparedRun, label_b: str, threshold: float) -> str | None:
    """Why the two machines' matmul peaks say they are different machines, or None.

    Per thread count both measured, each run's peak is its best (library, n) by median GFLOP/s (what
    % of peak divides by). The peaks differ when each run's samples there lie wholly outside the
    other's range (more than the runs' own spread) and the medians differ by more than the threshold
    (a smaller difference cannot by itself make a flag). One size hit by a busy moment does not count:
    only the best of each run is compared."""
    pa, pb = peak_samples(a, label_a), peak_samples(b, label_b)
    for threads in sorted({k[0] for k in pa} & {k[0] for k in pb}):
        best_a = max((k for k in pa if k[0] == threads), key=lambda k: float(np.median(pa[k])))
        best_b = max((k for k in pb if k[0] == threads), key=lambda k: float(np.median(pb[k])))
        ga, gb = pa[best_a], pb[best_b]
        ratio = float(np.median(gb) / np.median(ga))
        apart = gb.max() < ga.min() or gb.min() > ga.max()
        if apart and not 1.0 / threshold <= ratio <= threshold:
            return (
                f"matmul peak {np.median(ga):.0f} vs {np.median(gb):.0f} GFLOP/s at threads {threads} "
                f"(A {best_a[1]} n={best_a[2]}: {ga.min():.0f}-{ga.max():.0f}; "
                f"B {best_b[1]} n={best_b[2]}: {gb.min():.0f}-{gb.max():.0f})"
            )
    return None


@dataclass
class Pairing:
    """Which machine of A is compared with which of B, and what tells them apart ([]: the same)."""

    pairs: list[tuple[str, str]]
    by_machine: bool  # configurations keyed by machine label (the runs share labels)
    differences: list[str]
    unmatched: list[str] = field(default_factory=list)  # labels in one run only: not compared


def pair_machines(a: ComparedRun, b: ComparedRun, threshold: float) -> Pairing:
    ma, mb = a.machines(), b.machines()
    shared = sorted(ma & mb)
    if shared:
        pairs, by_machine = [(m, m) for m in shared], True
    elif len(ma) == 1 and len(mb) == 1:
        pairs, by_machine = [(next(iter(ma)), next(iter(mb)))], False
    else:
        raise CompareError(
            f"the runs share no machine (A: {', '.join(sorted(ma))}; B: {', '.join(sorted(mb))}) and one holds "
            "several: nothing to compare"
        )
    differences = []
    for la, lb in pairs:
        ha, hb = hardware(a, la), hardware(b, lb)
        found = hardware_differences(ha, hb)
        peak = peak_difference(a, la, b, lb, threshold)
        found += [peak] if peak else []
        if la != lb and not found and (ha is None or hb is None):
            found.append(f"machine labels {la} vs {lb}, with no environment record to show they are alike")
        differences += [f"{la}: {d}" if len(pairs) > 1 else d for d in found]
    return Pairing(pairs, by_machine, differences, sorted((ma | mb) - set(shared)) if by_machine else [])
