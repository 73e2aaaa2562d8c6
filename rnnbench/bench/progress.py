"""Progress of a sweep whose jobs run elsewhere, read from the run folder: a point is done when its file
is there (workers write each point atomically as it finishes, rnnbench.runs.store)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path

from rnnbench.jsonio import read_json
from rnnbench.runs import store

QUIET_LINE_EVERY_S = 30.0  # without a terminal: one progress line at most this often


class PointFiles:
    """The run's point files as they were before the jobs started: a point counts as measured now when
    its file appeared or changed since (an earlier record left in place does not count). machine None:
    every machine's folder (jobs that take the label of the node they land on)."""

    def __init__(self, run_dir: Path, point_ids: Iterable[str], machine: str | None = None) -> None:
        self.run_dir, self.machine = Path(run_dir), machine
        self.point_ids = set(point_ids)
        self.before = self._stamps()

    def _stamps(self) -> dict[Path, tuple[int, int]]:
        """(inode, mtime) of each point file of ours: a rewrite replaces the file, so either changes."""
        out = {}
        for path in store.point_files(self.run_dir):
            if path.stem in self.point_ids and self.machine in (None, path.parent.name):
                try:
                    st = path.stat()
                except OSError:  # replaced while we looked
                    continue
                out[path] = (st.st_ino, st.st_mtime_ns)
        return out

    def changed(self) -> list[Path]:
        return sorted(p for p, stamp in self._stamps().items() if self.before.get(p) != stamp)

    def count(self) -> int:
        return len(self.changed())

    def statuses(self) -> list[str]:
        """The status of each point written since the start ("failed" for a file that cannot be read:
        it measured nothing usable)."""
        out = []
        for path in self.changed():
            try:
                out.append(str(read_json(path).get("status")))
            except (OSError, ValueError, AttributeError):
                out.append("failed")
        return out


class Progress:
    """A bar over finished points (tqdm on a terminal, a line now and then elsewhere), with the jobs done."""

    def __init__(self, total: int, jobs: int, show: bool) -> None:
        self.total, self.jobs, self.show = total, jobs, show
        self._bar = None
        self._last = (-1, -1)
        self._last_line = 0.0
        if show and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="point", desc="points", dynamic_ncols=True)

    def update(self, points: int, jobs_done: int) -> None:
        if not self.show or (points, jobs_done) == self._last:
            return
        if self._bar is not None:
            self._bar.update(min(points, self.total) - self._bar.n)
            self._bar.set_postfix_str(f"jobs {jobs_done}/{self.jobs} done")
        elif jobs_done != self._last[1] or time.monotonic() - self._last_line >= QUIET_LINE_EVERY_S:
            print(f"  points {points}/{self.total}, jobs {jobs_done}/{self.jobs} done", flush=True)
            self._last_line = time.monotonic()
        else:
            return
        self._last = (points, jobs_done)

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
