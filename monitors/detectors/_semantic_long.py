"""Long tables of numbers keyed by a few distinct keys, for the rate book's numerators and
denominators: row ``i`` is (``keys[key[i]]``, ``bucket[i]``, ``value[i]``).

Frames from the Store carry string columns (source, environment, event, property…); every row
touched in Python or through pandas string operations costs more than everything else a pass
does. A frame is factorised once, the few distinct combinations are mapped to keys in Python,
and the rows stay integer arrays from there on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitors.detectors._semantic import factorize

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


@dataclass
class Long:
    """See the module docstring. Several rows may share a (key, bucket): they add up."""

    keys: list[Any]
    key: I64
    bucket: I64
    value: F64

    @classmethod
    def empty(cls) -> Long:
        """No rows."""
        return cls([], np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))

    def __len__(self) -> int:
        return len(self.key)

    @classmethod
    def coded(
        cls, codes: I64, uniques: Sequence[tuple[str, ...]], key_of: Callable[[tuple[str, ...]], Any | None],
        bucket: I64, value: Sequence[float] | np.ndarray,
    ) -> Long:  # fmt: skip
        """Rows coded by ``codes`` into ``uniques`` (from :func:`factorize`); ``key_of`` maps a
        distinct combination to a key, or None to drop its rows."""
        mapped = [key_of(u) for u in uniques]
        keys: list[Any] = []
        index: dict[Any, int] = {}
        lookup = np.full(len(uniques) + 1, -1, dtype=np.int64)
        for i, k in enumerate(mapped):
            if k is None:
                continue
            if k not in index:
                index[k] = len(keys)
                keys.append(k)
            lookup[i] = index[k]
        key = lookup[codes] if len(codes) else np.empty(0, np.int64)
        keep = key >= 0
        values = np.asarray(value, dtype=np.float64)
        return cls(keys, key[keep], np.asarray(bucket, dtype=np.int64)[keep], values[keep])

    @classmethod
    def of(
        cls, frame: pd.DataFrame, columns: Sequence[str], key_of: Callable[[tuple[str, ...]], Any | None],
        value: str | np.ndarray,
    ) -> Long:  # fmt: skip
        """Rows of ``frame`` keyed by ``key_of`` of their ``columns`` values (see :meth:`coded`)."""
        if frame.empty:
            return cls.empty()
        codes, uniques = factorize(frame, columns)
        values = frame[value].to_numpy(np.float64) if isinstance(value, str) else value
        return cls.coded(codes, uniques, key_of, frame["bucket_start"].to_numpy(np.int64), values)

    @staticmethod
    def concat(parts: Iterable[Long]) -> Long:
        """All rows of ``parts`` (keys merged)."""
        parts = [p for p in parts if len(p.keys)]
        if not parts:
            return Long.empty()
        keys: list[Any] = []
        index: dict[Any, int] = {}
        codes = []
        for p in parts:
            for k in p.keys:
                if k not in index:
                    index[k] = len(keys)
                    keys.append(k)
            remap = np.array([index[k] for k in p.keys], dtype=np.int64)
            codes.append(remap[p.key])
        return Long(keys, np.concatenate(codes), np.concatenate([p.bucket for p in parts]),
                    np.concatenate([p.value for p in parts]))  # fmt: skip

    def rekeyed(self, key_of: Callable[[Any], Any | None]) -> Long:
        """The same rows under other keys (None drops them); rows that meet add up later."""
        return Long.coded(self.key, [(k,) for k in self.keys], lambda u: key_of(u[0]), self.bucket, self.value)
