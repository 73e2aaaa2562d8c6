"""The sections of report.md, in markdown: each its heading, the prose that says how to read it, and its
figures and tables. Every function returns the section's lines, to be joined with newlines."""

from __future__ import annotations

from pathlib import Path

from rnnbench.report import derived, tables
from rnnbench.report.derived import impl_kinds, rows_where, thread_counts
from rnnbench.report.environment import environment_lines
from rnnbench.report.findings import peak_share_verdicts
from rnnbench.report.reference import ISSUE5_REFERENCE


def figure_links(figures: list[tuple[str, Path]], *prefixes: str) -> str:
    """Markdown images of the figures whose file names start with each prefix, prefix by prefix."""
    return "".join(
        f"![{title}](plots/{path.name})\n"
        for prefix in prefixes
        for title, path in figures
        if path.name.startswith(prefix)
    )


def title_section(run_id: str) -> list[str]:
    return [f"# rnnbench report: {run_id}\n"]


def environment_section(run_dir: Path) -> list[str]:
    return ["## Environment\n", *environment_lines(run_dir), ""]


def findings_section(sentences: list[str]) -> list[str]:
    return ["## What the figures say\n", *[f"- {s}" for s in sentences], ""]


def per_record_cost_section(headline: list[dict], figures) -> list[str]:
    return [
        "## Per-record cost against batch size\n",
        (
            "Median over the timed steps (warm-up and the first call excluded; every step ends with the "
            "implementation's sync); the band is the interquartile range. Synthetic float32 data, V=60, C=10, "
            "every record of length T; plain SGD.\n"
        ),
        figure_links(figures, "per_record_cost"),
        tables.headline_table(headline),
    ]


def speedup_section(figures) -> list[str]:
    return ["\n## Speed-up over B=1\n", figure_links(figures, "speedup")]


def threads_section(step) -> list[str]:
    """Per-record median at the smallest and the largest B, a column per thread count, and the ratio of
    each thread count's cost to the fewest threads' (below 1: more threads are faster)."""
    out = ["\n## Threads side by side\n"]
    counts = thread_counts(step)
    if len(counts) < 2:
        what = f"threads={counts[0]}" if counts else "no thread count"
        return [
            *out,
            f"This run measured {what} only; to see 1 and 2 threads side by side, run `rnnbench bench --threads 1,2`.\n",
        ]
    base = counts[0]
    return [
        *out,
        (
            f"Per-record median at the smallest and the largest batch size measured, per thread count; "
            f"t{counts[1]}/t{base} is the cost with {counts[1]} threads over the cost with {base} (below 1: "
            "the extra threads help). Each thread count runs in sessions of its own, with its own plots above.\n"
        ),
        tables.threads_table(step, counts),
    ]


def overhead_section(fit, figures) -> list[str]:
    return [
        "\n## Fixed overhead against marginal cost\n",
        (
            "time_per_step(B) = overhead + B x marginal, fitted by least squares on relative error to each "
            "point's median; B* = overhead / marginal is the batch size from which the per-record work "
            "costs more than the fixed per-step overhead.\n"
        ),
        figure_links(figures, "overhead_marginal", "step_time_fit"),
        tables.fit_table(fit),
    ]


def efficiency_section(peak, figures) -> list[str]:
    return [
        "\n## Efficiency: % of this machine's matmul peak\n",
        (
            "Model FLOPs of a training step (rnnbench.costmodel): per record 6TH^2 + 8TH + 6CH + 9C (forward "
            "recurrent matmul 2H^2 per time step, backward 4H^2, the head, the gather/scatter and "
            "elementwise work), plus 2P per step for the SGD update (P parameters). The peak is the best "
            "float32 square-matmul GFLOP/s of NumPy and PyTorch at the same thread count, measured in the same "
            "run.\n"
        ),
        *([tables.peak_samples_table(peak)] if len(peak) else []),
        "\n" + figure_links(figures, "pct_of_peak"),
    ]


def reference_section(step, pairs: list[tuple[str, str]], best_peak: dict[int, float], floor=None) -> list[str]:
    """This run beside issue #5's figures (ISSUE5_REFERENCE) and the plain-C floor it measured, and % of
    the matmul peak at H=256, B=256."""
    ref = ISSUE5_REFERENCE
    T = ref["seq_len"]
    comparison, measured = tables.reference_comparison_table(step, pairs, thread_counts(step) or [1], floor)
    out = [
        "\n## Beside the reference figures of issue #5 (measured outside rnnbench)\n",
        (
            f"Per-record median of this run (T={T}, V={ref['vocab']}, C={ref['classes']}, {ref['dtype']}) beside "
            f"the figures of the Performance issue: **{ref['source']}**. Those were seen on a machine of this "
            "kind with the issue author's own scripts, not with this harness. ours / issue divides our median "
            "by the upper end of the issue's range (by the figure itself where it gives one number); above 1, "
            "ours is slower. The plain-C floor is measured in this run, on this machine: the same step "
            "(float32, plain SGD) written in C with no framework and no Python in the timed loop, one thread "
            "(benchmarks/floor/rnn_floor.c, rnnbench.floor); ours / C floor is what a framework costs above "
            "that arithmetic.\n"
        ),
        tables.reference_floor_table(floor),
        "",
        comparison,
    ]
    if not measured:
        out.append(
            f"\nThis run measured none of these configurations (T={T} with H=64 or 256 and B=1 or 256): the "
            "`quick` profile does (`rnnbench bench --threads 1,2`).\n"
        )
    return [*out, "", *peak_share_lines(step, best_peak)]


def peak_share_lines(step, best_peak: dict[int, float]) -> list[str]:
    """% of the matmul peak measured with the same thread count, per implementation, at H=256, T=8,
    B=256 (or at the run's largest configuration when it lacks that one); whether the fastest reaches
    50% and every implementation 25%."""
    H, T, B = 256, ISSUE5_REFERENCE["seq_len"], 256
    sub = rows_where(step, hidden=H, seq_len=T, batch=B)
    where = f"H={H}, T={T}, B={B}"
    lead = f"### % of the matmul peak at {where}\n"
    if not len(sub) and len(step):
        H = int(step.hidden.max())
        at_h = step[step.hidden == H]
        T = T if (at_h.seq_len == T).any() else int(at_h.seq_len.max())
        B = int(at_h[at_h.seq_len == T].batch.max())
        sub = rows_where(step, hidden=H, seq_len=T, batch=B)
        lead = (
            f"### % of the matmul peak\n\nThis run did not measure {where}; at its largest configuration "
            f"instead, H={H}, T={T}, B={B} (not the issue's):\n"
        )
        where = f"H={H}, T={T}, B={B}"
    if not len(sub):
        return [lead, "_(no data)_\n"]
    return [
        lead,
        (
            "Model GFLOP/s of each call as % of the float32 matmul peak measured in this run with the SAME thread "
            "count (the peak is measured per thread count).\n"
        ),
        tables.peak_share_table(sub, best_peak),
        "",
        *peak_share_verdicts(sub, best_peak, where),
        "",
    ]


def first_call_section(step, figures) -> list[str]:
    return [
        "\n## First call: tracing, compilation, lazy set-up\n",
        (
            "The first train_step (or train_epoch) of a fresh model, timed alone and never part of the "
            "steady-state figures.\n"
        ),
        figure_links(figures, "first_call"),
        tables.first_call_table(step),
    ]


def memory_section(step, figures) -> list[str]:
    """Memory per train_step point: the step's measured peak against the BPTT cache formula."""
    out = [
        "\n## Memory against batch size\n",
        (
            "Per train_step point: what one more, untimed, step held at its peak beyond what was allocated "
            "before it (the BPTT cache, gradients, temporaries), as each framework accounts for its own "
            "memory; beside the BPTT activation cache the shapes call for, 4 x ((T+1) x B x H hidden states "
            "+ T x B x H pre-activations) bytes (rnnbench.costmodel; float32), the only part of a step that "
            "must grow with B x T x H. A peak that stays a small constant multiple of the cache as B grows "
            "means memory grows as the cache and nothing grows beyond it. MB = 10^6 bytes.\n"
        ),
    ]
    growth = derived.memory_growth(step)
    if not growth:
        return [*out, "_(no step memory figures: this run's points were measured before rnnbench recorded them)_\n"]
    methods = {r["impl"]: r["method"] for r in growth}
    out.append("How each implementation's peak is counted:\n")
    out += [f"- {impl}: {method}" for impl, method in methods.items()]
    out += ["", figure_links(figures, "memory")]
    out.append(
        "From the smallest to the largest B of each sweep, the step's peak against the cache formula. "
        "The rise ratio is the bytes the step adds per byte the cache adds: near 1 where the step holds the "
        "cache and little else of that size (below 1 where it frees part of it during the backward pass), a "
        "few where gradients and temporaries of the cache's shapes come "
        f"with it; above {derived.MEMORY_GROWTH_LIMIT:g}, something else grows with B.\n"
    )
    out.append(tables.memory_growth_table(growth))
    sweep = step[(step.kind == "step") & step.step_peak_bytes.notna()]
    order = [impl for impl, _ in impl_kinds(sweep)]
    out.append(
        "\nPer implementation, its train_step points, with the resident-set high-water mark of the process "
        "that ran them (getrusage ru_maxrss: per process, never falls, framework start-up included; the "
        "points run one after another with B ascending):\n"
    )
    for impl, g in sorted(sweep.groupby("impl"), key=lambda x: order.index(x[0])):
        out += [f"\n### Memory: {impl}\n", tables.memory_points_table(g)]
    return out


def accuracy_section(acc, acc_rows: list[dict], target, best_acc, compile_recorded: bool, figures) -> list[str]:
    out = ["\n## Accuracy per second\n"]
    if not acc_rows:
        return [*out, "_(no accuracy runs in this run)_\n"]
    out.append(
        f"Training on {acc.data.iloc[0]} with plain SGD (gradient norm clipped), the same epochs for every "
        f"batch size, lr = lr(B=1) x sqrt(B); validation accuracy against training seconds (evaluation "
        f"excluded), two ways: the wall clock, a jitted implementation's compilations included (left "
        f"panels; train_seconds), and the steady state without them (right panels; train_seconds - "
        f"compile_seconds, the seconds JAX reports spending in tracing, lowering and XLA compilation; "
        f"0 for the implementations that do not compile). Target accuracy {target:.3f}"
        f"{'' if best_acc is None else f' ({target / best_acc:.2f} x the best, {best_acc:.3f})'}; "
        "time to target is read at the evaluations, so it is as fine as their spacing, and given both "
        "ways.\n"
    )
    if not compile_recorded:
        out.append(
            "This run's accuracy records predate compile_seconds: compilation is counted as 0 s, so "
            "both clocks read the same.\n"
        )
    return [*out, figure_links(figures, "accuracy_vs_time"), tables.accuracy_table(acc_rows)]


def checks_section(summary) -> list[str]:
    bad = summary[summary.status != "ok"] if len(summary) else summary
    if len(bad):
        return ["\n## Checks\n", tables.checks_table(bad)]
    return [
        "\n## Checks\n",
        f"All {len(summary)} sweep points passed: losses finite and falling, timed parts add up to the loop.\n",
    ]


def files_section() -> list[str]:
    return [
        "\n## Files\n",
        "- samples.csv: every timed call (kinds step, epoch, first_call_step, first_call_epoch)",
        (
            "- summary.csv: one row per point (memory: model_cache_bytes, step_peak_bytes, step_memory_method, "
            "rss_before_bytes, peak_rss_bytes, rss_growth_bytes); fit.csv: the cost model; peak.csv: the matmul samples"
        ),
        (
            "- accuracy.csv: every evaluation of every training run (compile_seconds: the part of train_seconds "
            "spent compiling); machine.json: the environment"
        ),
        "- points/: one JSON file per finished point (the source of every table here)",
        "- pytest-benchmark-t*.json: pytest-benchmark's own records",
        "",
    ]
