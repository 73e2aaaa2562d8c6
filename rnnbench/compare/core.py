"""The comparison itself: per configuration, the change B/A from the two runs' rounds, judged together."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from rnnbench.compare import stats
from rnnbench.compare.runs import (
    CONFIDENCE,
    KEY,
    TEXT_FIELDS,
    VERDICT_ORDER,
    ComparedRun,
    CompareError,
    Hardware,
    Pairing,
    hardware,
    pair_machines,
    to_int,
)
from rnnbench.runs import analysis
from rnnbench.runs.records import to_float

# -- configurations ------------------------------------------------------------------------------------


@dataclass
class Side:
    """One configuration in one run: its units' values (seconds per record, or x C baseline), the round
    of each, and its point's summary row (with analysis.enrich's pct_of_peak)."""

    values: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    raw: list[float] = field(default_factory=list)  # the same samples in seconds per record, unnormalised

    def median(self) -> float:
        return float(np.median(stats.round_medians(self.values, self.rounds)))

    def raw_median(self) -> float:
        return float(np.median(stats.round_medians(self.raw, self.rounds)))

    loaded: bool = False  # its point stayed loaded: too few rounds ran on a quiet machine to judge it

    def unsteady(self) -> bool:
        return self.loaded


def sample_key(r: dict, by_machine: bool) -> tuple:
    key = tuple(str(r[k]) if k in TEXT_FIELDS else to_int(r[k]) for k in KEY)
    return key if by_machine else ("", *key[1:])


def configurations(
    run: ComparedRun, labels: set[str], *, by_machine: bool, normalise: bool, kind: str, yardstick: bool
):
    """config key -> Side for the run's machines in `labels`; and the keys left out for want of a C
    baseline at their shape (normalise only). Normalised: each sample / the run's C baseline median.
    yardstick: each sample / the yardstick read around its round, i.e. its cost at the machine's speed of
    that moment (rnnbench.bench.yardstick)."""
    base = analysis.baselines(run.tables["baseline"]) if normalise else {}
    summaries = {
        (str(r["machine"]), str(r["point_id"])): r
        for r in analysis.enrich(run.tables["summary"], run.tables["peak"], run.tables["baseline"])
    }
    loaded = {(str(r["machine"]), str(r["point_id"])) for r in run.tables["summary"] if r.get("loaded") is True}
    sides: dict[tuple, Side] = defaultdict(Side)
    round_ids: dict[tuple[str, str, int], int] = {}
    no_baseline: set[tuple] = set()
    for r in run.timed_samples():
        machine = str(r["machine"])
        if machine not in labels or (kind != "all" and r["kind"] != kind):
            continue
        key = sample_key(r, by_machine)
        raw = value = to_float(r["per_record_seconds"])
        if yardstick:
            value /= to_float(r["yardstick_s"])
        if normalise:
            shape = (machine, to_int(r["threads"]), to_int(r["hidden"]), to_int(r["seq_len"]), to_int(r["batch"]))
            c = base.get(shape)
            if not c or not math.isfinite(c):
                no_baseline.add(key)
                continue
            value /= c
        side = sides[key]
        side.values.append(value)
        side.raw.append(raw)
        side.rounds.append(round_ids.setdefault((machine, str(r["point_id"]), to_int(r["round"])), len(round_ids)))
        side.summary = side.summary or summaries.get((machine, str(r["point_id"])), {})
        side.loaded = side.loaded or (machine, str(r["point_id"])) in loaded
    return dict(sides), no_baseline


def under_load(summary: dict, cores: int | None) -> bool:
    """A point whose 1-minute load average before or after it exceeded the machine's usable cores."""
    loads = [to_float(summary.get(k)) for k in ("load_before", "load_after")]
    return bool(cores) and any(x > cores for x in loads if math.isfinite(x))


# -- the comparison ------------------------------------------------------------------------------------


@dataclass
class Row:
    key: tuple
    a: float  # median of A's round medians: seconds per record, or x C baseline
    b: float
    verdict: stats.Verdict
    pct_a: float | None = None
    pct_b: float | None = None
    notes: list[str] = field(default_factory=list)
    raw_ratio: float = math.nan  # B/A of the median round in seconds per record, whatever the basis

    @property
    def fields(self) -> dict:
        return dict(zip(KEY, self.key, strict=True))


@dataclass
class Comparison:
    pairing: Pairing
    normalised: bool
    in_yardsticks: bool  # each round's cost read against the yardstick read around it
    unsteady: list[str]  # configurations not judged: a side's point stayed loaded
    rows: list[Row]
    only_a: list[tuple]
    only_b: list[tuple]
    no_baseline: list[tuple]
    untestable: list[str]
    threshold: float
    fdr: float

    def count(self, status: str) -> int:
        return sum(r.verdict.status == status for r in self.rows)


# What each quiet round's cost is read in. "seconds" is the default: on recorded A/A and A/B runs of this
# project's 2-vCPU machine, idle and with a neighbour burning a core 2 s on / 2 s off, reading each round
# against its yardstick did not cut the error of unchanged configurations (better in 3 sets of 8, worse
# in 4) and gave the only false regression; the quiet gate alone gave none (results/README.md).
BASES = ("seconds", "yardstick")


def choose_basis(a: ComparedRun, b: ComparedRun, basis: str, normalise: bool) -> bool:
    """Whether costs are read in yardsticks: asked for, with both runs carrying the yardstick, on one
    machine (across machines the C baseline normalises instead)."""
    if basis not in BASES:
        raise CompareError(f"--basis takes one of {', '.join(BASES)}, got {basis!r}")
    if basis == "seconds":
        return False
    if not (a.has_yardstick() and b.has_yardstick()):
        raise CompareError("--basis yardstick: a run has no yardstick readings (made before they were recorded)")
    return not normalise


def compare_runs(
    a: ComparedRun,
    b: ComparedRun,
    *,
    threshold: float = 1.10,
    fdr: float = 0.05,
    kind: str = "all",
    raw: bool = False,
    basis: str = "seconds",
) -> Comparison:
    """Every configuration both runs measured, judged together (see the module docstring)."""
    if not threshold > 1.0:
        raise CompareError(f"--threshold must be > 1, got {threshold}")
    if not 0.0 < fdr < 1.0:
        raise CompareError(f"--fdr must lie in (0, 1), got {fdr}")
    pairing = pair_machines(a, b, threshold)
    normalise = bool(pairing.differences) and not raw
    yardstick = choose_basis(a, b, basis, normalise)
    labels_a, labels_b = {p[0] for p in pairing.pairs}, {p[1] for p in pairing.pairs}
    opts = {"by_machine": pairing.by_machine, "normalise": normalise, "kind": kind, "yardstick": yardstick}
    sides_a, no_base_a = configurations(a, labels_a, **opts)
    sides_b, no_base_b = configurations(b, labels_b, **opts)
    cores_a = {la: (hardware(a, la) or Hardware(None, None, ())).cores for la in labels_a}
    cores_b = {lb: (hardware(b, lb) or Hardware(None, None, ())).cores for lb in labels_b}
    changes, untestable, unsteady = {}, [], []
    for key in sorted(sides_a.keys() & sides_b.keys()):
        sa, sb = sides_a[key], sides_b[key]
        if sa.unsteady() or sb.unsteady():  # judged on rounds from a busy machine, it would be noise
            unsteady.append(describe_key(key) + f" (loaded in {'A' if sa.unsteady() else 'B'})")
            continue
        try:
            changes[key] = stats.compare_samples(
                sa.values, sb.values, rounds_a=sa.rounds, rounds_b=sb.rounds, confidence=CONFIDENCE
            )
        except ValueError as e:  # a sample that is not a positive, finite time
            untestable.append(f"{describe_key(key)}: {e}")
    verdicts = stats.judge(changes, fdr=fdr, threshold=threshold)
    rows = []
    for key, verdict in verdicts.items():
        sa, sb = sides_a[key], sides_b[key]
        notes = []
        if under_load(sa.summary, cores_a.get(str(sa.summary.get("machine")))) or under_load(
            sb.summary, cores_b.get(str(sb.summary.get("machine")))
        ):
            notes.append("load")
        if "flagged" in (sa.summary.get("status"), sb.summary.get("status")):
            notes.append("flagged")
        rows.append(
            Row(
                key,
                sa.median(),
                sb.median(),
                verdict,
                sa.summary.get("pct_of_peak"),
                sb.summary.get("pct_of_peak"),
                notes,
                sb.raw_median() / sa.raw_median(),
            )
        )
    return Comparison(
        pairing,
        normalise,
        yardstick,
        unsteady,
        sort_rows(rows),
        sorted(sides_a.keys() - sides_b.keys() - no_base_b),
        sorted(sides_b.keys() - sides_a.keys() - no_base_a),
        sorted(no_base_a | no_base_b),
        untestable,
        threshold,
        fdr,
    )


def sort_rows(rows: list[Row]) -> list[Row]:
    """Regressions first, then inconclusive, improved and same; the largest ratio first within each."""

    def order(r: Row):
        ratio = r.verdict.change.ratio
        return VERDICT_ORDER.index(r.verdict.status), -(ratio if math.isfinite(ratio) else 0.0)

    return sorted(rows, key=order)


def describe_key(key: tuple) -> str:
    f = dict(zip(KEY, key, strict=True))
    where = f"{f['machine']} " if f["machine"] else ""
    return f"{where}{f['impl']} {f['kind']} {f['device']} t{f['threads']} H{f['hidden']} T{f['seq_len']} B{f['batch']}"
