"""Time to a target accuracy, run B against run A, per configuration over its seeds: apart from the step
comparison (rnnbench.compare.core), which judges rounds of timed calls.

Both runs are judged at one target: --target-accuracy, else TARGET_FRACTION x the best validation
accuracy of either run. A configuration (impl, device, threads, B; with the machine where the runs
share machines) that both runs trained is "faster" or "slower" in B only when Mann-Whitney U on the
per-seed times (inf for a seed that never reached the target) is significant at seeds.ALPHA, as the
report's findings rank; otherwise "no difference found at N seeds". No multiple-comparison
correction: a handful of configurations, each told as a median with its interval beside the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnbench.compare.runs import ComparedRun
from rnnbench.runs import analysis, seeds


@dataclass(frozen=True)
class TargetRow:
    """One configuration in both runs: a and b are rows of seeds.over_seeds."""

    key: tuple
    a: dict
    b: dict
    p_value: float
    verdict: str


def _by_config(rows: list[dict], with_machine: bool) -> dict[tuple, dict]:
    keys = seeds.RUN_KEY if with_machine else seeds.RUN_KEY[1:]
    return {tuple(r[k] for k in keys): r for r in rows}


def compare_time_to_target(
    a: ComparedRun, b: ComparedRun, target: float | None
) -> tuple[float | None, list[TargetRow]]:
    """(the target, a row per configuration both runs trained); (None, []) when a run has no accuracy
    points. ValueError for a target outside [0, 1]."""
    evals_a, evals_b = a.tables.get("accuracy") or [], b.tables.get("accuracy") or []
    if not evals_a or not evals_b:
        return None, []
    target, _ = analysis.accuracy_target([*evals_a, *evals_b], target)
    machines_a, machines_b = {r["machine"] for r in evals_a}, {r["machine"] for r in evals_b}
    with_machine = bool(machines_a & machines_b) or len(machines_a) > 1 or len(machines_b) > 1
    side_a = _by_config(seeds.over_seeds(analysis.accuracy_runs(evals_a, target)), with_machine)
    side_b = _by_config(seeds.over_seeds(analysis.accuracy_runs(evals_b, target)), with_machine)
    out = []
    for key in sorted(side_a.keys() & side_b.keys()):
        r = seeds.rank(side_a[key], side_b[key])
        n = r.n
        verdict = f"no difference found at {n} seeds"
        if r.differ:
            verdict = "faster" if r.first is side_b[key] else "slower"
        out.append(TargetRow(key, side_a[key], side_b[key], r.p_value, verdict))
    return target, out


def format_targets(target: float, rows: list[TargetRow]) -> str:
    """The time-to-target table: per configuration, A's and B's median [interval] over seeds, the
    seeds that reached the target, Mann-Whitney's p and the verdict."""
    lines = [f"time to target accuracy {target:.3f} (median [range of seeds] over seeds; B against A):"]
    for r in rows:
        name = " ".join(str(k) for k in r.key[:-1]) + f" B={r.key[-1]}"
        seen = f"{r.a['reached']}/{len(r.a['seeds'])} and {r.b['reached']}/{len(r.b['seeds'])} seeds reached"
        lines.append(
            f"  {name}: A {seeds.describe(r.a['time_to_target'], 's')}, B {seeds.describe(r.b['time_to_target'], 's')} "
            f"({seen}); p = {r.p_value:.2g}: {r.verdict}"
        )
    return "\n".join(lines)
