"""Finding log files and knowing how far each was read.

A file is identified by its *content*, not its name or inode: the SHA-256 of its first
``FP_LEN`` decompressed bytes (fewer while it is shorter). So a file keeps its resume point when it
is renamed by rotation (``app.log`` → ``app.log.1``) or compressed (``app.log.1.gz``), and a file
truncated and rewritten in place (copytruncate) is a new file. Offsets count decompressed bytes and
always stop at a line boundary.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
import shutil
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from monitors.errors import InputError
from storage.batch import Checkpoint

FP_LEN = 4096
LOG_SUFFIXES = (".jsonl", ".ndjson", ".json", ".log", ".txt", ".gz")
_COPY_CHUNK = 16 * 1024 * 1024


def is_gzip(path: str) -> bool:
    """Whether the file starts with the gzip magic number."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def discover(patterns: Iterable[str], *, strict: bool) -> list[str]:
    """Files named by paths, globs and directories (recursively), oldest first.

    With ``strict`` (explicit CLI paths), a path or glob that matches nothing is an error.
    """
    found: dict[str, float] = {}
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        matches = sorted(glob.glob(expanded, recursive=True)) if glob.has_magic(expanded) else [expanded]
        hits = 0
        for match in matches:
            if os.path.isdir(match):
                for root, _dirs, files in os.walk(match):
                    for name in files:
                        if name.endswith(LOG_SUFFIXES) or ".log." in name or ".jsonl." in name:
                            full = os.path.join(root, name)
                            found[full] = os.path.getmtime(full)
                            hits += 1
            elif os.path.isfile(match):
                found[match] = os.path.getmtime(match)
                hits += 1
            elif not glob.has_magic(expanded) and strict:
                raise InputError(f"no such file or directory: {pattern}")
        if strict and hits == 0 and glob.has_magic(expanded):
            raise InputError(f"no files match {pattern}")
    for path in found:
        if not os.access(path, os.R_OK):
            raise InputError(f"cannot read {path}: permission denied")
    return sorted(found, key=lambda p: (found[p], p))


def _open(path: str, compressed: bool) -> Any:
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _blocks(src: Any, compressed: bool, size: int) -> Iterator[bytes]:
    """Decompressed blocks of an open file. A gzip stream is read a member's input block at a time
    (``read1``), so when it turns out damaged everything before the damage has been yielded: it
    raises :class:`EOFError` when cut short (no end marker yet), :class:`GzipDamage` when damaged."""
    while True:
        try:
            block = src.read1(size) if compressed else src.read(size)
        except EOFError:
            raise
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise GzipDamage(str(exc)) from exc
        if not block:
            return
        yield block


CUT_SHORT = "cut short"


class GzipDamage(Exception):
    """A gzip stream that cannot be decompressed past some point (bad data, CRC or length check)."""


def _head(path: str, compressed: bool, n: int = FP_LEN) -> tuple[bytes, str]:
    """The first ``n`` decompressed bytes (fewer for a short file), and what stopped the read, if
    anything. A gzip stream cut short within its first ``n`` bytes has no head yet (b"", "cut
    short"): its few bytes may be a partial copy of a file already read, which so short a head
    cannot tell."""
    head = b""
    try:
        with _open(path, compressed) as src:
            for block in _blocks(src, compressed, n):
                head += block
                if len(head) >= n:
                    break
    except EOFError:
        return (head[:n], "") if len(head) >= n else (b"", CUT_SHORT)
    except GzipDamage as exc:
        return head[:n], str(exc)
    except OSError:  # not readable now: as if empty
        return b"", ""
    return head[:n], ""


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
    head: bytes
    damage: str = ""  # why a gzip stream has no head: CUT_SHORT, or its damage (see :class:`GzipDamage`)

    @property
    def key(self) -> str:
        """Content key over the head we have."""
        return digest(self.head)

    @classmethod
    def of(cls, path: str) -> FileInfo:
        """Stat and fingerprint a file."""
        st = os.stat(path)
        compressed = is_gzip(path)
        head, damage = _head(path, compressed)
        return cls(path, st.st_size, st.st_mtime, compressed, head, damage)


def match_checkpoint(info: FileInfo, known: list[Checkpoint]) -> Checkpoint | None:
    """The stored resume point of this file's content, if any (also when it was shorter then)."""
    for cp in known:
        if cp.fp_len <= len(info.head) and cp.fp_len > 0 and digest(info.head[: cp.fp_len]) == cp.file_key:
            return cp
    return None


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


def copy_slice(info: FileInfo, start: int, end: int | None, dest: str) -> int:
    """Copy decompressed bytes ``[start, end)`` (to EOF when ``end`` is None) to ``dest``; returns bytes
    copied. A gzip stream raises :class:`EOFError` when cut short, :class:`GzipDamage` when damaged."""
    got = copy_decompressed(info, start, end, dest)
    if got.cut_short:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    if got.damage:
        raise GzipDamage(got.damage)
    return got.size


@dataclass(frozen=True)
class Decompressed:
    """What :func:`copy_decompressed` copied."""

    size: int
    cut_short: bool = False  # the gzip stream ends before its end marker (still being written, or cut)
    damage: str = ""  # the gzip stream cannot be decompressed past ``size``: why


def copy_decompressed(info: FileInfo, start: int, end: int | None, dest: str) -> Decompressed:
    """:func:`copy_slice`, except that a gzip stream cut short or damaged is copied as far as it
    decompresses, and says so."""
    copied = 0
    with _open(info.path, info.compressed) as src, open(dest, "wb") as out:
        try:
            if info.compressed:
                skip = start
                while skip:
                    got = src.read(min(_COPY_CHUNK, skip))
                    if not got:
                        break
                    skip -= len(got)
            else:
                src.seek(start)
            limit = None if end is None else end - start
            for block in _blocks(src, info.compressed, _COPY_CHUNK if limit is None else min(_COPY_CHUNK, limit)):
                if limit is not None and copied + len(block) > limit:
                    block = block[: limit - copied]
                out.write(block)
                copied += len(block)
                if limit is not None and copied >= limit:
                    break
        except EOFError:
            return Decompressed(copied, cut_short=True)
        except (GzipDamage, zlib.error, gzip.BadGzipFile) as exc:
            return Decompressed(copied, damage=str(exc))
    return Decompressed(copied)


def gzip_size(path: str) -> int:
    """Decompressed size of a gzip file (reads it through)."""
    total = 0
    with gzip.open(path, "rb") as fh:
        while True:
            block = fh.read(_COPY_CHUNK)
            if not block:
                return total
            total += len(block)


def clear_dir(path: str) -> None:
    """Remove stale temporary slices left by a killed run."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
