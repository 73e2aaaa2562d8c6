"""report.md as a whole: its opening (what was measured, when, with which code, on which machines) and the
sections of rnnbench.report.sections in order."""

from __future__ import annotations

from rnnbench.report.sections import (
    DESIGN,
    FILES,
    accuracy,
    checks,
    findings,
    first_call,
    headline,
    machines,
    memory,
    noise,
    overhead,
    peak,
    per_record,
    section,
    shape_text,
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
        f"How each figure is measured: {DESIGN}; the files of this folder: {FILES}. Tables are at "
        f"{shape_text(run)} (the shape most calls were measured at); the plots show every shape.\n"
    )
    return "\n".join(lines)


def markdown(run, figures: dict) -> str:
    """The whole of report.md."""
    sentences = findings(run)
    listed = "\n".join(f"{k}. {s}" for k, s in enumerate(sentences, 1)) + "\n"
    parts = [header(run), headline(run), section("Findings", listed) if sentences else ""]
    parts += [
        per_record(run, figures),
        overhead(run, figures),
        peak(run, figures),
        first_call(run),
        memory(run, figures),
    ]
    parts += [accuracy(run, figures), noise(run), machines(run, figures), checks(run)]
    return "\n".join(p for p in parts if p)
