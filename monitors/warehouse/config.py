"""The ``warehouses:`` config section (one entry per SQL source) and ``rollups:`` (retention).

Example::

    warehouses:
      - name: web-warehouse
        environment: production
        url_env: EHM_WAREHOUSE_WEB_URL        # e.g. postgresql://reader@dwh/analytics (secret: env only)
        schema: web_prod                      # the source's schema (Segment / RudderStack: one per source)
        layout: segment                       # tracks + one table per event + identifies/pages/screens
        watermark: received_at                # or a load column: uuid_ts, loaded_at
        lateness: 6h                          # re-aggregated every run; later rows are still counted once
    rollups:
      retention: {raw: 14d, hour: 90d, day: 730d}

``layout: custom`` reads one table of your own (Customer.io Data Pipelines files loaded by your
loader, other vendors) through ``custom.columns`` — see :class:`CustomTableConfig`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from monitors.configbase import StrictModel
from monitors.timeutil import parse_duration

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BUILTIN_TABLES = ("tracks", "identifies", "pages", "screens", "groups", "aliases")
MSG_TYPES = ("track", "identify", "page", "screen", "group", "alias")


def _duration(value: str) -> str:
    parse_duration(value)
    return value


class ColumnsConfig(StrictModel):
    """Names of the standard columns (defaults: the Segment / RudderStack names)."""

    message_id: str = "id"
    event: str = "event"
    event_text: str = "event_text"
    user_id: str = "user_id"
    anonymous_id: str = "anonymous_id"
    timestamp: str = "timestamp"
    original_timestamp: str = "original_timestamp"
    sent_at: str = "sent_at"
    received_at: str = "received_at"


class CustomTableConfig(StrictModel):
    """One table holding every message, with the properties (and traits) in JSON columns.

    ``type_column`` holds the message type (track, identify, page, …); without it every row is a
    ``track``. ``event_column`` holds the event name. Leave a column name empty when it is absent.
    """

    table: str = Field(min_length=1)
    type_column: str = ""
    event_column: str = "event"
    properties_column: str = "properties"
    traits_column: str = ""


class WarehouseSourceConfig(StrictModel):
    """One warehouse source: where its events are, how to read them, how often to look back."""

    name: str = Field(min_length=1, max_length=128)
    environment: str = Field(default="production", min_length=1, max_length=64)
    url_env: str = Field(description="environment variable holding the SQLAlchemy URL of the warehouse")
    schema_: str | None = Field(default=None, alias="schema", description="schema (dataset) of the tables")
    layout: Literal["segment", "custom"] = "segment"
    tables: list[str] = Field(default_factory=lambda: ["tracks", "identifies", "pages", "screens"])
    event_tables: dict[str, str] = Field(
        default_factory=dict, description="event name → table, when not derivable"
    )
    custom: CustomTableConfig | None = None
    columns: ColumnsConfig = ColumnsConfig()
    watermark: str = Field(
        default="received_at", description="monotonic load/receive column for incremental reads"
    )
    lateness: str = Field(default="6h", description="re-read this far behind the watermark every run")
    slice: str = Field(default="1h", description="granularity of the re-aggregated window (divides a day)")
    initial_lookback: str = Field(default="1d", description="how far back the first run reads")
    max_window: str = Field(default="7d", description="at most this much watermark time per run (backfills)")
    property_stats: bool = Field(default=True, description="types of unplanned property columns too")
    lease_ttl: str = Field(default="10m", description="a worker holds the source this long between renewals")
    session_sql: list[str] = Field(
        default_factory=list,
        description="statements run first on each warehouse connection, e.g. SET work_mem = '256MB'",
    )
    concurrency: int = Field(
        default=2, ge=1, le=8, description="aggregate queries run at once, each on its own connection"
    )

    @field_validator("lateness", "initial_lookback", "max_window", "lease_ttl")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @field_validator("slice")
    @classmethod
    def _slice(cls, value: str) -> str:
        seconds = parse_duration(value)
        if seconds < 300 or 86400 % seconds:
            raise ValueError("slice must divide a day and be at least 5m (e.g. 15m, 1h)")
        return value

    @field_validator("url_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(
                "url_env must be the NAME of an environment variable (the URL itself is a secret)"
            )
        return value

    @field_validator("tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        bad = sorted(set(value) - set(BUILTIN_TABLES))
        if bad:
            raise ValueError(f"unknown tables {bad} (choose from {', '.join(BUILTIN_TABLES)})")
        return value

    @model_validator(mode="after")
    def _custom(self) -> WarehouseSourceConfig:
        if self.layout == "custom" and self.custom is None:
            raise ValueError("layout: custom needs a `custom:` section naming the table and its JSON columns")
        return self

    @property
    def lateness_seconds(self) -> int:
        """``lateness`` in seconds."""
        return parse_duration(self.lateness)

    @property
    def slice_seconds(self) -> int:
        """``slice`` in seconds."""
        return parse_duration(self.slice)


Resolution = Literal["raw", "hour", "day"]


def _default_retention() -> dict[Resolution, str]:
    return {"raw": "14d", "hour": "90d", "day": "730d"}


class RollupsConfig(StrictModel):
    """How long each resolution of the metric store is kept (``raw`` = the configured bucket)."""

    retention: dict[Resolution, str] = Field(default_factory=_default_retention)

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: dict[str, str]) -> dict[str, str]:
        for v in value.values():
            _duration(v)
        return value

    def seconds(self) -> dict[str, int]:
        """Retention per resolution in seconds (missing resolutions are kept forever)."""
        return {k: parse_duration(v) for k, v in self.retention.items()}


def unique_names(sources: list[WarehouseSourceConfig]) -> list[WarehouseSourceConfig]:
    """Validate that source names are unique (used by the top-level config)."""
    seen: set[str] = set()
    for s in sources:
        if s.name in seen:
            raise ValueError(f"warehouse source {s.name!r} is defined twice")
        seen.add(s.name)
    return sources


WarehouseSources = Annotated[list[WarehouseSourceConfig], AfterValidator(unique_names)]
