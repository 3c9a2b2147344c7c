"""The config file (YAML): each component owns its section; unknown keys are errors.

Secrets never live here: the file names the environment variables that hold them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator

from monitors.alerts.config import AlertsConfig
from monitors.configbase import StrictModel, load_yaml
from monitors.customerio.config import CustomerIOConfig
from monitors.detectors.config import DetectorsConfig
from monitors.errors import ConfigError
from monitors.ingest.leakage import LeakageConfig
from monitors.ingest.names import DEFAULT_MAX_NAMES
from monitors.ingest.propkeys import DEFAULT_MAX_KEYS
from monitors.jobs.config import WorkerConfig
from monitors.timeutil import parse_duration
from monitors.ui.config import DashboardConfig
from monitors.warehouse.config import RollupsConfig, WarehouseSources

CONFIG_ENV = "EHM_CONFIG"
DATABASE_ENV = "EHM_DATABASE_URL"
DEFAULT_DB = "sqlite:///data/ehm.sqlite"


class DatabaseConfig(StrictModel):
    """Where the metric store lives. ``url`` may be given directly or through ``url_env``."""

    url: str | None = None
    url_env: str = DATABASE_ENV

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"url_env names an environment variable (e.g. {DATABASE_ENV}), not a URL or a value")
        return value

    @field_validator("url")
    @classmethod
    def _no_secret(cls, value: str | None) -> str | None:
        if value is not None and re.search(r"://[^/@]*:[^/@]*@|[?&][^=]*(pass|secret|token)[^=]*=", value, re.I):
            raise ValueError("database.url holds a password: secrets come from the environment — export the URL "
                             f"in a variable and name it in url_env (default {DATABASE_ENV})")  # fmt: skip
        return value

    def resolve(self) -> str:
        """The URL to use: the env var named by ``url_env`` wins, then ``url``, then the SQLite
        default — unless ``url_env`` was set in the config, without ``url``, and its variable is
        not set: then the data would quietly go to a local file (a cron job without the variable)."""
        found = os.environ.get(self.url_env)
        if not found and self.url is None and "url_env" in self.model_fields_set:
            raise ConfigError(f"database.url_env is {self.url_env}, which is not set: export it with the database "
                              f"URL, or drop url_env to use the default {DEFAULT_DB}")  # fmt: skip
        return found or self.url or DEFAULT_DB


class SourceConfig(StrictModel):
    """One outgoing event log: files, globs or directories of JSON lines (plain or gzip)."""

    name: str = Field(min_length=1, max_length=128)
    environment: str = Field(default="production", min_length=1, max_length=64)
    paths: list[str] = Field(min_length=1)
    conformance_sample_rate: float = Field(default=1.0, gt=0.0, le=1.0)
    final_line_grace: str = "5m"
    # distinct track event names kept; new ones past it count as "(other events)" (0: no limit)
    max_event_names: int = Field(default=DEFAULT_MAX_NAMES, ge=0)
    # distinct unplanned property keys per event; new ones past it count as "(other properties)" (0: no limit)
    max_property_keys: int = Field(default=DEFAULT_MAX_KEYS, ge=0)

    @field_validator("final_line_grace")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class JourneyConfig(StrictModel):
    """A Customer.io journey and what it depends on, by role.

    ``trigger`` and ``exit`` name events; ``filter`` names the properties its filters read and
    ``properties`` those its messages use (on the trigger and exit events). A finding on any of
    them puts the journey at risk: every alert names it, and (``raise_severity``) its severity
    goes up one level. Only findings in ``environments`` (and ``sources``, when given) count.
    """

    name: str = Field(min_length=1, max_length=128)
    trigger: list[str] = Field(default_factory=list)
    exit: list[str] = Field(default_factory=list)
    filter: list[str] = Field(default_factory=list)
    properties: list[str] = Field(default_factory=list)
    environments: list[str] = Field(default_factory=lambda: ["production"], min_length=1)
    sources: list[str] = Field(default_factory=list)
    raise_severity: bool = True

    @property
    def events(self) -> list[str]:
        """The trigger and exit events."""
        return [*self.trigger, *(e for e in self.exit if e not in self.trigger)]


class Config(StrictModel):
    """The whole config file."""

    database: DatabaseConfig = DatabaseConfig()
    data_dir: str = "data"
    bucket: str = "5m"
    plan: str | None = None
    sources: list[SourceConfig] = Field(default_factory=list)
    journeys: list[JourneyConfig] = Field(default_factory=list)
    detectors: DetectorsConfig = DetectorsConfig()
    customerio: CustomerIOConfig | None = None
    leakage: LeakageConfig = LeakageConfig()
    alerts: AlertsConfig = AlertsConfig()
    worker: WorkerConfig = WorkerConfig()
    dashboard: DashboardConfig = DashboardConfig()
    warehouses: WarehouseSources = Field(default_factory=list)
    rollups: RollupsConfig = RollupsConfig()

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        seconds = parse_duration(value)
        if seconds < 60 or 86400 % seconds:
            raise ValueError("bucket must divide a day and be at least 1m (e.g. 1m, 5m, 15m, 1h)")
        return value

    @property
    def bucket_seconds(self) -> int:
        """Bucket width in seconds."""
        return parse_duration(self.bucket)

    def source(self, name: str) -> SourceConfig | None:
        """The source named ``name``, if configured."""
        return next((s for s in self.sources if s.name == name), None)


def _format_errors(path: str, exc: ValidationError) -> str:
    lines = [f"invalid config {path}:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any] | None, origin: str = "<config>") -> Config:
    """Validate a config mapping; raises :class:`ConfigError` listing every problem."""
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(_format_errors(origin, exc)) from exc


def load_config(path: str | None = None) -> Config:
    """Load the config from ``path``, ``$EHM_CONFIG`` or ``./ehm.yaml``; defaults when none exists."""
    explicit = path or os.environ.get(CONFIG_ENV)
    candidate = Path(explicit) if explicit else Path("ehm.yaml")
    if not candidate.exists():
        if explicit:
            raise ConfigError(f"config file not found: {candidate} — pass --config PATH or unset {CONFIG_ENV}")
        return Config()
    try:
        data = load_yaml(candidate.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {candidate}: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config {candidate} must be a mapping at the top level")
    plan = (data or {}).get("plan")
    if isinstance(plan, str) and not Path(plan).is_absolute() and not Path(plan).exists():
        beside = candidate.parent / plan  # a plan named beside the config, run from elsewhere (cron, systemd)
        if beside.exists():
            data = {**(data or {}), "plan": str(beside)}
    return parse_config(data, str(candidate))
