"""--shard K/N dealt on several machines: each machine is another Python process, with its own string
hashing (PYTHONHASHSEED), and each must deal the same sweep into the same shares, so that the shards
together measure every point exactly once.

Many points of a sweep have the same expected cost (every small shape costs its rounds' time), so the
dealing breaks many ties: a tie broken by anything that differs between processes moves points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import impls
import rnnbench
from rnnbench.bench import points, shards
from rnnbench.bench.profiles import PROFILES

COUNTS = (2, 3, 5)
HASH_SEEDS = ("0", "1", "4242")  # one per "machine"
BOUNDS = (points.PeakPoint, points.BaselinePoint)

# what one machine computes: for each shard count, the work points of each shard K (sharded sweeps are
# dealt by shard_points, as `rnnbench bench --shard K/N` does)
DEAL = """
import json, sys
import impls
from rnnbench.bench import points, shards
from rnnbench.bench.profiles import PROFILES

profile = PROFILES[sys.argv[1]]
fused = tuple(n for n in impls.IMPLS if n in impls.FUSED_EPOCH)
sweep = points.Sweep(tuple(impls.IMPLS), profile, threads=(1, 2), fused=fused)
everything = points.all_points(sweep)
out = {}
for count in map(int, sys.argv[2:]):
    out[count] = [
        [p.point_id for p in shards.shard_points(everything, shards.Shard(k, count), profile)]
        for k in range(1, count + 1)
    ]
print(json.dumps(out))
"""


def work_ids(ids) -> list[str]:
    return [i for i in ids if not isinstance(points.parse_point_id(i), BOUNDS)]


def sweep_ids(profile_name: str) -> list[str]:
    fused = tuple(n for n in impls.IMPLS if n in impls.FUSED_EPOCH)
    sweep = points.Sweep(tuple(impls.IMPLS), PROFILES[profile_name], threads=(1, 2), fused=fused)
    return work_ids(p.point_id for p in points.all_points(sweep))


def deal_in_a_process(profile_name: str, hash_seed: str) -> dict[int, list[list[str]]]:
    """The shares as a process with this PYTHONHASHSEED deals them, importing this very rnnbench."""
    here = {str(Path(m.__file__).resolve().parent.parent) for m in (rnnbench, impls)}
    env = os.environ | {"PYTHONHASHSEED": hash_seed}
    env["PYTHONPATH"] = os.pathsep.join([*sorted(here), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", DEAL, profile_name, *map(str, COUNTS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {int(k): v for k, v in json.loads(done.stdout).items()}


@pytest.fixture(scope="module", params=["quick", "full"])
def machines(request) -> tuple[str, list[dict[int, list[list[str]]]]]:
    """(profile name, what each machine dealt), one machine per hash seed."""
    return request.param, [deal_in_a_process(request.param, seed) for seed in HASH_SEEDS]


def test_the_sweep_has_ties_to_break(machines):
    """The premise: many points share an expected cost, so the tie-break decides where they go."""
    profile_name, _ = machines
    profile = PROFILES[profile_name]
    costs = [points.expected_seconds(points.parse_point_id(i), profile) for i in sweep_ids(profile_name)]
    assert len(set(costs)) < len(costs) // 2


@pytest.mark.parametrize("count", COUNTS)
def test_every_process_deals_the_same_shares(machines, count):
    _, dealt = machines
    first, *others = (d[count] for d in dealt)
    for other in others:
        assert other == first


@pytest.mark.parametrize("count", COUNTS)
def test_shards_dealt_on_different_machines_cover_the_sweep_once(machines, count):
    """Machine K (its own hash seed) measures shard K: together, every work point once."""
    profile_name, dealt = machines
    measured = [i for k in range(count) for i in work_ids(dealt[k % len(dealt)][count][k])]
    assert len(measured) == len(set(measured))  # none in two shards
    assert sorted(measured) == sorted(sweep_ids(profile_name))  # none in no shard


@pytest.mark.parametrize("count", COUNTS)
def test_a_process_deals_as_this_one_does(machines, count):
    profile_name, dealt = machines
    profile = PROFILES[profile_name]
    fused = tuple(n for n in impls.IMPLS if n in impls.FUSED_EPOCH)
    everything = points.all_points(points.Sweep(tuple(impls.IMPLS), profile, threads=(1, 2), fused=fused))
    here = [
        [p.point_id for p in shards.shard_points(everything, shards.Shard(k, count), profile)]
        for k in range(1, count + 1)
    ]
    assert dealt[0][count] == here


# -- the dealing rule itself, in this process ------------------------------------------------------------

QUICK = PROFILES["quick"]


def test_one_shard_of_one_is_the_whole_sweep():
    assert shards.parse_shard("1/1") == shards.Shard(1, 1)
    everything = points.all_points(points.Sweep(("numpy-bptt",), QUICK, threads=(1,)))
    mine = shards.shard_points(everything, shards.Shard(1, 1), QUICK)
    assert work_ids(p.point_id for p in mine) == work_ids(p.point_id for p in everything)


def test_the_longest_point_is_dealt_first():
    """One point that outweighs three others together goes alone to the first share; dealt shortest
    first, it would end up beside one of them."""
    big = points.StepPoint("numpy-bptt", 256, 32, 512, 1)
    small = [points.StepPoint("numpy-bptt", 8, 8, b, 1) for b in (1, 2, 4)]
    assert points.expected_seconds(big, QUICK) > 3 * max(points.expected_seconds(p, QUICK) for p in small)
    assert shards.assign([*small, big], 2, QUICK) == [[big], small]


@pytest.mark.parametrize("count", COUNTS)
def test_shard_k_measures_the_kth_share(count):
    everything = points.all_points(points.Sweep(tuple(impls.IMPLS), QUICK, threads=(1, 2)))
    shares = shards.assign(everything, count, QUICK)
    for k in range(1, count + 1):
        mine = shards.shard_points(everything, shards.Shard(k, count), QUICK)
        assert [p for p in mine if not isinstance(p, BOUNDS)] == shares[k - 1]


def test_a_sweep_without_bounds_gets_none_in_its_shards():
    everything = points.all_points(points.Sweep(("numpy-bptt",), QUICK, threads=(1,)))
    without = [p for p in everything if not isinstance(p, BOUNDS)]
    mine = shards.shard_points(without, shards.Shard(1, 2), QUICK)
    assert mine
    assert not [p for p in mine if isinstance(p, BOUNDS)]
