"""Picks the sample messages of each combination that violates the plan, inside the hot path's one
pass over the input (no second read of the file).

DuckDB calls a :class:`SampleKeeper` on every chunk of narrow rows. It judges each distinct
combination (event, type, flags, type codes, key count) once with the plan's :class:`Evaluator`,
and for the combinations that violate it keeps the rows whose sample hash is among the ``k``
largest seen so far (a streaming bottom-k). The ``k`` largest of the whole input are always among
the kept rows, whatever order the chunks come in, so the final pick (``max_by(sample, sh, k)``)
is the same on every run; and only about ``k · ln(n / k)`` rows per combination are ever kept,
so the rendered samples stay a few kilobytes however many messages violate the plan.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from monitors.ingest.conformance import Evaluator

SAMPLES_PER_COMBINATION = 3


def _numpy(column: Any, dtype: type[np.generic]) -> np.ndarray:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return np.asarray(array.fill_null(0).to_numpy(zero_copy_only=False), dtype=dtype)


class SampleKeeper:
    """A DuckDB arrow UDF: ``keeper(event, msg_type, ck, flags, tc0, …, nkeys, sh)`` → ``sh`` for
    the rows to keep as samples, NULL for the others (see the module docstring). ``ck`` is a hash
    of the combination (event and type, flags, type codes, key count), computed by DuckDB."""

    def __init__(self, evaluator: Evaluator, k: int = SAMPLES_PER_COMBINATION) -> None:
        self.ev = evaluator
        self.k = k
        self.n_codes = evaluator.layout.n_codes
        self._bad: dict[int, bool] = {}
        self._top: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def parameters(self) -> list[str]:
        """DuckDB parameter types, in call order."""
        return ["VARCHAR", "VARCHAR", "UBIGINT", "BIGINT", *["BIGINT"] * self.n_codes, "INTEGER", "UBIGINT"]

    def function(self) -> Callable[..., pa.Array]:
        """This keeper as a function whose signature has one parameter per column (DuckDB checks
        the arity)."""

        def keep(*columns: Any) -> pa.Array:
            return self(*columns)

        params = [inspect.Parameter(f"c{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(self.parameters()))]
        keep.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return keep

    def __call__(self, *columns: Any) -> pa.Array:
        ck, sh = _numpy(columns[2], np.uint64), _numpy(columns[-1], np.uint64)
        uniques, first, inverse = np.unique(ck, return_index=True, return_inverse=True)
        keep = np.zeros(len(sh), dtype=bool)
        with self._lock:
            for u, (combo, at) in enumerate(zip(uniques.tolist(), first.tolist(), strict=True)):
                bad = self._bad.get(combo)
                if bad is None:
                    bad = self._bad[combo] = self._judge([c[at].as_py() for c in columns])
                if bad:
                    idx = np.flatnonzero(inverse == u)
                    keep[idx] = self._offer(combo, sh[idx])
        return pa.array(sh, type=pa.uint64(), mask=~keep)

    def _judge(self, row: list[Any]) -> bool:
        event, msg_type, _ck, flags, *rest = row
        codes = tuple(int(c or 0) for c in rest[: self.n_codes])
        verdict = self.ev.verdict(str(event), str(msg_type), int(flags or 0), codes, int(rest[self.n_codes] or 0))
        return bool(verdict.violations or verdict.leaks)

    def _offer(self, combo: int, hashes: np.ndarray) -> np.ndarray:
        """Which of ``hashes`` enter the running top ``k`` of ``combo`` (updating it)."""
        pool = np.sort(np.concatenate([self._top.get(combo, np.zeros(0, np.uint64)), hashes]))[-self.k :]
        self._top[combo] = pool  # sorted: pool[0] is the smallest hash kept
        kept: np.ndarray = hashes >= pool[0]
        return kept
