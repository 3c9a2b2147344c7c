"""The ``detectors:`` config section: which detectors run and how the volume detector judges.

Example::

    detectors:
      volume:
        sensitivity: medium        # low | medium | high
        min_history: 14d           # no volume alert before a series has this much history
        resolve_after: 6           # buckets back to normal before an incident is resolved
        lateness: 10m              # a bucket is judged once it ended this long ago
        overrides:
          - event: "Checkout *"    # glob; source / environment are globs too
            sensitivity: high
          - source: qa-*
            enabled: false
"""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import Field, field_validator

from monitors.configbase import StrictModel
from monitors.detectors._semantic_config import (
    IdentityDetectorConfig,
    LatencyDetectorConfig,
    LeakageDetectorConfig,
    NamesDetectorConfig,
    RenameDetectorConfig,
    SchemaDetectorConfig,
    SemanticConfig,
)
from monitors.timeutil import parse_duration

Sensitivity = Literal["low", "medium", "high"]


class SensitivityPreset(StrictModel):
    """What a sensitivity level means in numbers (see docs/detectors.md)."""

    threshold: float = Field(gt=0)
    """z-score (on the count-aware scale) that opens an incident."""
    min_abs_change: float = Field(ge=0)
    """Events a window must differ from expected by, at least."""
    min_rel_change: float = Field(ge=0)
    """Fraction a window must differ from expected by, at least."""


PRESETS: dict[str, SensitivityPreset] = {
    "low": SensitivityPreset(threshold=6.0, min_abs_change=20.0, min_rel_change=0.3),
    "medium": SensitivityPreset(threshold=4.5, min_abs_change=10.0, min_rel_change=0.15),
    "high": SensitivityPreset(threshold=3.5, min_abs_change=5.0, min_rel_change=0.1),
}


def _check_duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


class VolumeSettings(StrictModel):
    """Settings a per-event override may change (``None`` means: keep the default)."""

    enabled: bool | None = None
    sensitivity: Sensitivity | None = None
    min_abs_change: float | None = Field(default=None, ge=0)
    min_rel_change: float | None = Field(default=None, ge=0)
    min_history: str | None = None
    resolve_after: int | None = Field(default=None, ge=1, le=1000)
    adapt_after: str | None = None

    _durations = field_validator("min_history", "adapt_after")(_check_duration)


class VolumeOverride(VolumeSettings):
    """Settings for the series whose source, environment and event match these globs."""

    source: str = "*"
    environment: str = "*"
    event: str = "*"

    def matches(self, source: str, environment: str, event: str) -> bool:
        """Whether this override applies to the series (case-sensitive globs)."""
        return (
            fnmatch.fnmatchcase(source, self.source)
            and fnmatch.fnmatchcase(environment, self.environment)
            and fnmatch.fnmatchcase(event, self.event)
        )


class ResolvedVolume(StrictModel):
    """The effective settings of one series: defaults, then every matching override in order."""

    enabled: bool
    sensitivity: Sensitivity
    threshold: float
    min_abs_change: float
    min_rel_change: float
    min_history_s: int
    resolve_after: int
    adapt_after_s: int | None


class VolumeConfig(StrictModel):
    """The volume detector: spikes, drops and silences of event counts per bucket."""

    enabled: bool = True
    sensitivity: Sensitivity = "medium"
    min_abs_change: float | None = Field(default=None, ge=0)
    min_rel_change: float | None = Field(default=None, ge=0)
    min_history: str = "14d"
    min_history_buckets: int = Field(default=24, ge=1)
    resolve_after: int = Field(default=6, ge=1, le=1000)
    lateness: str = "10m"
    adapt_after: str | None = "3d"
    new_event_grace: str = "1d"
    replay: str = "35d"
    bands_keep: str = "14d"
    bands_write: str = "2d"
    overrides: list[VolumeOverride] = Field(default_factory=list)

    _durations = field_validator(
        "min_history", "lateness", "adapt_after", "new_event_grace", "replay", "bands_keep", "bands_write"
    )(_check_duration)

    def resolve(self, source: str, environment: str, event: str) -> ResolvedVolume:
        """The effective settings for one series."""
        settings = VolumeSettings(
            enabled=self.enabled,
            sensitivity=self.sensitivity,
            min_abs_change=self.min_abs_change,
            min_rel_change=self.min_rel_change,
            min_history=self.min_history,
            resolve_after=self.resolve_after,
            adapt_after=self.adapt_after,
        )
        explicit = {"min_abs_change": self.min_abs_change, "min_rel_change": self.min_rel_change}
        for override in self.overrides:
            if override.matches(source, environment, event):
                changes = override.model_dump(include=set(VolumeSettings.model_fields), exclude_none=True)
                settings = settings.model_copy(update=changes)
                explicit.update({k: v for k, v in changes.items() if k in explicit})
        preset = PRESETS[settings.sensitivity or "medium"]
        abs_change, rel_change = explicit["min_abs_change"], explicit["min_rel_change"]
        return ResolvedVolume(
            enabled=bool(settings.enabled),
            sensitivity=settings.sensitivity or "medium",
            threshold=preset.threshold,
            min_abs_change=preset.min_abs_change if abs_change is None else abs_change,
            min_rel_change=preset.min_rel_change if rel_change is None else rel_change,
            min_history_s=parse_duration(settings.min_history or self.min_history),
            resolve_after=settings.resolve_after or self.resolve_after,
            adapt_after_s=parse_duration(settings.adapt_after) if settings.adapt_after else None,
        )


class DetectorsConfig(StrictModel):
    """The ``detectors:`` section of the config file."""

    disabled: list[str] = Field(default_factory=list)
    """Detector names (module names in ``monitors.detectors``) not to run."""
    volume: VolumeConfig = VolumeConfig()
    semantic: SemanticConfig = SemanticConfig()
    """timing shared by the semantic detectors (docs/semantic.md)"""
    leakage: LeakageDetectorConfig = LeakageDetectorConfig()
    schema_drift: SchemaDetectorConfig = Field(default=SchemaDetectorConfig(), alias="schema")
    latency: LatencyDetectorConfig = LatencyDetectorConfig()
    identity: IdentityDetectorConfig = IdentityDetectorConfig()
    rename: RenameDetectorConfig = RenameDetectorConfig()
    names: NamesDetectorConfig = NamesDetectorConfig()
