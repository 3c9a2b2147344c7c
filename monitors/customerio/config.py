"""The ``customerio:`` config section: which workspace to read, how, and how to reconcile it.

Example::

    customerio:
      workspace: shop-prod
      region: eu                      # or base_url: http://127.0.0.1:8080 (proxies, the stand-in)
      app_api_key_env: CUSTOMERIO_APP_API_KEY
      activity_types: []              # [] = one unfiltered stream; or e.g. [event, failed_event]
      budget: 600                     # pages (of up to 100 activities) per run
      reconcile:
        sources: [shop-backend]
        min_ratio: 0.95

The App API key itself never appears here: only the name of the environment variable holding it.
Buckets inherit the top-level ``bucket``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from monitors.configbase import StrictModel
from monitors.timeutil import parse_duration

REGION_URLS = {"us": "https://api.customer.io", "eu": "https://api-eu.customer.io"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ACTIVITY_TYPE = re.compile(r"^(_[or]:[^:\s]+:)?[a-z_]+$")


def _duration(value: str) -> str:
    parse_duration(value)
    return value


class ReconcileConfig(StrictModel):
    """Sent (outgoing logs) versus received (activities): which logs feed this workspace, thresholds."""

    sources: list[str] = Field(default_factory=list, description="source names feeding the workspace; [] = all")
    environment: str = "production"
    min_ratio: float = Field(default=0.95, gt=0.0, le=1.0, description="delivery ratio below this opens a finding")
    critical_ratio: float = Field(default=0.5, ge=0.0, le=1.0, description="below this the finding is critical")
    min_sent: int = Field(default=20, ge=1, description="buckets with fewer sent events are not judged")
    settle: str = Field(default="10m", description="how long Customer.io may take to show an activity")
    lookback: str = Field(default="1d", description="how far back each reconciliation looks")

    @field_validator("settle", "lookback")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _ordered(self) -> ReconcileConfig:
        if self.critical_ratio > self.min_ratio:
            raise ValueError("critical_ratio must not exceed min_ratio")
        return self


class FlappingConfig(StrictModel):
    """When an attribute counts as flapping for a person: many changes a day, some of them reversals."""

    min_changes: int = Field(default=4, ge=2, description="changes of one attribute for one person in a UTC day")
    min_reversals: int = Field(default=2, ge=1, description="changes back to the value before the last change")


class CustomerIOConfig(StrictModel):
    """The ``customerio:`` section of the config file."""

    workspace: str = Field(min_length=1, max_length=128, description="a label for the workspace")
    region: Literal["us", "eu"] = "us"
    base_url: str | None = Field(default=None, description="overrides region (proxy, local stand-in)")
    app_api_key_env: str = "CUSTOMERIO_APP_API_KEY"
    activity_types: list[str] = Field(default_factory=list, description="[] reads every type in one stream")
    budget: int = Field(default=600, ge=1, le=100_000, description="page requests per collection run")
    page_size: int = Field(default=100, ge=1, le=100)
    rate_limit: float = Field(default=10.0, gt=0.0, le=10.0, description="App API requests per second")
    max_retries: int = Field(default=5, ge=0, le=20, description="per request, for 5xx, timeouts, 429")
    timeout: float = Field(default=30.0, gt=0.0, le=300.0, description="seconds per request")
    backfill: str = Field(default="30d", description="how far back the first run reads")
    interval: str = Field(default="5m", description="how often the worker collects")
    flapping: FlappingConfig = FlappingConfig()
    reconcile: ReconcileConfig = ReconcileConfig()

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("base_url must start with http:// or https:// and name a host")
        return value.rstrip("/") if value else value

    @field_validator("app_api_key_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("app_api_key_env must be an environment variable name, not the key itself")
        return value

    @field_validator("activity_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not _ACTIVITY_TYPE.match(t)]
        if bad:
            raise ValueError(f"not activity types: {bad} (e.g. event, failed_event, sent_email)")
        if len(set(value)) != len(value):
            raise ValueError("activity_types lists a type twice")
        return value

    @field_validator("backfill", "interval")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @property
    def api_url(self) -> str:
        """The App API base URL: ``base_url`` if set, else the region's host."""
        return self.base_url or REGION_URLS[self.region]

    @property
    def streams(self) -> list[str | None]:
        """The activity streams read each run: one per listed type, or one unfiltered (``None``)."""
        return list(self.activity_types) or [None]
