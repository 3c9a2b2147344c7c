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
from collections.abc import Iterable
from dataclasses import dataclass

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


def _open(path: str, compressed: bool) -> object:
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def head_bytes(path: str, compressed: bool, n: int = FP_LEN) -> bytes:
    """The first ``n`` decompressed bytes (fewer for a short or damaged file)."""
    try:
        with _open(path, compressed) as fh:  # type: ignore[attr-defined]
            return fh.read(n)  # type: ignore[no-any-return]
    except (OSError, EOFError, zlib.error):
        return b""


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

    @property
    def key(self) -> str:
        """Content key over the head we have."""
        return digest(self.head)

    @classmethod
    def of(cls, path: str) -> FileInfo:
        """Stat and fingerprint a file."""
        st = os.stat(path)
        compressed = is_gzip(path)
        return cls(path, st.st_size, st.st_mtime, compressed, head_bytes(path, compressed))


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
    """Copy decompressed bytes ``[start, end)`` (to EOF when ``end`` is None) to ``dest``; returns bytes copied."""
    copied = 0
    with _open(info.path, info.compressed) as src, open(dest, "wb") as out:  # type: ignore[attr-defined]
        if info.compressed:
            remaining = start
            while remaining:
                got = src.read(min(_COPY_CHUNK, remaining))
                if not got:
                    break
                remaining -= len(got)
        else:
            src.seek(start)
        limit = None if end is None else end - start
        while limit is None or copied < limit:
            want = _COPY_CHUNK if limit is None else min(_COPY_CHUNK, limit - copied)
            block = src.read(want)
            if not block:
                break
            out.write(block)
            copied += len(block)
    return copied


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
