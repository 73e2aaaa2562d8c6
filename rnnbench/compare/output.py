"""What compare prints: both runs' noise, the table of changes and the closing line."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

from rnnbench.compare import stats
from rnnbench.compare.core import Comparison, Row, under_load
from rnnbench.compare.runs import CONFIDENCE, ComparedRun, hardware
from rnnbench.runs.records import to_float
from rnnbench.units import fmt_pct, fmt_time

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


def noise_summary(run: ComparedRun, labels: set[str]) -> NoiseSummary:
    rows = [r for r in run.tables["noise"] if str(r["machine"]) in labels]
    by_worker: dict[str, dict[str, float]] = defaultdict(dict)
    for r in rows:
        by_worker[str(r["point_id"])][str(r["when"])] = to_float(r["sentinel_s"])
    drifts = [w["end"] / w["start"] for w in by_worker.values() if w.get("start") and w.get("end")]
    sentinels = [x for r in rows if math.isfinite(x := to_float(r["sentinel_s"]))]
    summary = [r for r in run.tables["summary"] if str(r["machine"]) in labels and r.get("status") != "failed"]
    loads = [to_float(r.get("load")) for r in rows] + [
        to_float(r.get(k)) for r in summary for k in ("load_before", "load_after")
    ]
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


def _fmt_value(x: float, normalised: bool, in_yardsticks: bool = False) -> str:
    if not math.isfinite(x):
        return "-"
    if in_yardsticks:
        return f"{x:.4g}"
    return f"{x:.3g}x C" if normalised else fmt_time(x)


def format_table(rows: list[Row], normalised: bool, with_machine: bool, in_yardsticks: bool = False) -> str:
    unit = "x C baseline" if normalised else ("yardsticks/record" if in_yardsticks else "per record")
    with_device = any(r.fields["device"] != "cpu" for r in rows)
    header = ["impl", "kind", "threads", "H", "T", "B", f"A {unit}", f"B {unit}", "B/A [95% CI]", "p adj", "verdict"]
    if in_yardsticks:
        header.insert(9, "raw B/A")
    header = header[:1] + ["device"] * with_device + header[1:]
    header = (["machine"] if with_machine else []) + header + (["A %peak", "B %peak"] if normalised else []) + ["note"]
    lines = [header]
    for r in rows:
        f, v = r.fields, r.verdict
        line = [f["impl"], *[f["device"]] * with_device, f["kind"], str(f["threads"])]
        line += [str(f["hidden"]), str(f["seq_len"]), str(f["batch"])]
        line += [_fmt_value(r.a, normalised, in_yardsticks), _fmt_value(r.b, normalised, in_yardsticks)]
        line += [_fmt_ratio(v.change)] + ([f"{r.raw_ratio:.3f}"] if in_yardsticks else [])
        line += [f"{v.p_adjusted:.2g}", v.status.upper() if v.status == "regressed" else v.status]
        line = ([f["machine"]] if with_machine else []) + line
        line += [fmt_pct(r.pct_a), fmt_pct(r.pct_b)] if normalised else []
        lines.append([*line, ", ".join(r.notes)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def run_line(letter: str, run: ComparedRun, labels: set[str]) -> str:
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
    if c.in_yardsticks:
        what = "per-record cost in yardsticks: each round against the machine's speed around it; raw B/A beside"
    return (
        f"{len(c.rows)} configurations compared ({what}, B/A of the median round; {CONFIDENCE:.0%} bootstrap "
        f"intervals over rounds; Mann-Whitney p-values adjusted by Benjamini-Hochberg at false-discovery rate "
        f"{c.fdr:g}; flagged when significant and the whole interval lies beyond {c.threshold:g} or "
        f"1/{c.threshold:g}): {c.count('regressed')} regressed, {c.count('improved')} improved, "
        f"{c.count('inconclusive')} inconclusive, {c.count('same')} same; geometric mean B/A {geo:.3f}"
    )


def gate_line(letter: str, run: ComparedRun, labels: set[str]) -> str | None:
    """How steady a run's machine was by the yardstick: its spread at rest, the rounds the quiet gate
    measured again, and the points it left loaded."""
    summary = [r for r in run.tables["summary"] if str(r["machine"]) in labels and r.get("quiet_rounds") is not None]
    if not summary:
        return None
    repeated = sum(int(r.get("loaded_rounds") or 0) for r in summary)
    loaded = sum(r.get("loaded") is True for r in summary)
    steady = [x for r in summary if math.isfinite(x := to_float(r.get("yardstick_steady_s")))]
    rest = f"yardstick at rest {fmt_time(statistics.median(steady))}; " if steady else ""
    return (
        f"quiet gate {letter}: {rest}{repeated} busy rounds measured again; {loaded} of {len(summary)} points "
        "stayed loaded"
    )
