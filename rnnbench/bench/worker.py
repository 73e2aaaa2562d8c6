"""The unit of measurement: one process that measures a list of points of one WorkerGroup.

    python -m rnnbench.bench.worker SPEC.json

SPEC (JSON, see WorkerSpec) names the run folder, the machine label, the group (implementation or
"machine", threads, device), the profile and the point ids. The worker sets every framework's thread
count in its own environment before any framework is imported, times a fixed sentinel workload
(rnnbench.bench.noise), measures its step and epoch points together, their rounds interleaved and read
against the yardstick (rnnbench.bench.rounds), then its other points one by one, writes each record
atomically as soon as it is done (rnnbench.runs.store), prints one line per point, and times the
sentinel again at the end.

Exit status: 0 when every point passed its checks, 1 when one failed (its record says why), 2 for a
bad spec, 130 on SIGINT and 143 on SIGTERM (finished points are kept; rnnbench.bench.stopping). A worker
also gets SIGTERM when the process that started it dies, so that none outlives its job. This is what `rnnbench bench` runs locally
and what a cluster job (rnnbench.bench.executors) runs on its node.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from rnnbench import machine
from rnnbench.bench import stopping

PARENT_PID_ENV = "RNNBENCH_WORKER_PARENT"  # the pid of the process that started the worker


@dataclass(frozen=True)
class WorkerSpec:
    run_dir: str
    run_id: str | None
    machine: str
    impl: str  # an implementation, or points.MACHINE_GROUP for the peak and C baseline
    threads: int
    device: str
    profile: dict  # the fields of a bench.profiles.Profile
    point_ids: tuple[str, ...]
    shard: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        doc = json.loads(text)
        doc["point_ids"] = tuple(doc["point_ids"])
        return cls(**doc)

    def command(self, spec_path: str | os.PathLike) -> list[str]:
        return [sys.executable, "-m", "rnnbench.bench.worker", str(spec_path)]


def _profile(doc: dict):
    from rnnbench.bench.profiles import Profile

    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()}
    return Profile(**fields)


def _unmeasured_record(point_id: str, kind: str, spec: WorkerSpec, exc: BaseException, status: str):
    """The record of a point that could not be measured: "skipped" (it cannot run here, e.g. no C
    compiler for the baseline: the reason is kept) or "failed" (its measurement raised: the error and
    where it came from)."""
    from rnnbench.runs import records

    checks = {"problems": [], "flags": [], "status": status}
    if status == "skipped":
        checks["skipped"] = str(exc)
    else:
        checks |= {"problems": [f"{type(exc).__name__}: {exc}"], "traceback": traceback.format_exception(exc)}
    return records.PointRecord(
        point_id=point_id,
        kind=kind,
        run_id=spec.run_id,
        machine=spec.machine,
        status=status,
        params={"impl": spec.impl, "threads": spec.threads, "device": spec.device},
        summary={},
        tables={},
        checks=checks,
        date=machine.now_iso(),
        wall_seconds=0.0,
    )


def describe(record) -> str:
    """The one figure a point prints: per-record cost, the peak, or the best accuracy; or why it failed."""
    from rnnbench.units import fmt_time

    s, status = record.summary, record.status
    if status == "failed":
        return "FAILED: " + "; ".join(record.checks.get("problems", []))
    if status == "skipped":
        return "skipped: " + record.checks.get("skipped", "")
    if record.kind in ("step", "epoch", "baseline"):
        spread = 100 * s["iqr_s"] / s["median_s"] if s["median_s"] else float("nan")
        text = f"{fmt_time(s['per_record_median_s'])}/record (IQR {spread:.0f}%, n={s['n_samples']})"
    elif record.kind == "peak":
        text = f"{s['peak_gflops']:.1f} GFLOP/s ({s['library']}, n={s['n']})"
    else:
        text = f"best val acc {s['best_val_accuracy']:.3f} after {s['train_seconds']:.2f} s of training"
    if status == "flagged":
        text += "  FLAGGED: " + "; ".join(record.checks.get("flags", []))
    return text


class Printed:
    """The worker's one line per finished point, numbered in the order they finish, and the failures."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0

    def show(self, record) -> None:
        self.done += 1
        self.failed += record.status == "failed"
        print(f"  [{self.done}/{self.total}] {record.point_id}  {describe(record)}", flush=True)


def _noise_tag(run_dir: Path, spec: WorkerSpec, group) -> str:
    """The suffix of this worker's noise record: the shard's, plus -resumedK when an earlier session of
    the same group (an interrupted run) already left one, so that a resumed run keeps every session's noise."""
    from rnnbench.bench import noise
    from rnnbench.runs import store

    tag, k = spec.shard, 0
    while store.point_path(run_dir, spec.machine, noise.noise_point_id(group, tag)).exists():
        k += 1
        tag = "-".join(filter(None, (spec.shard, f"resumed{k}")))
    return tag


def run(spec: WorkerSpec) -> int:
    """Measure spec's points (see the module docstring); returns the exit status."""
    from rnnbench.bench import accuracy, bounds, noise, rounds
    from rnnbench.bench.c_baseline import BaselineUnavailable
    from rnnbench.bench.points import AccuracyPoint, BaselinePoint, PeakPoint, StepPoint, WorkerGroup, parse_point_id
    from rnnbench.runs import store
    from rnnbench.units import fmt_time

    profile = _profile(spec.profile)
    group = WorkerGroup(spec.impl, spec.threads, spec.device)
    run_dir = Path(spec.run_dir)
    label = {"run_id": spec.run_id, "machine_label": spec.machine}
    session = machine.collect(spec.threads, spec.device) | {"group": asdict(group), "shard": spec.shard}
    session_id = f"{noise.noise_point_id(group, spec.shard)}-{int(time.time() * 1000)}"
    store.add_session(run_dir, spec.machine, session_id, session)
    noise_tag = _noise_tag(run_dir, spec, group)
    noise_rows = [noise.noise_row(group, "start", shard=noise_tag, **label)]
    points = [parse_point_id(i) for i in spec.point_ids]
    timed = [p for p in points if isinstance(p, StepPoint)]
    printed = Printed(len(points))

    def keep(record) -> None:
        store.save_point(run_dir, record)
        printed.show(record)

    def unmeasured(point_id: str, kind: str, exc: BaseException, status: str) -> None:
        keep(_unmeasured_record(point_id, kind, spec, exc, status))

    if timed:  # every step and epoch point at once, their rounds interleaved
        stick = rounds.measure_points(
            timed,
            profile,
            gate=profile.gate(),
            on_record=keep,
            on_failure=lambda point, exc: unmeasured(point.point_id, point.kind, exc, "failed"),
            **label,
        )
        print(f"  yardstick {fmt_time(stick.steady())} at rest, spread {100 * stick.spread():.1f}%", flush=True)
    dataset = None
    for point_id, point in zip(spec.point_ids, points, strict=True):
        if isinstance(point, StepPoint):
            continue
        kind = getattr(point, "kind", None) or point_id.split("-")[0]
        try:
            if isinstance(point, PeakPoint):
                record = bounds.measure_peak(point, profile, **label)
            elif isinstance(point, BaselinePoint):
                record = bounds.measure_baseline(point, profile, **label)
            elif isinstance(point, AccuracyPoint):
                dataset = dataset or accuracy.load_accuracy_data(profile)
                record = accuracy.measure_accuracy(point, profile, dataset, **label)
        except BaselineUnavailable as exc:
            record = _unmeasured_record(point_id, kind, spec, exc, "skipped")
        except Exception as exc:  # noqa: BLE001 - a point that raises is recorded as failed; the others go on
            record = _unmeasured_record(point_id, kind, spec, exc, "failed")
        keep(record)
    noise_rows.append(noise.noise_row(group, "end", shard=noise_tag, **label))
    store.save_point(run_dir, noise.noise_record(noise_rows, group, shard=noise_tag, **label))
    store.add_session(
        run_dir,
        spec.machine,
        session_id,
        session | {"framework_threads_at_end": machine.framework_threads(), "blas_at_end": machine.blas()},
    )
    return 1 if printed.failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m rnnbench.bench.worker SPEC.json", file=sys.stderr)
        return 2
    try:
        spec = WorkerSpec.from_json(Path(argv[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError) as e:
        print(f"rnnbench worker: error: cannot read the spec {argv[0]}: {e}", file=sys.stderr)
        return 2
    os.environ.update(machine.thread_env(spec.threads))  # before any framework (or NumPy) is imported
    try:
        with stopping.sigterm_stops():
            if PARENT_PID_ENV in os.environ:
                stopping.stop_with_parent(int(os.environ[PARENT_PID_ENV]))
            return run(spec)
    except KeyboardInterrupt as e:
        stopping.ignore_stopping_signals()
        return stopping.exit_status(stopping.signal_of(e))


if __name__ == "__main__":
    sys.exit(main())
