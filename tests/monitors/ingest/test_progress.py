"""The progress bar of a one-shot ingest moves as each segment of a file is committed, and ends at
the run's total bytes on disk (files read or unchanged alike)."""

from __future__ import annotations

import gzip
import io
import re
import sys
from pathlib import Path

import pytest
from tqdm import tqdm

from monitors.ingest import native, pipeline
from monitors.ingest.progress import Progress, disk_size
from storage import Store
from tests.monitors.ingest.helpers import run_ingest, track, write_lines


class Terminal(io.StringIO):
    """What a terminal receives (the ingest draws its bar only on a terminal)."""

    def isatty(self) -> bool:
        return True


def _percents(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"(\d+)%\|", text)]


def _counts(text: str, total: int) -> list[int]:
    """The distinct byte counts the bar showed, in order."""
    out: list[int] = []
    for n in (int(x) for x in re.findall(rf"\| (\d+)/{total} \[", text)):
        if not out or out[-1] != n:
            out.append(n)
    return out


def test_progress_moves_by_share_of_the_file_and_never_back(tmp_path: Path) -> None:
    packed = tmp_path / "f.jsonl.gz"
    packed.write_bytes(b"x" * 1000)  # 1,000 bytes on disk, say 4,000 once decompressed
    out = io.StringIO()
    with tqdm(total=1000, file=out, mininterval=0) as bar:
        progress = Progress(bar)
        progress.start(str(packed))
        for done in (1000, 400, 2000, 6800):  # of 4,000 bytes to read
            progress.at(done, 4000)
        assert bar.n == 1000
    assert _percents(out.getvalue()) == [0, 25, 50, 100, 100]


def test_disk_size_of_a_missing_file_is_zero(tmp_path: Path) -> None:
    assert disk_size(str(tmp_path / "gone.jsonl")) == 0
    (tmp_path / "f").write_bytes(b"12345")
    assert disk_size(str(tmp_path / "f")) == 5


@pytest.mark.parametrize("native_on", [True, False], ids=["native", "duckdb_only"])
def test_a_large_file_moves_the_bar_segment_by_segment(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       native_on: bool) -> None:  # fmt: skip
    big = write_lines(tmp_path / "big.jsonl", [track(user=f"u{i}") for i in range(600)])
    packed = tmp_path / "small.jsonl.gz"
    packed.write_bytes(gzip.compress(b"".join(write_lines(tmp_path / "s.jsonl", [track(user="z")]).read_bytes() for _ in range(3))))
    monkeypatch.setattr(pipeline, "SEGMENT_BYTES", 16384)
    monkeypatch.setattr(pipeline, "TAIL_BYTES", 4096)
    monkeypatch.setattr(pipeline, "DUCKDB_FIRST_BYTES", 16384)
    monkeypatch.setattr(pipeline, "DUCKDB_MIN_BYTES", 16384)
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setattr(tqdm, "__init__", _eager(tqdm.__init__))

    report = run_ingest(store, big, packed, native=native_on, progress=True)
    assert report.events == 603
    size, total = big.stat().st_size, big.stat().st_size + packed.stat().st_size
    shown = _counts(screen.getvalue(), total)
    stops = [n for n in shown if 0 < n < size]
    assert shown == sorted(shown) and shown[0] == 0 and shown[-2:] == [size, total]  # big, then the gz file
    if native_on:  # the bar stops at each committed segment's end
        assert stops == [end for _, end in native.segments(str(big), 0, size, 16384, 4096)][:-1]
    else:  # DuckDB's segments grow while they hold few groups: at least the first few stops
        data = big.read_bytes()
        assert len(stops) >= 3 and all(data[n - 1 : n] == b"\n" for n in stops)  # each a committed line's end
    assert f"| {total}/{total} [" in screen.getvalue()  # every byte on disk counted once

    again = Terminal()  # a rerun: both files unchanged, and the bar still ends full
    monkeypatch.setattr(sys, "stderr", again)
    assert run_ingest(store, big, packed, native=native_on, progress=True).events == 0
    assert f"| {total}/{total} [" in again.getvalue() and _percents(again.getvalue())[-1] == 100


def _eager(init):  # type: ignore[no-untyped-def]
    """tqdm that draws every update (the test reads each step)."""

    def wrapped(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.update(mininterval=0, miniters=1, unit_scale=False)
        init(self, *args, **kwargs)

    return wrapped
