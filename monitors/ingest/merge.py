"""Turns the hot path's aggregates (:class:`~monitors.ingest.columnar.Facts`) into an
:class:`~storage.batch.IngestBatch`: the plan's verdict per combination, sketches decoded from
lists, samples redacted. Pure: no I/O."""

from __future__ import annotations

import hashlib
import importlib
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from monitors.ingest.columnar import Facts
from monitors.ingest.conformance import Evaluator
from monitors.ingest.propkeys import MAX_KEY_CHARS, KeyBudget, PropKey
from monitors.ingest.sqlgen import HLL_KINDS, HOPS, NEGATIVE_BIN, QUARANTINE_PER_REASON
from monitors.redact import redact_line
from monitors.sketch import HLL, HLL_M, ZERO_BIN, group_bins
from storage.batch import IngestBatch, MetricDelta

K = TypeVar("K")

try:  # DuckDB's string hash (the native module's copy), to cap the quarantine as DuckDB picks it
    _native: Any = importlib.import_module("monitors.ingest._scan")
    _hash_str: Any = _native.hash_str
except ImportError:
    _native = _hash_str = None


def _add(d: dict[K, int], key: K, n: int) -> None:
    d[key] = d.get(key, 0) + n


def _main(batch: IngestBatch, parts: dict[str, pd.DataFrame], ev: Evaluator) -> None:
    frame = parts["main"]
    if frame.empty:
        return
    tcs = [c for c in frame.columns if c.startswith("tc")]
    columns = [frame[c].tolist() for c in ("event", "msg_type", "bucket", "n", "flags", "nkeys", *tcs)]
    width = len(tcs)
    for event, msg_type, bucket, n, flags, nkeys, *tc in zip(*columns, strict=True):
        key = (str(event), str(msg_type), int(bucket))
        n, flags = int(n), int(flags)
        verdict = ev.verdict(key[0], key[1], flags, tuple(int(c) for c in tc) if width else (), int(nkeys))
        d = batch.metrics.get(key)
        if d is None:
            d = batch.metrics[key] = MetricDelta()
        d.count += n
        d.identified += n if flags & 1 else 0
        d.checked += n if verdict.checked else 0
        d.conforming += n if verdict.conforming else 0
        for vtype, prop in verdict.violations:
            _add(batch.violations, (*key, vtype, prop), n)
        for signal in verdict.leaks:
            _add(batch.violations, (*key, "leak", signal), n)
        if verdict.leaks:
            _add(batch.violations, (*key, "leak", ""), n)
        for prop, jtype in verdict.props:
            _add(batch.props, (*key, prop, jtype), n)


def _max_rows(out: np.ndarray, rows: np.ndarray, src: np.ndarray) -> None:
    """``out[rows[i]] = max(out[rows[i]], src[i])`` (``rows`` distinct): in one pass with the
    native module, else with numpy (a gather, a maximum and a scatter)."""
    if _native is not None and src.strides[-1] == 1:
        _native.max_rows(out, rows, src)
    else:
        out[rows] = np.maximum(out[rows], src)


def _registers(facts: Facts, maps: list[np.ndarray], n_keys: int) -> dict[str, np.ndarray]:
    """Per HLL kind, the registers of the ``n_keys`` groups, every part merged (``maps[p]``: the
    key index of each group of part ``p``)."""
    parts = [sk for _, sk in facts.sketches]
    if len(parts) == 1:  # one part (one scanner thread): its registers as they are, no copy
        return {kind: parts[0].registers[kind] for kind in HLL_KINDS}
    regs = {}
    first = len(maps[0])
    for kind in HLL_KINDS:
        # the first part's groups are the first keys, in order: copied (written once, not read and
        # then written: fresh pages would fault twice); the other parts are merged into them
        out = np.empty((n_keys, HLL_M), dtype=np.uint8)
        out[:first] = parts[0].registers[kind]
        out[first:] = 0
        for m, sk in zip(maps[1:], parts[1:], strict=True):
            if m.size:
                _max_rows(out, m, sk.registers[kind])
        regs[kind] = out
    return regs


def _sketches(batch: IngestBatch, facts: Facts) -> None:
    """The sketches of every part merged per (event, type, bucket), in whole arrays: registers by
    element-wise maximum, latency bins by adding counts, into a fresh batch (the first thing
    :func:`to_batch` fills). The batch's HLLs and latency sketches are views of those arrays (one
    allocation per kind, not one per bucket)."""
    if not facts.sketches:
        return
    index: dict[tuple[str, str, int], int] = {}
    maps = [np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64, count=len(keys))
            for keys, _ in facts.sketches]  # fmt: skip
    assert not maps[0].size or maps[0][-1] == maps[0].size - 1  # a part's groups are distinct
    keys = list(index)
    regs = _registers(facts, maps, len(keys))
    for i, key in enumerate(keys):
        batch.metrics[key] = MetricDelta(0, 0, 0, 0, *(HLL.wrap(regs[kind][i]) for kind in HLL_KINDS))
    gh = np.concatenate([m[sk.lat_gh >> 2] * 4 + (sk.lat_gh & 3) for m, (_, sk) in zip(maps, facts.sketches, strict=True)])
    if not gh.size:
        return
    bins = np.concatenate([sk.lat_bins for _, sk in facts.sketches])
    counts = np.concatenate([sk.lat_counts for _, sk in facts.sketches])
    negative = bins == NEGATIVE_BIN
    if negative.any():  # negative latencies (clock skew) count in the zero bin, and as a violation
        where = np.unique(gh[negative])
        sums = np.zeros(where.size, dtype=np.int64)
        np.add.at(sums, np.searchsorted(where, gh[negative]), counts[negative])
        for w, n_neg in zip(where.tolist(), sums.tolist(), strict=True):
            event, msg_type, bucket = keys[w >> 2]
            _add(batch.violations, (event, msg_type, bucket, "negative_latency", HOPS[w & 3]), n_neg)
        bins = np.where(negative, ZERO_BIN, bins)
    for w, merged in group_bins(gh, bins, counts):
        event, msg_type, bucket = keys[w >> 2]
        batch.latency[(event, msg_type, bucket, HOPS[w & 3])] = merged


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


def _extra_keys(batch: IngestBatch, parts: dict[str, pd.DataFrame], keys: KeyBudget | None) -> None:
    """The unplanned property keys, past the property-key budget counted as one (:mod:`propkeys`)."""
    frame = parts.get("extra_keys")
    if frame is None:
        return
    columns = [frame[c].tolist() for c in ("event", "msg_type", "bucket", "key", "jtype", "n")]
    extra: dict[PropKey, int] = {}
    for event, msg_type, bucket, key, jtype, n in zip(*columns, strict=True):
        jt = "BIGINT" if str(jtype) == "UBIGINT" else str(jtype)
        _add(extra, (str(event), str(msg_type), int(bucket), str(key)[:MAX_KEY_CHARS], jt), int(n))
    for k, n in (keys.cap(extra) if keys is not None else extra).items():
        _add(batch.props, k, n)


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
    _cap_quarantine(batch)


def _cap_quarantine(batch: IngestBatch) -> None:
    """At most QUARANTINE_PER_REASON lines per reason, however many parts the input was read in:
    the ones with the largest DuckDB hash, as each part's query keeps them, in their order."""
    per_reason: dict[str, int] = {}
    for reason, _ in batch.quarantine:
        per_reason[reason] = per_reason.get(reason, 0) + 1
    over = {r for r, n in per_reason.items() if n > QUARANTINE_PER_REASON}
    if not over:
        return
    keep: dict[str, set[int]] = {}
    for reason in over:
        idx = [i for i, (r, _) in enumerate(batch.quarantine) if r == reason]
        idx.sort(key=lambda i: _text_hash(batch.quarantine[i][1]), reverse=True)
        keep[reason] = set(idx[:QUARANTINE_PER_REASON])
    batch.quarantine = [q for i, q in enumerate(batch.quarantine) if q[0] not in over or i in keep[q[0]]]


def _text_hash(text: str) -> int:
    data = text.encode("utf-8", "surrogatepass")
    if _hash_str is not None:
        return int(_hash_str(data))
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _nul_free(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _renamed(d: dict[Any, Any], add: Any) -> None:
    """Keys of ``d`` holding a NUL, with it replaced (values of keys that then meet added by ``add``)."""
    for old in [k for k in d if any(isinstance(x, str) and "\x00" in x for x in k)]:
        new = tuple(_nul_free(x) if isinstance(x, str) else x for x in old)
        value = d.pop(old)
        d[new] = add(d[new], value) if new in d else value


def _add_delta(a: MetricDelta, b: MetricDelta) -> MetricDelta:
    a.count, a.checked, a.conforming, a.identified = (a.count + b.count, a.checked + b.checked,
                                                      a.conforming + b.conforming, a.identified + b.identified)  # fmt: skip
    for mine, theirs in ((a.users, b.users), (a.uids, b.uids), (a.anon_only, b.anon_only), (a.linked, b.linked)):
        mine.merge(theirs)
    return a


def _no_nul(batch: IngestBatch) -> None:
    """PostgreSQL text cannot hold NUL (psycopg refuses the whole commit): a NUL in an event name or a
    property key (a ``\\u0000`` escape) or in a sample or quarantined line (raw NUL bytes, as a crash
    or a ``copytruncate`` hole leaves in a log) is stored as U+FFFD, on every backend alike."""
    _renamed(batch.metrics, _add_delta)
    _renamed(batch.latency, lambda a, b: a.merge(b))
    _renamed(batch.violations, lambda a, b: a + b)
    _renamed(batch.props, lambda a, b: a + b)
    _renamed(batch.vsamples, lambda a, b: (max(a[0], b[0]), (a[1] + b[1])[:3]))
    for key, (bucket, texts) in batch.vsamples.items():
        batch.vsamples[key] = (bucket, [_nul_free(t) for t in texts])
    for reason, texts in batch.reject_samples.items():
        batch.reject_samples[reason] = [_nul_free(t) for t in texts]
    batch.quarantine = [(reason, _nul_free(line)) for reason, line in batch.quarantine]


def to_batch(facts: Facts, ev: Evaluator, *, source: str, environment: str, sample_rate: float, file: str,
             keys: KeyBudget | None = None) -> IngestBatch:  # fmt: skip
    """The batch of deltas for one read of one file; ``keys``: the property-key budget (none: no limit)."""
    batch = IngestBatch(source=source, environment=environment, sample_rate=sample_rate, file=file)
    _sketches(batch, facts)
    _main(batch, facts.parts, ev)
    _samples(batch, facts.parts, ev)
    _extra_keys(batch, facts.parts, keys)
    _rejects(batch, facts.parts)
    _no_nul(batch)
    return batch
