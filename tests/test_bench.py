"""The measurement package: point ids, the sweep, the record schema, and one worker end to end.

Nothing here asserts a speed: a tiny profile proves the path works and writes what the schema says.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

import impls
from rnnbench import machine
from rnnbench.bench import points
from rnnbench.bench.profiles import PROFILES
from rnnbench.bench.worker import WorkerSpec
from rnnbench.runs import records, store

TEST = PROFILES["test"]
EXAMPLES = [
    points.StepPoint("numpy-bptt", 64, 8, 1, 1),
    points.StepPoint("jax-scan", 256, 32, 512, 2, "epoch"),
    points.StepPoint("torch-nnrnn", 16, 4, 8, 1, "step", "cuda"),
    points.BaselinePoint(64, 8, 32, 2),
    points.BaselinePoint(64, 8, 32, 1, "s2of3"),
    points.PeakPoint(1),
    points.PeakPoint(4, "s1of2"),
    points.AccuracyPoint("torch-autograd", 32, 1),
    points.AccuracyPoint("jax-scan", 1, 2, "cuda:1", 4),
]


@pytest.mark.parametrize("point", EXAMPLES, ids=lambda p: p.point_id)
def test_point_ids_name_their_points(point):
    assert points.parse_point_id(point.point_id) == point


@pytest.mark.parametrize("text", ["", "step-numpy-bptt", "peak", "peak-t1-s1", "floor-t1-H1-T1-B1", "step-x-cpu-t1-H1"])
def test_what_is_not_a_point_id(text):
    with pytest.raises(ValueError, match="not a point id"):
        points.parse_point_id(text)


def test_the_sweep_in_order():
    sweep = points.Sweep(("numpy-bptt", "jax-scan"), TEST, threads=(1, 2), fused=("jax-scan",))
    everything = points.all_points(sweep)
    ids = [p.point_id for p in everything]
    assert len(ids) == len(set(ids))
    grid = len(TEST.hidden) * len(TEST.seq_len) * len(TEST.batch_sizes)
    steps = [p for p in everything if isinstance(p, points.StepPoint)]
    assert len(steps) == 2 * (2 * grid + grid)  # per thread count: numpy steps, jax steps and epochs
    assert {p.kind for p in steps if p.impl == "numpy-bptt"} == {"step"}
    for t in (1, 2):  # the machine's bounds first: the report reads every point against them
        at_t = [p for p in everything if p.threads == t]
        assert isinstance(at_t[0], points.PeakPoint)
        assert sum(isinstance(p, points.BaselinePoint) for p in at_t) == grid
    assert [p.batch for p in steps if p.impl == "numpy-bptt" and p.threads == 1] == list(TEST.batch_sizes)


def test_sweep_without_accuracy_or_steps():
    sweep = points.Sweep(("numpy-bptt",), TEST, threads=(1,), accuracy=False)
    assert not any(isinstance(p, points.AccuracyPoint) for p in points.all_points(sweep))
    only_accuracy = points.all_points(replace(sweep, sweep=False, accuracy=True))
    assert all(isinstance(p, points.AccuracyPoint) for p in only_accuracy)


@pytest.mark.parametrize("name", sorted(impls.IMPLS))
def test_fused_epoch_registry_matches_the_class(name):
    """impls.FUSED_EPOCH (read without importing a framework) says what the class does."""
    pytest.importorskip(impls.registry.FRAMEWORKS[name][0], reason=f"{name}'s framework is not installed")
    import importlib

    from impls.base import RNNImpl

    module, cls = impls.IMPLS[name].split(":")
    fuses = getattr(importlib.import_module(module), cls)._train_epoch is not RNNImpl._train_epoch
    assert fuses == (name in impls.FUSED_EPOCH)


def test_machine_label_is_a_valid_name_and_not_the_host():
    label = machine.machine_label()
    assert store.check_name(label, "a machine label") == label
    assert f"-{machine.cpu()['usable_cores']}c" in label


def test_an_accuracy_id_from_before_seeds_is_seed_0():
    assert points.parse_point_id("accuracy-numpy-bptt-cpu-t1-B32") == points.AccuracyPoint("numpy-bptt", 32, 1)


def test_accuracy_points_run_every_batch_size_at_a_seed_before_the_next_seed():
    sweep = points.Sweep(("numpy-bptt", "jax-scan"), replace(TEST, acc_seeds=3), threads=(1,), sweep=False)
    got = [(p.impl, p.seed, p.batch) for p in points.all_points(sweep)]
    assert got[:6] == [("numpy-bptt", s, b) for s in range(3) for b in TEST.acc_batch_sizes]
    assert len(got) == len(set(got)) == 2 * 3 * len(TEST.acc_batch_sizes)


@pytest.fixture(scope="module")
def worker_run(tmp_path_factory):
    """One worker process (numpy-bptt, threads 1) over a step point and an accuracy point."""
    run_dir = tmp_path_factory.mktemp("runs") / "w"
    ids = ("step-numpy-bptt-cpu-t1-H16-T4-B8", "accuracy-numpy-bptt-cpu-t1-B16-s1")
    spec = WorkerSpec(str(run_dir), "w", "box-1c", "numpy-bptt", 1, "cpu", vars(TEST), ids)
    path = run_dir.parent / "spec.json"
    path.write_text(spec.to_json(), encoding="utf-8")
    done = subprocess.run(
        spec.command(path), capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL
    )
    return run_dir, done


def test_worker_measures_each_point_and_prints_one_line_each(worker_run):
    _, done = worker_run
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip().startswith("[")]
    assert len(lines) == 2
    assert "/record" in lines[0]
    assert "best val acc" in lines[1]
    assert "Traceback" not in done.stderr


def test_worker_records_follow_the_schema(worker_run):
    run_dir, _ = worker_run
    found = store.read_points(run_dir)
    assert not found.unreadable
    kinds = {r["kind"] for r in found.records}
    assert kinds == {"step", "accuracy", "noise"}
    tables = store.tables(run_dir)
    for name, rows in tables.items():
        for row in rows:
            assert tuple(row) == records.columns(records.TABLES[name]), name
    (summary,) = tables["summary"]
    assert summary["machine"] == "box-1c"
    # the loop check may flag a round that the OS preempted between two calls on a busy machine: the
    # record is still measured, and nothing but that check may flag it
    assert summary["status"] in ("ok", "flagged"), summary["problems"]
    assert all(p.startswith("loop check") for p in summary["problems"]), summary["problems"]
    assert summary["api_check_s"] > 0
    assert summary["api_convert_s"] > 0
    assert {(r["point_id"], r["seed"]) for r in tables["accuracy"]} == {("accuracy-numpy-bptt-cpu-t1-B16-s1", 1)}
    assert [r["when"] for r in tables["noise"]] == ["start", "end"]
    assert all(r["sentinel_s"] > 0 for r in tables["noise"])
    assert store.load_environment(run_dir)["box-1c"][-1]["threads_setting"] == 1


def test_combine_writes_every_table(worker_run):
    run_dir, _ = worker_run
    paths = store.combine(run_dir)
    assert paths["samples"].name == "samples.csv.gz"
    samples = store.read_table(run_dir, "samples")
    assert samples
    assert set(samples[0]) == set(records.columns(records.Sample))
    header = paths["summary"].read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == list(records.columns(records.Summary))


def test_worker_rejects_a_bad_spec(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"run_dir": str(tmp_path)}), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "rnnbench.bench.worker", str(path)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert "cannot read the spec" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", sorted(impls.IMPLS))
def test_framework_inputs_convert_without_training(name):
    """The conversion the benchmark times apart as the API's price runs alone and changes nothing."""
    if reason := impls.unavailable_reason(name):
        pytest.skip(reason)
    import numpy as np

    from rnnbench.bench import step, workload

    config = workload.synthetic_config(8)
    params = impls.init_params(config, seed=0)
    model = impls.load(name, config, params)
    (batch,) = workload.synthetic_batches(2, 3, 1)
    assert model._framework_inputs(batch) is not None
    assert step.api_seconds(lambda: model._framework_inputs(batch), model.sync) > 0
    for key, value in model.get_params().items():
        np.testing.assert_array_equal(value, params[key])
