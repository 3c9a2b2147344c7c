"""The native scanner's own contract: built where a C compiler is, same timestamps, same sketch
bytes and the same results whatever the chunk and thread split (the DuckDB equivalence over many
corpora is in test_native_equivalence.py)."""

from __future__ import annotations

import itertools
import random
import shutil
import sysconfig
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from sqlalchemy import select

from monitors import sketch
from monitors.ingest import columnar, native, pipeline
from monitors.ingest.conformance import Evaluator
from monitors.ingest.pipeline import IngestOptions, ingest
from monitors.plan import load_plan
from monitors.sketch import HLL, HLL_M
from storage import Store
from storage.tables import quarantine

from .helpers import run_ingest, snapshot, track, write_lines

HAVE_COMPILER = shutil.which("gcc") is not None and Path(sysconfig.get_paths()["include"], "Python.h").exists()


@pytest.fixture
def scanning() -> Iterator[tuple[Any, native.LeakJudge]]:
    """A scanner of the default plan and its leak judge, on a DuckDB connection of its own."""
    plan = load_plan()
    con = columnar.connect()
    reader = native.NativeReader(con, plan, Evaluator(plan), bucket_seconds=300, now_epoch=time.time(), leakage=None)
    judge = native.LeakJudge(con.cursor(), reader.cfg)
    try:
        yield reader._scanner(judge), judge
    finally:
        judge.con.close()
        con.close()


def test_the_extension_is_built_where_a_compiler_is() -> None:
    if not HAVE_COMPILER:
        pytest.skip("no C compiler or Python headers here: ingest runs on DuckDB alone")
    assert native.available(), "gcc and Python.h are here but monitors.ingest._scan was not built (pip install -e .)"


scan = pytest.importorskip("monitors.ingest._scan")


def test_timestamps_the_scanner_reads_are_the_epochs_duckdb_gives() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    accepted = [
        "2026-11-01T00:00:00Z", "2026-11-01T00:00:00.1Z", "2026-11-01T00:00:00.123456Z", "2026-11-01 23:59:59+05",
        "2026-11-01T00:00:00+0530", "2026-11-01T00:00:00.5-08:00", "2024-02-29T12:00:00+15:59", "1970-01-01T00:00:00",
        "2999-12-31T23:59:59.999999Z", "2026-11-01T12:34:56.000+00:00", "2026-11-01T00:00:00.123Z",
        "2026-11-01T23:59:59.999+00:00", "2026-11-01T00:00:00.123+00:01", "2026-11-01T00:00:00.120-00:00",
        "2026-11-01T00:00:00.123+0000", "2026-11-01 00:00:00.007+00:00", "2026-11-01T00:00:00.123456789Z",
        "2026-11-01T00:00:00.9999999Z", "2026-11-01T00:00:00.1234567+05:30", "2026-11-01T23:59:59.12345678901234567890Z",
    ]  # fmt: skip
    for s in accepted:
        want = con.execute("SELECT epoch(CAST(? AS TIMESTAMPTZ))", [s]).fetchall()[0][0]
        assert scan.parse_ts(s) == want, s
    # Forms DuckDB reads differently or not at all are left to DuckDB (None: the line is deferred).
    for s in ["2026-11-01T00:00:00z", "2026-11-01T24:00:00Z", "2026-02-29T00:00:00Z",
              "2026-11-01T00:00Z", "2026-11-01", "2026-11-01T00:00:00 +05:30", "1969-12-31T23:59:59Z", "2026-11-01T00:00:60Z",
              "2026-11-01T00:00:00+16:00", "2026-11-01T00:00:00.Z", "2026-11-01T00:00:00UTC", "",
              "2026-11-01T00:00:00.12a+00:00", "2026-11-01T00:00:00.123+00:0x", "2026-11-01T00:00:00.1a3Z",
              "2026-11-01T00:00:00.123z", "2026-11-01T00:00:00.123 00:00", "2026-11-01T00:00:00.1234567x"]:  # fmt: skip
        assert scan.parse_ts(s) is None, s


def test_timestamps_read_in_a_row_give_what_each_gives_alone() -> None:
    # The scanner remembers the last minute prefix it read: a shared prefix must not let a bad
    # second, fraction or offset through, nor carry a value over to the next timestamp.
    seq = ["2026-11-01T00:00:59.999Z", "2026-11-01T00:00:60Z", "2026-11-01T00:00:05+01:00", "2026-11-01T00:00:05",
           "2026-11-01T00:00:5x", "2026-11-01 00:00:05Z", "2026-11-01T00:00", "2026-11-01T00:00:05.Z",
           "2026-02-29T00:00:00Z", "2026-02-29T00:00:01Z", "2024-02-29T00:00:01Z", "2024-02-29T00:00:02.5-00:30",
           "2024-02-29T00:01:02Z", "2024-02-29T00:01:02Z", "", "2024-02-29T00:01:02Z"]  # fmt: skip
    alone = [scan.parse_ts(s) for s in seq]
    assert alone[1] is None and alone[2] is not None and alone[8] is None
    assert scan.parse_ts_seq(seq) == alone
    rng = random.Random(5)
    stamps = [f"2026-{rng.choice(['01', '02', '11', '12'])}-{rng.randint(1, 31):02d}T{rng.randint(0, 24):02d}:"
              f"{rng.randint(58, 60):02d}:{rng.randint(58, 61):02d}{rng.choice(['', '.5', 'Z', '+02', '.25-01:30', 'x', '.123+00:00', '.999Z', '.12x+00:00'])}"
              for _ in range(3000)]  # fmt: skip
    stamps.sort()  # runs of shared prefixes, as in a log
    each = [scan.parse_ts(s) for s in stamps]
    assert scan.parse_ts_seq(stamps) == each
    assert 500 < sum(e is None for e in each) < 2500  # both kinds, in runs


def test_hll_bytes_are_the_same_from_the_native_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    for k in (0, 1, 7, 1365, 1366, 1367, 4096):
        h = HLL()
        h.regs[rng.choice(4096, k, replace=False)] = rng.integers(1, 53, k)
        fast = h.encode()
        with monkeypatch.context() as m:
            m.setattr(sketch, "_hll_encode", None)
            assert h.encode() == fast, k
        assert HLL.decode(fast) == h


def test_results_do_not_depend_on_chunks_or_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not native.usable(load_plan(), 1.0):
        pytest.skip("the native scanner is switched off (EHM_NATIVE=0)")
    lines: list[object] = []
    for i in range(600):
        msg = track(user=f"u{i % 37}", sent="2026-11-02T10:00:01.500+00:00", received="2026-11-02T10:00:02.250+00:00",
                    cart_id=f"c{i}", items=[{"product_id": "p", "quantity": i % 3, "price": 1.5}], cart_value=i)  # fmt: skip
        msg["messageId"] = f"m{i}"
        msg["timestamp"] = f"2026-11-02T{10 + i % 5:02d}:{i % 60:02d}:00.000Z"
        if i % 50 == 0:
            msg["properties"].pop("cart_id")
        lines.append(msg)
        if i % 97 == 0:
            lines.append('{"batch": [] , "oops"')
    path = write_lines(tmp_path / "x.jsonl", lines)
    snaps = []
    for chunk, threads in ((1 << 24, 1), (4096, 2), (1000, 3)):
        monkeypatch.setattr(native, "CHUNK_BYTES", chunk)
        monkeypatch.setattr(native.NativeReader, "__init__", _with_threads(native.NativeReader.__init__, threads))
        store = Store.from_url(f"sqlite:///{tmp_path}/{chunk}-{threads}.sqlite")
        store.migrate()
        report = run_ingest(store, path)
        assert report.files[0].reader == "native+exact"
        assert (report.events, report.rejected) == (600, 7)
        snaps.append(snapshot(store))
        store.dispose()
    assert snaps[0] == snaps[1] == snaps[2]


def _with_threads(init, threads: int):  # type: ignore[no-untyped-def]
    def patched(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["threads"] = threads
        init(self, *args, **kwargs)

    return patched


def test_event_names_that_share_a_cache_slot_keep_their_own_counts(tmp_path: Path) -> None:
    # Same length, first and last character (one slot of the scanner's recent-names cache), and a
    # page message between them: each name keeps its own series, as DuckDB reads them.
    names = ["Cart Aaa Viewed", "Cart Bbb Viewed", "Cart Aab Viewed", "Order Completed", "order Completed"]
    lines: list[object] = []
    for i in range(300):
        lines.append(track(names[i * 7 % 5], user=f"u{i % 11}", ts=f"2026-11-02T10:{i % 60:02d}:00Z"))
        if i % 9 == 0:
            lines.append({"type": "page", "userId": "u1", "name": "Home", "timestamp": "2026-11-02T10:00:00Z"})
    path = write_lines(tmp_path / "names.jsonl", lines)
    got = {}
    for native_on in (True, False):
        store = Store.from_url(f"sqlite:///{tmp_path}/n{native_on}.sqlite")
        store.migrate()
        run_ingest(store, path, native=native_on)
        got[native_on] = snapshot(store)
        counts = {}
        for row in got[native_on]["event_metrics"]:
            d = dict(row)
            counts[d["series"][2]] = counts.get(d["series"][2], 0) + d["count"]
        assert counts == {**{n: 60 for n in names}, "$page": 34}
    assert got[True] == got[False]


def _count_commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The resume-point offset of every commit from now on (the list fills as they happen)."""
    commits: list[int] = []
    original = Store.apply_ingest

    def counting(self: Store, batch: Any, now: Any) -> None:
        commits.append(batch.checkpoint.offset)
        original(self, batch, now)

    monkeypatch.setattr(Store, "apply_ingest", counting)
    return commits


def _fresh(tmp_path: Path, name: str) -> Store:
    """A migrated SQLite store of its own."""
    store = Store.from_url(f"sqlite:///{tmp_path}/{name}.sqlite")
    store.migrate()
    return store


def test_a_file_shorter_than_the_range_being_read_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """A file truncated in place while it is read (copytruncate rotation) gives a short read: the
    reader raises OSError, which the ingest reports for that file (a memory map would SIGBUS)."""
    path = write_lines(tmp_path / "x.jsonl", [track(user=f"u{i}") for i in range(50)])
    size = path.stat().st_size
    with open(path, "rb") as fh, pytest.raises(OSError, match="shrank while it was read"):
        native._Chunks(str(path), 0, size + 1000).next(fh, bytearray(1 << 20), 1 << 20)
    for buf_len, asked in ((1000, 1000), (4000, 100)):  # pieces smaller than the file; asked below a line
        chunks, buf, pieces = native._Chunks(str(path), 0, size), bytearray(buf_len), []
        with open(path, "rb") as fh:
            while (piece := chunks.next(fh, buf, asked)) is not None:
                pieces.append((bytes(piece[0][: piece[1]]), piece[2]))
        assert len(pieces) > 5 and all(p.endswith(b"\n") for p, _ in pieces)
        assert b"".join(p for p, _ in pieces) == path.read_bytes()


def test_segments_commit_their_resume_points_and_a_crash_between_them_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file read in several segments stores what one read stores; a crash after the second
    segment's commit leaves its resume point there, and the rerun reads only the rest."""
    from monitors.ingest import pipeline

    lines: list[object] = []
    for i in range(400):
        msg = track(user=f"u{i % 23}", cart_id=f"c{i}", items=[{"product_id": "p", "quantity": 1, "price": 2.0}], cart_value=i)
        msg["messageId"] = f"m{i}"
        msg["timestamp"] = f"2026-11-02T{10 + i % 7:02d}:{i % 60:02d}:00.000Z"
        lines.append(msg)
        if i % 61 == 0:
            lines.append("{not json")
    path = write_lines(tmp_path / "seg.jsonl", lines)

    whole = _fresh(tmp_path, "whole")
    run_ingest(whole, path)
    expected = snapshot(whole)

    monkeypatch.setattr(pipeline, "SEGMENT_BYTES", 8192)
    monkeypatch.setattr(pipeline, "TAIL_BYTES", 2048)
    cuts = native.segments(str(path), 0, path.stat().st_size, 8192, 2048)
    assert len(cuts) > 5 and 1024 < cuts[-1][1] - cuts[-1][0] <= 2 * 2048  # the last piece: the tail
    pieces = _fresh(tmp_path, "pieces")
    report = run_ingest(pieces, path)
    assert (report.events, report.rejected) == (400, 7)
    assert snapshot(pieces) == expected
    assert run_ingest(pieces, path).events == 0  # nothing new

    crashed = _fresh(tmp_path, "crashed")
    calls = {"n": 0}
    original = Store.apply_ingest

    def crash_after_two(self: Store, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt("killed")
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "apply_ingest", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(crashed, path)
    monkeypatch.setattr(Store, "apply_ingest", original)
    offset = crashed.checkpoints_of("web")[0].offset
    assert 0 < offset < path.stat().st_size and path.read_bytes()[offset - 1 : offset] == b"\n"
    run_ingest(crashed, path)
    assert snapshot(crashed) == expected


def test_segments_cut_at_line_starts_and_end_with_a_short_tail(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"".join(b"x" * (i % 90) + b"\n" for i in range(3000)))
    size = path.stat().st_size
    starts, at = {0}, 0
    with open(path, "rb") as fh:
        for line in fh:
            at += len(line)
            starts.add(at)
    for total, tail in ((size, 0), (size, 4000), (size - 7, 4000), (9000, 4000), (7000, 4000)):
        cuts = native.segments(str(path), 0, total, 20_000, tail)
        assert cuts[0][0] == 0 and cuts[-1][1] == total
        assert all(a == b_prev for (_, b_prev), (a, _) in itertools.pairwise(cuts))
        assert all(b in starts for _, b in cuts[:-1])  # every cut at a line start
        last = cuts[-1][1] - cuts[-1][0]
        if tail and total > 2 * tail:
            assert tail - 100 < last <= 2 * tail, (total, tail, cuts)
        if not tail:
            assert all(b - a >= 20_000 for a, b in cuts[:-1]) and last <= 30_000 + 100
    assert native.segments(str(path), 0, 7000, 20_000, 4000) == [(0, 7000)]


def test_mutated_lines_are_each_read_deferred_or_skipped_exactly_once(scanning: tuple[Any, native.LeakJudge]) -> None:
    """Randomly damaged messages (bytes cut, inserted, replaced: quotes, escapes, invalid UTF-8,
    NUL): the scanner never fails, and every line is a row, a line handed to DuckDB or blank."""
    import random
    scanner, judge = scanning
    base = [json_line(track(user=f"u{i}", cart_id=f"c{i}", items=[{"product_id": "p", "quantity": 1, "price": 1.5}],
                            cart_value=1.5, note="caf\u00e9 \ud83d\ude00 \"q\" \\ x")) for i in range(50)]  # fmt: skip
    alphabet = b'{}[]":,\\u0123456789abcdefE.-+ tnrfl\x00\x7f\xc3\xa9\xff\xed\xa0\x80\xf0\x9f\x98\x80\r\t'
    rnd = random.Random(5)
    lines = []
    for _ in range(20_000):
        b = bytearray(rnd.choice(base))
        for _ in range(rnd.randint(0, 4)):
            pos = rnd.randrange(len(b) + 1)
            op = rnd.random()
            if op < 0.3:
                del b[pos : pos + rnd.randint(1, 20)]
            elif op < 0.6:
                b[pos:pos] = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 8)))
            elif op < 0.8 and b:
                b[rnd.randrange(len(b))] = rnd.choice(alphabet)
            else:
                del b[pos:]
        lines.append(bytes(b).replace(b"\n", b" "))
    data = b"\n".join(lines)
    rows, deferred, blank = scanner.parse(data, 0, len(data), 0)
    scanner.resolve(judge.judge(scanner.pending()))
    scanner.aggregate()
    assert rows + deferred.count(b"\n") + blank == len(lines)
    assert 2_000 < rows < 19_000 and blank >= 1
    assert sum(int(n) for n in np.frombuffer(scanner.result()["combos"], dtype=native._COMBO)["n"]) == rows


def test_strings_are_judged_as_strict_json_at_every_length_and_position(scanning: tuple[Any, native.LeakJudge]) -> None:
    """A quote, escape, control character or non-ASCII byte at every position of strings of 0 to
    40 bytes, as the last value of a line and in the middle of one (the scanner looks at 16, 8 or
    1 bytes at a time near a line's end): a line is read exactly when it is strict JSON in UTF-8
    that DuckDB reads as it is (no lone surrogate, no \\u0000); the others go to DuckDB."""
    import json

    scanner, _ = scanning
    specials = [b'\\"', b"\\\\", b"\\u00e9", b"\\ud83d\\ude00", b"\\n", b"\xc3\xa9", b"\xf0\x9f\x98\x80",  # read
                b'"', b"\x01", b"\t", b"\x1f", b"\xff", b"\xc3", b"\\ud800", b"\\udc00x", b"\\x", b"\\u00",
                b"\\u0000", b"\\"]  # fmt: skip
    head = b'{"type":"track","event":"Added to Cart","userId":"u1","timestamp":"2026-11-02T10:00:00Z","properties":{"cart_id":"c1"'
    lines, expected = [], []
    for length in range(41):
        for pos in range(length + 1):
            for special in specials:
                value = b"a" * pos + special + b"b" * (length - pos)
                for line in (head + b',"note":"' + value + b'"}}', head + b',"note":"' + value + b'","cart_value":1}}'):
                    try:
                        json.loads(line.decode("utf-8"))
                        ok = b"\\ud800" not in line and b"\\udc00" not in line and b"\\u0000" not in line
                    except ValueError:
                        ok = False
                    lines.append(line)
                    expected.append(ok)
    data = b"\n".join(lines) + b"\n"
    rows, deferred, blank = scanner.parse(data, 0, len(data), 0)
    assert blank == 0
    assert deferred.split(b"\n")[:-1] == [line for line, ok in zip(lines, expected, strict=True) if not ok]
    assert rows == sum(expected) and 0 < rows < len(lines)


def test_values_skipped_again_are_still_judged_byte_for_byte(scanning: tuple[Any, native.LeakJudge]) -> None:
    """The scanner passes over a skipped value (context.library, integrations...) whose bytes are
    those of the last one it validated: each line here follows the valid one it is a mutation of,
    and is read exactly when it is strict JSON that DuckDB reads as it is."""
    import json

    scanner, _ = scanning
    head = b'{"type":"track","event":"Added to Cart","userId":"u1","timestamp":"2026-11-02T10:00:00Z","properties":{"cart_id":"c1"},'
    skipped = [b'"context":{"library":{"name":"analytics-node","version":"1.0"},"userAgent":"Mozilla/5.0 (caf\xc3\xa9)"}',
               b'"integrations":{"All":true,"Braze":{"x":[1,2,{"y":"\\u00e9"}]}}', b'"channel":"server"']  # fmt: skip
    lines: list[bytes] = []
    expected: list[bool | None] = []  # None: valid JSON the scanner may leave to DuckDB (an escape in a key)
    for value in skipped:
        good = head + value + b"}"
        for pos in range(len(head) + 1, len(good)):
            for byte in (b'"', b"\\", b"\x01", b"}", b",", b"x", b"\xff", b" "):
                bad = good[:pos] + byte + good[pos:]
                for line in (good, bad):  # the valid line first: its values are the ones remembered
                    try:
                        json.loads(line.decode("utf-8"))
                        ok: bool | None = None if line is bad and byte == b"\\" else True
                    except ValueError:
                        ok = False
                    lines.append(line)
                    expected.append(ok)
    data = b"\n".join(lines) + b"\n"
    rows, deferred, blank = scanner.parse(data, 0, len(data), 0)
    assert blank == 0
    left = set(deferred.split(b"\n")[:-1])
    judged = list(zip(lines, expected, strict=True))
    assert not left & {line for line, ok in judged if ok is True}  # no valid line left to DuckDB
    assert {line for line, ok in judged if ok is False} <= left  # every invalid one is
    assert rows == len(lines) - deferred.count(b"\n") and rows >= sum(ok is True for ok in expected) > len(lines) // 2


def test_wide_lines_left_to_duckdb_are_read_in_pieces_within_its_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines the scanner leaves to DuckDB (here: numeric timestamps, invalid JSON) of ~28 KB each:
    DuckDB's JSON functions hold several copies of 2,048 such lines and ran out of memory (6,000 of
    them failed a whole file at the 512 MB limit); they now go in pieces. The quarantine keeps its
    limit per reason however many pieces there are."""
    from monitors.ingest import sqlgen

    connect = columnar.connect
    monkeypatch.setattr(columnar, "connect", lambda **kw: connect(**{**kw, "memory_limit": "160MB"}))
    monkeypatch.setattr(columnar, "PIECE_BYTES", 1 << 20)
    monkeypatch.setattr(sqlgen, "QUARANTINE_PER_REASON", 40)
    monkeypatch.setattr("monitors.ingest.merge.QUARANTINE_PER_REASON", 40)
    lines: list[object] = []
    for i in range(400):
        lines.append({"type": "track", "event": "Product Viewed", "userId": f"u{i}", "timestamp": 1793613600 + i,
                      "properties": {"product_id": "p", "variant_id": "v", "category": "c", "price": 1.5, "blob": "x" * 28000}})  # fmt: skip
        if i % 4 == 0:
            lines.append('{"type":"track","event":"Product Viewed","blob":"' + "y" * 28000 + str(i))  # invalid: cut short
    path = write_lines(tmp_path / "wide.jsonl", lines)
    store = Store.from_url(f"sqlite:///{tmp_path}/w.sqlite")
    store.migrate()
    report = run_ingest(store, path)
    assert (report.events, report.rejected) == (400, 100) and report.files[0].reader == "native+exact"
    assert {r["reason"]: r["count"] for r in store.read_rejects()} == {"invalid_json": 100}
    with store.engine.connect() as conn:
        kept = conn.execute(select(quarantine.c.line)).scalars().all()
    assert len(kept) == 40 and len(set(kept)) == 40
    assert sorted(kept, key=lambda x: scan.hash_str(x.encode()))[::-1] == sorted(  # the 40 DuckDB's max_by would keep
        [ln for ln in lines if isinstance(ln, str)], key=lambda x: scan.hash_str(x.encode()))[::-1][:40]


def json_line(msg: dict[str, object]) -> bytes:
    import json

    return json.dumps(msg, separators=(",", ":")).encode()


def test_gzip_files_are_read_natively_from_their_decompressed_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from monitors.ingest import pipeline

    if not native.usable(load_plan(), 1.0):
        pytest.skip("the native scanner is switched off (EHM_NATIVE=0)")
    plain = write_lines(tmp_path / "a.jsonl", [track(user=f"u{i}", cart_id=f"c{i}") for i in range(300)])
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    monkeypatch.setattr(pipeline, "SEGMENT_BYTES", 8192)  # several segments: resume points inside the stream
    stores = {}
    for name, native_on in (("duck", False), ("native", True)):
        store = Store.from_url(f"sqlite:///{tmp_path}/{name}.sqlite")
        store.migrate()
        report = run_ingest(store, packed, native=native_on)
        assert report.files[0].reader == ("native" if native_on else "fast") and report.events == 300
        assert report.files[0].bytes == packed.stat().st_size
        [cp] = store.checkpoints_of("web")
        assert (cp.offset, cp.complete) == (plain.stat().st_size, True)  # the decompressed bytes read
        assert run_ingest(store, packed, native=native_on).events == 0
        stores[name] = snapshot(store)
    assert stores["duck"] == stores["native"]


def test_a_read_holding_too_many_groups_stops_early_and_the_rest_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backfill spread over many buckets: each read stops once a scanner holds MAX_GROUPS
    (event, bucket) groups and commits what it read; the rest of its range is read next, before
    the segments read ahead. The stored rows are those of one read of everything (DuckDB alone)."""
    rnd = random.Random(11)
    lines = []
    for i in range(2000):  # 12 names, 2 days of 5-minute buckets, in time order, new users (held back)
        ts = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=i * 86)
        lines.append(track(event=f"E{rnd.randrange(12)}", user=f"user-{i}", ts=ts.isoformat(), sent=ts.isoformat()))
    path = write_lines(tmp_path / "spread.jsonl", lines)

    duck = _fresh(tmp_path, "duckdb")
    run_ingest(duck, path, native=False)
    monkeypatch.setattr(native, "CHUNK_BYTES", 16 << 10)
    monkeypatch.setattr(native, "MAX_GROUPS", 120)
    monkeypatch.setattr(pipeline, "SEGMENT_BYTES", 256 << 10)
    monkeypatch.setattr(pipeline, "TAIL_BYTES", 0)
    commits = _count_commits(monkeypatch)
    ours = _fresh(tmp_path, "native")
    report = run_ingest(ours, path)
    assert (report.events, report.files[0].reader) == (2000, "native")
    segments = native.segments(str(path), 0, path.stat().st_size, 256 << 10, 0)
    assert len(commits) > 2 * len(segments)  # reads stopped early, several times per segment
    assert commits == sorted(commits) and commits[-1] == path.stat().st_size  # in file order, to the end
    assert snapshot(ours) == snapshot(duck)

    # DuckDB alone: segments from DUCKDB_FIRST_BYTES, halved while they hold too many groups
    monkeypatch.setattr(pipeline, "DUCKDB_FIRST_BYTES", 128 << 10)
    monkeypatch.setattr(pipeline, "DUCKDB_MIN_BYTES", 32 << 10)
    monkeypatch.setattr(pipeline, "DUCKDB_GROUPS", 120)
    commits.clear()
    small = _fresh(tmp_path, "duckdb_segments")
    assert run_ingest(small, path, native=False).events == 2000
    sizes = [b - a for a, b in itertools.pairwise([0, *commits])]
    assert len(commits) > 4 and commits[-1] == path.stat().st_size
    assert all(size <= sizes[0] // 2 + 1024 for size in sizes[1:-1])  # halved (line ends aside; the last takes the rest)
    assert snapshot(small) == snapshot(duck)


def test_times_that_cycle_raise_the_group_cap_instead_of_committing_the_same_groups_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days interleaved over and over: every read meets the same groups. Once a read that stopped
    early shares most of its groups with the one before, the cap doubles (on one thread) up to
    MAX_GROUPS_CYCLING: far fewer commits, and the rows of one read of everything."""
    lines = []
    for i in range(3000):  # 6 names x 2 days x 12 hourly buckets, cycling through both days
        ts = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=(i * 997) % (2 * 86400))
        lines.append(track(event=f"E{i % 6}", user=f"user-{i % 500}", ts=ts.isoformat(), sent=ts.isoformat()))
    path = write_lines(tmp_path / "cycling.jsonl", lines)
    plan = load_plan()
    hourly = {"bucket_seconds": 3600}
    duck = _fresh(tmp_path, "duckdb")
    ingest(duck, [str(path)], IngestOptions("web", "production", plan, native=False, final_line_grace=0, **hourly))
    monkeypatch.setattr(native, "CHUNK_BYTES", 16 << 10)
    monkeypatch.setattr(native, "FIRST_CHUNK_BYTES", 16 << 10)
    monkeypatch.setattr(native, "MAX_GROUPS", 20)
    commits = _count_commits(monkeypatch)
    runs = {}
    for cap in (20, 640):  # 20: no raise (the cap is the ceiling); 640: raised past the file's 288 groups
        monkeypatch.setattr(native, "MAX_GROUPS_CYCLING", cap)
        commits.clear()
        ours = _fresh(tmp_path, f"native-{cap}")
        report = ingest(ours, [str(path)], IngestOptions("web", "production", plan, final_line_grace=0, **hourly))
        assert (report.events, report.files[0].reader) == (3000, "native")
        assert snapshot(ours) == snapshot(duck)
        runs[cap] = len(commits)
    assert runs[20] > 3 * runs[640] >= 6, runs  # commits vary with how the two threads share pieces


def test_max_rows_merges_registers_like_numpy() -> None:
    """The batch's register merge (merge._max_rows): strided parts, rows in any order, and errors
    for shapes it cannot take instead of writing out of bounds."""
    rng = np.random.default_rng(5)
    out = rng.integers(0, 40, (30, HLL_M), dtype=np.uint8)
    expected = out.copy()
    parts = rng.integers(0, 40, (12, 4, HLL_M), dtype=np.uint8)  # (groups, kinds, registers): a kind is strided
    rows = rng.permutation(30)[:12].astype(np.int64)
    expected[rows] = np.maximum(expected[rows], parts[:, 2, :])
    native._scan.max_rows(out, rows, parts[:, 2, :])
    assert np.array_equal(out, expected)
    with pytest.raises(IndexError):
        native._scan.max_rows(out, np.array([30], dtype=np.int64), parts[:1, 0, :])
    with pytest.raises(ValueError):
        native._scan.max_rows(out, rows, parts[:, :, :8].reshape(12, 32))  # wrong width


def test_the_register_merge_without_the_native_module(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitors.ingest import merge

    rng = np.random.default_rng(6)
    parts = rng.integers(0, 40, (10, 3, HLL_M), dtype=np.uint8)
    rows = rng.permutation(10).astype(np.int64)
    merged = {}
    for name, module in (("native", merge._native), ("numpy", None)):
        monkeypatch.setattr(merge, "_native", module)
        out = np.zeros((10, HLL_M), dtype=np.uint8)
        merge._max_rows(out, rows, parts[:, 0, :])
        merge._max_rows(out, rows[::-1].copy(), parts[:, 1, :])
        merged[name] = out
    assert np.array_equal(merged["native"], merged["numpy"])
    assert np.array_equal(merged["numpy"][rows[0]], np.maximum(parts[0, 0], parts[9, 1]))
