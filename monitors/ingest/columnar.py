"""Runs the DuckDB hot path over one input file and returns its aggregates.

Two readers feed the same SQL (:mod:`monitors.ingest.sqlgen`):

* **fast** — ``read_ndjson`` straight into typed columns. Used when the whole input is clean; any
  malformed, non-object or suspicious line makes DuckDB raise or yields a ``suspect`` row, and the
  input is read again by the exact reader (so results never depend on which reader ran).
* **exact** — ``read_csv`` of raw lines (invalid UTF-8 captured in a rejects table), each line
  parsed with ``try(from_json)``, so every bad line gets its reason code and a sample.

Stage 1 writes one narrow row per message to a temp table; stage 2 runs small group-bys over it.
Batch bodies are exploded by a second stage-1 pass over only the lines containing ``"batch"``.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from monitors.ingest import sqlgen
from monitors.plan import Plan

MAX_LINE = 16 * 1024 * 1024
_counter = itertools.count()
PARTS = ("main", "viols", "vsamples", "latency", "hll", "props", "rejects")


@dataclass(frozen=True)
class FactOptions:
    """What the hot path needs besides the plan."""

    bucket_seconds: int
    now_epoch: float
    sample_rate: float = 1.0
    property_stats: bool = True


@dataclass
class Facts:
    """Aggregates of one input, one DataFrame per part (see :func:`sqlgen.stage2_sql`)."""

    parts: dict[str, pd.DataFrame] = field(default_factory=dict)
    reader: str = "fast"

    def extend(self, other: Facts) -> None:
        """Append another input's parts (aggregation across inputs happens in the merge step)."""
        for name, frame in other.parts.items():
            mine = self.parts.get(name)
            self.parts[name] = frame if mine is None or mine.empty else pd.concat([mine, frame], ignore_index=True)

    def rejected_count(self) -> int:
        """Number of rejected messages."""
        rej = self.parts.get("rejects")
        return 0 if rej is None or rej.empty else int(rej["n"].sum())


def connect(memory_limit: str = "768MB", threads: int | None = None, temp_dir: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for streaming aggregation in UTC with bounded memory (spills to disk)."""
    config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": memory_limit, "threads": threads or (os.cpu_count() or 2)}
    if temp_dir:
        config["temp_directory"] = temp_dir
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(sqlgen.MACROS)
    return con


def _spec_literal() -> str:
    return sqlgen.sql_str(json.dumps(sqlgen.MESSAGE_SPEC))


def _compression(compressed: bool) -> str:
    return "'gzip'" if compressed else "'none'"


def _csv_reader(path: str, compressed: bool, rejects: str) -> str:
    return (
        f"read_csv({sqlgen.sql_str(path)}, columns = {{'line': 'VARCHAR'}}, delim = '\x01', quote = '', escape = '', "
        f"header = false, auto_detect = false, strict_mode = false, new_line = '\\n', ignore_errors = true, "
        f"store_rejects = true, rejects_table = '{rejects}', rejects_scan = '{rejects}_scan', "
        f"max_line_size = {MAX_LINE}, compression = {_compression(compressed)})"
    )


def _ndjson_reader(path: str, compressed: bool) -> str:
    cols = ", ".join(f"{sqlgen.sql_str(k)}: {sqlgen.sql_str(v)}" for k, v in sqlgen.MESSAGE_SPEC.items())
    return (
        f"read_ndjson({sqlgen.sql_str(path)}, columns = {{{cols}}}, format = 'newline_delimited', "
        f"maximum_object_size = {MAX_LINE}, compression = {_compression(compressed)})"
    )


def _exact_m(path: str, compressed: bool, rejects: str) -> str:
    ws = "' ' || chr(9) || chr(13)"
    return f"""m AS (
      SELECT line AS raw, strlen(line) AS len, NULL::VARCHAR AS top_sent, NULL::JSON AS top_ctx, j,
        CASE WHEN j IS NULL THEN CASE WHEN regexp_full_match(line, '\\s*') THEN 'blank' ELSE 'invalid_json' END
             WHEN NOT starts_with(ltrim(line, {ws}), '{{') THEN 'not_an_object'
             WHEN j.batch IS NOT NULL THEN CASE WHEN starts_with(j.batch, '[') THEN 'batch' ELSE 'bad_batch' END
        END AS pre_reason
      FROM (SELECT line, try(from_json(line, {_spec_literal()})) AS j FROM {_csv_reader(path, compressed, rejects)}
            WHERE line IS NOT NULL)
    ), m2 AS (SELECT * FROM m WHERE pre_reason IS DISTINCT FROM 'blank')"""


def _fast_m(path: str, compressed: bool) -> str:
    fields = ", ".join(f'{sqlgen.sql_str(k)}: "{k}"' for k in sqlgen.MESSAGE_SPEC)
    est = " + ".join(f'coalesce(strlen("{k}"), 0)' for k in sqlgen.MESSAGE_SPEC) + f" + {20 * len(sqlgen.MESSAGE_SPEC)}"
    return f"""m AS (
      SELECT NULL::VARCHAR AS raw, {est} AS len, NULL::VARCHAR AS top_sent, NULL::JSON AS top_ctx,
        {{{fields}}} AS j,
        CASE WHEN batch IS NOT NULL THEN CASE WHEN starts_with(batch, '[') THEN 'batch' ELSE 'suspect' END
             WHEN "type" IS NULL AND "action" IS NULL THEN 'suspect'
             WHEN {est} > {sqlgen.MAX_PAYLOAD - 4096} THEN 'suspect'
        END AS pre_reason
      FROM {_ndjson_reader(path, compressed)}
    ), m2 AS (SELECT * FROM m)"""


def _batch_m(path: str, compressed: bool, rejects: str) -> str:
    return f"""m2 AS (
      SELECT CAST(el AS VARCHAR) AS raw, strlen(CAST(el AS VARCHAR)) AS len, top_sent, top_ctx,
        CASE WHEN starts_with(el, '{{') THEN from_json(el, {_spec_literal()}) END AS j,
        CASE WHEN NOT starts_with(el, '{{') THEN 'not_an_object' END AS pre_reason
      FROM (
        SELECT unnest(from_json(j.batch, '["JSON"]')) AS el, j.sentAt AS top_sent, j.context AS top_ctx
        FROM (SELECT try(from_json(line, {_spec_literal()})) AS j FROM {_csv_reader(path, compressed, rejects)}
              WHERE line IS NOT NULL AND contains(line, '"batch"'))
        WHERE j.batch IS NOT NULL AND starts_with(j.batch, '[')
      )
    )"""


def _stage1(con: duckdb.DuckDBPyConnection, table: str, m_cte: str, plan: Plan, opts: FactOptions) -> None:
    body = sqlgen.stage1_sql(
        plan,
        bucket_seconds=opts.bucket_seconds,
        now_epoch=opts.now_epoch,
        sample_rate=opts.sample_rate,
        property_stats=opts.property_stats,
        source="m2",
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS WITH {m_cte},\n" + body.strip().removeprefix("WITH"))


def _stage2(con: duckdb.DuckDBPyConnection, table: str) -> tuple[dict[str, pd.DataFrame], int]:
    queries = sqlgen.stage2_sql(table)
    parts = {name: con.execute(queries[name]).df() for name in PARTS}
    batches = int(con.execute(queries["batches"]).fetchone()[0])  # type: ignore[index]
    return parts, batches


def _encoding_rejects(con: duckdb.DuckDBPyConnection, rejects: str) -> pd.DataFrame:
    try:
        rows = con.execute(
            f"SELECT error_type, list(DISTINCT csv_line) FILTER (WHERE csv_line IS NOT NULL), count(DISTINCT line) "
            f"FROM {rejects} GROUP BY 1"
        ).fetchall()
    except duckdb.CatalogException:
        rows = []
    out = []
    for error_type, lines, count in rows:
        kind = str(error_type).upper()
        reason = "not_utf8" if "ENCODING" in kind else "line_too_long" if "SIZE" in kind else "invalid_json"
        out.append({"reason": reason, "n": int(count), "rejected": (lines or [])[: sqlgen.QUARANTINE_PER_REASON]})
    return pd.DataFrame(out, columns=["reason", "n", "rejected"])


def _drop(con: duckdb.DuckDBPyConnection, *tables: str) -> None:
    for t in tables:
        con.execute(f"DROP TABLE IF EXISTS {t}")


def run_facts(con: duckdb.DuckDBPyConnection, plan: Plan, path: str, compressed: bool, opts: FactOptions) -> Facts:
    """Aggregates of the whole file at ``path`` (plain or gzip)."""
    table = f"ehm_msg_{next(_counter)}"
    rejects = f"ehm_rejects_{next(_counter)}"
    try:
        try:
            _stage1(con, table, _fast_m(path, compressed), plan, opts)
            parts, batches = _stage2(con, table)
            reader = "fast"
            if not parts["rejects"].empty:
                raise LookupError("suspect rows: read exactly")
        except (duckdb.Error, LookupError):
            _stage1(con, table, _exact_m(path, compressed, rejects), plan, opts)
            parts, batches = _stage2(con, table)
            enc = _encoding_rejects(con, rejects)
            if not enc.empty:
                parts["rejects"] = pd.concat([parts["rejects"], enc], ignore_index=True)
            reader = "exact"
        facts = Facts(parts, reader)
        if batches:
            _stage1(con, table, _batch_m(path, compressed, rejects), plan, opts)
            facts.extend(Facts(_stage2(con, table)[0]))
        return facts
    finally:
        _drop(con, table, rejects, f"{rejects}_scan")
