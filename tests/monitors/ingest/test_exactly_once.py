"""Reruns, growing files, rotation and crashes never double count or lose data."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitors.demo.generate import Generator, write_jsonl
from monitors.ingest import files, pipeline
from storage import Store
from tests.monitors.ingest.helpers import counts_by_event, run_ingest, snapshot, track, write_lines


def _demo_file(path: Path, hours: int, seed: int) -> Path:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    write_jsonl(str(path), Generator(start, start + timedelta(hours=hours), sessions_per_hour=900, seed=seed).messages())
    return path


def test_ingesting_the_same_files_twice_changes_nothing(store: Store, tmp_path: Path) -> None:
    path = _demo_file(tmp_path / "a.jsonl", 6, 1)
    first = run_ingest(store, path)
    before = snapshot(store)
    again = run_ingest(store, path)
    assert first.events > 4000
    assert (again.events, again.rejected) == (0, 0)
    assert snapshot(store) == before


def test_appended_lines_are_read_once_and_partial_line_waits(store: Store, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "live.jsonl", [track(user="a"), track(user="b")])
    assert run_ingest(store, path).events == 2
    with open(path, "ab") as fh:  # a writer mid-line: the tail has no newline yet
        fh.write(b'{"type": "track", "event": "Added to Cart", "userId": "c", ')
    assert run_ingest(store, path, grace=3600).events == 0
    with open(path, "ab") as fh:
        fh.write(b'"timestamp": "2026-11-02T10:00:00Z", "properties": {"cart_id": "c9"}}\n')
    write_lines(path, [track(user="d")], mode="a")
    assert run_ingest(store, path, grace=3600).events == 2
    assert counts_by_event(store) == {"Added to Cart": 4}
    assert store.read_rejects() == []


def test_unterminated_last_line_is_read_after_the_grace(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "done.jsonl"
    path.write_bytes(b'{"type":"track","event":"Added to Cart","userId":"u","timestamp":"2026-11-02T10:00:00Z"}')
    old = time.time() - 7200
    os.utime(path, (old, old))
    assert run_ingest(store, path, grace=3600).events == 1


def test_rotation_by_rename_and_gzip_keeps_the_resume_point(store: Store, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    active = write_lines(logs / "app.log", [track(user=f"u{i}") for i in range(5)])
    assert run_ingest(store, logs).events == 5
    write_lines(active, [track(user=f"v{i}") for i in range(3)], mode="a")
    active.rename(logs / "app.log.1")  # rotated: the 3 new lines were never read
    write_lines(logs / "app.log", [track(user=f"w{i}") for i in range(4)])
    assert run_ingest(store, logs).events == 7
    with open(logs / "app.log.1", "rb") as src, gzip.open(logs / "app.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (logs / "app.log.1").unlink()
    assert run_ingest(store, logs).events == 0  # the gzip holds content already read
    write_lines(logs / "app.log", [track(user="x")], mode="a")
    assert run_ingest(store, logs).events == 1
    assert counts_by_event(store) == {"Added to Cart": 13}


def test_copytruncate_with_an_ingest_between_copy_and_truncate_counts_once(store: Store, tmp_path: Path) -> None:
    """logrotate copytruncate copies app.log to app.log.1, the writer appends, an ingest runs, and
    only then is app.log truncated: the copy is a prefix of what was read, never read again."""
    logs = tmp_path / "logs"
    logs.mkdir()
    active = write_lines(logs / "app.log", [track(user=f"u{i}") for i in range(20)])
    assert run_ingest(store, logs).events == 20
    shutil.copyfile(active, logs / "app.log.1")
    write_lines(active, [track(user=f"v{i}") for i in range(6)], mode="a")
    assert run_ingest(store, logs).events == 6
    write_lines(active, [track(user=f"w{i}", ts="2026-11-02T11:00:00.000+00:00") for i in range(5)])  # truncated
    assert run_ingest(store, logs).events == 5
    assert run_ingest(store, logs).events == 0
    assert counts_by_event(store) == {"Added to Cart": 31}


def test_copytruncate_rotation_reads_the_new_content(store: Store, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "app.log", [track(user=f"u{i}") for i in range(4)])
    run_ingest(store, path)
    write_lines(path, [track(user=f"n{i}", ts="2026-11-02T11:00:00.000+00:00") for i in range(2)])  # truncated + rewritten
    assert run_ingest(store, path).events == 2


@pytest.mark.parametrize("native", [True, False], ids=["native", "duckdb"])
@pytest.mark.parametrize("keeps_offset", [True, False], ids=["writer-keeps-offset", "o-append"])
def test_copytruncate_while_a_run_reads_the_new_lines_loses_none(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 native: bool, keeps_offset: bool) -> None:  # fmt: skip
    """copytruncate lands after a run has seen how far app.log goes and before it reads those
    bytes: it then read the hole (or nothing) and committed the resume point past lines it never
    counted, so their copy in app.log.1 was read only from there (a soak lost 1.6 % this way)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    active = write_lines(logs / "app.log", [track(user=f"u{i}") for i in range(20)])
    assert run_ingest(store, logs, native=native, grace=3600).events == 20
    write_lines(active, [track(user=f"v{i}") for i in range(6)], mode="a")
    seen = files.last_newline_end

    def rotated_meanwhile(path: str, start: int, size: int) -> int:
        end = seen(path, start, size)
        if not (logs / "app.log.1").exists():
            shutil.copyfile(active, logs / "app.log.1")
            os.truncate(active, 0)
            with open(active, "r+b") as fh:  # the writer's next line: at its offset, or at the start
                fh.seek(size if keeps_offset else 0)
                fh.write(json.dumps(track(user="w0")).encode() + b"\n")
        return end

    monkeypatch.setattr(files, "last_newline_end", rotated_meanwhile)
    run_ingest(store, logs, native=native, grace=3600)
    monkeypatch.setattr(files, "last_newline_end", seen)
    run_ingest(store, logs, native=native, grace=3600)
    assert run_ingest(store, logs, native=native, grace=3600).events == 0
    assert counts_by_event(store) == {"Added to Cart": 27}


def _ingest_cmd(db: str, files: list[Path]) -> list[str]:
    return [sys.executable, "-m", "monitors", "ingest", *map(str, files), "--db", db, "--source", "web",
            "--final-line-grace", "0s", "--no-progress"]  # fmt: skip


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.monotonic() - started


@pytest.mark.slow
class _OffsetKeepingLog:
    """A log written without O_APPEND, rotated by copy then truncate: each generation starts with a
    hole of NUL bytes as long as all the file held before."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.active = logs, logs / "app.log"
        self.fd = os.open(self.active, os.O_WRONLY | os.O_CREAT)

    def write(self, tag: str, n: int) -> None:
        os.write(self.fd, b"".join(json.dumps(track(user=f"{tag}{i}")).encode() + b"\n" for i in range(n)))

    def copytruncate(self) -> None:
        if (self.logs / "app.log.1").exists():
            os.rename(self.logs / "app.log.1", self.logs / "app.log.2")
        shutil.copyfile(self.active, self.logs / "app.log.1")
        os.truncate(self.active, 0)


@pytest.mark.parametrize("native", [True, False], ids=["native", "duckdb"])
def test_copytruncate_generations_with_nul_holes_are_told_apart(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    """Every generation of such a log starts with 4 KB of NULs: all had one identity, and a rotation
    in the middle of a run (after the copy, before the live file) skipped the copy's unread lines
    (65 of 75 counted). The identity of a file starting with a hole is its length and what follows."""
    (tmp_path / "logs").mkdir()
    log = _OffsetKeepingLog(tmp_path / "logs")
    log.write("a", 30)
    assert run_ingest(store, tmp_path / "logs", grace=3600, native=native).events == 30
    log.copytruncate()
    log.write("b", 30)
    assert run_ingest(store, tmp_path / "logs", grace=3600, native=native).events == 30
    log.write("c", 10)
    one = pipeline.SourceIngester._one

    def rotating(self: pipeline.SourceIngester, path: str) -> Any:
        result = one(self, path)
        if path.endswith("app.log.1"):  # the run has passed the copy; logrotate runs before it reaches app.log
            log.copytruncate()
            log.write("d", 5)
        return result

    monkeypatch.setattr(pipeline.SourceIngester, "_one", rotating)
    run_ingest(store, tmp_path / "logs", grace=3600, native=native)
    monkeypatch.setattr(pipeline.SourceIngester, "_one", one)
    run_ingest(store, tmp_path / "logs", grace=3600, native=native)
    assert counts_by_event(store) == {"Added to Cart": 75}
    os.close(log.fd)
    (tmp_path / "logs" / "app.log.2").write_bytes(gzip.compress((tmp_path / "logs" / "app.log.2").read_bytes()))
    (tmp_path / "logs" / "app.log.2").rename(tmp_path / "logs" / "app.log.2.gz")  # compressed later: known
    assert run_ingest(store, tmp_path / "logs", grace=3600, native=native).events == 0
    assert counts_by_event(store) == {"Added to Cart": 75}


def test_a_nul_hole_point_stored_before_holes_were_skipped_is_honoured(store: Store, tmp_path: Path) -> None:
    """Before, such files were known by their first 4 KB (all NULs), one point for every
    generation. After the upgrade the point still covers what was read: the copy already read is
    not read again, the live file resumes where it was, and a later generation is new."""
    (tmp_path / "logs").mkdir()
    log = _OffsetKeepingLog(tmp_path / "logs")
    log.write("a", 30)
    assert run_ingest(store, tmp_path / "logs", grace=3600).events == 30  # no hole: known as ever
    log.copytruncate()
    log.write("b", 30)  # generation 2: a hole as long as generation 1, then b lines
    hole = (tmp_path / "logs" / "app.log.1").stat().st_size
    read_to = hole + sum(len(json.dumps(track(user=f"b{i}")).encode()) + 1 for i in range(20))  # an old run read 20
    head = (tmp_path / "logs" / "app.log").read_bytes()[: files.FP_LEN]
    old = files.Checkpoint(files.digest(head), len(head), str(tmp_path / "logs" / "app.log"), read_to,
                           read_to, 0.0, False, False)  # fmt: skip
    store.save_checkpoint("web", old, datetime.now(UTC))
    assert run_ingest(store, tmp_path / "logs", grace=3600).events == 10  # b20..b29; the copy (a lines) not again
    log.copytruncate()
    log.write("c", 5)  # generation 3: its hole is longer than the old point reaches
    assert run_ingest(store, tmp_path / "logs", grace=3600).events == 5
    assert run_ingest(store, tmp_path / "logs", grace=3600).events == 0
    assert files.digest(head) in {cp.file_key for cp in store.checkpoints_of("web")}  # kept
    os.close(log.fd)


def test_sigkill_at_random_points_then_rerun_gives_the_clean_metrics(db_url: str, tmp_path: Path) -> None:
    files = [_demo_file(tmp_path / f"d{i}.jsonl", 10, seed=i) for i in range(3)]
    with open(files[2], "rb") as src, gzip.open(tmp_path / "d2.jsonl.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    files[2].unlink()
    files[2] = tmp_path / "d2.jsonl.gz"
    clean_url = f"sqlite:///{tmp_path / 'clean.sqlite'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    full = _timed(_ingest_cmd(clean_url, files), env)
    # start-up, checkpoints, nothing new to read; the quicker of two, so that a slow spell of a busy
    # host during one of them does not push every kill point past the end of the reading
    idle = min(_timed(_ingest_cmd(clean_url, files), env) for _ in range(2))
    work = max(full - idle, 0.05)
    # Kill points come from the measured runs, not fixed seconds (a faster ingest once made them all
    # too late): from late in the start-up to half the reading time. A run resumes at the last
    # commit, so the first two runs die before they can finish, whatever the machine's speed.
    rnd = random.Random(42)
    killed = 0
    for _ in range(8):
        proc = subprocess.Popen(_ingest_cmd(db_url, files), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(rnd.uniform(0.7, 0.95) * idle + rnd.uniform(0.0, 0.4) * work)
        if proc.poll() is not None:
            break  # it finished: nothing left to interrupt
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed += 1
        if killed == 4:
            break
    subprocess.run(_ingest_cmd(db_url, files), check=True, capture_output=True, env=env)
    assert killed >= 2, f"the runs finished before they could be killed (clean run {full:.2f} s, idle {idle:.2f} s)"
    clean, crashed = Store.from_url(clean_url), Store.from_url(db_url)
    try:
        assert snapshot(crashed) == snapshot(clean)
    finally:
        clean.dispose()
        crashed.dispose()


def test_hourly_rollups_are_current_right_after_ingest(store: Store, tmp_path: Path) -> None:
    path = _demo_file(tmp_path / "r.jsonl", 3, 4)
    run_ingest(store, path)
    raw = store.read_counts()
    hourly = store.read_counts(step=3600)
    raw_by_hour = raw.assign(bucket_start=raw["bucket_start"] - raw["bucket_start"] % 3600).groupby(
        ["event", "bucket_start"])["count"].sum()  # fmt: skip
    assert hourly.set_index(["event", "bucket_start"])["count"].sort_index().to_dict() == raw_by_hour.sort_index().to_dict()
    assert hourly["bucket_start"].mod(3600).eq(0).all() and len(hourly) < len(raw)


def test_a_file_read_meanwhile_by_another_ingest_is_counted_once_and_said_so(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ingests of one source at once: the one that commits second finds the resume point moved,
    writes nothing, and says why (it reported the file 'unchanged' without a word)."""
    path = write_lines(tmp_path / "app.log", [track(user=f"u{i}") for i in range(7)])
    original = Store.apply_ingest
    raced: list[Any] = []

    def racing(self: Store, batch: Any, now: Any) -> None:
        if not raced:  # the other ingest commits this file first
            raced.append(None)
            raced[0] = run_ingest(store, path)
        original(self, batch, now)

    monkeypatch.setattr(Store, "apply_ingest", racing)
    report = run_ingest(store, path)
    assert raced[0].events == 7 and counts_by_event(store) == {"Added to Cart": 7}
    (f,) = report.files
    assert (f.status, f.events, f.error) == ("unchanged", 0, "")
    assert f.warning.startswith("read meanwhile by another ingest of this source (")
