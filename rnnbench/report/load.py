"""Reading a run into pandas frames, and the cleaned views of them that the report draws from."""

from __future__ import annotations

from pathlib import Path

from rnnbench import records, results

# The run's tables, each with the columns it has today: a point file or a CSV written before a column
# existed still yields a frame with every column.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {name: records.columns(t) for name, t in records.TABLES.items()}
# summary columns that the plots and tables treat as numbers; a CSV may hold them as text or None
TIMING_COLUMNS = ("per_record_median_s", "median_s", "q1_s", "q3_s", "first_call_s", "records_per_call")


def load_frames(run_dir: str | Path) -> dict:
    """The run's tables as pandas DataFrames, from its point files (or its CSVs when it has none)."""
    import pandas as pd

    run_dir = Path(run_dir)
    if results.load_points(run_dir):
        t = results.tables(run_dir)
        return {k: pd.DataFrame(t[k], columns=list(c)) for k, c in TABLE_COLUMNS.items()}
    frames = {}
    for name, cols in TABLE_COLUMNS.items():
        path = run_dir / f"{name}.csv"
        frame = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=list(cols))
        for col in cols:  # a run written before a column existed: the column, empty
            if col not in frame.columns:
                frame[col] = None
        frames[name] = frame
    if all(f.empty for f in frames.values()):
        raise FileNotFoundError(f"{run_dir} holds no benchmark results (no points/ and no CSV files)")
    return frames


def usable_points(summary):
    """The summary without its failed points (they are left out of every figure), timings as floats."""
    return _passed(summary, TIMING_COLUMNS)


def usable_floor(floor):
    """The plain-C floor points that passed their checks, timings as floats and shapes as ints."""
    return _passed(
        floor, ("per_record_median_s", "median_s", "q1_s", "q3_s"), ("threads", "hidden", "seq_len", "batch")
    )


def _passed(frame, floats: tuple[str, ...], ints: tuple[str, ...] = ()):
    """frame without its failed rows, the given columns cast (a CSV may hold them as text or None)."""
    frame = frame[frame.status != "failed"].copy()
    for col in floats:
        frame[col] = frame[col].astype(float)
    for col in ints:
        frame[col] = frame[col].astype(int)
    return frame


def compile_recorded(acc) -> bool:
    """Whether the accuracy records carry compile_seconds; runs recorded before it existed do not."""
    return bool(acc.compile_seconds.notna().any()) if len(acc) else True


def with_both_clocks(acc):
    """The accuracy frame with steady_seconds beside train_seconds.

    train_seconds includes compilation; steady_seconds leaves it out. Runs recorded before
    compile_seconds existed count it as 0 (both clocks then agree)."""
    acc = acc.copy()
    acc["train_seconds"] = acc.train_seconds.astype(float)
    acc["compile_seconds"] = acc.compile_seconds.astype(float).fillna(0.0)
    acc["steady_seconds"] = acc.train_seconds - acc.compile_seconds
    return acc
