"""Which latency objective the dashboard and the weekly review show for an event.

One source of truth with alerting: the latency detector's SLOs (``detectors.latency.slos``) win
when one matches the event (globs on event, source and environment) on the dashboard's hop at the
95th percentile; otherwise ``dashboard.slo_overrides``, then ``dashboard.latency_slo``.
"""

from __future__ import annotations

import fnmatch

from monitors.config import Config
from monitors.timeutil import parse_duration


def slo_seconds(config: Config, event: str, source: str = "", environment: str = "production") -> float:
    """The p95 objective (seconds) of ``config.dashboard.latency_hop`` for one event."""
    chosen: float | None = None
    for slo in config.detectors.latency.slos:
        if (slo.hop == config.dashboard.latency_hop and slo.percentile == 95.0
                and fnmatch.fnmatchcase(event, slo.event) and fnmatch.fnmatchcase(source, slo.source)
                and fnmatch.fnmatchcase(environment, slo.environment)):  # fmt: skip
            chosen = float(parse_duration(slo.max))
    return chosen if chosen is not None else config.dashboard.slo_seconds(event, source)
