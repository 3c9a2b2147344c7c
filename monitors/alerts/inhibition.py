"""Inhibition: findings that another open finding already explains are muted.

Rules from config work like Alertmanager's: while a finding matching ``source_match`` is open,
findings matching ``target_match`` whose ``equal`` labels agree are muted. The default rule
mutes per-event ``silence`` / ``volume_drop`` findings of a source that is down. A rename
(``event_rename`` with evidence ``{"from": A, "to": B}``) mutes the drop or silence of A and
the ``new_event`` of B in the same source and environment.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitors.alerts.config import InhibitRuleConfig
from monitors.alerts.finding import AlertFinding
from monitors.alerts.matchers import matches

DROP_KINDS = frozenset({"volume_drop", "silence"})


def _rule_reason(
    rule: InhibitRuleConfig, target: AlertFinding, sources: Sequence[AlertFinding]
) -> str | None:
    labels = target.labels()
    if not sources or not matches(rule.target_match, labels):
        return None
    for src in sources:
        if src.fingerprint == target.fingerprint:
            continue
        other = src.labels()
        if all(other.get(name) == labels.get(name) for name in rule.equal):
            return f"inhibited by {src.kind} {src.fingerprint} ({src.title})"
    return None


def _rename_reason(target: AlertFinding, sources: Sequence[AlertFinding]) -> str | None:
    for src in sources:
        if src.kind != "event_rename" or (src.source, src.environment) != (target.source, target.environment):
            continue
        old, new = src.evidence.get("from"), src.evidence.get("to")
        explained = (target.kind in DROP_KINDS and target.event == old) or (
            target.kind == "new_event" and target.event == new
        )
        if explained:
            return f"inhibited by rename {old!r} → {new!r} ({src.fingerprint})"
    return None


def inhibited(
    findings: Sequence[AlertFinding], rules: Sequence[InhibitRuleConfig], *, renames: bool = True
) -> dict[str, str]:
    """Fingerprint → reason, for every active finding muted by another active finding."""
    active = [f for f in findings if f.active]
    by_rule = [(rule, [s for s in active if matches(rule.source_match, s.labels())]) for rule in rules]
    renamers = [f for f in active if f.kind == "event_rename"] if renames else []
    muted: dict[str, str] = {}
    for target in active:
        reason = next((r for r in (_rule_reason(rule, target, srcs) for rule, srcs in by_rule) if r), None)
        if reason is None and renamers:
            reason = _rename_reason(target, renamers)
        if reason:
            muted[target.fingerprint] = reason
    return muted
