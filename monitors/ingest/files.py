"""Finding log files and knowing how far each was read.

A file is identified by its *content*, not its name or inode: the SHA-256 of its first
``FP_LEN`` decompressed bytes (fewer while it is shorter). So a file keeps its resume point when it
is renamed by rotation (``app.log`` → ``app.log.1``) or compressed (``app.log.1.gz``), and a file
truncated and rewritten in place (copytruncate) is a new file. Offsets count decompressed bytes and
always stop at a line boundary.
"""

from __future__ import annotations

import bz2
import contextlib
import glob
import gzip
import hashlib
import lzma
import os
import re
import shutil
import stat
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from monitors.errors import InputError
from storage.batch import Checkpoint

FP_LEN = 4096
_COPY_CHUNK = 16 * 1024 * 1024


_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
_OPENERS: dict[str, Any] = {"gzip": gzip.GzipFile, "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile}
_PIECE = 4096  # compressed bytes per decompressor call: what a damaged stream can lose before its damage


def codec_of(path: str) -> str:
    """How the file is compressed, by its first bytes: "gzip", "bzip2", "xz", "zstd", or "" (plain)."""
    with open(path, "rb") as fh:
        start = fh.read(6)
    return next((codec for magic, codec in _MAGIC if start.startswith(magic)), "")


# Log names, rotated ones included: app.log, app.log.1, app.log.2.gz, app.log-20261128(.gz), events.jsonl…
_LOG_NAME = re.compile(r"\.(?:jsonl|ndjson|json|log|txt)(?:$|[.\-_])|\.gz$")
# …but not what editors, shippers and rotation leave beside them (swap files, position files…)
_NOT_LOG = (".swp", ".swo", ".swx", ".tmp", ".lock", ".pos", ".pid", ".offset", ".md5", ".sha256", ".sig")


def is_log_name(name: str) -> bool:
    """Whether a file met in a directory is read as a log, by its name: the current and rotated
    names of ``.jsonl``, ``.ndjson``, ``.json``, ``.log`` and ``.txt`` files and any ``.gz``; not
    hidden files, nor editor swap files, shipper position files, locks and checksums."""
    return not name.startswith(".") and not name.endswith(_NOT_LOG) and _LOG_NAME.search(name) is not None


def discover(patterns: Iterable[str], *, strict: bool) -> list[str]:
    """Regular files named by paths, globs and directories (recursively), oldest first.

    With ``strict`` (explicit CLI paths), a path or glob that matches nothing, or a named path that
    is not a readable regular file, is an error. Files met in a directory or through a glob that
    vanish meanwhile, dangle or are not regular files (FIFOs, sockets) are passed over; one that is
    not readable is listed, and its read fails alone.
    """
    found: dict[str, float] = {}
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        magic = glob.has_magic(expanded)
        matches = sorted(glob.glob(expanded, recursive=True)) if magic else [expanded]
        hits = 0
        for match in matches:
            if os.path.isdir(match):
                for root, _dirs, names in os.walk(match):
                    for name in names:
                        full = os.path.join(root, name)
                        if is_log_name(name) and (mtime := _regular_mtime(full)) is not None:
                            found[full] = mtime
                            hits += 1
            elif (mtime := _regular_mtime(match)) is not None:
                if not magic and strict and not os.access(match, os.R_OK):
                    raise InputError(f"cannot read {match}: permission denied")
                found[match] = mtime
                hits += 1
            elif not magic and strict:
                what = "not a regular file" if os.path.exists(match) else "no such file or directory"
                raise InputError(f"{what}: {pattern}")
        if strict and hits == 0 and magic:
            raise InputError(f"no files match {pattern}")
    return sorted(found, key=lambda p: (found[p], p))


def _regular_mtime(path: str) -> float | None:
    """The modification time of a regular file (symlinks followed), else None."""
    try:
        st = os.stat(path)
    except OSError:  # vanished (rotation), a dangling link, not reachable
        return None
    return st.st_mtime if stat.S_ISREG(st.st_mode) else None


class _SmallReads:
    """A file whose reads return at most :data:`_PIECE` bytes, under a decompressing reader: when a
    stream turns out damaged, the reader loses only the output of the piece the damage is in."""

    mode = "rb"

    def __init__(self, path: str) -> None:
        self.fh = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self.name = path

    def read(self, n: int = -1) -> bytes:
        return self.fh.read(_PIECE if n < 0 else min(n, _PIECE))

    def close(self) -> None:
        self.fh.close()


class _Unpacked(contextlib.AbstractContextManager[Any]):
    """A decompressing reader over :class:`_SmallReads`; closes both."""

    def __init__(self, path: str, codec: str) -> None:
        self.raw = _SmallReads(path)
        try:
            self.reader = _OPENERS[codec](fileobj=self.raw) if codec == "gzip" else _OPENERS[codec](self.raw)
        except BaseException:
            self.raw.close()
            raise

    def __enter__(self) -> Any:
        return self.reader

    def __exit__(self, *exc: object) -> None:
        self.reader.close()
        self.raw.close()


def _open(path: str, codec: str) -> Any:
    return _Unpacked(path, codec) if codec else open(path, "rb")


def _read(src: Any, codec: str, size: int) -> bytes:
    """Up to ``size`` decompressed bytes. A compressed stream is read one input block at a time
    (``read1``), so when it turns out damaged everything before the damage has been returned: it
    raises :class:`EOFError` when cut short (no end marker yet), :class:`StreamDamage` when damaged."""
    try:
        return src.read1(size) if codec else src.read(size)  # type: ignore[no-any-return]
    except (zlib.error, lzma.LZMAError) as exc:
        raise StreamDamage(str(exc)) from exc
    except OSError as exc:
        if codec and exc.errno is None:  # a decompressor's verdict (bad data, CRC), not an I/O error
            raise StreamDamage(str(exc)) from exc
        raise


def _blocks(src: Any, codec: str, size: int) -> Iterator[bytes]:
    """:func:`_read` blocks to the end."""
    while block := _read(src, codec, size):
        yield block


CUT_SHORT = "cut short"


class StreamDamage(Exception):
    """A compressed stream that cannot be decompressed past some point (bad data, CRC or length check)."""


def _head(path: str, codec: str, n: int = FP_LEN) -> tuple[bytes, str]:
    """The first ``n`` decompressed bytes (fewer for a short file), and what stopped the read, if
    anything: :data:`CUT_SHORT` or the damage. A compressed stream cut short within its first
    ``n`` bytes has no head yet (b""): its few bytes may be a partial copy of a file already read,
    which so short a head cannot tell."""
    head = b""
    try:
        with _open(path, codec) as src:
            for block in _blocks(src, codec, n):
                head += block
                if len(head) >= n:
                    break
    except EOFError:
        return (head[:n], "") if len(head) >= n else (b"", CUT_SHORT)
    except StreamDamage as exc:
        return head[:n], str(exc)
    return head[:n], ""


HOLE_MARK = b"\0hole "
"""Starts the identity of a file that starts with NUL bytes (see :func:`_past_hole_head`)."""


def _past_hole_head(path: str, codec: str, n: int = FP_LEN) -> tuple[int, bytes] | None:
    """(length of the run of NUL bytes a file starts with, the first ``n`` decompressed bytes after
    it), or None when the stream cannot be read that far. ``copytruncate`` with a writer that keeps
    its offset starts every generation of a log with such a hole, as long as all it held before:
    their first 4 KB are all NULs, so the hole's length and the lines after it tell them apart."""
    hole, data = 0, b""
    try:
        with _open(path, codec) as src:
            if not codec:  # a sparse hole is skipped, not read
                with contextlib.suppress(OSError, AttributeError):
                    hole = os.lseek(src.fileno(), 0, os.SEEK_DATA)
                src.seek(hole)
            for block in _blocks(src, codec, 1 << 20):
                if not data:
                    rest = block.lstrip(b"\0")
                    hole += len(block) - len(rest)
                    block = rest
                data += block[: n - len(data)]
                if len(data) >= n:
                    break
    except (EOFError, StreamDamage, OSError):
        return None
    return hole, data


_HOLES: dict[tuple[str, int, int, int, int], tuple[int, bytes]] = {}
""":func:`_past_hole_head` of files as they were (path, device, inode, size, mtime): a worker's
runs every minute would otherwise read a GB-long hole of zeros (logrotate's copies are not
sparse) or decompress it, for every such file, each time."""


def _past_hole_cached(path: str, codec: str, st: os.stat_result) -> tuple[int, bytes] | None:
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    found = _HOLES.get(key)
    if found is None:
        found = _past_hole_head(path, codec)
        if found is not None:
            if len(_HOLES) >= 4096:
                _HOLES.clear()
            _HOLES[key] = found
    return found


def digest(data: bytes) -> str:
    """Key of a file's head."""
    return hashlib.sha256(data).hexdigest()[:40]


@dataclass(frozen=True)
class FileInfo:
    """A log file as seen now."""

    path: str
    size: int
    mtime: float
    compressed: bool
    head: bytes  # the identity: the first FP_LEN bytes, or HOLE_MARK, the hole's length and the bytes after it
    codec: str = ""  # gzip, bzip2, xz, zstd (see :func:`codec_of`); "" when plain
    damage: str = ""  # why a compressed stream has no head: CUT_SHORT, or its damage (:class:`StreamDamage`)
    hole: int = -1  # length of the NUL bytes the file starts with, when its identity skips them
    legacy: bytes = b""  # then: its first FP_LEN bytes, its identity before (see ResumeIndex.match_legacy)

    @property
    def key(self) -> str:
        """Content key over the head we have."""
        return digest(self.head)

    @classmethod
    def of(cls, path: str) -> FileInfo:
        """Stat and fingerprint a file."""
        st = os.stat(path)
        codec = codec_of(path)
        if codec and codec not in _OPENERS:
            return cls(path, st.st_size, st.st_mtime, True, b"", codec)
        head, damage = _head(path, codec)
        if head[:1] == b"\0" and (past := _past_hole_cached(path, codec, st)) is not None:
            ident = HOLE_MARK + str(past[0]).encode() + b"\n" + past[1]
            return cls(path, st.st_size, st.st_mtime, bool(codec), ident, codec, damage, past[0], head)
        return cls(path, st.st_size, st.st_mtime, bool(codec), head, codec, damage)

    @property
    def readable(self) -> bool:
        """Whether its compression is one this reads (gzip, bzip2, xz; zstd is not)."""
        return not self.codec or self.codec in _OPENERS


def match_checkpoint(info: FileInfo, known: list[Checkpoint]) -> Checkpoint | None:
    """The stored resume point of this file's content, if any (also when it was shorter then):
    the one over the longest head, when several match."""
    return ResumeIndex(known).match(info)


class ResumeIndex:
    """Resume points by identity, for one run: a file's is found with one hash of its head per
    distinct identity length (one length for files past :data:`FP_LEN`), not by hashing every
    stored point — a log folder keeping a year of hourly files has thousands."""

    def __init__(self, points: Iterable[Checkpoint] = ()) -> None:
        self._by_len: dict[int, dict[str, Checkpoint]] = {}
        for cp in points:
            self.put(cp)

    def put(self, cp: Checkpoint, *, replaces: str | None = None) -> None:
        """Add (or update) ``cp``; ``replaces``: the key of a point it supersedes (a longer identity)."""
        if replaces is not None and replaces != cp.file_key:
            for keyed in self._by_len.values():
                keyed.pop(replaces, None)
        if cp.fp_len > 0:
            self._by_len.setdefault(cp.fp_len, {})[cp.file_key] = cp

    def match(self, info: FileInfo) -> Checkpoint | None:
        """The point of ``info``'s content: the one over its longest matching head prefix."""
        return self._match(info.head)

    def match_legacy(self, info: FileInfo) -> Checkpoint | None:
        """For a file starting with a NUL hole that :meth:`match` does not know: the point stored
        under its identity before holes were skipped (its first 4 KB, the same for every
        generation), when it reaches past this file's hole — its lines were read then; a point
        short of the hole is an older generation's, and this file is new. Kept as it is (other
        generations from before may need it), never replaced."""
        if not info.legacy:
            return None
        old = self._match(info.legacy)
        return old if old is not None and (old.offset < 0 or old.offset >= info.hole) else None

    def _match(self, head: bytes) -> Checkpoint | None:
        whole = self._by_len.get(len(head))
        if whole and (cp := whole.get(digest(head))) is not None:
            return cp  # unchanged, or grown past its identity length: the usual case
        best = None
        h = hashlib.sha256()
        pos = 0
        for n in sorted(n for n in self._by_len if 0 < n < len(head)):
            h.update(head[pos:n])
            pos = n
            cp = self._by_len[n].get(h.copy().hexdigest()[:40])
            if cp is not None:
                best = cp
        return best


def last_newline_end(path: str, start: int, size: int) -> int:
    """Offset just after the last ``\\n`` at or after ``start`` in a plain file (``start`` if none)."""
    pos = size
    with open(path, "rb") as fh:
        while pos > start:
            step = min(1 << 16, pos - start)
            fh.seek(pos - step)
            block = fh.read(step)
            idx = block.rfind(b"\n")
            if idx >= 0:
                return pos - step + idx + 1
            pos -= step
    return start


def past_hole(path: str, start: int, size: int) -> int:
    """Where the line at ``start`` of a plain file begins: past the run of NUL bytes there when a
    line follows it (the hole ``copytruncate`` leaves when the writer keeps its offset, as long as
    all the file held: past 16 MB it made the line after it ``line_too_long``); ``start`` otherwise,
    also for a line of nothing but NULs, which is read, and rejected, as it is. A sparse hole is
    skipped with ``SEEK_DATA``, not read."""
    with open(path, "rb", buffering=0) as fh:  # unbuffered: lseek moves the position it reads from
        fh.seek(start)
        if fh.read(1) != b"\0":
            return start
        pos = start
        with contextlib.suppress(OSError, AttributeError):  # no data after it (ENXIO), or no SEEK_DATA here
            pos = max(start, os.lseek(fh.fileno(), start, os.SEEK_DATA))
        fh.seek(pos)
        while pos < size and (block := fh.read(min(1 << 20, size - pos))):
            rest = block.lstrip(b"\0")
            pos += len(block) - len(rest)
            if rest:
                return start if rest.startswith(b"\n") else pos
    return start


@dataclass(frozen=True)
class Decompressed:
    """What :func:`copy_decompressed` copied."""

    size: int
    cut_short: bool = False  # the stream ends before its end marker (still being written, or cut)
    damage: str = ""  # the stream cannot be decompressed past ``size``: why
    dropped: int = 0  # bytes decompressed but not kept: the gzip member that failed its check


def copy_decompressed(info: FileInfo, start: int, end: int | None, dest: str) -> Decompressed:
    """Copy decompressed bytes ``[start, end)`` (to EOF when ``end`` is None) to ``dest``. A
    compressed stream cut short or damaged is copied as far as it decompresses, and says so."""
    copied = 0
    with _open(info.path, info.codec) as src, open(dest, "wb") as out:
        try:
            if info.compressed:
                skip = start
                while skip and (got := _read(src, info.codec, min(_COPY_CHUNK, skip))):
                    skip -= len(got)
            else:
                src.seek(start)
            limit = None if end is None else end - start
            for block in _blocks(src, info.codec, _COPY_CHUNK if limit is None else min(_COPY_CHUNK, limit)):
                if limit is not None and copied + len(block) > limit:
                    block = block[: limit - copied]
                out.write(block)
                copied += len(block)
                if limit is not None and copied >= limit:
                    break
        except EOFError:
            return Decompressed(copied, cut_short=True)
        except StreamDamage as exc:
            if info.codec != "gzip" or not str(exc).startswith(CHECK_FAILED):
                return Decompressed(copied, damage=str(exc))
            # a member whose CRC or length check failed decompressed to something wrong somewhere:
            # none of it is kept (garbled names and times would pass for new events)
            keep = max(0, min(copied, verified_gzip_bytes(info.path) - start))
            out.truncate(keep)
            return Decompressed(keep, damage=str(exc), dropped=copied - keep)
    return Decompressed(copied)


CHECK_FAILED = ("CRC check failed", "Incorrect length")  # gzip's verdicts on a member's trailer


def verified_gzip_bytes(path: str) -> int:
    """Decompressed bytes of the gzip members of ``path`` before the first one that fails its CRC
    or length check (or cannot be decompressed, or is cut short)."""
    total = 0
    with open(path, "rb") as fh:
        d, member, pending = zlib.decompressobj(31), 0, b""
        while True:
            chunk = pending or fh.read(1 << 20)
            pending = b""
            if not chunk:
                return total
            try:
                member += len(d.decompress(chunk))
            except zlib.error:
                return total
            if d.eof:  # a whole member, checked
                total += member
                rest = d.unused_data
                if not rest.strip(b"\0"):  # end, or zero padding as gzip allows
                    rest = fh.read(1 << 20)
                    if not rest.strip(b"\0"):
                        return total
                d, member, pending = zlib.decompressobj(31), 0, rest


def clear_dir(path: str) -> None:
    """Remove stale temporary slices left by a killed run."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


RUN_DIR_PREFIX = "ehm-ingest-"


def run_dir() -> str:
    """A fresh temporary folder for one ingest run, named after this process (``ehm-ingest-<pid>-…``)
    so that a later run can tell when it was left by a process that is gone (:func:`sweep_run_dirs`)."""
    return tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{os.getpid()}-")


SWEEP_AGE = 600.0  # seconds a run folder must have been untouched before it is swept


def sweep_run_dirs(parent: str | None = None, *, now: float | None = None) -> int:
    """Remove the run folders of ingests that are no longer running (killed: a decompressed copy of
    a large file can be left there), and empty ones of older versions without a pid; returns how
    many were removed. A folder whose process is alive, or not ours to inspect, is left."""
    parent = parent or tempfile.gettempdir()
    removed = 0
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return 0
    now = time.time() if now is None else now
    for entry in entries:
        if not entry.name.startswith(RUN_DIR_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        try:  # untouched for a while: a process of another PID namespace sharing /tmp is not judged by pid alone
            if now - entry.stat(follow_symlinks=False).st_mtime < SWEEP_AGE:
                continue
        except OSError:
            continue
        pid_text = entry.name[len(RUN_DIR_PREFIX) :].split("-", 1)[0]
        try:
            if pid_text.isdigit():
                if _alive(int(pid_text)):
                    continue
                shutil.rmtree(entry.path)
            else:
                os.rmdir(entry.path)  # an older version's folder: only when empty
            removed += 1
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
