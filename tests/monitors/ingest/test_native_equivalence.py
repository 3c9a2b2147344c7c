"""The native scanner and the DuckDB hot path store exactly the same thing.

``IngestOptions(native=True)`` reads the common, clean lines with the native C scanner and hands
every line it is not sure about to the DuckDB path; ``native=False`` reads everything with DuckDB.
Each test here ingests the same bytes into two fresh stores, once per setting, and compares every
row of every table (metrics, user sketches, latency sketches, violations, property stats, violation
and reject samples, quarantine, series, checkpoints, ingest runs, hour/day rollups) plus the ingest
reports. The corpora mix ordinary messages with odd ones, so a file is partly native, partly
deferred. Without the scanner (not built, or ``EHM_NATIVE=0``) both settings run DuckDB, which
checks the harness itself; with it, these tests are its equivalence contract.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import storage.all_tables  # noqa: F401  (every table joins the metadata, so the dump covers them all)
from monitors.demo.generate import Generator
from monitors.ingest.leakage import LeakageConfig
from monitors.ingest.pipeline import IngestOptions, IngestReport, ingest
from monitors.plan import Plan, load_plan, parse_plan
from monitors.sketch import HLL, LatencySketch
from storage import Store
from storage.tables import metadata, series
from tests.monitors.ingest.helpers import T0, snapshot, track

Line = dict[str, Any] | list[Any] | str | bytes
"""A line of a corpus: a JSON value (serialised compactly), or the raw text / bytes of the line."""

ITEMS = [{"product_id": "p1", "quantity": 1, "price": 9.5}]
T_SENT = "2026-11-02T10:00:01.500+00:00"
T_RECV = "2026-11-02T10:00:02.250+00:00"
EPOCH = 1793613600  # T0 in epoch seconds
SURROGATE_IDS = {"series", "quarantine", "ingest_runs"}
"""Tables with an autoincrement ``id``: compared in id order without the id itself."""


# --------------------------------------------------------------------------- the harness


def _blob(column: str, value: bytes) -> str:
    """A stored sketch as a readable, still exact, token (its digest decides equality)."""
    digest = hashlib.sha1(value).hexdigest()[:16]
    if column.endswith("_hll"):
        return f"<hll est={HLL.decode(value).estimate():.4f} sha1={digest}>"
    if column == "bins":
        return f"<latency {sorted(LatencySketch.decode(value).bins.items())} sha1={digest}>"
    return f"<{len(value)} bytes sha1={digest}>"


def dump(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table; series ids replaced by the series key, surrogate ids dropped
    (those tables keep their id order), other tables sorted."""
    out: dict[str, list[dict[str, Any]]] = {}
    with store.engine.connect() as conn:
        names = {r.id: f"{r.source}|{r.environment}|{r.event}|{r.msg_type}" for r in conn.execute(select(series))}
        for table in metadata.sorted_tables:
            query = select(table)
            if table.name in SURROGATE_IDS:
                query = query.order_by(table.c.id)
            rows = []
            for r in conn.execute(query):
                d = dict(r._mapping)
                if table.name in SURROGATE_IDS:
                    d.pop("id")
                if "series_id" in d:
                    d["series_id"] = names.get(d["series_id"], d["series_id"])
                rows.append({k: _blob(k, bytes(v)) if isinstance(v, bytes | memoryview) else v for k, v in d.items()})
            out[table.name] = rows if table.name in SURROGATE_IDS else sorted(rows, key=repr)
    return out


def _report_rows(report: IngestReport) -> list[tuple[Any, ...]]:
    """What an ingest report says per file, except which reader ran."""
    return [(f.path, f.status, f.bytes, f.events, f.rejected, f.error) for f in report.files]


def _diff(name: str, a: list[Any], b: list[Any], limit: int = 12) -> str:
    ca, cb = Counter(map(repr, a)), Counter(map(repr, b))
    only_a, only_b = list((ca - cb).elements()), list((cb - ca).elements())
    lines = [f"== {name}: {len(a)} rows with native=False, {len(b)} with native=True"]
    if not only_a and not only_b:
        at = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
        lines.append(f"   same rows, different order (first difference at row {at}):\n     False: {a[at]!r}\n     True:  {b[at]!r}")
    for label, rows in (("only with native=False", only_a), ("only with native=True", only_b)):
        if rows:
            lines.append(f"   {label} ({len(rows)}):")
            lines.extend(f"     {r[:600]}" for r in sorted(rows)[:limit])
            if len(rows) > limit:
                lines.append(f"     … {len(rows) - limit} more")
    return "\n".join(lines)


def assert_same(duck: Store, native: Store, reports: tuple[IngestReport, IngestReport] | None = None,
                *, samples: bool = True) -> None:  # fmt: skip
    """Both stores hold exactly the same rows (a table-by-table diff otherwise).

    Violation samples are compared when DuckDB read every file with its exact reader: its fast
    reader renders samples from typed columns (main fields, properties, traits: two raw lines can
    render alike), while the exact reader and the native scanner keep the raw line. The
    ``poisoned`` variants make DuckDB read exactly, so every corpus has its samples compared.
    ``samples=False``: DuckDB's fast reader wrote some of the stored samples."""
    da, db = dump(duck), dump(native)
    if not samples:
        da.pop("violation_samples", None)
        db.pop("violation_samples", None)
    problems = [_diff(name, da.get(name, []), db.get(name, [])) for name in sorted(set(da) | set(db))
                if da.get(name, []) != db.get(name, [])]  # fmt: skip
    if reports is not None and _report_rows(reports[0]) != _report_rows(reports[1]):
        problems.append(_diff("ingest report (path, status, bytes, events, rejected, error)",
                              _report_rows(reports[0]), _report_rows(reports[1])))  # fmt: skip
    assert not problems, "the native and the DuckDB ingest differ:\n" + "\n".join(problems)
    assert snapshot(duck) == snapshot(native)


class Pair:
    """Two fresh SQLite stores fed the same files: ``native=False`` and ``native=True``, with the
    same clock per run (so run times, sample times and the "now" of timestamp checks agree)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.now = datetime.now(UTC)
        self.stores: dict[bool, Store] = {}
        self.duck_fast = False  # DuckDB's fast reader wrote samples (rendered, not raw lines)
        for native in (False, True):
            st = Store.from_url(f"sqlite:///{tmp / ('native' if native else 'duckdb')}.sqlite")
            st.migrate()
            self.stores[native] = st

    def ingest(self, *paths: Path, plan: Plan | None = None, check: bool = True, **opts: Any) -> dict[bool, IngestReport]:
        """Ingest ``paths`` into both stores; then (``check``) compare them."""
        opts.setdefault("final_line_grace", 0.0)
        self.now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)  # after every file's mtime
        reports = {}
        for native, st in self.stores.items():
            options = IngestOptions(source="web", environment="production", plan=plan or default_plan(), native=native,
                                    clock=lambda: self.now, **opts)  # fmt: skip
            reports[native] = ingest(st, [str(p) for p in paths], options)
        self.duck_fast = self.duck_fast or any(f.reader.startswith("fast") for f in reports[False].files)
        if check:
            assert_same(self.stores[False], self.stores[True], (reports[False], reports[True]), samples=not self.duck_fast)
        return reports

    def close(self) -> None:
        for st in self.stores.values():
            st.dispose()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    p = Pair(tmp_path)
    try:
        yield p
    finally:
        p.close()


@cache
def default_plan() -> Plan:
    return load_plan()


# --------------------------------------------------------------------------- writing corpora


def encode(line: Line) -> bytes:
    """The bytes of one line (without its line end)."""
    if isinstance(line, bytes):
        return line
    if isinstance(line, str):
        return line.encode()
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()


def write(path: Path, lines: list[Line], *, mode: str = "w", final_newline: bool = True, compress: bool = False) -> Path:
    """Write a corpus, one line per entry (a line may carry its own ``\\r`` or other line ends)."""
    data = b"\n".join(encode(x) for x in lines) + (b"\n" if final_newline and lines else b"")
    if compress:
        with gzip.open(path, mode + "b") as fh:
            fh.write(data)
    else:
        with open(path, mode + "b") as fh:
            fh.write(data)
    return path


@cache
def _demo_messages(seed: int) -> tuple[str, ...]:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    gen = Generator(start, start + timedelta(days=2), sessions_per_hour=250, seed=seed)
    return tuple(json.dumps(m, separators=(",", ":")) for m in islice(gen.messages(), 4000))


def ordinary(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """``n`` realistic D2C messages (fresh copies: identify, the funnel, three timestamps, context)."""
    return [json.loads(s) for s in _demo_messages(seed)[:n]]


def mixed(specials: list[Line], *, seed: int = 11, every: int = 3) -> list[Line]:
    """``specials`` spread among ordinary messages (``every`` ordinary ones between two specials)."""
    base = ordinary(len(specials) * every + every, seed)
    out: list[Line] = []
    for i, line in enumerate(specials):
        out.extend(base[i * every : (i + 1) * every])
        out.append(line)
    out.extend(base[len(specials) * every :])
    return out


def msg(kind: str = "track", *, ts: Any = T0, **fields: Any) -> dict[str, Any]:
    """A Segment message of any type with its three timestamps."""
    digest = hashlib.sha1(json.dumps([kind, ts, fields], sort_keys=True, default=str).encode()).hexdigest()[:8]
    out: dict[str, Any] = {"type": kind, "messageId": f"m-{kind}-{digest}",
                           "userId": "u1", "anonymousId": "a1", "timestamp": ts, "sentAt": T_SENT, "receivedAt": T_RECV}  # fmt: skip
    out.update(fields)
    return out


def cart(**props: Any) -> dict[str, Any]:
    """Conforming Added to Cart properties, overridden by ``props`` (``None`` values kept; ``...`` drops)."""
    out: dict[str, Any] = {"cart_id": "c1", "items": copy.deepcopy(ITEMS), "cart_value": 9.5, "currency": "USD"}
    for k, v in props.items():
        if v is ...:
            out.pop(k, None)
        else:
            out[k] = v
    return out


EVERY_TYPE: dict[str, Any] = {
    "str": "x", "empty_str": "", "int": 42, "neg": -7, "zero": 0, "float": 3.25, "big_float": 1.5e300, "tiny": 5e-324,
    "true": True, "false": False, "null": None, "arr": [1, "a", None, [2], {"k": 1}], "empty_arr": [],
    "obj": {"a": {"b": {"c": [{"d": 1}]}}}, "empty_obj": {}, "u64": 2**63 + 5, "i64_min": -(2**63),
}  # fmt: skip


# --------------------------------------------------------------------------- corpora


def segment_messages() -> list[Line]:
    """Every Segment type; properties and traits of every JSON type; items, ids and entity ids."""
    out: list[Line] = [
        msg(event="Added to Cart", properties=cart()),
        msg(event="Added to Cart", properties=cart(**EVERY_TYPE)),  # unplanned keys of every type
        msg(event="Added to Cart", properties=cart(nested={"deep": {"er": {"est": [1, {"x": None}]}}})),
    ]
    for key in ("cart_id", "cart_value", "items", "currency"):
        out += [msg(event="Added to Cart", properties=cart(**{key: v})) for v in EVERY_TYPE.values()]
        out.append(msg(event="Added to Cart", properties=cart(**{key: ...})))
    for items in ([], [{}], [{"product_id": "p"}], [{"product_id": 1, "quantity": "1", "price": "9"}],
                  [{"product_id": "p", "quantity": 1.5, "price": None}], [{"product_id": "p", "quantity": 1e2, "price": True}],
                  [{"product_id": "p", "quantity": 2**64, "price": 1}], [{"product_id": "p", "quantity": -3, "price": -0.0}],
                  ["sku_1", 1, None, [], True], [ITEMS[0], "x"], [ITEMS[0], {"quantity": 1}], ITEMS * 40,
                  [{**ITEMS[0], "variant_id": 5, "extra": {"n": 1}}], [{"product_id": None, "quantity": None, "price": None}],
                  {"0": ITEMS[0]}, "[]", None):  # fmt: skip
        out.append(msg(event="Added to Cart", properties=cart(items=items)))
        out.append(msg(event="Order Completed", properties={"order_id": "o1", "items": items, "revenue": 3}))
    out += [
        msg(event="Order Completed", properties={"items": ITEMS, "revenue": 3}),  # no order_id
        msg(event="Order Completed", properties={"order_id": None, "items": ITEMS, "revenue": "3"}),
        msg(event="Order Completed", properties={"order_id": 77, "items": ITEMS, "revenue": 3, "discount_code": 10}),
        msg(event="Checkout Started", properties={"items": ITEMS, "cart_value": 1}),  # no cart_id, checkout_id
        msg(event="Product Viewed", properties={"product_id": "p", "variant_id": "v", "category": None, "price": "12"}),
        msg(event="Product Viewed", properties={"product_id": "p", "variant_id": "v", "category": "c", "price": 12}),
        msg(event="Coupon Applied", properties={"code": "X", **EVERY_TYPE}),
        msg(event="added to cart", properties=cart()),
        msg(event="Added to Cart ", properties=cart()),
        msg(event="Added to Cart", properties=None),
        msg(event="Added to Cart", properties=[1, 2]),
        msg(event="Added to Cart", properties="cart_id=c1"),
        msg(event="Added to Cart", properties=5),
        msg(event="Added to Cart"),
        msg(event="Added to Cart", properties={}),
        msg("identify", traits={"email": "a@b.co", "accepts_sms": True, "first_order_date": 20261102, "lifetime_value": 1}),
        msg("identify", traits={"email": 5, "accepts_sms": "yes", "created_at": 1.5, "first_order_date": 1.5,
                                "last_order_date": "2026-11-02", "lifetime_value": "1", "First_name": "A", **EVERY_TYPE}),
        msg("identify", traits=None),
        msg("identify", traits=[{"email": "x"}]),
        msg("identify", properties={"email": "in properties"}),
        msg("identify"),
        msg("page", name="Home", properties={"url": "https://shop.example-brand.com/", "title": "Home", "n": 1}),
        msg("page", properties=None),
        msg("screen", name="Cart", properties={"items": ["x"]}),
        msg("group", groupId="g1", traits={"name": "Acme", "employees": 12}),
        msg("group", groupId="g1", traits="acme"),
        msg("alias", previousId="a1", userId="u1"),
        msg("alias", previousId="a1", userId=None, anonymousId=None),
    ]
    ids: list[dict[str, Any]] = [
        {"userId": "Jane.Doe@Example.COM"}, {"userId": "a@b"}, {"userId": "a@b.co"}, {"userId": " x@y.zz "},
        {"userId": "jane@example.com", "anonymousId": None}, {"userId": 12345}, {"userId": 12345.0}, {"userId": 1.50},
        {"userId": -1}, {"userId": 1e3}, {"userId": 1e-7}, {"userId": 2**64 + 1}, {"userId": True}, {"userId": {"id": 1}},
        {"userId": [1]}, {"userId": ""}, {"userId": None}, {"userId": None, "anonymousId": None},
        {"userId": None, "anonymousId": ""}, {"userId": "", "anonymousId": ""}, {"userId": None, "anonymousId": 987},
        {"messageId": 42}, {"messageId": 4.2e1}, {"messageId": None}, {"messageId": None, "id": "id-only"},
        {"messageId": None, "id": 7}, {"messageId": "", "userId": ""}, {"messageId": {"x": 1}},
    ]  # fmt: skip
    for i, over in enumerate(ids):
        m = msg(event="Added to Cart", properties=cart(cart_id=f"c{i}"))
        m.update(over)
        out.append(m)
        ident = msg("identify", traits={"email": "a@b.co"})
        ident.update(over)
        out.append(ident)
    for over in ({"userId": None}, {"anonymousId": None}, {"userId": None, "anonymousId": None}):
        out.append({k: v for k, v in msg(event="Added to Cart", properties=cart()).items() if k not in over})
    resend = msg(event="Added to Cart", properties=cart(cart_id="resent"))
    return [*out, resend, resend]


def _ts_variants() -> list[Any]:
    zones = ["Z", "+00:00", "+05:30", "-08:00", "+0530", "+05", "z", ""]
    out: list[Any] = []
    for i, zone in enumerate(zones):
        for digits in range(10):
            frac = "" if digits == 0 else "." + "123456789"[:digits]
            sep = "T" if (i + digits) % 3 else " "
            out.append(f"2026-11-02{sep}10:0{digits}:0{i}{frac}{zone}")
    out += [
        "2026-11-02T10:04:59.9999999Z", "2026-11-02T10:04:59.999999Z", "2026-11-02T10:04:59.9999995+00:00",
        "2026-11-02T10:00:00.Z", "2026-11-02T10:00Z", "2026-11-02", "2026-11-02T24:00:00Z", "2026-11-02T10:00:00 UTC",
        "  2026-11-02T10:00:00Z  ", "2026-11-02T10:00:00.1234567890123Z", "2026-11-02T10:00:00+14:00",
        "2026-11-02T10:00:00-12:00", "2026-11-02T10:00:00+00:30", "2026-03-29T01:30:00+01:00",
        EPOCH, EPOCH + 0.25, EPOCH * 1000 + 123, float(EPOCH * 1000), str(EPOCH), str(EPOCH * 1000), f"{EPOCH}.75",
        100_000_000_000, 100_000_000_001, 99_999_999_999, 0, -1, 1e10, "1.7936136e9",
        "1990-06-01T00:00:00Z", "2200-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z", "2000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
    ]  # fmt: skip
    return out


def _is_iso(value: Any) -> bool:
    return isinstance(value, str) and not value.endswith("z") and not value.replace(".", "").strip().isdigit() and "e" not in value


def timestamps_iso() -> list[Line]:
    """The ISO 8601 spellings DuckDB's fast reader parses too (so DuckDB reads the file with it)."""
    return timestamps(iso_only=True)


def timestamps(*, iso_only: bool = False) -> list[Line]:
    """Every timestamp field in many valid spellings; impossible years; negative latencies; nulls."""
    out: list[Line] = []
    fields = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
    for i, value in enumerate(v for v in _ts_variants() if _is_iso(v) or not iso_only):
        field = fields[i % 4]
        m = msg(event="Added to Cart", properties=cart(cart_id=f"t{i}"))
        if field == "originalTimestamp":
            m.pop("timestamp")
        m[field] = value
        out.append(m)
        out.append(msg("identify", ts=value, traits={"email": f"ts{i}@b.co"}))
    out += [
        msg(event="Added to Cart", properties=cart(), ts="2026-11-02T10:00:10Z", sentAt="2026-11-02T10:00:05Z",
            receivedAt="2026-11-02T10:00:01Z"),  # both hops negative
        msg(event="Added to Cart", properties=cart(), ts="2026-11-02T10:00:10Z", receivedAt="2026-11-02T09:00:00Z", sentAt=None),
        msg(event="Added to Cart", properties=cart(), ts="2026-11-02T10:00:00.0004Z", sentAt="2026-11-02T10:00:00.0005Z",
            receivedAt="2026-11-02T10:00:00.0015Z"),  # sub-millisecond latencies
        msg(event="Added to Cart", properties=cart(), ts=None, originalTimestamp=T0),
        msg(event="Added to Cart", properties=cart(), ts=None, sentAt=None),
        msg(event="Added to Cart", properties=cart(), ts=None, sentAt=None, receivedAt=T_RECV, originalTimestamp=None),
        msg(event="Added to Cart", properties=cart(), ts="1990-06-01T00:00:00Z", sentAt=None, receivedAt=None),
        msg(event="Added to Cart", properties=cart(), ts="2200-01-01T00:00:00Z", sentAt=None),
        msg(event="Added to Cart", properties=cart(), ts="1990-06-01T00:00:00Z", originalTimestamp="2026-11-02T10:00:00Z"),
        msg(event="Added to Cart", properties=cart(), ts=T0, originalTimestamp="1990-06-01T00:00:00Z"),
    ]  # fmt: skip
    return out


# Raw lines with JSON escapes: the values they decode to are planned names, ids and leak signals.
_TAIL = f'"userId":"u1","timestamp":"{T0}","sentAt":"{T_SENT}","receivedAt":"{T_RECV}"'
_CART = '"properties":{"cart_id":"c1","items":[{"product_id":"p1","quantity":1,"price":9.5}],"cart_value":9.5}'


def _track(event_json: str, props: str = _CART, tail: str = _TAIL, **extra: str) -> str:
    more = "".join(f',"{k}":{v}' for k, v in extra.items())
    return f'{{"type":"track","event":{event_json},{props},{tail}{more}}}'


def escapes() -> list[Line]:
    """JSON escapes and raw UTF-8 in names, keys, values, ids and context; long names; duplicate keys."""
    names = [
        r'"Added to \u0043art"', r'"Added\u0020to Cart"', r'"Added to Cart\u0020"', r'"Order \"Completed\""',
        r'"back\\slash"', r'"new\nline"', r'"tab\tname"', r'"cr\rlf"', r'"caf\u00e9"', r'"caf\u00E9"', '"café"',
        r'"emoji \ud83d\ude00"', r'"emoji \uD83D\uDE00"', '"emoji 😀"', r'"\/slashed\/"', r'"nul\u0000byte"',
        r'"\u0001\u001f ctl"', r'"\u2028\u2029 separators"', '"' + "A" * 300 + '"', '"' + "é" * 300 + '"',
        '"' + "😀" * 300 + '"', '"' + "x" * 254 + '😀tail"', '"' + r"\u00e9" * 256 + '"', '"' + "x" * 254 + r'\ud83d\ude00"',
        '"' + "x" * 255 + '"', '"' + "x" * 256 + '"', '"日本語 イベント"', '"\u200b"',
        r'"cut \ud83d"', r'"cut \udc00 low"', r'"two \ud83d\ud83d highs"', r'"text \\ud83d"', '"' + "x" * 254 + r'\ud83d"',
    ]  # fmt: skip
    out: list[Line] = [_track(n) for n in names]
    props = [
        r'"properties":{"cart\u005fid":"c1","it\u0065ms":[{"product\u005fid":"p1","quantity":1,"price":9.5}],"cart_value":9.5}',
        r'"properties":{"cart_id":"c\"1\\","items":[{"product_id":"p\u00e91","quantity":1,"price":9.5}],"cart_value":9.5}',
        r'"properties":{"cart_id":"c1","items":[],"cart_value":9.5,"caf\u00e9":1,"café":2,"a\"b":3,"a/b":4,"a~b":5,"a.b":6,'
        r'"":7,"\ud83d\ude00":8,"new\nkey":9,"$weird key ":10}',
        '"properties":{"cart_id":"c1","items":[],"cart_value":9.5,"' + "k" * 300 + '":1,"' + "é" * 300 + '":2}',
        r'"properties":{"cart_id":"c1","cart_id":5,"items":[],"cart_value":9.5}',
        r'"properties":{"cart_id":5,"cart_id":"c1","items":[],"cart_value":9.5}',
        r'"properties":{"cart_id":"c1","items":[{"product_id":"p","product_id":1,"quantity":1,"price":1}],"cart_value":9.5}',
        r'"properties":{"cart_id":"c1","items":"x","items":[],"cart_value":9.5,"extra":1,"extra":"2"}',
        r'"properties":{"cart_id":"\ud83d\ude00","items":[{"product_id":"\u0000","quantity":1,"price":9.5}],"cart_value":9.5}',
        r'"properties":{"cart_id":"c\ud83d","items":[{"product_id":"p\udfff","quantity":1,"price":9.5}],"cart_value":9.5,"k\ud800":1}',
    ]  # fmt: skip
    out += [_track('"Added to Cart"', p) for p in props]
    ids = [r'"u\u0031"', r'"jane\u0040example.com"', r'"\u00e9l\u00e8ve"', '"élève"', r'"line\nbreak"', r'"\ud83d\ude00"',
           r'"qa\u005ftest_1"', r'"te\u0073t-user"', r'"u\ud83d"']  # fmt: skip
    for uid in ids:
        tail = _TAIL.replace('"userId":"u1"', f'"userId":{uid}') + f',"anonymousId":{uid}'
        out.append(_track('"Added to Cart"', tail=tail))
        out.append(f'{{"type":"identify","traits":{{"email":{uid}}},{tail}}}')
    contexts = [
        r'{"page":{"url":"https:\/\/staging.example-brand.com\/cart","referrer":"http:\/\/localhost:3000\/"}}',
        r'{"environment":"st\u0061ging","app":{"build":"DEBUG \u00e9","version":"1.0"}}',
        r'{"traits":{"email":"qa\u002btest@example.com"},"page":{"url":"https://shop.example-brand.com/\u00e9"}}',
        '{"page":{"url":"https://shop.example-brand.com/é/😀"},"ip":"203.0.113.9","locale":"fr-FR"}',
    ]
    out += [_track('"Added to Cart"', context=c) for c in contexts]
    out += [
        r'{"type":"tr\u0061ck","event":"Added to Cart",' + _CART + "," + _TAIL + "}",
        '{"properties":{"cart_id":"c1","items":[],"cart_value":1},"timestamp":"' + T0 + '","event":"Added to Cart","userId":"o","type":"track"}',
        '  \t{ "type" : "track" , "event" : "Added to Cart" , ' + _CART + " , " + _TAIL + " }  \t",
        _track('"Added to Cart"').replace(",", ", "),
    ]
    return out


def duplicate_keys() -> list[Line]:
    """Keys given twice at the top level and in ``context`` (DuckDB takes the first; its fast reader
    refuses a duplicated ``type``, ``event``, ``properties`` or timestamp), and an event name that is
    blank once unescaped."""
    return [
        _track('"Added to Cart"', context=r'{"environment":"production","environment":"staging"}'),
        _track('"Added to Cart"', context=r'{"page":{"url":"https://staging.x.com"},"page":{"url":"https://shop.example-brand.com"}}'),
        _track('"Added to Cart"', context=r'{"app":{"build":"1.0","build":"debug"},"app":{"version":"dev"}}'),
        r'{"type":"track","type":"identify","event":"Added to Cart",' + _CART + "," + _TAIL + "}",
        r'{"type":"identify","type":"track","event":"Added to Cart",' + _CART + "," + _TAIL + "}",
        r'{"type":"track","event":"Added to Cart","event":"Coupon Applied",' + _CART + "," + _TAIL + "}",
        r'{"type":"track","event":"Added to Cart",' + _CART + "," + _TAIL + ',"userId":null,"userId":"u9"}',
        r'{"type":"track","event":"Added to Cart",' + _CART + "," + _TAIL + ',"anonymousId":"x","anonymousId":"y"}',
        r'{"type":"track","event":"Added to Cart",' + _CART + ',"properties":null,' + _TAIL + "}",
        r'{"type":"track","event":"Added to Cart",' + _CART + "," + _TAIL + ',"timestamp":"2026-11-02T11:00:00Z"}',
        r'{"type":"track","event":"Added to Cart",' + _CART + "," + _TAIL + ',"timestamp":"soon"}',
        r'{"type":"track","event":"Added to Cart",' + _CART + "," + _TAIL + ',"messageId":"a","messageId":"b"}',
        _track(r'"\u0020\u0020"'),
    ]


def leaks() -> list[Line]:
    """Context and identity signals of test or staging data (default and custom patterns)."""
    contexts: list[Any] = [
        {"page": {"url": "http://localhost:3000/cart", "referrer": "https://www.google.com/"}},
        {"page": {"url": "https://staging.example-brand.com/p/1"}}, {"page": {"referrer": "http://127.0.0.1:8080/"}},
        {"page": {"url": "https://shop-preview.vercel.app/"}}, {"page": {"url": "https://abc.ngrok-free.app/x"}},
        {"page": {"url": "https://shop.local/x"}}, {"page": {"url": "HTTPS://STAGING.EXAMPLE.COM"}},
        {"app": {"build": "debug"}}, {"app": {"build": "1.2.3", "version": "2.0-SNAPSHOT"}},
        {"app": {"namespace": "com.shop.dev"}}, {"app": {"build": 5}}, {"environment": "staging"},
        {"environment": "Production"}, {"environment": "prod"}, {"env": "dev"}, {"environment": 5},
        {"environment": None, "env": "live"}, {"traits": {"email": "qa+1@example.com"}},
        {"traits": {"email": "someone@mailinator.com"}}, {"traits": {"email": "x@sub.test"}},
        {"traits": {"email": "buyer@gmail.com"}}, {"traits": {"email": "test.buyer@gmail.com"}}, {"traits": {"email": 7}},
        {"traits": {"email": "user_000042@example-shop.com"}}, {"traits": "x"}, {"page": "https://staging.x"},
        {"page": {"url": None}}, {"page": {"url": 42}}, {"page": {"url": {"href": "http://localhost"}}}, None, [], "ctx", 3,
        {"page": {"url": "https://shop.example-brand.com/"}, "app": {"build": "1.0"}, "environment": "production"},
    ]  # fmt: skip
    out: list[Line] = []
    for i, ctx in enumerate(contexts):
        out.append(msg(event="Added to Cart", properties=cart(cart_id=f"l{i}"), context=ctx))
        out.append(msg("page", name="P", properties={"url": "x"}, context=ctx, userId=f"user_{i:06d}"))
    for uid, anon in (("test_123", None), ("qa-9", "a"), ("demo", None), ("Testing", None), ("user_000042", None),
                      (None, "qa-anon-1"), ("qa@corp.io", None), ("user_000123", "x"), ("jane@example.com", None)):  # fmt: skip
        out.append(msg(event="Added to Cart", properties=cart(), userId=uid, anonymousId=anon))
    for email in ("qa@corp.io", "qa+test@example.com", "real@gmail.com", "fake.user@yopmail.com", None, 5):
        out.append(msg("identify", traits={"email": email}))
    return out


CUSTOM_LEAKAGE = LeakageConfig(
    test_email_domains=["example-shop.com", "gmail.com"],
    test_email_local_pattern=r"^buyer$",
    test_domain_pattern=r"^sub\.",
    test_user_id_pattern=r"^user_0001",
    nonprod_host_pattern=r"^https://shop\.|vercel",
    dev_build_pattern=r"^1\.",
    production_environments=["prod"],
    qa_identities=["user_000042", "qa-anon-1", "qa@corp.io", "u1"],
)


def filler(n: int) -> str:
    """``n`` characters of words (a long run of word characters makes redaction quadratic: see the report)."""
    return ("lorem ipsum dolor sit amet " * (n // 27 + 1))[:n]


def large() -> list[Line]:
    """Messages near and over the 32 KB payload limit, by properties or by context alone."""
    out: list[Line] = []
    for size in (27_000, 28_000, 29_000, 31_500, 33_000, 40_000, 70_000):
        out.append(msg(event="Added to Cart", properties=cart(note=filler(size))))
        out.append(msg(event="Added to Cart", properties=cart(), context={"blob": filler(size)}))
        out.append(msg(event="Added to Cart", properties=cart(note=filler(size // 2)), context={"blob": filler(size // 2)}))
        out.append(msg("identify", traits={"email": "a@b.co", "bio": filler(size)}))
        out.append(msg(event="Added to Cart", properties=cart(items=[ITEMS[0]] * (size // 50))))
    return out


def batches() -> list[Line]:
    """Pipelines batch bodies and Track API v2 batch bodies, with good and bad members."""
    v2 = [
        {"type": "person", "identifiers": {"id": "u3"}, "action": "event", "name": "Order Completed", "timestamp": EPOCH,
         "attributes": {"order_id": "o1", "items": ITEMS, "revenue": 3}},
        {"type": "person", "identifiers": {"email": "jane@example.com"}, "action": "event", "name": "Added to Cart",
         "timestamp": EPOCH * 1000, "attributes": {"items": ITEMS, "cart_value": 1, "anonymous_id": "anon-v2"}},
        {"type": "person", "identifiers": {"cio_id": "cio1"}, "action": "identify", "timestamp": T0, "attributes": {"email": "a@b.co"}},
        {"type": "person", "identifiers": {"phone": "+14155550100"}, "action": "page", "name": "/home", "timestamp": EPOCH},
        {"type": "person", "identifiers": {"id": 5}, "action": "screen", "name": "Cart", "timestamp": str(EPOCH)},
        {"type": "person", "identifiers": {"id": "u4"}, "action": "delete", "timestamp": EPOCH},
        {"type": "object", "identifiers": {"object_id": "o"}, "action": "identify", "timestamp": EPOCH},
        {"type": "person", "identifiers": {"id": "u5"}, "action": "event", "timestamp": EPOCH},  # no name
        {"type": "person", "identifiers": {"id": "u5"}, "action": "event", "name": "X", "timestamp": "soon"},
        {"type": "person", "identifiers": {}, "action": "event", "name": "Added to Cart", "timestamp": EPOCH, "attributes": []},
        {"type": "person", "identifiers": {"id": "u6"}, "action": "event", "name": "Coupon Applied", "timestamp": EPOCH + 0.5,
         "attributes": {"code": "X", "nested": {"a": [1]}}},
    ]  # fmt: skip
    pipelines = {
        "batch": [
            {**track("Product Viewed", product_id="p1", variant_id="v1", category="skin", price=12.5), "sentAt": None},
            {**track(cart_id="b1", items=ITEMS, cart_value=1), "sentAt": "2026-11-02T10:00:00.900Z"},
            {"type": "identify", "userId": "u2", "traits": {"email": "a@b.co"}, "timestamp": T0, "messageId": "i1"},
            {"type": "track", "userId": "u2", "timestamp": T0},  # no event
            {"type": "track", "event": "X", "userId": "u2", "timestamp": "soon"},
            {"type": "purchase", "event": "X", "timestamp": T0},
            42, "x", None, [], {"type": "page", "name": "P", "anonymousId": "a9", "timestamp": T0,
                                "context": {"page": {"url": "http://localhost/"}}},
        ],
        "sentAt": "2026-11-02T10:00:02.000+00:00",
        "context": {"library": {"name": "analytics-python", "version": "1.1.0"}, "page": {"url": "https://staging.x.com/"},
                    "environment": "staging"},
    }  # fmt: skip
    return [
        pipelines,
        {"batch": v2},
        {"batch": [track(user="only")]},
        {"batch": []},
        {"batch": [track(user="t1"), track(user="t2")], "sentAt": EPOCH + 3},
        {"batch": [track(user="t3")], "sentAt": "not a time"},
        {"batch": [{"batch": [track(user="inner")]}]},
        {"type": "track", "event": "Added to Cart", "timestamp": T0, "batch": [track(user="both")]},
        '{"batch":[' + json.dumps(track(user="d1")) + '],"batch":null}',
        '{"batch":null,"batch":[' + json.dumps(track(user="d2")) + "]}",
        v2[0],  # a single Track v2 message, not in a batch
        {"batch": "not-a-list"},
        {"batch": {"0": track()}},
        {"batch": 5},
        {"batch": None, "type": "track", "event": "Added to Cart", "timestamp": T0, "userId": "bn"},
        '{"batch": [' + json.dumps(track(user="ws")) + "] }  ",
    ]


def rejects() -> list[Line]:
    """Everything that is rejected, and the lines at the edge of being rejected."""
    ok = json.dumps(msg(event="Added to Cart", properties=cart()), separators=(",", ":"))
    head = '{"type":"track","event":"Deep","userId":"d","timestamp":"' + T0 + '","properties":'
    # Nesting around the scanner's depth limit (64), deep, and too deep for Python's json (3000).
    # Not 450-990 levels of objects: json.loads decodes them and redacting the sample overflows the stack.
    deep = [head + '{"d":' + "[" * n + "]" * n + "}}" for n in (62, 63, 64, 65, 200, 3000)]
    deep += [head + '{"a":' * n + "1" + "}" * n + "}" for n in (62, 63, 64, 65, 200)]
    return [
        "not json at all", ok[:40], ok[:-1], "{", "}", "[1, 2, 3]", "[]", "42", "-1.5", '"a string"', "null", "true",
        "{}", '{"hello": "world"}', '{"type": null}', '{"type": 5}', '{"type": "Track", "event": "x", "timestamp": "' + T0 + '"}',
        '{"type": "track ", "event": "x", "timestamp": "' + T0 + '"}',
        msg(event=None), msg(event=""), msg(event="   "), msg(event="\t"), msg(event="\u3000"), msg(event=42), msg(event=True),
        msg(event={"name": "x"}), msg(event=-1.5), msg(event=["x"]), msg(event="42"), msg(event="[x] y"), msg(event="-"), msg(),
        msg(event="x", ts="yesterday"), msg(event="x", sentAt="soon"), msg(event="x", receivedAt="2026-13-01T00:00:00Z"),
        msg(event="x", ts="2026-02-30T00:00:00Z"), msg(event="x", ts="2026-11-02T10:00:60Z"), msg(event="x", ts="2026-11-02t10:00:00z"),
        msg(event="x", ts="2026-11-02T10Z"), msg(event="x", ts="2026-11-02T10:00:00 America/New_York"), msg(event="x", ts=""),
        msg(event="x", ts=True), msg(event="x", ts={"iso": T0}), msg(event="x", ts=[T0]), msg(event="x", ts="NaN"),
        msg(event="x", ts="inf"), ok.replace(f'"timestamp":"{T0}"', '"timestamp":Infinity'),
        msg(event="x", ts=None, sentAt=None, receivedAt=None), {"type": "track", "event": "x"},
        "", "   ", "\t", " \t ", "\r", ok + "\r", ok + " \r", "  " + ok + "  ", "\t" + ok,
        ok + " x", ok + "{}", ok + ok, ok + ",", ok[:-1] + ",}", ok.replace('"type"', "'type'", 1), ok.replace('"type"', "type", 1),
        ok + " // comment", "/* c */" + ok, ok.replace('"cart_value":9.5', '"cart_value":NaN'),
        ok.replace('"cart_value":9.5', '"cart_value":Infinity'), ok.replace('"cart_value":9.5', '"cart_value":-Infinity'),
        ok.replace('"cart_value":9.5', '"cart_value":nan'), ok.replace('"cart_value":9.5', '"cart_value":01'),
        ok.replace('"cart_value":9.5', '"cart_value":.5'), ok.replace('"cart_value":9.5', '"cart_value":0x10'),
        ok.replace('"cart_value":9.5', '"cart_value":1e400'), ok.replace('"cart_value":9.5', '"cart_value":-1e400'),
        ok.replace('"cart_value":9.5', '"cart_value":18446744073709551616'),
        ok.replace('"cart_value":9.5', '"cart_value":-9223372036854775809'),
        ok.replace('"cart_value":9.5', '"cart_value":123456789012345678901234567890'),
        ok.replace('"quantity":1', '"quantity":18446744073709551616'), ok.replace('"quantity":1', '"quantity":1e400'),
        ok.replace('"quantity":1', '"quantity":1E+2'), ok.replace('"quantity":1', '"quantity":-0'),
        ok.replace('"userId":"u1"', '"userId":18446744073709551616'), ok.replace('"userId":"u1"', '"userId":1e400'),
        ok.replace('"userId":"u1"', '"userId":NaN'), ok.replace('"cart_id":"c1"', '"cart_id":"c\\x41"'),
        ok.replace('"cart_id":"c1"', '"cart_id":"c\\u12"'), ok.replace('"cart_id":"c1"', '"cart_id":"c\ty"'),
        ok.replace('"cart_id":"c1"', '"cart_id":"c\x01y"'), ok.replace('"cart_id":"c1"', '"cart_id":"c\x7fy"'),
        ok.replace('"cart_id":"c1"', '"cart_id":"c1",'), ok.replace("}", "}}", 1),
        ok.encode().replace(b'"c1"', b'"c\xff\xfe"'), ok.encode().replace(b'"c1"', b'"c\xc0\xaf"'),
        ok.encode().replace(b'"c1"', b'"c\xed\xa0\x80"'), ok.encode().replace(b'"c1"', b'"c\xf4\x90\x80\x80"'),
        ok.encode().replace(b'"c1"', b'"c\xe2\x82"'), ok.encode().replace(b'"u1"', b'"u\x80"'),
        ok.encode().replace(b'"cart_id"', b'"cart\xffid"'), ok.encode().replace(b'"Added', b'"\xe9Added'),
        b"\xef\xbb\xbf" + ok.encode(), ok.encode().replace(b'"c1"', b'"c\x00"'), b"\x00", b"\xff",
        '{"type":"track","event":"Added to Cart","timestamp":"' + T0 + '","properties":{"cart_id":"c1"',
        *deep, "[" * 5000, '{"a":' * 5000,
        msg(event="Added to Cart", properties=cart(note=filler(40_000))),
        ok.replace('"cart_value":9.5', '"cart_value":9.5,"pad":"' + filler(70_000) + '"') + " trailing",
        "garbage " + filler(70_000),
    ]  # fmt: skip


def json_schema_plan() -> Plan:
    """A plan given as JSON Schema per event (Segment Protocols wrapper and plain), plus a wide event
    (more than 21 planned properties: two packed type-code columns) and an identify schema."""
    return parse_plan({
        "name": "schemas",
        "events": {
            "Added to Cart": {"entity_id": "cart_id", "json_schema": {
                "type": "object",
                "properties": {"properties": {"type": "object", "required": ["cart_id", "items"], "properties": {
                    "cart_id": {"type": "string"}, "cart_value": {"type": ["number", "null"]},
                    "items": {"type": "array", "items": {"type": "object", "required": ["product_id"], "properties": {
                        "product_id": {"type": "string"}, "quantity": {"type": "integer"}, "price": {"type": "number"}}}}}}},
            }},
            "Order Completed": {"json_schema": {"type": "object", "required": ["order_id"], "properties": {
                "order_id": {"type": ["string", "integer"]}, "revenue": {"type": "number"}, "items": {"type": "array"}}}},
            "Signed Up": {"json_schema": {"type": "object", "properties": {"properties": {
                "type": "object", "required": ["plan"],
                "properties": {"plan": {"type": "string"}, "seats": {"type": ["integer", "null"]}}}}}},
            "Wide Event": {"optional": {f"p{i:02d}": ("string", "integer", "number", "boolean", "array", "object")[i % 6]
                                        for i in range(25)}, "required": {"p25": "string|integer"}},
        },
        "identify": {"json_schema": {"type": "object", "required": ["email"], "properties": {
            "email": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array"}}}},
    })  # fmt: skip


def plan_events() -> list[Line]:
    """Messages of the events of :func:`json_schema_plan` (unplanned events under the default plan)."""
    values = list(EVERY_TYPE.values())
    out: list[Line] = [
        msg(event="Signed Up", properties={"plan": "pro", "seats": 3}),
        msg(event="Signed Up", properties={"seats": "3"}),
        msg(event="Signed Up", properties={"plan": None, "seats": None}),
        msg("identify", traits={"email": "a@b.co", "age": 3, "tags": []}),
        msg("identify", traits={"age": "3"}),
    ]
    for i in range(30):
        props = {f"p{k:02d}": values[(i + k) % len(values)] for k in range(26) if (i * 7 + k) % 5}
        out.append(msg(event="Wide Event", properties=props))
    return out


# Number spellings around "whole" (an integer, as in JSON Schema): texts the double reading rounds,
# overflows or keeps, in planned integer and number properties, item fields and unplanned keys.
WHOLE_SPELLINGS = (
    "1", "1.0", "25.00", "-0.0", "0.0", "0e5", "1e2", "1E+2", "1.5e1", "150e-1", "155e-1", "1.55e1", "10.50", "29.99",
    "100.0", "1e-5", "0.50", "1.00000000000000000001", "0.99999999999999999999", "9007199254740993.5",
    "12345678901234567.5", "1e308", "1.0e308", "1e400", "1.0e999", "-1e400", "4.9e-324", "1" + "0" * 17 + ".0",
    "0." + "0" * 30 + "1", "3." + "0" * 380, "3." + "0" * 420,
)


def whole_numbers() -> list[Line]:
    """Each spelling as a planned integer trait, a number property, an item quantity and an unplanned key."""
    out: list[Line] = []
    for v in WHOLE_SPELLINGS:
        items = f'[{{"product_id":"p1","quantity":{v},"price":{v}}}]'
        props = f'"properties":{{"cart_id":"c1","items":{items},"cart_value":{v},"extra_n":{v}}}'
        out.append(_track('"Added to Cart"', props))
        out.append(f'{{"type":"identify","userId":"u1","traits":{{"created_at":{v},"lifetime_value":{v},"n":{v}}},'
                   f'"timestamp":"{T0}"}}')  # fmt: skip
    return out


CORPORA: dict[str, Callable[[], list[Line]]] = {
    "whole_numbers": whole_numbers,
    "segment_messages": segment_messages,
    "timestamps": timestamps,
    "timestamps_iso": timestamps_iso,
    "escapes": escapes,
    "duplicate_keys": duplicate_keys,
    "leaks": leaks,
    "large": large,
    "batches": batches,
    "plan_events": plan_events,
}
POISON = "this line is not JSON: DuckDB reads the whole file with its exact reader"


# --------------------------------------------------------------------------- the randomised corpus


def _wild_str(s: str, rnd: random.Random, escape_rate: float) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\' or o < 0x20:
            short = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}.get(ch)
            out.append(short if short and rnd.random() < 0.7 else f"\\u{o:04x}")
        elif escape_rate and rnd.random() < escape_rate:
            if o > 0xFFFF:
                hi, lo = 0xD800 + ((o - 0x10000) >> 10), 0xDC00 + ((o - 0x10000) & 0x3FF)
                out.append(f"\\u{hi:04x}\\u{lo:04x}" if rnd.random() < 0.5 else f"\\u{hi:04X}\\u{lo:04X}")
            elif ch == "/":
                out.append("\\/")
            else:
                out.append(f"\\u{o:04x}" if rnd.random() < 0.5 else f"\\u{o:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def wild_json(value: Any, rnd: random.Random, *, escape_rate: float = 0.0, spaces: bool = False, dup_rate: float = 0.0) -> str:
    """JSON text of ``value`` in one of its many valid spellings: escapes (``\\uXXXX`` in either case,
    surrogate pairs, ``\\/``), whitespace, number spellings (``1E+2``, ``-0``) and duplicated keys."""

    def ws() -> str:
        return rnd.choice(("", "", " ", "  ", "\t")) if spaces else ""

    def go(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v) if not spaces or rnd.random() > 0.05 else rnd.choice((f"{v}.0", f"{v}e0", f"{v}E+0"))
        if isinstance(v, float):
            return rnd.choice((repr(v), repr(v), f"{v:.17g}", f"{v:e}", f"{v:E}"))
        if isinstance(v, str):
            return _wild_str(v, rnd, escape_rate)
        if isinstance(v, list):
            return "[" + ws() + ("," + ws()).join(go(x) for x in v) + ws() + "]"
        parts = []
        for k, x in v.items():
            if dup_rate and rnd.random() < dup_rate:
                parts.append(f"{_wild_str(k, rnd, escape_rate)}{ws()}:{ws()}{go(rnd.choice((None, 1, 'dup', [])))}")
            parts.append(f"{_wild_str(k, rnd, escape_rate)}{ws()}:{ws()}{go(x)}")
        return "{" + ws() + ("," + ws()).join(parts) + ws() + "}"

    return go(value)


_ODD_STRINGS = ("", " ", "é", "😀", 'q"uote', "back\\slash", "new\nline", "tab\t", "\u0000", "\u2028", "x" * 300, "日本",
                "jane@example.com", "qa_test_1", "https://staging.example-brand.com/", "debug", "staging", "1793613600")  # fmt: skip
_TS_SPELLINGS = ("2026-11-02T10:00:00Z", "2026-11-02 10:00:00", "2026-11-02T15:30:00+05:30", "2026-11-02T02:00:00-08:00",
                 "2026-11-02T10:00:00.123456789Z", "2026-11-02T10:04:59.9999999Z", EPOCH, EPOCH * 1000 + 7, str(EPOCH),
                 "1990-01-01T00:00:00Z", "2200-01-01T00:00:00Z", None, "2026-11-02T10:00:00", "2026-11-02T10:00:00.1+00:00")  # fmt: skip
_BAD_TS = ("soon", "2026-02-30T00:00:00Z", "", "10:00", True, [1])


def _random_value(rnd: random.Random) -> Any:
    return rnd.choice((
        lambda: rnd.choice(_ODD_STRINGS), lambda: rnd.randint(-(2**63), 2**64 - 1), lambda: rnd.randint(-5, 5),
        lambda: rnd.uniform(-1e6, 1e6), lambda: rnd.choice((True, False)), lambda: None, lambda: [rnd.randint(0, 9), "x"],
        lambda: {"k": rnd.choice(_ODD_STRINGS)}, lambda: [], lambda: {}, lambda: rnd.choice((0.1, 1e300, 5e-324, -0.0, 2.0)),
    ))()  # fmt: skip


def _containers(m: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of a message a mutation may touch (the message, its properties / traits, context, an item)."""
    out = [m]
    for key in ("properties", "traits", "context"):
        if isinstance(m.get(key), dict):
            out.append(m[key])
    items = (m.get("properties") or {}).get("items") if isinstance(m.get("properties"), dict) else None
    if isinstance(items, list) and items and isinstance(items[0], dict):
        out.append(items[0])
    ctx = m.get("context")
    if isinstance(ctx, dict) and isinstance(ctx.get("page"), dict):
        out.append(ctx["page"])
    return out


def mutate(m: dict[str, Any], rnd: random.Random, *, hard: bool) -> None:
    """One realistic defect in a message: a key dropped, retyped or renamed, types swapped, odd ids,
    times or names, leak signals, broken items. ``hard`` also breaks types and timestamps."""
    target = rnd.choice(_containers(m))
    keys = [k for k in target if not (target is m and k in ("type",))]
    kind = rnd.randrange(13 if hard else 10)
    if kind == 0 and keys:
        target.pop(rnd.choice(keys))
    elif kind == 1 and keys:
        target[rnd.choice(keys)] = _random_value(rnd)
    elif kind == 2 and keys:
        k = rnd.choice(keys)
        new = rnd.choice((k.upper(), k.title().replace("_", ""), k + " ", "$" + k, k.replace("_", "."), k + "\u00e9"))
        target[new] = target.pop(k)
    elif kind == 3 and len(keys) >= 2:
        a, b = rnd.sample(keys, 2)
        target[a], target[b] = target[b], target[a]
    elif kind == 4:
        m[rnd.choice(("userId", "anonymousId", "messageId"))] = rnd.choice(
            (None, "", "jane.doe@example.com", 12345, 1.5, "test_user", "qa-anon-1", "user_000042", rnd.choice(_ODD_STRINGS)))
    elif kind == 5:
        m["event"] = rnd.choice(("order_completed", "Added to Cart ", "added to cart", "Coupon Applied", "x" * 300, "é" * 260,
                                 "Added to \u0043art", 'Q"uoted', "emoji 😀", "Wide Event", "Signed Up"))  # fmt: skip
    elif kind == 6:
        ctx = m.setdefault("context", {}) if isinstance(m.get("context"), dict) else m
        ctx.update(rnd.choice(({"environment": "staging"}, {"app": {"build": "debug"}}, {"page": {"url": "http://localhost:3000/"}},
                               {"traits": {"email": "qa+1@example.com"}}, {"env": "dev"}, {"page": "x"})))  # fmt: skip
    elif kind == 7:
        props = m.get("properties") if isinstance(m.get("properties"), dict) else None
        if props is not None:
            props["items"] = rnd.choice(([], ["sku"], [None], [{"quantity": "2"}], [{"product_id": 1, "price": "1"}],
                                         [{"product_id": "p", "quantity": 1.5, "price": 1}], {"a": 1}, "[]"))  # fmt: skip
    elif kind == 8:
        target[rnd.choice(("extra", "Extra", "nested", "", "é", "a/b", "a~b"))] = _random_value(rnd)
    elif kind == 9:
        for k in keys:
            if isinstance(target[k], str) and rnd.random() < 0.5:
                target[k] = target[k] + rnd.choice(('"', "\\", "\n", "é", "😀", "\u0000", "\t"))
    elif kind == 10:
        m["type"] = rnd.choice(("identify", "page", "screen", "group", "alias", "Track", "purchase", None, 5))
    elif kind == 11:
        m[rnd.choice(("timestamp", "originalTimestamp", "sentAt", "receivedAt"))] = rnd.choice(_TS_SPELLINGS)
    else:
        m[rnd.choice(("timestamp", "sentAt", "receivedAt"))] = rnd.choice(_BAD_TS)


def _to_v2(m: dict[str, Any]) -> dict[str, Any]:
    action = {"track": "event"}.get(str(m.get("type")), str(m.get("type")))
    return {"type": "person", "identifiers": {"id": m.get("userId")}, "action": action, "name": m.get("event"),
            "timestamp": EPOCH + len(str(m.get("messageId"))), "attributes": m.get("properties") or m.get("traits")}  # fmt: skip


def random_corpus(seed: int, n: int, *, hard: bool) -> list[bytes]:
    """``n`` lines of realistic messages, about a third with 1-3 defects, all in varied JSON
    spellings. ``hard`` adds type / timestamp defects and broken lines (truncated, trailing garbage,
    invalid UTF-8, blank, CRLF, BOM), and wraps some messages in batch bodies."""
    rnd = random.Random(seed)
    base = ordinary(n, seed)
    out: list[bytes] = []
    i = 0
    while i < len(base):
        m = base[i]
        i += 1
        if rnd.random() < 0.35:
            for _ in range(rnd.randint(1, 3)):
                mutate(m, rnd, hard=hard)
        if rnd.random() < 0.3:
            keys = list(m)
            rnd.shuffle(keys)
            m = {k: m[k] for k in keys}
        fancy = rnd.random() < 0.3
        text = wild_json(m, rnd, escape_rate=0.05 if fancy else 0.0, spaces=fancy and rnd.random() < 0.5,
                         dup_rate=0.02 if fancy and hard else 0.0)  # fmt: skip
        if hard and rnd.random() < 0.02:
            take = base[i : i + rnd.randint(0, 4)]
            i += len(take)
            body: dict[str, Any] = {"batch": [m, *take]}
            if rnd.random() < 0.5:
                body = {"batch": [_to_v2(x) for x in body["batch"]]}
            else:
                body["sentAt"] = rnd.choice(_TS_SPELLINGS)
                body["context"] = {"library": {"name": "analytics-node"}}
            text = wild_json(body, rnd)
        line = text.encode()
        if hard and rnd.random() < 0.04:
            fault = rnd.randrange(8)
            if fault == 0:
                line = line[: rnd.randrange(1, len(line))]
            elif fault == 1:
                line += rnd.choice((b" x", b"}", b",", b"{}", b" \t"))
            elif fault == 2:
                pos = rnd.randrange(len(line))
                line = line[:pos] + rnd.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80")) + line[pos:]
            elif fault == 3:
                line = rnd.choice((b"", b"  ", b"\t", b"\r"))
            elif fault == 4:
                line += b"\r"
            elif fault == 5:
                line = b"\xef\xbb\xbf" + line
            elif fault == 6:
                line = rnd.choice((b"[1]", b"null", b'"s"', b"42", b"{}"))
            else:
                line = line.replace(b":", b": NaN,", 1) if rnd.random() < 0.5 else line.replace(b"9", b"9e400", 1)
        out.append(line)
    return out


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("poison", [False, True], ids=["as_is", "poisoned"])
@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_corpus_mixed_with_ordinary_messages(pair: Pair, tmp_path: Path, corpus: str, poison: bool) -> None:
    """Each corpus spread among ordinary messages; ``poisoned`` adds one invalid line, which makes
    DuckDB read the whole file with its exact reader (as_is: its fast reader when it can)."""
    lines = mixed(CORPORA[corpus]())
    if poison:
        lines.insert(len(lines) // 2, POISON)
    path = write(tmp_path / f"{corpus}.jsonl", lines)
    reports = pair.ingest(path)
    assert reports[False].events > 0


@pytest.mark.parametrize("final_newline", [True, False], ids=["newline_at_end", "no_newline_at_end"])
def test_rejects_and_edge_lines(pair: Pair, tmp_path: Path, final_newline: bool) -> None:
    """Invalid JSON, truncated lines, non-objects, unknown types, missing names, bad timestamps,
    blank lines, CRLF, oversized and deep lines, trailing garbage, NaN / Infinity, huge numbers,
    invalid UTF-8 and BOMs — each between ordinary messages."""
    path = write(tmp_path / "rejects.jsonl", mixed(rejects(), every=2), final_newline=final_newline)
    reports = pair.ingest(path)
    assert reports[False].rejected > 50
    assert reports[False].bytes == path.stat().st_size  # the unterminated last line too
    crlf = write(tmp_path / "crlf.jsonl", [encode(x) + b"\r" for x in mixed(segment_messages()[:20], every=2)])
    pair.ingest(crlf)


def test_carriage_returns_anywhere_in_a_line(pair: Pair, tmp_path: Path) -> None:
    """CR before the line end (CRLF files), at the start, between tokens and inside strings: both
    readers see the same lines (a bare CR ends a line for DuckDB's reader)."""
    ok = json.dumps(msg(event="Added to Cart", properties=cart()), separators=(",", ":")).encode()
    lines: list[Line] = [ok + b"\r", b"\r" + ok, ok.replace(b',"event"', b',\r"event"'), ok.replace(b'"u1"', b'"u\r1"'),
                         ok.replace(b"{", b"{\r", 1) + b"\r", ok + b"\r\r", b"\r", b" \r "]  # fmt: skip
    reports = pair.ingest(write(tmp_path / "cr.jsonl", mixed(lines, every=2)))
    assert reports[True].events == reports[False].events > 0


def test_batch_bodies_split_one_message_per_line(pair: Pair, tmp_path: Path) -> None:
    """Pipelines bodies the native scanner splits into one line per message (spaces, non-objects,
    empty, with and without sentAt and context) and bodies it leaves whole (a key twice, an escaped
    key, a bad body): both readers store the same."""
    m = [msg(event="Added to Cart", properties=cart(), ts=T0), msg("identify", traits={"email": "a@b.co"}), 42, "x", None]
    el = ",".join(json.dumps(x, separators=(",", ":")) for x in m)
    ctx = '{"app":{"build":"dev-7"},"environment":"staging"}'
    lines: list[Line] = [
        f'{{"batch":[{el}],"sentAt":"2026-11-02T10:00:05.000Z","context":{ctx}}}',
        f'{{ "context" : {ctx} , "batch" : [ {el.replace(",", " , ")} ] }}',
        f'{{"batch":[{el}],"sentAt":"2026-11-02T10:00:05Z","sentAt":"2026-11-02T10:00:09Z"}}',
        f'{{"\\u0062atch":[{el}],"sentAt":"2026-11-02T10:00:05Z"}}',
        '{"batch":[]}', '{"batch":{"a":1}}', f'{{"batch":[{el}]}}\r', f'{{"batch":[{el}],"integrations":{{"All":false}}}}',
        f'{{"batch":[{{"batch":[{el}]}}],"sentAt":"2026-11-02T10:00:05Z"}}', f'{{"batch":[{el}]', f'{{"batch":[{el},]}}',
    ]  # fmt: skip
    reports = pair.ingest(write(tmp_path / "bodies.jsonl", mixed(lines, every=2)))
    assert reports[True].events == reports[False].events > 20
    assert reports[True].rejected == reports[False].rejected > 10


def test_lone_surrogate_escapes(pair: Pair, tmp_path: Path) -> None:
    """Escapes of lone UTF-16 surrogates (invalid JSON for DuckDB). Today a reject sample holding
    one makes the whole file fail to store (``UnicodeEncodeError``), with either reader."""
    ok = json.dumps(msg(event="Added to Cart", properties=cart()), separators=(",", ":"))
    lines = [ok.replace('"c1"', '"c\\ud800"'), ok.replace('"c1"', '"c\\udc00\\ud800"'), ok.replace('"u1"', '"\\udfff"'),
             ok.replace('"Added to Cart"', '"Added \\ud83d to Cart"')]
    pair.ingest(write(tmp_path / "surrogates.jsonl", mixed(lines)))


@pytest.mark.parametrize("leakage", [None, CUSTOM_LEAKAGE], ids=["default_leakage", "custom_leakage"])
def test_leak_signals_with_each_leakage_config(pair: Pair, tmp_path: Path, leakage: LeakageConfig | None) -> None:
    lines = mixed([*leaks(), *escapes()[-16:]], every=2)
    pair.ingest(write(tmp_path / "leaks.jsonl", lines), leakage=leakage)


@pytest.mark.parametrize("poison", [False, True], ids=["as_is", "poisoned"])
def test_plan_given_as_json_schema(pair: Pair, tmp_path: Path, poison: bool) -> None:
    lines = mixed([*plan_events(), *segment_messages()[::3], *escapes()[:12]], every=2)
    if poison:
        lines.append(POISON)
    pair.ingest(write(tmp_path / "schemas.jsonl", lines), plan=json_schema_plan())


def test_gzip_and_several_files_in_one_run(pair: Pair, tmp_path: Path) -> None:
    clean = write(tmp_path / "clean.jsonl.gz", mixed(timestamps()[:40]), compress=True)
    dirty = write(tmp_path / "dirty.jsonl.gz", mixed([*rejects()[:60], *batches()]), compress=True)
    plain = write(tmp_path / "plain.jsonl", mixed(escapes()))
    reports = pair.ingest(clean, dirty, plain)
    assert [f.status for f in reports[True].files] == ["read"] * 3


def test_truncated_gzip(pair: Pair, tmp_path: Path) -> None:
    whole = write(tmp_path / "whole.jsonl.gz", mixed(segment_messages()), compress=True).read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    pair.ingest(cut)


@pytest.mark.parametrize("order", ["clean_then_dirty", "dirty_then_clean"])
def test_file_read_in_increments(pair: Pair, tmp_path: Path, order: str) -> None:
    """Lines appended between runs (a partial last line waits for the next run): every
    intermediate state and the totals agree."""
    clean = ordinary(300, seed=5)
    dirty = mixed([*rejects()[:40], *escapes()[:20], *batches()[:6], *timestamps()[::9]], seed=6, every=2)
    first, second = (clean, dirty) if order == "clean_then_dirty" else (dirty, clean)
    path = write(tmp_path / "live.jsonl", first)
    pair.ingest(path)
    write(path, second[:-1], mode="a")
    with open(path, "ab") as fh:  # a writer mid-line: its tail has no newline yet
        fh.write(encode(second[-1])[:25])
    pair.ingest(path, final_line_grace=3600.0)
    with open(path, "ab") as fh:
        fh.write(encode(second[-1])[25:] + b"\n")
    write(path, mixed(segment_messages()[:30], seed=7), mode="a")
    pair.ingest(path, final_line_grace=3600.0)
    pair.ingest(path)  # nothing new: nothing changes


@pytest.mark.parametrize(
    ("seed", "lines", "hard", "sample_rate", "bucket_seconds"),
    [(1, 3000, True, 1.0, 300), (2, 3000, False, 1.0, 300), (3, 3000, True, 1.0, 60), (4, 1000, True, 0.25, 300)],
    ids=["hard", "soft", "hard_60s_buckets", "hard_sampled"],
)
def test_randomised_corpus(pair: Pair, tmp_path: Path, seed: int, lines: int, hard: bool, sample_rate: float,
                           bucket_seconds: int) -> None:  # fmt: skip
    """Realistic messages, a third of them mutated (keys dropped, retyped, renamed; types swapped;
    escapes injected; odd ids, names and timestamps; broken lines and batch bodies). With a sample
    rate below 1 the native scanner stands aside today (``native.usable``): then this checks that."""
    path = write(tmp_path / f"random{seed}.jsonl", random_corpus(seed, lines, hard=hard))
    reports = pair.ingest(path, sample_rate=sample_rate, bucket_seconds=bucket_seconds)
    assert reports[False].events > lines * 2 // 3


def test_native_reader_reads_a_clean_file(pair: Pair, tmp_path: Path) -> None:
    """Once the scanner is built, a clean file is read by it (and still stores the same)."""
    pytest.importorskip("monitors.ingest._scan")
    native = pytest.importorskip("monitors.ingest.native")
    if not native.usable(default_plan(), 1.0):
        pytest.skip("the native scanner is switched off (EHM_NATIVE=0)")
    reports = pair.ingest(write(tmp_path / "clean.jsonl", ordinary(500)))
    assert [f.reader for f in reports[True].files] == ["native"]
    assert [f.reader for f in reports[False].files] != ["native"]
