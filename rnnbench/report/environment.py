"""The Environment section: where, when and with what the run was measured, from machine.json."""

from __future__ import annotations

from pathlib import Path

from rnnbench import results


def environment_lines(run_dir: Path) -> list[str]:
    """Markdown bullets on the machine, threads, libraries and profile, from the run's machine.json."""
    doc = results.load_machine(run_dir)
    sessions = doc.get("sessions", [])
    if not sessions:
        return ["_(no machine.json: environment unknown)_"]
    s = sessions[-1]  # the last session's machine stands for the run's
    cpu = s.get("cpu", {})
    libs = s.get("libraries", {})
    lib_text = ", ".join(f"{k} {v}" for k, v in libs.items() if v and k in ("numpy", "torch", "jax", "jaxlib"))
    blas = [p for p in s.get("blas_at_end", s.get("blas", [])) if p.get("user_api") == "blas"]
    blas_text = ", ".join(f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)" for p in blas)
    git = s.get("git", {})
    threads = sorted({x.get("threads_setting") for x in sessions if x.get("threads_setting") is not None})
    fw_text: list[str] = []  # each implementation runs in a session of its own: gather them all
    for x in sessions:
        fw = x.get("framework_threads_at_end", x.get("framework_threads", {}))
        tag = f" (threads {x.get('threads_setting')})" if len(threads) > 1 else ""
        if "torch" in fw:
            t = fw["torch"]
            fw_text.append(f"torch intra-op {t.get('intra_op_threads')}, inter-op {t.get('inter_op_threads')}{tag}")
        if "jax" in fw:
            j = fw["jax"]
            fw_text.append(f"jax NPROC={j.get('NPROC')}, XLA_FLAGS='{j.get('xla_flags', '')}'{tag}")
    fw_text = list(dict.fromkeys(fw_text))
    settings = s.get("profile_settings", {})
    grid = "; ".join(
        f"{name} {', '.join(map(str, settings[key]))}"
        for name, key in (("H", "hidden"), ("T", "seq_len"), ("B", "batch_sizes"))
        if settings.get(key)
    )
    lines = [
        f"- date: {s.get('date')}; git {git.get('short')}{' (uncommitted changes)' if git.get('dirty') else ''}",
        (
            f"- CPU: {cpu.get('model')} ({cpu.get('arch')}), {cpu.get('logical_cores')} logical / "
            f"{cpu.get('physical_cores')} physical cores, {cpu.get('usable_cores')} usable; "
            f"SIMD {', '.join(cpu.get('simd', [])) or '-'}; memory {s.get('memory_gib')} GiB"
        ),
        f"- threads setting (the same for every framework): {', '.join(map(str, threads))}; device {s.get('device')}",
        f"- threads in use: NumPy BLAS {blas_text or 'unknown'}" + "".join(f"; {x}" for x in fw_text),
        f"- {s.get('python')}; {lib_text}",
        f"- profile: {s.get('profile')}" + (f" ({grid})" if grid else ""),
    ]
    return lines
