"""Run the conformance cases on one implementation, without pytest: what `rnnbench check` and the
benchmark's gate do (docs/DESIGN.md §9)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rnnbench.conformance.cases import CASES, GROUPS, Case
from rnnbench.conformance.tools import CaseFailure

LOAD = "load"  # the step before the cases: the implementation's class imports and is an impls.RNNImpl


@dataclass(frozen=True)
class Outcome:
    """One case's result. message: what disagreed (a failure) or what was raised (an error); "" when passed."""

    case_id: str
    group: str
    passed: bool
    message: str = ""

    def line(self) -> str:
        return f"{self.case_id}: {self.message}"


def _message(error: Exception) -> str:
    """One line: a case's own failure as it words it, anything else with its type."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return first if isinstance(error, CaseFailure) else f"{type(error).__name__}: {first}".rstrip(": ")


def run_cases(
    impl_name: str, cases: Sequence[Case] = CASES, on_outcome: Callable[[Outcome], None] | None = None
) -> list[Outcome]:
    """Every case on impl_name, in order, each kept apart from the others' failures. When the class
    cannot be loaded (unknown name, missing framework, a broken plugin) that is the one outcome."""
    import impls

    try:
        impls.registry.implementation_class(impl_name)
    except (impls.InputError, ImportError) as e:
        outcome = Outcome(LOAD, LOAD, False, _message(e))
        if on_outcome:
            on_outcome(outcome)
        return [outcome]
    outcomes = []
    for case in cases:
        try:
            case.run(impl_name)
        except Exception as e:  # noqa: BLE001 - any error is that case's finding; the next case still runs
            outcome = Outcome(case.id, case.group, False, _message(e))
        else:
            outcome = Outcome(case.id, case.group, True)
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)
    return outcomes


def first_failure(outcomes: Sequence[Outcome]) -> Outcome | None:
    return next((o for o in outcomes if not o.passed), None)


def table(outcomes: Sequence[Outcome]) -> str:
    """A text table, a row per group of cases: how many ran, how many passed, the first that failed."""
    rows = [("cases", "run", "passed", "first failure")]
    groups = [LOAD] if outcomes and outcomes[0].case_id == LOAD else list(GROUPS)
    for group in groups:
        mine = [o for o in outcomes if o.group == group]
        if not mine:
            continue
        failed = first_failure(mine)
        rows.append((group, str(len(mine)), str(sum(o.passed for o in mine)), failed.line() if failed else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join([r[0].ljust(widths[0]), r[1].rjust(widths[1]), r[2].rjust(widths[2]), r[3]]) for r in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def verdict(impl_name: str, outcomes: Sequence[Outcome], fp: dict[str, object]) -> dict:
    """What a check concluded, as recorded (rnnbench.conformance.verdicts) and copied into a run's run.json."""
    from rnnbench import machine

    failed = first_failure(outcomes)
    return {
        "impl": impl_name,
        "passed": failed is None,
        "cases": len(outcomes),
        "failed": sum(not o.passed for o in outcomes),
        "first_failure": failed.line() if failed else None,
        "checked": machine.now_iso(),
        "fingerprint": fp,
    }


def check(impl_name: str, on_outcome: Callable[[Outcome], None] | None = None) -> tuple[list[Outcome], dict]:
    """Run every case on impl_name: its outcomes and its verdict (not yet saved)."""
    from rnnbench.conformance import verdicts

    fp = verdicts.fingerprint(impl_name)  # before the cases: the code they ran
    outcomes = run_cases(impl_name, on_outcome=on_outcome)
    return outcomes, verdict(impl_name, outcomes, fp)
