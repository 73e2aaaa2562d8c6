"""The report's closing note on implementations from other packages (docs/DESIGN.md §9): what the gate
decided for each (run.json's "gate"), and each measured one's per-record cost at B=1 beside the C
baseline's at the same shape, machine and thread count, from the same run."""

from __future__ import annotations

from rnnbench.report import sections
from rnnbench.runs import analysis
from rnnbench.units import fmt_time, fmt_times

DESIGN = "[docs/DESIGN.md §9](../../docs/DESIGN.md#9-outside-implementations)"


def verdict_text(verdict: dict) -> str:
    if not verdict.get("checked"):
        return "measured unchecked (--no-check)"
    if verdict.get("passed"):
        return f"passed rnnbench check ({verdict.get('cases')} cases)"
    return f"not measured: failed rnnbench check at {verdict.get('first_failure')}"


def rows(run) -> list[dict]:
    """A row per outside implementation not measured, and per measured call at the tables' shape."""
    base = analysis.baselines(run.tables["baseline"])  # (machine, threads, H, T, B) -> per-record seconds
    out = []
    for name, verdict in (run.manifest.get("gate") or {}).items():
        origin = {"implementation": name, "from": f"{verdict.get('distribution')} {verdict.get('version')}"}
        calls = [c for c in run.at_shape(run.configs) if c["impl"] == name and 1 in c["points"]]
        if not calls:
            out.append(origin | {"check": verdict_text(verdict), "call": "-", "B=1": "-", "C baseline, B=1": "-"})
        for c in calls:
            mine = c["points"][1]["per_record_median_s"]
            theirs = base.get((c["machine"], int(c["threads"]), *run.shape, 1))
            ratio = f" ({fmt_times(mine / theirs)})" if theirs else ""
            out.append(
                origin
                | {"check": verdict_text(verdict)}
                | sections.where(run, c)
                | {"B=1": f"{fmt_time(mine)}{ratio}", "C baseline, B=1": fmt_time(theirs) if theirs else "-"}
            )
    return out


def section(run) -> str:
    """The closing section, or "" for a run that timed no outside implementation."""
    found = rows(run)
    if not found:
        return ""
    columns = list(dict.fromkeys(k for row in found for k in row))  # a row not measured has no threads column
    found = [{k: row.get(k, "-") for k in columns} for row in found]
    text = (
        f"Implementations from other packages are timed only when they pass `rnnbench check` at the run's code "
        f"version ({DESIGN}). Per-record cost of one training call at B=1 ({sections.shape_text(run)}), in brackets its "
        "multiple of the single-thread C baseline's, measured in the same run:\n"
    )
    return sections.section("Outside implementations", text, sections.md_table(found))
