"""The gate (docs/DESIGN.md §9): `rnnbench bench` times an implementation from another package only when
it passed `rnnbench check` at the same code version. The built-in ones are proved by tests/ and pass.

For each outside implementation the gate looks for a passing record of the check at this version
(rnnbench.conformance.verdicts), runs the check when it finds none, and returns the verdict that the run
records in run.json under "gate"; one that failed is left out of the sweep, and the report lists it as
not measured, with its first failing case. --no-check (for development) lets it through unchecked, and
says so in the same place."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence


def judge(
    names: Sequence[str], results_dir: str | os.PathLike, checking: bool = True, say: Callable[[str], None] = print
) -> dict[str, dict]:
    """name -> verdict for each outside implementation among names: distribution, version, checked
    (False under --no-check), passed, cases, first_failure, and how it was decided."""
    import impls
    from rnnbench.conformance import runner, verdicts

    out: dict[str, dict] = {}
    for name in names:
        plugin = impls.registry.plugins().get(name)
        if plugin is None:  # built in: tests/ prove it
            continue
        entry: dict[str, object] = {"distribution": plugin.distribution, "version": plugin.version}
        if not checking:
            out[name] = entry | {"checked": False, "passed": None, "first_failure": None, "how": "--no-check"}
            continue
        fp = verdicts.fingerprint(name)
        found = verdicts.find(results_dir, name, fp)
        if found is not None:
            how = f"recorded {found.get('checked')}"
        else:
            say(f"rnnbench check {name}: {plugin.describe()} has no record of a check at this code version; running it")
            _, found = runner.check(name)
            verdicts.save(results_dir, found)
            how = f"checked {found['checked']}"
        out[name] = entry | {
            "checked": True,
            "passed": bool(found["passed"]),
            "cases": found.get("cases"),
            "first_failure": found.get("first_failure"),
            "how": how,
            "record": str(verdicts.path(results_dir, name, fp)),
        }
    return out


def admitted(names: Sequence[str], verdicts: dict[str, dict]) -> tuple[str, ...]:
    """The names the gate lets through: built in, passed, or unchecked under --no-check."""
    return tuple(n for n in names if verdicts.get(n, {}).get("passed") is not False)


def describe(name: str, verdict: dict) -> str:
    """One line on what the gate decided for name."""
    source = f"{name} ({verdict['distribution']} {verdict['version']})"
    if not verdict["checked"]:
        return f"{source}: measured without its conformance check (--no-check)"
    if verdict["passed"]:
        return f"{source}: passed rnnbench check, {verdict['cases']} cases ({verdict['how']})"
    return f"{source}: not measured: failed rnnbench check at {verdict['first_failure']}"
