"""Shared fixtures: one parametrization over the registry, so that every failure names its implementation."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import passed_record
import pytest

import impls
from impls import plugins as plugin_discovery

# equinox's habit: make JAX raise on silent rank promotion. Read by jax at import; jax is not imported here.
os.environ.setdefault("JAX_NUMPY_RANK_PROMOTION", "raise")


def _skip_reason(name: str) -> str | None:
    framework, extra = impls.registry.FRAMEWORKS[name]
    if not impls.framework_installed(name):
        return f"{name} needs {framework}, not installed here (pip install '{extra}')"
    return None


@pytest.fixture(params=list(impls.IMPLS))
def impl_name(request) -> str:
    """Every registered implementation; one whose framework is missing skips, saying which."""
    reason = _skip_reason(request.param)
    if reason:
        pytest.skip(reason)
    return request.param


# The backend torch-compile's models compile with in tests, unless a test asks for `inductor_backend`:
# AOTAutograd's graphs run by eager kernels, so that Dynamo's capture of the whole step, its
# differentiation and its in-place updates are all exercised while each compilation takes a second or
# two, where inductor's code generation takes tens (tests/test_torch_compile.py runs inductor itself).
TORCH_COMPILE_TEST_BACKEND = "aot_eager"


@pytest.fixture(autouse=True)
def torch_compile_backend(request, monkeypatch):
    if importlib.util.find_spec("torch") is None or "inductor_backend" in request.fixturenames:
        return
    from impls.torch_compile import TorchCompile

    monkeypatch.setattr(TorchCompile, "backend", TORCH_COMPILE_TEST_BACKEND)


@pytest.fixture
def inductor_backend() -> str:
    """torch-compile's models compile with the default backend, inductor, as in the benchmark; on the CPU
    it builds C++ with the machine's compiler, so the test skips, saying so, where there is none."""
    if not any(shutil.which(cxx) for cxx in (os.environ.get("CXX", "c++"), "g++", "clang++")):
        pytest.skip("inductor on the CPU needs a C++ compiler (g++ or clang++, or $CXX): none found")
    from impls.torch_compile import TorchCompile

    return TorchCompile.backend


@pytest.fixture(autouse=True)
def builtin_implementations_only(monkeypatch):
    """The tests see the built-in implementations only, whatever other packages are installed here; the
    tests of outside implementations give their own entry points (tests/test_plugins.py)."""
    monkeypatch.setattr(plugin_discovery, "entry_points", list)
    plugin_discovery.refresh()
    yield
    plugin_discovery.refresh()


# Modules whose tests load no framework but NumPy (numpy-bptt, made-up runs, the command line on it): the
# numpy session proves they need nothing else, and tests_all runs them beside everything; the torch and
# jax sessions, whose point is the framework's own code, leave them out (-m "not framework_free").
FRAMEWORK_FREE = {
    "test_ab",
    "test_c_baseline",
    "test_compare",
    "test_compare_drift",
    "test_executors",
    "test_layout",
    "test_merge",
    "test_numpy_bptt",
    "test_passed_record",
    "test_quiet_gate",
    "test_report",
    "test_resume",
    "test_seeds",
    "test_stats",
    "test_stopping",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnnbench", "what earlier test sessions already ran (tests/passed_record.py)")
    group.addoption("--record-passed", metavar="FILE", help="write the node ids of the tests that passed here")
    group.addoption(
        "--skip-passed",
        metavar="FILE",
        action="append",
        default=[],
        help="deselect the tests a --record-passed FILE lists, if it was written on these same sources",
    )


SOURCE_DIGEST = pytest.StashKey[str]()
RECORDER = pytest.StashKey[passed_record.PassedRecorder]()


def pytest_configure(config: pytest.Config) -> None:
    needed = config.getoption("--record-passed") or config.getoption("--skip-passed")
    config.stash[SOURCE_DIGEST] = passed_record.source_digest() if needed else ""
    # under pytest-xdist the controller, which sees every worker's reports, keeps the record
    if config.getoption("--record-passed") and not hasattr(config, "workerinput"):
        config.stash[RECORDER] = passed_record.PassedRecorder()
        config.pluginmanager.register(config.stash[RECORDER], "rnnbench-passed-recorder")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in FRAMEWORK_FREE:
            item.add_marker(pytest.mark.framework_free)
    passed: set[str] = set()
    for record in config.getoption("--skip-passed"):
        passed |= passed_record.read(Path(record), config.stash[SOURCE_DIGEST])[0]
    if passed:
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid in passed])
        items[:] = [item for item in items if item.nodeid not in passed]


def pytest_sessionfinish(session: pytest.Session) -> None:
    if (record := session.config.getoption("--record-passed")) and RECORDER in session.config.stash:
        passed = session.config.stash[RECORDER].passed()
        passed_record.write(Path(record), session.config.stash[SOURCE_DIGEST], passed)


def pytest_report_header(config: pytest.Config) -> list[str]:
    found = [name for name in impls.IMPLS if _skip_reason(name) is None]
    lines = [f"rnnbench implementations available here: {', '.join(found) or 'none'}"]
    lines += [passed_record.read(Path(r), config.stash[SOURCE_DIGEST])[1] for r in config.getoption("--skip-passed")]
    return lines
