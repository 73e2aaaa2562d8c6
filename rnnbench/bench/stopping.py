"""How a sweep stops: Ctrl-C (SIGINT) and SIGTERM (`kill`, `scancel`, a SLURM time limit, systemd, a
container runtime) stop it alike, keeping every finished point.

Every process of a sweep (`rnnbench bench`, a cluster job, a worker) turns SIGTERM into `Stopped`, a
KeyboardInterrupt that names its signal, so that one code path saves what was measured, prints the
resume command and exits with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).

SIGINT keeps Python's own handling on purpose: a process started with SIGINT ignored (`nohup`, or `cmd &`
in a script, whose children inherit the disposition) keeps ignoring it, as the nohup convention wants.
That is also why a process that must stop a child sends it SIGTERM (`stop_child`), never SIGINT: the
child may ignore SIGINT, it never ignores SIGTERM.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator


class Stopped(KeyboardInterrupt):
    """SIGTERM (or another stopping signal) arrived; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: SIGINT unless it is a `Stopped`."""
    return getattr(exc, "signum", signal.SIGINT)


def exit_status(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + int(signum)


def signal_of_status(status: int) -> int | None:
    """The stopping signal a child's exit status stands for (130 or 143, or a negative Popen status), or None."""
    stopping = (signal.SIGINT, signal.SIGTERM)
    if status < 0 and -status in stopping:
        return -status
    if status - 128 in stopping:
        return status - 128
    return None


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def _raise_stopped(signum: int, _frame) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def sigterm_stops() -> Iterator[None]:
    """Within the block, SIGTERM raises `Stopped` in the main thread; the previous handler comes back after."""
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def ignore_stopping_signals() -> None:
    """Once a process is stopping, a second Ctrl-C or SIGTERM (passed on by its parent) ends nothing early."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


STOP_GRACE_S = 2.0  # a child that got the same signal (a terminal's Ctrl-C, a scheduler's SIGTERM) stops within this
STOP_WAIT_S = 60.0  # a child asked to stop saves its points within this, or is killed


def stop_child(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S, wait_s: float = STOP_WAIT_S) -> None:
    """Stop a child process and reap it. It may already be stopping (it got the same signal from the terminal
    or the scheduler): give it grace_s. Then SIGTERM, which it turns into saving what it has and exiting;
    after wait_s, or on a second interrupt here, SIGKILL. It never outlives this call."""
    try:
        proc.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=wait_s)
            return
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            pass
    except KeyboardInterrupt:
        pass
    proc.kill()
    proc.wait()


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def stop_with_parent(parent_pid: int) -> None:
    """Linux: ask the kernel for SIGTERM when the parent process dies (it was killed with SIGKILL, say), so
    that a worker never outlives the job that started it; then make sure the parent is not gone already.
    Elsewhere nothing is done."""
    if not sys.platform.startswith("linux"):
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        raise Stopped(signal.SIGTERM)
