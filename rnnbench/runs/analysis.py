"""Figures derived from a run's tables, computed once: the report, compare and fit.csv read them here.

    load(run_dir)                     the run's tables: from its point files, else from its CSVs
    enrich(summary, peak, baseline)   each step/epoch row with its machine's matmul peak at its thread
                                      count, % of that peak, and its ratio to the C baseline's cost at
                                      the same shape (of the same machine)
    configs(enriched)                 per configuration: its points by B, the best B, B=1's API share
    fits(summary)                     time_per_step(B) = overhead + B x marginal per configuration
                                      with at least FIT_MIN_BATCHES batch sizes
    memory_growth(summary)            a step's peak memory rise against the BPTT cache's rise
    time_to_target(evals, target)     training seconds to a validation accuracy (epochs_to_target: epochs)
    accuracy_runs(evals, target)      per training run (one seed): accuracy, speed, time to target on both
                                      clocks, epochs to target (over seeds: rnnbench.runs.seeds)
    worker_noise(noise), loaded(...)  the sentinel's drift per worker; points measured on a busy machine
    gate_counts(summary)              the quiet gate's busy rounds and loaded points
    winners(configs)                  per machine, the fastest call at B=1 and at its best B, among the
                                      calls and batch sizes every machine measured
    overhead_parts(configs, fits)     per train_step configuration at B=1: dispatches x their price beside
                                      the fitted overhead, and the share of it they explain

Plain Python and NumPy over lists of row dicts (rnnbench.runs.records columns): no pandas needed.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from rnnbench.runs import records, store
from rnnbench.runs.costmodel import fit_overhead_marginal
from rnnbench.runs.records import to_float

CONFIG = ("machine", "impl", "device", "threads", "hidden", "seq_len", "kind")  # a configuration: all but B
MEMORY_GROWTH_LIMIT = 4.0  # a step peak rising more than this many times the cache's rise grows beyond it
FIT_MIN_BATCHES = 3  # two points always fit a line exactly: a fit needs a third to say anything
TARGET_FRACTION = 0.9  # the default target accuracy: this fraction of the run's best
NOISE_DRIFT_LIMIT = 0.10  # a worker whose sentinel moved more than this fraction ran on a changing machine


def load(run_dir: str | Path, skip: Sequence[str] = ("samples",)) -> dict[str, list[dict]]:
    """The run's rows by table name (fit excluded: see fits): from its point files, or from its CSV
    files where it has none (a committed run may keep only those). skip: tables not needed (the raw
    samples are large)."""
    found = store.read_points(run_dir).records
    if found or store.point_files(run_dir):
        return {k: v for k, v in store.tables(run_dir, found).items() if k not in skip}
    return {n: store.read_table(run_dir, n) for n in records.TABLES if n != "fit" and n not in skip}


def usable(rows: Iterable[dict]) -> list[dict]:
    """Rows whose point counts: it passed its checks, and the quiet gate did not leave it loaded (too few
    of its rounds ran on a quiet machine). Failed and loaded points are left out of every figure."""
    return [r for r in rows if r.get("status") != "failed" and r.get("loaded") is not True]


def peaks(peak_rows: Iterable[dict]) -> dict[tuple[str, int], float]:
    """(machine, threads) -> the best matmul GFLOP/s measured there: the denominator of % of peak."""
    best: dict[tuple[str, int], float] = {}
    for r in peak_rows:
        key = (str(r["machine"]), int(r["threads"]))
        best[key] = max(best.get(key, 0.0), to_float(r["gflops"]))
    return best


def baselines(baseline_rows: Iterable[dict]) -> dict[tuple[str, int, int, int, int], float]:
    """(machine, threads, H, T, B) -> the C baseline's median per-record seconds there (the median over
    shards when several shards of one machine measured the same shape)."""
    found: dict[tuple, list[float]] = defaultdict(list)
    for r in usable(baseline_rows):
        key = (str(r["machine"]), int(r["threads"]), int(r["hidden"]), int(r["seq_len"]), int(r["batch"]))
        found[key].append(to_float(r["per_record_median_s"]))
    return {k: statistics.median(v) for k, v in found.items()}


def enrich(summary: Iterable[dict], peak_rows: Iterable[dict], baseline_rows: Iterable[dict]) -> list[dict]:
    """The usable summary rows, each with peak_gflops, pct_of_peak and x_baseline (per-record cost over
    the C baseline's at the same machine, threads and shape; None where either is missing)."""
    best, base = peaks(peak_rows), baselines(baseline_rows)
    out = []
    for r in usable(summary):
        machine, threads = str(r["machine"]), int(r["threads"])
        peak = best.get((machine, threads))
        gflops = to_float(r.get("gflops"))
        c = base.get((machine, threads, int(r["hidden"]), int(r["seq_len"]), int(r["batch"])))
        per_record = to_float(r["per_record_median_s"])
        out.append(
            r
            | {
                "peak_gflops": peak,
                "pct_of_peak": 100.0 * gflops / peak if peak and math.isfinite(gflops) else None,
                "x_baseline": per_record / c if c and math.isfinite(per_record) else None,
            }
        )
    return out


def config_key(r: dict) -> tuple:
    return tuple(str(r[k]) if k in ("machine", "impl", "device", "kind") else int(r[k]) for k in CONFIG)


def call_of(r: dict) -> tuple[str, str, str]:
    """(impl, kind, device): one timed call of one implementation, the unit a reader compares."""
    return str(r["impl"]), str(r["kind"]), str(r["device"])


def headline_shape(summary: Iterable[dict]) -> tuple[int, int] | None:
    """The (H, T) that the most calls were measured at (ties: the larger H, then the smaller T): the
    shape of the report's tables. None for a run without step points."""
    calls: dict[tuple[int, int], set] = defaultdict(set)
    for r in usable(summary):
        calls[(int(r["hidden"]), int(r["seq_len"]))].add((r["machine"], int(r["threads"]), *call_of(r)))
    return max(calls, key=lambda s: (len(calls[s]), s[0], -s[1]), default=None)


def configs(enriched: Iterable[dict]) -> list[dict]:
    """Per configuration (CONFIG: all but B) of enriched rows (see enrich), in CONFIG order:

    points            B -> that point's row, ascending B
    smallest, best    the row at the smallest B; the row of the lowest per-record cost
    speedup           per-record cost at the smallest B over that at the best B
    api_s             api_check_s + api_convert_s at the smallest B: what the public API adds to a
                      call (input validation, conversion to the framework), None where not measured
    api_share         api_s / median_s at the smallest B: the share of one call that it takes
    first_call_ratio  first call / steady call at the smallest B (tracing, compilation, set-up)
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in enriched:
        groups[config_key(r)].append(r)
    out = []
    for key, rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda r: int(r["batch"]))
        small = rows[0]
        best = min(rows, key=lambda r: to_float(r["per_record_median_s"]))
        call = to_float(small["median_s"])
        parts = [small.get(k) for k in ("api_check_s", "api_convert_s")]
        api = sum(to_float(p) for p in parts if p is not None) if any(p is not None for p in parts) else None
        out.append(
            dict(zip(CONFIG, key, strict=True))
            | {
                "points": {int(r["batch"]): r for r in rows},
                "smallest": small,
                "best": best,
                "speedup": to_float(small["per_record_median_s"]) / to_float(best["per_record_median_s"]),
                "api_s": api,
                "api_share": api / call if api is not None else None,
                "first_call_ratio": to_float(small["first_call_s"]) / call,
            }
        )
    return out


def shared_points(configs_: Iterable[dict]) -> dict[tuple, set[tuple]]:
    """Per (threads, H, T): the (call, B) pairs that every machine measuring at it measured (after merged
    shards, machines may hold disjoint parts of a sweep, and a cheapest call is only cheapest among the
    calls it was set against)."""
    measured: dict[tuple, dict[str, set[tuple]]] = defaultdict(lambda: defaultdict(set))
    for c in configs_:
        key = (int(c["threads"]), int(c["hidden"]), int(c["seq_len"]))
        measured[key][c["machine"]] |= {(call_of(c), int(b)) for b in c["points"]}
    return {key: set.intersection(*by_machine.values()) for key, by_machine in measured.items()}


def winners(configs_: Iterable[dict]) -> list[dict]:
    """Per (machine, threads, H, T): the call (impl, kind, device) with the lowest per-record cost at
    B=1 and the one with the lowest at its best B, with those costs, among the (call, B) that every
    machine measured at those threads and shape (shared_points); "shared" is False, and the calls None,
    where the machines share none."""
    configs_ = list(configs_)
    shared = shared_points(configs_)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in configs_:
        groups[(c["machine"], int(c["threads"]), int(c["hidden"]), int(c["seq_len"]))].append(c)
    out = []
    for (machine, threads, H, T), group in sorted(groups.items()):
        common = shared[(threads, H, T)]
        points = [(c, r) for c in group for b, r in c["points"].items() if (call_of(c), int(b)) in common]
        b1 = min(
            ((c, r) for c, r in points if int(r["batch"]) == 1),
            key=lambda p: to_float(p[1]["per_record_median_s"]),
            default=None,
        )
        best = min(points, key=lambda p: to_float(p[1]["per_record_median_s"]), default=None)
        out.append(
            {"machine": machine, "threads": threads, "hidden": H, "seq_len": T, "shared": bool(common)}
            | {
                "b1_call": call_of(b1[0]) if b1 else None,
                "b1_s": to_float(b1[1]["per_record_median_s"]) if b1 else None,
                "best_call": call_of(best[0]) if best else None,
                "best_B": int(best[1]["batch"]) if best else None,
                "best_s": to_float(best[1]["per_record_median_s"]) if best else None,
            }
        )
    return out


def fits(summary: Iterable[dict]) -> list[dict]:
    """The cost-model fit (rnnbench.runs.records.Fit rows) of every configuration measured at
    FIT_MIN_BATCHES batch sizes or more (none through fewer: two points always fit a line)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in usable(summary):
        groups[config_key(r)].append(r)
    out = []
    for key, rows in sorted(groups.items()):
        batch = [int(r["batch"]) for r in rows]
        if len(set(batch)) < FIT_MIN_BATCHES:
            continue
        # an epoch call covers many steps: fit the time per step, median_s / steps per call
        per_step = [to_float(r["median_s"]) * int(r["batch"]) / to_float(r["records_per_call"]) for r in rows]
        fit = fit_overhead_marginal(batch, per_step)
        out.append(
            records.row(
                records.Fit(
                    rows[0].get("run_id"),
                    *key,
                    overhead_s=fit.overhead,
                    marginal_s=fit.marginal,
                    crossover_batch=fit.crossover,
                    max_rel_residual=fit.max_rel_residual,
                    n_points=fit.n,
                    batch_min=min(batch),
                    batch_max=max(batch),
                )
            )
        )
    return out


def explained_seconds(row: dict) -> float | None:
    """framework_ops x framework_op_s + compiled_calls x compiled_call_s of a summary row: what the
    dispatches of one step cost at the price of a trivial one; None where the row has no count."""
    ops, op_s = row.get("framework_ops"), row.get("framework_op_s")
    calls, call_s = row.get("compiled_calls"), row.get("compiled_call_s")
    if ops is None and not calls:
        return None
    price = lambda n, seconds: n * to_float(seconds) if n else 0.0
    return price(ops, op_s) + price(calls, call_s)


def overhead_parts(configs_: Iterable[dict], fit_rows: Iterable[dict]) -> list[dict]:
    """Per train_step configuration measured at B=1 with a dispatch count (rnnbench.bench.dispatch): its
    B=1 row, the fitted overhead per step (None without a fit), explained_s (explained_seconds), share =
    explained_s / overhead, and unexplained_s = overhead - explained_s: what Python, allocation and the
    framework's own bookkeeping (autograd's graph, guards) add beyond the dispatches at a trivial op's price."""
    fitted = {config_key(f): f for f in fit_rows}
    out = []
    for c in configs_:
        row = c["points"].get(1)
        if c["kind"] != "step" or row is None or (explained := explained_seconds(row)) is None:
            continue
        fit = fitted.get(tuple(c[k] for k in CONFIG))
        overhead = to_float(fit["overhead_s"]) if fit else None
        out.append(
            {k: c[k] for k in CONFIG}
            | {
                "row": row,
                "overhead_s": overhead,
                "explained_s": explained,
                "share": explained / overhead if overhead and overhead > 0 else None,
                "unexplained_s": overhead - explained if overhead is not None else None,
            }
        )
    return out


def memory_growth(summary: Iterable[dict]) -> list[dict]:
    """Per train_step configuration with a step peak measured at two batch sizes or more: the peak and
    the BPTT cache at the smallest and largest B, and rise_ratio = the peak's rise / the cache's rise
    (a small constant: memory grows as the cache; more than MEMORY_GROWTH_LIMIT: something else grows)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in usable(summary):
        if r["kind"] == "step" and r.get("step_peak_bytes") not in (None, ""):
            groups[config_key(r)].append(r)
    out = []
    for key, rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda r: int(r["batch"]))
        if len(rows) < 2:
            continue
        first, last = rows[0], rows[-1]
        cache_rise = to_float(last["model_cache_bytes"]) - to_float(first["model_cache_bytes"])
        peak_rise = to_float(last["step_peak_bytes"]) - to_float(first["step_peak_bytes"])
        out.append(
            dict(zip(CONFIG, key, strict=True))
            | {
                "B_first": int(first["batch"]),
                "B_last": int(last["batch"]),
                "cache_first": to_float(first["model_cache_bytes"]),
                "cache_last": to_float(last["model_cache_bytes"]),
                "peak_first": to_float(first["step_peak_bytes"]),
                "peak_last": to_float(last["step_peak_bytes"]),
                "rise_ratio": peak_rise / cache_rise if cache_rise > 0 else math.nan,
                "method": str(last.get("step_memory_method")),
            }
        )
    return out


def first_reaching(evals: Sequence[dict], target: float, clock: str = "train_seconds") -> dict | None:
    """The first evaluation (on `clock`) whose val_accuracy reaches target; None if none does."""
    for r in sorted(evals, key=lambda r: to_float(r[clock])):
        if to_float(r["val_accuracy"]) >= target:
            return r
    return None


def time_to_target(evals: Sequence[dict], target: float, clock: str = "train_seconds") -> float | None:
    """Seconds (on `clock`) at the first evaluation whose val_accuracy reaches target (None if none
    does). The resolution is that of the evaluation schedule."""
    r = first_reaching(evals, target, clock)
    return None if r is None else to_float(r[clock])


def epochs_to_target(evals: Sequence[dict], target: float) -> float | None:
    """Epochs of training (records seen / records per epoch) at the first evaluation that reaches target;
    None if none does. Records per epoch: the last evaluation's records seen over the run's epochs."""
    r = first_reaching(evals, target)
    if r is None:
        return None
    last = max(evals, key=lambda e: to_float(e["records_seen"]))
    return to_float(r["records_seen"]) * int(last["epochs"]) / to_float(last["records_seen"])


def accuracy_target(evals: Sequence[dict], target: float | None = None) -> tuple[float | None, float | None]:
    """(target, best validation accuracy of the run): the target given, else TARGET_FRACTION x the best.
    Raises ValueError for a target that no accuracy can reach or that every one reaches."""
    if target is not None and not 0.0 <= target <= 1.0:  # NaN fails this too
        raise ValueError(f"--target-accuracy must lie between 0 and 1 (an accuracy), got {target}")
    best = max((to_float(r["val_accuracy"]) for r in evals), default=None)
    return (TARGET_FRACTION * best if target is None and best is not None else target), best


def accuracy_runs(evals: Iterable[dict], target: float | None) -> list[dict]:
    """Per training run (machine, impl, device, threads, batch, seed): lr, epochs, best and final validation
    accuracy, training and compile seconds, records per second (over the training seconds, and steady:
    over those less the compile seconds), the time to target on both clocks (the wall clock,
    train_seconds, compilation included, and the steady one, without compile_seconds) and the epochs to
    target. A run from before seeds were recorded is seed 0."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in evals:
        seed = int(r.get("seed") or 0)
        groups[(r["machine"], r["impl"], r["device"], int(r["threads"]), int(r["batch"]), seed)].append(r)
    out = []
    for (machine, impl, device, threads, batch, seed), rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda r: to_float(r["train_seconds"]))
        steady = [r | {"steady_seconds": to_float(r["train_seconds"]) - _compile(r)} for r in rows]
        last = rows[-1]
        seconds = to_float(last["train_seconds"])
        out.append(
            {"machine": machine, "impl": impl, "device": device, "threads": threads, "batch": batch, "seed": seed}
            | {
                "lr": to_float(last["lr"]),
                "epochs": int(last["epochs"]),
                "best_val_accuracy": max(to_float(r["val_accuracy"]) for r in rows),
                "final_val_accuracy": to_float(last["val_accuracy"]),
                "train_seconds": seconds,
                "compile_seconds": _compile(last),
                "records_per_second": to_float(last["records_seen"]) / seconds if seconds > 0 else None,
                "steady_records_per_second": _per_second(to_float(last["records_seen"]), seconds - _compile(last)),
                "time_to_target": None if target is None else time_to_target(rows, target),
                "time_to_target_steady": None if target is None else time_to_target(steady, target, "steady_seconds"),
                "epochs_to_target": None if target is None else epochs_to_target(rows, target),
                "curve": steady,  # every evaluation, ascending training seconds, with steady_seconds
            }
        )
    return out


def _per_second(count: float, seconds: float) -> float | None:
    return count / seconds if seconds > 0 else None


def _compile(r: dict) -> float:
    """An evaluation's compile seconds; 0 where none were recorded (implementations that do not compile)."""
    c = to_float(r.get("compile_seconds"))
    return c if math.isfinite(c) else 0.0


def worker_noise(noise: Iterable[dict]) -> list[dict]:
    """Per worker (its noise point): the sentinel's seconds at its start and end, drift = end / start
    (1.0: the machine ran at one speed throughout), the load average at both ends, and drifted: the
    drift is further from 1 than NOISE_DRIFT_LIMIT."""
    groups: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in noise:
        groups[(r["machine"], r["point_id"], r["impl"], r["device"], int(r["threads"]))][str(r["when"])] = r
    out = []
    for (machine, point_id, impl, device, threads), ends in sorted(groups.items()):
        start, end = ends.get("start", {}), ends.get("end", {})
        s, e = to_float(start.get("sentinel_s")), to_float(end.get("sentinel_s"))
        drift = e / s if s > 0 and math.isfinite(e) else None
        out.append(
            {"machine": machine, "point_id": point_id, "impl": impl, "device": device, "threads": threads}
            | {
                "start_s": s,
                "end_s": e,
                "drift": drift,
                "load_start": start.get("load"),
                "load_end": end.get("load"),
                "drifted": drift is not None and abs(drift - 1.0) > NOISE_DRIFT_LIMIT,
            }
        )
    return out


def machine_cores(environment: dict[str, list[dict]]) -> dict[str, int]:
    """machine -> the cores its processes could use (usable, else logical), from its latest session."""
    out = {}
    for machine, sessions in environment.items():
        cpu = (sessions[-1] if sessions else {}).get("cpu", {})
        cores = cpu.get("usable_cores") or cpu.get("logical_cores")
        if cores:
            out[machine] = int(cores)
    return out


def loaded(summary: Iterable[dict], cores: dict[str, int]) -> list[dict]:
    """The step/epoch rows measured on a busy machine, each with `load` and `gated`:

    gated: the quiet gate left the point loaded (too few rounds with the yardstick at rest): it is out of
      every figure (usable);
    otherwise the 1-minute load average (before or after the point) rose above its machine's cores. That
      average lags by a minute and misses a neighbour on the other hyperthread, so it only informs; the
      yardstick, read around every round, decides."""
    out = []
    for r in summary:
        load = max((to_float(r.get(k)) for k in ("load_before", "load_after") if r.get(k) is not None), default=None)
        above = load is not None and r["machine"] in cores and load > cores[r["machine"]]
        if above or r.get("loaded") is True:
            out.append(r | {"load": load if load is not None else math.nan, "gated": r.get("loaded") is True})
    return out


def gate_counts(summary: Iterable[dict]) -> dict[str, int]:
    """Over the points measured with a yardstick: their rounds, the busy rounds measured again, and the
    points left loaded."""
    rows = [r for r in summary if r.get("quiet_rounds") is not None]
    return {
        "points": len(rows),
        "quiet_rounds": sum(int(r["quiet_rounds"]) for r in rows),
        "busy_rounds": sum(int(r.get("loaded_rounds") or 0) for r in rows),
        "loaded_points": sum(r.get("loaded") is True for r in rows),
    }


def write_fit(run_dir: str | Path, summary: Sequence[dict] | None = None) -> Path:
    """fit.csv of a run, from its summary rows (default: read from its points)."""
    summary = store.tables(run_dir)["summary"] if summary is None else summary
    return store.write_table(run_dir, "fit", fits(summary))
