"""The report's finding on accuracy per second over seeds: which configuration reaches the target
first, named only when the seeds tell it apart from the runner-up (rnnbench.runs.seeds); and per-record
SGD's epochs and seconds to the target beside a minibatch's. label: a configuration's call, as the
report names it (rnnbench.report.sections.label)."""

from __future__ import annotations

import math
from collections.abc import Callable

from rnnbench.runs import seeds


def accuracy_finding(run, label: Callable[[dict], str]) -> str:
    """Which configuration reaches the target first, named only when Mann-Whitney U on the per-seed times
    finds it apart from the runner-up (rnnbench.runs.seeds); with compilation and without."""
    wall = seeds.fastest_two(run.seeded, "time_to_target")
    if wall is None:
        return f"No training run reaches the target accuracy {run.target:.3f} at the median of its seeds."
    text = _ranking_text(wall, label, f"the target accuracy {run.target:.3f}")
    steady = seeds.fastest_two(run.seeded, "time_to_target_steady")
    if steady is not None and (steady.first is not wall.first or steady.second is not wall.second):
        text += "; without compilation, " + _ranking_text(steady, label, "it")
    return text + "." + _per_record_text(run, label)


def _ranking_text(r: seeds.Ranking, label: Callable[[dict], str], target: str) -> str:
    """ "X at B=32 reaches <target> first, median 0.12 s [..] over 5 seeds, ahead of Y at B=1 (0.3 s [..];
    Mann-Whitney p = 0.008)", or when the seeds do not tell the two apart: "X (..) and Y (..) are the
    fastest to <target>: no difference found at 3 seeds (Mann-Whitney p = 0.7)"."""
    a, b = r.first, r.second
    ma, mb = seeds.describe(a[r.measure], "s"), seeds.describe(b[r.measure], "s")
    # the two may differ only in their thread count or machine: then the names say it
    extra = [k for k in ("threads", "machine") if a.get(k) != b.get(k)]
    name = lambda c: f"{label(c)} at B={c['batch']}" + "".join(f", {k} {c[k]}" for k in extra)
    if r.differ:
        return (
            f"{name(a)} reaches {target} first, median {ma} over {r.n} seeds, ahead of {name(b)} ({mb}; "
            f"Mann-Whitney p = {r.p_value:.2g})"
        )
    return (
        f"{name(a)} ({ma}) and {name(b)} ({mb}) are the fastest to {target}: no difference found at {r.n} seeds "
        f"(Mann-Whitney p = {r.p_value:.2g})"
    )


def _per_record_text(run, label: Callable[[dict], str]) -> str:
    """Per-record SGD (B=1) against the fastest minibatch of the same call: epochs and seconds to target."""
    ones = {(a["machine"], a["threads"], label(a)): a for a in run.seeded if a["batch"] == 1}
    pairs = [
        (ones[(a["machine"], a["threads"], label(a))], a)
        for a in run.seeded
        if a["batch"] > 1 and (a["machine"], a["threads"], label(a)) in ones
    ]
    pairs = [p for p in pairs if math.isfinite(p[1]["time_to_target"].median)]
    if not pairs:
        return ""
    one, mini = min(pairs, key=lambda p: p[1]["time_to_target"].median)
    return (
        f" Per-record SGD ({label(one)}, B=1) needs {seeds.describe(one['epochs_to_target'], 'epochs')} to the target "
        f"and {seeds.describe(one['time_to_target'], 's')}; at B={mini['batch']}, "
        f"{seeds.describe(mini['epochs_to_target'], 'epochs')} and {seeds.describe(mini['time_to_target'], 's')}."
    )
