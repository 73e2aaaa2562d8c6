"""pytest-benchmark entry points over the same measurements `rnnbench bench` makes (rnnbench.bench).

    pytest benchmarks --benchmark-disable           every point of the tiny `test` profile once (CI)
    pytest benchmarks --rnnbench-profile quick --benchmark-json out.json    timed by pytest-benchmark

Each test measures one point with the functions the benchmark's workers call, drives the timed rounds
through pytest-benchmark's fixture (a round means the same to both), saves the record into a run
folder (--rnnbench-out, default a temporary folder) and asserts the answer is right. Options:
--rnnbench-profile, --rnnbench-impl A,B, --rnnbench-threads N, --rnnbench-out DIR. `rnnbench bench`
does not use this file: it runs rnnbench.bench.worker processes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import impls
from rnnbench import machine
from rnnbench.bench import points, timing
from rnnbench.bench.profiles import PROFILES
from rnnbench.runs import store


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnnbench", "rnnbench benchmarks")
    group.addoption(
        "--rnnbench-profile", default="test", choices=sorted(PROFILES), help="what to measure (default test)"
    )
    group.addoption(
        "--rnnbench-impl", default=None, metavar="A,B", help="implementations (default: every registered one)"
    )
    group.addoption(
        "--rnnbench-threads", default=1, type=int, metavar="N", help="threads for every framework (default 1)"
    )
    group.addoption(
        "--rnnbench-out", default=None, metavar="DIR", help="run folder for the records (default: a temp folder)"
    )


def _sweep(config: pytest.Config) -> points.Sweep:
    names = config.getoption("--rnnbench-impl")
    chosen = tuple(s.strip() for s in names.split(",") if s.strip()) if names else tuple(impls.IMPLS)
    unknown = [n for n in chosen if n not in impls.IMPLS]
    if unknown:
        raise pytest.UsageError(f"unknown implementation(s) {unknown}; known: {', '.join(impls.IMPLS)}")
    return points.Sweep(
        impls=chosen,
        profile=PROFILES[config.getoption("--rnnbench-profile")],
        threads=(config.getoption("--rnnbench-threads"),),
        fused=tuple(n for n in chosen if n in impls.FUSED_EPOCH),
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize each test over the sweep's points of its type."""
    wanted = {
        "step_point": lambda p: isinstance(p, points.StepPoint) and p.kind == "step",
        "epoch_point": lambda p: isinstance(p, points.StepPoint) and p.kind == "epoch",
        "peak_point": lambda p: isinstance(p, points.PeakPoint),
        "baseline_point": lambda p: isinstance(p, points.BaselinePoint),
        "accuracy_point": lambda p: isinstance(p, points.AccuracyPoint),
    }
    for name, keep in wanted.items():
        if name in metafunc.fixturenames:
            chosen = [p for p in points.all_points(_sweep(metafunc.config)) if keep(p)]
            if not chosen:
                reason = "no implementation in this sweep fuses train_epoch"
                chosen = [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
            metafunc.parametrize(name, chosen, ids=lambda p: p.point_id if p is not None else "none")


class Bench:
    """The session's profile and run folder: skips what cannot run here, saves and checks each record."""

    def __init__(self, config: pytest.Config, run_dir: Path) -> None:
        self.profile = PROFILES[config.getoption("--rnnbench-profile")]
        self.run_dir = run_dir
        self.machine = machine.machine_label()

    def skip_unless_runnable(self, point) -> None:
        impl, device = getattr(point, "impl", None), getattr(point, "device", "cpu")
        if impl is not None and (reason := impls.unavailable_reason(impl, device)):
            pytest.skip(reason)

    @property
    def label(self) -> dict:
        return {"run_id": self.run_dir.name, "machine_label": self.machine}

    def keep(self, record) -> dict:
        """Save the record, then fail on a wrong answer. A flag (the loop check on a round the OS preempted,
        a point the quiet gate left loaded) says the machine was busy, not that the code is wrong: it is
        kept in the record and fails nothing, so that a test run does not depend on the machine's load."""
        store.save_point(self.run_dir, record)
        checks = record.checks
        assert not checks["problems"], f"{record.point_id}: " + "; ".join(checks["problems"])
        return record.summary


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Bench:
    out = request.config.getoption("--rnnbench-out")
    run_dir = Path(out) if out else tmp_path_factory.mktemp("rnnbench-run")
    yield Bench(request.config, run_dir)
    if store.point_files(run_dir):
        store.combine(run_dir)


@pytest.fixture
def runner(benchmark) -> timing.Runner:
    """A timing.Runner through pytest-benchmark's fixture: it drives the rounds; with
    --benchmark-disable, rnnbench.bench.timing's own loop runs inside the fixture's single call."""
    if getattr(benchmark, "disabled", False):
        return lambda target, rounds, iterations, sync: benchmark.pedantic(
            timing.own_runner, args=(target, rounds, iterations, sync)
        )

    def drive(target, rounds: int, iterations: int, _sync) -> list[float]:  # each call syncs itself
        benchmark.pedantic(target, rounds=rounds, iterations=iterations, warmup_rounds=0)
        # pytest-benchmark stores each round's wall time divided by iterations
        return [d * iterations for d in benchmark.stats.stats.data]

    return drive


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["rnnbench"] = machine.collect(config.getoption("--rnnbench-threads"))
