"""Turns the hot path's aggregates (:class:`~monitors.ingest.columnar.Facts`) into an
:class:`~storage.batch.IngestBatch`: the plan's verdict per combination, sketches decoded from
lists, samples redacted. Pure: no I/O."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitors.ingest.columnar import Facts
from monitors.ingest.conformance import Evaluator
from monitors.ingest.sqlgen import HLL_KINDS, NEGATIVE_BIN
from monitors.redact import redact_line
from monitors.sketch import ZERO_BIN, LatencySketch
from storage.batch import IngestBatch, MetricDelta


def _key(row: object) -> tuple[str, str, int]:
    return str(row.event), str(row.msg_type), int(row.bucket)  # type: ignore[attr-defined]


def _add(d: dict[tuple[object, ...], int], key: tuple[object, ...], n: int) -> None:
    d[key] = d.get(key, 0) + n


def _main(batch: IngestBatch, parts: dict[str, pd.DataFrame], ev: Evaluator) -> None:
    tcs = [c for c in parts["main"].columns if c.startswith("tc")]
    for row in parts["main"].itertuples(index=False):
        key = _key(row)
        n = int(row.n)
        flags = int(row.flags)
        codes = tuple(int(getattr(row, t)) for t in tcs)
        verdict = ev.verdict(key[0], key[1], flags, codes, int(row.nkeys))
        d = batch.metrics.setdefault(key, MetricDelta())
        d.count += n
        d.identified += n if flags & 1 else 0
        d.checked += n if verdict.checked else 0
        d.conforming += n if verdict.conforming else 0
        for vtype, prop in verdict.violations:
            _add(batch.violations, (*key, vtype, prop), n)  # type: ignore[arg-type]
        for signal in verdict.leaks:
            _add(batch.violations, (*key, "leak", signal), n)  # type: ignore[arg-type]
        if verdict.leaks:
            _add(batch.violations, (*key, "leak", ""), n)  # type: ignore[arg-type]
        for prop, jtype in verdict.props:
            _add(batch.props, (*key, prop, jtype), n)  # type: ignore[arg-type]


def _sketches(batch: IngestBatch, facts: Facts) -> None:
    for keys, sk in facts.sketches:
        for g, key in enumerate(keys):
            d = batch.metrics.setdefault(key, MetricDelta())
            targets = {"users": d.users, "u": d.uids, "a": d.anon_only, "l": d.linked}
            for kind in HLL_KINDS:
                np.maximum(targets[kind].regs, sk.registers[kind][g], out=targets[kind].regs)
        for (g, hop), (bins, counts) in sk.latency.items():
            event, msg_type, bucket = keys[g]
            negative = bins == NEGATIVE_BIN
            if negative.any():  # negative latencies (clock skew) count in the zero bin, and as a violation
                n_neg = int(counts[negative].sum())
                _add(batch.violations, (event, msg_type, bucket, "negative_latency", hop), n_neg)  # type: ignore[arg-type]
                bins, counts = bins[~negative], counts[~negative].copy()
                if bins.size and bins[0] == ZERO_BIN:  # the lowest bin there is
                    counts[0] += n_neg
                else:
                    bins, counts = np.r_[ZERO_BIN, bins], np.r_[n_neg, counts]
            lkey = (event, msg_type, bucket, hop)
            new = LatencySketch.from_arrays(bins, counts)
            old = batch.latency.get(lkey)
            batch.latency[lkey] = new if old is None else LatencySketch.total([old, new])


def _combined_samples(frame: pd.DataFrame, tcs: list[str]) -> list[tuple[tuple[object, ...], int, list[str]]]:
    """Per combination: (key, newest bucket, its three samples), whatever parts the input was read
    in (the three with the largest (sample hash, text hash), as one read of the whole input picks),
    in an order that depends on the data only."""
    best: dict[tuple[object, ...], tuple[int, list[tuple[int, int, str]]]] = {}
    for row in frame.itertuples(index=False):
        key = (str(row.event), str(row.msg_type), int(row.flags), *(int(getattr(row, t)) for t in tcs), int(row.nkeys))
        texts = list(row.samples) if row.samples is not None else []
        shs = list(row.shs) if row.shs is not None else []
        phs = list(row.phs) if row.phs is not None else []
        picks = [(int(a), int(b), str(t)) for a, b, t in zip(shs, phs, texts, strict=False)]
        bucket = int(row.bucket)
        old = best.get(key)
        if old is not None:
            bucket, picks = max(bucket, old[0]), old[1] + picks
        best[key] = (bucket, sorted(set(picks), reverse=True)[:3])
    ordered = sorted(best.items(), key=lambda kv: (-kv[1][0], [(-p[0], -p[1]) for p in kv[1][1]], str(kv[0])))
    return [(key, bucket, [p[2] for p in picks]) for key, (bucket, picks) in ordered]


def _samples(batch: IngestBatch, parts: dict[str, pd.DataFrame], ev: Evaluator) -> None:
    frame = parts.get("samples")
    if frame is None or frame.empty:
        return
    tcs = [c for c in frame.columns if c.startswith("tc")]
    for key, bucket, texts in _combined_samples(frame, tcs):
        event, msg_type, flags = str(key[0]), str(key[1]), int(key[2])  # type: ignore[call-overload]
        codes = tuple(int(c) for c in key[3:-1])  # type: ignore[call-overload]
        verdict = ev.verdict(event, msg_type, flags, codes, int(key[-1]))  # type: ignore[call-overload]
        samples = [redact_line(s) for s in texts]
        for vtype, prop in (*verdict.violations, *(("leak", s) for s in verdict.leaks)):
            vkey = (event, msg_type, vtype, prop)
            old = batch.vsamples.get(vkey)
            if old is None or bucket > old[0] or len(old[1]) < 3:
                merged = samples if old is None or bucket > old[0] else (old[1] + samples)[:3]
                batch.vsamples[vkey] = (max(bucket, old[0] if old else 0), merged)


def _extra_keys(batch: IngestBatch, parts: dict[str, pd.DataFrame]) -> None:
    frame = parts.get("extra_keys")
    if frame is None:
        return
    for row in frame.itertuples(index=False):
        jtype = "BIGINT" if str(row.jtype) == "UBIGINT" else str(row.jtype)
        _add(batch.props, (*_key(row), str(row.key)[:255], jtype), int(row.n))  # type: ignore[arg-type]


def _rejects(batch: IngestBatch, parts: dict[str, pd.DataFrame]) -> None:
    frame = parts["rejects"]
    if not frame.empty:  # by reason: the quarantine's order does not depend on DuckDB's group order
        frame = frame.sort_values("reason", kind="stable")
    for row in frame.itertuples(index=False):
        reason = str(row.reason)
        batch.rejects[reason] = batch.rejects.get(reason, 0) + int(row.n)
        lines = [str(x) for x in (row.rejected if row.rejected is not None else [])]
        kept = batch.reject_samples.setdefault(reason, [])
        kept.extend(redact_line(x) for x in lines[: max(0, 3 - len(kept))])
        batch.quarantine.extend((reason, x) for x in lines)


def to_batch(facts: Facts, ev: Evaluator, *, source: str, environment: str, sample_rate: float, file: str) -> IngestBatch:
    """The batch of deltas for one read of one file."""
    batch = IngestBatch(source=source, environment=environment, sample_rate=sample_rate, file=file)
    _main(batch, facts.parts, ev)
    _sketches(batch, facts)
    _samples(batch, facts.parts, ev)
    _extra_keys(batch, facts.parts)
    _rejects(batch, facts.parts)
    return batch
