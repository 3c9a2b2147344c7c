"""The routing tree: which routes a finding goes to, and with which grouping and timing.

As in Alertmanager, every finding enters the top-level route; it descends into the first child
whose matchers match (and into later siblings too while matched children say ``continue``).
A route with no matching child takes the finding itself. Children inherit the receiver,
``group_by``, timings and ``send_resolved`` of their parent unless they set their own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from monitors.alerts.config import AlertsConfig, RouteConfig, named_routes
from monitors.alerts.finding import AlertFinding
from monitors.alerts.matchers import Patterns, matches
from monitors.errors import ConfigError
from monitors.models import Severity
from monitors.timeutil import parse_duration

DEFAULT_GROUP_BY = ("source", "environment", "kind")
BY_FINDING = "..."
"""``group_by: ["..."]`` sends every finding in its own message."""


@dataclass(frozen=True)
class Route:
    """A route with its effective (inherited) settings."""

    name: str
    receiver: str
    match: Mapping[str, Patterns]
    min_severity: Severity | None
    continue_: bool
    group_by: tuple[str, ...]
    group_wait: int
    group_interval: int
    repeat_interval: int
    send_resolved: bool
    children: tuple[Route, ...] = field(default=())

    def accepts(self, finding: AlertFinding) -> bool:
        """Whether this route's own matchers match ``finding``."""
        if self.min_severity is not None and finding.severity.rank < self.min_severity.rank:
            return False
        return matches(self.match, finding.labels())

    def group_labels(self, finding: AlertFinding) -> dict[str, str]:
        """The values of ``group_by`` for ``finding`` (``journey`` values joined by commas)."""
        if BY_FINDING in self.group_by:
            return {"fingerprint": finding.fingerprint}
        labels = finding.labels()
        return {name: ",".join(labels.get(name, [])) for name in self.group_by}

    def walk(self) -> Iterator[Route]:
        """This route and its descendants."""
        yield self
        for child in self.children:
            yield from child.walk()


def group_hash(route: str, labels: Mapping[str, str]) -> str:
    """A short stable id of a group (route + group labels)."""
    key = route + "|" + "|".join(f"{k}={labels[k]}" for k in sorted(labels))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def _build(node: RouteConfig, names: dict[int, str], parent: Route | None) -> Route:
    receiver = node.receiver or (parent.receiver if parent else None)
    if receiver is None:  # pragma: no cover - rejected by AlertsConfig
        raise ConfigError("alerts.route: the top-level route needs a receiver")

    def pick(own: str | None, inherited: int | None, default: str) -> int:
        """Own setting, else the parent's, else the default (seconds)."""
        if own is not None:
            return parse_duration(own)
        return inherited if inherited is not None else parse_duration(default)

    route = Route(
        name=names[id(node)],
        receiver=receiver,
        match=dict(node.match),
        min_severity=Severity(node.min_severity) if node.min_severity else None,
        continue_=node.continue_,
        group_by=tuple(node.group_by)
        if node.group_by is not None
        else (parent.group_by if parent else DEFAULT_GROUP_BY),
        group_wait=pick(node.group_wait, parent.group_wait if parent else None, "30s"),
        group_interval=pick(node.group_interval, parent.group_interval if parent else None, "5m"),
        repeat_interval=pick(node.repeat_interval, parent.repeat_interval if parent else None, "4h"),
        send_resolved=node.send_resolved
        if node.send_resolved is not None
        else (parent.send_resolved if parent else True),
    )
    children = tuple(_build(child, names, route) for child in node.routes)
    return replace(route, children=children)


def build_tree(config: AlertsConfig) -> Route | None:
    """The effective routing tree, or None when no route is configured."""
    if config.route is None:
        return None
    names = {id(node): name for name, node in named_routes(config.route)}
    return _build(config.route, names, None)


def _descend(route: Route, finding: AlertFinding) -> list[Route]:
    found: list[Route] = []
    for child in route.children:
        if not child.accepts(finding):
            continue
        found.extend(_descend(child, finding))
        if not child.continue_:
            break
    return found or [route]


def routes_for(tree: Route, finding: AlertFinding) -> list[Route]:
    """The routes that notify about ``finding`` (the top-level route matches everything)."""
    if not tree.accepts(finding):
        return []
    return _descend(tree, finding)


def find_route(tree: Route | None, name: str) -> Route:
    """The route called ``name``; :class:`ConfigError` listing the names otherwise."""
    routes = list(tree.walk()) if tree else []
    for route in routes:
        if route.name == name:
            return route
    known = ", ".join(r.name for r in routes) or "none configured (add alerts.route)"
    raise ConfigError(f"no alert route named {name!r}; routes: {known}")


def route_table(tree: Route | None) -> Sequence[dict[str, object]]:
    """One row per route, for ``alerts check-config``."""
    return [
        {
            "route": r.name,
            "receiver": r.receiver,
            "match": dict(r.match),
            "min_severity": r.min_severity.value if r.min_severity else None,
            "continue": r.continue_,
            "group_by": list(r.group_by),
            "group_wait": r.group_wait,
            "group_interval": r.group_interval,
            "repeat_interval": r.repeat_interval,
            "send_resolved": r.send_resolved,
        }
        for r in (tree.walk() if tree else [])
    ]
