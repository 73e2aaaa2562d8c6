"""What a training step dispatches, and what one dispatch costs here: the parts of the fixed overhead.

A step's fixed overhead (the intercept of time_per_step(B), rnnbench.runs.analysis.fits) is what every
step pays whatever its batch: mostly the price of handing work to the framework one operation at a time.
Each implementation counts what one of its steps dispatches (impls.RNNImpl.dispatch_count: NumPy
operations, top-level ATen operations, compiled calls), and hands over trivial calls of the same kinds
(RNNImpl.dispatch_probes), timed here, so that the report can set ops per step x cost per op beside the
fitted overhead. Framework-free: the implementation does the counting in its framework's own terms.
"""

from __future__ import annotations

from rnnbench.bench import timing

PROBE_CALLS = 1000  # calls timed together: one trivial dispatch takes a microsecond or a few tens
PROBE_RUNS = 5


def probe_seconds(call, sync) -> float:
    """Median seconds of one call of `call` (after one untimed call), over PROBE_RUNS runs of PROBE_CALLS calls."""
    call()
    sync()
    return timing.seconds_per_call(call, sync, calls=PROBE_CALLS, runs=PROBE_RUNS)


def dispatch_fields(model, batch) -> dict:
    """The records.Summary dispatch columns of one train_step of `model` on `batch` (which it runs: the
    parameters update), with the cost of each kind of dispatch on this machine."""
    count = model.dispatch_count(batch)
    costs = {name: probe_seconds(call, model.sync) for name, call in model.dispatch_probes().items()}
    return {
        "framework_ops": count.framework_ops,
        "framework_op_s": costs.get("framework_op"),
        "compiled_calls": count.compiled_calls,
        "compiled_call_s": costs.get("compiled_call"),
        "compiled_ops": count.compiled_ops,
        "dispatch_method": count.method,
    }
