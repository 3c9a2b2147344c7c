"""Decide, for one route and one group of findings, what to notify now. Pure: no SQL, no clock.

The notification log says which transitions of which finding a route has already notified
(``firing:<severity>``, ``acknowledged``, ``resolved``, ``repeat:<n>``); each transition is
notified at most once per route. A finding that fires again after being resolved starts a new
cycle whose transitions carry ``#<cycle>`` (``firing:critical#2``).

Timing follows Alertmanager: a new group waits ``group_wait`` after its first new finding was
recorded (to collect related findings); later changes wait ``group_interval`` after the group's
last notification; while nothing changes, still-firing findings are repeated every
``repeat_interval``. Escalations (warning → critical) notify; de-escalations do not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitors.alerts.finding import AlertFinding
from monitors.alerts.message import State
from monitors.alerts.routing import Route


@dataclass(frozen=True)
class LogEntry:
    """One row of the notification log for a (route, fingerprint)."""

    transition: str
    at: datetime
    group_hash: str
    thread_id: int | None = None
    outbox_id: int | None = None


@dataclass(frozen=True)
class Change:
    """A transition of one finding to notify (or to record silently)."""

    finding: AlertFinding
    transition: str
    previous: str | None


@dataclass(frozen=True)
class GroupPlan:
    """What to send for one group now.

    ``suppressed`` changes are recorded in the log without a message (``send_resolved: false``).
    ``thread_id`` is the outbox id of the group's first message in this episode (None: this
    message starts a new thread); ``closes_thread`` says no notified finding stays open after it.
    """

    route: Route
    group: dict[str, str]
    group_hash: str
    changes: tuple[Change, ...]
    suppressed: tuple[Change, ...]
    repeat: bool
    thread_id: int | None
    closes_thread: bool


def split(transition: str) -> tuple[str, int]:
    """``firing:critical#2`` → (``firing:critical``, 2); no suffix is cycle 1."""
    base, _, cycle = transition.partition("#")
    return base, int(cycle) if cycle else 1


def _key(base: str, cycle: int) -> str:
    return base if cycle == 1 else f"{base}#{cycle}"


@dataclass(frozen=True)
class _History:
    cycle: int
    done: frozenset[str]
    previous: str | None
    repeats: int
    thread_id: int | None

    @property
    def fired(self) -> bool:
        """A firing transition was notified in this cycle."""
        return any(t.startswith("firing:") for t in self.done)

    @property
    def open(self) -> bool:
        """Fired and not yet resolved in this cycle."""
        return self.fired and "resolved" not in self.done


def _history(finding: AlertFinding, entries: Sequence[LogEntry]) -> _History:
    by_cycle: dict[int, list[LogEntry]] = {}
    for entry in sorted(entries, key=lambda e: e.at):
        by_cycle.setdefault(split(entry.transition)[1], []).append(entry)
    last = max(by_cycle, default=1)
    last_done = any(split(e.transition)[0] == "resolved" for e in by_cycle.get(last, []))
    cycle = last + 1 if finding.active and last_done else last
    rows = by_cycle.get(cycle, [])
    bases = [split(e.transition)[0] for e in rows]
    states = [b for b in bases if not b.startswith("repeat:")]
    threads = [e.thread_id for e in rows if e.thread_id is not None]
    return _History(
        cycle=cycle,
        done=frozenset(bases),
        previous=states[-1] if states else None,
        repeats=sum(1 for b in bases if b.startswith("repeat:")),
        thread_id=threads[0] if threads else None,
    )


def notified_open(finding: AlertFinding, entries: Sequence[LogEntry]) -> str | None:
    """The group hash under which a route notified ``finding`` as firing and not yet as
    resolved (so its later transitions still reach that route), or None."""
    hist = _history(finding, entries)
    if not hist.open:
        return None
    return max(entries, key=lambda e: e.at).group_hash


def _rank(transition: str) -> int:
    return ["info", "warning", "critical"].index(transition.split(":", 1)[1])


def _change(finding: AlertFinding, hist: _History, muted: bool) -> Change | None:
    state = finding.state
    if state is State.RESOLVED:
        due = hist.fired and "resolved" not in hist.done
        return Change(finding, _key("resolved", hist.cycle), hist.previous) if due else None
    if state is State.ACKNOWLEDGED:
        due = hist.open and "acknowledged" not in hist.done
        return Change(finding, _key("acknowledged", hist.cycle), hist.previous) if due else None
    if muted or "acknowledged" in hist.done:
        return None
    target = f"firing:{finding.severity.value}"
    fired = [t for t in hist.done if t.startswith("firing:")]
    if target in hist.done or any(_rank(t) > _rank(target) for t in fired):
        return None
    return Change(finding, _key(target, hist.cycle), hist.previous)


def plan_group(
    route: Route,
    group: dict[str, str],
    group_hash: str,
    findings: Sequence[tuple[AlertFinding, bool]],
    log: Mapping[str, Sequence[LogEntry]],
    last_sent: datetime | None,
    now: datetime,
) -> GroupPlan | None:
    """The plan for one group (findings with their muted flag), or None when nothing is due."""
    hists = {f.fingerprint: _history(f, log.get(f.fingerprint, ())) for f, _m in findings}
    changes = [c for f, m in findings if (c := _change(f, hists[f.fingerprint], m)) is not None]
    suppressed = [c for c in changes if split(c.transition)[0] == "resolved" and not route.send_resolved]
    send = [c for c in changes if c not in suppressed]
    open_before = {fp for fp, h in hists.items() if h.open}
    threads = sorted(h.thread_id for h in hists.values() if h.open and h.thread_id is not None)
    thread_id = threads[0] if threads else None
    repeat = False
    if send and now < _due(route, send, open_before, last_sent):
        send = []
    elif not send:
        send = _repeats(route, findings, hists, last_sent, now)
        repeat = bool(send)
    if not send and not suppressed:
        return None
    resolved = {c.finding.fingerprint for c in (*send, *suppressed) if split(c.transition)[0] == "resolved"}
    fired_now = {c.finding.fingerprint for c in send if c.transition.startswith("firing:")}
    open_after = (open_before | fired_now) - resolved
    return GroupPlan(
        route=route,
        group=group,
        group_hash=group_hash,
        changes=tuple(send),
        suppressed=tuple(suppressed),
        repeat=repeat,
        thread_id=thread_id if open_before else None,
        closes_thread=bool(open_before) and not open_after,
    )


def _due(route: Route, send: Sequence[Change], open_before: set[str], last_sent: datetime | None) -> datetime:
    after_last = last_sent + timedelta(seconds=route.group_interval) if last_sent else None
    if open_before and after_last is not None:
        return after_last
    first_new = min(c.finding.created_at for c in send) + timedelta(seconds=route.group_wait)
    return max(first_new, after_last) if after_last else first_new


def _repeats(
    route: Route,
    findings: Sequence[tuple[AlertFinding, bool]],
    hists: Mapping[str, _History],
    last_sent: datetime | None,
    now: datetime,
) -> list[Change]:
    if last_sent is None or now < last_sent + timedelta(seconds=route.repeat_interval):
        return []
    out: list[Change] = []
    for finding, muted in findings:
        hist = hists[finding.fingerprint]
        if finding.state is State.FIRING and hist.open and not muted and "acknowledged" not in hist.done:
            out.append(Change(finding, _key(f"repeat:{hist.repeats + 1}", hist.cycle), hist.previous))
    return out
