"""Findings part of the Store: findings and their lifecycle, and the actions people take (bands and
detector state are in :mod:`storage.detector_store`).

Lifecycle of a finding (``status``)::

    open ──acknowledge──▶ acknowledged ──resolve──▶ resolved
      │ ╲                      │                      ▲
      │  ╲──mark_expected──▶ expected ◀───────────────┤ (any active finding)
      └──── detector ends the episode ────────────────┘ (auto-resolve, actor "detector")

``reopen`` brings a resolved or expected finding back to open. ``snooze(until)`` keeps the
status and sets ``snoozed_until`` (alerting stays quiet until then). Every action is recorded in
``finding_actions`` with who and when. Findings are keyed by their stable ``fingerprint``:
:meth:`FindingsStore.upsert_findings` is idempotent for the same drafts and ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from monitors.errors import InputError
from monitors.models import FindingDraft, Status
from monitors.timeutil import iso, utcnow
from storage.detector_store import SeriesTuple
from storage.tables_findings import finding_actions, findings

ACTIVE = (Status.OPEN.value, Status.ACKNOWLEDGED.value)
DETECTOR = "detector"
_CHUNK = 500
BASELINES = ("adapt", "keep")
_COMPARED = ("title", "severity", "score", "observed", "expected", "ended_at", "last_seen_at", "evidence")


@dataclass(frozen=True)
class StoredFinding:
    """A row of ``findings`` with its evidence decoded."""

    id: int
    fingerprint: str
    kind: str
    source: str
    environment: str
    event: str
    subject: str
    title: str
    severity: str
    score: float
    observed: float | None
    expected: float | None
    started_at: datetime
    ended_at: datetime | None
    last_seen_at: datetime | None
    status: str
    status_by: str | None
    status_at: datetime | None
    snoozed_until: datetime | None
    created_at: datetime
    updated_at: datetime
    evidence: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    """For an expected finding: ``adapt`` (the detector adopts the new level now) or ``keep``."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredFinding:
        """Build from a ``findings`` row."""
        data = dict(row)
        data["evidence"] = json.loads(data.get("evidence") or "{}")
        return cls(**data)

    def as_record(self) -> dict[str, Any]:
        """Plain JSON-ready dict (times in ISO 8601 UTC)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = iso(value)
        return out


@dataclass(frozen=True)
class FindingAction:
    """Something a person (or the detector) did to a finding."""

    id: int
    finding_id: int
    action: str
    actor: str
    at: datetime
    note: str | None


@dataclass
class UpsertReport:
    """Fingerprints opened, updated and resolved by an upsert."""

    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


def _values(draft: FindingDraft) -> dict[str, Any]:
    return {
        "title": draft.title,
        "severity": draft.severity.value,
        "score": float(draft.score),
        "observed": draft.observed,
        "expected": draft.expected,
        "ended_at": draft.ended_at,
        "last_seen_at": draft.last_seen_at,
        "evidence": json.dumps(draft.evidence, sort_keys=True, default=str),
    }


def first_samples(stored: str | None, evidence: dict[str, Any]) -> dict[str, Any]:
    """``evidence`` with the samples the episode's finding already shows kept first: the first bad
    payloads stay in the evidence (ingest keeps only the latest per violation), newer ones fill
    the rest up to the same number."""
    new = evidence.get("samples")
    try:
        old = json.loads(stored or "{}").get("samples")
    except ValueError:
        return evidence
    if not isinstance(old, list) or not old or not isinstance(new, list):
        return evidence
    limit = max(len(old), len(new))  # the detector's own limit
    seen = {json.dumps(s, sort_keys=True) for s in old}
    merged = old + [s for s in new if json.dumps(s, sort_keys=True) not in seen]
    return {**evidence, "samples": merged[:limit]}


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class FindingsStore:
    """Findings, actions, expected bands and detector state."""

    engine: Engine

    # -- findings written by detectors -----------------------------------------------------------

    def upsert_findings(self, drafts: Sequence[FindingDraft], *, now: datetime) -> UpsertReport:
        """Insert new findings (open, or resolved if already over), update changed ones, and
        auto-resolve active ones whose episode ended. Idempotent for the same drafts and ``now``."""
        report = UpsertReport()
        by_fp = {d.fingerprint: d for d in drafts}
        with self.engine.begin() as conn:
            existing = self._fs_by_fingerprint(conn, list(by_fp))
            new_rows = []
            for fp, draft in by_fp.items():
                row = existing.get(fp)
                if row is None:
                    new_rows.append(self._fs_new_row(draft, now))
                    (report.resolved if draft.ended_at else report.opened).append(fp)
                else:
                    self._fs_update(conn, row, draft, now, report)
            if new_rows:
                conn.execute(insert(findings), new_rows)
        return report

    @staticmethod
    def _fs_by_fingerprint(conn: Connection, fps: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(fps):
            for row in conn.execute(select(findings).where(findings.c.fingerprint.in_(chunk))):
                out[row.fingerprint] = dict(row._mapping)
        return out

    @staticmethod
    def _fs_new_row(draft: FindingDraft, now: datetime) -> dict[str, Any]:
        done = draft.ended_at is not None
        return {
            "fingerprint": draft.fingerprint,
            "kind": draft.kind,
            "source": draft.source,
            "environment": draft.environment,
            "event": draft.event,
            "subject": draft.subject,
            "started_at": draft.started_at,
            "status": Status.RESOLVED.value if done else Status.OPEN.value,
            "status_by": DETECTOR if done else None,
            "status_at": now if done else None,
            "snoozed_until": None,
            "created_at": now,
            "updated_at": now,
            **_values(draft),
        }

    def _fs_update(
        self, conn: Connection, row: dict[str, Any], draft: FindingDraft, now: datetime, report: UpsertReport
    ) -> None:
        values = _values(replace(draft, evidence=first_samples(row["evidence"], draft.evidence)))
        changes = {k: v for k, v in values.items() if row[k] != v}
        if draft.ended_at is not None and row["status"] in ACTIVE:
            changes.update(status=Status.RESOLVED.value, status_by=DETECTOR, status_at=now)
            self._fs_action(conn, row["id"], "auto_resolve", DETECTOR, now, "the episode ended")
            report.resolved.append(row["fingerprint"])
        elif (
            draft.ended_at is None and row["status"] == Status.RESOLVED.value and row["status_by"] == DETECTOR
        ):
            changes.update(status=Status.OPEN.value, status_by=DETECTOR, status_at=now)
            self._fs_action(conn, row["id"], "auto_reopen", DETECTOR, now, "the detector reports it again")
            report.opened.append(row["fingerprint"])
        elif changes:
            report.updated.append(row["fingerprint"])
        if changes:
            conn.execute(update(findings).where(findings.c.id == row["id"]).values(**changes, updated_at=now))

    def resolve_missing(
        self, kinds: Sequence[str], keep: set[str], scope: set[SeriesTuple], *, now: datetime, note: str
    ) -> list[str]:
        """Auto-resolve active findings of ``kinds`` on the series in ``scope`` whose fingerprint
        is not in ``keep`` (the detector no longer reports them)."""
        query = select(
            findings.c.fingerprint, findings.c.source, findings.c.environment, findings.c.event
        ).where(findings.c.status.in_(ACTIVE), findings.c.kind.in_(list(kinds)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        stale = [
            r.fingerprint
            for r in rows
            if r.fingerprint not in keep and (r.source, r.environment, r.event) in scope
        ]
        return self.auto_resolve(stale, now=now, note=note)

    def auto_resolve(self, fingerprints: Sequence[str], *, now: datetime, note: str) -> list[str]:
        """Resolve the active findings among ``fingerprints`` on the detector's behalf."""
        done: list[str] = []
        with self.engine.begin() as conn:
            for chunk in _chunks(list(fingerprints)):
                rows = conn.execute(
                    select(findings.c.id, findings.c.fingerprint, findings.c.ended_at).where(
                        findings.c.fingerprint.in_(chunk), findings.c.status.in_(ACTIVE)
                    )
                ).all()
                for row in rows:
                    conn.execute(
                        update(findings)
                        .where(findings.c.id == row.id)
                        .values(
                            status=Status.RESOLVED.value,
                            status_by=DETECTOR,
                            status_at=now,
                            ended_at=row.ended_at or now,
                            updated_at=now,
                        )
                    )
                    self._fs_action(conn, row.id, "auto_resolve", DETECTOR, now, note)
                    done.append(row.fingerprint)
        return done

    # -- reading ---------------------------------------------------------------------------------

    def list_findings(
        self,
        *,
        status: str | Sequence[str] | None = None,
        kind: str | Sequence[str] | None = None,
        source: str | None = None,
        environment: str | None = None,
        event: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        not_snoozed_at: datetime | None = None,
        limit: int | None = None,
    ) -> list[StoredFinding]:
        """Findings matching every given filter, newest first.

        ``since``/``until`` keep findings whose episode overlaps ``[since, until)``;
        ``not_snoozed_at`` drops findings snoozed past that time.
        """
        query: Select[Any] = select(findings)
        for col, value in (("status", status), ("kind", kind)):
            if value is not None:
                query = query.where(findings.c[col].in_([value] if isinstance(value, str) else list(value)))
        for col, text in (("source", source), ("environment", environment), ("event", event)):
            if text is not None:
                query = query.where(findings.c[col] == text)
        if since is not None:
            query = query.where(or_(findings.c.ended_at.is_(None), findings.c.ended_at >= since))
        if until is not None:
            query = query.where(findings.c.started_at < until)
        if not_snoozed_at is not None:
            query = query.where(
                or_(findings.c.snoozed_until.is_(None), findings.c.snoozed_until <= not_snoozed_at)
            )
        query = query.order_by(findings.c.started_at.desc(), findings.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [StoredFinding.from_row(dict(r._mapping)) for r in conn.execute(query)]

    def get_finding(self, ref: int | str) -> StoredFinding | None:
        """A finding by id or fingerprint."""
        cond = findings.c.id == ref if isinstance(ref, int) else findings.c.fingerprint == ref
        with self.engine.connect() as conn:
            row = conn.execute(select(findings).where(cond)).first()
        return StoredFinding.from_row(dict(row._mapping)) if row else None

    def finding_actions(self, ref: int | str) -> list[FindingAction]:
        """Every action taken on a finding, oldest first."""
        found = self._fs_require(ref)
        query = (
            select(finding_actions)
            .where(finding_actions.c.finding_id == found.id)
            .order_by(finding_actions.c.id)
        )
        with self.engine.connect() as conn:
            return [FindingAction(**r._mapping) for r in conn.execute(query)]

    # -- actions people take ---------------------------------------------------------------------

    def acknowledge(
        self, ref: int | str, *, actor: str, note: str | None = None, at: datetime | None = None
    ) -> StoredFinding:
        """Someone is on it: open → acknowledged."""
        return self._fs_transition(ref, "acknowledge", Status.ACKNOWLEDGED, (Status.OPEN,), actor, note, at)

    def resolve(
        self, ref: int | str, *, actor: str, note: str | None = None, at: datetime | None = None
    ) -> StoredFinding:
        """Fixed or not worth action: open or acknowledged → resolved."""
        return self._fs_transition(
            ref, "resolve", Status.RESOLVED, (Status.OPEN, Status.ACKNOWLEDGED), actor, note, at
        )

    def mark_expected(
        self,
        ref: int | str,
        *,
        actor: str,
        note: str | None = None,
        at: datetime | None = None,
        baseline: str = "keep",
    ) -> StoredFinding:
        """Intended change (a campaign, a planned migration): any status → expected.

        ``baseline``: ``adapt`` — the new level is the new normal, the detector adopts it at its
        next run and ends the episode; ``keep`` — a temporary change, the baseline stays as it was
        and the episode is never adapted to (it ends when the data is back to normal)."""
        if baseline not in BASELINES:
            raise InputError(f"baseline must be one of {', '.join(BASELINES)}, not {baseline!r}")
        every = (Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED)
        return self._fs_transition(
            ref, "mark_expected", Status.EXPECTED, every, actor, note, at, {"baseline": baseline}
        )

    def expected_baselines(self, kinds: Sequence[str]) -> dict[SeriesTuple, tuple[int, str]]:
        """Ongoing episodes of ``kinds`` marked expected: per series, (episode start in epoch
        seconds, ``adapt`` or ``keep``) — what the detector reads to honour the choice."""
        query = (
            select(findings.c.source, findings.c.environment, findings.c.event, findings.c.started_at,
                   findings.c.baseline)
            .where(findings.c.kind.in_(list(kinds)), findings.c.status == Status.EXPECTED.value,
                   findings.c.ended_at.is_(None), findings.c.baseline.is_not(None))
            .order_by(findings.c.started_at)
        )  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {(r.source, r.environment, r.event): (int(r.started_at.timestamp()), str(r.baseline)) for r in rows}

    def reopen(
        self, ref: int | str, *, actor: str, note: str | None = None, at: datetime | None = None
    ) -> StoredFinding:
        """Not fixed after all: resolved or expected → open (clears any snooze)."""
        return self._fs_transition(
            ref, "reopen", Status.OPEN, (Status.RESOLVED, Status.EXPECTED), actor, note, at, {"baseline": None}
        )

    def snooze(
        self,
        ref: int | str,
        until: datetime,
        *,
        actor: str,
        note: str | None = None,
        at: datetime | None = None,
    ) -> StoredFinding:
        """Keep quiet about an active finding until ``until`` (status unchanged)."""
        at = at or utcnow()
        found = self._fs_require(ref)
        if until <= at:
            raise InputError(f"snooze until {iso(until)} is not in the future")
        if found.status not in ACTIVE:
            raise InputError(
                f"finding {found.id} is {found.status}; only open or acknowledged findings can be snoozed"
            )
        with self.engine.begin() as conn:
            conn.execute(
                update(findings).where(findings.c.id == found.id).values(snoozed_until=until, updated_at=at)
            )
            self._fs_action(conn, found.id, "snooze", actor, at, note or f"until {iso(until)}")
        return self._fs_require(found.id)

    def _fs_transition(
        self,
        ref: int | str,
        action: str,
        to: Status,
        allowed: tuple[Status, ...],
        actor: str,
        note: str | None,
        at: datetime | None,
        extra: dict[str, Any] | None = None,
    ) -> StoredFinding:
        at = at or utcnow()
        found = self._fs_require(ref)
        if found.status not in {s.value for s in allowed}:
            raise InputError(f"finding {found.id} is {found.status}; cannot {action.replace('_', ' ')} it")
        values: dict[str, Any] = {"status": to.value, "status_by": actor, "status_at": at, "updated_at": at}
        if to is Status.OPEN:
            values["snoozed_until"] = None
        values.update(extra or {})
        with self.engine.begin() as conn:
            conn.execute(update(findings).where(findings.c.id == found.id).values(**values))
            self._fs_action(conn, found.id, action, actor, at, note)
        return self._fs_require(found.id)

    def _fs_require(self, ref: int | str) -> StoredFinding:
        found = self.get_finding(ref)
        if found is None:
            raise InputError(f"no finding {ref!r} — list them with `python -m monitors findings`")
        return found

    @staticmethod
    def _fs_action(
        conn: Connection, finding_id: int, action: str, actor: str, at: datetime, note: str | None
    ) -> None:
        conn.execute(
            insert(finding_actions).values(
                finding_id=finding_id, action=action, actor=actor, at=at, note=note
            )
        )
