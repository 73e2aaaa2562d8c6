"""The report's answer to what a step's fixed overhead is made of: per implementation at B=1, the
operations one step dispatches times the price of a trivial one (rnnbench.bench.dispatch), beside the
fitted overhead (rnnbench.runs.analysis.overhead_parts), and the share of it they explain."""

from __future__ import annotations

from rnnbench.runs import analysis
from rnnbench.units import fmt_pct, fmt_time


def _times(n, seconds) -> str:
    """ "91 x 2.1 µs" (or "-" where nothing was counted)."""
    return "-" if not n else f"{n} x {fmt_time(seconds)}"


def parts(run) -> list[dict]:
    """analysis.overhead_parts of the run, in the report's order."""
    from rnnbench.report.sections import ordered

    return ordered(analysis.overhead_parts(run.configs, run.fits))


def section(run) -> str:
    from rnnbench.report.sections import md_table, section, where

    rows = [
        where(run, p)
        | {"H": p["hidden"], "T": p["seq_len"], "fitted overhead": fmt_time(p["overhead_s"])}
        | {"step at B=1": fmt_time(p["row"]["median_s"])}
        | {"ops x cost per op": _times(p["row"].get("framework_ops"), p["row"].get("framework_op_s"))}
        | {"compiled calls x cost per call": _times(p["row"].get("compiled_calls"), p["row"].get("compiled_call_s"))}
        | {"explained": fmt_time(p["explained_s"]), "share of overhead": fmt_pct(_pct(p["share"]))}
        | {
            "unexplained": fmt_time(p["unexplained_s"]),
            "ops inside compiled calls": p["row"].get("compiled_ops") or "-",
        }
        for p in parts(run)
    ]
    if not rows:
        return ""
    methods = sorted({(p["impl"], p["row"].get("dispatch_method")) for p in parts(run)})
    counted = "".join(f"- {impl}: {method}\n" for impl, method in methods)
    text = (
        "What one step at B=1 hands its framework, priced at what a trivial dispatch of the same kind costs on "
        "this machine (one operation on one-element data; one call of a trivial compiled function), beside "
        "the fitted overhead per step. The unexplained rest is what the step does besides dispatching at "
        "that price: Python between the calls, allocation, the autograd graph's bookkeeping, larger "
        "operations than one element, the work inside compiled code. Counted by:\n"
    )
    return section("What the overhead is made of", text, counted, md_table(rows))


def _pct(share: float | None) -> float | None:
    return None if share is None else 100 * share


def finding(run) -> str | None:
    """One sentence: per implementation at the tables' shape, the share of its fitted overhead the
    dispatch count explains."""
    here = [p for p in parts(run) if (p["hidden"], p["seq_len"]) == run.shape and p["share"] is not None]
    if not here:
        return None
    from rnnbench.report.sections import label, shape_text

    first = min((p["machine"], p["threads"]) for p in here)
    shares = "; ".join(
        f"{label(p)} {fmt_pct(_pct(p['share']))} of {fmt_time(p['overhead_s'])}"
        for p in here
        if (p["machine"], p["threads"]) == first
    )
    return (
        f"Ops per step x cost per op explains, of the fitted overhead at B=1 ({shape_text(run)}, threads {first[1]}): "
        f"{shares}."
    )
