"""Turns the hot path's aggregates (:class:`~monitors.ingest.columnar.Facts`) into an
:class:`~storage.batch.IngestBatch`: sketches decoded from lists, JSON structures expanded into
per-property type counts, samples redacted. Pure: no I/O."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from monitors.ingest.columnar import Facts
from monitors.ingest.sqlgen import NEGATIVE_BIN, SEP
from monitors.redact import redact_line
from monitors.sketch import HLL, ZERO_BIN, LatencySketch
from storage.batch import IngestBatch, MetricDelta

_STRUCT_TYPES = {"VARCHAR", "BOOLEAN", "BIGINT", "UBIGINT", "DOUBLE", "NULL", "JSON"}


def structure_types(structure: str) -> list[tuple[str, str]]:
    """(property, JSON type) pairs of a DuckDB ``json_structure`` string; array items as ``key[].sub``."""
    try:
        parsed = json.loads(structure)
    except ValueError:
        return []
    if not isinstance(parsed, dict):
        return []
    out: list[tuple[str, str]] = []
    for key, value in parsed.items():
        out.append((key, _type_name(value)))
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out.extend((f"{key}[].{sub}", _type_name(v)) for sub, v in value[0].items())
    return out


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "OBJECT"
    if isinstance(value, list):
        return "ARRAY"
    name = str(value)
    if name == "UBIGINT":
        return "BIGINT"
    return name if name in _STRUCT_TYPES else "JSON"


def _key(row: Any) -> tuple[str, str, int]:
    return str(row.event), str(row.msg_type), int(row.bucket)


def _metrics(batch: IngestBatch, parts: dict[str, pd.DataFrame]) -> None:
    for row in parts["main"].itertuples(index=False):
        d = batch.metrics.setdefault(_key(row), MetricDelta())
        d.count += int(row.n)
        d.checked += int(row.checked)
        d.conforming += int(row.conforming)
        d.identified += int(row.identified)
    for row in parts["hll"].itertuples(index=False):
        d = batch.metrics.setdefault(_key(row), MetricDelta())
        d.users.merge(HLL({int(i): int(r) for i, r in zip(row.idx, row.ranks, strict=True)}))


def _latency(batch: IngestBatch, parts: dict[str, pd.DataFrame]) -> None:
    for row in parts["latency"].itertuples(index=False):
        bins: dict[int, int] = {}
        negative = 0
        for b, c in zip(row.bins, row.counts, strict=True):
            b, c = int(b), int(c)
            if b == NEGATIVE_BIN:
                negative += c
                b = ZERO_BIN
            bins[b] = bins.get(b, 0) + c
        event, msg_type, bucket = _key(row)
        key = (event, msg_type, bucket, str(row.hop))
        sk = batch.latency.get(key)
        batch.latency[key] = LatencySketch(bins) if sk is None else sk.merge(LatencySketch(bins))
        if negative:
            vkey = (event, msg_type, bucket, "negative_latency", str(row.hop))
            batch.violations[vkey] = batch.violations.get(vkey, 0) + negative


def _violations(batch: IngestBatch, parts: dict[str, pd.DataFrame]) -> None:
    for row in parts["viols"].itertuples(index=False):
        vtype, _, prop = str(row.v).partition(SEP)
        key = (*_key(row), vtype, prop)
        batch.violations[key] = batch.violations.get(key, 0) + int(row.n)
    for row in parts["vsamples"].itertuples(index=False):
        vtype, _, prop = str(row.v).partition(SEP)
        key2 = (str(row.event), str(row.msg_type), vtype, prop)
        samples = [redact_line(s) for s in (row.samples if row.samples is not None else [])]
        old = batch.vsamples.get(key2)
        if old is None or int(row.bucket) >= old[0]:
            batch.vsamples[key2] = (int(row.bucket), samples[:3])


def _props(batch: IngestBatch, parts: dict[str, pd.DataFrame]) -> None:
    cache: dict[str, list[tuple[str, str]]] = {}
    for row in parts["props"].itertuples(index=False):
        sig = str(row.ksig)
        pairs = cache.get(sig)
        if pairs is None:
            pairs = cache[sig] = structure_types(sig)
        for prop, jtype in pairs:
            key = (*_key(row), prop[:255], jtype)
            batch.props[key] = batch.props.get(key, 0) + int(row.n)


def _rejects(batch: IngestBatch, parts: dict[str, pd.DataFrame]) -> None:
    for row in parts["rejects"].itertuples(index=False):
        reason = str(row.reason)
        batch.rejects[reason] = batch.rejects.get(reason, 0) + int(row.n)
        lines = [str(x) for x in (row.rejected if row.rejected is not None else [])]
        kept = batch.reject_samples.setdefault(reason, [])
        kept.extend(redact_line(x) for x in lines[: max(0, 3 - len(kept))])
        batch.quarantine.extend((reason, x) for x in lines)


def to_batch(facts: Facts, *, source: str, environment: str, sample_rate: float, file: str) -> IngestBatch:
    """The batch of deltas for one read of one file."""
    batch = IngestBatch(source=source, environment=environment, sample_rate=sample_rate, file=file)
    _metrics(batch, facts.parts)
    _latency(batch, facts.parts)
    _violations(batch, facts.parts)
    _props(batch, facts.parts)
    _rejects(batch, facts.parts)
    return batch
