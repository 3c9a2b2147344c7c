"""The native scanner on the hot path: clean single messages are read by C code, the rest by DuckDB.

DuckDB's JSON reader spends more time building ~20 typed columns than a bare scan spends on the
whole file, so the common case — one Segment-spec message per line, the shape a backend's
outgoing log almost always has — is read by :mod:`monitors.ingest._scan`: a validating JSON
scanner that folds each message straight into the aggregates the DuckDB path builds (same
columns, same hashes, same bins; see :mod:`monitors.ingest.sqlgen`). Every line it is not sure
about (batches, Track v2 bodies, anything malformed, unusual timestamps, duplicate keys…) is
written, untouched, to a side file that the DuckDB path reads, so every reject keeps its reason
and the results never depend on which reader ran (``tests/monitors/ingest/test_native_equivalence.py``).

Two threads scan halves of the input (the C code releases the GIL); leak signals are regular
expressions, judged once per distinct value in DuckDB with the same SQL as the DuckDB path.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from monitors.ingest.conformance import Evaluator
from monitors.ingest.leakage import LeakageConfig, _email_test, _matches, _s
from monitors.ingest.sketches import GroupSketches
from monitors.ingest.sqlgen import CODE_NAMES, HLL_KINDS, MAX_PAYLOAD, NEGATIVE_BIN, Layout
from monitors.plan import Plan
from monitors.sketch import HLL_M, LN_GAMMA, MIN_VALUE, ZERO_BIN

_scan: Any
try:
    _scan = importlib.import_module("monitors.ingest._scan")
except ImportError:  # built without a C compiler: DuckDB reads everything
    _scan = None

MAX_CODES = 4
# parse() went past the scanner's event-name budget (``max_names``): the read is abandoned
TooManyNames: type[Exception] = _scan.TooManyNames if _scan is not None else RuntimeError
CHUNK_BYTES = 4 << 20
# (event, bucket) groups a scanner holds before its read stops at the next piece's end: each holds
# 12 KB of HyperLogLog registers, copied a few times on the way to the store (~70 KB in all), and a
# backfill of months of many events would otherwise hold them all at once. 1M events over 30 days,
# 20 names (bench/hard_inputs.py): 4,096 groups peaked at 1.2 GB, 2,048 at 0.72 GB, 1,024 at 0.51 GB,
# in about the same time (22-27 s each on a busy host); below 2,048 small backfills slow down
MAX_GROUPS = 2048
# A file whose times cycle (days interleaved) meets its groups again in every read: reads that stop
# at MAX_GROUPS then commit the same groups over and over (300,000 events cycling over 3 days, 8,640
# groups: 51 s). When a read that stopped early shares most of its groups with the one before, the
# cap doubles, up to this, on one thread (two would each hold the same groups): 19 s, 0.87 GB peak
# for that file; 16,384 would take it in 6 s, but a file with that many groups would pass 1 GB.
MAX_GROUPS_CYCLING = 8192
# A thread's first piece of a read; pieces double while they add few groups, up to CHUNK_BYTES
# (a month of sparse events puts a new group on almost every line: 4 MB would hold ~25,000)
FIRST_CHUNK_BYTES = 256 << 10
JUDGE_VALUES = 50_000  # distinct new values judged per DuckDB query (a query costs milliseconds)
MAX_WAITING_ROWS = 200_000  # rows held back until their values are judged (~30 MB)
# Value classes of the C scanner (item type masks).
_VC = {"string": 1, "object": 2, "array": 4, "boolean": 8, "integer": 16, "number": 16 | 32}
# Leak fields (C order) and the kind of value each one is: one DuckDB expression per kind.
_FIELD_SIGNALS = (1 | 32, 1, 1 | 2 | 32, 32, 4, 4, 8, 8, 8, 16)  # lx_email, cx_email, uid, aid, url, ref, build…, env
_FIELD_KIND = (0, 0, 1, 2, 3, 3, 4, 4, 4, 5)
_COMBO = np.dtype([("ev", "<i4"), ("nkeys", "<i4"), ("bucket", "<i8"), ("flags", "<u8"), ("tc", "<u8", (MAX_CODES,)), ("n", "<i8"),
                   ("g", "<i8"), ("sample", "<i8")])
_SAMPLE = np.dtype([("ev", "<i4"), ("nkeys", "<i4"), ("flags", "<u8"), ("tc", "<u8", (MAX_CODES,)), ("kept", "<i8"),
                    ("sh", "<u8", (3,)), ("ph", "<u8", (3,)), ("off", "<i8", (3,)), ("len", "<i8", (3,))])  # fmt: skip
_GROUP = np.dtype([("ev", "<i4"), ("pad", "<i4"), ("bucket", "<i8"), ("g", "<i8")])
_LAT = np.dtype([("key", "<u8"), ("n", "<i8")])
_EXTRA = np.dtype([("ev", "<i4"), ("key", "<i4"), ("jtype", "<i4"), ("pad", "<i4"), ("bucket", "<i8"), ("n", "<i8")])
_MSG_TYPES = ("track", "identify", "page", "screen", "group", "alias")


def available() -> bool:
    """Whether the C extension was built."""
    return _scan is not None


def usable(plan: Plan, sample_rate: float) -> bool:
    """Whether the native scanner can read for this plan (else DuckDB reads everything)."""
    if _scan is None or sample_rate != 1.0 or os.environ.get("EHM_NATIVE", "1") == "0":
        return False
    layout = Layout(plan)
    return layout.n_codes <= MAX_CODES and all(len(k) <= 64 for k in layout.keys_of.values())


def _kind_sql(cfg: LeakageConfig) -> list[str]:
    """Per kind of value ``v``: its leak signal bits, in the SQL of :func:`leakage.leak_flags_sql`."""
    qa = "[" + ", ".join(_s(q) for q in cfg.qa_identities) + "]::VARCHAR[]"
    is_qa = f"coalesce(list_contains({qa}, v), false)" if cfg.qa_identities else "false"
    envs = "[" + ", ".join(_s(e.lower()) for e in cfg.production_environments) + "]::VARCHAR[]"

    def bit(cond: str, i: int) -> str:
        return f"(CAST(coalesce({cond}, false) AS INTEGER) << {i})"

    uid_email = _email_test("CASE WHEN contains(v, '@') THEN v END", cfg)
    return [
        f"{bit(_email_test('v', cfg), 0)} | {bit(is_qa, 5)}",
        f"{bit(uid_email, 0)} | {bit(_matches('v', cfg.test_user_id_pattern), 1)} | {bit(is_qa, 5)}",
        bit(is_qa, 5),
        bit(_matches("v", cfg.nonprod_host_pattern), 2),
        bit(_matches("v", cfg.dev_build_pattern), 3),
        bit(f"CASE WHEN v IS NOT NULL THEN NOT list_contains({envs}, lower(v)) END", 4),
    ]


_NULL_BITS: dict[str, bytes] = {}  # the signals of absent values, by judging expression


class LeakJudge:
    """Leak signal bits of distinct values, per kind, in one DuckDB query per call."""

    def __init__(self, con: duckdb.DuckDBPyConnection, cfg: LeakageConfig) -> None:
        self.con = con
        whens = " ".join(f"WHEN {k} THEN {sql}" for k, sql in enumerate(_kind_sql(cfg)))
        self.expr = f"CAST(CASE k {whens} END AS UTINYINT)"
        self.active = bytes([1, 1, 1 if cfg.qa_identities else 0, 1, 1, 1])
        null_bits = _NULL_BITS.get(self.expr)
        if null_bits is None:  # one query (~5 ms) per config, not per file read
            nulls = self.judge([[None]] * len(self.active))
            null_bits = bytes(nulls[kind][0] & sig for kind, sig in zip(_FIELD_KIND, _FIELD_SIGNALS, strict=True))
            _NULL_BITS[self.expr] = null_bits
        self.null_bits = null_bits

    def judge(self, pending: list[list[Any]]) -> list[bytes]:
        """Bits per pending value, per kind."""
        sizes = [len(p) for p in pending]
        if not any(sizes):
            return [b""] * len(pending)
        kinds = np.repeat(np.arange(len(pending), dtype=np.int8), sizes)
        values = pa.table({"k": kinds, "v": pa.array([v for p in pending for v in p], type=pa.string())})
        self.con.register("ehm_values", values)
        try:
            bits = self.con.execute(f"SELECT {self.expr} AS b FROM ehm_values").fetchnumpy()["b"]
        finally:
            self.con.unregister("ehm_values")
        out, at = [], 0
        for n in sizes:
            out.append(np.asarray(bits[at : at + n], dtype=np.uint8).tobytes())
            at += n
        return out


@dataclass
class NativeResult:
    """What the scanner read: its parts, sketches, and the lines it left to DuckDB."""

    parts: dict[str, pd.DataFrame] = field(default_factory=dict)
    sketches: list[tuple[list[tuple[str, str, int]], GroupSketches]] = field(default_factory=list)
    deferred_lines: int = 0
    end: int | None = None  # where the read stopped, when before the end of its range (MAX_GROUPS)


class NativeReader:
    """Reads a byte range of a plain file with the C scanner (see the module docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, plan: Plan, evaluator: Evaluator, *, bucket_seconds: int,
                 now_epoch: float, leakage: LeakageConfig | None, property_stats: bool = True,
                 threads: int | None = None, max_names: int = 0, admitted: tuple[str, ...] | None = None) -> None:  # fmt: skip
        assert _scan is not None
        self.con, self.ev, self.layout = con, evaluator, evaluator.layout
        self.bucket_seconds, self.now_epoch = bucket_seconds, now_epoch
        self.cfg = leakage or LeakageConfig()
        self.property_stats = property_stats
        self.max_names, self.admitted = max_names, admitted
        self.threads = max(1, threads or min(2, os.cpu_count() or 1))
        item_events = {ev.name for ev in plan.events.values() for p in ev.spec.props.values() if p.items is not None}
        self.layouts = [(name, name == "$identify", list(keys), name in item_events)
                        for name, keys in self.layout.keys_of.items()]  # fmt: skip
        arrays: dict[str, list[tuple[str, int, int, int]]] = {}
        for j, (array, item) in enumerate(self.layout.items):
            types, required = self.layout.item_types[(array, item)]
            allowed = 0
            for t in types:
                allowed |= _VC[t]
            req = self.layout.item_bit(j, False) if required else -1
            arrays.setdefault(array, []).append((item, req, self.layout.item_bit(j, True), allowed))
        self.arrays = list(arrays.items())
        self._judges: list[LeakJudge] = []
        self._scanners: list[Any] = []
        self.max_groups = MAX_GROUPS  # groups a scanner holds before its read stops (raised for cycling times)

    def close(self) -> None:
        """Release the scanners and their DuckDB cursors."""
        for judge in self._judges:
            judge.con.close()
        self._judges, self._scanners = [], []

    def _scanner(self, judge: LeakJudge) -> Any:
        assert _scan is not None
        scanner = _scan.Scanner(self.bucket_seconds, self.now_epoch, LN_GAMMA, MIN_VALUE, ZERO_BIN, NEGATIVE_BIN,
                                MAX_PAYLOAD, self.layouts, self.arrays, bytes(_FIELD_SIGNALS), judge.null_bits,
                                judge.active)  # fmt: skip
        scanner.set_names(self.max_names, None if self.admitted is None else list(self.admitted))
        return scanner

    def read(self, path: str, start: int, end: int, deferred: Callable[[bytes], object]) -> NativeResult:
        """Aggregates of the lines in ``[start, end)`` of ``path``; lines left to DuckDB go to
        ``deferred``. Each thread reads its part of the range in chunks into a buffer of its own
        (read, not mapped: a file truncated meanwhile gives a short read, which is an error for
        this file, instead of a SIGBUS for the process)."""
        out = NativeResult()
        if end <= start:
            self._parts(out, [], None)
            return out
        threads = max(1, min(self.threads, -(-(end - start) // CHUNK_BYTES)))
        lock = threading.Lock()
        while len(self._judges) < threads:  # kept across reads: values judged once per file
            self._judges.append(LeakJudge(self.con.cursor(), self.cfg))
            self._scanners.append(self._scanner(self._judges[-1]))
        judges, scanners = self._judges[:threads], self._scanners[:threads]
        chunks = _Chunks(path, start, end)  # shared: each thread takes the next piece when it is free

        def work(i: int) -> int:
            scanner, judge, n_deferred = scanners[i], judges[i], 0
            buf, size, groups = bytearray(min(CHUNK_BYTES, end - start)), FIRST_CHUNK_BYTES, 0
            with open(path, "rb", buffering=0) as fh:
                while (piece := chunks.next(fh, buf, size)) is not None:
                    buf, n, base = piece
                    _rows, lines, _blank = scanner.parse(buf, 0, n, base)
                    added, groups = scanner.groups() - groups, scanner.groups()
                    if groups > self.max_groups:
                        chunks.stop()
                    elif added * 8 < self.max_groups:
                        size = min(size * 2, CHUNK_BYTES)
                    if lines:
                        n_deferred += lines.count(b"\n")
                        with lock:
                            deferred(lines)
                    values, waiting = scanner.backlog()
                    if values >= JUDGE_VALUES or waiting >= MAX_WAITING_ROWS:
                        scanner.resolve(judge.judge(scanner.pending()))
                        scanner.aggregate()
            scanner.resolve(judge.judge(scanner.pending()))
            scanner.aggregate()
            return n_deferred

        if threads == 1:
            out.deferred_lines = work(0)
        else:
            with ThreadPoolExecutor(threads) as pool:
                out.deferred_lines = sum(pool.map(work, range(threads)))
        results = [s.result() for s in scanners]
        out.end = chunks.pos if chunks.pos < end else None
        for scanner in scanners:
            scanner.reset()
        with open(path, "rb") as fh:
            self._parts(out, results, fh)
        return out

    # -- results -> the parts of :class:`monitors.ingest.columnar.Facts`

    def _parts(self, out: NativeResult, results: list[dict[str, Any]], fh: BinaryIO | None) -> None:
        tcs = [f"tc{c}" for c in range(self.layout.n_codes)]
        mains, extras = [], []
        samples: dict[tuple[Any, ...], list[tuple[int, int, int, int]]] = {}
        for r in results:
            names = [(str(e), _MSG_TYPES[t]) for e, t in zip(r["events"], r["msg_types"], strict=True)]
            events = np.array([n[0] for n in names], dtype=object)
            types = np.array([n[1] for n in names], dtype=object)
            combos = np.frombuffer(r["combos"], dtype=_COMBO)
            main = pd.DataFrame({"event": events[combos["ev"]], "msg_type": types[combos["ev"]],
                                 "bucket": combos["bucket"], "ek": combos["ev"].astype(np.int64),
                                 "flags": combos["flags"].astype(np.int64)})  # fmt: skip
            for c, name in enumerate(tcs):
                main[name] = combos["tc"][:, c].astype(np.int64)
            main["nkeys"] = combos["nkeys"]
            main["n"] = combos["n"]
            mains.append(main)
            self._samples(samples, np.frombuffer(r["samples"], dtype=_SAMPLE), names)
            if self.property_stats:
                extras.append(_extra_frame(np.frombuffer(r["extra"], dtype=_EXTRA), events, types, r["xkeys"]))
            out.sketches.append(_sketches(r, events, types))
        main = pd.concat(mains, ignore_index=True) if mains else pd.DataFrame()
        out.parts["main"] = main
        out.parts["rejects"] = pd.DataFrame({"reason": pd.Series([], dtype=object), "n": pd.Series([], dtype=np.int64),
                                             "rejected": pd.Series([], dtype=object)})  # fmt: skip
        out.parts["samples"] = self._sample_frame(samples, main, tcs, fh)
        if self.property_stats and extras:
            out.parts["extra_keys"] = pd.concat(extras, ignore_index=True)

    def _samples(self, into: dict[tuple[Any, ...], list[tuple[int, int, int, int]]], recs: np.ndarray,
                 names: list[tuple[str, str]]) -> None:  # fmt: skip
        """The kept samples (sample hash, line hash, file offset, length) of the combinations that
        violate the plan, merged with ``into`` in the DuckDB path's order: larger sample hash
        first, ties by DuckDB's hash of the line."""
        n_codes = self.layout.n_codes
        for rec in recs:
            event, msg_type = names[int(rec["ev"])]
            codes = tuple(int(x) for x in rec["tc"][:n_codes])
            flags = int(rec["flags"])
            verdict = self.ev.verdict(event, msg_type, flags, codes, int(rec["nkeys"]))
            if not (verdict.violations or verdict.leaks):
                continue
            key = (event, msg_type, flags, *codes, int(rec["nkeys"]))
            kept = into.setdefault(key, [])
            kept.extend((int(rec["sh"][i]), int(rec["ph"][i]), int(rec["off"][i]), int(rec["len"][i]))
                        for i in range(int(rec["kept"])))  # fmt: skip
            kept.sort(reverse=True)
            del kept[3:]

    def _sample_frame(self, samples: dict[tuple[Any, ...], list[tuple[int, int, int, int]]], main: pd.DataFrame,
                      tcs: list[str], fh: BinaryIO | None) -> pd.DataFrame:  # fmt: skip
        cols = ["event", "msg_type", "flags", *tcs, "nkeys"]
        rows = []
        for key, kept in samples.items():
            lines = []
            for _, _, off, n in kept:  # the few lines kept, read back from the file
                assert fh is not None
                fh.seek(off)
                lines.append(fh.read(n).decode("utf-8"))
            rows.append((*key, lines, [sh for sh, _, _, _ in kept], [ph for _, ph, _, _ in kept]))
        frame = pd.DataFrame(rows, columns=[*cols, "samples", "shs", "phs"])
        if frame.empty:
            frame["bucket"] = pd.Series([], dtype=np.int64)
            return frame
        newest = main.groupby(cols, as_index=False, dropna=False)["bucket"].max()
        return frame.merge(newest, on=cols, how="left")


def _extra_frame(recs: np.ndarray, events: np.ndarray, types: np.ndarray, keys: list[str]) -> pd.DataFrame:
    key_names = np.array(keys, dtype=object) if keys else np.zeros(0, dtype=object)
    jtypes = np.array([CODE_NAMES.get(c, "NULL") for c in range(8)], dtype=object)
    return pd.DataFrame({"event": events[recs["ev"]], "msg_type": types[recs["ev"]], "bucket": recs["bucket"],
                         "key": key_names[recs["key"]], "jtype": jtypes[recs["jtype"]], "n": recs["n"]})  # fmt: skip


def _sketches(r: dict[str, Any], events: np.ndarray, types: np.ndarray) -> tuple[list[tuple[str, str, int]], GroupSketches]:
    groups = np.frombuffer(r["groups"], dtype=_GROUP)
    keys = [(str(events[ev]), str(types[ev]), int(b)) for ev, b in zip(groups["ev"].tolist(), groups["bucket"].tolist(), strict=True)]
    out = GroupSketches(len(groups))
    regs = np.frombuffer(r["registers"], dtype=np.uint8).reshape(len(groups), len(HLL_KINDS), HLL_M)
    out.registers = {kind: regs[:, k, :] for k, kind in enumerate(HLL_KINDS)}
    lat = np.frombuffer(r["latency"], dtype=_LAT)
    if len(lat):
        order = np.argsort(lat["key"])  # unique keys: any sort gives this order
        key = lat["key"][order]
        out.lat_gh = (key >> np.uint64(16)).astype(np.int64)  # g * 4 + hop
        out.lat_bins = (key & np.uint64(0xFFFF)).astype(np.int64) - 32768
        out.lat_counts = lat["n"][order].astype(np.int64)
    return keys, out


def segments(path: str, start: int, end: int, size: int, tail: int = 0) -> list[tuple[int, int]]:
    """``[start, end)`` of ``path`` cut at line starts into pieces of about ``size`` bytes, the
    last one of about ``tail`` to twice ``tail`` bytes when there is more than that (the last piece's
    commit overlaps no read: a short one ends the ingest sooner)."""
    cuts, a = [], start
    with open(path, "rb") as fh:
        while a < end:
            rest = end - a
            if tail and 2 * tail < rest <= size + tail:
                b = line_start_after(fh, end - tail, end)
            elif rest <= (size + tail if tail else size * 3 // 2):
                b = end
            else:
                b = line_start_after(fh, a + size, end)
            cuts.append((a, b))
            a = b
    return cuts


def line_start_after(fh: BinaryIO, pos: int, end: int) -> int:
    """The start of the line after the one holding byte ``pos - 1`` of the open file (``end`` if
    none): ``pos`` itself when a line ends just before it."""
    fh.seek(pos - 1)
    at = pos - 1
    while at < end:
        block = fh.read(min(1 << 16, end - at))
        if not block:
            break
        nl = block.find(b"\n")
        if nl >= 0:
            return at + nl + 1
        at += len(block)
    return end


class _Chunks:
    """``[start, end)`` of a file handed out in pieces of the size asked (at most the buffer's) that
    end at a line end, to whichever thread asks next (so threads finish together). A piece is read
    into the asking thread's buffer (grown for a line longer than a piece) and is valid until its
    next ask."""

    def __init__(self, path: str, start: int, end: int) -> None:
        self.path, self.pos, self.end = path, start, end
        self.lock = threading.Lock()

    def stop(self) -> None:
        """Hand out no more pieces: the read ends where the pieces handed out end (``pos``)."""
        with self.lock:
            self.end = self.pos

    def next(self, fh: Any, buf: bytearray, size: int) -> tuple[bytearray, int, int] | None:
        """(buffer, bytes in it, file offset of its first byte), or None at the end."""
        with self.lock:
            while self.pos < self.end:
                pos = self.pos
                n = _read_at(fh, buf, pos, min(size, len(buf), self.end - pos))
                if pos + n < self.end:
                    cut = buf.rfind(b"\n", 0, n) + 1
                    if cut == 0:  # no line end in the piece: read a larger one
                        if size >= len(buf):
                            buf.extend(bytes(len(buf)))
                        size *= 2
                        continue
                    n = cut
                self.pos = pos + n
                return buf, n, pos
            return None


def _read_at(fh: Any, buf: bytearray, pos: int, n: int) -> int:
    """Read ``n`` bytes at ``pos`` into the head of ``buf``; OSError if the file is shorter now
    (truncated in place: the next run sees it rewritten and reads it from its new start)."""
    fh.seek(pos)
    got = 0
    with memoryview(buf) as view:
        while got < n:
            k = fh.readinto(view[got:n])
            if not k:
                raise OSError(f"{getattr(fh, 'name', 'file')} shrank while it was read ({pos + got:,} of {pos + n:,} bytes)")
            got += k
    return got


__all__ = ["NativeReader", "available", "usable"]
