"""--shard K/N: disjoint shares that together cover the sweep's work, balanced by expected cost, stable
across processes and machines, each with its own matmul peak and C baseline; bad forms refused.

The plans are built without measuring anything (rnnbench.bench.plan.make_plan writes only run.json).
"""

from __future__ import annotations

import random

import pytest

import impls
from rnnbench import cli
from rnnbench.bench import plan, points, shards
from rnnbench.bench.profiles import PROFILES

QUICK = PROFILES["quick"]
COUNTS = (1, 2, 3, 5)
BOUNDS = (points.PeakPoint, points.BaselinePoint)


def sweep_of(profile=QUICK, sweep=True, accuracy=True) -> points.Sweep:
    """Every registered implementation (points need no framework), two thread counts."""
    return points.Sweep(
        tuple(impls.IMPLS),
        profile,
        threads=(1, 2),
        fused=tuple(n for n in impls.IMPLS if n in impls.FUSED_EPOCH),
        sweep=sweep,
        accuracy=accuracy,
    )


def work_ids(pts) -> list[str]:
    return [p.point_id for p in pts if not isinstance(p, BOUNDS)]


@pytest.mark.parametrize(("text", "shard"), [("1/2", shards.Shard(1, 2)), (" 3 / 3 ", shards.Shard(3, 3))])
def test_parse_shard(text, shard):
    assert shards.parse_shard(text) == shard


@pytest.mark.parametrize("text", ["3/2", "0/2", "a/b", "", "1/0", "1", "-1/2", "1/2/3", "1.5/2"])
def test_parse_shard_refuses(text):
    with pytest.raises(ValueError, match="--shard"):
        shards.parse_shard(text)


@pytest.mark.parametrize("count", COUNTS)
def test_shares_cover_the_work_once(count):
    everything = points.all_points(sweep_of())
    shares = shards.assign(everything, count, QUICK)
    dealt = [i for share in shares for i in work_ids(share)]
    assert sorted(dealt) == sorted(work_ids(everything))
    assert len(dealt) == len(set(dealt))


@pytest.mark.parametrize("count", COUNTS)
def test_shares_keep_the_sweep_order(count):
    everything = points.all_points(sweep_of())
    order = {p.point_id: k for k, p in enumerate(everything)}
    for share in shards.assign(everything, count, QUICK):
        ranks = [order[p.point_id] for p in share]
        assert ranks == sorted(ranks)


@pytest.mark.parametrize("count", COUNTS)
def test_shares_are_balanced_by_expected_cost(count):
    """Longest first, each to the lightest share: no share exceeds another by more than one point."""
    everything = points.all_points(sweep_of())
    loads = [sum(points.expected_seconds(p, QUICK) for p in s) for s in shards.assign(everything, count, QUICK)]
    largest = max(points.expected_seconds(p, QUICK) for p in everything if not isinstance(p, BOUNDS))
    assert max(loads) - min(loads) <= largest


@pytest.mark.parametrize("count", COUNTS)
def test_assignment_depends_only_on_the_points(count):
    """Machines that list the sweep in another order still deal out the same shares."""
    everything = points.all_points(sweep_of())
    shuffled = list(everything)
    random.Random(count).shuffle(shuffled)
    a = [set(work_ids(s)) for s in shards.assign(everything, count, QUICK)]
    b = [set(work_ids(s)) for s in shards.assign(shuffled, count, QUICK)]
    assert a == b


@pytest.mark.parametrize("count", COUNTS)
def test_each_shard_measures_its_own_bounds(count):
    everything = points.all_points(sweep_of())
    for k in range(1, count + 1):
        shard = shards.Shard(k, count)
        mine = shards.shard_points(everything, shard, QUICK)
        steps = [p for p in mine if isinstance(p, points.StepPoint)]
        for t in {p.threads for p in steps}:
            assert points.PeakPoint(t, shard.tag) in mine
            shapes = {(p.hidden, p.seq_len, p.batch) for p in steps if p.threads == t}
            baselines = {
                (p.hidden, p.seq_len, p.batch) for p in mine if isinstance(p, points.BaselinePoint) and p.threads == t
            }
            assert baselines == shapes
        assert all(p.shard == shard.tag for p in mine if isinstance(p, BOUNDS))


def test_an_accuracy_only_sweep_shards_without_bounds():
    everything = points.all_points(sweep_of(sweep=False))
    mine = shards.shard_points(everything, shards.Shard(1, 2), QUICK)
    assert mine
    assert all(isinstance(p, points.AccuracyPoint) for p in mine)


def bench_args(tmp_path, *extra: str):
    names = ",".join(impls.available())
    return cli.build_parser().parse_args(
        ["bench", "--profile", "test", "--impl", names, "--skip-accuracy", "--results-dir", str(tmp_path), *extra]
    )


@pytest.mark.parametrize("count", [2, 3])
def test_sharded_plans_cover_the_unsharded_plan(tmp_path, count):
    """What `bench --shard K/N --machine M_K` measures, over K: the step and epoch points of the plain
    sweep, each once."""
    whole = plan.make_plan(bench_args(tmp_path, "--run-id", "whole"))
    expected = sorted(i for s in whole.specs for i in s.point_ids if i.startswith(("step-", "epoch-")))
    measured = []
    for k in range(1, count + 1):
        p = plan.make_plan(bench_args(tmp_path, "--shard", f"{k}/{count}", "--machine", f"m{k}", "--run-id", f"s{k}"))
        assert p.machine == f"m{k}"
        ids = [i for s in p.specs for i in s.point_ids]
        work = [i for i in ids if i.startswith(("step-", "epoch-"))]
        measured += work
        # a shard with work measures its own machine's bounds; one left without work (more shards than
        # points) measures nothing
        assert (f"peak-t1-s{k}of{count}" in ids) == bool(work)
    assert sorted(measured) == expected


@pytest.mark.parametrize("form", ["3/2", "0/2", "a/b"])
def test_bench_refuses_a_bad_shard_and_writes_nothing(tmp_path, capsys, form):
    results_dir = tmp_path / "results"
    code = cli.main(
        ["bench", "--profile", "test", "--impl", "numpy-bptt", "--shard", form, "--results-dir", str(results_dir)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert "--shard" in err[0]
    assert not results_dir.exists()
