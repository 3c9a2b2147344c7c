"""Parity of the native scanner's hashes with DuckDB's SQL ``hash()`` and ``md5_number_upper()``.

``monitors.ingest._scan`` computes them in C (``monitors/ingest/native/duckhash.h``); every value must
equal DuckDB's bit for bit. Inputs are seeded, so a failure reproduces.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Sequence

import duckdb
import pyarrow as pa
import pytest

scan = pytest.importorskip("monitors.ingest._scan")

_ASCII = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.:/{}"\\'
_WIDE = "éüßñøÅçàλΩжя中文字符日本語한국어😀🎉🚀👍🏽🇩🇪\t\n\x7f\x00"


def _strings(rng: random.Random, n: int) -> list[str]:
    # every byte length 0..40 (DuckDB inlines <= 12 bytes and hashes 8-byte words), then random text
    out = [c * k for k in range(41) for c in ("q", "é")] + ["abcdefghijkl", "abcdefghijklm", "x" * 4096]
    for _ in range(n):
        pool = _ASCII if rng.random() < 0.5 else _ASCII + _WIDE
        out.append("".join(rng.choices(pool, k=rng.randint(0, 80))))
    return out


def _f64(bits: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


def _doubles(rng: random.Random, n: int) -> list[float]:
    out = [0.0, -0.0, 1.5, -1.5, 0.1, 2.0**53, 1e300, -1e-300, math.inf, -math.inf, math.nan, -math.nan]
    out += [5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]  # subnormals, extremes
    out += [_f64(b) for b in (0x7FF0000000000001, 0xFFF8000000000001, 0x7FF4000000000000)]  # NaN payloads
    for _ in range(n):
        r = rng.random()
        if r < 0.3:
            out.append(float(rng.randint(-(10**6), 10**6)))
        elif r < 0.6:
            out.append(_f64(rng.getrandbits(64)))
        else:
            out.append(rng.choice((-1.0, 1.0)) * 10.0 ** rng.uniform(-320, 308))
    return out


def _duck(select: str, **cols: pa.Array) -> list[tuple[int, ...]]:
    """Rows of ``select`` over the columns, in input order."""
    n = len(next(iter(cols.values())))
    con = duckdb.connect()
    con.register("t", pa.table({"i": pa.array(range(n), pa.int64()), **cols}))
    return [tuple(row) for row in con.execute(f"select {select} from t order by i").fetchall()]


def _assert_same(inputs: Sequence[object], got: Sequence[object], want: Sequence[object]) -> None:
    bad = [(x, g, w) for x, g, w in zip(inputs, got, want, strict=True) if g != w]
    assert not bad, f"{len(bad)} of {len(inputs)} differ from DuckDB (input, native, duckdb): {bad[:3]}"


def _h(v: str | float | None) -> int:
    if v is None:
        return int(scan.NULL_HASH)
    return int(scan.hash_str(v.encode())) if isinstance(v, str) else int(scan.hash_double(v))


def test_reference_values() -> None:
    assert scan.hash_str(b"abc") == 1924864467101078684
    assert scan.hash_double(1.5) == 1706605666616485939
    assert scan.NULL_HASH == 13787848793156543929
    assert scan.hash_combine(scan.hash_str(b"abc"), scan.hash_double(1.5)) == 10310343152286310095
    assert scan.md5_upper(b"abc") == 12704604231530709392


def test_strings_match_duckdb() -> None:
    strs = _strings(random.Random(1701), 3000)
    want = _duck("hash(s), md5_number_upper(s)", s=pa.array(strs, pa.string()))
    got = [(scan.hash_str(s.encode()), scan.md5_upper(s.encode())) for s in strs]
    _assert_same(strs, got, want)


def test_doubles_match_duckdb() -> None:
    dbls = _doubles(random.Random(1702), 3000)
    want = _duck("hash(d)", d=pa.array(dbls, pa.float64()))
    _assert_same(dbls, [(scan.hash_double(d),) for d in dbls], want)
    assert scan.hash_double(-0.0) == scan.hash_double(0.0)
    assert scan.hash_double(_f64(0xFFF8000000000001)) == scan.hash_double(math.nan)


def test_null_hash_is_one_constant() -> None:
    row = duckdb.connect().execute("select hash(NULL::VARCHAR), hash(NULL::DOUBLE), hash(NULL)").fetchall()[0]
    assert row == (scan.NULL_HASH,) * 3


def test_multi_argument_rows_fold_left() -> None:
    """hash(a, b, ...) == combine(...combine(H(a), H(b))...); a NULL argument contributes NULL_HASH."""
    rng = random.Random(1703)
    strs, dbls, n = _strings(rng, 300), _doubles(rng, 300), 2000
    pools: dict[str, Sequence[str | float]] = {**dict.fromkeys("abc", strs), **dict.fromkeys("xyz", dbls)}
    cols = {k: [None if rng.random() < 0.1 else rng.choice(p) for _ in range(n)] for k, p in pools.items()}
    arrow = {k: pa.array(v, pa.string() if k in "abc" else pa.float64()) for k, v in cols.items()}
    exprs = (("a", "b", "c", "x", "y", "z"), ("x", "a"), ("z", "y", "x", "c", "b", "a"))
    want = _duck(", ".join(f"hash({', '.join(e)})" for e in exprs), **arrow)
    got = []
    for i in range(n):
        row = []
        for e in exprs:
            acc = _h(cols[e[0]][i])
            for name in e[1:]:
                acc = scan.hash_combine(acc, _h(cols[name][i]))
            row.append(acc)
        got.append(tuple(row))
    _assert_same(range(n), got, want)
