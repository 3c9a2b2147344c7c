"""Finding log files and reading compressed ones. Compressed files that are not whole (still being
written, cut short, damaged): what decompresses is read once, the rest waits or is reported, and no
run crashes or counts twice."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import json
import lzma
import os
import random
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitors.errors import InputError
from monitors.ingest import files
from storage import Store
from tests.monitors.ingest.helpers import counts_by_event, run_ingest, snapshot, track, write_lines


def _lines(n: int, start: int = 0) -> bytes:
    return b"".join(json.dumps(track(user=f"u{i}")).encode() + b"\n" for i in range(start, start + n))


def _noisy_lines(n: int, start: int = 0) -> bytes:
    """Lines that do not compress to almost nothing (a random token each)."""
    rnd = random.Random(start)
    return b"".join(json.dumps(track(user=f"u{i}", token=f"{rnd.getrandbits(128):032x}")).encode() + b"\n"
                    for i in range(start, start + n))  # fmt: skip


def _old(path: Path) -> None:
    past = time.time() - 7200
    os.utime(path, (past, past))


class GzipWriter:
    """A gzip stream written in steps, as a shipper with gzip compression writes it: each step
    flushes what it has (so it decompresses) and the end marker comes only with :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.z = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
        path.write_bytes(b"")

    def write(self, data: bytes) -> None:
        with open(self.path, "ab") as fh:
            fh.write(self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH))

    def close(self) -> None:
        with open(self.path, "ab") as fh:
            fh.write(self.z.flush())


@pytest.mark.parametrize("native", [True, False], ids=["native", "duckdb"])
def test_a_gzip_stream_being_written_is_read_as_it_grows(store: Store, tmp_path: Path, native: bool) -> None:
    w = GzipWriter(tmp_path / "live.jsonl.gz")
    body = _lines(100)
    cut = body.index(b"\n", len(body) // 2) + 20  # mid-line: line 51 is half written
    w.write(body[:cut])
    first = run_ingest(store, w.path, grace=3600, native=native)
    assert (first.events, first.rejected) == (51, 0)
    assert first.files[0].warning.startswith("gzip stream without its end marker yet (still being written)")
    assert not first.files[0].damaged
    assert run_ingest(store, w.path, grace=3600, native=native).files[0].status == "unchanged"  # nothing new
    w.write(body[cut:] + _lines(10, start=100))
    assert run_ingest(store, w.path, grace=3600, native=native).events == 59
    w.close()
    last = run_ingest(store, w.path, grace=3600, native=native)
    assert (last.events, last.files[0].warning) == (0, "")
    assert counts_by_event(store) == {"Added to Cart": 110}
    assert store.read_rejects() == []
    cp = store.checkpoints_of("web")[0]
    assert cp.complete  # done: later runs do not decompress it again
    assert run_ingest(store, w.path, native=native).files[0].status == "unchanged"


def test_an_old_gzip_stream_without_its_end_is_read_whole_and_resumes_if_completed(store: Store, tmp_path: Path) -> None:
    w = GzipWriter(tmp_path / "cut.jsonl.gz")
    body = _lines(40)
    w.write(body[:-30])  # the last line is cut
    _old(w.path)
    first = run_ingest(store, w.path, grace=300)
    assert (first.events, first.rejected) == (39, 1)  # the cut line: counted and kept aside
    assert first.files[0].warning == ("gzip stream without its end marker (cut short?): read all it holds; "
                                      "anything written to it later is read too")  # fmt: skip
    assert {r["reason"]: r["count"] for r in store.read_rejects()} == {"invalid_json": 1}
    again = run_ingest(store, w.path, grace=300)
    assert (again.files[0].status, again.files[0].warning) == ("unchanged", "")  # said once
    w.write(_lines(5, start=40))
    w.close()
    assert run_ingest(store, w.path, grace=300).events == 5
    assert counts_by_event(store) == {"Added to Cart": 44}


def test_a_gzip_stream_cut_within_its_first_4_kb_waits_for_its_head(store: Store, tmp_path: Path) -> None:
    """A few hundred bytes cannot tell a new file from the start of a compressed copy of one
    already read (logrotate compressing app.log.1): they are not read until there is a head."""
    plain = write_lines(tmp_path / "app.log.1", [track(user=f"u{i}") for i in range(30)])
    assert run_ingest(store, plain).events == 30
    w = GzipWriter(tmp_path / "app.log.1.gz")  # the compressor has written its first lines only
    w.write(plain.read_bytes()[:700])
    young = run_ingest(store, w.path, grace=3600)
    assert (young.events, young.files[0].status, young.files[0].warning) == (0, "unchanged", "")
    _old(w.path)
    old = run_ingest(store, w.path, grace=300)
    assert old.events == 0 and "under 4,096 bytes: not read until it is longer or complete" in old.files[0].warning
    w.write(plain.read_bytes()[700:])  # it has the whole copy now: recognised as read already
    w.close()
    assert run_ingest(store, w.path, grace=300).events == 0
    assert counts_by_event(store) == {"Added to Cart": 30}


def _damaged_after(good: bytes, tmp: Path) -> Path:
    """``good`` in a first gzip member, then a member whose deflate data is invalid."""
    bad = bytearray(gzip.compress(_lines(50, start=900)))
    bad[10:12] = b"\xff\xff"  # an invalid block type right after the header
    path = tmp / "damaged.jsonl.gz"
    path.write_bytes(gzip.compress(good) + bytes(bad))
    return path


@pytest.mark.parametrize("native", [True, False], ids=["native", "duckdb"])
def test_a_damaged_gzip_gives_what_decompresses_and_the_other_files_are_read(
    store: Store, tmp_path: Path, native: bool
) -> None:
    damaged = _damaged_after(_lines(300), tmp_path)
    other = write_lines(tmp_path / "other.jsonl", [track(event="Checkout Started", user="x")])
    report = run_ingest(store, damaged, other, native=native)
    by_path = {Path(f.path).name: f for f in report.files}
    assert (by_path["damaged.jsonl.gz"].events, by_path["damaged.jsonl.gz"].damaged) == (300, True)
    assert by_path["damaged.jsonl.gz"].warning == (
        "damaged gzip (Error -3 while decompressing data: invalid block type): read the "
        f"{len(_lines(300)):,} bytes before the damage; the rest cannot be decompressed")
    assert by_path["other.jsonl"].events == 1
    assert counts_by_event(store) == {"Added to Cart": 300, "Checkout Started": 1}
    before = snapshot(store)
    again = run_ingest(store, damaged, other, native=native)
    assert [f.status for f in again.files] == ["unchanged", "unchanged"]  # the damage is final: not re-read
    assert snapshot(store) == before


@pytest.mark.parametrize("native", [True, False], ids=["native", "duckdb"])
def test_a_gzip_member_failing_its_check_is_not_read(store: Store, tmp_path: Path, native: bool) -> None:
    """A flipped bit decompresses to garbled names and times (new events, wrong buckets) that only
    the member's CRC catches, after the fact: the members before it are read, it and the rest not."""
    bad = bytearray(gzip.compress(_noisy_lines(20, start=30)))
    bad[-8] ^= 1  # the CRC in the trailer
    path = tmp_path / "crc.jsonl.gz"
    path.write_bytes(gzip.compress(_lines(30)) + bytes(bad) + gzip.compress(_lines(5, start=50)))
    report = run_ingest(store, path, native=native)
    assert report.events == 30 and report.files[0].damaged
    assert report.files[0].warning.startswith("damaged gzip (CRC check failed")
    assert report.files[0].warning.endswith(
        f"the member that failed its check ({len(_noisy_lines(20, start=30)):,} bytes) is not read (what it holds may "
        f"be garbled); read the {len(_lines(30)):,} bytes before it")
    assert counts_by_event(store) == {"Added to Cart": 30}
    assert files.verified_gzip_bytes(str(path)) == len(_lines(30))


def test_verified_gzip_bytes_counts_checked_members_and_ignores_zero_padding(tmp_path: Path) -> None:
    path = tmp_path / "ok.gz"
    path.write_bytes(gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 3000) + b"\0" * 512)
    assert files.verified_gzip_bytes(str(path)) == 4000
    path.write_bytes(gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 3000)[:-3])  # the last one cut short
    assert files.verified_gzip_bytes(str(path)) == 1000


def test_a_gzip_damaged_at_its_start_is_an_error_not_silence(store: Store, tmp_path: Path) -> None:
    data = bytearray(gzip.compress(_lines(20)))
    data[10:12] = b"\xff\xff"
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(bytes(data))
    other = write_lines(tmp_path / "ok.jsonl", [track(user="a")])
    report = run_ingest(store, path, other)
    assert [(Path(f.path).name, f.status) for f in report.files] == [("bad.jsonl.gz", "error"), ("ok.jsonl", "read")]
    assert report.files[0].error == "damaged gzip (Error -3 while decompressing data: invalid block type): nothing in it can be decompressed"
    assert report.events == 1


def test_copy_decompressed_keeps_everything_before_the_damage(tmp_path: Path) -> None:
    good = _lines(2000)  # over one input block of the gzip reader
    damaged = _damaged_after(good, tmp_path)
    got = files.copy_decompressed(files.FileInfo.of(str(damaged)), 0, None, str(tmp_path / "out"))
    assert (got.size, got.cut_short) == (len(good), False) and got.damage.startswith("Error -3")
    assert (tmp_path / "out").read_bytes() == good
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(good)[:-12])  # no trailer, and the end of the data missing
    got = files.copy_decompressed(files.FileInfo.of(str(cut)), 1000, None, str(tmp_path / "out2"))
    assert got.cut_short and got.damage == ""
    assert (tmp_path / "out2").read_bytes() == good[1000 : 1000 + got.size] and got.size > len(good) - 1000 - 200


def test_cli_prints_the_warning_and_exits_1_for_damage(tmp_path: Path) -> None:
    damaged = _damaged_after(_lines(10), tmp_path)
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    cmd = [sys.executable, "-m", "monitors", "ingest", str(damaged), "--db", db, "--source", "web", "--no-progress"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[3])
    assert out.returncode == 1
    assert "  warning: " + str(damaged) + ": damaged gzip (Error -3" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout.startswith("web: 1 file(s) read, 0 unchanged, 10 events, 0 rejected")


@pytest.mark.parametrize("codec", ["gzip", "bzip2", "xz"])
def test_a_member_appended_to_a_complete_stream_is_read_once(store: Store, tmp_path: Path, codec: str) -> None:
    """``gzip >> file`` (a new member), multi-stream bzip2/xz, or the file rewritten compressed with
    more in it: the new lines are read, from the offset reached in the decompressed bytes."""
    pack = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[codec]
    path = tmp_path / f"app.log.1.{ {'gzip': 'gz', 'bzip2': 'bz2', 'xz': 'xz'}[codec] }"
    path.write_bytes(pack(_lines(100)))
    assert run_ingest(store, path).events == 100
    assert run_ingest(store, path).files[0].status == "unchanged"
    with open(path, "ab") as fh:
        fh.write(pack(_lines(50, start=100)))
    again = run_ingest(store, path)
    assert (again.files[0].status, again.events) == ("read", 50)
    assert run_ingest(store, path).files[0].status == "unchanged"
    path.write_bytes(pack(_lines(170)))  # rewritten whole, with 20 more lines
    assert run_ingest(store, path).events == 20
    assert counts_by_event(store) == {"Added to Cart": 170}
    (cp,) = store.checkpoints_of("web")
    assert (cp.offset, cp.complete, cp.size) == (len(_lines(170)), True, path.stat().st_size)


@pytest.mark.parametrize("plain_first", [True, False], ids=["plain-first", "gzip-first"])
def test_the_same_lines_plain_and_gzipped_are_read_once(store: Store, tmp_path: Path, plain_first: bool) -> None:
    """A plain file named .gz beside a real gzip of the same lines (a copy, a botched rotation):
    one file's content, read once, whichever comes first; also after a resume point of the
    gzip stored without its offset (-1, as before 0.8), which once made the plain one seek to -1."""
    lines = _lines(40)
    (tmp_path / ("a.jsonl.gz" if plain_first else "b.jsonl.gz")).write_bytes(lines)
    (tmp_path / ("b.jsonl.gz" if plain_first else "a.jsonl.gz")).write_bytes(gzip.compress(lines))
    report = run_ingest(store, tmp_path)
    assert [f.status for f in report.files] == ["read", "read"] and report.events == 40
    assert counts_by_event(store) == {"Added to Cart": 40}


def test_a_plain_copy_of_a_gzip_read_before_0_8_is_not_read_again(store: Store, tmp_path: Path) -> None:
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(_lines(40)))
    run_ingest(store, packed)
    (cp,) = store.checkpoints_of("web")
    store.save_checkpoint("web", dataclasses.replace(cp, offset=-1), datetime.now(UTC), replaces=cp.file_key)
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(_lines(40))
    report = run_ingest(store, plain)
    assert (report.files[0].status, report.events, report.files[0].error) == ("unchanged", 0, "")
    assert counts_by_event(store) == {"Added to Cart": 40}


# -- other compressions


@pytest.mark.parametrize("codec", ["bzip2", "xz"])
def test_bzip2_and_xz_files_are_read_and_keep_the_resume_point_of_their_plain_file(
    store: Store, tmp_path: Path, codec: str
) -> None:
    plain = tmp_path / "app.log.1"
    plain.write_bytes(_lines(60))
    assert run_ingest(store, plain).events == 60
    with open(plain, "ab") as fh:
        fh.write(_lines(7, start=60))  # written just before rotation: not read yet
    packed = tmp_path / ("app.log.1.bz2" if codec == "bzip2" else "app.log.1.xz")
    packed.write_bytes((bz2.compress if codec == "bzip2" else lzma.compress)(plain.read_bytes()))
    plain.unlink()
    assert files.codec_of(str(packed)) == codec
    assert run_ingest(store, packed).events == 7
    assert counts_by_event(store) == {"Added to Cart": 67}


@pytest.mark.parametrize("codec", ["bzip2", "xz"])
def test_bzip2_and_xz_cut_short_or_damaged(store: Store, tmp_path: Path, codec: str) -> None:
    def compress(data: bytes) -> bytes:  # bzip2 in 100 KB blocks: a cut one gives nothing
        return bz2.compress(data, 1) if codec == "bzip2" else lzma.compress(data)

    whole = compress(_noisy_lines(2000))
    cut = tmp_path / f"cut.{codec}"
    cut.write_bytes(whole[: len(whole) * 3 // 4])
    _old(cut)
    report = run_ingest(store, cut, grace=300)
    assert report.files[0].warning.startswith(f"{codec} stream without its end marker (cut short?)")
    assert 500 < report.events < 2000 and not report.files[0].damaged
    damaged = tmp_path / f"damaged.{codec}"
    data = bytearray(compress(_noisy_lines(2000, start=5000)))
    data[len(data) // 2 : len(data) // 2 + 8] = b"\x00" * 8
    damaged.write_bytes(bytes(data))
    report = run_ingest(store, damaged)
    assert report.files[0].damaged and report.files[0].warning.startswith(f"damaged {codec} (")
    # the damage is in the middle; a decompressor gives up to a block (bzip2: 100 KB) less before it
    assert 600 <= report.events <= 1000


def test_zstd_files_are_an_error_that_says_what_to_do(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "app.log.1.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 64)
    report = run_ingest(store, path)
    assert (report.files[0].status, report.files[0].error) == (
        "error", "compressed with zstd, which is not read (gzip, bzip2 and xz are): decompress it, or have it compressed with gzip")


# -- discovery


def test_a_directory_yields_current_and_rotated_logs_and_nothing_else(tmp_path: Path) -> None:
    names = ["app.log", "app.log.1", "app.log.2.gz", "app.log-20261128", "app.log-20261127.gz", "events.jsonl",
             "events.jsonl.1", "events.ndjson", "dump.json", "notes.txt", "x.gz", "api_2026-11-28.log",
             # not logs:
             "README.md", "app.log.swp", ".app.log.swp", ".hidden.log", "app.log.pos", "app.log.lock", "run.pid",
             "events.jsonl.md5", "image.png"]  # fmt: skip
    for i, name in enumerate(names):
        (tmp_path / name).write_text(f"{i}\n")
        os.utime(tmp_path / name, (1_000_000 + i, 1_000_000 + i))
    assert [Path(p).name for p in files.discover([str(tmp_path)], strict=True)] == names[:12]


def test_discovery_passes_over_dangling_links_fifos_and_files_that_vanish(store: Store, tmp_path: Path) -> None:
    write_lines(tmp_path / "a.jsonl", [track(user="a")])
    (tmp_path / "gone.log").symlink_to(tmp_path / "deleted-by-rotation.log")
    os.mkfifo(tmp_path / "pipe.log")  # opening it would block the run
    report = run_ingest(store, tmp_path)
    assert [Path(f.path).name for f in report.files] == ["a.jsonl"] and report.events == 1
    with pytest.raises(InputError, match=r"^not a regular file: .*pipe\.log$"):
        files.discover([str(tmp_path / "pipe.log")], strict=True)
    with pytest.raises(InputError, match=r"^no such file or directory: .*gone\.log$"):
        files.discover([str(tmp_path / "gone.log")], strict=True)
    assert files.discover([str(tmp_path / "*.log")], strict=False) == []  # the glob's matches are not files


def test_files_renamed_or_deleted_after_discovery_are_passed_over(store: Store, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Rotation and retention during a run (a folder of many files takes a while): a file found
    then renamed or deleted before its turn was an error, the run ``partial`` and the CLI exit 1."""
    for name in ("app.log", "old.log", "new.log"):
        write_lines(tmp_path / name, [track(user=name)])
    found = files.discover

    def rotated_meanwhile(patterns: list[str], *, strict: bool) -> list[str]:
        paths = found(patterns, strict=strict)
        os.rename(tmp_path / "app.log", tmp_path / "app.log.1")
        os.unlink(tmp_path / "old.log")
        return paths

    monkeypatch.setattr(files, "discover", rotated_meanwhile)
    report = run_ingest(store, tmp_path)
    assert {Path(f.path).name: f.status for f in report.files} == {"app.log": "unchanged", "old.log": "unchanged",
                                                                   "new.log": "read"}  # fmt: skip
    assert (report.troubles, report.events) == ([], 1)
    monkeypatch.setattr(files, "discover", found)
    assert run_ingest(store, tmp_path).events == 1  # app.log.1, under its new name
    assert counts_by_event(store) == {"Added to Cart": 2}


def test_run_folders_are_removed_and_those_of_killed_runs_swept(store: Store, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Every ingest left an empty ehm-ingest-* folder in /tmp, and a killed one its decompressed copy."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "sys-tmp"))
    (tmp_path / "sys-tmp").mkdir()
    old = time.time() - 3600
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = {  # folder -> whether a sweep removes it
        f"ehm-ingest-{int(dead.stdout)}-abc": True,  # a killed run's, with its copy
        f"ehm-ingest-{os.getpid()}-def": False,  # a live process's
        "ehm-ingest-k3j4": True,  # an older version's, empty
        "ehm-ingest-m5n6": False,  # an older version's, not empty
        "other-folder": False,
    }
    for name in left:
        (tmp_path / "sys-tmp" / name).mkdir()
        if name in (f"ehm-ingest-{int(dead.stdout)}-abc", "ehm-ingest-m5n6"):
            (tmp_path / "sys-tmp" / name / "unpacked.jsonl").write_bytes(b"x" * 100)
        os.utime(tmp_path / "sys-tmp" / name, (old, old))
    fresh = tmp_path / "sys-tmp" / "ehm-ingest-999999999-new"  # just made: not judged yet
    fresh.mkdir()
    run_ingest(store, write_lines(tmp_path / "a.jsonl", [track()]))
    assert sorted(p.name for p in (tmp_path / "sys-tmp").iterdir()) == sorted(
        [n for n, swept in left.items() if not swept] + [fresh.name])


def _point(head: bytes, offset: int = 0) -> files.Checkpoint:
    return files.Checkpoint(files.digest(head), len(head), "/x", offset, len(head), 0.0, False, False)


def _info(head: bytes) -> files.FileInfo:
    return files.FileInfo("/x", len(head), 0.0, False, head)


def test_resume_index_finds_the_point_over_the_longest_matching_head() -> None:
    content = b"".join(b'{"n": %d}\n' % i for i in range(500))  # longer than an identity (FP_LEN)
    head = content[: files.FP_LEN]
    short, longer, whole = _point(head[:100], 1), _point(head[:700], 2), _point(head, 3)
    other = _point(b"x" * 700, 4)
    index = files.ResumeIndex([short, other, longer])
    assert index.match(_info(head)) == longer  # the file grew: its old 700-byte identity
    assert index.match(_info(head[:400])) == short
    assert index.match(_info(head[:99])) is None  # shorter than any identity of its content
    index.put(whole, replaces=longer.file_key)  # the identity upgraded as the file grew
    assert index.match(_info(head)) == whole
    assert index.match(_info(head[:800])) == short  # the 700-byte point is gone
    assert files.match_checkpoint(_info(head[:800]), [short, longer, other]) == longer


def test_resume_index_hashes_an_unchanged_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    heads = [b"%05d" % i + b"-" * (files.FP_LEN - 5) for i in range(3000)]
    index = files.ResumeIndex(_point(h, i) for i, h in enumerate(heads))
    calls = []
    real = files.digest
    monkeypatch.setattr(files, "digest", lambda data: calls.append(len(data)) or real(data))
    assert index.match(_info(heads[1234])).offset == 1234  # type: ignore[union-attr]
    assert calls == [files.FP_LEN]


def test_a_run_loads_the_resume_points_once(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder of many files: each file once looked every stored point up and hashed it (5,000
    files: 175 s to find nothing new). The points are loaded once per run and kept current by the
    run's own commits, so a file rotated into a copy of one read in the same run is still known."""
    (tmp_path / "logs").mkdir()
    for i in range(40):
        write_lines(tmp_path / "logs" / f"app.log.{i:03d}", [track(user=f"u{i}"), track(user=f"v{i}")])
    loads = []
    real = store.checkpoints_of
    monkeypatch.setattr(store, "checkpoints_of", lambda source: loads.append(source) or real(source))
    first = run_ingest(store, tmp_path / "logs")
    assert (first.events, len(loads)) == (80, 1)
    (tmp_path / "logs" / "copy.log").write_bytes((tmp_path / "logs" / "app.log.007").read_bytes())
    write_lines(tmp_path / "logs" / "app.log.040", [track(user="w")])
    (tmp_path / "logs" / "app.log.041").write_bytes((tmp_path / "logs" / "app.log.040").read_bytes())
    again = run_ingest(store, tmp_path / "logs")
    assert (again.events, len(loads)) == (1, 2)
    assert [f.status for f in again.files].count("unchanged") == 42
    assert [f.warning for f in again.files if f.warning] == []  # known, not "read meanwhile by another ingest"
    assert sum(counts_by_event(store).values()) == 81


HOLE = 17 << 20  # a line may hold 16 MB


@pytest.mark.parametrize("native", [True, False], ids=["native", "duckdb"])
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_a_copytruncate_hole_over_16_mb_does_not_lose_the_line_after_it(store: Store, tmp_path: Path, native: bool,
                                                                        compressed: bool) -> None:  # fmt: skip
    """copytruncate with a writer that keeps its offset: the truncated file restarts with as many
    NUL bytes as the log held (hundreds of MB for a daily log), then the writer's next line on the
    same line. That message was sent: it counts, and the hole is not a ``line_too_long``."""
    path = tmp_path / ("app.log.1.gz" if compressed else "app.log")
    if compressed:
        path.write_bytes(gzip.compress(b"\0" * HOLE + _lines(3), 1))
    else:
        with open(path, "wb") as fh:  # sparse, as the writer leaves it
            fh.seek(HOLE)
            fh.write(_lines(3))
    report = run_ingest(store, path, native=native)
    assert (report.events, report.rejected) == (3, 0)
    assert store.read_rejects() == []
    assert run_ingest(store, path, native=native).events == 0


def test_past_hole_skips_only_nul_bytes_a_line_follows(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b'{"a": 1}\n' + b"\0" * 5000 + b'{"b": 2}\n' + b"\0" * 10 + b"\n" + b"\0" * 3)
    size = path.stat().st_size
    assert files.past_hole(str(path), 0, size) == 0  # no hole there
    assert files.past_hole(str(path), 9, size) == 5009  # the line after the hole
    assert files.past_hole(str(path), 5018, size) == 5018  # a line of nothing but NULs stays a line
    assert files.past_hole(str(path), 5029, size) == 5029  # NULs and nothing after them yet


def test_the_hole_of_an_unchanged_file_is_measured_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copytruncate copy starts with as many zeros as its writer had written (a GB after weeks,
    and logrotate's copies are not sparse): a worker finds its identity again every minute from
    what it measured, until the file changes."""
    path = tmp_path / "app.log.1"
    path.write_bytes(b"\0" * 100_000 + json.dumps(track()).encode() + b"\n")
    calls = []
    real = files._past_hole_head
    monkeypatch.setattr(files, "_past_hole_head", lambda *a: calls.append(a) or real(*a))
    first, again = files.FileInfo.of(str(path)), files.FileInfo.of(str(path))
    assert (first.key, first.hole, len(calls)) == (again.key, 100_000, 1)
    with open(path, "ab") as fh:
        fh.write(json.dumps(track(user="u2")).encode() + b"\n")
    grown = files.FileInfo.of(str(path))
    assert len(calls) == 2 and grown.hole == 100_000
