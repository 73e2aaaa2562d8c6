"""Outside implementations (docs/DESIGN.md §9): discovery by entry point, a broken plugin in one line, and
the gate that keeps a failing one out of a benchmark. Nothing is installed: the entry points are fakes
that name test-only modules (tests/plugin_examples.py, tests/plugin_broken.py)."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import ragged_batch, random_params

import impls
from impls import plugins as plugin_discovery
from rnnbench import cli
from rnnbench.bench import gate, plan
from rnnbench.conformance import runner, verdicts


@dataclass(frozen=True)
class FakeDistribution:
    """What discovery reads of an importlib.metadata.Distribution."""

    metadata: tuple = (("Name", "rnnbench-test-plugins"),)
    version: str = "1.2.3"

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", dict(self.metadata))


@dataclass(frozen=True)
class FakeEntryPoint:
    """What discovery reads of an importlib.metadata.EntryPoint."""

    name: str
    value: str
    dist: FakeDistribution = FakeDistribution()


FORK = FakeEntryPoint("test-fork", "plugin_examples:ForkOfNumpy")
WRONG = FakeEntryPoint("test-wrong-sign", "plugin_examples:WrongSign")
BROKEN = FakeEntryPoint("test-broken", "plugin_broken:Anything")
MISSING = FakeEntryPoint("test-missing", "no_such_module_rnnbench.impl:Thing")
MALFORMED = FakeEntryPoint("test-malformed", "plugin_examples")
NOT_AN_IMPL = FakeEntryPoint("test-not-an-impl", "plugin_examples:NotAnImplementation")
MISNAMED = FakeEntryPoint("test-misnamed", "plugin_examples:ForkOfNumpy")
SHADOW = FakeEntryPoint("numpy-bptt", "plugin_examples:WrongSign")


@pytest.fixture
def register(monkeypatch):
    """register(*entry_points): the group holds exactly these from now on in this test."""

    def install(*eps: FakeEntryPoint) -> None:
        monkeypatch.setattr(plugin_discovery, "entry_points", lambda: list(eps))
        plugin_discovery.refresh()

    return install


def bench_args(tmp_path, names: str, *extra: str):
    return cli.build_parser().parse_args(
        ["bench", "--profile", "test", "--impl", names, "--skip-accuracy", "--results-dir", str(tmp_path), *extra]
    )


# -- discovery ------------------------------------------------------------------------------------------


def test_plugins_are_listed_after_the_builtin_ones(register):
    register(FORK)
    assert impls.names() == [*impls.IMPLS, "test-fork"]
    assert impls.available()[-1] == "test-fork"
    assert "test-fork" not in impls.available(device="cuda")
    assert impls.unavailable_reason("test-fork") is None


def test_a_plugin_module_is_imported_only_when_it_loads(register, monkeypatch):
    monkeypatch.delitem(sys.modules, "plugin_examples", raising=False)
    register(FORK)
    impls.available()
    impls.registry.check_known("test-fork")
    assert "plugin_examples" not in sys.modules
    config = impls.ModelConfig(7, 5, 3, dtype="float64")
    params = random_params(config, seed=1)
    model = impls.load("test-fork", config, params)
    assert "plugin_examples" in sys.modules
    batch = ragged_batch(config, 4, 5, seed=2)
    np.testing.assert_array_equal(model.logits(batch), impls.load("numpy-bptt", config, params).logits(batch))


def test_a_plugin_runs_on_the_devices_its_class_names(register):
    register(FORK)
    config = impls.ModelConfig(7, 5, 3)
    with pytest.raises(impls.InputError, match="unknown device 'cuda' for test-fork; it runs on: cpu"):
        impls.load("test-fork", config, random_params(config), device="cuda")


def test_a_builtin_name_wins_over_a_plugin(register, caplog):
    register(SHADOW, FORK)
    with caplog.at_level("WARNING", logger="impls"):
        assert impls.names() == [*impls.IMPLS, "test-fork"]
    shadowed = "plugin numpy-bptt (rnnbench-test-plugins 1.2.3, plugin_examples:WrongSign) ignored: numpy-bptt is"
    assert [r.getMessage() for r in caplog.records] == [f"{shadowed} a built-in implementation"]
    config = impls.ModelConfig(7, 5, 3)
    assert type(impls.load("numpy-bptt", config, random_params(config))).__name__ == "NumpyBPTT"


def test_a_second_plugin_of_the_same_name_is_ignored(register, caplog):
    register(FORK, FakeEntryPoint("test-fork", "plugin_examples:WrongSign"))
    with caplog.at_level("WARNING", logger="impls"):
        assert impls.registry.plugins()["test-fork"].target == "plugin_examples:ForkOfNumpy"
    assert "is taken by" in caplog.text


@pytest.mark.parametrize(
    ("entry_point", "why"),
    [(MISSING, "its module no_such_module_rnnbench.impl is not installed"), (MALFORMED, "not of the form")],
)
def test_a_plugin_known_broken_is_left_out_in_one_line(register, caplog, entry_point, why):
    register(entry_point, FORK)
    with caplog.at_level("WARNING", logger="impls"):
        assert impls.available()[-1] == "test-fork"
    assert entry_point.name not in impls.available()
    lines = caplog.text.strip().splitlines()
    assert len(lines) == 1
    assert entry_point.name in lines[0]
    assert why in lines[0]
    assert why in impls.unavailable_reason(entry_point.name)
    config = impls.ModelConfig(7, 5, 3)
    with pytest.raises(plugin_discovery.PluginError, match=why):
        impls.load(entry_point.name, config, random_params(config))


@pytest.mark.parametrize(
    ("entry_point", "why"),
    [
        (BROKEN, r"cannot import: ModuleNotFoundError: No module named 'no_such_framework_rnnbench'$"),
        (NOT_AN_IMPL, r"plugin_examples:NotAnImplementation is not a subclass of impls\.RNNImpl$"),
        (MISNAMED, r"its class's name is 'test-fork', not 'test-misnamed'$"),
    ],
)
def test_a_plugin_that_fails_to_load_says_so_in_one_line(register, entry_point, why):
    """Known only when it loads: listed, its load a one-line PluginError naming it, the others unharmed."""
    register(entry_point, FORK)
    assert impls.available()[-2:] == [entry_point.name, "test-fork"]
    config = impls.ModelConfig(7, 5, 3)
    with pytest.raises(plugin_discovery.PluginError) as raised:
        impls.load(entry_point.name, config, random_params(config))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"plugin {entry_point.name} (rnnbench-test-plugins 1.2.3, {entry_point.value}): ")
    assert re.search(why, message)
    impls.load("test-fork", config, random_params(config))


def test_check_list_names_each_implementation_in_a_line(register, capsys):
    register(BROKEN, MISSING, FORK)
    assert cli.main(["check", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[: len(impls.IMPLS)] == [line for line in out if "built in" in line]
    assert "test-fork: plugin from rnnbench-test-plugins 1.2.3" in out
    missing = [line for line in out if line.startswith("test-missing:")]
    assert len(missing) == 1
    assert "cannot run here" in missing[0]


# -- rnnbench check --------------------------------------------------------------------------------------


def test_check_passes_a_faithful_fork_and_records_it(register, tmp_path, capsys):
    register(FORK)
    assert cli.main(["check", "test-fork", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "float64 forward, loss, gradients" in out
    assert "bad input" in out
    assert "all 120 cases passed" in out
    found = verdicts.find(tmp_path, "test-fork")
    assert found["passed"] is True
    assert found["fingerprint"]["distribution"] == "rnnbench-test-plugins"
    assert found["fingerprint"]["files_sha256"]


def test_check_fails_naming_the_gradient_that_disagrees(register, tmp_path, capsys):
    register(WRONG)
    assert cli.main(["check", "test-wrong-sign", "--results-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    first = "logits_loss_and_grads[V7-H5-C3-tanh-float64]: grad W_hh: relative error"
    assert f"the first: {first}" in out
    assert verdicts.find(tmp_path, "test-wrong-sign")["first_failure"].startswith(first)


def test_check_of_a_broken_plugin_fails_at_loading(register, tmp_path, capsys):
    register(BROKEN)
    assert cli.main(["check", "test-broken", "--no-record", "--results-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "load: PluginError: plugin test-broken" in out
    assert not (tmp_path / verdicts.CHECKS_FOLDER).exists()


def test_check_of_an_unknown_name_is_bad_input(capsys):
    assert cli.main(["check", "no-such-impl"]) == 2
    assert "unknown implementation 'no-such-impl'; known: numpy-bptt" in capsys.readouterr().err


def test_a_case_that_raises_is_a_failure_and_the_next_case_runs(register):
    register(FORK)
    cases = runner.CASES[:2]
    boom = runner.Case("boom", cases[0].group, lambda _name: 1 / 0)
    outcomes = runner.run_cases("test-fork", [boom, *cases])
    assert [o.passed for o in outcomes] == [False, True, True]
    assert outcomes[0].message == "ZeroDivisionError: division by zero"


# -- the gate ---------------------------------------------------------------------------------------------


def test_bench_refuses_a_failing_plugin_and_records_why(register, tmp_path):
    register(WRONG)
    p = plan.make_plan(bench_args(tmp_path, "numpy-bptt,test-wrong-sign", "--run-id", "r"))
    assert p.sweep.impls == ("numpy-bptt",)
    assert all(spec.impl != "test-wrong-sign" for spec in p.specs)
    recorded = json.loads((tmp_path / "r" / "run.json").read_text())["gate"]["test-wrong-sign"]
    assert recorded["checked"] is True
    assert recorded["passed"] is False
    assert recorded["first_failure"].startswith("logits_loss_and_grads[V7-H5-C3-tanh-float64]: grad W_hh")
    assert "not measured: failed rnnbench check at logits_loss_and_grads" in gate.describe("test-wrong-sign", recorded)


def test_bench_with_only_a_failing_plugin_measures_nothing(register, tmp_path):
    register(WRONG)
    with pytest.raises(plan.PlanError, match=r"no implementation left to measure: test-wrong-sign .* grad W_hh"):
        plan.make_plan(bench_args(tmp_path, "test-wrong-sign"))


def test_bench_measures_a_passing_plugin_and_reuses_its_record(register, tmp_path, monkeypatch):
    register(FORK)
    first = plan.make_plan(bench_args(tmp_path, "test-fork,numpy-bptt", "--run-id", "a"))
    assert first.sweep.impls == ("test-fork", "numpy-bptt")
    assert first.gate["test-fork"]["passed"] is True
    assert first.gate["test-fork"]["how"].startswith("checked")

    def not_again(_name):
        raise AssertionError("the check ran again although a passing record holds for this code")

    monkeypatch.setattr(runner, "check", not_again)
    again = plan.make_plan(bench_args(tmp_path, "test-fork,numpy-bptt", "--run-id", "b"))
    assert again.gate["test-fork"]["how"].startswith("recorded")
    assert any(spec.impl == "test-fork" for spec in again.specs)


def test_a_record_holds_for_its_code_version_only(register, tmp_path, monkeypatch):
    register(FORK)
    fp = verdicts.fingerprint("test-fork")
    verdicts.save(tmp_path, {"impl": "test-fork", "passed": True, "fingerprint": fp})
    assert verdicts.find(tmp_path, "test-fork") is not None
    monkeypatch.setattr(verdicts, "package_files_sha256", lambda _module: "another version of the files")
    assert verdicts.find(tmp_path, "test-fork") is None


def test_no_check_lets_a_plugin_through_and_marks_the_run(register, tmp_path):
    register(WRONG)
    p = plan.make_plan(bench_args(tmp_path, "test-wrong-sign", "--no-check", "--run-id", "dev"))
    assert p.sweep.impls == ("test-wrong-sign",)
    recorded = json.loads((tmp_path / "dev" / "run.json").read_text())["gate"]["test-wrong-sign"]
    assert recorded["checked"] is False
    assert recorded["how"] == "--no-check"
    assert not (tmp_path / verdicts.CHECKS_FOLDER).exists()


def test_builtin_implementations_are_not_gated(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "check", lambda _name: pytest.fail("a built-in implementation was checked"))
    p = plan.make_plan(bench_args(tmp_path, "numpy-bptt", "--run-id", "b"))
    assert p.gate == {}
    assert "gate" not in json.loads((tmp_path / "b" / "run.json").read_text())
