"""Compare two benchmark runs configuration by configuration: the ratio of median per-record cost
(RUN_B / RUN_A) for every (impl, device, threads, H, T, B, kind) both runs measured. Exit status 1
when any ratio exceeds --threshold (RUN_B regressed), 0 otherwise, 2 when the runs share nothing.

Compare runs from the same machine and thread setting: the table says when they differ.

examples:
  rnnbench compare results/reference results/20250101-120000-4211b91
  rnnbench compare OLD NEW --threshold 1.05 --kind step
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

from rnnbench import results

KEY = ("impl", "device", "threads", "hidden", "seq_len", "batch", "kind")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("run_a", metavar="RUN_A", help="the baseline: a run folder or a run id under --results-dir")
    add("run_b", metavar="RUN_B", help="the candidate")
    add("--threshold", type=float, default=1.10, help="regression when B/A exceeds this (default: %(default)s)")
    add("--kind", choices=("step", "epoch", "all"), default="all", help="which points to compare (default: all)")
    add("--results-dir", default=str(results.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add("--all", action="store_true", help="list every configuration, not only the changed ones")


def _float(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def load_summary(run_dir: Path) -> list[dict]:
    """Summary rows of a run: from its point files, else from its summary.csv."""
    if results.load_points(run_dir):
        return results.tables(run_dir)["summary"]
    path = run_dir / "summary.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} holds no benchmark results (no points/ and no summary.csv)")
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _key(row: dict) -> tuple:
    return tuple(str(row[k]) if k in ("impl", "device", "kind") else int(float(row[k])) for k in KEY)


def compare(rows_a: list[dict], rows_b: list[dict], threshold: float = 1.10, kind: str = "all") -> dict:
    """Join two runs' summaries on KEY. Returns {"rows": [...], "only_a": [...], "only_b": [...],
    "regressions": n}; each row carries a_s, b_s (median per-record seconds), ratio = b_s / a_s,
    and verdict "regressed" (ratio > threshold), "improved" (ratio < 1 / threshold) or "same"."""

    def usable(rows):
        keep = {}
        for r in rows:
            if r.get("status") == "failed" or (kind != "all" and r.get("kind") != kind):
                continue
            keep[_key(r)] = r
        return keep

    a, b = usable(rows_a), usable(rows_b)
    out = []
    for key in sorted(a.keys() & b.keys()):
        a_s, b_s = _float(a[key]["per_record_median_s"]), _float(b[key]["per_record_median_s"])
        ratio = b_s / a_s if a_s > 0 and math.isfinite(b_s) else math.nan
        if ratio > threshold:
            verdict = "regressed"
        elif ratio < 1.0 / threshold:
            verdict = "improved"
        else:
            verdict = "same"
        out.append(dict(zip(KEY, key, strict=True)) | {"a_s": a_s, "b_s": b_s, "ratio": ratio, "verdict": verdict})
    return {
        "rows": out,
        "only_a": sorted(a.keys() - b.keys()),
        "only_b": sorted(b.keys() - a.keys()),
        "regressions": sum(r["verdict"] == "regressed" for r in out),
    }


def _machine_line(run_dir: Path) -> str:
    s = results.load_machine(run_dir).get("latest", {})
    cpu = s.get("cpu", {}).get("model", "unknown CPU")
    return f"{run_dir.name}: {cpu}, threads {s.get('threads_setting')}, git {s.get('git', {}).get('short')}"


def format_table(rows: list[dict]) -> str:
    from rnnbench.report import fmt_time

    header = ["impl", "kind", "threads", "H", "T", "B", "A per record", "B per record", "B/A", "verdict"]
    lines = [header]
    for r in rows:
        lines.append(
            [
                r["impl"],
                r["kind"],
                str(r["threads"]),
                str(r["hidden"]),
                str(r["seq_len"]),
                str(r["batch"]),
                fmt_time(r["a_s"]),
                fmt_time(r["b_s"]),
                f"{r['ratio']:.3f}",
                r["verdict"].upper() if r["verdict"] == "regressed" else r["verdict"],
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    try:
        run_a = results.resolve_run(args.run_a, args.results_dir)
        run_b = results.resolve_run(args.run_b, args.results_dir)
        if not args.threshold > 1.0:
            raise ValueError(f"--threshold must be > 1, got {args.threshold}")
        out = compare(load_summary(run_a), load_summary(run_b), args.threshold, args.kind)
    except (FileNotFoundError, ValueError) as e:
        print(f"rnnbench: error: {e}", file=sys.stderr)
        return 2
    print(f"A = {_machine_line(run_a)}\nB = {_machine_line(run_b)}")
    if not out["rows"]:
        print("the two runs share no configuration: nothing to compare", file=sys.stderr)
        return 2
    shown = out["rows"] if args.all else [r for r in out["rows"] if r["verdict"] != "same"]
    shown = sorted(shown, key=lambda r: -r["ratio"] if math.isfinite(r["ratio"]) else 0.0)
    if shown:
        print(format_table(shown))
    ratios = [r["ratio"] for r in out["rows"] if math.isfinite(r["ratio"])]
    geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios)) if ratios else math.nan
    counts = {v: sum(r["verdict"] == v for r in out["rows"]) for v in ("regressed", "improved", "same")}
    print(
        f"{len(out['rows'])} configurations compared (median per-record cost, B/A): {counts['regressed']} regressed "
        f"past {args.threshold}, {counts['improved']} improved, {counts['same']} within; geometric mean B/A {geo:.3f}"
    )
    if out["only_a"] or out["only_b"]:
        print(f"not compared: {len(out['only_a'])} configurations only in A, {len(out['only_b'])} only in B")
    return 1 if out["regressions"] else 0
