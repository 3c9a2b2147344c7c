"""Findings: the filtered list (with journeys at risk and a direct link), one finding with its
action history, and the actions people take — each recorded with who and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from monitors.config import Config
from monitors.errors import InputError
from monitors.ui.queries import SEVERITY_RANK
from monitors.ui.queries.overview import alert_view
from storage import Store
from storage.findings_store import FindingAction, StoredFinding

FINDING_COLUMNS = ["id", "fingerprint", "severity", "status", "kind", "source", "environment", "event", "subject",
                   "title", "journeys", "started_at", "ended_at", "snoozed_until", "status_by", "link"]  # fmt: skip
ACTIONS = ("acknowledge", "snooze", "resolve", "mark_expected")
BASELINE = {"adapt": "adapt the baseline to the new level", "keep": "keep the baseline (the change is temporary)"}


@dataclass(frozen=True)
class Filters:
    """What the findings page filters on (empty tuples mean: any)."""

    kinds: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ("open", "acknowledged")
    events: tuple[str, ...] = ()
    journeys: tuple[str, ...] = ()


def finding_link(fingerprint: str) -> str:
    """Relative URL of one finding (alert messages link to the same path)."""
    return f"findings?finding={fingerprint}"


def findings_table(store: Store, config: Config, filters: Filters) -> pd.DataFrame:
    """Findings matching every filter, most severe and newest first."""
    found = store.list_findings(status=list(filters.statuses) or None, kind=list(filters.kinds) or None)
    rows: list[dict[str, Any]] = []
    for f in found:
        if filters.severities and f.severity not in filters.severities:
            continue
        if filters.events and f.event not in filters.events:
            continue
        names = sorted({r.name for r in alert_view(f, config).journeys})
        if filters.journeys and not set(names) & set(filters.journeys):
            continue
        rows.append({"id": f.id, "fingerprint": f.fingerprint, "severity": f.severity, "status": f.status, "kind": f.kind,
                     "source": f.source, "environment": f.environment, "event": f.event, "subject": f.subject,
                     "title": f.title, "journeys": ", ".join(names), "started_at": f.started_at, "ended_at": f.ended_at,
                     "snoozed_until": f.snoozed_until, "status_by": f.status_by,
                     "link": finding_link(f.fingerprint)})  # fmt: skip
    frame = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    if frame.empty:
        return frame
    frame["_rank"] = frame["severity"].map(SEVERITY_RANK).fillna(0)
    frame = frame.sort_values(["_rank", "started_at"], ascending=[False, False], kind="stable")
    return frame.drop(columns="_rank").reset_index(drop=True)


def filter_options(store: Store, config: Config) -> dict[str, list[str]]:
    """Values the filters offer: kinds and events that have findings, every journey."""
    found = store.list_findings()
    return {
        "kinds": sorted({f.kind for f in found}),
        "events": sorted({f.event for f in found if f.event}),
        "journeys": [j.name for j in config.journeys],
    }


def finding_with_history(store: Store, ref: str | int) -> tuple[StoredFinding, list[FindingAction]] | None:
    """A finding by fingerprint or id, with its actions oldest first; None when unknown."""
    found = store.get_finding(ref)
    if found is None:
        return None
    return found, store.finding_actions(found.id)


def apply_action(store: Store, ref: str | int, action: str, *, actor: str, at: datetime,
                 note: str | None = None, until: datetime | None = None, baseline: str | None = None) -> StoredFinding:  # fmt: skip
    """Acknowledge, snooze (until a time), resolve or mark expected; recorded with ``actor`` and ``at``.

    Marking expected stores the baseline choice (``adapt`` or ``keep``), which the volume detector
    honours at its next run, and records it in the action's note.
    """
    actor = actor.strip()
    if not actor:
        raise InputError("say who you are: actions are recorded with a name")
    if action == "acknowledge":
        return store.acknowledge(ref, actor=actor, note=note, at=at)
    if action == "resolve":
        return store.resolve(ref, actor=actor, note=note, at=at)
    if action == "snooze":
        if until is None:
            raise InputError("snooze needs an end time")
        return store.snooze(ref, until, actor=actor, note=note, at=at)
    if action == "mark_expected":
        choice = baseline or "keep"
        if choice not in BASELINE:
            raise InputError(f"baseline must be one of {', '.join(BASELINE)}")
        text = f"baseline: {choice}" + (f" — {note}" if note else "")
        return store.mark_expected(ref, actor=actor, note=text, at=at, baseline=choice)
    raise InputError(f"unknown action {action!r} (use {', '.join(ACTIONS)})")
