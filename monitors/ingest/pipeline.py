"""Ingest one source: find its files, read only what is new, commit metrics with the resume point.

Every file is read as a unit: the hot path aggregates its new bytes, then the deltas and the new
resume point are committed in one transaction. A crash before the commit leaves nothing; a rerun
reads the same bytes again; so every run, rerun or restart yields the metrics of one clean run.
A file that cannot be read is reported and skipped; it never stops the other files.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gc
import logging
import os
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

import duckdb

from monitors.errors import ConfigError
from monitors.ingest import columnar, files, merge, names, native, progress, propkeys
from monitors.ingest.conformance import Evaluator
from monitors.ingest.leakage import LeakageConfig
from monitors.plan import Plan
from monitors.timeutil import utcnow
from storage import Store
from storage.batch import Checkpoint, IngestBatch
from storage.metrics_store import ConcurrentIngestError

log = logging.getLogger(__name__)

SEGMENT_BYTES = 192 << 20
"""Plain files are read and committed in segments of about this size (see ``_read_native``)."""
TAIL_BYTES = 48 << 20  # the last segment: its commit is the only one no read overlaps
READ_AHEAD = 2  # segments read ahead of the one being committed
DUCKDB_FIRST_BYTES = 2 << 20  # the first segment of a read by DuckDB alone (see _read_duckdb)
DUCKDB_MIN_BYTES = 1 << 20  # its segments never get smaller
DUCKDB_GROUPS = 4096  # (event, bucket) groups a DuckDB segment aims to hold: it grows below, halves over twice this


@dataclass(frozen=True)
class IngestOptions:
    """How to ingest one source."""

    source: str
    environment: str
    plan: Plan
    bucket_seconds: int = 300
    sample_rate: float = 1.0
    final_line_grace: float = 300.0
    tmp_dir: str | None = None
    progress: bool = False
    clock: Callable[[], datetime] = utcnow
    leakage: LeakageConfig | None = None
    native: bool = True  # the native scanner for the lines it can read (monitors/ingest/native.py)
    max_event_names: int = names.DEFAULT_MAX_NAMES  # per source and environment; 0: no limit (monitors/ingest/names.py)
    max_property_keys: int = propkeys.DEFAULT_MAX_KEYS  # unplanned keys per event; 0: no limit (monitors/ingest/propkeys.py)


@dataclass
class FileResult:
    """What happened to one file."""

    path: str
    status: str  # read | unchanged | error
    bytes: int = 0
    events: int = 0
    rejected: int = 0
    reader: str = ""
    error: str = ""
    warning: str = ""  # read, with something the user should know (a compressed stream cut short or damaged)
    damaged: bool = False  # part of it can never be read (a damaged compressed stream)


@dataclass
class IngestReport:
    """The outcome of one ingest run of one source."""

    source: str
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the whole process over the run (every thread)

    @property
    def events(self) -> int:
        """Accepted messages."""
        return sum(f.events for f in self.files)

    @property
    def rejected(self) -> int:
        """Rejected messages."""
        return sum(f.rejected for f in self.files)

    @property
    def bytes(self) -> int:
        """Bytes read."""
        return sum(f.bytes for f in self.files)

    @property
    def errors(self) -> list[FileResult]:
        """Files that could not be read."""
        return [f for f in self.files if f.status == "error"]

    @property
    def troubles(self) -> list[str]:
        """``path: what`` of each file that could not be read, or only in part (damaged)."""
        return [f"{f.path}: {f.error or f.warning}" for f in self.files if f.status == "error" or f.damaged]


@dataclass(frozen=True)
class _Region:
    start: int
    end: int | None  # None: to EOF (compressed)
    direct: bool


def _region(info: files.FileInfo, cp: Checkpoint | None, now: float, grace: float) -> _Region | None:
    start = cp.offset if cp else 0
    if info.compressed:
        # a complete stream is read again only once the file changes (size or modification time):
        # a member appended to it (gzip >> file, multi-stream bzip2/xz), or the file rewritten
        # compressed with more in it; the read resumes at the offset reached in the decompressed
        # bytes, so lines read before are skipped (offset unknown, -1: as stored before 0.8)
        unchanged = cp is not None and info.size == cp.size and abs(info.mtime - cp.mtime) < 1e-3
        if cp and (cp.offset < 0 or (cp.complete and unchanged)):
            return None
        return _Region(start, None, start == 0)
    if start < 0:  # the content was read whole from a compressed copy whose offset was not kept
        return None
    if start > info.size:
        # the same first bytes but shorter than what was read: a copy of part of a file already
        # read (copytruncate copies, then truncates: the copy lands beside a file read further).
        # Content rewritten in place starts with other lines (other times, ids), so it is new.
        return None
    start = files.past_hole(info.path, start, info.size)
    end = info.size if now - info.mtime >= grace else files.last_newline_end(info.path, start, info.size)
    if end <= start:
        return None
    return _Region(start, end, start == 0 and end == info.size)


GUARD_BYTES = 64  # the last bytes of a plain file's region, read again before each commit


class FileRewritten(Exception):
    """A plain file truncated or rewritten while it was read (``copytruncate``): the bytes read are
    not the lines it held, so none of it is committed; the lines are in its copy, read next run."""


def _tail(path: str, start: int, end: int) -> tuple[int, bytes]:
    """The last :data:`GUARD_BYTES` of ``[start, end)`` in ``path`` (fewer if the file is now shorter)."""
    lo = max(start, end - GUARD_BYTES)
    with open(path, "rb") as fh:
        fh.seek(lo)
        return lo, fh.read(end - lo)


def _moved(cp: Checkpoint) -> bool:
    """Whether the content of resume point ``cp`` is no longer at its path (renamed by rotation)."""
    try:
        return files.match_checkpoint(files.FileInfo.of(cp.path), [cp]) is None
    except (OSError, EOFError, zlib.error, files.StreamDamage):
        return True


def _describe(exc: BaseException) -> str:
    """What went wrong with a file, in words that say what it means (whichever reader met it)."""
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


class SourceIngester:
    """Reads the files of one source into the store."""

    def __init__(self, store: Store, opts: IngestOptions) -> None:
        self.store = store
        self.opts = opts
        stored = store.bucket_seconds()
        if stored is None:
            store.set_bucket_seconds(opts.bucket_seconds)
        elif stored != opts.bucket_seconds:
            raise ConfigError(
                f"this database uses {stored}s buckets but the config asks for {opts.bucket_seconds}s — "
                "keep the bucket setting or use a new database"
            )
        if opts.tmp_dir is None:
            files.sweep_run_dirs()  # what killed runs left behind
        self.tmp = opts.tmp_dir or files.run_dir()
        files.clear_dir(self.tmp)
        self.con = columnar.connect(temp_dir=os.path.join(self.tmp, "duckdb"))
        self.evaluator = Evaluator(opts.plan)
        self.native = opts.native and native.usable(opts.plan, opts.sample_rate)
        self._keys: propkeys.KeyBudget | None = None  # loaded at the first commit
        self._points = files.ResumeIndex()  # the source's resume points, loaded by run()
        self._legacy_key: str | None = None  # the file being read resumes from an old-style point (kept)
        self._guard: tuple[str, int, bytes] | None = None  # (path, offset, bytes) of the file being read (_guard_region)
        self._progress: progress.Progress | None = None  # a terminal's progress bar, during run()

    def _key_budget(self) -> propkeys.KeyBudget | None:
        """The property-key budget, with the unplanned keys the store knows for this source."""
        if self.opts.max_property_keys <= 0:
            return None
        if self._keys is None:
            layout = self.evaluator.layout
            known = {(event, msg_type): keys - set(layout.keys_of.get(layout.layout_id(event, msg_type) or "", []))
                     for (event, msg_type), keys in self.store.property_keys(self.opts.source, self.opts.environment).items()}  # fmt: skip
            self._keys = propkeys.KeyBudget(self.opts.max_property_keys, known)
        return self._keys

    def close(self) -> None:
        """Release the DuckDB connection and temporary files (the run's own folder too)."""
        self.con.close()
        if self.opts.tmp_dir is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            files.clear_dir(self.tmp)

    def run(self, paths: Iterable[str], *, strict: bool) -> IngestReport:
        """Ingest every file matched by ``paths``; never raises for a bad file."""
        started, cpu = time.monotonic(), time.process_time()
        report = IngestReport(self.opts.source)
        switch = sys.getswitchinterval()
        # The scanner threads take the GIL back between chunks while this thread commits the last
        # segment in Python: by default they would wait up to 5 ms for it each time.
        sys.setswitchinterval(min(switch, 0.0002))
        # Objects alive now (modules, the plan, connections) live as long as the process: kept out
        # of the collector's full passes, which would walk them all every few thousand new objects
        # (tens of milliseconds each, several times per segment). Released again at the end.
        gc.freeze()
        found = files.discover(paths, strict=strict)
        # loaded once, kept up to date by this run's own commits; a point another process moves
        # meanwhile is caught at commit (ConcurrentIngestError), never read twice
        self._points = files.ResumeIndex(self.store.checkpoints_of(self.opts.source))
        run_id = self.store.start_run(self.opts.source, self.opts.clock())
        status, error = "ok", None
        bar = self._bar(found)
        self._progress = None if bar is None else progress.Progress(bar)
        try:
            for path in found:
                if self._progress is not None:
                    self._progress.start(path)
                result = self._one(path)
                report.files.append(result)
                if self._progress is not None:
                    self._progress.finish(report.events, report.rejected)
            if report.troubles:
                status, error = "partial", "; ".join(report.troubles)[:2000]
        except BaseException as exc:
            status, error = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            sys.setswitchinterval(switch)
            gc.unfreeze()
            if bar is not None:
                bar.close()
            report.seconds = time.monotonic() - started
            report.cpu_seconds = time.process_time() - cpu
            self.store.finish_run(run_id, self.opts.clock(), status=status, files=len(report.files),
                                  nbytes=report.bytes, events=report.events, rejected=report.rejected, error=error)  # fmt: skip
        return report

    def _advance(self, pos: int, start: int, end: int) -> None:
        """The region ``[start, end)`` of the file being read is committed up to ``pos``."""
        if self._progress is not None and end > start:
            self._progress.at(pos - start, end - start)

    def _bar(self, found: list[str]) -> Any:
        if not (self.opts.progress and sys.stderr.isatty()):
            return None
        from tqdm import tqdm

        total = sum(progress.disk_size(p) for p in found)
        return tqdm(total=total, unit="B", unit_scale=True, desc=f"ingest {self.opts.source}", file=sys.stderr)

    def _one(self, path: str) -> FileResult:
        if self._keys is not None:
            self._keys.overflowed = {}
        try:
            result = self._read(path)
            over = self._keys.describe() if self._keys is not None else None
            if over:
                log.warning("%s: %s", path, over)
                result.warning = "; ".join(w for w in (result.warning, over) if w)
            return result
        except ConcurrentIngestError as exc:  # not an error: the other process read it
            return FileResult(path, "unchanged", warning=f"read meanwhile by another ingest of this source ({exc})")
        except FileRewritten:
            return FileResult(path, "unchanged", warning="truncated while read (copytruncate): read from its copy next run")
        except (OSError, duckdb.Error, ValueError, EOFError, zlib.error, files.StreamDamage) as exc:
            if isinstance(exc, FileNotFoundError) and not os.path.lexists(path):
                # renamed or deleted since it was found (rotation, retention): passed over, as discovery
                # passes over files gone before it; a renamed file is read under its new name next run
                return FileResult(path, "unchanged")
            log.warning("cannot read %s: %s", path, exc)
            return FileResult(path, "error", error=_describe(exc))

    def _read(self, path: str) -> FileResult:
        self._guard = None
        info = files.FileInfo.of(path)
        now = self.opts.clock()
        if info.size == 0 or not info.head:
            if not info.readable:
                return FileResult(path, "error", error=f"compressed with {info.codec}, which is not read (gzip, bzip2 and "
                                                       "xz are): decompress it, or have it compressed with gzip")  # fmt: skip
            if info.damage == files.CUT_SHORT:  # a stream begun: read once it holds a head
                old = now.timestamp() - info.mtime >= self.opts.final_line_grace
                return FileResult(path, "unchanged", warning=(
                    f"{info.codec} stream without its end marker and under {files.FP_LEN:,} bytes: not read until it "
                    "is longer or complete (so short a start may be a partial copy of a file already read)") if old else "")
            if info.damage:
                return FileResult(path, "error", error=f"damaged {info.codec} ({info.damage}): nothing in it can be decompressed")
            return FileResult(path, "unchanged")
        cp = self._points.match(info)
        self._legacy_key = None
        if cp is None and (cp := self._points.match_legacy(info)) is not None:
            self._legacy_key = cp.file_key  # kept: see files.ResumeIndex.match_legacy
        region = _region(info, cp, now.timestamp(), self.opts.final_line_grace)
        if region is None:
            # upgrade the identity as the file grows; follow a rename (app.log -> app.log.1) once the
            # old path is gone, so status names the file where it is
            if cp is not None and (len(info.head) > cp.fp_len or (cp.path != info.path and _moved(cp))):
                new = self._cp(info, cp.offset, cp.complete)
                superseded = None if cp.file_key == self._legacy_key else cp.file_key
                self.store.save_checkpoint(self.opts.source, new, now, replaces=superseded)
                self._points.put(new, replaces=superseded)
            return FileResult(path, "unchanged")
        opts = columnar.FactOptions(self.opts.bucket_seconds, now.timestamp(), self.opts.sample_rate, leakage=self.opts.leakage)
        if info.compressed:
            return self._read_compressed(info, cp, region, opts, now)
        assert region.end is not None  # plain files: read to a known end
        self._guard_region(info, region.start, region.end, young=now.timestamp() - info.mtime < self.opts.final_line_grace)
        if self.native:
            return self._read_native(info, cp, info.path, region.start, region.end, opts, now)
        return self._read_duckdb(info, cp, info.path, region.start, region.end, opts, now, last=(region.end, False))

    def _read_duckdb(self, info: files.FileInfo, cp: Checkpoint | None, target: str, start: int, end: int,
                     opts: columnar.FactOptions, now: datetime, *, shift: int = 0,
                     last: tuple[int, bool]) -> FileResult:  # fmt: skip
        """Bytes ``[start, end)`` of the plain file ``target`` (``info``'s own, or its decompressed
        copy: resume points are ``shift`` + offsets in it) read by DuckDB alone, in segments each
        committed with its resume point (the last one: ``last``, offset and complete). A segment
        that is not the whole file goes to DuckDB as a temporary copy. Segments start at :data:`DUCKDB_FIRST_BYTES`, grow four
        times while a read holds few (event, bucket) groups and halve while it holds many: a
        backfill spread over months stays in bounded memory, an ordinary log goes in a few reads."""
        known, budget, warnings = self._known_names(), self.opts.max_event_names, []
        expected_offset, expected_key = (cp.offset if cp else 0), (cp.file_key if cp else None)
        events = rejected = 0
        reader, pos, size, whole = "", start, DUCKDB_FIRST_BYTES, os.path.getsize(target)
        with open(target, "rb") as fh:
            while True:
                cut = end if end - pos <= size * 3 // 2 else native.line_start_after(fh, pos + size, end)
                piece = target if (pos, cut) == (0, whole) else self._slice(fh, pos, cut)
                try:
                    facts, warning = self._duckdb_facts(piece, opts, known, budget)
                finally:
                    if piece != target:
                        os.unlink(piece)
                if warning:
                    warnings.append(warning)
                    log.warning("%s: %s", info.path, warning)
                known |= _track_names(facts) - {names.OVERFLOW_NAME}
                groups = _group_count(facts)
                offset, complete = (shift + cut, False) if cut < end else last
                batch = self._commit(info, facts, (offset, complete), (expected_offset, expected_key), now)
                expected_offset, expected_key = offset, info.key
                events, rejected, reader = events + batch.events, rejected + batch.rejected, facts.reader
                self._advance(cut, start, end)
                pos = cut
                if pos >= end:
                    break
                if groups > 2 * DUCKDB_GROUPS:
                    size = max(size // 2, DUCKDB_MIN_BYTES)
                elif groups < DUCKDB_GROUPS:
                    size = min(size * 4, SEGMENT_BYTES)
        return FileResult(info.path, "read", end - start, events, rejected, reader, warning="; ".join(warnings[:1]))

    def _slice(self, fh: BinaryIO, start: int, end: int) -> str:
        """Bytes ``[start, end)`` of an open file copied to a temporary file: its path."""
        dest = os.path.join(self.tmp, f"part-{os.getpid()}-{time.monotonic_ns()}.jsonl")
        fh.seek(start)
        with open(dest, "wb") as out:
            left = end - start
            while left and (block := fh.read(min(left, 16 << 20))):
                out.write(block)
                left -= len(block)
        return dest

    def _duckdb_facts(self, path: str, opts: columnar.FactOptions, known: set[str],
                      budget: int) -> tuple[columnar.Facts, str]:  # fmt: skip
        """DuckDB's aggregates of a plain file within the event-name budget, and the warning when
        names went over it (:mod:`monitors.ingest.names`)."""
        guarded = dataclasses.replace(opts, max_names=names.scanner_cap(budget, known))
        try:
            facts: columnar.Facts | None = columnar.run_facts_bounded(self.con, self.opts.plan, path, False, guarded,
                                                                      self.evaluator, self.tmp)  # fmt: skip
        except native.TooManyNames:  # given up before its sketches: far over the budget
            facts = None
        if facts is not None and not names.over_budget(_track_names(facts), known, budget):
            return facts, ""
        admission = names.admit(names.track_name_counts(self.con, path), known, budget)  # the names fixed first
        fixed = dataclasses.replace(opts, admitted=admission.admitted)
        facts = columnar.run_facts_bounded(self.con, self.opts.plan, path, False, fixed, self.evaluator, self.tmp)
        return facts, admission.describe(budget) if admission.overflowed else ""

    def _known_names(self) -> set[str]:
        return self.store.track_names(self.opts.source, self.opts.environment) if self.opts.max_event_names > 0 else set()

    def _read_compressed(self, info: files.FileInfo, cp: Checkpoint | None, region: _Region,
                         opts: columnar.FactOptions, now: datetime) -> FileResult:  # fmt: skip
        """A gzip, bzip2 or xz file: decompressed once (from its resume point) into a temporary
        plain file that the native reader or DuckDB reads; resume points stay offsets in the
        decompressed stream, and the last commit marks the file complete.

        A stream cut short (a compressor or a shipper still writing it, or a file damaged for
        good) is read as far as it decompresses, as a growing plain file is: up to its last full
        line while the file is younger than the final-line grace, all of it after that. Its resume
        point stays open, so whatever is appended to the stream later is read too."""
        dest = os.path.join(self.tmp, f"unpacked-{os.getpid()}-{time.monotonic_ns()}.jsonl")
        try:
            got = files.copy_decompressed(info, region.start, None, dest)
            size, warning = got.size, ""
            last = (region.start + size, True)
            if got.damage:  # it will not heal: what decompressed is read, and the file is done
                warning = (f"damaged {info.codec} ({got.damage}): " + (
                    f"the member that failed its check ({got.dropped:,} bytes) is not read (what it holds may be "
                    f"garbled); read the {size:,} bytes before it" if got.damage.startswith(files.CHECK_FAILED) else
                    f"read the {size:,} bytes before the damage; the rest cannot be decompressed"))  # fmt: skip
            elif got.cut_short:
                young = now.timestamp() - info.mtime < self.opts.final_line_grace
                size = files.last_newline_end(dest, 0, size) if young else size
                os.truncate(dest, size)
                last = (region.start + size, False)
                if size == 0:  # nothing new since the last run
                    return FileResult(info.path, "unchanged")
                warning = (f"{info.codec} stream without its end marker yet (still being written): read its whole "
                           "lines; the rest is read as it is written" if young else
                           f"{info.codec} stream without its end marker (cut short?): read all it holds; "
                           "anything written to it later is read too")  # fmt: skip
            if warning:
                log.warning("%s: %s", info.path, warning)
            skip = files.past_hole(dest, 0, size)
            if self.native:
                result = self._read_native(info, cp, dest, skip, size, opts, now, shift=region.start, last=last)
            else:
                result = self._read_duckdb(info, cp, dest, skip, size, opts, now, shift=region.start, last=last)
        finally:
            if os.path.exists(dest):
                os.unlink(dest)
        result.bytes = info.size if region.direct and not warning else size
        result.warning = "; ".join(w for w in (warning, result.warning) if w)
        result.damaged = bool(got.damage)
        return result

    def _read_native(self, info: files.FileInfo, cp: Checkpoint | None, path: str, start: int, end: int,
                     opts: columnar.FactOptions, now: datetime, *, shift: int = 0,
                     last: tuple[int, bool] | None = None) -> FileResult:  # fmt: skip
        """Bytes ``[start, end)`` of the plain file at ``path`` (``info``'s own, or its decompressed
        copy: resume points are ``shift`` + offsets in it, the last one ``last`` when given), in
        segments of about :data:`SEGMENT_BYTES`, each committed with the resume point at its end (so
        a crash loses at most the segment being read, and a rerun resumes there). The next segment
        is read while the previous one is committed."""
        segments = native.segments(path, start, end, SEGMENT_BYTES, TAIL_BYTES) or [(start, end)]
        expected_offset, expected_key = (cp.offset if cp else 0), (cp.file_key if cp else None)
        events = rejected = 0
        reader = "native"
        known, budget, warnings = self._known_names(), self.opts.max_event_names, []
        opts = dataclasses.replace(opts, max_names=names.scanner_cap(budget, known))
        capped = False  # over the name budget: the rest of the file is read with the names fixed first

        scanners = columnar.native_reader(self.con, self.opts.plan, opts, self.evaluator)
        committed: set[tuple[str, str, int]] = set()  # (event, type, bucket) groups this file's reads committed

        def read(segment: tuple[int, int]) -> columnar.Facts:
            return columnar.run_native(self.con, self.opts.plan, scanners, path, *segment, opts, self.evaluator, self.tmp)

        with ThreadPoolExecutor(1, thread_name_prefix="ehm-read") as pool, contextlib.closing(scanners):
            # Reads run back to back, at most two segments ahead of the commits (bounded memory).
            # A read that stops early (too many groups: see native.MAX_GROUPS) leaves the rest of
            # its range to a read of its own, committed next: commits stay in file order.
            todo = collections.deque(segments)
            inflight: collections.deque[tuple[tuple[int, int], Future[columnar.Facts] | None]] = collections.deque()

            def submit() -> None:
                while todo and len(inflight) < READ_AHEAD:
                    seg = todo.popleft()
                    inflight.append((seg, None if capped else pool.submit(read, seg)))

            submit()
            while inflight:
                (seg_start, seg_end), future = inflight.popleft()
                facts: columnar.Facts | None = None
                if future is not None:
                    try:
                        facts = future.result()
                    except native.TooManyNames:
                        facts = None
                    if facts is None or names.over_budget(_track_names(facts), known, budget):
                        capped, facts = True, None
                        for _, later in inflight:  # read by the same scanners: of no use now
                            if later is not None:
                                with contextlib.suppress(Exception):
                                    later.result()
                        inflight = collections.deque((seg, None) for seg, _ in inflight)
                if facts is None:
                    facts, admission = self._read_capped(path, seg_start, seg_end, opts, known)
                    if admission.overflowed:
                        warnings.append(admission.describe(budget))
                        log.warning("%s: %s", info.path, warnings[-1])
                read_end = seg_end if facts.end is None else facts.end
                held = {k for keys, _ in facts.sketches for k in keys}
                # a read that stopped on its groups, most of them committed already by this file's
                # earlier reads: its times cycle, and every read would meet them again
                cycling = facts.end is not None and len(held & committed) * 2 > len(held)
                if cycling and scanners.max_groups < native.MAX_GROUPS_CYCLING:
                    # one thread: two would each hold the same groups, for twice the memory
                    scanners.max_groups, scanners.threads = min(scanners.max_groups * 2, native.MAX_GROUPS_CYCLING), 1
                    log.info("%s: times cycle over more groups than a read holds: up to %d groups per read",
                             info.path, scanners.max_groups)  # fmt: skip
                committed |= held
                if read_end < seg_end:  # the rest of this range is read and committed next
                    inflight.appendleft(((read_end, seg_end), None if capped else pool.submit(read, (read_end, seg_end))))
                submit()  # the next reads run while this one is committed
                known |= _track_names(facts) - {names.OVERFLOW_NAME}
                offset, complete = (shift + read_end, False) if last is None or read_end < end else last
                batch = self._commit(info, facts, (offset, complete), (expected_offset, expected_key), now)
                expected_offset, expected_key = offset, info.key
                events, rejected = events + batch.events, rejected + batch.rejected
                self._advance(read_end, start, end)
                if facts.reader != "native":
                    reader = facts.reader
        return FileResult(info.path, "read", end - start, events, rejected, reader, warning="; ".join(warnings[:1]))

    def _read_capped(self, path: str, start: int, end: int, opts: columnar.FactOptions,
                     known: set[str]) -> tuple[columnar.Facts, names.Admission]:  # fmt: skip
        """Bytes ``[start, end)`` of ``path`` over the event-name budget: their track names are
        counted first (DuckDB), the admitted ones fixed (:func:`names.admit`), then read with the
        others counted as :data:`names.OVERFLOW_NAME`."""
        with open(path, "rb") as src:
            piece = self._slice(src, start, end)
        try:
            admission = names.admit(names.track_name_counts(self.con, piece), known, self.opts.max_event_names)
            fixed = dataclasses.replace(opts, admitted=admission.admitted, max_names=0)
            reader = columnar.native_reader(self.con, self.opts.plan, fixed, self.evaluator)
            with contextlib.closing(reader):
                return columnar.run_native(self.con, self.opts.plan, reader, path, start, end, fixed, self.evaluator,
                                           self.tmp), admission  # fmt: skip
        finally:
            if os.path.exists(piece):
                os.unlink(piece)

    def _guard_region(self, info: files.FileInfo, start: int, end: int, *, young: bool) -> None:
        """Keep the last bytes of the region ``[start, end)`` of a plain file, which every commit of
        it reads again (:class:`FileRewritten`): ``copytruncate`` may come between seeing how far
        the file goes and reading it, and the reader then gets the hole (NUL bytes) or nothing."""
        lo, tail = _tail(info.path, start, end)
        if len(tail) < end - lo or (young and not tail.endswith(b"\n")):  # changed already
            raise FileRewritten(info.path)
        self._guard = (info.path, lo, tail)

    def _commit(self, info: files.FileInfo, facts: columnar.Facts, at: tuple[int, bool],
                expected: tuple[int, str | None], now: datetime) -> IngestBatch:  # fmt: skip
        """The batch of ``facts`` committed with its resume point ``at`` (offset, complete), if the
        stored one is still ``expected`` (offset, file key) and a plain file read in place still
        holds what it held (see :meth:`_guard_region`); returns the batch."""
        if self._guard is not None:
            path, lo, tail = self._guard
            if _tail(path, lo, lo + len(tail))[1] != tail:
                raise FileRewritten(path)
        batch = merge.to_batch(facts, self.evaluator, source=self.opts.source, environment=self.opts.environment,
                               sample_rate=self.opts.sample_rate, file=info.path, keys=self._key_budget())  # fmt: skip
        batch.checkpoint = cp = self._cp(info, *at)
        batch.expected_offset, batch.expected_key = expected
        batch.keep_expected = expected[1] is not None and expected[1] == self._legacy_key
        self.store.apply_ingest(batch, now)
        self._points.put(cp, replaces=None if batch.keep_expected else batch.expected_key)
        return batch

    def _cp(self, info: files.FileInfo, offset: int, complete: bool) -> Checkpoint:
        return Checkpoint(info.key, len(info.head), info.path, offset, info.size, info.mtime, info.compressed, complete)


def _group_count(facts: columnar.Facts) -> int:
    """The (event, bucket) groups a read holds."""
    return sum(len(keys) for keys, _ in facts.sketches)


def _track_names(facts: columnar.Facts) -> set[str]:
    """The track event names a read counted."""
    main = facts.parts.get("main")
    if main is None or main.empty or "msg_type" not in main:
        return set()
    return set(main.loc[main["msg_type"] == "track", "event"].astype(str))


def ingest(store: Store, paths: Iterable[str], opts: IngestOptions, *, strict: bool = True) -> IngestReport:
    """One-shot ingest of ``paths`` for one source."""
    ingester = SourceIngester(store, opts)
    try:
        return ingester.run(paths, strict=strict)
    finally:
        ingester.close()
