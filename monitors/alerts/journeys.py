"""Journeys at risk: which Customer.io journeys a finding threatens, and the severity it deserves.

A finding puts a journey at risk when it is about one of the journey's trigger or exit events
(whole event, or one of the properties its filters or messages read), when it explains such an
event (a rename from or to it), or when the whole source is down. Each journey that says so
(``raise_severity``) lifts the severity one level, at most to critical.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitors.alerts.finding import SOURCE_LEVEL_KINDS, AlertFinding
from monitors.alerts.message import JourneyRisk
from monitors.config import JourneyConfig
from monitors.models import Severity

_ORDER = [Severity.INFO, Severity.WARNING, Severity.CRITICAL]


def related_events(finding: AlertFinding) -> list[str]:
    """The events a finding is about: its own, plus both sides of a rename."""
    events = [finding.event] if finding.event else []
    if finding.kind == "event_rename":
        for key in ("from", "to"):
            value = finding.evidence.get(key)
            if isinstance(value, str) and value and value not in events:
                events.append(value)
    return events


def _in_scope(journey: JourneyConfig, finding: AlertFinding) -> bool:
    if finding.environment not in journey.environments:
        return False
    return not journey.sources or finding.source in journey.sources


def risks(journey: JourneyConfig, finding: AlertFinding) -> list[JourneyRisk]:
    """How ``finding`` threatens ``journey`` (empty when it does not)."""
    if not _in_scope(journey, finding):
        return []
    if finding.kind in SOURCE_LEVEL_KINDS and not finding.event:
        return [JourneyRisk(journey.name, "source", finding.source)]
    found: list[JourneyRisk] = []
    for event in related_events(finding):
        roles = [r for r, names in (("trigger", journey.trigger), ("exit", journey.exit)) if event in names]
        if not roles:
            continue
        if not finding.subject:
            found.extend(JourneyRisk(journey.name, role, event) for role in roles)
        elif finding.subject in journey.filter:
            found.append(JourneyRisk(journey.name, "filter", f"{event}.{finding.subject}"))
        elif finding.subject in journey.properties:
            found.append(JourneyRisk(journey.name, "property", f"{event}.{finding.subject}"))
    return found


def raise_once(severity: Severity) -> Severity:
    """One level up, at most critical."""
    return _ORDER[min(_ORDER.index(severity) + 1, len(_ORDER) - 1)]


def annotate(finding: AlertFinding, journeys: Sequence[JourneyConfig]) -> AlertFinding:
    """The finding with its journeys at risk and the raised severity (unchanged when none)."""
    found: list[JourneyRisk] = []
    lift = False
    for journey in journeys:
        hits = risks(journey, finding)
        found.extend(hits)
        lift = lift or (bool(hits) and journey.raise_severity)
    if not found:
        return finding
    severity = raise_once(finding.severity) if lift else finding.severity
    return finding.with_journeys(tuple(found), severity)


def annotate_all(findings: Iterable[AlertFinding], journeys: Sequence[JourneyConfig]) -> list[AlertFinding]:
    """:func:`annotate` every finding."""
    return [annotate(f, journeys) for f in findings]
