"""The progress of an ingest run over its files, shown as bytes on disk (a terminal's progress bar).

Each file counts its size on disk, whether it is read, unchanged or fails; a file read in segments
moves the bar as each segment is committed, so a backfill of one large file does not sit at 0 %
until its end. A compressed file moves by the share of its decompressed bytes committed.
"""

from __future__ import annotations

import os
from typing import Protocol


class Bar(Protocol):
    """What is used of a ``tqdm`` bar."""

    def update(self, n: float | None = 1) -> bool | None: ...

    def set_postfix(self, ordered_dict: object = None, refresh: bool | None = True, **kwargs: object) -> None: ...


def disk_size(path: str) -> int:
    """The size of ``path`` on disk, 0 when it cannot be read (gone, a broken link)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Progress:
    """Moves ``bar`` (total: the sum of :func:`disk_size` of the run's files) file by file."""

    def __init__(self, bar: Bar) -> None:
        self.bar = bar
        self._size = 0  # the current file's size on disk
        self._shown = 0  # of it, shown on the bar so far

    def start(self, path: str) -> None:
        """A file begins."""
        self._size, self._shown = disk_size(path), 0

    def at(self, done: int, of: int) -> None:
        """``done`` of the current file's ``of`` bytes to read are committed (its share of the size
        on disk is shown; the bar never moves back)."""
        target = self._size if of <= 0 else self._size * min(max(done, 0), of) // of
        if target > self._shown:
            self.bar.update(target - self._shown)
            self._shown = target

    def finish(self, events: int, rejected: int) -> None:
        """The current file is done (read, unchanged or failed): all of it is shown."""
        self.at(1, 1)
        self.bar.set_postfix(events=f"{events:,}", rejected=f"{rejected:,}")  # tqdm would print 1e+06
