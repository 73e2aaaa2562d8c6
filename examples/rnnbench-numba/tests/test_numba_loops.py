"""numba-loops passes `rnnbench check`; a copy with one bug (a sign in the W_hh gradient) fails it, naming
that gradient, and `rnnbench bench` refuses to time it. Nothing is installed here: the package's own
entry point (read from its pyproject.toml) is registered over its source folder.

    python -m pytest examples/rnnbench-numba/tests -p no:cacheprovider
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("numba", reason="numba-loops needs numba (pip install numba)")

import impls
from impls import plugins as plugin_discovery
from rnnbench import cli
from rnnbench.bench import plan

PACKAGE = Path(__file__).resolve().parents[1]
ENTRY_POINTS = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]["entry-points"][
    plugin_discovery.GROUP
]


def register(monkeypatch, *entry_points: importlib.metadata.EntryPoint) -> None:
    monkeypatch.setattr(plugin_discovery, "entry_points", lambda: list(entry_points))
    plugin_discovery.refresh()


@pytest.fixture
def numba_loops(monkeypatch):
    """numba-loops registered as its pyproject.toml declares it, its source importable."""
    monkeypatch.syspath_prepend(str(PACKAGE / "src"))
    (name, value), *_ = ENTRY_POINTS.items()
    register(monkeypatch, importlib.metadata.EntryPoint(name, value, plugin_discovery.GROUP))
    yield name
    plugin_discovery.refresh()


@pytest.fixture
def buggy_copy(monkeypatch, tmp_path):
    """A copy of the package as rnnbench_numba_bug, registered as numba-loops-bug, with dW_hh's sign flipped."""
    copy = tmp_path / "rnnbench_numba_bug"
    shutil.copytree(PACKAGE / "src" / "rnnbench_numba", copy)
    kernels = copy / "kernels.py"
    text, flips = re.subn(r"gW_hh\[i, j\] \+= d \* hs\[t, j\]", "gW_hh[i, j] -= d * hs[t, j]", kernels.read_text())
    assert flips == 1, "the W_hh gradient line of kernels.py moved: update this fixture"
    kernels.write_text(text)
    impl = copy / "impl.py"
    impl.write_text(
        impl.read_text()
        .replace("from rnnbench_numba import", "from rnnbench_numba_bug import")
        .replace('name = "numba-loops"', 'name = "numba-loops-bug"')
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    register(
        monkeypatch,
        importlib.metadata.EntryPoint("numba-loops-bug", "rnnbench_numba_bug.impl:NumbaLoops", plugin_discovery.GROUP),
    )
    yield "numba-loops-bug"
    plugin_discovery.refresh()
    sys.modules.pop("rnnbench_numba_bug.impl", None)
    sys.modules.pop("rnnbench_numba_bug.kernels", None)
    sys.modules.pop("rnnbench_numba_bug", None)


def test_the_package_declares_one_entry_point():
    assert ENTRY_POINTS == {"numba-loops": "rnnbench_numba.impl:NumbaLoops"}


def test_numba_loops_passes_check(numba_loops, tmp_path, capsys):
    assert numba_loops in impls.available()
    assert cli.main(["check", numba_loops, "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "all 120 cases passed" in out
    assert "float64 forward, loss, gradients    5       5  -" in out


def test_numba_loops_fuses_its_epoch(numba_loops):
    assert impls.registry.fuses_epoch(numba_loops)


def test_a_copy_with_a_sign_bug_fails_check_and_is_not_timed(buggy_copy, tmp_path, capsys):
    assert cli.main(["check", buggy_copy, "--results-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "the first: logits_loss_and_grads[V7-H5-C3-tanh-float64]: grad W_hh: relative error" in out
    flags = ["--profile", "test", "--impl", f"numpy-bptt,{buggy_copy}", "--skip-accuracy", "--run-id", "gated"]
    args = cli.build_parser().parse_args(["bench", *flags, "--results-dir", str(tmp_path)])
    p = plan.make_plan(args)  # finds the failing record the check just wrote
    assert p.sweep.impls == ("numpy-bptt",)
    assert p.gate[buggy_copy]["first_failure"].startswith("logits_loss_and_grads[V7-H5-C3-tanh-float64]: grad W_hh")
