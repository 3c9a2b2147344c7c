"""Config of the semantic detectors (``detectors.semantic``, ``.leakage``, ``.schema``,
``.latency``, ``.identity``, ``.rename``, ``.names``). Every rate check takes a :class:`RuleConfig`;
the defaults are the tested ones (see docs/semantic.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from monitors.configbase import StrictModel
from monitors.detectors._semantic_rates import Rule, Timing
from monitors.timeutil import parse_duration

Hop = Literal["send", "deliver", "e2e"]


def _duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


class RuleConfig(StrictModel):
    """When a rate counts as risen (or fallen): score, change floors, history needed."""

    threshold: float = Field(default=5.0, gt=0)
    """quasi-Poisson z-score of the window's count that opens a finding"""
    cont: float = Field(default=3.0, gt=0)
    """score that keeps it open"""
    min_count: float = Field(default=5.0, ge=0)
    """affected messages in the window, at least"""
    min_abs: float = Field(default=0.01, ge=0, le=1)
    """absolute rise of the rate, at least"""
    min_rel: float = Field(default=1.0, ge=0)
    """relative change of the rate, at least (1.0: doubles)"""
    dispersion: float = Field(default=2.0, ge=1)
    """variance / mean of the bad counts (bursts from a few users); scores are divided by it"""
    min_baseline: float = Field(default=200.0, ge=0)
    """messages in the baseline before the key is judged"""
    total_dispersion: float = Field(default=6.0, ge=1)
    """dispersion on a per-source total (all events: a user's session sends several messages)"""
    total_threshold: float = Field(default=4.5, gt=0)
    """score that opens a finding on a per-source total (one key per source: fewer tests than per event)"""

    def rule(self, **extra: float | bool) -> Rule:
        """The engine's :class:`Rule`."""
        return Rule(**self.model_dump(exclude={"total_dispersion", "total_threshold"}), **extra)  # type: ignore[arg-type]

    def total_rule(self, **extra: float | bool) -> Rule:
        """The :class:`Rule` of the per-source total."""
        values = {**self.model_dump(exclude={"total_dispersion", "total_threshold"}), "dispersion": self.total_dispersion,
                  "threshold": self.total_threshold}  # fmt: skip
        return Rule(**values, **extra)  # type: ignore[arg-type]


class SemanticConfig(StrictModel):
    """Timing shared by the rate checks of every semantic detector."""

    lateness: str = "5m"
    """a bucket is judged once it ended this long ago (rates do not need complete buckets)"""
    windows: list[str] = Field(default_factory=lambda: ["15m", "1h"], min_length=1)
    baseline: str = "7d"
    """history the baseline rate is learned from (hourly sums kept in the detector state)"""
    resolve_after: str = "1h"
    """time without an elevated window before a finding resolves"""
    adapt_after: str | None = "3d"
    """a finding lasting this long is accepted as the new normal (resolved, ``adapted``)"""
    replay: str = "8d"
    """history judged when a series has no saved state (baseline + a day)"""

    _d = field_validator("lateness", "baseline", "resolve_after", "adapt_after", "replay")(_duration)

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for item in value:
            if parse_duration(item) > 3600:
                raise ValueError("windows must be 1h or shorter (the baseline is kept per hour)")
        return value

    def timing(self, width: int) -> Timing:
        """The engine's :class:`Timing` for buckets of ``width`` seconds."""
        slot = max(3600, width)
        windows = tuple(sorted({max(1, parse_duration(w) // width) for w in self.windows}))
        return Timing(
            width=width,
            windows=windows,
            slot=slot,
            slots=max(parse_duration(self.baseline) // slot, 7 * 86400 // slot),
            resolve_after=max(1, parse_duration(self.resolve_after) // width),
            adapt_after=parse_duration(self.adapt_after) if self.adapt_after else 0,
        )


class LeakageDetectorConfig(StrictModel):
    """Staging / test data in production: the leak rate per event against its baseline."""

    leak: RuleConfig = RuleConfig(min_abs=0.003, min_rel=1.0)
    """test data comes in sessions of several messages: on the per-source total the dispersion is
    about messages per session (``total_dispersion``)"""
    impossible_timestamps: RuleConfig = RuleConfig(min_abs=0.003, min_rel=1.0)
    strong_signals: list[str] = Field(
        default_factory=lambda: ["test_email", "nonprod_host", "nonprod_environment", "qa_identity", "dev_build"]
    )
    """signals no customer sends: on a per-source total each is judged on its own with the exact
    Poisson tail, so a few test sessions on a zero baseline count (a weak signal such as a
    ``test``-like user id, which real ids can match, only counts towards the overall leak rate)"""
    critical_rate: float = Field(default=0.05, ge=0, le=1)
    """a leak rate at or above this is critical (else warning)"""


class SchemaDetectorConfig(StrictModel):
    """Schema drift: new unplanned events and properties, type changes, missing properties, conformance."""

    new_property: RuleConfig = RuleConfig(min_abs=0.05, min_rel=1.0)
    type_change: RuleConfig = RuleConfig(min_abs=0.05, min_rel=1.0, min_baseline=100.0)
    presence: RuleConfig = RuleConfig(min_abs=0.05, min_rel=1.0)
    """judged as the rise of the share of messages without the property"""
    min_presence: float = Field(default=0.5, ge=0, le=1)
    """a property's presence is watched when it is usually at least this"""
    nested: RuleConfig = RuleConfig(min_abs=0.05, min_rel=1.0)
    """missing or mistyped item fields (``items[].product_id``), from the plan's violations"""
    conformance: RuleConfig = RuleConfig(min_abs=0.05, min_rel=0.5)
    conformance_hold: str = "30m"
    """a conformance drop is reported once it lasted this long (the specific checks name the
    property first; the drop is not reported when they explain it)"""
    new_event_grace: str = "1d"
    """events first seen this long after monitoring began are new"""
    new_event_window: str = "1d"
    """a new unplanned event is reported for this long after it appeared"""

    _d = field_validator("new_event_grace", "new_event_window", "conformance_hold")(_duration)


class SLOConfig(StrictModel):
    """A latency objective: ``percentile`` of ``hop`` latencies of matching events at most ``max``."""

    event: str
    source: str = "*"
    environment: str = "*"
    hop: Hop = "e2e"
    percentile: float = Field(default=95.0, gt=0, lt=100)
    max: str
    reason: str = ""

    _d = field_validator("max")(_duration)


def _default_slos() -> list[SLOConfig]:
    return [
        SLOConfig(event="Added to Cart", max="5m", reason="abandon timers start from it"),
        SLOConfig(event="Checkout Started", max="5m", reason="abandon timers start from it"),
        SLOConfig(event="Order Completed", max="2m", reason="it is the journeys' exit condition"),
    ]


class LatencyDetectorConfig(StrictModel):
    """Latency: SLOs per event, and slow-downs against each event's own baseline per hop."""

    slos: list[SLOConfig] = Field(default_factory=_default_slos)
    slo: RuleConfig = RuleConfig(threshold=4.0, cont=2.5, min_count=3.0, min_abs=0.0, min_rel=0.0, dispersion=1.0)
    thresholds: list[str] = Field(default_factory=lambda: ["30s", "2m", "10m", "1h"], min_length=1)
    """the anomaly check watches the share of events slower than each of these"""
    anomaly: RuleConfig = RuleConfig(min_abs=0.05, min_rel=1.0, min_count=10.0)
    max_baseline_share: float = Field(default=0.5, gt=0, le=1)
    """a threshold most events are usually over says nothing: not judged"""
    replay: str = "2d"
    """history judged when a series has no saved state (sketches are costly to read; the baseline
    keeps growing to its full length afterwards)"""

    _d = field_validator("replay")(_duration)

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_duration(item)
        return value


class IdentityDetectorConfig(StrictModel):
    """Identity hygiene rates: email as user id, no identity, no cart/order id, unknown profiles."""

    email_as_user_id: RuleConfig = RuleConfig(min_abs=0.01, min_rel=1.0)
    missing_identity: RuleConfig = RuleConfig(min_abs=0.01, min_rel=1.0)
    missing_entity_id: RuleConfig = RuleConfig(min_abs=0.02, min_rel=1.0)
    window: str = "1d"
    """window of the profile checks (ids never identified, anonymous ids never linked); whole days"""
    identify_horizon: str = "30d"
    """an id counts as identified when an identify carried it this long back (whole days)"""
    link_within: str = "1d"
    """anonymous activity counts as linked when its id was seen with a user id within this (whole days)"""
    min_increase: float = Field(default=0.1, ge=0, le=1)
    """absolute rise of a profile rate over its baseline (median of the last 7 days) to report"""
    min_ids: int = Field(default=200, ge=1)
    """ids in the window, at least, before a profile rate is judged (estimates are ±2 %)"""

    @field_validator("window", "identify_horizon", "link_within")
    @classmethod
    def _days(cls, value: str) -> str:
        seconds = parse_duration(value)
        if seconds < 86400 or seconds % 86400:
            raise ValueError("profile windows are whole days (1d, 7d, 30d…)")
        return value


class RenameDetectorConfig(StrictModel):
    """Event renames (volume hand-off to a new name) and property renames inside an event."""

    lookback: str = "14d"
    """a new event is paired with old ones for this long after it appeared"""
    window: str = "1d"
    """hand-off measured over at most this much time since the new name appeared"""
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    min_share: float = Field(default=0.2, gt=0, le=1)
    """share of the old name's expected volume the new one must carry"""
    min_events: int = Field(default=3, ge=1)
    """events of the new name and expected of the old one, at least"""

    pending: str = "1h"
    """while a new event is not paired yet (at most this long after it appeared), its new-event
    findings and the drops of events with similar names wait for the verdict"""

    _d = field_validator("lookback", "window", "pending")(_duration)


class NamesDetectorConfig(StrictModel):
    """Near-duplicate event and property names (fold to the same key), a standing check."""

    window: str = "1d"
    """variants must have been seen in this window"""
    hold: str = "1h"
    """a new spelling is reported once it has been seen this long (a rename claims it first)"""

    _d = field_validator("window", "hold")(_duration)
