"""Runs the DuckDB hot path over one input file and returns its aggregates.

Stage 1 writes the narrow numeric row of every message (:func:`sqlgen.lean_sql`) to a temp table,
read by the fast source when the input is clean and by the exact source otherwise (results never
depend on which one ran). The same pass keeps a few samples of each combination that violates
the plan (:mod:`monitors.ingest.samples`) and lists the keys outside the plan, so no input is
read twice. Stage 2 runs small group-bys over the table.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import duckdb
import numpy as np
import pandas as pd
from duckdb.func import FunctionNullHandling, PythonUDFType

from monitors.ingest import names, native, rows, sqlgen
from monitors.ingest.conformance import Evaluator
from monitors.ingest.leakage import LeakageConfig
from monitors.ingest.samples import SampleKeeper
from monitors.ingest.sketches import Accumulator, GroupSketches
from monitors.plan import Plan

MAX_LINE = 16 * 1024 * 1024
SKETCH_BATCH_ROWS = 262_144  # rows per record batch handed to numpy (bounds memory on big inputs)
PIECE_BYTES = 8 << 20  # deferred lines per DuckDB read, when they are wide (see _Pieces)
WIDE_LINE = 4096  # average bytes per line above which 2,048 lines would hold more than PIECE_BYTES
_counter = itertools.count()


@dataclass(frozen=True)
class FactOptions:
    """What the hot path needs besides the plan."""

    bucket_seconds: int
    now_epoch: float
    sample_rate: float = 1.0
    property_stats: bool = True
    leakage: LeakageConfig | None = None
    # the event-name budget (see monitors.ingest.names): the native scanner stops past max_names
    # distinct track names (0: no limit); with ``admitted``, other track names count as OVERFLOW_NAME
    max_names: int = 0
    admitted: tuple[str, ...] | None = None


@dataclass
class Facts:
    """Aggregates of one input: one DataFrame per part, and the sketches per (event, type, bucket)."""

    parts: dict[str, pd.DataFrame] = field(default_factory=dict)
    reader: str = "fast"
    sketches: list[tuple[list[tuple[str, str, int]], GroupSketches]] = field(default_factory=list)
    end: int | None = None  # a native read that stopped before the end of its range: where (see native.MAX_GROUPS)

    def extend(self, other: Facts) -> None:
        """Append another input's parts (they are added up when merged into a batch)."""
        for name, frame in other.parts.items():
            mine = self.parts.get(name)
            self.parts[name] = frame if mine is None or mine.empty else pd.concat([mine, frame], ignore_index=True)
        self.sketches.extend(other.sketches)


# DuckDB's JSON parser accepts what RFC 8259 does not (and Customer.io refuses): trailing commas
# and NaN / Infinity. A line with either spelling outside its strings is invalid_json; the pattern
# finds candidates cheaply (it also matches such text inside strings), the strict parse decides.
LENIENT_JSON = r"(,[ \t\r]*[\]}])|([:\[,][ \t\r]*[-+]?(?i:nan|inf))"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(line: str) -> bool:
    """Whether ``line`` is one JSON value as RFC 8259 spells it (no trailing commas, no NaN)."""
    try:
        json.loads(line, parse_constant=_refuse_constant)
    except ValueError:
        return False
    except RecursionError:  # deeper than Python parses: DuckDB's call
        return True
    return True


# The spellings serializers produce (Python's NaN / Infinity, a template's ", }"): plain substring
# tests pick the candidate lines cheaply; the pattern and then a strict parse decide. (Lowercase
# nan / inf, which DuckDB also takes and no common serializer writes, are not looked for.)
_LENIENT_HINTS = (",}", ",]", ", }", ", ]", "NaN", "nfinity")


def _lenient_where(line: str) -> str:
    hints = " OR ".join(f"contains({line}, {sqlgen.sql_str(h)})" for h in _LENIENT_HINTS)
    return f"({hints}) AND regexp_matches({line}, {sqlgen.sql_str(LENIENT_JSON)})"


def _in_lenient(line: str, table: str | None) -> str:
    """SQL: the line is one of the lenient lines found in ``table`` (none: false)."""
    return f"({line} IN (SELECT line FROM {table}))" if table else "false"


def connect(memory_limit: str = "512MB", threads: int | None = None, temp_dir: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for streaming aggregation in UTC with bounded memory (spills to disk)."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        "threads": threads or (os.cpu_count() or 2),
    }
    if temp_dir:
        config["temp_directory"] = temp_dir
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    con.execute(sqlgen.MACROS)
    con.create_function("ehm_surrogates", sqlgen.replace_lone_surrogates, ["VARCHAR"], "VARCHAR", side_effects=False)
    return con


def _spec(spec: dict[str, str]) -> str:
    return sqlgen.sql_str(json.dumps(spec))


def _compression(compressed: bool) -> str:
    return "'gzip'" if compressed else "'none'"


_NUL_HOLE = "CASE WHEN starts_with(line, chr(0)) AND ltrim(line, chr(0)) <> '' THEN ltrim(line, chr(0)) ELSE line END"


def _csv_reader(path: str, compressed: bool, rejects: str) -> str:
    """The raw lines of a file. NUL bytes that start a line are dropped: the hole a ``copytruncate``
    leaves when the writer keeps its offset (the next line lands after the zeros, and was sent). A
    line of nothing but NULs (blocks a crash zeroed) stays as it is: ``invalid_json``."""
    return (
        f"(SELECT {_NUL_HOLE} AS line FROM "
        f"read_csv({sqlgen.sql_str(path)}, columns = {{'line': 'VARCHAR'}}, delim = '\x01', quote = '', escape = '', "
        f"header = false, auto_detect = false, strict_mode = false, new_line = '\\n', ignore_errors = true, "
        f"store_rejects = true, rejects_table = '{rejects}', rejects_scan = '{rejects}_scan', "
        f"max_line_size = {MAX_LINE}, compression = {_compression(compressed)}))"
    )


def _ndjson_reader(path: str, compressed: bool) -> str:
    cols = ", ".join(f"{sqlgen.sql_str(k)}: {sqlgen.sql_str(v)}" for k, v in sqlgen.FAST_SPEC.items())
    return (
        f"read_ndjson({sqlgen.sql_str(path)}, columns = {{{cols}}}, format = 'newline_delimited', "
        f"maximum_object_size = {MAX_LINE}, compression = {_compression(compressed)})"
    )


def _exact_m(path: str, compressed: bool, rejects: str, lenient: str | None = None) -> str:
    ws = "' ' || chr(9) || chr(13)"
    return f"""(
      SELECT * FROM (
        SELECT line AS raw, strlen(line) AS len, NULL::VARCHAR AS top_sent, NULL::JSON AS top_ctx, j,
          CASE WHEN j IS NULL THEN CASE WHEN regexp_full_match(line, '\\s*') THEN 'blank'
                                        WHEN trim(line, {ws}) = 'null' THEN 'not_an_object' ELSE 'invalid_json' END
               WHEN {_in_lenient("line", lenient)} THEN 'invalid_json'
               WHEN NOT starts_with(ltrim(line, {ws}), '{{') THEN 'not_an_object'
               WHEN j.batch IS NOT NULL THEN CASE WHEN starts_with(CAST(j.batch AS VARCHAR), '[') THEN 'batch' ELSE 'bad_batch' END
               WHEN j."type" IS NULL AND j.action IS NULL AND contains(line, '"batch"')
                    AND json_exists(line, '$.batch') THEN 'bad_batch'  -- "batch": null
          END AS pre_reason
        FROM (SELECT line, {sqlgen.parse_json('line', _spec(sqlgen.MESSAGE_SPEC))} AS j
              FROM {_csv_reader(path, compressed, rejects)} WHERE line IS NOT NULL)
      ) WHERE pre_reason IS DISTINCT FROM 'blank')"""


def _batch_m(path: str, compressed: bool, rejects: str, lenient: str | None = None) -> str:
    return f"""(
      SELECT CAST(el AS VARCHAR) AS raw, strlen(CAST(el AS VARCHAR)) AS len, top_sent, top_ctx,
        CASE WHEN starts_with(CAST(el AS VARCHAR), '{{') THEN from_json(el, {_spec(sqlgen.MESSAGE_SPEC)}) END AS j,
        CASE WHEN NOT starts_with(CAST(el AS VARCHAR), '{{') THEN 'not_an_object' END AS pre_reason
      FROM (
        SELECT unnest(from_json(j.batch, '["JSON"]')) AS el, j.sentAt AS top_sent, j.context AS top_ctx
        FROM (SELECT {sqlgen.parse_json('line', _spec(sqlgen.MESSAGE_SPEC))} AS j FROM {_csv_reader(path, compressed, rejects)}
              WHERE line IS NOT NULL AND contains(line, '"batch"') AND NOT {_in_lenient("line", lenient)})
        WHERE j.batch IS NOT NULL AND starts_with(CAST(j.batch AS VARCHAR), '[')
      ))"""


@dataclass
class _Input:
    path: str
    compressed: bool
    rejects: str
    lenient: str | None = None  # a table of the lines DuckDB parses but JSON does not allow (see find_lenient)

    def rows(self, mode: str) -> str:
        if mode == "fast":
            return rows.fast_rows(_ndjson_reader(self.path, self.compressed))
        make = _exact_m if mode == "exact" else _batch_m
        return rows.exact_rows(make(self.path, self.compressed, self.rejects, self.lenient))

    def find_lenient(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Look for lines DuckDB would parse but RFC 8259 does not allow (one pass over the raw
        lines: substring hints, then the pattern, then a strict parse of the few left); when some
        are found, they go in a table the exact reader refuses them by. Returns whether any were."""
        reader = _csv_reader(self.path, self.compressed, f"{self.rejects}_lenient")
        try:
            found = con.execute(f"SELECT DISTINCT line FROM {reader} WHERE line IS NOT NULL AND {_lenient_where('line')}").fetchall()
        finally:
            for t in (f"{self.rejects}_lenient", f"{self.rejects}_lenient_scan"):
                con.execute(f"DROP TABLE IF EXISTS {t}")
        bad = [line for (line,) in found if not strict_json(line)]
        if not bad:
            return False
        self.lenient = f"{self.rejects}_bad_json"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {self.lenient} (line VARCHAR)")
        con.executemany(f"INSERT INTO {self.lenient} VALUES (?)", [[line] for line in bad])
        return True


class _Run:
    def __init__(self, con: duckdb.DuckDBPyConnection, plan: Plan, opts: FactOptions, evaluator: Evaluator) -> None:
        self.con, self.plan, self.opts, self.ev = con, plan, opts, evaluator
        self.n_codes = evaluator.layout.n_codes
        self.tcs = [f"tc{c}" for c in range(self.n_codes)]

    def lean(self, rows: str) -> str:
        if self.opts.admitted is not None:
            rows = names.overflow_rows(self.con, rows, self.opts.admitted)
        return sqlgen.lean_sql(self.plan, bucket_seconds=self.opts.bucket_seconds, now_epoch=self.opts.now_epoch,
                               sample_rate=self.opts.sample_rate, source=f"({rows})", leakage=self.opts.leakage,
                               property_stats=self.opts.property_stats)  # fmt: skip

    def stage(self, inp: _Input, mode: str, table: str) -> tuple[Facts, dict[str, int]]:
        keeper = f"{table}_keep"
        udf = SampleKeeper(self.ev)
        self.con.create_function(keeper, udf.function(), list(udf.parameters()), "UBIGINT", type=PythonUDFType.ARROW,
                                 null_handling=FunctionNullHandling.SPECIAL, side_effects=True)  # fmt: skip
        try:
            lean = sqlgen.with_samples(self.lean(inp.rows(mode)), keeper, self.n_codes, rows.SAMPLE_JSON[mode])
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {lean}")
        finally:
            self.con.remove_function(keeper)
        if self.opts.max_names > 0 and self.opts.admitted is None:  # the budget's guard, before any sketch
            (n,) = self.con.execute(f"SELECT count(DISTINCT event) FROM {table} WHERE reason IS NULL AND msg_type = 'track'"
                                    ).fetchone() or (0,)  # fmt: skip
            if n > self.opts.max_names:
                raise native.TooManyNames(f"over {self.opts.max_names} distinct event names")
        queries = sqlgen.stage2_sql(table, self.n_codes)
        queries["samples"] = sqlgen.samples_sql(table, self.n_codes)
        if self.opts.property_stats:
            queries["extra_keys"] = sqlgen.extra_keys_sql(table)
        parts = {name: self.con.execute(q).df() for name, q in queries.items() if name != "control"}
        parts["samples"] = self._sample_buckets(parts["samples"], parts["main"])
        control = self.con.execute(queries["control"]).df().iloc[0].to_dict()
        facts = Facts(parts, mode)
        if not control.get("suspect"):
            facts.sketches.append(self._sketches(table, parts["main"]))
        return facts, {k: int(v or 0) for k, v in control.items()}

    def _sample_buckets(self, samples: pd.DataFrame, main: pd.DataFrame) -> pd.DataFrame:
        """Each sampled combination with the newest bucket it was seen in."""
        cols = ["event", "msg_type", "flags", *self.tcs, "nkeys"]
        newest = main.groupby(cols, as_index=False, dropna=False)["bucket"].max()
        return samples.merge(newest, on=cols, how="left")

    def _sketches(self, table: str, main: pd.DataFrame) -> tuple[list[tuple[str, str, int]], GroupSketches]:
        """Latency and user sketches per (event, type, bucket) of the rows in ``table``."""
        groups = main[["ek", "bucket", "event", "msg_type"]].drop_duplicates(["ek", "bucket"], ignore_index=True)
        groups["g"] = np.arange(len(groups), dtype=np.int32)
        keys = list(zip(groups["event"].astype(str).tolist(), groups["msg_type"].astype(str).tolist(),
                        groups["bucket"].astype(np.int64).tolist(), strict=True))
        name = f"{table}_groups"
        self.con.register(name, groups[["ek", "bucket", "g"]])
        try:
            reader = self.con.sql(sqlgen.sketch_rows_sql(table, name)).to_arrow_reader(SKETCH_BATCH_ROWS)
            try:
                return keys, Accumulator(len(groups)).add_all(reader)
            finally:
                reader.close()
        finally:
            self.con.unregister(name)


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
        # csv_line holds any blank lines before the line; sorted once they are gone, so that the
        # order (and the three samples) depends on the lines only
        kept = sorted({str(x).lstrip("\r\n") for x in (lines or [])})[: sqlgen.QUARANTINE_PER_REASON]
        out.append({"reason": reason, "n": int(count), "rejected": kept})
    return pd.DataFrame(out, columns=["reason", "n", "rejected"])


def native_reader(con: duckdb.DuckDBPyConnection, plan: Plan, opts: FactOptions, evaluator: Evaluator) -> native.NativeReader:
    """A native reader for the ranges of one file (close it after the last one)."""
    return native.NativeReader(con, plan, evaluator, bucket_seconds=opts.bucket_seconds, now_epoch=opts.now_epoch,
                               leakage=opts.leakage, property_stats=opts.property_stats, max_names=opts.max_names,
                               admitted=opts.admitted)  # fmt: skip


def run_native(
    con: duckdb.DuckDBPyConnection, plan: Plan, reader: native.NativeReader, path: str, start: int, end: int,
    opts: FactOptions, evaluator: Evaluator, tmp_dir: str,
) -> Facts:
    """Aggregates of bytes ``[start, end)`` of the plain file at ``path``: the native scanner reads
    the clean single messages, DuckDB (:func:`run_facts`) the lines it leaves (:mod:`monitors.ingest.native`),
    in pieces that bound DuckDB's memory (:class:`_Pieces`)."""
    pieces = _Pieces(tmp_dir)
    try:
        result = reader.read(path, start, end, pieces.write)
        pieces.close()
        facts = Facts(result.parts, "native", result.sketches, result.end)
        for piece in pieces.paths:
            rest = run_facts(con, plan, piece, False, opts, evaluator, exact=True)
            facts.extend(rest)
            facts.reader = f"native+{rest.reader}"
        return facts
    finally:
        pieces.close()
        for piece in pieces.paths:
            if os.path.exists(piece):
                os.unlink(piece)


def run_facts_bounded(
    con: duckdb.DuckDBPyConnection, plan: Plan, path: str, compressed: bool, opts: FactOptions, evaluator: Evaluator,
    tmp_dir: str,
) -> Facts:
    """:func:`run_facts` of a whole file (the path without the native scanner), in pieces of at most
    :data:`PIECE_BYTES` when its lines are wide (judged on its first 4 MB): wide lines, such as
    Pipelines batch bodies, would exhaust DuckDB's memory in one query (see :class:`_Pieces`)."""
    opener = gzip.open if compressed else open
    with opener(path, "rb") as fh:
        head = fh.read(4 << 20)
    if len(head) <= WIDE_LINE * max(1, head.count(b"\n")):
        return run_facts(con, plan, path, compressed, opts, evaluator)
    pieces = _Pieces(tmp_dir)
    try:
        with opener(path, "rb") as fh:
            rest = b""
            while block := fh.read(1 << 20):
                block = rest + block
                cut = block.rfind(b"\n") + 1
                if cut:
                    pieces.write(block[:cut])
                rest = block[cut:]
            if rest:
                pieces.write(rest)
        pieces.close()
        facts: Facts | None = None
        for piece in pieces.paths:
            part = run_facts(con, plan, piece, False, opts, evaluator)
            if facts is None:
                facts = part
            else:
                facts.extend(part)
        return facts if facts is not None else run_facts(con, plan, path, compressed, opts, evaluator)
    finally:
        pieces.close()
        for piece in pieces.paths:
            if os.path.exists(piece):
                os.unlink(piece)


class _Pieces:
    """The lines the native scanner leaves, written to files of at most :data:`PIECE_BYTES` when
    they are wide (over :data:`WIDE_LINE` bytes on average): DuckDB reads 2,048 lines at a time and
    its JSON functions hold several copies of each, so 2,048 lines of 30 KB exhausted its 512 MB
    (narrow lines stay in one file: a query per piece costs tens of milliseconds)."""

    def __init__(self, tmp_dir: str) -> None:
        self.tmp_dir = tmp_dir
        self.paths: list[str] = []
        self.fh: BinaryIO | None = None
        self.bytes = self.lines = 0

    def write(self, block: bytes) -> None:
        """Lines (each ending in ``\\n``), as the native reader hands them over."""
        n = block.count(b"\n")
        if self.fh is None:
            self._next()
        if len(block) <= WIDE_LINE * max(1, n) and self.bytes <= self.lines * WIDE_LINE:  # narrow: as it is
            self._put(block, n)
            return
        at = 0
        while at < len(block):
            nl = block.find(b"\n", at)
            end = len(block) if nl < 0 else nl + 1
            if self.bytes >= PIECE_BYTES and self.bytes > self.lines * WIDE_LINE:
                self._next()
            self._put(block[at:end], 1 if nl >= 0 else 0)
            at = end

    def _put(self, data: bytes, lines: int) -> None:
        assert self.fh is not None
        self.fh.write(data)
        self.bytes += len(data)
        self.lines += lines

    def _next(self) -> None:
        self.close()
        self.paths.append(os.path.join(self.tmp_dir, f"deferred-{os.getpid()}-{next(_counter)}.jsonl"))
        self.fh = open(self.paths[-1], "wb")  # noqa: SIM115 (closed by close())
        self.bytes = self.lines = 0

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def run_facts(
    con: duckdb.DuckDBPyConnection, plan: Plan, path: str, compressed: bool, opts: FactOptions, evaluator: Evaluator | None = None,
    *, exact: bool = False,
) -> Facts:
    """Aggregates of the whole file at ``path`` (plain or gzip); ``exact``: with the exact reader
    straight away (raw lines as samples, as the native scanner keeps)."""
    n = next(_counter)
    inp = _Input(path, compressed, f"ehm_rejects_{n}")
    table = f"ehm_msg_{n}"
    run = _Run(con, plan, opts, evaluator or Evaluator(plan))
    try:
        try:
            lenient = inp.find_lenient(con)
            if exact:
                raise LookupError("exact reader asked for")
            if lenient:  # the fast reader sees no raw line to refuse
                raise LookupError("lines DuckDB parses but JSON does not allow")
            facts, control = run.stage(inp, "fast", table)
            if control["suspect"]:
                raise LookupError("suspect rows")
        except (duckdb.Error, LookupError):
            facts, control = run.stage(inp, "exact", table)
            enc = _encoding_rejects(con, inp.rejects)
            if not enc.empty:
                facts.parts["rejects"] = pd.concat([facts.parts["rejects"], enc], ignore_index=True)
        if control["batches"]:
            batch, _ = run.stage(inp, "batch", table)
            facts.extend(batch)
        return facts
    finally:
        for t in (table, inp.rejects, f"{inp.rejects}_scan", f"{inp.rejects}_bad_json"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
