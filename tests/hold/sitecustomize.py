"""Test hook, imported at start-up by every Python process of a test's `rnnbench bench` (the test puts this
folder first on PYTHONPATH and sets RNNBENCH_TEST_HOLD_DIR): once a worker has saved its first point, it
writes <hold dir>/held-<pid> and waits there until a signal stops it.

So a test signals a run that is certainly in the middle of its sweep, with finished points on disk and a
worker running, however fast or slow the machine is: the race between the run and the signal is gone.
Without RNNBENCH_TEST_HOLD_DIR nothing is changed.
"""

from __future__ import annotations

import os
import sys
import time

HOLD_DIR = os.environ.get("RNNBENCH_TEST_HOLD_DIR")


def _holding(save_point):
    def save_then_hold(*args, **kwargs):
        written = save_point(*args, **kwargs)
        is_worker = sys.argv[0].endswith(os.path.join("bench", "worker.py"))
        if is_worker and not getattr(save_then_hold, "held", False):
            save_then_hold.held = True
            path = os.path.join(HOLD_DIR, f"held-{os.getpid()}")
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(str(os.getpid()))
            os.replace(path + ".tmp", path)
            while True:  # until SIGINT or SIGTERM raises here
                time.sleep(0.05)
        return written

    return save_then_hold


if HOLD_DIR:
    from rnnbench.runs import store

    store.save_point = _holding(store.save_point)
