"""report.md as a whole: its opening (what was measured, when, with which code, on which machines), the
findings (at most ten sentences, each with its number) and the sections of rnnbench.report.sections in
their order."""

from __future__ import annotations

from rnnbench.report import overhead_parts, sections, seeded
from rnnbench.runs import analysis
from rnnbench.units import fmt_pct, fmt_time, fmt_times


def findings(run) -> list[str]:
    """At most ten sentences, each with its number: on the tables' shape for the first (machine,
    threads), then what holds across shapes, machines and thread counts."""
    here = run.at_shape(run.configs)
    first = min(((c["machine"], c["threads"]) for c in here), default=None)
    main = [c for c in here if (c["machine"], c["threads"]) == first]
    scope = (
        f"{sections.shape_text(run)}, threads {first[1]}" + (f", on {first[0]}" if len(run.machines) > 1 else "")
        if first
        else ""
    )
    out = _cost_findings(run, main, scope)
    if run.accuracy:
        out.append(seeded.accuracy_finding(run, sections.label))
    out += _how_findings(run, main, here)
    return out[:10]


def _cost_findings(run, main: list[dict], scope: str) -> list[str]:
    """What a record costs: the cheapest at B=1, the lowest at any B, the overhead explained, the C
    baseline, and the machines side by side."""
    out = []
    at_1 = sorted((c for c in main if 1 in c["points"]), key=lambda c: c["points"][1]["per_record_median_s"])
    if len(at_1) > 1:
        lo, hi = at_1[0], at_1[-1]
        ratio = hi["points"][1]["per_record_median_s"] / lo["points"][1]["per_record_median_s"]
        out.append(
            f"At B=1 ({scope}), {sections.label(lo)} is the cheapest per record: {sections.versus(lo['points'][1])}; "
            f"{sections.label(hi)} costs {fmt_times(ratio)} as much."
        )
    if main:
        c = min(main, key=lambda c: c["best"]["per_record_median_s"])
        pct = fmt_pct(c["best"].get("pct_of_peak"))
        out.append(
            f"The lowest per-record cost ({scope}) is {sections.label(c)}'s at B={c['best']['batch']}: {sections.versus(c['best'])}, "
            f"{pct} of the matmul peak."
        )
    if explained := overhead_parts.finding(
        sections.ordered(analysis.overhead_parts(main, run.fits)), sections.label, scope
    ):
        out.append(explained)
    if points := [p for c in run.configs for p in c["points"].values() if p.get("x_baseline") is not None]:
        p = min(points, key=lambda p: p["x_baseline"])
        at = f"{sections.label(p)} at H={p['hidden']}, T={p['seq_len']}, B={p['batch']}, {fmt_times(p['x_baseline'])}"
        if beaten := sum(p["x_baseline"] < 1 for p in points):
            out.append(
                f"{beaten} of {len(points)} points beat the single-thread C baseline (furthest: {at}); "
                "there the matmul peak is the bound."
            )
        else:
            out.append(f"No point beats the single-thread C baseline; the closest is {at}.")
    if len(run.machines) > 1:
        out.append(_machines_finding(run))
    return out


def _machines_finding(run) -> str:
    wins = [w for w in run.at_shape(analysis.winners(run.configs)) if w["shared"]]
    if not wins:
        return "The machines measured no call at the same B: none is set against another."
    cheapest = "; ".join(
        f"on {w['machine']} (threads {w['threads']}) {sections.call_label(*w['best_call'])}, {fmt_time(w['best_s'])}"
        for w in wins
    )
    return f"Cheapest per record at the best B, among the calls and batch sizes every machine measured: {cheapest}."


def _how_findings(run, main: list[dict], here: list[dict]) -> list[str]:
    """How it was measured and what else it shows: the API's price, first calls, noise, memory, threads."""
    out = []
    if api := [c for c in main if c["api_share"] is not None]:
        c = max(api, key=lambda c: c["api_share"])
        s = c["smallest"]
        out.append(
            f"The public API (input check, conversion to the framework) takes at most {fmt_pct(100 * c['api_share'])} "
            f"of a call at B={s['batch']} ({sections.label(c)}: {sections.api_parts(s)} of {fmt_time(s['median_s'])})."
        )
    if main:
        c = max(main, key=lambda c: c["first_call_ratio"])
        out.append(
            f"{sections.label(c)}'s first call takes {fmt_time(c['smallest']['first_call_s'])}, "
            f"{fmt_times(c['first_call_ratio'])} its steady call."
        )
    if drifts := [w["drift"] for w in run.noise if w["drift"] is not None]:
        worst = max(drifts, key=lambda d: abs(d - 1))
        out.append(
            f"The noise sentinel moved by at most {fmt_pct(100 * abs(worst - 1))} within a worker; "
            f"{sum(r['gated'] for r in run.loaded)} of {len(run.tables['summary'])} points stayed loaded "
            "(left out of every figure)."
        )
    if growth := [g for g in run.growth if g["rise_ratio"] == g["rise_ratio"]]:  # not NaN
        g = max(growth, key=lambda g: g["rise_ratio"])
        limit = analysis.MEMORY_GROWTH_LIMIT
        grows = "something besides the cache grows with B" if g["rise_ratio"] > limit else f"within {limit:g}x"
        out.append(
            f"The step peak of {sections.label(g)} at H={g['hidden']}, T={g['seq_len']} rises {g['rise_ratio']:.2f}x as fast "
            f"as the BPTT cache, the most of all: {grows}."
        )
    if threads := _threads_finding(here):
        out.append(threads)
    return out


def _threads_finding(here) -> str | None:
    """The per-record cost at the best B with the most threads over that with the fewest, per call."""
    by_call: dict[tuple, dict[int, float]] = {}
    for c in here:
        by_call.setdefault((c["machine"], sections.label(c)), {})[c["threads"]] = c["best"]["per_record_median_s"]
    ratios = sorted((t[max(t)] / t[min(t)], call, min(t), max(t)) for (_, call), t in by_call.items() if len(t) > 1)
    if not ratios:
        return None
    (lo, lo_call, few, many), (hi, hi_call, *_) = ratios[0], ratios[-1]
    return (
        f"With {many} threads instead of {few}, the per-record cost at the best B is {fmt_times(lo)} ({lo_call}) "
        f"to {fmt_times(hi)} ({hi_call}) of what it was."
    )


def mixed_lines(manifest: dict) -> list[str]:
    """For a run resumed with --force over other code or libraries: one line per such resume, saying
    that its points were measured with other versions than the ones above."""
    out = []
    for session in manifest.get("resumed") or []:
        git = session.get("git") or {}
        out.append(
            f"**Mixed run**: resumed {str(session.get('created', '?'))[:10]} with --force at git "
            f"{git.get('short', '?')}{' (uncommitted changes)' if git.get('dirty') else ''} after "
            f"{'; '.join(session.get('changes') or ['a change'])}: the points measured since then ran on "
            "those versions."
        )
    return out


def header(run) -> str:
    m = run.manifest
    git, versions = m.get("git", {}), m.get("versions", {})
    libs = ", ".join(f"{k} {versions[k]}" for k in ("numpy", "torch", "jax") if versions.get(k))
    profile = m.get("sweep", {}).get("profile", {}).get("name")
    lines = [
        f"# Benchmark report: {run.run_id}\n",
        f"Measured {str(m.get('created', '?'))[:10]} at git {git.get('short', '?')}"
        + (" (uncommitted changes)" if git.get("dirty") else "")
        + (f", profile {profile}" if profile else "")
        + (f"; {libs}." if libs else "."),
        *mixed_lines(m),
    ]
    for machine in run.machines:
        s = (run.environment.get(machine) or [{}])[-1]
        extra = [f"{s['memory_gib']} GiB"] if s.get("memory_gib") else []
        extra += [str(g) for g in s.get("gpus") or []]
        cpu = s.get("cpu", {}).get("model", "?")
        cores = f"{run.cores.get(machine, '?')} cores"
        lines.append(f"Machine {machine}: {', '.join([cpu, cores, *extra])}.")
    lines.append(
        f"How each figure is measured: {sections.DESIGN}; the files of this folder: {sections.FILES}. Tables are at "
        f"{sections.shape_text(run)} (the shape most calls were measured at); the plots show every shape.\n"
    )
    return "\n".join(lines)


def markdown(run, figures: dict) -> str:
    """The whole of report.md."""
    sentences = findings(run)
    listed = "\n".join(f"{k}. {s}" for k, s in enumerate(sentences, 1)) + "\n"
    parts = [header(run), sections.headline(run), sections.section("Findings", listed) if sentences else ""]
    parts += [
        sections.per_record(run, figures),
        sections.overhead(run, figures),
        sections.overhead_made_of(run),
        sections.peak(run, figures),
        sections.first_call(run),
        sections.memory(run, figures),
    ]
    parts += [
        sections.accuracy(run, figures),
        sections.noise(run),
        sections.machines(run, figures),
        sections.checks(run),
    ]
    return "\n".join(p for p in parts if p)
