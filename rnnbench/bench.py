"""Run the benchmark suite: the step-cost sweep (implementation x H x T x B), the matmul peak, the
plain-C floor at the sweep's shapes, and the accuracy-per-second runs, into results/<run-id>/; then
write the report.

Each implementation runs as its own pytest session over benchmarks/ (pytest-benchmark drives the timed
rounds; rnnbench.harness measures), in a fresh process whose thread variables are set before any
framework starts, so that no framework's thread pool competes with another's; the matmul peak and the
C floor get a session of their own; all of it once per thread setting. Every finished point is written
at once, atomically: after Ctrl-C, run the same command with --run-id RUN --resume to measure only
what is missing.

examples:
  rnnbench bench                                    quick profile, every installed implementation
  rnnbench bench --impl numpy-bptt,jax-scan --hidden 64 --batch-sizes 1,8,64 --skip-accuracy
  rnnbench bench --profile full --threads 1,2
  rnnbench bench --run-id 20250101-120000-4211b91 --resume
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rnnbench import machine, results

BENCHMARKS_DIR = machine.REPO_ROOT / "benchmarks"
PROFILE_NAMES = ("quick", "full", "test")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def _name_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--profile", choices=PROFILE_NAMES, default="quick", help="how much to measure (default: %(default)s)")
    add("--impl", type=_name_list, default=None, metavar="A,B", help="implementations (default: all installed)")
    add("--hidden", type=_int_list, default=None, metavar="H,H", help="hidden sizes (default: the profile's)")
    add("--seq-len", type=_int_list, default=None, metavar="T,T", help="sequence lengths (default: the profile's)")
    add("--batch-sizes", type=_int_list, default=None, metavar="B,B", help="batch sizes (default: the profile's)")
    add(
        "--threads",
        type=_int_list,
        default=[1],
        metavar="N,N",
        help="thread counts, the same for every framework; one session each (default: 1)",
    )
    add("--device", default="cpu", help="device for the implementations that have it (default: %(default)s)")
    add("--skip-accuracy", action="store_true", help="leave out the accuracy-per-second runs")
    add("--skip-sweep", action="store_true", help="leave out the step-cost sweep (and its matmul peak and C floor)")
    add("--run-id", default=None, metavar="NAME", help="name of the run folder (default: date-time + git hash)")
    add("--resume", action="store_true", help="continue run --run-id (default: the newest), skipping finished points")
    add("--results-dir", default=str(results.DEFAULT_RESULTS_DIR), metavar="DIR", help="default: %(default)s")
    add(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write report.md and plots at the end (default: on)",
    )
    add("--pytest-args", default="", metavar="ARGS", help="extra arguments for pytest, e.g. '-x' (one string)")


def _impls(args: argparse.Namespace) -> list[str]:
    import impls

    if args.impl is None:
        found = impls.available(args.device)
        if not found:
            raise SystemExit(f"rnnbench: error: no implementation is installed for device {args.device!r}")
        return found
    unknown = [n for n in args.impl if n not in impls.IMPLS]
    if unknown:
        raise SystemExit(f"rnnbench: error: unknown implementation(s) {unknown}; known: {', '.join(impls.IMPLS)}")
    missing = [n for n in args.impl if n not in impls.available(args.device)]
    if missing:
        raise SystemExit(
            f"rnnbench: error: {', '.join(missing)} cannot run here on {args.device!r} "
            f"(framework not installed or device absent); installed: {', '.join(impls.available(args.device))}"
        )
    return args.impl


def _run_dir(args: argparse.Namespace) -> tuple[str, Path]:
    root = Path(args.results_dir)
    if args.resume and args.run_id is None:
        run_dir = results.resolve_run(None, root)
        return run_dir.name, run_dir
    run_id = results.check_run_id(args.run_id or results.new_run_id(machine.git().get("short")))
    run_dir = root / run_id
    if not args.resume and results.load_points(run_dir):
        raise SystemExit(
            f"rnnbench: error: run {run_dir} already has results; add --resume to continue it, or choose another --run-id"
        )
    return run_id, run_dir


def _json_path(run_dir: Path, threads: int, what: str) -> Path:
    path = run_dir / f"pytest-benchmark-t{threads}-{what}.json"
    k = 2
    while path.exists():  # a resumed session keeps the earlier sessions' files
        path = run_dir / f"pytest-benchmark-t{threads}-{what}-{k}.json"
        k += 1
    return path


def pytest_command(args: argparse.Namespace, impl: str | None, run_id: str, run_dir: Path, threads: int) -> list[str]:
    """The pytest command line of one session: the matmul peak (impl None) or one implementation."""
    what = impl or "peak"
    cmd = [sys.executable, "-m", "pytest", str(BENCHMARKS_DIR), "-v", "-p", "no:cacheprovider", "--no-header"]
    cmd += ["--benchmark-enable", "--benchmark-sort=name", "--benchmark-columns=median,iqr,rounds,iterations"]
    cmd += ["--benchmark-group-by=func"]
    if impl is not None and not args.skip_sweep:  # only the sweep's tests use pytest-benchmark's fixture
        cmd.append(f"--benchmark-json={_json_path(run_dir, threads, what)}")
    # after Ctrl-C, pytest-benchmark warns that the interrupted test never used its fixture: not an error
    cmd += ["-W", "ignore:Benchmark fixture was not used:pytest_benchmark.logger.PytestBenchmarkWarning"]
    cmd += [f"--rnnbench-profile={args.profile}", f"--rnnbench-out={run_dir}", f"--rnnbench-run-id={run_id}"]
    cmd += [f"--rnnbench-threads={threads}", f"--rnnbench-device={args.device}"]
    for flag, values in (("hidden", args.hidden), ("seq-len", args.seq_len), ("batch-sizes", args.batch_sizes)):
        if values:
            cmd.append(f"--rnnbench-{flag}={','.join(map(str, values))}")
    if impl is None:  # the machine's own figures: the matmul peak, and the plain-C floor at the sweep's shapes
        cmd += ["-k", "test_matmul_peak or test_c_floor", "--rnnbench-skip-sweep", "--rnnbench-skip-accuracy"]
    else:
        cmd += ["-k", "not test_matmul_peak and not test_c_floor", f"--rnnbench-impl={impl}"]
        cmd += ["--rnnbench-skip-accuracy"] if args.skip_accuracy else []
        cmd += ["--rnnbench-skip-sweep"] if args.skip_sweep else []
    if args.resume:
        cmd.append("--rnnbench-resume")
    return cmd + shlex.split(args.pytest_args)


def run(args: argparse.Namespace) -> int:
    """`rnnbench bench`: 0 when every point passed its checks, 1 when one failed, 130 on Ctrl-C."""
    if not BENCHMARKS_DIR.is_dir():
        print(
            f"rnnbench: error: {BENCHMARKS_DIR} not found: `rnnbench bench` runs from a source checkout",
            file=sys.stderr,
        )
        return 2
    try:
        impls_ = _impls(args)
        run_id, run_dir = _run_dir(args)
    except (SystemExit, ValueError, FileNotFoundError) as e:
        print(e if isinstance(e, SystemExit) else f"rnnbench: error: {e}", file=sys.stderr)
        return 2
    run_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"rnnbench bench: profile {args.profile}, {', '.join(impls_)}, threads {args.threads} -> {run_dir}", flush=True
    )
    started = time.perf_counter()
    codes: list[int] = []
    interrupted = False
    # per thread setting: the matmul peak (the denominator of % of peak) and the C floor, then each
    # implementation alone
    parts: list[str | None] = ([] if args.skip_sweep else [None]) + (
        [] if args.skip_sweep and args.skip_accuracy else impls_
    )
    sessions = [(t, impl) for t in args.threads for impl in parts]
    for k, (threads, impl) in enumerate(sessions, start=1):
        print(f"\n[session {k}/{len(sessions)}] {impl or 'matmul peak and C floor'}, threads {threads}", flush=True)
        cmd = pytest_command(args, impl, run_id, run_dir, threads)
        env = os.environ | machine.thread_env(threads)
        proc = subprocess.Popen(cmd, cwd=machine.REPO_ROOT, env=env)
        try:
            codes.append(proc.wait())
        except KeyboardInterrupt:  # the child got the same SIGINT: let it save what it has and stop
            interrupted = True
            try:
                proc.wait(timeout=60)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                proc.kill()
            break
        if codes[-1] == 2:  # pytest was interrupted
            interrupted = True
            break
    results.combine(run_dir)
    records = results.load_points(run_dir)
    counts = {s: sum(r.get("status") == s for r in records) for s in ("ok", "flagged", "failed")}
    minutes, seconds = divmod(int(time.perf_counter() - started), 60)
    print(
        f"\nrnnbench bench: {len(records)} points in {run_dir} ({counts['ok']} ok, {counts['flagged']} flagged, "
        f"{counts['failed']} failed) after {minutes}:{seconds:02d}"
    )
    if interrupted:
        print(f"interrupted: finished points are kept; continue with: rnnbench bench --run-id {run_id} --resume")
    if args.report and records:
        from rnnbench import report

        try:
            path = report.build_report(run_dir)
        except ImportError as e:
            print(f"no report: {e} (pip install 'rnnbench[report]')")
        else:
            print(f"report: {path}")
    if interrupted:
        return 130
    return 0 if all(c in (0, 5) for c in codes) and not counts["failed"] else 1
