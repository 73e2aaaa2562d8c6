"""The measurements themselves, in one place: benchmarks/ (pytest) and `rnnbench bench` both run these.

Four kinds of point, each measured on a fresh model (or a fresh C process) and returned as a
JSON-ready record (see rnnbench.results for where records go):

* step: one implementation, hidden size H, sequence length T, batch size B, on synthetic float32 data
  of a fixed shape (V = 60 symbols, C = 10 classes, every record of length T; the label is the last
  token mod C, so the loss can fall). The first train_step is timed alone (tracing, compilation, lazy
  initialisation: kind first_call_step); `warmup` more steps are thrown away; then `rounds` rounds of
  `iterations` steps are timed, each step ending with model.sync() (kind step).
* epoch: the same for `train_epoch` over N same-shaped batches, for implementations that fuse an
  epoch (jax-scan): N = max(epoch_batches, epoch_records // B), so that a small-B epoch holds enough
  records for its per-call cost (stacking, dispatch) to be amortised as in a real epoch;
  per-record cost = seconds / (N * B).
* floor: the same step at a sweep shape, written in plain C with no framework and no Python in its
  timed loop, on one thread (rnnbench.floor): what the arithmetic alone costs on this machine.
* accuracy: rnnbench.train.train on a real data set, validation accuracy against training seconds.

Every step point records what one more, untimed, step allocates at its peak beyond what was
allocated before it, as the framework's own allocator (or compiler) accounts it (`step_memory`:
impls.RNNImpl.step_memory), beside the BPTT activation cache the shapes call for
(rnnbench.costmodel.bptt_cache_bytes). Every step and epoch point also records the process's memory
(`current_rss_bytes`, `peak_rss_bytes`, `memory_after`): its resident-set high-water mark after the
point's timed calls, and how far that mark lies above the resident set measured just before the model
was created (the check batch's reference loss is computed before that). The high-water mark is per
process and never falls: the points of one implementation run in one process, B ascending, so a
point's mark includes every earlier point's. The kernel keeps both counters approximately (they can
disagree by a few hundred KB).

Every step and epoch point checks its answer: every loss finite, and the loss of a fixed batch,
computed by the NumPy reference from the implementation's parameters, lower after the timed steps than
before them. A failed check marks the record "failed"; a loop whose timed parts do not add up to its
wall time (rnnbench.timing) marks it "flagged".
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from rnnbench import costmodel, machine, timing

SYNTH_VOCAB = 60
SYNTH_CLASSES = 10
SYNTH_LR = 0.05  # plain SGD on the synthetic batches: small enough that the loss falls at every B
STEP_POOL = 4  # distinct same-shaped batches a step point cycles through
SEED = 0
BATCH_SIZES_FULL: tuple[int, ...] = tuple(2**k for k in range(10))  # 1 .. 512


@dataclass(frozen=True)
class Profile:
    """How much to measure. Step sweep: hidden x seq_len x batch_sizes per implementation; timing:
    warmup, rounds of iterations (chosen so a round lasts about round_seconds, at most max_iterations);
    accuracy: train on `data` with each of acc_batch_sizes for `epochs` epochs, SGD with lr =
    lr_b1 * sqrt(B) and gradient-norm clipping at clip_norm, evaluating about evals_per_run times."""

    name: str
    hidden: tuple[int, ...]
    seq_len: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    warmup: int
    rounds: int
    round_seconds: float
    max_iterations: int
    epoch_batches: int
    epoch_rounds: int
    epoch_records: int
    peak_sizes: tuple[int, ...]
    peak_repeats: int
    data: str
    per_class: int | None
    max_len: int
    acc_batch_sizes: tuple[int, ...]
    acc_hidden: int
    epochs: int
    evals_per_run: int
    lr_b1: float = 0.02
    clip_norm: float = 5.0
    target_fraction: float = 0.9
    notes: str = ""

    def lr(self, batch: int) -> float:
        """SGD learning rate for batch size B: lr_b1 * sqrt(B) (the mean loss's gradient noise falls
        as 1/sqrt(B); the same rule for every implementation)."""
        return self.lr_b1 * math.sqrt(batch)

    def batches_per_epoch(self, batch: int) -> int:
        """N, the batches of one timed train_epoch call at batch size B."""
        return max(self.epoch_batches, self.epoch_records // batch)

    def with_overrides(self, **kw) -> Profile:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


PROFILES: dict[str, Profile] = {
    # `pytest benchmarks --benchmark-disable`: every point once, tiny, to prove the benchmarks work
    "test": Profile(
        name="test",
        hidden=(16,),
        seq_len=(4,),
        batch_sizes=(1, 8),
        warmup=1,
        rounds=1,
        round_seconds=1.0,
        max_iterations=2,
        epoch_batches=4,
        epoch_records=8,
        epoch_rounds=1,
        peak_sizes=(64,),
        peak_repeats=1,
        data="synthetic:n=600,length=6,vocab=12,classes=3,rule=last",
        per_class=None,
        max_len=8,
        acc_batch_sizes=(1, 16),
        acc_hidden=16,
        epochs=2,
        evals_per_run=4,
        lr_b1=0.05,
        notes="CI smoke profile: proves every benchmark runs and checks its result; its timings mean nothing",
    ),
    # `rnnbench bench` default: minutes on 2 cores for all four implementations
    "quick": Profile(
        name="quick",
        hidden=(64, 256),
        seq_len=(8,),
        batch_sizes=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        warmup=3,
        rounds=9,
        round_seconds=0.04,
        max_iterations=40,
        epoch_batches=16,
        epoch_records=1024,
        epoch_rounds=7,
        peak_sizes=(256, 512, 1024),
        peak_repeats=5,
        data="wordfreq:en,fr,de",
        per_class=None,
        max_len=32,
        acc_batch_sizes=(1, 32, 256),
        acc_hidden=64,
        epochs=3,
        evals_per_run=12,
    ),
    "full": Profile(
        name="full",
        hidden=(32, 64, 128, 256),
        seq_len=(8, 32),
        batch_sizes=BATCH_SIZES_FULL,
        warmup=5,
        rounds=15,
        round_seconds=0.1,
        max_iterations=100,
        epoch_batches=32,
        epoch_records=4096,
        epoch_rounds=9,
        peak_sizes=(256, 512, 1024, 2048),
        peak_repeats=7,
        data="wordfreq:en,fr,de",
        per_class=None,
        max_len=32,
        acc_batch_sizes=(1, 8, 32, 256),
        acc_hidden=64,
        epochs=5,
        evals_per_run=20,
    ),
}


# -- points --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepPoint:
    """One configuration of the step-cost sweep; kind "step" or "epoch"."""

    impl: str
    hidden: int
    seq_len: int
    batch: int
    threads: int
    kind: str = "step"
    device: str = "cpu"

    @property
    def point_id(self) -> str:
        return f"{self.kind}-{self.impl}-{self.device}-t{self.threads}-H{self.hidden}-T{self.seq_len}-B{self.batch}"

    @property
    def label(self) -> str:
        return f"{self.impl} H={self.hidden} T={self.seq_len} B={self.batch}"


@dataclass(frozen=True)
class FloorPoint:
    """One configuration of the sweep, run by the plain-C floor (rnnbench.floor) instead of a framework.
    threads is the session's setting, recorded with the point; the C program itself uses one thread."""

    hidden: int
    seq_len: int
    batch: int
    threads: int

    @property
    def point_id(self) -> str:
        return f"floor-t{self.threads}-H{self.hidden}-T{self.seq_len}-B{self.batch}"


@dataclass(frozen=True)
class AccuracyPoint:
    impl: str
    batch: int
    threads: int
    device: str = "cpu"

    @property
    def point_id(self) -> str:
        return f"accuracy-{self.impl}-{self.device}-t{self.threads}-B{self.batch}"

    @property
    def label(self) -> str:
        return f"{self.impl} B={self.batch}"


def fuses_epoch(impl: str) -> bool:
    """Whether an implementation has its own train_epoch (imports its module, hence its framework)."""
    import importlib

    import impls
    from impls.base import RNNImpl

    module_name, class_name = impls.IMPLS[impl].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls._train_epoch is not RNNImpl._train_epoch


def step_points(
    impls_: Sequence[str], profile: Profile, threads: int, device: str = "cpu", epochs_for: Sequence[str] = ()
) -> list[StepPoint]:
    """The sweep, in the order it runs: per implementation, per H, per T, B ascending; epoch points
    (for the implementations in epochs_for) after each implementation's step points."""
    out = []
    for impl in impls_:
        grid = list(itertools.product(profile.hidden, profile.seq_len, profile.batch_sizes))
        out += [StepPoint(impl, H, T, B, threads, "step", device) for H, T, B in grid]
        if impl in epochs_for:
            out += [StepPoint(impl, H, T, B, threads, "epoch", device) for H, T, B in grid]
    return out


def floor_points(profile: Profile, threads: int) -> list[FloorPoint]:
    """The sweep's shapes for the plain-C floor: per H, per T, B ascending."""
    grid = itertools.product(profile.hidden, profile.seq_len, profile.batch_sizes)
    return [FloorPoint(H, T, B, threads) for H, T, B in grid]


def synthetic_batches(
    batch: int, seq_len: int, n: int, seed: int = SEED, vocab: int = SYNTH_VOCAB, classes: int = SYNTH_CLASSES
) -> list:
    """n batches of shape (B, T): tokens uniform in [0, V), every length T, label = last token mod C."""
    from impls import Batch

    rng = np.random.default_rng([seed, batch, seq_len])
    out = []
    for _ in range(n):
        tokens = rng.integers(0, vocab, size=(batch, seq_len))  # (B, T)
        lengths = np.full(batch, seq_len)  # (B,)
        out.append(Batch(tokens, lengths, tokens[:, -1] % classes))
    return out


def reference_loss(config, params, batch) -> float:
    """Mean loss of params on batch by the NumPy reference (independent of the implementation timed)."""
    import impls

    return float(impls.load("numpy-bptt", config, params).loss_and_grads(batch)[0])


@dataclass
class Checks:
    loss_before: float = math.nan
    loss_after: float = math.nan
    losses_finite: bool = True
    sanity: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "failed" if self.problems else ("flagged" if self.flags else "ok")


def _check_losses(checks: Checks, losses: Sequence[float], what: str) -> None:
    bad = [x for x in losses if not math.isfinite(x)]
    if bad:
        checks.losses_finite = False
        checks.problems.append(f"{len(bad)} of {len(losses)} {what} losses are not finite (first: {bad[0]})")


def _check_decrease(checks: Checks) -> None:
    if not math.isfinite(checks.loss_after):
        checks.problems.append(f"the check batch's loss after training is {checks.loss_after}")
    elif not checks.loss_after < checks.loss_before:
        checks.problems.append(
            f"the check batch's loss did not fall: {checks.loss_before:.6f} before, {checks.loss_after:.6f} after"
        )


def current_rss_bytes() -> int | None:
    """The process's resident set now, from /proc/self/statm (Linux); None where there is none."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def peak_rss_bytes() -> int | None:
    """The process's resident-set high-water mark so far (getrusage ru_maxrss: KiB on Linux, bytes
    on macOS); None where the resource module is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss) if sys.platform == "darwin" else int(maxrss) * 1024


def memory_after(point: StepPoint, rss_before: int | None) -> dict:
    """The memory fields of a step or epoch point's summary (see the module docstring)."""
    peak = peak_rss_bytes()
    return {
        "model_cache_bytes": costmodel.bptt_cache_bytes(point.hidden, point.seq_len, point.batch),
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak,
        "rss_growth_bytes": peak - rss_before if peak is not None and rss_before is not None else None,
    }


def timing_fields(stats: dict, records_per_call: int) -> dict:
    """The summary's timing columns from timing.robust_stats of a point's per-call seconds."""
    return {
        "median_s": stats["median"],
        "q1_s": stats["q1"],
        "q3_s": stats["q3"],
        "iqr_s": stats["iqr"],
        "min_s": stats["min"],
        "mean_s": stats["mean"],
        "per_record_median_s": stats["median"] / records_per_call,
        "per_record_iqr_s": stats["iqr"] / records_per_call,
    }


def step_memory(model, batch) -> dict:
    """One more (untimed) training step, with the framework's allocator accounting on: the bytes it held
    at its peak beyond those allocated before it (impls.RNNImpl.step_memory), and how they were counted."""
    measured = model.step_memory(batch)
    return {"step_peak_bytes": measured.peak_bytes, "step_memory_method": measured.method}


def measure_step(
    point: StepPoint, profile: Profile, runner: timing.Runner | None = None, run_id: str | None = None
) -> dict:
    """Measure one step or epoch point (see the module docstring); returns its record."""
    import impls

    started = time.perf_counter()
    date = machine.now_iso()
    config = impls.ModelConfig(SYNTH_VOCAB, point.hidden, SYNTH_CLASSES, dtype="float32")
    params = impls.init_params(config, seed=SEED)
    epoch = point.kind == "epoch"
    pool = synthetic_batches(point.batch, point.seq_len, profile.batches_per_epoch(point.batch) if epoch else STEP_POOL)
    checks = Checks(loss_before=reference_loss(config, params, pool[0]))
    rss_before = current_rss_bytes()  # the model, its first call, warm-up and timed calls come after
    model = impls.load(
        point.impl, config, params, device=point.device, optimizer=impls.SGD(lr=SYNTH_LR), threads=point.threads
    )

    if epoch:
        records_per_call = point.batch * len(pool)

        def call():
            return model.train_epoch(pool)

        first_s, first_losses = timing.timed_call(call, model.sync)
        warm = [timing.timed_call(call, model.sync)[0] for _ in range(min(1, profile.warmup))]
        rounds, iterations = profile.epoch_rounds, 1
    else:
        records_per_call = point.batch
        first_s, first_loss = timing.timed_call(lambda: model.train_step(pool[0]), model.sync)
        first_losses = [first_loss]
        cycle = itertools.cycle(pool[1:] + pool[:1])

        def call():
            return model.train_step(next(cycle))

        warm = [timing.timed_call(call, model.sync)[0] for _ in range(profile.warmup)]
        estimate = float(np.median(warm)) if warm else first_s
        rounds = profile.rounds
        iterations = timing.iterations_for(estimate, profile.round_seconds, profile.max_iterations)

    loop = timing.run_timed(call, model.sync, rounds=rounds, iterations=iterations, runner=runner)
    memory = memory_after(point, rss_before)  # before the after-check's NumPy reference runs
    memory |= step_memory(model, pool[0]) if not epoch else {"step_peak_bytes": None, "step_memory_method": None}
    sanity = loop.sanity()
    checks.sanity = asdict(sanity) | {"gap_fraction": sanity.gap_fraction}
    if not sanity.ok:
        checks.flags.append("loop check: " + sanity.describe())
    losses = [float(x) for x in first_losses] + [
        float(x) for r in loop.results for x in (r if isinstance(r, (list, tuple)) else [r])
    ]
    _check_losses(checks, losses, "training")
    checks.loss_after = reference_loss(config, model.get_params(), pool[0])
    _check_decrease(checks)

    kind = point.kind
    base = {
        "run_id": run_id,
        "point_id": point.point_id,
        "impl": point.impl,
        "device": point.device,
        "threads": point.threads,
        "hidden": point.hidden,
        "seq_len": point.seq_len,
        "batch": point.batch,
    }
    first_loss_value = float(np.mean(first_losses)) if len(first_losses) else math.nan
    rows = [
        base
        | {
            "kind": f"first_call_{kind}",
            "round": 0,
            "sample": 0,
            "seconds": first_s,
            "records": records_per_call,
            "per_record_seconds": first_s / records_per_call,
            "loss": first_loss_value,
        }
    ]
    for i, seconds in enumerate(loop.samples):
        result = loop.results[i]
        loss = float(np.mean(result)) if isinstance(result, (list, tuple)) else float(result)
        rows.append(
            base
            | {
                "kind": kind,
                "round": i // iterations,
                "sample": i,
                "seconds": seconds,
                "records": records_per_call,
                "per_record_seconds": seconds / records_per_call,
                "loss": loss,
            }
        )
    stats = timing.robust_stats(loop.samples)
    flops = costmodel.step_flops(point.hidden, SYNTH_VOCAB, SYNTH_CLASSES, point.seq_len, point.batch)
    steps_per_call = records_per_call // point.batch
    summary = base | {
        "kind": kind,
        "records_per_call": records_per_call,
        "n_samples": stats["n"],
        "rounds": rounds,
        "iterations": iterations,
        **timing_fields(stats, records_per_call),
        "first_call_s": first_s,
        "flops_per_step": flops["flops_per_step"],
        "flops_per_record": flops["flops_per_record"],
        "gflops": flops["flops_per_step"] * steps_per_call / stats["median"] / 1e9,
        **memory,
        "loss_before": checks.loss_before,
        "loss_after": checks.loss_after,
        "sanity_gap": sanity.gap_fraction,
        "sanity_ok": sanity.ok,
        "status": checks.status,
        "problems": checks.problems + checks.flags,
    }
    return {
        "point_id": point.point_id,
        "kind": kind,
        "run_id": run_id,
        "status": checks.status,
        "params": asdict(point)
        | {
            "profile": profile.name,
            "vocab": SYNTH_VOCAB,
            "classes": SYNTH_CLASSES,
            "dtype": "float32",
            "optimizer": f"sgd lr={SYNTH_LR}",
            "warmup": len(warm),
            "warmup_seconds": warm,
            "rounds": rounds,
            "iterations": iterations,
            "round_seconds": loop.round_seconds,
        },
        "flops": flops,
        "thread_info": _jsonable(model.thread_info()),
        "checks": asdict(checks) | {"status": checks.status},
        "summary": summary,
        "rows": rows,
        "date": date,
        "wall_seconds": time.perf_counter() - started,
    }


def measure_peak(profile: Profile, threads: int, run_id: str | None = None) -> dict:
    """This machine's float32 matmul GFLOP/s (numpy and torch at `threads` threads); the best is the peak."""
    started = time.perf_counter()
    rows = timing.matmul_peak(profile.peak_sizes, threads=threads, repeats=profile.peak_repeats)
    rows = [{"run_id": run_id} | r for r in rows]
    problems = [
        f"{r['library']} n={r['n']} matmul is wrong: max relative error {r['max_rel_error']:.2e}"
        for r in rows
        if not r["max_rel_error"] < 1e-4
    ]
    best = max(rows, key=lambda r: r["gflops"]) if rows else None
    return {
        "point_id": f"peak-t{threads}",
        "kind": "peak",
        "run_id": run_id,
        "status": "failed" if problems or not rows else "ok",
        "params": {"threads": threads, "sizes": list(profile.peak_sizes), "repeats": profile.peak_repeats},
        "summary": {
            "threads": threads,
            "peak_gflops": best["gflops"] if best else None,
            "library": best["library"] if best else None,
            "n": best["n"] if best else None,
        },
        "checks": {"problems": problems},
        "rows": rows,
        "date": machine.now_iso(),
        "wall_seconds": time.perf_counter() - started,
    }


def measure_floor(point: FloorPoint, profile: Profile, run_id: str | None = None) -> dict:
    """The plain-C floor at one sweep shape: the same step (float32, V, C, plain SGD at SYNTH_LR) with no
    framework and no Python in the timed loop, one thread, timed inside the C program (rnnbench.floor).
    Raises rnnbench.floor.FloorUnavailable where no C compiler can build it."""
    from rnnbench import floor

    started = time.perf_counter()
    date = machine.now_iso()
    m = floor.measure(
        point.hidden,
        point.seq_len,
        point.batch,
        vocab=SYNTH_VOCAB,
        classes=SYNTH_CLASSES,
        rounds=profile.rounds,
        warmup=profile.warmup,
        lr=SYNTH_LR,
        round_seconds=profile.round_seconds,
    )
    checks = Checks(loss_before=float(m["loss_first"]), loss_after=float(m["loss_last"]))
    _check_losses(checks, [checks.loss_before, checks.loss_after], "the C floor's")
    _check_decrease(checks)
    stats = m["step_stats"]
    build = m["build"]
    summary = {
        "run_id": run_id,
        "point_id": point.point_id,
        "threads": point.threads,
        "hidden": point.hidden,
        "seq_len": point.seq_len,
        "batch": point.batch,
        "n_samples": stats["n"],
        "iterations": m["iterations"],
        **timing_fields(stats, point.batch),
        "loss_first": checks.loss_before,
        "loss_last": checks.loss_after,
        "compiler": build["compiler_version"],
        "flags": " ".join(build["flags"]),
        "status": checks.status,
    }
    return {
        "point_id": point.point_id,
        "kind": "floor",
        "run_id": run_id,
        "status": checks.status,
        "params": asdict(point) | {"profile": profile.name, "vocab": SYNTH_VOCAB, "classes": SYNTH_CLASSES},
        "checks": asdict(checks) | {"status": checks.status},
        "summary": summary,
        "rows": [summary],
        "build": build,
        "date": date,
        "wall_seconds": time.perf_counter() - started,
    }


# -- accuracy per second -------------------------------------------------------------------------------


def load_accuracy_data(profile: Profile):
    from rnnbench.data import load_dataset

    return load_dataset(profile.data, per_class=profile.per_class, max_len=profile.max_len, seed=SEED)


def eval_every(n_train: int, epochs: int, batch: int, evals_per_run: int) -> int:
    """Records between evaluations: about evals_per_run evaluations per run, a whole number of batches."""
    per = max(1, round(n_train * epochs / max(1, evals_per_run)))
    return max(batch, math.ceil(per / batch) * batch)


def measure_accuracy(point: AccuracyPoint, profile: Profile, dataset, run_id: str | None = None) -> dict:
    """Train point.impl with batch size point.batch; validation accuracy against training seconds."""
    from rnnbench.train import TrainConfig, train

    started = time.perf_counter()
    date = machine.now_iso()
    every = eval_every(len(dataset.train), profile.epochs, point.batch, profile.evals_per_run)
    cfg = TrainConfig(
        impl=point.impl,
        data=profile.data,
        hidden=profile.acc_hidden,
        batch_size=point.batch,
        epochs=profile.epochs,
        optimizer="sgd",
        lr=profile.lr(point.batch),
        clip_norm=profile.clip_norm,
        seed=SEED,
        device=point.device,
        threads=point.threads,
        max_len=profile.max_len,
        per_class=profile.per_class,
        eval_every=every,
    )
    result = train(cfg, dataset, progress=False)
    base = {
        "run_id": run_id,
        "point_id": point.point_id,
        "impl": point.impl,
        "device": point.device,
        "threads": point.threads,
        "hidden": profile.acc_hidden,
        "batch": point.batch,
        "optimizer": "sgd",
        "lr": cfg.lr,
        "epochs": profile.epochs,
        "data": profile.data,
    }
    rows = [
        base
        | {
            "eval": i,
            "epoch": r["epoch"],
            "records_seen": r["records_seen"],
            "train_seconds": r["train_seconds"],
            # seconds of train_seconds spent in calls that compiled (jax-scan; 0 elsewhere, and in
            # the records of rnnbench.train versions that predate the field)
            "compile_seconds": float(r.get("compile_seconds") or 0.0),
            "val_accuracy": r["val_accuracy"],
            "val_loss": r["val_loss"],
        }
        for i, r in enumerate(result.evals)
    ]
    problems = []
    accs = [r["val_accuracy"] for r in rows]
    losses = [r["val_loss"] for r in rows]
    if any(v is None or not math.isfinite(v) for v in losses):
        problems.append("a validation loss is missing or not finite")
    if any(v is None or not 0.0 <= v <= 1.0 for v in accs):
        problems.append("a validation accuracy is missing or outside [0, 1]")
    seconds = [r["train_seconds"] for r in rows]
    if any(b < a for a, b in itertools.pairwise(seconds)):
        problems.append("training seconds went backwards between evaluations")
    counts = np.bincount(dataset.train.labels, minlength=dataset.num_classes)
    majority = float(counts.max() / counts.sum())
    if not problems and not max(accs) > majority:
        problems.append(f"best validation accuracy {max(accs):.3f} is no better than the majority class {majority:.3f}")
    if not problems and not min(losses[1:], default=math.inf) < losses[0]:
        problems.append(f"the validation loss never fell below its start {losses[0]:.4f}")
    best = max(accs) if accs and not problems else None
    compile_total = getattr(result, "compile_seconds", None)  # cumulative: the last evaluation's otherwise
    if compile_total is None:
        compile_total = max((r["compile_seconds"] for r in rows), default=0.0)
    return {
        "point_id": point.point_id,
        "kind": "accuracy",
        "run_id": run_id,
        "status": "failed" if problems else "ok",
        "params": asdict(point)
        | {
            "profile": profile.name,
            "data": profile.data,
            "train_records": len(dataset.train),
            "val_records": len(dataset.val),
            "config": asdict(cfg),
        },
        "summary": {
            "best_val_accuracy": best,
            "final_val_accuracy": accs[-1] if accs else None,
            "train_seconds": result.train_seconds,
            "compile_seconds": float(compile_total),
            "eval_seconds": result.eval_seconds,
            "test_accuracy": result.test_accuracy,
            "majority_accuracy": majority,
            "records_per_second": len(dataset.train) * profile.epochs / result.train_seconds
            if result.train_seconds > 0
            else None,
        },
        "checks": {"problems": problems},
        "thread_info": _jsonable(result.threads),
        "rows": rows,
        "date": date,
        "wall_seconds": time.perf_counter() - started,
    }


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)
