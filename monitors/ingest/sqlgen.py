"""The columnar hot path: DuckDB SQL that turns raw lines into a narrow numeric row per message.

Stage 1 reads an input with one of three *row sources* (:mod:`monitors.ingest.rows`) — all yield
the same normalised columns:

* ``fast``  — ``read_ndjson`` into typed columns (timestamps parsed by the reader). Used when the
  whole input is clean single messages; anything odd makes DuckDB raise or marks a row
  ``suspect``, and the input is read again with the exact source.
* ``exact`` — ``read_csv`` of raw lines (invalid UTF-8 captured in a rejects table), each parsed
  with ``try(from_json)``: every bad line gets a reason code and a sample.
* ``batch`` — the lines holding a ``"batch"`` array (Pipelines ``/v1/batch``, Track ``/api/v2/batch``),
  exploded into messages (top-level ``sentAt`` / ``context`` apply to each).

and projects every message to a narrow row: bucket, three latency sketch bins, user ids, ``ek`` (a
64-bit hash of event and message type), check flags, and the JSON types of the plan's properties
packed three bits per property (``tc0``, ``tc1``, …). The tracking plan is then evaluated in Python
once per distinct combination of (event, flags, type codes), not once per message; the latency and
user sketches are added up in numpy from record batches of :func:`sketch_rows_sql`
(:mod:`monitors.ingest.sketches`).
"""

from __future__ import annotations

import json
import re

from monitors.ingest.leakage import (
    CONTEXT_STRUCT,
    LeakageConfig,
    leak_fields_sql,
    leak_flags_sql,
)
from monitors.plan import Plan
from monitors.sketch import LN_GAMMA, MIN_VALUE, ZERO_BIN

MAX_PAYLOAD = 32 * 1024
QUARANTINE_PER_REASON = 1000
NEGATIVE_BIN = ZERO_BIN + 1
HOPS = ("send", "deliver", "e2e")
SEGMENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
KEYS_PER_CODE = 21  # 3 bits each in a BIGINT
TYPE_CODES = {
    "VARCHAR": 1, "BIGINT": 2, "UBIGINT": 2, "HUGEINT": 2, "DOUBLE": 3, "BOOLEAN": 4, "ARRAY": 5, "OBJECT": 6, "NULL": 7,
}  # fmt: skip
# Plan types → the type codes that satisfy them (used in SQL for item checks and in Python).
CODES_OF = {"string": {1}, "number": {2, 3}, "integer": {2}, "boolean": {4}, "array": {5}, "object": {6}}
CODE_NAMES = {1: "VARCHAR", 2: "BIGINT", 3: "DOUBLE", 4: "BOOLEAN", 5: "ARRAY", 6: "OBJECT", 7: "NULL"}

# Row flags (bit positions). Item checks take the bits from ITEM_BASE on (see ``Layout``).
F_IDENTIFIED, F_CHECKED, F_EMAIL_ID, F_NO_IDENTITY, F_TOO_LARGE, F_IMPOSSIBLE_TS = range(6)
ITEM_BASE = 6

_FIELDS = (
    "type", "event", "name", "action", "userId", "anonymousId", "messageId", "id",
    "timestamp", "originalTimestamp", "sentAt", "receivedAt",
)  # fmt: skip
_JSON_FIELDS = ("properties", "traits", "context", "identifiers", "attributes", "batch")
MESSAGE_SPEC = {**{f: "VARCHAR" for f in _FIELDS}, **{f: "JSON" for f in _JSON_FIELDS}}
_TS_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
FAST_SPEC = {**MESSAGE_SPEC, **{f: "TIMESTAMPTZ" for f in _TS_FIELDS}, "context": CONTEXT_STRUCT}

# A lone UTF-16 surrogate escape (\ud83d with no low half: an emoji cut in two by a
# JavaScript ``substring`` or Python's ``json.dumps`` of a broken string) is valid JSON syntax and
# what Customer.io's JSON decoders accept as U+FFFD; DuckDB's parser refuses the whole line. Such
# escapes are replaced by \ufffd (same length: payload sizes do not move) when DuckDB cannot
# parse a raw line as it is. Escaped backslashes are matched first, so \\ud83d (a backslash, then
# text) is left alone.
_SURROGATE = re.compile(r"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _fffd(m: re.Match[str]) -> str:
    return m.group(0) if len(m.group(0)) != 6 else "\\ufffd"


def replace_lone_surrogates(line: str) -> str:
    """``line`` with every lone surrogate escape replaced by the escape of U+FFFD (pairs kept)."""
    return _SURROGATE.sub(_fffd, line)


def surrogate_fixed(text: str) -> str:
    """SQL: ``text`` with :func:`replace_lone_surrogates` applied (registered as ``ehm_surrogates``
    on every connection) when it holds a surrogate escape at all; NULL when it holds none."""
    return f"CASE WHEN contains({text}, '\\ud') OR contains({text}, '\\uD') THEN ehm_surrogates({text}) END"


def parse_json(line: str, spec: str) -> str:
    """SQL: ``try(from_json(line, spec))``, and for a line that fails, a second try with its lone
    surrogate escapes replaced (:func:`surrogate_fixed`). Only failing lines pay for it, where a
    test of every raw line would scan every line (a 62 KB Pipelines body included) at each use of
    the line in the query."""
    return f"coalesce(try(from_json({line}, {spec})), try(from_json({surrogate_fixed(line)}, {spec})))"


MACROS = f"""
CREATE OR REPLACE TEMP MACRO ehm_ts(s) AS coalesce(
    epoch(try_cast(s AS TIMESTAMPTZ)),
    CASE WHEN try_cast(s AS DOUBLE) > 1e17 THEN try_cast(s AS DOUBLE) / 1e9
         WHEN try_cast(s AS DOUBLE) > 1e14 THEN try_cast(s AS DOUBLE) / 1e6
         WHEN try_cast(s AS DOUBLE) > 1e11 THEN try_cast(s AS DOUBLE) / 1000.0 ELSE try_cast(s AS DOUBLE) END);
CREATE OR REPLACE TEMP MACRO ehm_bad_ts(s) AS s IS NOT NULL AND ehm_ts(s) IS NULL;
CREATE OR REPLACE TEMP MACRO ehm_blank(s) AS s IS NULL OR trim(s) = '';
CREATE OR REPLACE TEMP MACRO ehm_bin_us(x) AS CASE
    WHEN x IS NULL THEN NULL
    WHEN x < 0 THEN {NEGATIVE_BIN}
    WHEN x < {MIN_VALUE} THEN {ZERO_BIN}
    ELSE least(30000, ceil(ln(x) / {LN_GAMMA!r}))::SMALLINT END;
CREATE OR REPLACE TEMP MACRO ehm_whole(j) AS coalesce(isfinite(TRY_CAST(CAST(j AS VARCHAR) AS DOUBLE))
    AND TRY_CAST(CAST(j AS VARCHAR) AS DOUBLE) = floor(TRY_CAST(CAST(j AS VARCHAR) AS DOUBLE)), false);
-- a JSON type t of value j, with whole numbers (1.0, 1e2) typed BIGINT, as JSON Schema counts them integers
CREATE OR REPLACE TEMP MACRO ehm_jtype(t, j) AS CASE WHEN t = 'DOUBLE' AND ehm_whole(j) THEN 'BIGINT' ELSE t END;
-- the difference of two epoch doubles, rounded to the microsecond (the times are whole µs, their doubles not)
CREATE OR REPLACE TEMP MACRO ehm_bin(x) AS ehm_bin_us(round(x * 1e6) / 1e6);
CREATE OR REPLACE TEMP MACRO ehm_tcode(t) AS CASE t
    {" ".join(f"WHEN '{name}' THEN {code}" for name, code in TYPE_CODES.items())} ELSE 0 END;
"""


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def json_path(key: str) -> str:
    """A JSON pointer for a top-level key (works for any characters)."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


class Layout:
    """Where each planned property and item check lives in the numeric row.

    Each planned event (and identify, as ``$identify``) has its own key order: key ``i`` of the
    message's own spec is packed into ``tc{i // 21}`` at bits ``3 * (i % 21)``, so one JSON parse
    per message types exactly the keys its event plans. ``items``: (array property, item property)
    pairs with an item schema; check ``j`` sets flag bit ``ITEM_BASE + 2j`` when an item lacks a
    required item property and ``ITEM_BASE + 2j + 1`` when an item has it with the wrong type.
    """

    def __init__(self, plan: Plan) -> None:
        self.keys_of: dict[str, list[str]] = {ev.name: list(ev.spec.props) for ev in plan.events.values()}
        self.keys_of["$identify"] = list(plan.identify.props)
        items: dict[tuple[str, str], tuple[frozenset[str], bool]] = {}
        for ev in plan.events.values():
            for prop in ev.spec.props.values():
                if prop.items is not None:
                    for item in prop.items.props.values():
                        old = items.get((prop.name, item.name))
                        required = item.required or (old[1] if old else False)
                        items[(prop.name, item.name)] = (item.types | (old[0] if old else frozenset()), required)
        self.index = {name: {k: i for i, k in enumerate(keys)} for name, keys in self.keys_of.items()}
        self.items = sorted(items)
        self.item_types = items
        longest = max((len(k) for k in self.keys_of.values()), default=0)
        self.n_codes = max(1, -(-longest // KEYS_PER_CODE))

    @staticmethod
    def layout_id(event: str, msg_type: str) -> str | None:
        """Which key order a message uses: its event's (track), ``$identify``, or none."""
        if msg_type == "track":
            return event
        return "$identify" if msg_type == "identify" else None

    def codes_of(self, event: str, msg_type: str, codes: tuple[int, ...]) -> dict[str, int]:
        """Planned keys present in a message (type code ≠ 0), by name."""
        lid = self.layout_id(event, msg_type)
        keys = self.keys_of.get(lid or "", [])
        out = {}
        for i, key in enumerate(keys):
            code = (codes[i // KEYS_PER_CODE] >> (3 * (i % KEYS_PER_CODE))) & 7
            if code:
                out[key] = code
        return out

    def item_bit(self, j: int, wrong_type: bool) -> int:
        """Flag bit of item check ``j``."""
        return ITEM_BASE + 2 * j + (1 if wrong_type else 0)


def _dollar(*keys: str) -> str:
    return "$" + "".join('."' + k.replace('"', '\\"') + '"' for k in keys)


def _arrays(layout: Layout) -> dict[str, list[tuple[int, str]]]:
    by_array: dict[str, list[tuple[int, str]]] = {}
    for j, (array, item) in enumerate(layout.items):
        by_array.setdefault(array, []).append((j, item))
    return by_array



def _quoted(struct: str, key: str) -> str:
    return f'{struct}."{key.replace(chr(34), chr(34) * 2)}"'


def _item_lists(layout: Layout, plan: Plan) -> str:
    """Columns ``il{k}``: planned array ``k`` parsed (from its raw text in ``pp``) into a list of
    structs of its planned item properties — only for the events that plan it."""
    events = sorted({ev.name for ev in plan.events.values() for p in ev.spec.props.values() if p.items is not None})
    if not events:
        return ""
    cond = f"checked AND msg_type = 'track' AND event IN ({', '.join(sql_str(e) for e in events)})"
    cols = []
    for k, (array, checks) in enumerate(_arrays(layout).items()):
        spec = sql_str(json.dumps([{item: "JSON" for _, item in checks}]))
        raw = f"json_extract(props, {sql_str(_dollar(array))})"
        cols.append(f", CASE WHEN {cond} AND is_obj THEN from_json(CASE WHEN starts_with(CAST({raw} AS VARCHAR), '[') THEN {raw} END, {spec}) END AS il{k}")
    return "".join(cols)


# Whether the raw JSON text ``v`` (never a JSON null here: ``from_json`` gives SQL NULL) is of a plan
# type — from its first character, as ``_code`` classifies it.
_TEXT_IS = {
    "string": "starts_with({v}, '\"')",
    "object": "starts_with({v}, '{{')",
    "array": "starts_with({v}, '[')",
    "boolean": "({v} = 'true' OR {v} = 'false')",
    "number": "(left({v}, 1) IN ('-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'))",
    "integer": "(left({v}, 1) IN ('-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9') AND ((NOT contains({v}, '.') "
               "AND NOT contains({v}, 'e') AND NOT contains({v}, 'E')) OR ehm_whole({v})))",
}  # fmt: skip


def _item_flags(layout: Layout, plan: Plan) -> str:
    """Flag bits of the item checks: per item a bit mask, OR-ed over the array's items."""
    if not layout.items:
        return "0"
    parts = []
    for k, (array, checks) in enumerate(_arrays(layout).items()):
        bits = []
        for j, item in checks:
            types, required = layout.item_types[(array, item)]
            x = _quoted("x", item)
            if required:
                bits.append(f"(CAST({x} IS NULL AS BIGINT) << {layout.item_bit(j, False)})")
            allowed = " OR ".join(_TEXT_IS[t].format(v=x) for t in sorted(types))
            bits.append(f"(CAST({x} IS NOT NULL AND NOT ({allowed}) AS BIGINT) << {layout.item_bit(j, True)})")
        per_item = " | ".join(bits)
        parts.append(f"coalesce(list_aggregate(list_transform(n.il{k}, lambda x: {per_item}), 'bit_or'), 0)")
    return " | ".join(parts)


def _bit(cond: str, bit: int) -> str:
    return f"(CAST(coalesce({cond}, false) AS BIGINT) << {bit})"


def _type_lists(layout: Layout) -> str:
    """Inner columns ``tl{c}``: JSON types of chunk ``c`` of the message's own planned keys."""
    cols = []
    for c in range(layout.n_codes):
        whens = []
        for name, keys in layout.keys_of.items():
            chunk = keys[c * KEYS_PER_CODE : (c + 1) * KEYS_PER_CODE]
            if not chunk:
                continue
            paths = "[" + ", ".join(sql_str(json_path(k)) for k in chunk) + "]"
            cond = "msg_type = 'identify'" if name == "$identify" else f"msg_type = 'track' AND event = {sql_str(name)}"
            whole = f"lambda t, i: ehm_jtype(t, json_extract(props, ({paths})[i]))"
            whens.append(f"WHEN {cond} THEN list_transform(json_type(props, {paths}), {whole})")
        cols.append(f"CASE WHEN is_obj AND checked THEN CASE {' '.join(whens)} END END AS tl{c}" if whens else f"NULL::VARCHAR[] AS tl{c}")
    return ", ".join(cols)


def _type_codes(layout: Layout) -> list[str]:
    width = min(KEYS_PER_CODE, max((len(k) for k in layout.keys_of.values()), default=0))
    out = []
    for c in range(layout.n_codes):
        terms = " + ".join(f"(CAST(ehm_tcode(n.tl{c}[{i + 1}]) AS BIGINT) << {3 * i})" for i in range(width))
        out.append(f"coalesce({terms}, 0) AS tc{c}" if terms else f"0 AS tc{c}")
    return out


def lean_sql(
    plan: Plan, *, bucket_seconds: int, now_epoch: float, sample_rate: float, source: str,
    leakage: LeakageConfig | None = None, property_stats: bool = True,
) -> str:
    """The narrow numeric row of every message of ``source`` (see the module docstring).

    With ``property_stats``, ``xk`` lists the keys outside the message's own plan with their JSON
    types (only on the rows that have such keys: NULL elsewhere), so they are counted in the
    same pass."""
    layout = Layout(plan)
    hi = now_epoch + 86400
    threshold = int(sample_rate * 1_000_000)
    codes = ",\n      ".join(_type_codes(layout))
    email = "n.user_id LIKE '%@%' AND regexp_full_match(n.user_id, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')"
    def ok(t: str) -> str:  # a possible time: a hop with an impossible end measures no latency
        return f"n.{t} BETWEEN 946684800 AND {hi!r}"

    flags = " + ".join([
        _bit("n.user_id IS NOT NULL AND n.user_id <> ''", F_IDENTIFIED),
        _bit("n.checked", F_CHECKED),
        _bit(f"n.checked AND NOT n.by_email AND {email}", F_EMAIL_ID),
        _bit("n.checked AND n.msg_type NOT IN ('alias', 'other') AND n.user_key IS NULL", F_NO_IDENTITY),
        _bit(f"n.checked AND n.len > {MAX_PAYLOAD}", F_TOO_LARGE),
        _bit(f"n.checked AND n.ev_t IS NOT NULL AND (n.ev_t < 946684800 OR n.ev_t > {hi!r})", F_IMPOSSIBLE_TS),
        f"CASE WHEN n.checked THEN {_item_flags(layout, plan)} ELSE 0 END",
        f"CASE WHEN n.checked THEN {leak_flags_sql(leakage or LeakageConfig())} ELSE 0 END",
    ])  # fmt: skip

    return f"""
    SELECT
      n.reason, n.event, n.msg_type, n.sample, n.len,
      CAST(floor(coalesce(CASE WHEN {ok('ev_t')} THEN n.ev_t END, n.recv_t, n.sent_t, {now_epoch!r})
                 / {bucket_seconds}) * {bucket_seconds} AS BIGINT) AS bucket,
      ehm_bin(CASE WHEN {ok('ev_t')} AND {ok('sent_t')} THEN n.sent_t - n.ev_t END) AS l_send,
      ehm_bin(CASE WHEN {ok('sent_t')} AND {ok('recv_t')} THEN n.recv_t - n.sent_t END) AS l_deliver,
      ehm_bin(CASE WHEN {ok('ev_t')} AND {ok('recv_t')} THEN n.recv_t - n.ev_t END) AS l_e2e,
      NULLIF(n.user_id, '') AS uid, NULLIF(n.anon_id, '') AS aid, hash(n.event, n.msg_type) AS ek,
      hash(n.msg_id, n.user_id, n.anon_id, n.ev_t, n.sent_t, n.recv_t) AS sh_in,
      {flags} AS flags,
      {codes},
      n.nkeys{_extra_keys(layout) if property_stats else ""}
    FROM (
      SELECT *{_item_lists(layout, plan)} FROM (
        SELECT *, {_type_lists(layout)}, {leak_fields_sql()},
               CASE WHEN checked AND is_obj THEN CAST(len(json_keys(props)) AS INTEGER) ELSE 0 END AS nkeys FROM (
          SELECT *, coalesce(NULLIF(user_id, ''), NULLIF(anon_id, '')) AS user_key,
                 reason IS NULL AND (hash(coalesce(msg_id, user_id, anon_id, '')) % 1000000) < {threshold} AS checked,
                 props IS NOT NULL AND starts_with(CAST(props AS VARCHAR), '{{') AS is_obj
          FROM {source}
        )
      )
    ) AS n
    """


def with_samples(lean: str, keeper: str, n_codes: int, render: str) -> str:
    """``lean`` with ``sh``: the sample hash of the rows the UDF ``keeper`` keeps as samples of a
    combination that violates the plan (NULL elsewhere), and ``sample`` rendered as text (by
    ``render``) only for those rows and for rejected lines (:mod:`monitors.ingest.samples`)."""
    combo = ", ".join(["ek", "flags", *(f"tc{c}" for c in range(n_codes)), "nkeys"])
    args = ", ".join(["event", "msg_type", f"hash({combo})", "flags", *(f"tc{c}" for c in range(n_codes)), "nkeys", "sh_in"])
    return f"""
    SELECT * EXCLUDE (sample, sh_in),
      CASE WHEN sh IS NOT NULL OR (reason IS NOT NULL AND reason NOT IN ('batch', 'suspect')) THEN {render} END AS sample
    FROM (SELECT *, CASE WHEN reason IS NULL THEN {keeper}({args}) END AS sh FROM ({lean}))"""


def samples_sql(table: str, n_codes: int) -> str:
    """Up to 3 samples per combination that violates the plan: the largest sample hashes (ties, such
    as a resent message, broken by the text, so the pick never depends on the order of the rows),
    with their sample hashes (``shs``) and text hashes (``phs``), so that picks from several parts
    of an input merge into the same three (:func:`monitors.ingest.merge.to_batch`)."""
    tcs = "".join(f", tc{c}" for c in range(n_codes))
    return f"""SELECT event, msg_type, flags{tcs}, nkeys, max_by(sample, (sh, hash(sample)), 3) AS samples,
                      max_by(sh, (sh, hash(sample)), 3) AS shs, max_by(hash(sample), (sh, hash(sample)), 3) AS phs
               FROM {table} WHERE reason IS NULL AND sh IS NOT NULL GROUP BY ALL"""


# HyperLogLog sketch kinds: users (userId, else anonymousId), then the identity sketches: userIds,
# anonymousIds of messages without a userId (these three MD5-based, as in warehouses), anonymousIds
# seen together with a userId (DuckDB's hash in files; MD5 in warehouses).
HLL_KINDS = ("users", "u", "a", "l")


def stage2_sql(table: str, n_codes: int) -> dict[str, str]:
    """Aggregates over the narrow table that are small: one row per combination (``main``: the plan
    is evaluated per combination), rejects, and control counts. ``ek`` is a 64-bit hash of event
    and message type; the sketches are added up from :func:`sketch_rows_sql`."""
    grp = "event, msg_type, bucket"
    tcs = ", ".join(f"tc{c}" for c in range(n_codes))
    return {
        "main": f"SELECT {grp}, ek, flags, {tcs}, nkeys, count(*) AS n FROM {table} WHERE reason IS NULL GROUP BY ALL",
        "rejects": f"""SELECT reason, count(*) AS n, max_by(sample, hash(sample), {QUARANTINE_PER_REASON}) AS rejected
                     FROM {table} WHERE reason IS NOT NULL AND reason NOT IN ('batch', 'suspect') GROUP BY ALL""",
        "control": f"""SELECT count(*) FILTER (WHERE reason = 'batch') AS batches,
                     count(*) FILTER (WHERE reason = 'suspect') AS suspect FROM {table}""",
    }


def sketch_rows_sql(table: str, groups: str) -> str:
    """Per accepted message: its group ``g`` (from ``groups``: ek, bucket, g), the three latency
    bins and the user hashes — ``hu``: the first 8 bytes of the MD5 of the userId, else the
    anonymousId, read little-endian (what warehouses compute too, so these sketches merge across
    source kinds; ``has_uid`` tells which id it was), computed once per distinct key (it is the
    expensive part) and joined back; ``hl``: DuckDB's hash of the anonymousId of a message that
    also has a userId (an MD5 per distinct anonymousId costs ~1 s per million messages)."""
    key = "coalesce(t.uid, t.aid)"
    return f"""
    WITH h AS (SELECT key, md5_number_upper(key) AS hu FROM (
                 SELECT DISTINCT coalesce(uid, aid) AS key FROM {table} WHERE reason IS NULL AND coalesce(uid, aid) IS NOT NULL))
    SELECT grp.g, t.l_send, t.l_deliver, t.l_e2e, h.hu, t.uid IS NOT NULL AS has_uid,
           CASE WHEN t.uid IS NOT NULL AND t.aid IS NOT NULL THEN hash(t.aid) END AS hl
    FROM {table} AS t JOIN {groups} AS grp ON grp.ek = t.ek AND grp.bucket = t.bucket
    LEFT JOIN h ON h.key = {key}
    WHERE t.reason IS NULL"""


def _known_keys_case(layout: Layout) -> str:
    whens = []
    for name, keys in layout.keys_of.items():
        cond = "n.msg_type = 'identify'" if name == "$identify" else f"n.msg_type = 'track' AND n.event = {sql_str(name)}"
        whens.append(f"WHEN {cond} THEN [{', '.join(sql_str(k) for k in keys)}]::VARCHAR[]")
    return f"CASE {' '.join(whens)} ELSE []::VARCHAR[] END" if whens else "[]::VARCHAR[]"


def _extra_keys(layout: Layout) -> str:
    """Column ``xk``: [{key, jtype}] of the keys outside the plan, on rows whose key count exceeds
    the planned keys they have (the list functions run only on those rows: a CASE branch)."""
    present = " + ".join(f"coalesce(list_count(n.tl{c}), 0)" for c in range(layout.n_codes))
    escaped = "'/' || replace(replace(k, '~', '~0'), '/', '~1')"
    keys = f"list_filter(json_keys(n.props), lambda k: NOT list_contains({_known_keys_case(layout)}, k))"
    pairs = f"list_transform({keys}, lambda k: {{'key': k, 'jtype': coalesce(ehm_jtype(json_type(n.props, {escaped}), json_extract(n.props, {escaped})), 'NULL')}})"
    return f",\n      CASE WHEN n.nkeys > {present} THEN {pairs} END AS xk"


def extra_keys_sql(table: str) -> str:
    """Keys outside the plan per (event, type, bucket, key, JSON type), from the ``xk`` lists."""
    return f"""
    SELECT event, msg_type, bucket, x.key AS key, x.jtype AS jtype, count(*) AS n
    FROM (SELECT event, msg_type, bucket, unnest(xk) AS x FROM {table} WHERE reason IS NULL AND xk IS NOT NULL)
    GROUP BY ALL"""
