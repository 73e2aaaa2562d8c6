"""nox sessions: the correctness matrix, lint, the benchmark and its report.

    nox                      # default: tests per framework, the full conformance run, lint
    nox -s bench             # the main job: quick benchmark profile, then the report
    nox -s bench -- --profile full --impl jax-scan
    nox -s tests_gpu         # the CUDA cases, on a machine that has CUDA
    nox -s mutants           # mutation campaign over impls/ and the figure-making modules (slow)

Environments are plain virtualenvs built by pip, which resolves the pinned torch==2.13.0 as your pip is
configured. The test sessions share JAX's persistent compilation cache in .nox/, so that a rerun, or a
second xdist worker, loads what was compiled already (same jax version, programs and compile options; the
tests(...) sessions compile with JAX's smoke-test switch, below, so tests_all compiles its own).
Each tests(...) session lists the tests it passed, under a digest of the sources, and tests_all runs
only the rest: what needs several frameworks or an extra, the benchmarks, the example plugin.
"""

from __future__ import annotations

import os
import shutil

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["tests", "tests_all", "lint"]
nox.options.error_on_missing_interpreters = False

PYPROJECT = nox.project.load_toml("pyproject.toml")
# pytest-xdist, a worker per core: the tests are single-threaded Python and compilation, and on 2 cores two
# workers cut each session's time by a third or more
PARALLEL = ["--numprocesses", "auto"]
PYTHON = "3.11"
# XLA programs compiled by one test session are loaded, not compiled again, by the next
JAX_CACHE = {
    "JAX_COMPILATION_CACHE_DIR": os.path.abspath(os.path.join(".nox", "jax-compilation-cache")),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
}
# JAX's switch for smoke tests, in the per-framework test sessions only: XLA still compiles the same HLO
# program with the same passes and dot kernels, but LLVM does little optimisation work on the generated
# loops, which is most of a small program's compile time. Results move by an ulp or so (well within the
# suite's tolerances); tests_all, whose benchmarks must run what users run, keeps the default.
QUICK_COMPILE = {"JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}


FRAMEWORKS = ["numpy", "torch", "jax"]


def passed_record(framework: str) -> str:
    """Where tests(framework) lists the tests that passed, for tests_all to leave out."""
    return os.path.abspath(os.path.join(".nox", "passed", f"{framework}.txt"))


def install_with(session: nox.Session, extras: str, *groups: str) -> None:
    target = f".[{extras}]" if extras else "."
    session.install("-e", target)
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session(python=PYTHON)
@nox.parametrize("framework", FRAMEWORKS)
def tests(session: nox.Session, framework: str) -> None:
    """Unit and conformance tests with only one framework's extra installed (proves lazy imports and skips)."""
    install_with(session, "" if framework == "numpy" else framework, "test")
    # the framework-free modules run here with NumPy alone; tests_all runs those of them that skipped here
    only_framework = [] if framework == "numpy" else ["-m", "not framework_free"]
    record = ["--record-passed", passed_record(framework)]
    args = ["--benchmark-disable", *PARALLEL, *only_framework, *record, *session.posargs]
    session.run("pytest", "tests", *args, env=JAX_CACHE | QUICK_COMPILE)


@nox.session(python=PYTHON)
def tests_all(session: nox.Session) -> None:
    """Every framework at once: the full cross-framework conformance, each benchmark run once as a test, and
    the example plugin (examples/rnnbench-numba) through `rnnbench check` and the gate. A test that a
    tests(...) session of this same tree passed is left out (each listed it in .nox/passed/); run alone,
    or after an edit, it runs everything."""
    install_with(session, "all", "test")
    session.install("numba>=0.59")  # the example plugin's own dependency, not rnnbench's
    tests = ["tests", "benchmarks", "examples/rnnbench-numba/tests"]
    # what a tests(...) session passed on these same sources is not run again (tests/passed_record.py)
    skip = [arg for framework in FRAMEWORKS for arg in ("--skip-passed", passed_record(framework))]
    session.run("pytest", *tests, "--benchmark-disable", *PARALLEL, *skip, *session.posargs, env=JAX_CACHE)


@nox.session(python=PYTHON, default=False)
def tests_gpu(session: nox.Session) -> None:
    """The CUDA cases (marker `cuda`); they skip, saying why, where CUDA is absent."""
    install_with(session, "torch,jax", "test")
    session.run("pytest", "tests", "-m", "cuda", "-rs", "--benchmark-disable", *session.posargs)


@nox.session(python=PYTHON, default=False)
def mutants(session: nox.Session) -> None:
    """Mutation campaign (mutmut) over impls/ and the modules that make the benchmark's figures (timers,
    step point, shards, merge, analysis, cost model), against the NumPy and torch tests and those modules'
    fast tests: slow, so not run by default.

    Each mutant is one small change to one of those files ([tool.mutmut] in pyproject.toml says which
    files and which tests); the counts printed at the end say how many the tests killed. Work files go
    to mutants/. `nox -s mutants -- "rnnbench.bench.timing*"` runs only the mutants whose names match."""
    install_with(session, "torch", "mutants")
    # mutmut keeps which tests cover which function from its last run, and does not see tests change
    shutil.rmtree("mutants", ignore_errors=True)
    session.run("mutmut", "run", "--max-children", str(os.cpu_count() or 1), *session.posargs)
    session.run("mutmut", "results")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """The main job: the benchmark suite (quick profile unless told otherwise), then its report."""
    install_with(session, "all")
    session.run("rnnbench", "bench", *session.posargs)


@nox.session(python=PYTHON, default=False)
def report(session: nox.Session) -> None:
    """Re-make the report of a benchmark run (default: the newest in results/)."""
    install_with(session, "report")
    session.run("rnnbench", "report", *session.posargs)


if __name__ == "__main__":
    nox.main()
