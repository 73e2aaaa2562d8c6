"""The report's answer to what a step's fixed overhead is made of: per implementation at B=1, the
operations one step dispatches times the price of a trivial one (rnnbench.bench.dispatch), beside the
fitted overhead (rnnbench.runs.analysis.overhead_parts), and the share of it they explain. The cells
and sentences are made here; rnnbench.report.sections places them."""

from __future__ import annotations

from rnnbench.units import fmt_pct, fmt_time

TITLE = "What the overhead is made of"
TEXT = (
    "What one step at B=1 hands its framework, priced at what a trivial dispatch of the same kind costs on "
    "this machine (one operation on one-element data; one call of a trivial compiled function), beside "
    "the fitted overhead per step. The unexplained rest is what the step does besides dispatching at "
    "that price: Python between the calls, allocation, the autograd graph's bookkeeping, operations larger "
    "than one element, the work inside compiled code. Counted by:\n"
)


def _times(n, seconds) -> str:
    """ "91 x 2.1 µs" (or "-" where nothing was counted)."""
    return "-" if not n else f"{n} x {fmt_time(seconds)}"


def _pct(share: float | None) -> str:
    return fmt_pct(None if share is None else 100 * share)


def cells(p: dict) -> dict:
    """The table cells of one analysis.overhead_parts entry, after the call's own."""
    row = p["row"]
    return (
        {"H": p["hidden"], "T": p["seq_len"], "fitted overhead": fmt_time(p["overhead_s"])}
        | {"step at B=1": fmt_time(row["median_s"])}
        | {"ops x cost per op": _times(row.get("framework_ops"), row.get("framework_op_s"))}
        | {"compiled calls x cost per call": _times(row.get("compiled_calls"), row.get("compiled_call_s"))}
        | {"explained": fmt_time(p["explained_s"]), "share of overhead": _pct(p["share"])}
        | {"unexplained": fmt_time(p["unexplained_s"]), "ops inside compiled calls": row.get("compiled_ops") or "-"}
    )


def methods(parts: list[dict]) -> str:
    """One line per implementation: how its dispatches were counted."""
    found = sorted({(p["impl"], p["row"].get("dispatch_method")) for p in parts})
    return "".join(f"- {impl}: {method}\n" for impl, method in found)


def finding(parts: list[dict], label, scope: str) -> str | None:
    """One sentence: the share of the fitted overhead the dispatch count explains, per call of `parts`
    (those of one shape, machine and thread count); label(p) names a call."""
    shares = "; ".join(f"{label(p)} {_pct(p['share'])} of {fmt_time(p['overhead_s'])}" for p in parts if p["share"])
    return (
        f"Ops per step x cost per op explains, of the fitted overhead at B=1 ({scope}): {shares}." if shares else None
    )
