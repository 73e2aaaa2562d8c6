"""Benchmarks that are also tests: every point measures and then asserts its result is right.

    pytest benchmarks --benchmark-disable            every point of the tiny `test` profile, once (CI)
    rnnbench bench                                   the `quick` profile, timed, into results/<run-id>/

Options (`rnnbench bench` passes them): --rnnbench-profile, --rnnbench-out (the run folder; default a
temporary folder), --rnnbench-run-id, --rnnbench-impl, --rnnbench-hidden, --rnnbench-seq-len,
--rnnbench-batch-sizes, --rnnbench-threads, --rnnbench-device, --rnnbench-skip-accuracy,
--rnnbench-skip-sweep, --rnnbench-skip-floor, --rnnbench-resume. The measurements live in
rnnbench.harness; this file only chooses the points, drives pytest-benchmark and saves each finished
point at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import impls
from rnnbench import harness, machine, results, timing

STATUS_KEY = "rnnbench_status"


def _int_list(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.replace(" ", "").split(",") if x)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnnbench", "rnnbench benchmarks")
    add = group.addoption
    add("--rnnbench-profile", default="test", choices=sorted(harness.PROFILES), help="what to measure (default test)")
    add("--rnnbench-out", default=None, metavar="DIR", help="the run folder results go to (default: a temp folder)")
    add("--rnnbench-run-id", default=None, metavar="ID", help="run id recorded in every result")
    add("--rnnbench-impl", default=None, metavar="A,B", help="implementations (default: every registered one)")
    add("--rnnbench-hidden", default=None, metavar="H,H", help="hidden sizes (default: the profile's)")
    add("--rnnbench-seq-len", default=None, metavar="T,T", help="sequence lengths (default: the profile's)")
    add("--rnnbench-batch-sizes", default=None, metavar="B,B", help="batch sizes (default: the profile's)")
    add("--rnnbench-threads", default=1, type=int, metavar="N", help="threads for every framework (default 1)")
    add("--rnnbench-device", default="cpu", help="device (default cpu)")
    add("--rnnbench-skip-accuracy", action="store_true", help="leave out the accuracy-per-second runs")
    add("--rnnbench-skip-sweep", action="store_true", help="leave out the step-cost sweep")
    add("--rnnbench-skip-floor", action="store_true", help="leave out the plain-C floor at the sweep's shapes")
    add("--rnnbench-resume", action="store_true", help="skip points the run folder already holds")


class BenchContext:
    """The session's profile, selection and run folder; runs a point and saves its record."""

    def __init__(self, config: pytest.Config) -> None:
        opt = config.getoption
        self.config = config
        base = harness.PROFILES[opt("--rnnbench-profile")]
        self.profile = base.with_overrides(
            hidden=_int_list(opt("--rnnbench-hidden")) if opt("--rnnbench-hidden") else None,
            seq_len=_int_list(opt("--rnnbench-seq-len")) if opt("--rnnbench-seq-len") else None,
            batch_sizes=_int_list(opt("--rnnbench-batch-sizes")) if opt("--rnnbench-batch-sizes") else None,
        )
        self.threads: int = opt("--rnnbench-threads")
        self.device: str = opt("--rnnbench-device")
        names = opt("--rnnbench-impl")
        self.impls = [s.strip() for s in names.split(",") if s.strip()] if names else list(impls.IMPLS)
        unknown = [n for n in self.impls if n not in impls.IMPLS]
        if unknown:
            raise pytest.UsageError(f"unknown implementation(s) {unknown}; known: {', '.join(impls.IMPLS)}")
        self.impls = [n for n in self.impls if self.device in impls.DEVICES[n]]
        self.run_id: str | None = opt("--rnnbench-run-id")
        out = opt("--rnnbench-out")
        self.run_dir: Path | None = Path(out) if out else None
        self.resume: bool = opt("--rnnbench-resume")
        self.skip_accuracy: bool = opt("--rnnbench-skip-accuracy")
        self.skip_sweep: bool = opt("--rnnbench-skip-sweep")
        self.skip_floor: bool = opt("--rnnbench-skip-floor")
        self.benchmark_disabled: bool = bool(config.getoption("benchmark_disable", False))
        self._done: set[str] | None = None
        self._dataset = None
        self.saved = 0

    # -- selection -------------------------------------------------------------------------------------

    def skip_reason(self, impl: str) -> str | None:
        framework, extra = impls.registry.FRAMEWORKS[impl]
        if not impls.framework_installed(impl):
            return f"{impl} needs {framework}, not installed here (pip install '{extra}')"
        if not impls.device_present(self.device):
            return f"no {self.device} device here"
        return None

    def step_points(self) -> list[harness.StepPoint]:
        fused = [n for n in self.impls if self.skip_reason(n) is not None or _fuses(n)]
        return harness.step_points(self.impls, self.profile, self.threads, self.device, epochs_for=fused)

    def accuracy_points(self) -> list[harness.AccuracyPoint]:
        return [
            harness.AccuracyPoint(n, b, self.threads, self.device)
            for n in self.impls
            for b in self.profile.acc_batch_sizes
        ]

    # -- running ---------------------------------------------------------------------------------------

    def folder(self, tmp_path_factory: pytest.TempPathFactory) -> Path:
        if self.run_dir is None:
            self.run_dir = tmp_path_factory.mktemp("rnnbench-run")
        return self.run_dir

    def start(self, point_id: str, impl: str | None = None) -> None:
        """Skip a point whose framework is missing, or that a resumed run already holds."""
        if impl is not None and (reason := self.skip_reason(impl)):
            pytest.skip(reason)
        if self.resume and self.run_dir is not None:
            if self._done is None:
                self._done = results.done_point_ids(self.run_dir)
            if point_id in self._done:
                pytest.skip(f"{point_id} finished in an earlier session of run {self.run_dir.name} (--resume)")

    @staticmethod
    def runner(benchmark):
        """A timing.Runner through the benchmark fixture: pytest-benchmark drives the rounds (a round
        means the same to both); with --benchmark-disable, rnnbench.timing's own loop runs inside
        the fixture's single call."""
        if getattr(benchmark, "disabled", False):
            return lambda target, rounds, iterations, sync: benchmark.pedantic(
                timing.own_runner, args=(target, rounds, iterations, sync)
            )

        def runner(target, rounds: int, iterations: int, sync) -> list[float]:
            benchmark.pedantic(target, rounds=rounds, iterations=iterations, warmup_rounds=0)
            # pytest-benchmark stores each round's wall time divided by iterations
            return [d * iterations for d in benchmark.stats.stats.data]

        return runner

    def save(self, record: dict, request: pytest.FixtureRequest, status: str) -> None:
        results.save_point(self.run_dir, record)
        self.saved += 1
        request.node.user_properties.append((STATUS_KEY, status))

    def dataset(self):
        if self._dataset is None:
            self._dataset = harness.load_accuracy_data(self.profile)
        return self._dataset

    def check(self, record: dict, strict: bool) -> None:
        """Fail on a wrong result always; on a loop-check flag only in test mode (strict)."""
        checks = record.get("checks", {})
        problems = checks.get("problems", [])
        assert not problems, f"{record['point_id']}: " + "; ".join(problems)
        if strict:
            flags = checks.get("flags", [])
            assert not flags, f"{record['point_id']}: " + "; ".join(flags)


CONTEXT = pytest.StashKey[BenchContext]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[CONTEXT] = BenchContext(config)


def _ctx(config: pytest.Config) -> BenchContext:
    return config.stash[CONTEXT]


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> BenchContext:
    """The session's BenchContext, its run folder created and this session's environment recorded."""
    ctx = _ctx(request.config)
    run_dir = ctx.folder(tmp_path_factory)
    (run_dir / results.POINTS).mkdir(parents=True, exist_ok=True)
    session = machine.collect(ctx.threads, ctx.device) | {
        "run_id": ctx.run_id,
        "profile": ctx.profile.name,
        "profile_settings": dict(vars(ctx.profile).items()),
        "implementations": ctx.impls,
        "benchmark_disabled": ctx.benchmark_disabled,
    }
    results.update_machine(run_dir, session)
    return ctx


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    ctx = _ctx(metafunc.config)
    for name, kind in (("step_point", "step"), ("epoch_point", "epoch")):
        if name not in metafunc.fixturenames:
            continue
        points = [] if ctx.skip_sweep else [p for p in ctx.step_points() if p.kind == kind]
        if points:
            metafunc.parametrize(name, points, ids=[_id(p) for p in points])
            continue
        if ctx.skip_sweep:
            reason = "--rnnbench-skip-sweep (rnnbench bench --skip-sweep)"
        else:
            reason = f"none of {', '.join(ctx.impls)} fuses train_epoch (theirs is train_step in a loop)"
        metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=reason))], ids=["skipped"])
    if "floor_point" in metafunc.fixturenames:
        if ctx.skip_floor:
            skip = pytest.mark.skip(reason="--rnnbench-skip-floor")
            metafunc.parametrize("floor_point", [pytest.param(None, marks=skip)], ids=["skipped"])
        else:
            points = harness.floor_points(ctx.profile, ctx.threads)
            metafunc.parametrize("floor_point", points, ids=[f"H{p.hidden}-T{p.seq_len}-B{p.batch}" for p in points])
    if "accuracy_point" in metafunc.fixturenames:
        if ctx.skip_accuracy:
            skip = pytest.mark.skip(reason="--rnnbench-skip-accuracy (rnnbench bench --skip-accuracy)")
            metafunc.parametrize("accuracy_point", [pytest.param(None, marks=skip)], ids=["skipped"])
        else:
            points = ctx.accuracy_points()
            metafunc.parametrize("accuracy_point", points, ids=[f"{p.impl}-B{p.batch}" for p in points])


def _fuses(impl: str) -> bool:
    """Whether impl fuses train_epoch; an implementation that fails to import gets its epoch points
    anyway, so that the error shows where it is measured rather than breaking collection."""
    try:
        return harness.fuses_epoch(impl)
    except Exception:  # noqa: BLE001 - any import error is reported by the points themselves
        return True


def _id(p: harness.StepPoint) -> str:
    return f"{p.impl}-H{p.hidden}-T{p.seq_len}-B{p.batch}"


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    ctx = config.stash.get(CONTEXT, None)
    machine_info["rnnbench"] = machine.collect(ctx.threads if ctx else None, ctx.device if ctx else "cpu")


def pytest_report_header(config: pytest.Config) -> list[str]:
    ctx = config.stash.get(CONTEXT, None)
    if ctx is None:
        return []
    where = ctx.run_dir or "a temporary folder"
    return [f"rnnbench benchmarks: profile {ctx.profile.name}, threads {ctx.threads}, results to {where}"]


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    """Show each point's headline figure after its name (pytest -v): the progress display of a run."""
    if report.when != "call" or not report.passed:
        return None
    for key, value in report.user_properties:
        if key == STATUS_KEY:
            word = value if value.startswith("FLAGGED") else f"PASSED {value}"
            return "passed", ".", (word, {"yellow": True} if value.startswith("FLAGGED") else {"green": True})
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Rebuild the run's CSV files from the point files (also after Ctrl-C: finished points stay)."""
    ctx = session.config.stash.get(CONTEXT, None)
    if ctx is not None and ctx.run_dir is not None and ctx.saved:
        results.finish_machine(
            ctx.run_dir,
            {"framework_threads_at_end": machine.framework_threads(), "blas_at_end": machine.blas()},
        )
        results.combine(ctx.run_dir)
