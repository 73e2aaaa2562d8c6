"""Compare two benchmark runs configuration by configuration, from their raw samples, telling a change
from noise (docs/DESIGN.md §6, §8).

For every configuration (impl, device, threads, H, T, B, kind) that both runs measured: the ratio of
median per-record cost B/A, its 95% interval and a p-value, from the rounds of each run's raw samples
(rnnbench.stats: each round is one unit, since calls within a round share the machine's state). The
p-values of all compared configurations are adjusted together (Benjamini-Hochberg at --fdr). A
configuration is "regressed" (or "improved") only when its change is significant AND its whole
interval lies beyond --threshold; "inconclusive" when it is significant but its interval reaches back
inside the threshold (or a side has too few rounds for a test); "same" otherwise.

Machines. When the runs come from different machines (CPU model, usable cores, GPUs, or a matmul peak
that differs by more than both runs' own spread), compare says so first and compares machine-normalised
cost: every sample divided by that run's median single-thread C baseline at the same machine, threads
and shape ("x C": a multiple of the C baseline's per-record cost), with % of that run's matmul peak
beside it. --raw compares seconds anyway. A run may hold several machines (points/<machine>/): when
the runs share machines, each is compared with itself; when each run holds one machine and they
differ, the two are compared with each other.

Noise. Both runs' speed sentinel (each worker's drift from its start to its end, and B's sentinel
against A's) and load average come before the table: when the sentinel moved as much as a change did,
the machine moved, maybe not the code.

Exit status: 0 no significant regression, 1 at least one, 2 bad input or nothing to compare.

examples:
  rnnbench compare results/reference results/20250101-120000-4211b91
  rnnbench compare OLD NEW --threshold 1.05 --kind step --all
  rnnbench compare OLD_MACHINE NEW_MACHINE --raw
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnbench import analysis, records, results, stats
from rnnbench.units import fmt_time

KEY = ("machine", "impl", "device", "threads", "hidden", "seq_len", "batch", "kind")
_TEXT_FIELDS = ("machine", "impl", "device", "kind")
READ = ("samples", "summary", "peak", "baseline", "noise")  # the tables compare reads
CONFIDENCE = 0.95
VERDICT_ORDER = ("regressed", "inconclusive", "improved", "same")


class CompareError(ValueError):
    """Bad input for `rnnbench compare`: the message is the one line to print (exit status 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("run_a", metavar="RUN_A", help="the baseline: a run folder or a run id under --results-dir")
    add("run_b", metavar="RUN_B", help="the candidate")
    add(
        "--threshold",
        type=float,
        default=1.10,
        help="a change counts only when its whole interval lies beyond this ratio (default: %(default)s)",
    )
    add(
        "--fdr",
        type=float,
        default=0.05,
        help="false-discovery rate of the Benjamini-Hochberg correction (default: %(default)s)",
    )
    add("--raw", action="store_true", help="compare seconds even when the machines differ (default: normalise)")
    add("--kind", choices=("step", "epoch", "all"), default="all", help="which points to compare (default: all)")
    add("--results-dir", default=str(results.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add("--all", action="store_true", help="list every configuration, not only the changed ones")


def _f(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _int(x) -> int:
    return int(float(x))


# -- runs ----------------------------------------------------------------------------------------------


@dataclass
class Run:
    """What compare reads of a run: its tables (rows of rnnbench.records), environments and run.json."""

    path: Path
    tables: dict[str, list[dict]]
    environment: dict[str, list[dict]] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def timed_samples(self) -> list[dict]:
        """The timed calls of step and epoch points (first calls and failed points left out)."""
        failed = {(r["machine"], r["point_id"]) for r in self.tables["summary"] if r.get("status") == "failed"}
        return [
            r
            for r in self.tables["samples"]
            if r["kind"] in records.STEP_KINDS and (r["machine"], r["point_id"]) not in failed
        ]

    def machines(self) -> set[str]:
        return {str(r["machine"]) for r in self.timed_samples()}


def load_run(run: str | Path, results_dir: str | Path = results.DEFAULT_RESULTS_DIR) -> Run:
    """A run's tables from its point files (or, for a run that has only its CSV files, from those)."""
    try:
        path = results.resolve_run(run, results_dir)
    except FileNotFoundError as e:
        raise CompareError(str(e)) from None
    found = results.read_points(path)
    if found.records:
        tables = results.tables(path, found.records)
    else:
        tables = {name: results.read_table(path, name) for name in READ}
    out = Run(
        path,
        {name: tables.get(name, []) for name in READ},
        results.load_environment(path),
        results.read_manifest(path),
        found.unreadable,
    )
    if not out.timed_samples():
        raise CompareError(
            f"{path} holds no raw samples of step or epoch points (a run made with --skip-sweep, or in an older "
            "format without samples): nothing to compare"
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


def hardware(run: Run, label: str) -> Hardware | None:
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


def peak_samples(run: Run, label: str) -> dict[tuple[int, str, int], np.ndarray]:
    """(threads, library, n) -> the GFLOP/s of each timed matmul of that machine."""
    found: dict[tuple[int, str, int], list[float]] = defaultdict(list)
    for r in run.tables["peak"]:
        if str(r["machine"]) == label:
            found[(_int(r["threads"]), str(r["library"]), _int(r["n"]))].append(_f(r["gflops"]))
    return {k: np.asarray(v) for k, v in found.items()}


def peak_difference(a: Run, label_a: str, b: Run, label_b: str, threshold: float) -> str | None:
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


def pair_machines(a: Run, b: Run, threshold: float) -> Pairing:
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


# -- configurations ------------------------------------------------------------------------------------


@dataclass
class Side:
    """One configuration in one run: its units' values (seconds per record, or x C baseline), the round
    of each, and its point's summary row (with analysis.enrich's pct_of_peak)."""

    values: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def median(self) -> float:
        return float(np.median(stats.round_medians(self.values, self.rounds)))


def sample_key(r: dict, by_machine: bool) -> tuple:
    key = tuple(str(r[k]) if k in _TEXT_FIELDS else _int(r[k]) for k in KEY)
    return key if by_machine else ("", *key[1:])


def configurations(run: Run, labels: set[str], *, by_machine: bool, normalise: bool, kind: str):
    """config key -> Side for the run's machines in `labels`; and the keys left out for want of a C
    baseline at their shape (normalise only). Normalised: each sample / the run's C baseline median."""
    base = analysis.baselines(run.tables["baseline"]) if normalise else {}
    summaries = {
        (str(r["machine"]), str(r["point_id"])): r
        for r in analysis.enrich(run.tables["summary"], run.tables["peak"], run.tables["baseline"])
    }
    sides: dict[tuple, Side] = defaultdict(Side)
    round_ids: dict[tuple[str, str, int], int] = {}
    no_baseline: set[tuple] = set()
    for r in run.timed_samples():
        machine = str(r["machine"])
        if machine not in labels or (kind != "all" and r["kind"] != kind):
            continue
        key = sample_key(r, by_machine)
        value = _f(r["per_record_seconds"])
        if normalise:
            shape = (machine, _int(r["threads"]), _int(r["hidden"]), _int(r["seq_len"]), _int(r["batch"]))
            c = base.get(shape)
            if not c or not math.isfinite(c):
                no_baseline.add(key)
                continue
            value /= c
        side = sides[key]
        side.values.append(value)
        side.rounds.append(round_ids.setdefault((machine, str(r["point_id"]), _int(r["round"])), len(round_ids)))
        side.summary = side.summary or summaries.get((machine, str(r["point_id"])), {})
    return dict(sides), no_baseline


def under_load(summary: dict, cores: int | None) -> bool:
    """A point whose 1-minute load average before or after it exceeded the machine's usable cores."""
    loads = [_f(summary.get(k)) for k in ("load_before", "load_after")]
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

    @property
    def fields(self) -> dict:
        return dict(zip(KEY, self.key, strict=True))


@dataclass
class Comparison:
    pairing: Pairing
    normalised: bool
    rows: list[Row]
    only_a: list[tuple]
    only_b: list[tuple]
    no_baseline: list[tuple]
    untestable: list[str]
    threshold: float
    fdr: float

    def count(self, status: str) -> int:
        return sum(r.verdict.status == status for r in self.rows)


def compare_runs(
    a: Run, b: Run, *, threshold: float = 1.10, fdr: float = 0.05, kind: str = "all", raw: bool = False
) -> Comparison:
    """Every configuration both runs measured, judged together (see the module docstring)."""
    if not threshold > 1.0:
        raise CompareError(f"--threshold must be > 1, got {threshold}")
    if not 0.0 < fdr < 1.0:
        raise CompareError(f"--fdr must lie in (0, 1), got {fdr}")
    pairing = pair_machines(a, b, threshold)
    normalise = bool(pairing.differences) and not raw
    labels_a, labels_b = {p[0] for p in pairing.pairs}, {p[1] for p in pairing.pairs}
    opts = {"by_machine": pairing.by_machine, "normalise": normalise, "kind": kind}
    sides_a, no_base_a = configurations(a, labels_a, **opts)
    sides_b, no_base_b = configurations(b, labels_b, **opts)
    cores_a = {la: (hardware(a, la) or Hardware(None, None, ())).cores for la in labels_a}
    cores_b = {lb: (hardware(b, lb) or Hardware(None, None, ())).cores for lb in labels_b}
    changes, untestable = {}, []
    for key in sorted(sides_a.keys() & sides_b.keys()):
        sa, sb = sides_a[key], sides_b[key]
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
            )
        )
    return Comparison(
        pairing,
        normalise,
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


# -- noise ---------------------------------------------------------------------------------------------


@dataclass
class NoiseSummary:
    """How noisy a run's machines were: the speed sentinel and the load average (rnnbench.bench.noise)."""

    sentinel_s: float | None  # median of every sentinel timing
    drifts: list[float]  # per worker: sentinel at its end / at its start
    load_min: float | None
    load_max: float | None
    cores: int | None
    points: int  # step and epoch points
    loaded_points: int  # of those, measured with the load above the usable cores


def noise_summary(run: Run, labels: set[str]) -> NoiseSummary:
    rows = [r for r in run.tables["noise"] if str(r["machine"]) in labels]
    by_worker: dict[str, dict[str, float]] = defaultdict(dict)
    for r in rows:
        by_worker[str(r["point_id"])][str(r["when"])] = _f(r["sentinel_s"])
    drifts = [w["end"] / w["start"] for w in by_worker.values() if w.get("start") and w.get("end")]
    sentinels = [x for r in rows if math.isfinite(x := _f(r["sentinel_s"]))]
    summary = [r for r in run.tables["summary"] if str(r["machine"]) in labels and r.get("status") != "failed"]
    loads = [_f(r.get("load")) for r in rows] + [_f(r.get(k)) for r in summary for k in ("load_before", "load_after")]
    loads = [x for x in loads if math.isfinite(x)]
    cores = [c for label in labels if (h := hardware(run, label)) and (c := h.cores)]
    core_count = min(cores) if cores else None
    return NoiseSummary(
        statistics.median(sentinels) if sentinels else None,
        drifts,
        min(loads) if loads else None,
        max(loads) if loads else None,
        core_count,
        len(summary),
        sum(under_load(r, core_count) for r in summary),
    )


def describe_noise(n: NoiseSummary) -> str:
    if n.sentinel_s is None and n.load_max is None:
        return "no noise record (a run made before the sentinel and load were recorded)"
    parts = []
    if n.sentinel_s is not None:
        text = f"sentinel {fmt_time(n.sentinel_s)}"
        if n.drifts:
            lo, hi = min(n.drifts), max(n.drifts)
            span = f"{lo:.2f}" if len(n.drifts) == 1 else f"{lo:.2f}-{hi:.2f}"
            text += f", drift end/start {span} over {len(n.drifts)} worker{'s' * (len(n.drifts) > 1)}"
        parts.append(text)
    if n.load_max is not None:
        text = f"load {n.load_min:.1f}-{n.load_max:.1f}"
        if n.cores:
            text += f" on {n.cores} cores, {n.loaded_points} of {n.points} points measured with load above {n.cores}"
        parts.append(text)
    return "; ".join(parts)


def sentinel_line(na: NoiseSummary, nb: NoiseSummary, threshold: float) -> str | None:
    """B's sentinel against A's: how much faster or slower the machine itself ran."""
    if not (na.sentinel_s and nb.sentinel_s):
        return None
    ratio = nb.sentinel_s / na.sentinel_s
    line = f"sentinel B/A {ratio:.3f}"
    if not 1.0 / threshold <= ratio <= threshold:
        line += f": the machine itself ran {'slower' if ratio > 1 else 'faster'} in B by more than --threshold; changes of that size may be the machine's"
    return line


# -- output --------------------------------------------------------------------------------------------


def _fmt_ratio(c: stats.Change) -> str:
    if not math.isfinite(c.ratio):
        return "-"
    if not (math.isfinite(c.ci_low) and math.isfinite(c.ci_high)):
        return f"{c.ratio:.3f} [no interval]"
    return f"{c.ratio:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}]"


def _fmt_value(x: float, normalised: bool) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:.3g}x C" if normalised else fmt_time(x)


def _fmt_pct(x) -> str:
    return f"{x:.2g}%" if x is not None and math.isfinite(_f(x)) else "-"


def format_table(rows: list[Row], normalised: bool, with_machine: bool) -> str:
    unit = "x C baseline" if normalised else "per record"
    with_device = any(r.fields["device"] != "cpu" for r in rows)
    header = ["impl", "kind", "threads", "H", "T", "B", f"A {unit}", f"B {unit}", "B/A [95% CI]", "p adj", "verdict"]
    header = header[:1] + ["device"] * with_device + header[1:]
    header = (["machine"] if with_machine else []) + header + (["A %peak", "B %peak"] if normalised else []) + ["note"]
    lines = [header]
    for r in rows:
        f, v = r.fields, r.verdict
        line = [f["impl"], *[f["device"]] * with_device, f["kind"], str(f["threads"])]
        line += [str(f["hidden"]), str(f["seq_len"]), str(f["batch"])]
        line += [_fmt_value(r.a, normalised), _fmt_value(r.b, normalised), _fmt_ratio(v.change)]
        line += [f"{v.p_adjusted:.2g}", v.status.upper() if v.status == "regressed" else v.status]
        line = ([f["machine"]] if with_machine else []) + line
        line += [_fmt_pct(r.pct_a), _fmt_pct(r.pct_b)] if normalised else []
        lines.append([*line, ", ".join(r.notes)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def run_line(letter: str, run: Run, labels: set[str]) -> str:
    machines = ", ".join(
        f"{label} ({h.describe()})" if (h := hardware(run, label)) else label for label in sorted(labels)
    )
    git = run.manifest.get("git") or {}
    code = f", git {git.get('short')}{' with uncommitted changes' if git.get('dirty') else ''}" if git else ""
    when = f", {run.manifest['created']}" if run.manifest.get("created") else ""
    return f"{letter} = {run.name}: {machines}{code}{when}"


def machines_line(c: Comparison) -> str | None:
    if not c.pairing.differences:
        return None
    what = "; ".join(c.pairing.differences)
    if c.normalised:
        return (
            f"MACHINES DIFFER ({what}): comparing machine-normalised cost, each run's per-record cost as a multiple "
            "of its own C baseline at the same shape (--raw compares seconds)"
        )
    return f"MACHINES DIFFER ({what}): comparing raw seconds as --raw asks; the machines differ as much as the code"


def summary_line(c: Comparison) -> str:
    ratios = [
        r.verdict.change.ratio for r in c.rows if math.isfinite(r.verdict.change.ratio) and r.verdict.change.ratio > 0
    ]
    geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios)) if ratios else math.nan
    what = "x C baseline" if c.normalised else "per-record cost"
    return (
        f"{len(c.rows)} configurations compared ({what}, B/A of the median round; {CONFIDENCE:.0%} bootstrap "
        f"intervals over rounds; Mann-Whitney p-values adjusted by Benjamini-Hochberg at false-discovery rate "
        f"{c.fdr:g}; flagged when significant and the whole interval lies beyond {c.threshold:g} or "
        f"1/{c.threshold:g}): {c.count('regressed')} regressed, {c.count('improved')} improved, "
        f"{c.count('inconclusive')} inconclusive, {c.count('same')} same; geometric mean B/A {geo:.3f}"
    )


def run(args: argparse.Namespace) -> int:
    try:
        run_a = load_run(args.run_a, args.results_dir)
        run_b = load_run(args.run_b, args.results_dir)
        c = compare_runs(run_a, run_b, threshold=args.threshold, fdr=args.fdr, kind=args.kind, raw=args.raw)
    except CompareError as e:
        print(f"rnnbench: error: {e}", file=sys.stderr)
        return 2
    labels_a, labels_b = {p[0] for p in c.pairing.pairs}, {p[1] for p in c.pairing.pairs}
    if line := machines_line(c):
        print(line)
    print(run_line("A", run_a, labels_a))
    print(run_line("B", run_b, labels_b))
    na, nb = noise_summary(run_a, labels_a), noise_summary(run_b, labels_b)
    print(f"noise A: {describe_noise(na)}\nnoise B: {describe_noise(nb)}")
    if line := sentinel_line(na, nb, c.threshold):
        print(line)
    for letter, r in (("A", run_a), ("B", run_b)):
        for path, reason in r.unreadable:
            print(f"warning: {letter}'s point file {path} is unreadable ({reason}): left out")
    if c.pairing.unmatched:
        print(f"not compared: machines measured by one run only: {', '.join(c.pairing.unmatched)}")
    if not c.rows:
        why = (
            "no configuration both runs measured has a C baseline at its shape in both to normalise by (--raw "
            "compares seconds)"
            if c.no_baseline
            else "the two runs share no configuration"
        )
        print(f"rnnbench: error: {why}: nothing to compare", file=sys.stderr)
        return 2
    shown = c.rows if args.all else [r for r in c.rows if r.verdict.status != "same"]
    if shown:
        print(format_table(shown, c.normalised, c.pairing.by_machine and len(c.pairing.pairs) > 1))
    print(summary_line(c))
    if c.only_a or c.only_b:
        print(f"not compared: {len(c.only_a)} configurations only in A, {len(c.only_b)} only in B")
    if c.no_baseline:
        print(f"not compared: {len(c.no_baseline)} configurations without a C baseline at their shape to normalise by")
    for what in c.untestable:
        print(f"not compared: {what}")
    return 1 if c.count("regressed") else 0
