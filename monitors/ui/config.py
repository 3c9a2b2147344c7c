"""The ``dashboard:`` config section: access control, latency SLOs, refresh and default range.

Example::

    dashboard:
      auth:
        password_env: EHM_DASHBOARD_PASSWORD   # a shared password, when that variable is set
        oidc_provider: null                    # st.login provider name when [auth] is in secrets.toml
        required: false                        # true: refuse to show anything without a login method
      latency_slo: 60s                         # p95 of the hop below, per event
      latency_hop: e2e                         # send | deliver | e2e
      slo_overrides:
        - {event: "Order Completed", latency_slo: 30s}
      refresh: 30s                             # live tiles on the overview
      default_range: 24h
"""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import Field, field_validator

from monitors.configbase import StrictModel
from monitors.timeutil import parse_duration

RANGES = ("1h", "6h", "24h", "3d", "7d", "30d", "90d")
"""Time ranges offered by the dashboard (the ``range`` URL parameter)."""


def _duration(value: str) -> str:
    parse_duration(value)
    return value


class AuthConfig(StrictModel):
    """Who may open the dashboard. OIDC (``st.login``) when Streamlit's ``[auth]`` secrets exist,
    else a password from ``password_env`` when that variable is set, else open."""

    password_env: str = "EHM_DASHBOARD_PASSWORD"
    oidc_provider: str | None = None
    required: bool = False

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not value.replace("_", "").isalnum() or not value[0].isalpha():
            raise ValueError("password_env must be an environment variable name, not the password")
        return value


class SLOOverride(StrictModel):
    """A latency SLO for the events matching ``event`` (a glob) — and ``source`` (a glob)."""

    event: str = "*"
    source: str = "*"
    latency_slo: str

    _durations = field_validator("latency_slo")(_duration)


class DashboardConfig(StrictModel):
    """The ``dashboard:`` section of the config file."""

    auth: AuthConfig = AuthConfig()
    latency_slo: str = "60s"
    latency_hop: Literal["send", "deliver", "e2e"] = "e2e"
    slo_overrides: list[SLOOverride] = Field(default_factory=list)
    refresh: str = "30s"
    default_range: str = "24h"

    _durations = field_validator("latency_slo", "refresh")(_duration)

    @field_validator("default_range")
    @classmethod
    def _range(cls, value: str) -> str:
        if value not in RANGES:
            raise ValueError(f"default_range must be one of {', '.join(RANGES)}")
        return value

    def slo_seconds(self, event: str, source: str = "") -> float:
        """The p95 latency objective of one event (the last matching override wins)."""
        chosen = self.latency_slo
        for item in self.slo_overrides:
            if fnmatch.fnmatchcase(event, item.event) and fnmatch.fnmatchcase(source or "", item.source):
                chosen = item.latency_slo
        return float(parse_duration(chosen))
