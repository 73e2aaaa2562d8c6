"""report.md: a headline table, at most MAX_FINDINGS sentences with their numbers, then one section per
question with its plot and table. Every number comes from rnnbench.analysis (through build.Run); the
method lives in docs/DESIGN.md §6 and the files in results/README.md, linked rather than repeated."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rnnbench import analysis
from rnnbench.units import fmt_bytes, fmt_num, fmt_pct, fmt_time, fmt_times

MAX_FINDINGS = 10
HEADLINE_B = 32  # the middle column of the headline: a common minibatch size
DESIGN = "[docs/DESIGN.md §6](../../docs/DESIGN.md#6-benchmarks)"
FILES = "[results/README.md](../README.md)"


# -- helpers -------------------------------------------------------------------------------------------


def md_table(rows: list[dict]) -> str:
    """A markdown table, a row per dict, the columns those of the first row."""
    if not rows:
        return "_(no data)_\n"
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    return "\n".join(out + ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]) + "\n"


def call_label(impl: str, kind: str, device: str = "cpu") -> str:
    """An implementation's timed call as the report names it: its fused epoch marked, a device not cpu named."""
    return impl + (" (fused epoch)" if kind == "epoch" else "") + ("" if device == "cpu" else f" [{device}]")


def label(c: dict) -> str:
    return call_label(c["impl"], c["kind"], c["device"])


def impl_rank(impl: str) -> int:
    """Registry order, then any other name: the order of tables, legends and colours."""
    import impls

    names = list(impls.IMPLS)
    return names.index(impl) if impl in names else len(names)


def ordered(items: Iterable[dict]) -> list[dict]:
    """Configurations (or rows with their keys) by machine, threads, registry order, step before epoch."""
    key = lambda c: (c["machine"], int(c["threads"]), impl_rank(c["impl"]), c["impl"], c.get("kind") != "step")
    return sorted(items, key=key)


def cost(row: dict | None) -> str:
    """A point's per-record cost with its multiple of the C baseline: "12.3 µs (4.1x)"."""
    if row is None:
        return "-"
    x = row.get("x_baseline")
    return fmt_time(row["per_record_median_s"]) + ("" if x is None else f" ({fmt_times(x)})")


def versus(row: dict) -> str:
    """A point's per-record cost in words: "12.3 µs, 4.1x the C baseline"."""
    x = row.get("x_baseline")
    return fmt_time(row["per_record_median_s"]) + ("" if x is None else f", {fmt_times(x)} the C baseline")


def where(run, c: dict) -> dict:
    """The leading cells of a row about configuration c: machine (when the run has several), threads, call."""
    return ({"machine": c["machine"]} if len(run.machines) > 1 else {}) | {"threads": c["threads"], "call": label(c)}


def shape_text(run) -> str:
    return f"H={run.shape[0]}, T={run.shape[1]}" if run.shape else "-"


def figure(figures: dict, name: str, caption: str) -> str:
    return f"![{caption}](plots/{figures[name].name})\n" if name in figures else ""


def section(title: str, *parts: str) -> str:
    return "\n".join([f"## {title}\n", *[p for p in parts if p]])


# -- sections ------------------------------------------------------------------------------------------


def header(run) -> str:
    m = run.manifest
    git, versions = m.get("git", {}), m.get("versions", {})
    libs = ", ".join(f"{k} {versions[k]}" for k in ("numpy", "torch", "jax") if versions.get(k))
    profile = m.get("sweep", {}).get("profile", {}).get("name")
    lines = [
        f"# Benchmark report: {run.run_id}\n",
        f"Measured {str(m.get('created', '?'))[:10]} at git {git.get('short', '?')}"
        + (" (uncommitted changes)" if git.get("dirty") else "")
        + (f", profile {profile}" if profile else "")
        + (f"; {libs}" if libs else "")
        + ".",
    ]
    for machine in run.machines:
        s = (run.environment.get(machine) or [{}])[-1]
        cpu, gpus = s.get("cpu", {}), s.get("gpus") or []
        gpu = f", {', '.join(map(str, gpus))}" if gpus else ""
        memory = f", {s['memory_gib']} GiB" if s.get("memory_gib") else ""
        lines.append(f"Machine {machine}: {cpu.get('model', '?')}, {run.cores.get(machine, '?')} cores{memory}{gpu}.")
    lines.append(
        f"How each figure is measured: {DESIGN}; the files of this folder: {FILES}. Tables are at "
        f"{shape_text(run)} (the shape most calls were measured at); the plots show every shape.\n"
    )
    return "\n".join(lines)


def headline(run) -> str:
    base = _baseline_rows(run)
    configs = ordered(run.at_shape(run.configs))
    rows = []
    for machine, threads in sorted({(c["machine"], c["threads"]) for c in configs} | set(base)):
        for c in (c for c in configs if (c["machine"], c["threads"]) == (machine, threads)):
            small, api = c["smallest"], c["smallest"].get("api_check_s")
            rows.append(
                where(run, c)
                | {
                    "B=1": cost(c["points"].get(1)),
                    f"B={HEADLINE_B}": cost(c["points"].get(HEADLINE_B)),
                    "best B": f"{cost(c['best'])} at B={c['best']['batch']}",
                    "% of peak (best B)": fmt_pct(c["best"].get("pct_of_peak")),
                    "API check per call (at the smallest B)": "-"
                    if api is None
                    else f"{fmt_time(api)} of {fmt_time(small['median_s'])} ({fmt_pct(100 * c['api_share'])})",
                }
            )
        by_b = base.get((machine, threads))
        if by_b:
            best = min(by_b.values(), key=lambda r: r["per_record_median_s"])
            c = {"machine": machine, "threads": threads, "impl": "C baseline (1 thread)", "kind": "", "device": "cpu"}
            rows.append(
                where(run, c)
                | {"B=1": cost(by_b.get(1)), f"B={HEADLINE_B}": cost(by_b.get(HEADLINE_B))}
                | {
                    "best B": f"{cost(best)} at B={best['batch']}",
                    "% of peak (best B)": "",
                    "API check per call (at the smallest B)": "",
                }
            )
    if not rows:
        return ""
    if all(r[f"B={HEADLINE_B}"] == "-" for r in rows):  # a sweep without B=32: no column of dashes
        rows = [{k: v for k, v in r.items() if k != f"B={HEADLINE_B}"} for r in rows]
    text = (
        f"Per-record cost of one training call (median) at {shape_text(run)}; in brackets its multiple of the "
        "single-thread C baseline at the same shape and B on the same machine. % of peak: the model's "
        "GFLOP/s over the machine's float32 matmul peak at that thread count. API check: the public "
        "API's input validation per call, timed alone, beside the call it is part of.\n"
    )
    return section("Headline", text, md_table(rows))


def _baseline_rows(run) -> dict[tuple[str, int], dict[int, dict]]:
    """(machine, threads) -> B -> the C baseline's row at the tables' shape."""
    out: dict[tuple[str, int], dict[int, dict]] = {}
    for r in analysis.usable(run.tables["baseline"]):
        if (r["hidden"], r["seq_len"]) == run.shape:
            out.setdefault((r["machine"], int(r["threads"])), {})[int(r["batch"])] = r
    return out


def per_record(run, figures) -> str:
    configs = ordered(run.at_shape(run.configs))
    if not configs:
        return ""
    batches = sorted({b for c in configs for b in c["points"]})
    by_b = [
        where(run, c) | {f"B={b}": fmt_times(c["points"].get(b, {}).get("x_baseline")) for b in batches}
        for c in configs
    ]
    parts = [
        figure(figures, "per_record_cost", "per-record cost against B"),
        f"Multiple of the C baseline at each B ({shape_text(run)}):\n",
        md_table(by_b),
    ]
    shapes = sorted({(c["hidden"], c["seq_len"]) for c in run.configs})
    if len(shapes) > 1:
        rows: dict[tuple, dict] = {}
        for c in ordered(run.configs):
            row = rows.setdefault((c["machine"], c["threads"], label(c)), where(run, c))
            row[f"H={c['hidden']} T={c['seq_len']}"] = f"{cost(c['best'])} B={c['best']['batch']}"
        cols = [f"H={h} T={t}" for h, t in shapes]
        parts += [
            "\nBest per-record cost of every shape (its B):\n",
            md_table([r | {k: r.get(k, "-") for k in cols} for r in rows.values()]),
        ]
    return section("Per-record cost against batch size", *parts)


def overhead(run, figures) -> str:
    fits = run.at_shape(run.fits)
    if not fits:
        return section(
            "Fixed overhead and marginal cost",
            f"No configuration was measured at {analysis.FIT_MIN_BATCHES} batch sizes or more: no line is fitted.\n",
        )
    rows = [
        where(run, f)
        | {
            "overhead per step": fmt_time(f["overhead_s"]),
            "marginal per record": fmt_time(f["marginal_s"]),
            "B* (overhead = B x marginal)": fmt_num(f["crossover_batch"], ".3g"),
            "worst fit error": fmt_pct(100 * f["max_rel_residual"]),
            "B range": f"{f['batch_min']}-{f['batch_max']}",
        }
        for f in ordered(fits)
    ]
    text = f"time_per_step(B) = overhead + B x marginal, fitted to the medians ({shape_text(run)}).\n"
    return section(
        "Fixed overhead and marginal cost", text, figure(figures, "overhead_marginal", "fit"), md_table(rows)
    )


def peak(run, figures) -> str:
    best: dict[tuple, dict] = {}
    for r in run.tables["peak"]:
        key = (r["machine"], int(r["threads"]))
        if key not in best or r["gflops"] > best[key]["gflops"]:
            best[key] = r
    rows = [
        ({"machine": m} if len(run.machines) > 1 else {})
        | {"threads": t, "matmul peak": f"{r['gflops']:.1f} GFLOP/s", "by": f"{r['library']}, n={r['n']}"}
        for (m, t), r in sorted(best.items())
    ]
    if not rows:
        return section("Share of the matmul peak", "_This run measured no matmul peak._\n")
    return section("Share of the matmul peak", figure(figures, "pct_of_peak", "% of peak against B"), md_table(rows))


def first_call(run) -> str:
    rows = [
        where(run, c)
        | {
            "B": c["smallest"]["batch"],
            "first call": fmt_time(c["smallest"]["first_call_s"]),
            "steady call": fmt_time(c["smallest"]["median_s"]),
            "ratio": fmt_times(c["first_call_ratio"]),
        }
        for c in ordered(run.at_shape(run.configs))
    ]
    text = "A fresh model's first call (tracing, compilation, lazy set-up) beside its steady call, at the smallest B.\n"
    return section("First call", text, md_table(rows)) if rows else ""


def memory(run, figures) -> str:
    limit = analysis.MEMORY_GROWTH_LIMIT
    shown = [g for g in run.growth if (g["hidden"], g["seq_len"]) == run.shape or g["rise_ratio"] > limit]
    if not shown:
        return ""
    rows = [
        where(run, g)
        | ({} if (g["hidden"], g["seq_len"]) == run.shape else {"call": f"{label(g)} H={g['hidden']} T={g['seq_len']}"})
        | {
            "B": f"{g['B_first']} -> {g['B_last']}",
            "BPTT cache": f"{fmt_bytes(g['cache_first'])} -> {fmt_bytes(g['cache_last'])}",
            "step peak": f"{fmt_bytes(g['peak_first'])} -> {fmt_bytes(g['peak_last'])}",
            "rise ratio": fmt_num(g["rise_ratio"], ".2f"),
            "counted by": g["method"],
        }
        for g in ordered(shown)
    ]
    text = (
        "A step's peak memory against the BPTT cache 4(2T+1)BH bytes, from the smallest to the largest B; "
        f"rise ratio = the peak's rise / the cache's rise (above {limit:g}: something else grows with B).\n"
    )
    return section("Memory", text, figure(figures, "memory", "memory against B"), md_table(rows))


def accuracy(run, figures) -> str:
    if not run.accuracy:
        return ""
    how = (
        f"{run.target / run.best_accuracy:.2g} x the best, {run.best_accuracy:.3f}"
        if run.best_accuracy and abs(run.target - analysis.TARGET_FRACTION * run.best_accuracy) < 1e-12
        else "given"
    )
    data = sorted({str(r["data"]) for r in run.tables["accuracy"]})
    reached = lambda s: "not reached" if s is None else f"{s:.3g} s"
    rows = [
        where(run, a | {"kind": "step"})
        | {
            "B": a["batch"],
            "lr": f"{a['lr']:.3g}",
            "best accuracy": f"{a['best_val_accuracy']:.3f}",
            "records/s": fmt_num(a["records_per_second"], ",.0f"),
            "compile": f"{a['compile_seconds']:.3g} s",
            "to target": reached(a["time_to_target"]),
            "to target, compilation excluded": reached(a["time_to_target_steady"]),
        }
        for a in ordered(run.accuracy)
    ]
    text = f"Data {', '.join(data)}; target accuracy {run.target:.3f} ({how}); evaluation time excluded.\n"
    return section("Accuracy per second", text, figure(figures, "accuracy", "accuracy against seconds"), md_table(rows))


def noise(run) -> str:
    if not run.noise and not run.loaded:
        return ""
    rows = [
        ({"machine": w["machine"]} if len(run.machines) > 1 else {})
        | {"worker": w["impl"], "threads": w["threads"]}
        | {
            "sentinel start": fmt_time(w["start_s"]),
            "end": fmt_time(w["end_s"]),
            "drift": fmt_num(w["drift"], ".3f") + (" (drifted)" if w["drifted"] else ""),
            "load start -> end": f"{fmt_num(w['load_start'], '.2f')} -> {fmt_num(w['load_end'], '.2f')}",
        }
        for w in ordered(run.noise)
    ]
    n_points = len(run.tables["summary"])
    loaded = (
        f"{len(run.loaded)} of {n_points} points were measured with a 1-minute load average above their "
        "machine's cores"
        + (": " + ", ".join(f"{r['point_id']} ({r['load']:.1f})" for r in run.loaded[:8]) if run.loaded else "")
        + (f", and {len(run.loaded) - 8} more" if len(run.loaded) > 8 else "")
        + ".\n"
    )
    text = (
        "A fixed sentinel workload timed at each worker's start and end: drift = end / start (1: the machine "
        f"ran at one speed; further than {analysis.NOISE_DRIFT_LIMIT:.0%} from 1: drifted).\n"
    )
    return section("Noise", text, md_table(rows), loaded)


def machines(run, figures) -> str:
    if len(run.machines) < 2:
        return ""
    rows = [
        {"call": label(c), "machine": c["machine"], "threads": c["threads"]}
        | {
            "B=1": cost(c["points"].get(1)),
            "best B": f"{cost(c['best'])} at B={c['best']['batch']}",
            "% of peak (best B)": fmt_pct(c["best"].get("pct_of_peak")),
        }
        for c in sorted(
            run.at_shape(run.configs), key=lambda c: (impl_rank(c["impl"]), label(c), c["machine"], c["threads"])
        )
    ]
    wins = [
        f"- {w['machine']}, threads {w['threads']}: at B=1 "
        + ("-" if w["b1_call"] is None else f"{call_label(*w['b1_call'])} ({fmt_time(w['b1_s'])})")
        + f"; at the best B {call_label(*w['best_call'])} ({fmt_time(w['best_s'])} at B={w['best_B']})"
        for w in run.at_shape(analysis.winners(run.configs))
    ]
    text = (
        f"Each call on each machine at {shape_text(run)}: raw, and in brackets as a multiple of that machine's "
        "C baseline; % of that machine's matmul peak. The cheapest per record on each machine:\n"
    )
    return section(
        "Machines side by side", text, "\n".join(wins) + "\n", md_table(rows), figure(figures, "machines", "machines")
    )


def checks(run) -> str:
    n = len(run.tables["summary"]) + len(run.tables["baseline"])
    rows = [
        {
            "machine": p["machine"],
            "point": p["point_id"],
            "status": p["status"],
            "problems": "; ".join(map(str, p["problems"])),
        }
        for p in run.problems
    ]
    rows += [
        {"machine": path.parent.name, "point": path.name, "status": "unreadable", "problems": why}
        for path, why in run.unreadable
    ]
    if not rows:
        return section("Checks", f"All {n} step, epoch and baseline points passed their checks.\n")
    text = "Failed points are left out of every figure; flagged ones (the timed parts do not add up) are kept.\n"
    return section("Checks", text, md_table(rows))


# -- findings ------------------------------------------------------------------------------------------


def findings(run) -> list[str]:
    """At most MAX_FINDINGS sentences, each with its number, from what the run holds."""
    here = run.at_shape(run.configs)
    main = [
        c
        for c in here
        if (c["machine"], c["threads"]) == min(((c["machine"], c["threads"]) for c in here), default=None)
    ]
    ranked: list[tuple[int, str]] = []  # (priority, sentence): the first MAX_FINDINGS by priority are kept

    def add(priority: int, make: Callable[[], str | None]) -> None:
        sentence = make()
        if sentence:
            ranked.append((priority, sentence))

    add(0, lambda: _b1_spread(run, main))
    add(1, lambda: _cheapest(run, main))
    add(2, lambda: _against_baseline(run))
    add(3, lambda: _machines_finding(run))
    add(4, lambda: _target_finding(run))
    add(5, lambda: _api_finding(main))
    add(6, lambda: _first_call_finding(main))
    add(7, lambda: _noise_finding(run))
    add(8, lambda: _memory_finding(run))
    add(9, lambda: _batching_finding(main))
    add(10, lambda: _threads_finding(run, here))
    add(11, lambda: _fit_finding(run))
    kept = sorted(ranked)[:MAX_FINDINGS]
    return [s for _, s in kept]


def scope(run, c: dict) -> str:
    """Where a finding about one (machine, threads) holds: "H=64, T=8, threads 1" (and the machine)."""
    return f"{shape_text(run)}, threads {c['threads']}" + (f", on {c['machine']}" if len(run.machines) > 1 else "")


def _b1_spread(run, main) -> str | None:
    at_1 = sorted((c for c in main if 1 in c["points"]), key=lambda c: c["points"][1]["per_record_median_s"])
    if len(at_1) < 2:
        return None
    lo, hi = at_1[0], at_1[-1]
    ratio = hi["points"][1]["per_record_median_s"] / lo["points"][1]["per_record_median_s"]
    return (
        f"At B=1 ({scope(run, lo)}), {label(lo)} is the cheapest per record: "
        f"{versus(lo['points'][1])}; {label(hi)} costs {fmt_times(ratio)} as much."
    )


def _cheapest(run, main) -> str | None:
    c = min(main, key=lambda c: c["best"]["per_record_median_s"], default=None)
    if c is None:
        return None
    return (
        f"The lowest per-record cost ({scope(run, c)}) is {label(c)}'s at B={c['best']['batch']}: "
        f"{versus(c['best'])}, {fmt_pct(c['best'].get('pct_of_peak'))} of the matmul peak."
    )


def _against_baseline(run) -> str | None:
    points = [p for c in run.configs for p in c["points"].values() if p.get("x_baseline") is not None]
    if not points:
        return None
    best = min(points, key=lambda p: p["x_baseline"])
    where_ = f"{call_label(best['impl'], best['kind'], best['device'])} at H={best['hidden']}, T={best['seq_len']}, B={best['batch']}"
    beaten = [p for p in points if p["x_baseline"] < 1]
    if beaten:
        return (
            f"{len(beaten)} of {len(points)} points beat the single-thread C baseline (furthest: {where_}, "
            f"{fmt_times(best['x_baseline'])}); there the matmul peak is the bound."
        )
    return f"No point beats the single-thread C baseline; the closest is {where_}, at {fmt_times(best['x_baseline'])}."


def _machines_finding(run) -> str | None:
    if len(run.machines) < 2:
        return None
    wins = run.at_shape(analysis.winners(run.configs))
    return (
        "Cheapest per record at the best B: "
        + "; ".join(
            f"on {w['machine']} (threads {w['threads']}) {call_label(*w['best_call'])}, {fmt_time(w['best_s'])}"
            for w in wins
        )
        + "."
    )


def _target_finding(run) -> str | None:
    reached = [a for a in run.accuracy if a["time_to_target"] is not None]
    if not run.accuracy:
        return None
    if not reached:
        return f"No training run reaches the target accuracy {run.target:.3f}."
    a = min(reached, key=lambda a: a["time_to_target"])
    steady = min(
        (x for x in run.accuracy if x["time_to_target_steady"] is not None), key=lambda x: x["time_to_target_steady"]
    )
    text = f"{a['impl']} at B={a['batch']} reaches the target accuracy {run.target:.3f} first, after {a['time_to_target']:.3g} s of training"
    if (steady["impl"], steady["batch"]) != (a["impl"], a["batch"]):
        text += f"; without compilation, {steady['impl']} at B={steady['batch']} is first ({steady['time_to_target_steady']:.3g} s)"
    return text + "."


def _api_finding(main) -> str | None:
    c = max((c for c in main if c["api_share"] is not None), key=lambda c: c["api_share"], default=None)
    if c is None:
        return None
    return (
        f"The public API's input check costs at most {fmt_pct(100 * c['api_share'])} of a call at B={c['smallest']['batch']} "
        f"({label(c)}: {fmt_time(c['smallest']['api_check_s'])} of {fmt_time(c['smallest']['median_s'])})."
    )


def _first_call_finding(main) -> str | None:
    c = max(main, key=lambda c: c["first_call_ratio"], default=None)
    if c is None:
        return None
    return (
        f"{label(c)}'s first call takes {fmt_time(c['smallest']['first_call_s'])}, {fmt_times(c['first_call_ratio'])} "
        "its steady call."
    )


def _noise_finding(run) -> str | None:
    drifts = [w["drift"] for w in run.noise if w["drift"] is not None]
    if not drifts and not run.loaded:
        return None
    worst = max(drifts, key=lambda d: abs(d - 1), default=None)
    text = (
        ""
        if worst is None
        else f"The noise sentinel drifted by at most {fmt_pct(100 * abs(worst - 1))} within a worker"
    )
    loaded = f"{len(run.loaded)} of {len(run.tables['summary'])} points ran under a load above the cores"
    return (text + "; " + loaded if text else loaded[0].upper() + loaded[1:]) + "."


def _memory_finding(run) -> str | None:
    growth = [g for g in run.growth if g["rise_ratio"] == g["rise_ratio"]]  # not NaN
    if not growth:
        return None
    g = max(growth, key=lambda g: g["rise_ratio"])
    if g["rise_ratio"] > analysis.MEMORY_GROWTH_LIMIT:
        return (
            f"{label(g)}'s step peak grows {g['rise_ratio']:.2f}x as fast as the BPTT cache (H={g['hidden']}, "
            f"T={g['seq_len']}): something besides the cache grows with B."
        )
    return f"Every step's peak memory grows at most {g['rise_ratio']:.2f}x as fast as the BPTT cache ({label(g)})."


def _batching_finding(main) -> str | None:
    c = max(main, key=lambda c: c["speedup"], default=None)
    if c is None or len(c["points"]) < 2:
        return None
    return (
        f"Batching pays most for {label(c)}: {fmt_times(c['speedup'])} cheaper per record at B={c['best']['batch']} "
        f"than at B={c['smallest']['batch']}."
    )


def _threads_finding(run, here) -> str | None:
    """The per-record cost at the best B with the most threads over that with the fewest, per call."""
    by_call: dict[tuple, dict[int, float]] = {}
    for c in here:
        key = (c["machine"], c["impl"], c["kind"], c["device"])
        by_call.setdefault(key, {})[int(c["threads"])] = c["best"]["per_record_median_s"]
    ratios = sorted((t[max(t)] / t[min(t)], key, min(t), max(t)) for key, t in by_call.items() if len(t) > 1)
    if not ratios:
        return None
    (lo, lo_call, few, many), (hi, hi_call, *_) = ratios[0], ratios[-1]
    return (
        f"With {many} threads instead of {few}, the per-record cost at the best B is {fmt_times(lo)} "
        f"({call_label(*lo_call[1:])}) to {fmt_times(hi)} ({call_label(*hi_call[1:])}) of what it was."
    )


def _fit_finding(run) -> str | None:
    fits = [f for f in run.at_shape(run.fits) if f["overhead_s"] == f["overhead_s"]]
    f = max(fits, key=lambda f: f["overhead_s"], default=None)
    if f is None:
        return None
    return (
        f"{label(f)} carries the largest fixed overhead, {fmt_time(f['overhead_s'])} per step "
        f"(B* = {fmt_num(f['crossover_batch'], '.3g')})."
    )


def markdown(run, figures: dict) -> str:
    """The whole of report.md."""
    sentences = findings(run)
    parts = [
        header(run),
        headline(run),
        section("Findings", "\n".join(f"{k}. {s}" for k, s in enumerate(sentences, 1)) + "\n") if sentences else "",
        per_record(run, figures),
        overhead(run, figures),
        peak(run, figures),
        first_call(run),
        memory(run, figures),
        accuracy(run, figures),
        noise(run),
        machines(run, figures),
        checks(run),
    ]
    return "\n".join(p for p in parts if p)
