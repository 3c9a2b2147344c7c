"""Inhibition: findings that another open finding already explains are muted.

Rules from config work like Alertmanager's: while a finding matching ``source_match`` is open,
findings matching ``target_match`` whose ``equal`` labels agree are muted. The default rule
mutes per-event ``silence`` / ``volume_drop`` findings of a source that is down. A rename
(``event_rename`` with evidence ``{"from": A, "to": B}``) mutes the drop or silence of A and
the ``new_event`` of B in the same source and environment.

A source finding keeps inhibiting for a ``holdover`` after it resolves, but only findings that
started before it ended: per-event findings of a recovered source usually close a bucket or two
later, and should not all fire at the moment of recovery.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from monitors.alerts.config import InhibitRuleConfig
from monitors.alerts.finding import AlertFinding
from monitors.alerts.matchers import matches

DROP_KINDS = frozenset({"volume_drop", "silence"})


def _covers(src: AlertFinding, target: AlertFinding) -> bool:
    """An active source covers any target; a recently resolved one only those that began before it ended."""
    if src.fingerprint == target.fingerprint:
        return False
    return src.active or src.ended_at is None or target.started_at <= src.ended_at


def _rule_reason(
    rule: InhibitRuleConfig, target: AlertFinding, sources: Sequence[AlertFinding]
) -> str | None:
    labels = target.labels()
    if not sources or not matches(rule.target_match, labels):
        return None
    for src in sources:
        if not _covers(src, target):
            continue
        other = src.labels()
        if all(other.get(name) == labels.get(name) for name in rule.equal):
            return f"inhibited by {src.kind} {src.fingerprint} ({src.title})"
    return None


def _rename_reason(target: AlertFinding, sources: Sequence[AlertFinding]) -> str | None:
    for src in sources:
        if not _covers(src, target) or (src.source, src.environment) != (target.source, target.environment):
            continue
        old, new = src.evidence.get("from"), src.evidence.get("to")
        explained = (target.kind in DROP_KINDS and target.event == old) or (
            target.kind == "new_event" and target.event == new
        )
        if explained:
            return f"inhibited by rename {old!r} → {new!r} ({src.fingerprint})"
    return None


def _recent(finding: AlertFinding, since: datetime | None) -> bool:
    if finding.active:
        return True
    return since is not None and finding.ended_at is not None and finding.ended_at > since


def inhibited(
    findings: Sequence[AlertFinding],
    rules: Sequence[InhibitRuleConfig],
    *,
    renames: bool = True,
    now: datetime | None = None,
    holdover: timedelta = timedelta(0),
) -> dict[str, str]:
    """Fingerprint → reason, for every active finding muted by another finding (active, or
    resolved less than ``holdover`` before ``now``)."""
    active = [f for f in findings if f.active]
    since = now - holdover if now is not None and holdover else None
    sources = [f for f in findings if _recent(f, since)]
    by_rule = [(rule, [s for s in sources if matches(rule.source_match, s.labels())]) for rule in rules]
    renamers = [f for f in sources if f.kind == "event_rename"] if renames else []
    muted: dict[str, str] = {}
    for target in active:
        reason = next((r for r in (_rule_reason(rule, target, srcs) for rule, srcs in by_rule) if r), None)
        if reason is None and renamers:
            reason = _rename_reason(target, renamers)
        if reason:
            muted[target.fingerprint] = reason
    return muted
