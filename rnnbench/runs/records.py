"""The one schema of a benchmark run: every table's columns, named here and nowhere else.

A measured point is a JSON record (`PointRecord`) holding rows of these tables; the CSV files of a run
(rnnbench.runs.store), the analysis (rnnbench.runs.analysis), the report and the tests all take their column
names from the dataclasses below: `columns(Summary)` is the header of summary.csv.

    Sample         one timed call of a step or epoch point (long form: samples.csv.gz)
    Summary        one step or epoch point: robust statistics, FLOPs, memory, checks (summary.csv)
    PeakSample     one timed float32 matmul of the machine's peak (peak.csv)
    BaselineSummary one shape of the single-thread plain-C baseline (baseline.csv)
    AccuracyEval   one evaluation of an accuracy-per-second training run (accuracy.csv)
    Noise          the machine's state around a point: load average, speed sentinel (noise.csv)
    Fit            time_per_step(B) = overhead + B x marginal per configuration (fit.csv, derived)

Every row carries the run id, the machine label (rnnbench.machine.machine_label) and the point id,
so that rows from merged runs and several machines stay apart.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

SCHEMA_VERSION = 4

# The kinds of point a run holds; a point id starts with its kind.
STEP_KINDS = ("step", "epoch")
KINDS = (*STEP_KINDS, "peak", "baseline", "accuracy", "noise")


@dataclass
class StepKey:
    """The leading columns of a step or epoch point's rows: which run, machine, point and shape."""

    run_id: str | None
    machine: str
    point_id: str
    impl: str
    device: str
    threads: int
    hidden: int
    seq_len: int
    batch: int


@dataclass
class Sample(StepKey):
    kind: str  # "step" or "epoch", or "first_call_step" / "first_call_epoch" for the first call
    round: int
    sample: int
    seconds: float
    records: int
    per_record_seconds: float
    loss: float
    yardstick_s: float | None = None  # the machine's speed around this call's round (rnnbench.bench.yardstick)
    quiet: bool | None = None  # the round ran on a quiet machine (None: no yardstick was read)


@dataclass
class Summary(StepKey):
    kind: str
    records_per_call: int
    n_samples: int
    rounds: int
    iterations: int
    median_s: float
    q1_s: float
    q3_s: float
    iqr_s: float
    min_s: float
    mean_s: float
    per_record_median_s: float
    per_record_iqr_s: float
    first_call_s: float
    api_check_s: float | None  # per call: the public API's input validation alone (RNNImpl.input_stages()["check"])
    api_convert_s: float | None  # per call: turning the batch into the framework's inputs, alone (["convert"])
    flops_per_step: float
    flops_per_record: float
    gflops: float
    model_cache_bytes: int
    step_peak_bytes: int | None
    step_memory_method: str | None
    rss_before_bytes: int | None
    peak_rss_bytes: int | None
    rss_growth_bytes: int | None
    loss_before: float
    loss_after: float
    sanity_gap: float
    sanity_ok: bool
    load_before: float | None  # 1-minute load average just before and after the point
    load_after: float | None
    status: str
    problems: list[str] = field(default_factory=list)
    # the quiet gate (rnnbench.bench.yardstick); None for points measured without a yardstick
    quiet_rounds: int | None = None  # rounds whose yardstick stayed within the gate's margin
    loaded_rounds: int | None = None  # rounds the machine was busy during (measured again)
    yardstick_steady_s: float | None = None  # the worker's yardstick at rest
    loaded: bool | None = None  # too few quiet rounds: left out of the headline, the fit and the findings
    # Compilations the point's calls caused (implementations that compile; None elsewhere), and of them
    # those during warm-up and timing (0 unless a shape recompiled); compile_s: the seconds they took.
    compilations: int | None = None
    compilations_timed: int | None = None
    compile_s: float | None = None
    # What one train_step dispatches and what one dispatch costs here (rnnbench.bench.dispatch; step points)
    framework_ops: int | None = None  # operations dispatched one by one (NumPy, top-level ATen)
    framework_op_s: float | None = None  # one trivial framework operation
    compiled_calls: int | None = None  # calls into compiled code per step
    compiled_call_s: float | None = None  # one call of a trivial compiled function
    compiled_ops: int | None = None  # operations inside the compiled calls (jaxpr equations), not dispatched
    dispatch_method: str | None = None


@dataclass
class PeakSample:
    run_id: str | None
    machine: str
    point_id: str
    library: str
    n: int
    threads: int
    sample: int
    seconds: float
    gflops: float
    max_rel_error: float


@dataclass
class BaselineSummary:
    run_id: str | None
    machine: str
    point_id: str
    threads: int  # the session's thread setting; the C program itself always runs one thread
    hidden: int
    seq_len: int
    batch: int
    n_samples: int
    iterations: int
    median_s: float
    q1_s: float
    q3_s: float
    iqr_s: float
    min_s: float
    mean_s: float
    per_record_median_s: float
    per_record_iqr_s: float
    loss_first: float
    loss_last: float
    compiler: str
    flags: str
    status: str


@dataclass
class AccuracyEval:
    run_id: str | None
    machine: str
    point_id: str
    impl: str
    device: str
    threads: int
    hidden: int
    batch: int
    optimizer: str
    lr: float
    epochs: int
    data: str
    eval: int
    epoch: int
    records_seen: int
    train_seconds: float
    compile_seconds: float  # of train_seconds, spent in calls that compiled (jax-scan; 0 elsewhere)
    val_accuracy: float
    val_loss: float
    seed: int | None = (
        0  # the point's seed (rnnbench.bench.points.AccuracyPoint); None (read as 0): a run from before seeds
    )


@dataclass
class Noise:
    run_id: str | None
    machine: str
    point_id: str  # the noise record's id: noise-<worker group>
    impl: str  # the worker's group: an implementation, or "machine"
    device: str
    threads: int
    when: str  # "start" or "end" of the worker
    sentinel_s: float  # median seconds of the fixed sentinel workload (rnnbench.bench.noise)
    sentinel_iqr_s: float
    load: float | None  # 1-minute load average at that moment


@dataclass
class Fit:
    run_id: str | None
    machine: str
    impl: str
    device: str
    threads: int
    hidden: int
    seq_len: int
    kind: str
    overhead_s: float
    marginal_s: float
    crossover_batch: float
    max_rel_residual: float
    n_points: int
    batch_min: int
    batch_max: int


# table name (= CSV file stem) -> row type, in the order the files are written
TABLES: dict[str, type] = {
    "samples": Sample,
    "summary": Summary,
    "fit": Fit,
    "accuracy": AccuracyEval,
    "peak": PeakSample,
    "baseline": BaselineSummary,
    "noise": Noise,
}
# the tables kept compressed (they hold every raw sample)
COMPRESSED = ("samples",)


def to_float(x) -> float:
    """A CSV or JSON value as a float (NaN when empty or not a number)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def columns(row_type: type) -> tuple[str, ...]:
    """The column names of a table, in order."""
    return tuple(f.name for f in fields(row_type))


def _parser(annotation: str):
    """A function from a CSV cell (a string, "" for missing) to the column's type (annotations are
    strings here: `from __future__ import annotations`)."""
    base = annotation.replace(" | None", "").strip()
    if base == "list[str]":
        return lambda text: [p for p in text.split("; ") if p] if text else []
    if base == "bool":
        return lambda text: None if text == "" else text == "True"
    convert = {"int": lambda t: int(float(t)), "float": float}.get(base, str)
    return lambda text: None if text == "" else convert(text)


def parse_row(row_type: type, cells: dict[str, str]) -> dict:
    """A row read back from CSV, each value of its column's type (None where the cell is empty)."""
    return {f.name: _parser(str(f.type))(cells.get(f.name, "")) for f in fields(row_type)}


def row(obj) -> dict:
    """A row dataclass as a JSON-ready dict, NaN as None."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(obj).items()}


@dataclass
class PointRecord:
    """One measured point as stored in points/<machine>/<point_id>.json.

    kind: one of KINDS; status "ok", "flagged" (a loop check failed: the timing is suspect), "failed"
    (a wrong answer, or the measurement raised: left out of every figure) or "skipped" (it cannot run
    here, e.g. no C compiler for the baseline; checks["skipped"] says why). params: how it was measured; summary: the one-row
    summary (a Summary / BaselineSummary dict, or the peak's best); tables: table name -> its rows
    (dicts with `columns(TABLES[name])`); checks: problems and flags; environment facts that differ per
    point (thread_info). The run's environment lives beside the points (rnnbench.runs.store)."""

    point_id: str
    kind: str
    run_id: str | None
    machine: str
    status: str
    params: dict
    summary: dict
    tables: dict[str, list[dict]]
    checks: dict
    date: str
    wall_seconds: float
    thread_info: dict = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def as_dict(self) -> dict:
        return asdict(self)
