"""The columnar hot path: DuckDB SQL that turns raw lines into per-bucket *facts*.

One streaming pass per input: every line is parsed once into a struct (``MESSAGE_SPEC``), the
tracking plan is compiled into vectorised checks on the raw JSON text of planned properties, and
each message fans out into a handful of small *facts* that one hash aggregate counts:

====  ======================================  ===========================================
k     a                                       s
====  ======================================  ===========================================
m     bit 0 identified, 1 checked, 2 conform  —
v     —                                       ``vtype \\x1f property``
l     hop * 65536 + sketch bin                —
h     register * 64 + rank (HyperLogLog)      —
p     —                                       ``property \\x1f json type``
r     —                                       reject reason (event and bucket are NULL)
====  ======================================  ===========================================

Batch bodies (Pipelines ``/v1/batch`` and Track ``/api/v2/batch``) are exploded by a second query
over the same input that reads only lines containing ``"batch"``; it shares everything downstream.
"""

from __future__ import annotations

import json

from monitors.plan import ObjectSpec, Plan, PropSpec
from monitors.sketch import HLL_P, LN_GAMMA, MIN_VALUE, ZERO_BIN

SEP = "\x1f"
MAX_PAYLOAD = 32 * 1024
QUARANTINE_PER_REASON = 1000
NEGATIVE_BIN = ZERO_BIN + 1
HOPS = ("send", "deliver", "e2e")
SEGMENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
_FIELDS = (
    "type", "event", "name", "action", "userId", "anonymousId", "messageId", "id",
    "timestamp", "originalTimestamp", "sentAt", "receivedAt", "previousId", "groupId",
)  # fmt: skip
_JSON_FIELDS = ("properties", "traits", "context", "identifiers", "attributes", "batch", "integrations")
MESSAGE_SPEC = {**{f: "VARCHAR" for f in _FIELDS}, **{f: "JSON" for f in _JSON_FIELDS}}

MACROS = f"""
CREATE OR REPLACE TEMP MACRO ehm_ts(s) AS coalesce(
    epoch(try_cast(s AS TIMESTAMPTZ)),
    CASE WHEN try_cast(s AS DOUBLE) > 1e11 THEN try_cast(s AS DOUBLE) / 1000.0 ELSE try_cast(s AS DOUBLE) END);
CREATE OR REPLACE TEMP MACRO ehm_bad_ts(s) AS s IS NOT NULL AND ehm_ts(s) IS NULL;
CREATE OR REPLACE TEMP MACRO ehm_blank(s) AS s IS NULL OR trim(s) = '';
CREATE OR REPLACE TEMP MACRO ehm_is_num(v) AS try_cast(CAST(v AS VARCHAR) AS DOUBLE) IS NOT NULL;
CREATE OR REPLACE TEMP MACRO ehm_is_int(v) AS try_cast(CAST(v AS VARCHAR) AS DOUBLE) IS NOT NULL
    AND try_cast(CAST(v AS VARCHAR) AS DOUBLE) = round(try_cast(CAST(v AS VARCHAR) AS DOUBLE));
CREATE OR REPLACE TEMP MACRO ehm_bin(x) AS CASE
    WHEN x IS NULL THEN NULL
    WHEN x < 0 THEN {NEGATIVE_BIN}
    WHEN x < {MIN_VALUE} THEN {ZERO_BIN}
    ELSE least(30000, ceil(ln(x) / {LN_GAMMA!r}))::INTEGER END;
"""


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _json_spec(fields: list[str]) -> str:
    return sql_str(json.dumps(dict.fromkeys(fields, "JSON")))


def _type_ok(v: str, types: frozenset[str]) -> str:
    tests = {
        "string": f"starts_with({v}, '\"')",
        "number": f"ehm_is_num({v})",
        "integer": f"ehm_is_int({v})",
        "boolean": f"CAST({v} AS VARCHAR) IN ('true', 'false')",
        "array": f"starts_with({v}, '[')",
        "object": f"starts_with({v}, '{{')",
    }
    return "(" + " OR ".join(tests[t] for t in sorted(types)) + ")"


def _viol(cond: str, vtype: str, prop: str) -> str:
    return f"CASE WHEN {cond} THEN {sql_str(vtype + SEP + prop)} END"


class _Checks:
    """Collects violation expressions and the parsed item lists they need (each parsed once)."""

    def __init__(self) -> None:
        self.exprs: list[str] = []
        self.item_cols: dict[str, str] = {}

    def item_list(self, raw: str, spec: ObjectSpec) -> str:
        sql = f"CASE WHEN starts_with({raw}, '[') THEN from_json({raw}, {_item_list_spec(spec)}) END"
        for alias, existing in self.item_cols.items():
            if existing == sql:
                return f"n.{alias}"
        alias = f"it{len(self.item_cols)}"
        self.item_cols[alias] = sql
        return f"n.{alias}"

    def object(self, event_cond: str, spec: ObjectSpec, struct: str) -> None:
        for prop in spec.props.values():
            v = f'{struct}."{prop.name}"'
            if prop.required:
                self.exprs.append(_viol(f"{event_cond} AND {v} IS NULL", "missing_required_property", prop.name))
            self.exprs.append(
                _viol(f"{event_cond} AND {v} IS NOT NULL AND NOT {_type_ok(v, prop.types)}", "wrong_type", prop.name)
            )
            if prop.items is not None and prop.items.props:
                self.items(event_cond, prop, self.item_list(v, prop.items))

    def items(self, event_cond: str, prop: PropSpec, items: str) -> None:
        assert prop.items is not None
        for item in prop.items.props.values():
            x = f'x."{item.name}"'
            label = f"{prop.name}[].{item.name}"
            if item.required:
                cond = f"coalesce(list_bool_or(list_transform({items}, lambda x: {x} IS NULL)), false)"
                self.exprs.append(_viol(f"{event_cond} AND {cond}", "missing_required_property", label))
            bad = f"list_bool_or(list_transform({items}, lambda x: {x} IS NOT NULL AND NOT {_type_ok(x, item.types)}))"
            self.exprs.append(_viol(f"{event_cond} AND coalesce({bad}, false)", "wrong_type", label))


def _item_list_spec(spec: ObjectSpec) -> str:
    return sql_str(json.dumps([dict.fromkeys(spec.props, "JSON")]))


def violation_checks(plan: Plan) -> _Checks:
    """Every property-level violation expression, in terms of the normalised row ``n``."""
    checks = _Checks()
    for ev in plan.events.values():
        cond = f"n.event = {sql_str(ev.name)} AND n.msg_type = 'track'"
        checks.object(cond, ev.spec, "n.pp")
        if ev.entity_id:
            checks.exprs.append(_viol(f'{cond} AND n.pp."{ev.entity_id}" IS NULL', "missing_entity_id", ev.entity_id))
    checks.object("n.msg_type = 'identify'", plan.identify, "n.pp")
    return checks


def _planned_keys_case(plan: Plan) -> str:
    whens = [
        f"WHEN n.msg_type = 'track' AND n.event = {sql_str(ev.name)} THEN "
        f"[{', '.join(sql_str(k) for k in ev.spec.props) or ''}]::VARCHAR[]"
        for ev in plan.events.values()
    ]
    idk = ", ".join(sql_str(k) for k in plan.identify.props)
    whens.append(f"WHEN n.msg_type = 'identify' THEN [{idk}]::VARCHAR[]")
    return "CASE " + " ".join(whens) + " END"


def normalise_sql(plan: Plan, *, bucket_seconds: int, now_epoch: float, sample_rate: float, source: str = "m") -> str:
    """SELECT over ``m`` (raw, j, len, pre_reason, top_sent, top_ctx) giving one normalised row per message."""
    prop_keys = sorted({*plan.property_names(), *plan.identify.props})
    pp_spec = _json_spec(prop_keys) if prop_keys else None
    seg_types = ", ".join(sql_str(t) for t in SEGMENT_TYPES)
    threshold = int(sample_rate * 1_000_000)
    return f"""
    SELECT *,
      CASE
        WHEN pre_reason IS NOT NULL THEN pre_reason
        WHEN msg_type IS NULL THEN 'unknown_type'
        WHEN needs_name AND ehm_blank(raw_name) THEN 'missing_event_name'
        WHEN ehm_bad_ts(ts_s) OR ehm_bad_ts(ots_s) OR ehm_bad_ts(sent_s) OR ehm_bad_ts(recv_s) THEN 'bad_timestamp'
        WHEN coalesce(ev_t, sent_t, recv_t) IS NULL THEN 'missing_timestamp'
      END AS reason,
      (ev_t IS NOT NULL AND (ev_t < 946684800 OR ev_t > {now_epoch + 86400!r})) AS impossible_ts,
      CAST(floor(coalesce(
          CASE WHEN ev_t BETWEEN 946684800 AND {now_epoch + 86400!r} THEN ev_t END,
          recv_t, sent_t, {now_epoch!r}) / {bucket_seconds}) * {bucket_seconds} AS BIGINT) AS bucket,
      (hash(coalesce(msg_id, raw, user_key, '')) % 1000000) < {threshold} AS checked
    FROM (
      SELECT *,
        ehm_ts(coalesce(ts_s, ots_s)) AS ev_t,
        ehm_ts(sent_s) AS sent_t,
        ehm_ts(recv_s) AS recv_t,
        {f"from_json(props, {pp_spec})" if pp_spec else "NULL"} AS pp,
        coalesce(NULLIF(user_id, ''), NULLIF(anon_id, '')) AS user_key,
        left(CASE WHEN msg_type = 'track' THEN raw_name ELSE '$' || coalesce(msg_type, 'unknown') END, 255) AS event
      FROM (
        SELECT raw, len, pre_reason, j,
          coalesce(j.messageId, j.id) AS msg_id,
          CASE
            WHEN is_v2 AND j.type = 'person' AND j.action = 'event' THEN 'track'
            WHEN is_v2 AND j.type = 'person' AND j.action IN ('identify', 'page', 'screen') THEN j.action
            WHEN is_v2 THEN 'other'
            WHEN j.type IN ({seg_types}) THEN j.type
          END AS msg_type,
          (j.type = 'track' AND NOT is_v2) OR (is_v2 AND j.action = 'event') AS needs_name,
          CASE WHEN is_v2 THEN j.name ELSE j.event END AS raw_name,
          CASE WHEN is_v2 THEN coalesce(json_extract_string(j.identifiers, '$.id'),
                                        json_extract_string(j.identifiers, '$.email'),
                                        json_extract_string(j.identifiers, '$.cio_id'),
                                        json_extract_string(j.identifiers, '$.phone'))
               ELSE j.userId END AS user_id,
          CASE WHEN is_v2 THEN json_extract_string(j.attributes, '$.anonymous_id') ELSE j.anonymousId END AS anon_id,
          CASE WHEN is_v2 THEN j.attributes WHEN j.type IN ('identify', 'group') THEN j.traits ELSE j.properties END AS props,
          j.timestamp AS ts_s, j.originalTimestamp AS ots_s,
          coalesce(j.sentAt, top_sent) AS sent_s, j.receivedAt AS recv_s,
          CASE WHEN top_ctx IS NULL THEN j.context WHEN j.context IS NULL THEN top_ctx
               ELSE json_merge_patch(top_ctx, j.context) END AS ctx
        FROM (SELECT *, (j.action IS NOT NULL AND j.identifiers IS NOT NULL) AS is_v2 FROM {source})
      )
    )
    """


def stage1_sql(
    plan: Plan, *, bucket_seconds: int, now_epoch: float, sample_rate: float, property_stats: bool, source: str = "m"
) -> str:
    """SELECT of the narrow per-message table ``msg`` that every aggregate of stage 2 reads."""
    planned = ", ".join(sql_str(n) for n in plan.events) or "NULL"
    generic = [
        _viol("n.msg_type = 'track' AND n.event NOT IN (" + planned + ")", "unplanned_event", ""),
        _viol(
            "n.pkeys IS NOT NULL AND len(list_filter(coalesce(json_keys(n.props), []), "
            "lambda k: NOT list_contains(n.pkeys, k))) > 0",
            "unplanned_property",
            "",
        ),
        _viol("n.user_id LIKE '%@%' AND regexp_full_match(n.user_id, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')", "email_as_user_id", ""),
        _viol("n.msg_type <> 'other' AND n.msg_type <> 'alias' AND n.user_key IS NULL", "missing_identity", ""),
        _viol(f"n.len > {MAX_PAYLOAD}", "payload_too_large", ""),
        _viol("n.impossible_ts", "impossible_timestamp", ""),
    ]
    checks = violation_checks(plan)
    viol_list = "list_filter([" + ",\n        ".join(generic + checks.exprs) + "], lambda x: x IS NOT NULL)"
    item_cols = "".join(f", {sql} AS {alias}" for alias, sql in checks.item_cols.items())
    ksig = "CAST(json_structure(n.props) AS VARCHAR)" if property_stats else "NULL"
    hll_idx = "('0x' || md5(n.user_key)[1:3])::SMALLINT"
    hll_rho = f"CAST({64 - HLL_P} - floor(log2(greatest(1, ('0x' || md5(n.user_key)[4:16])::BIGINT))) AS TINYINT)"
    base = normalise_sql(plan, bucket_seconds=bucket_seconds, now_epoch=now_epoch, sample_rate=sample_rate, source=source)
    return f"""
    WITH base AS ({base}),
    n AS (SELECT *, {_planned_keys_case(plan)} AS pkeys{item_cols} FROM base AS n),
    v AS (SELECT n.*, CASE WHEN n.reason IS NULL AND n.checked THEN {viol_list} ELSE []::VARCHAR[] END AS viols FROM n AS n)
    SELECT
      CASE WHEN n.reason IS NULL THEN n.event END AS event,
      CASE WHEN n.reason IS NULL THEN n.msg_type END AS msg_type,
      CASE WHEN n.reason IS NULL THEN n.bucket END AS bucket,
      n.reason,
      CAST((n.user_id IS NOT NULL AND n.user_id <> '') AS TINYINT) AS identified,
      CAST(n.checked AS TINYINT) AS checked,
      CAST(n.checked AND len(n.viols) = 0 AS TINYINT) AS conforming,
      CASE WHEN n.reason IS NULL THEN ehm_bin(n.sent_t - n.ev_t) END::SMALLINT AS l_send,
      CASE WHEN n.reason IS NULL THEN ehm_bin(n.recv_t - n.sent_t) END::SMALLINT AS l_deliver,
      CASE WHEN n.reason IS NULL THEN ehm_bin(n.recv_t - n.ev_t) END::SMALLINT AS l_e2e,
      CASE WHEN n.reason IS NULL AND n.user_key IS NOT NULL THEN {hll_idx} END AS h_idx,
      CASE WHEN n.reason IS NULL AND n.user_key IS NOT NULL THEN {hll_rho} END AS h_rank,
      CASE WHEN len(n.viols) > 0 THEN n.viols END AS viols,
      CASE WHEN n.reason IS NULL AND n.checked THEN {ksig} END AS ksig,
      CASE WHEN n.reason IS NOT NULL OR len(n.viols) > 0 THEN coalesce(n.raw, CAST(to_json(n.j) AS VARCHAR)) END AS sample
    FROM v AS n
    """


def stage2_sql(table: str) -> dict[str, str]:
    """The aggregates over the per-message table, one query each (all tiny group-bys)."""
    grp = "event, msg_type, bucket"
    lat = " UNION ALL ".join(
        f"SELECT {grp}, '{hop}' AS hop, l_{hop} AS bin, count(*) AS n FROM {table} "
        f"WHERE reason IS NULL AND l_{hop} IS NOT NULL GROUP BY ALL"
        for hop in HOPS
    )
    return {
        "main": f"""SELECT {grp}, count(*) AS n, sum(identified) AS identified, sum(checked) AS checked,
                    sum(conforming) AS conforming FROM {table} WHERE reason IS NULL GROUP BY ALL""",
        "viols": f"""SELECT {grp}, v, count(*) AS n FROM (SELECT {grp}, unnest(viols) AS v FROM {table}
                     WHERE viols IS NOT NULL) GROUP BY ALL""",
        "vsamples": f"""SELECT event, msg_type, v, max(bucket) AS bucket, max_by(sample, hash(sample), 3) AS samples
                     FROM (SELECT event, msg_type, bucket, sample, unnest(viols) AS v FROM {table} WHERE viols IS NOT NULL)
                     GROUP BY ALL""",
        "latency": f"""SELECT {grp}, hop, list(bin ORDER BY bin) AS bins, list(n ORDER BY bin) AS counts
                     FROM ({lat}) GROUP BY ALL""",
        "hll": f"""SELECT {grp}, list(h_idx ORDER BY h_idx) AS idx, list(r ORDER BY h_idx) AS ranks FROM
                   (SELECT {grp}, h_idx, max(h_rank) AS r FROM {table} WHERE h_idx IS NOT NULL GROUP BY ALL) GROUP BY ALL""",
        "props": f"""SELECT {grp}, ksig, count(*) AS n FROM {table} WHERE ksig IS NOT NULL GROUP BY ALL""",
        "rejects": f"""SELECT reason, count(*) AS n, max_by(sample, hash(sample), {QUARANTINE_PER_REASON}) AS rejected
                     FROM {table} WHERE reason IS NOT NULL AND reason <> 'batch' GROUP BY ALL""",
        "batches": f"SELECT count(*) AS n FROM {table} WHERE reason = 'batch'",
    }
