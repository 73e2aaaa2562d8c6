"""Start `rnnbench bench` as a child whose signal dispositions are set explicitly, hold it in the middle of
its sweep, and find every process it started.

A test that signals a child must not depend on how the test run itself was started: a suite started as a
background job (`nohup nox &`, some CI runners) passes SIGINT ignored to every child. So each child starts
with the dispositions the test means (SIGINT and SIGTERM at their defaults, or SIGINT ignored to test the
nohup convention), in a session of its own (a terminal's Ctrl-C goes to the process group: os.killpg).

No test here waits for a run to "probably" be far enough: the hold hook (tests/hold/sitecustomize.py)
stops each worker after its first saved point until a signal arrives, and the test waits for that.
Deadlines only bound a hang; nothing asserts a duration.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from rnnbench import machine

HOLD_HOOK = Path(__file__).resolve().parent / "hold"
TAG_ENV = "RNNBENCH_TEST_PROCESS_TAG"  # marks every process of one started run (children inherit it)
DEADLINE_S = 300.0  # bounds a hang of the run under test; never reached when all is well


def with_dispositions(command: list[str], sigint: int = signal.SIG_DFL) -> list[str]:
    """command, started through a trampoline that sets SIGINT as given and SIGTERM to its default, then
    execs it: a disposition of SIG_DFL or SIG_IGN survives exec, whatever the test run itself inherited."""
    name = "SIG_IGN" if sigint == signal.SIG_IGN else "SIG_DFL"
    trampoline = (
        "import os, signal, sys; "
        f"signal.signal(signal.SIGINT, signal.{name}); signal.signal(signal.SIGTERM, signal.SIG_DFL); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", trampoline, *command]


class HeldRun:
    """A `rnnbench bench` child process, held after each worker's first point (see the module docstring)."""

    def __init__(self, command: list[str], hold_dir: Path, sigint: int = signal.SIG_DFL) -> None:
        hold_dir.mkdir(parents=True, exist_ok=True)
        self.hold_dir, self.tag = hold_dir, uuid.uuid4().hex
        python_path = os.pathsep.join(filter(None, [str(HOLD_HOOK), os.environ.get("PYTHONPATH")]))
        env = os.environ | {"PYTHONPATH": python_path, "RNNBENCH_TEST_HOLD_DIR": str(hold_dir), TAG_ENV: self.tag}
        self.proc = subprocess.Popen(
            with_dispositions(command, sigint),
            cwd=machine.REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def wait_until_held(self, workers: int = 1) -> list[int]:
        """Block until `workers` workers have each saved a point and are held; their pids."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            held = sorted(self.hold_dir.glob("held-*"))
            if len(held) >= workers:
                return [int(p.name.split("-", 1)[1]) for p in held]
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(
                    f"the run ended (exit {self.proc.returncode}) before a worker was held\n{out}{err}"
                )
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError(f"no {workers} held workers within {DEADLINE_S:.0f} s")

    def finish(self) -> tuple[str, str]:
        """Its output, once it has exited (killed past the deadline)."""
        try:
            return self.proc.communicate(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()


def processes_tagged(tag: str) -> list[str]:
    """Live processes (zombies aside) whose environment carries the tag: `pid command` each. Linux /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if f"{TAG_ENV}={tag}".encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # it ended meanwhile, or is not ours to read
            continue
        if state != "Z":
            found.append(f"{entry.name} {command}")
    return found


def can_list_processes() -> bool:
    return sys.platform.startswith("linux") and Path("/proc/self/environ").exists()
