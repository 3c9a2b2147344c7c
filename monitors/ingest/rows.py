"""Row sources of the hot path: each yields the same normalised columns per message.

``fast_rows`` reads typed ``read_ndjson`` columns (clean single messages); ``exact_rows`` reads
parsed raw lines (every rejection gets its reason and sample). See :mod:`monitors.ingest.sqlgen`.
"""

from __future__ import annotations

from monitors.ingest.leakage import context_columns_exact, context_columns_fast
from monitors.ingest.sqlgen import MAX_PAYLOAD, SEGMENT_TYPES, sql_str, surrogate_fixed


def _classify(is_v2: str, j: str) -> tuple[str, str, str]:
    seg_types = ", ".join(sql_str(t) for t in SEGMENT_TYPES)
    msg_type = f"""CASE
            WHEN {is_v2} AND {j}.type = 'person' AND {j}.action = 'event' THEN 'track'
            WHEN {is_v2} AND {j}.type = 'person' AND {j}.action IN ('identify', 'page', 'screen') THEN {j}.action
            WHEN {is_v2} THEN 'other'
            WHEN {j}.type IN ({seg_types}) THEN {j}.type END"""
    needs_name = f"(({j}.type = 'track' AND NOT {is_v2}) OR ({is_v2} AND {j}.action = 'event'))"
    raw_name = f"CASE WHEN {is_v2} THEN {j}.name ELSE {j}.event END"
    return msg_type, needs_name, raw_name


# An event name read as VARCHAR that may have been a JSON number, boolean, array or object (a
# string may spell the same text: the raw message decides, for these rare rows only).
NOT_A_STRING = "^(-|[0-9]|true$|false$|\\[|\\{)"


def _bad_name(raw: str) -> str:
    """SQL: the name of a message needing one is not a JSON string (Customer.io's SDKs and API
    require a string: such a message drives no journey). ``raw`` parsed already, perhaps only once
    its lone surrogate escapes were replaced (:func:`monitors.ingest.sqlgen.parse_json`)."""
    fixed = f"coalesce({surrogate_fixed(raw)}, {raw})"
    return (f"(needs_name AND regexp_matches(raw_name, {sql_str(NOT_A_STRING)}) "
            f"AND coalesce(try(json_type({fixed}, CASE WHEN is_v2 THEN '$.name' ELSE '$.event' END)), 'VARCHAR') <> 'VARCHAR')")


def exact_rows(m: str) -> str:
    """Normalised rows from ``m`` (raw, len, pre_reason, top_sent, top_ctx, j: MESSAGE_SPEC struct;
    ``top_*``: a batch body's own ``sentAt`` and ``context``, which apply to each of its messages).

    Every row carries its raw line as ``sample`` (a reference, not a copy: only the rows kept as
    samples or rejected are stored, see :func:`monitors.ingest.sqlgen.with_samples`). A Track v2
    operation may have no time at all (the API stamps it on receipt): it is not rejected, and
    falls in the bucket of the moment it is read (``now_epoch``, see ``sqlgen.lean_sql``)."""
    msg_type, needs_name, raw_name = _classify("is_v2", "j")
    return f"""
    SELECT *, raw AS sample FROM (
    SELECT *,
      CASE
        WHEN pre_reason IS NOT NULL THEN pre_reason
        WHEN msg_type IS NULL THEN 'unknown_type'
        WHEN needs_name AND ehm_blank(raw_name) THEN 'missing_event_name'
        WHEN {_bad_name("raw")} THEN 'bad_event_name'
        WHEN ehm_bad_ts(ts_s) OR ehm_bad_ts(ots_s) OR ehm_bad_ts(sent_s) OR ehm_bad_ts(recv_s) THEN 'bad_timestamp'
        WHEN coalesce(ev_t, sent_t, recv_t) IS NULL AND NOT is_v2 THEN 'missing_timestamp'
      END AS reason,
      left(CASE WHEN msg_type = 'track' THEN raw_name ELSE '$' || coalesce(msg_type, 'unknown') END, 255) AS event
    FROM (
      SELECT *, ehm_ts(coalesce(ts_s, ots_s)) AS ev_t, ehm_ts(sent_s) AS sent_t, ehm_ts(recv_s) AS recv_t
      FROM (
        SELECT raw, len, pre_reason, is_v2,
          {msg_type} AS msg_type, {needs_name} AS needs_name, {raw_name} AS raw_name,
          coalesce(j.messageId, j.id) AS msg_id,
          CASE WHEN is_v2 THEN coalesce(json_extract_string(j.identifiers, '$.id'), json_extract_string(j.identifiers, '$.email'),
                                        json_extract_string(j.identifiers, '$.cio_id'), json_extract_string(j.identifiers, '$.phone'))
               ELSE j.userId END AS user_id,
          -- a Track v2 operation identified by email: the email is its identifier, not a userId misused
          is_v2 AND json_extract_string(j.identifiers, '$.id') IS NULL
                AND json_extract_string(j.identifiers, '$.email') IS NOT NULL AS by_email,
          CASE WHEN is_v2 THEN json_extract_string(j.attributes, '$.anonymous_id') ELSE j.anonymousId END AS anon_id,
          CASE WHEN is_v2 THEN j.attributes WHEN j.type IN ('identify', 'group') THEN j.traits ELSE j.properties END AS props,
          j.timestamp AS ts_s, j.originalTimestamp AS ots_s, coalesce(j.sentAt, top_sent) AS sent_s, j.receivedAt AS recv_s,
          {context_columns_exact("j.context", "top_ctx")}
        FROM (SELECT *, (j.action IS NOT NULL AND j.identifiers IS NOT NULL) AS is_v2 FROM {m})
      )
    ))"""


_FAST_SAMPLE = (
    "CAST(to_json({'type': sample.type, 'event': sample.event, 'userId': sample.userId, 'anonymousId': sample.anonymousId, "
    "'messageId': sample.messageId, 'timestamp': strftime(sample.timestamp, '%Y-%m-%dT%H:%M:%S.%fZ'), "
    "'properties': sample.properties, 'traits': sample.traits}) AS VARCHAR)"
)
SAMPLE_JSON = {"fast": _FAST_SAMPLE, "exact": "sample", "batch": "sample"}
"""SQL giving a row's ``sample`` as text, per row source (the fast reader's times in ISO 8601)."""


def fast_rows(reader: str) -> str:
    """Normalised rows straight from typed ``read_ndjson`` columns (clean single messages only).

    Each row carries its message's main fields as a struct ``sample`` (rendered as JSON only for
    the rows kept as samples: :data:`SAMPLE_JSON`)."""
    sample = (
        "{'type': \"type\", 'event': event, 'userId': userId, 'anonymousId': anonymousId, "
        "'messageId': messageId, 'timestamp': \"timestamp\", 'properties': properties, 'traits': traits}"
    )
    seg_types = ", ".join(sql_str(t) for t in SEGMENT_TYPES)
    # The fast reader has no raw line to measure: properties / traits (where payloads grow) plus a
    # generous envelope give the estimate, and any message within 4 KB of the limit is sent to the
    # exact reader, which measures the line. (A message bloated by an over-4-KB ``context`` alone
    # is measured only when the file goes through the exact reader.)
    est = "coalesce(strlen(properties), 0) + coalesce(strlen(traits), 0) + 1024"
    return f"""
    SELECT
      CASE WHEN batch IS NOT NULL THEN CASE WHEN starts_with(CAST(batch AS VARCHAR), '[') THEN 'batch' ELSE 'suspect' END
           WHEN "action" IS NOT NULL OR identifiers IS NOT NULL OR "type" IS NULL OR "type" NOT IN ({seg_types}) THEN 'suspect'
           WHEN "type" = 'track' AND (ehm_blank(event) OR regexp_matches(event, {sql_str(NOT_A_STRING)})) THEN 'suspect'
           WHEN coalesce("timestamp", originalTimestamp, sentAt, receivedAt) IS NULL THEN 'suspect'
           WHEN {est} > {MAX_PAYLOAD - 4096} THEN 'suspect'
      END AS reason,
      left(CASE WHEN "type" = 'track' THEN event ELSE '$' || "type" END, 255) AS event,
      "type" AS msg_type, {sample} AS sample, 0 AS len,
      coalesce(messageId, id) AS msg_id, userId AS user_id, false AS by_email, anonymousId AS anon_id,
      CASE WHEN "type" IN ('identify', 'group') THEN traits ELSE properties END AS props, {context_columns_fast()},
      epoch(coalesce("timestamp", originalTimestamp)) AS ev_t, epoch(sentAt) AS sent_t, epoch(receivedAt) AS recv_t
    FROM {reader}"""
