"""report.md: a headline table, at most ten findings with their numbers, then a section per question
with its plot and table. Every number comes from rnnbench.runs.analysis (through rnnbench.report.ReportedRun); the method
lives in docs/DESIGN.md §6 and the files in results/README.md, linked rather than repeated."""

from __future__ import annotations

from rnnbench.report import overhead_parts
from rnnbench.runs import analysis, costmodel, seeds
from rnnbench.units import fmt_bytes, fmt_num, fmt_pct, fmt_time, fmt_times

HEADLINE_B = 32  # the middle column of the headline: a common minibatch size
DESIGN = "[docs/DESIGN.md §6](../../docs/DESIGN.md#6-benchmarks)"
FILES = "[results/README.md](../README.md)"


def md_table(rows: list[dict]) -> str:
    """A markdown table (pandas), a row per dict, the columns those of the first row."""
    import pandas as pd

    if not rows:
        return "_(no data)_\n"
    return pd.DataFrame(rows, columns=list(rows[0])).astype(str).to_markdown(index=False, disable_numparse=True) + "\n"


def call_label(impl: str, kind: str, device: str = "cpu") -> str:
    """An implementation's timed call: its fused epoch marked, a device other than cpu named."""
    return impl + (" (fused epoch)" if kind == "epoch" else "") + ("" if device == "cpu" else f" [{device}]")


def label(c: dict) -> str:
    return call_label(c["impl"], c.get("kind", "step"), c["device"])


def impl_rank(impl: str) -> int:
    """Registry order (then any other name): the order of tables, legends and colours."""
    import impls

    return list(impls.IMPLS).index(impl) if impl in impls.IMPLS else len(impls.IMPLS)


def ordered(items) -> list[dict]:
    """Configurations (or rows with their keys) by machine, threads, registry order, step before epoch."""
    return sorted(items, key=lambda c: (c["machine"], c["threads"], impl_rank(c["impl"]), c["impl"], label(c)))


def cost(row: dict | None) -> str:
    """A point's per-record cost with its multiple of the C baseline in brackets: "12.3 µs (4.1x)"."""
    if row is None:
        return "-"
    x = row.get("x_baseline")
    return fmt_time(row["per_record_median_s"]) + ("" if x is None else f" ({fmt_times(x)})")


def versus(row: dict) -> str:
    """The same in words: "12.3 µs, 4.1x the C baseline"."""
    x = row.get("x_baseline")
    return fmt_time(row["per_record_median_s"]) + ("" if x is None else f", {fmt_times(x)} the C baseline")


def where(run, c: dict) -> dict:
    """The leading cells of a row: machine (when the run has several), threads, call."""
    return ({"machine": c["machine"]} if len(run.machines) > 1 else {}) | {"threads": c["threads"], "call": label(c)}


def shape_text(run) -> str:
    return f"H={run.shape[0]}, T={run.shape[1]}" if run.shape else "-"


def section(title: str, *parts: str) -> str:
    return "\n".join([f"## {title}\n", *[p for p in parts if p]])


def figure(figures: dict, name: str) -> str:
    return f"![{name.replace('_', ' ')}](plots/{figures[name].name})\n" if name in figures else ""


def api_parts(summary: dict) -> str:
    """ "check + conversion" of a summary row, e.g. "95 ns + 4.1 µs"."""
    return f"{fmt_time(summary.get('api_check_s'))} + {fmt_time(summary.get('api_convert_s'))}"


def headline(run) -> str:
    configs = ordered(run.at_shape(run.configs))
    base: dict[tuple, dict[int, dict]] = {}  # (machine, threads) -> B -> the C baseline's row
    for r in analysis.usable(run.tables["baseline"]):
        if (r["hidden"], r["seq_len"]) == run.shape:
            base.setdefault((r["machine"], r["threads"]), {})[r["batch"]] = r
    api_col = "API: check + conversion per call (smallest B)"
    rows = []
    for machine, threads in sorted({(c["machine"], c["threads"]) for c in configs} | set(base)):
        for c in (c for c in configs if (c["machine"], c["threads"]) == (machine, threads)):
            small, api = c["smallest"], c["api_s"]
            rows.append(
                where(run, c)
                | {"B=1": cost(c["points"].get(1)), f"B={HEADLINE_B}": cost(c["points"].get(HEADLINE_B))}
                | {"best B": f"{cost(c['best'])} at B={c['best']['batch']}"}
                | {"% of peak (best B)": fmt_pct(c["best"].get("pct_of_peak"))}
                | {api_col: "-" if api is None else f"{api_parts(small)} of {fmt_time(small['median_s'])}"}
            )
        if by_b := base.get((machine, threads)):
            best = min(by_b.values(), key=lambda r: r["per_record_median_s"])
            c = {"machine": machine, "threads": threads, "impl": "C baseline (1 thread)", "device": "cpu"}
            rows.append(
                where(run, c)
                | {"B=1": cost(by_b.get(1)), f"B={HEADLINE_B}": cost(by_b.get(HEADLINE_B))}
                | {"best B": f"{cost(best)} at B={best['batch']}", "% of peak (best B)": "", api_col: ""}
            )
    if all(r[f"B={HEADLINE_B}"] == "-" for r in rows):  # a sweep without B=32: no column of dashes
        rows = [{k: v for k, v in r.items() if k != f"B={HEADLINE_B}"} for r in rows]
    text = (
        f"Per-record cost of one training call (median) at {shape_text(run)}; in brackets its multiple of the "
        "single-thread C baseline at the same shape and B on the same machine. % of peak: the model's "
        "GFLOP/s over the machine's float32 matmul peak at that thread count. API: what the public API adds "
        "to a call, each part timed alone (its input validation + turning the batch into the framework's "
        "inputs), beside the whole call.\n"
    )
    return section("Headline", text, md_table(rows)) if rows else ""


def per_record(run, figures) -> str:
    configs = ordered(run.at_shape(run.configs))
    batches = sorted({b for c in configs for b in c["points"]})
    rows = [
        where(run, c) | {f"B={b}": fmt_times(c["points"].get(b, {}).get("x_baseline")) for b in batches}
        for c in configs
    ]
    text = f"The per-record cost as a multiple of the C baseline at each B ({shape_text(run)}):\n"
    return (
        section(
            "Per-record cost against batch size",
            figure(figures, "per_record_cost"),
            text,
            md_table(rows),
            jax_rise_note(configs),
        )
        if rows
        else ""
    )


JAX_RISE_WHY = (
    "XLA's CPU backend makes B=1's products matrix-vector dots and fuses the W_hh gradient into one loop, "
    "but from B=2 on hands the products to its YNNPACK fusions and emits one (H, H) dot per time step for "
    f"that gradient; a hand-written JAX step rises the same way ({FILES}, `benchmarks/jax_vs_handwritten.py`)."
)


def jax_rise_note(configs: list[dict]) -> str:
    """One line where a jax-scan call costs more per record at some B > 1 than at B = 1, with the reason."""
    risen = []
    for c in configs:
        points = c["points"]
        if c["impl"] != "jax-scan" or 1 not in points:
            continue
        rises = {b: p["per_record_median_s"] / points[1]["per_record_median_s"] for b, p in points.items() if b > 1}
        if rises and max(rises.values()) > 1:
            worst = max(rises, key=rises.get)
            risen.append(f"{label(c)}, threads {c['threads']}: {fmt_times(rises[worst])} at B={worst}")
    if not risen:
        return ""
    return f"\njax-scan costs more per record at a larger B than at B=1 ({'; '.join(risen)}): {JAX_RISE_WHY}\n"


def overhead(run, figures) -> str:
    title = "Fixed overhead and marginal cost"
    if not run.configs:
        return ""
    if not (fits := run.at_shape(run.fits)):
        return section(
            title, f"No configuration has {analysis.FIT_MIN_BATCHES} batch sizes or more: no line is fitted.\n"
        )
    rows = [
        where(run, f)
        | {"overhead per step": fmt_time(f["overhead_s"]), "marginal per record": fmt_time(f["marginal_s"])}
        | {
            "B* = overhead / marginal": fmt_num(f["crossover_batch"]),
            "worst fit error": fmt_pct(100 * f["max_rel_residual"]),
        }
        | {"B range": f"{f['batch_min']}-{f['batch_max']}", "fit": _fit_verdict(f)}
        for f in ordered(fits)
    ]
    text = f"time_per_step(B) = overhead + B x marginal, fitted to the medians ({shape_text(run)}).\n"
    failed = [f"{label(f)} (threads {f['threads']})" for f in ordered(fits) if _fit_verdict(f) != "ok"]
    text += f"The failed fits ({', '.join(failed)}) are left out of the plot.\n" if failed else ""
    return section(title, text, figure(figures, "overhead_marginal"), md_table(rows))


def overhead_made_of(run) -> str:
    parts = ordered(analysis.overhead_parts(run.configs, run.fits))
    rows = [where(run, p) | overhead_parts.cells(p) for p in parts]
    return (
        section(overhead_parts.TITLE, overhead_parts.TEXT, overhead_parts.methods(parts), md_table(rows))
        if rows
        else ""
    )


def _fit_verdict(f: dict) -> str:
    why = costmodel.fit_failure(f["overhead_s"], f["marginal_s"], f["batch_min"], f["batch_max"])
    return "ok" if why is None else f"failed: {why}"


def peak(run, figures) -> str:
    best: dict[tuple, dict] = {}
    for r in run.tables["peak"]:
        if (key := (r["machine"], r["threads"])) not in best or r["gflops"] > best[key]["gflops"]:
            best[key] = r
    rows = [
        ({"machine": m} if len(run.machines) > 1 else {})
        | {"threads": t, "matmul peak": f"{r['gflops']:.1f} GFLOP/s", "by": f"{r['library']}, n={r['n']}"}
        for (m, t), r in sorted(best.items())
    ]
    return section("Share of the matmul peak", figure(figures, "pct_of_peak"), md_table(rows)) if rows else ""


def first_call(run) -> str:
    rows = [
        where(run, c)
        | {"B": c["smallest"]["batch"], "first call": fmt_time(c["smallest"]["first_call_s"])}
        | {"steady call": fmt_time(c["smallest"]["median_s"]), "ratio": fmt_times(c["first_call_ratio"])}
        for c in ordered(run.at_shape(run.configs))
    ]
    text = "A fresh model's first call (tracing, compilation, lazy set-up) beside its steady call, at the smallest B.\n"
    return section("First call", text, md_table(rows)) if rows else ""


def memory(run, figures) -> str:
    limit = analysis.MEMORY_GROWTH_LIMIT
    rows = [
        where(run, g)
        | ({} if (g["hidden"], g["seq_len"]) == run.shape else {"call": f"{label(g)} H={g['hidden']} T={g['seq_len']}"})
        | {"B": f"{g['B_first']} -> {g['B_last']}"}
        | {"BPTT cache": f"{fmt_bytes(g['cache_first'])} -> {fmt_bytes(g['cache_last'])}"}
        | {"step peak": f"{fmt_bytes(g['peak_first'])} -> {fmt_bytes(g['peak_last'])}"}
        | {"rise ratio": fmt_num(g["rise_ratio"], ".2f"), "counted by": g["method"]}
        for g in ordered(run.growth)
        if (g["hidden"], g["seq_len"]) == run.shape or g["rise_ratio"] > limit  # other shapes: only an anomaly
    ]
    text = (
        "A step's peak memory against the BPTT cache 4(2T+1)BH bytes, from the smallest to the largest B; rise "
        f"ratio = the peak's rise / the cache's rise (above {limit:g}: something else grows with B).\n"
    )
    return section("Memory", text, figure(figures, "memory"), md_table(rows)) if rows else ""


def accuracy(run, figures) -> str:
    if not run.accuracy:
        return ""
    default = run.best_accuracy and abs(run.target - analysis.TARGET_FRACTION * run.best_accuracy) < 1e-12
    how = f"{analysis.TARGET_FRACTION:g} x the best, {run.best_accuracy:.3f}" if default else "given"
    rows = [
        where(run, a)
        | {"B": a["batch"], "seeds": f"{len(a['seeds'])} ({a['reached']} reached)", "lr": f"{a['lr']:.3g}"}
        | {"records/s, steady": fmt_num(a["steady_records_per_second"], ",.0f")}
        | {"compile (apart)": seeds.describe(a["compile_seconds"], "s")}
        | {
            "to target": seeds.describe(a["time_to_target"], "s"),
            "to target, compilation excluded": seeds.describe(a["time_to_target_steady"], "s"),
            "epochs to target": seeds.describe(a["epochs_to_target"], "epochs"),
            "final accuracy": seeds.describe(a["final_val_accuracy"], ""),
        }
        for a in ordered(run.seeded)
    ]
    data = ", ".join(sorted({str(r["data"]) for r in run.tables["accuracy"]}))
    coverage = sorted({a["time_to_target"].coverage for a in run.seeded})
    text = (
        f"Data {data}; target accuracy {run.target:.3f} ({how}); evaluation time excluded; records/s over the training seconds less the compilation, which is shown apart. Each cell: the median "
        "over seeds (initialisation and shuffling) [the order-statistic interval of the median, which covers it "
        f"with probability {' or '.join(fmt_pct(100 * c) for c in coverage)}; below 6 seeds no interval reaches 95%, "
        "so this is the range of the seeds]. A seed that never reaches the target counts as never: the median can be "
        "'not reached', the interval open-ended. A worker compiles once per shape for all its seeds (compiled functions "
        "are cached per process), so with compilation only its first seed pays it.\n"
    )
    return section("Accuracy per second", text, figure(figures, "accuracy"), md_table(rows))


def noise(run) -> str:
    if not run.noise and not run.loaded:
        return ""
    rows = [
        ({"machine": w["machine"]} if len(run.machines) > 1 else {})
        | {"worker": w["impl"], "threads": w["threads"], "sentinel start": fmt_time(w["start_s"])}
        | {"end": fmt_time(w["end_s"]), "drift": fmt_num(w["drift"], ".3f") + (" (drifted)" if w["drifted"] else "")}
        | {"load start -> end": f"{fmt_num(w['load_start'], '.2f')} -> {fmt_num(w['load_end'], '.2f')}"}
        for w in ordered(run.noise)
    ]
    gated = [r for r in run.loaded if r["gated"]]
    busy = [r for r in run.loaded if not r["gated"]]
    named = ", ".join(f"{r['point_id']}" for r in gated[:8])
    loaded = (
        f"Left out of every figure, loaded (the quiet gate found too few rounds with the yardstick at rest): "
        f"{len(gated)} of {len(run.tables['summary'])} points{': ' + named if named else ''}"
        f"{f', and {len(gated) - 8} more' if len(gated) > 8 else ''}.\n"
    )
    if busy:
        named_busy = ", ".join(f"{r['point_id']} ({r['load']:.1f})" for r in busy[:8])
        loaded += (
            f"{len(busy)} points were measured with a 1-minute load average above their machine's cores: "
            f"{named_busy}{f', and {len(busy) - 8} more' if len(busy) > 8 else ''}. That average lags a minute "
            "behind and misses a neighbour on the other hyperthread: the yardstick decides which rounds count.\n"
        )
    g = analysis.gate_counts(run.tables["summary"])
    text = (
        "A fixed sentinel workload timed at each worker's start and end: drift = end / start (further than "
        f"{analysis.NOISE_DRIFT_LIMIT:.0%} from 1: drifted, the machine's speed changed under the measurement). "
        "The yardstick, read before and after every timed round, decides which rounds count: "
        f"{g['quiet_rounds']} quiet rounds counted, {g['busy_rounds']} busy rounds were measured again.\n"
    )
    return section("Noise", text, md_table(rows), loaded)


def machines(run, figures) -> str:
    if len(run.machines) < 2:
        return ""
    configs = sorted(
        run.at_shape(run.configs), key=lambda c: (impl_rank(c["impl"]), label(c), c["machine"], c["threads"])
    )
    rows = [
        {"call": label(c), "machine": c["machine"], "threads": c["threads"], "B=1": cost(c["points"].get(1))}
        | {
            "best B": f"{cost(c['best'])} at B={c['best']['batch']}",
            "% of peak (best B)": fmt_pct(c["best"].get("pct_of_peak")),
        }
        for c in configs
    ]
    wins = "".join(
        f"- {w['machine']}, threads {w['threads']}: "
        + (
            "the machines measured no call at the same B here: nothing to set side by side"
            if not w["shared"]
            else "at B=1 "
            + ("-" if w["b1_call"] is None else f"{call_label(*w['b1_call'])} ({fmt_time(w['b1_s'])})")
            + f"; at the best B {call_label(*w['best_call'])} ({fmt_time(w['best_s'])} at B={w['best_B']})"
        )
        + "\n"
        for w in run.at_shape(analysis.winners(run.configs))
    )
    text = (
        f"Each call on each machine at {shape_text(run)}: raw, and in brackets as a multiple of that machine's "
        "C baseline; % of that machine's matmul peak. The cheapest per record on each machine, among the calls "
        "and batch sizes every machine measured:\n"
    )
    return section("Machines side by side", text, wins, md_table(rows), figure(figures, "machines"))


def checks(run) -> str:
    rows = [
        {"machine": p["machine"], "point": p["point_id"], "status": p["status"], "problems": "; ".join(p["problems"])}
        for p in run.problems
    ]
    rows += [
        {"machine": p.parent.name, "point": p.name, "status": "unreadable", "problems": why}
        for p, why in run.unreadable
    ]
    if not rows:
        n = len(run.tables["summary"]) + len(run.tables["baseline"])
        return section("Checks", f"All {n} step, epoch and baseline points passed their checks.\n")
    text = "Failed points are left out of every figure; flagged ones (the timed parts do not add up) are kept.\n"
    return section("Checks", text, md_table(rows))
