"""The ``alerts:`` config section: receivers (where), the routing tree (who gets what, how often),
inhibition rules and delivery settings.

Secrets never live here: receivers name the environment variables that hold them (``*_env``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from monitors.configbase import StrictModel
from monitors.timeutil import parse_duration

LABELS = ("kind", "severity", "source", "environment", "event", "subject", "journey", "fingerprint")
"""Labels a matcher, ``group_by`` or silence may name."""

Patterns = str | list[str]


def _duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


def _check_labels(names: list[str] | dict[str, Patterns], where: str) -> None:
    unknown = [n for n in names if n not in LABELS and n != "..."]
    if unknown:
        raise ValueError(f"{where}: unknown label(s) {unknown}; use {', '.join(LABELS)}")


class _Receiver(StrictModel):
    name: str = Field(min_length=1, max_length=128)
    timeout: str = "10s"

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def timeout_seconds(self) -> float:
        """The HTTP / SMTP timeout in seconds."""
        return float(parse_duration(self.timeout))

    def secret_envs(self) -> list[str]:
        """Names of the environment variables this receiver reads secrets from."""
        return [str(v) for k, v in self.__dict__.items() if k.endswith("_env") and v]


class SlackWebhookReceiver(_Receiver):
    """A Slack incoming webhook. The URL itself is the secret."""

    type: Literal["slack_webhook"]
    url_env: str = "SLACK_WEBHOOK_URL"


class SlackBotReceiver(_Receiver):
    """A Slack app's bot token: ``chat.postMessage``, then ``chat.update`` and thread replies."""

    type: Literal["slack_bot"]
    token_env: str = "SLACK_BOT_TOKEN"
    channel: str = Field(min_length=1)
    api_url: str = "https://slack.com/api"


class WebhookReceiver(_Receiver):
    """A generic JSON webhook signed with HMAC-SHA256 over ``timestamp + "." + body``."""

    type: Literal["webhook"]
    url_env: str = "EHM_WEBHOOK_URL"
    secret_env: str | None = "EHM_WEBHOOK_SECRET"


class EmailReceiver(_Receiver):
    """SMTP with STARTTLS, implicit TLS (``ssl``) or none; HTML + text parts."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    sender: str = Field(min_length=3)
    to: list[str] = Field(min_length=1)
    ca_file: str | None = None

    @property
    def effective_port(self) -> int:
        """The configured port, or 465 for ``ssl``, 587 for ``starttls``, 25 otherwise."""
        return self.port or {"ssl": 465, "starttls": 587}.get(self.security, 25)


class PagerDutyReceiver(_Receiver):
    """PagerDuty Events API v2: trigger, acknowledge, resolve; ``dedup_key`` = the fingerprint."""

    type: Literal["pagerduty"]
    routing_key_env: str = "PAGERDUTY_ROUTING_KEY"
    url: str = "https://events.pagerduty.com/v2/enqueue"


class TeamsReceiver(_Receiver):
    """A Microsoft Teams workflow webhook ("When a Teams webhook request is received")."""

    type: Literal["teams"]
    url_env: str = "TEAMS_WEBHOOK_URL"


class FileReceiver(_Receiver):
    """Append rendered messages to a file, or ``-`` for stdout: dry runs."""

    type: Literal["file"]
    path: str = "-"
    format: Literal["text", "markdown", "json"] = "text"


ReceiverConfig = Annotated[
    SlackWebhookReceiver
    | SlackBotReceiver
    | WebhookReceiver
    | EmailReceiver
    | PagerDutyReceiver
    | TeamsReceiver
    | FileReceiver,
    Field(discriminator="type"),
]


class RouteConfig(StrictModel):
    """A node of the routing tree. Unset timing/grouping fields inherit from the parent route.

    ``match`` maps labels to glob patterns (a string or a list of alternatives); ``journey: "*"``
    matches findings that put any journey at risk. ``min_severity`` matches that level and above.
    """

    name: str | None = Field(default=None, min_length=1, max_length=128)
    receiver: str | None = None
    match: dict[str, Patterns] = Field(default_factory=dict)
    min_severity: Literal["info", "warning", "critical"] | None = None
    continue_: bool = Field(default=False, alias="continue")
    group_by: list[str] | None = None
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    send_resolved: bool | None = None
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("group_wait", "group_interval", "repeat_interval")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return _duration(value)

    @field_validator("match")
    @classmethod
    def _match_labels(cls, value: dict[str, Patterns]) -> dict[str, Patterns]:
        _check_labels(value, "match")
        return value

    @field_validator("group_by")
    @classmethod
    def _group_labels(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            _check_labels(value, "group_by")
        return value

    def walk(self) -> Iterator[RouteConfig]:
        """This route and all descendants, depth first."""
        yield self
        for child in self.routes:
            yield from child.walk()


class InhibitRuleConfig(StrictModel):
    """While a finding matching ``source_match`` is open, findings matching ``target_match`` with
    equal values of the ``equal`` labels are muted (Alertmanager's inhibition)."""

    source_match: dict[str, Patterns]
    target_match: dict[str, Patterns]
    equal: list[str] = Field(default_factory=lambda: ["source", "environment"])

    @model_validator(mode="after")
    def _labels(self) -> InhibitRuleConfig:
        _check_labels(self.source_match, "source_match")
        _check_labels(self.target_match, "target_match")
        _check_labels(self.equal, "equal")
        return self


def _default_inhibit_rules() -> list[InhibitRuleConfig]:
    return [
        InhibitRuleConfig(
            source_match={"kind": ["source_down", "ingest_stalled"], "subject": ""},
            target_match={"kind": ["silence", "volume_drop"]},
        )
    ]


class DeliveryConfig(StrictModel):
    """Retry policy of the outbox: exponential backoff from ``backoff`` up to ``max_backoff``
    (``Retry-After`` wins when a receiver sends it); give up after ``give_up_after``."""

    backoff: str = "30s"
    max_backoff: str = "10m"
    give_up_after: str = "24h"
    lease: str = "2m"
    batch: int = Field(default=200, ge=1, le=10000)

    @field_validator("backoff", "max_backoff", "give_up_after", "lease")
    @classmethod
    def _durations(cls, value: str) -> str:
        parse_duration(value)
        return value


class AlertsConfig(StrictModel):
    """The ``alerts:`` section of the config file."""

    dashboard_url: str = "http://localhost:8501"
    receivers: list[ReceiverConfig] = Field(default_factory=list)
    route: RouteConfig | None = None
    inhibit_rules: list[InhibitRuleConfig] = Field(default_factory=_default_inhibit_rules)
    rename_inhibits: bool = True
    inhibit_holdover: str = "10m"
    report_route: str | None = None
    delivery: DeliveryConfig = DeliveryConfig()

    @field_validator("inhibit_holdover")
    @classmethod
    def _holdover(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("dashboard_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("dashboard_url must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _references(self) -> AlertsConfig:
        names = [r.name for r in self.receivers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"receiver names must be unique: {dupes}")
        if self.route is None:
            return self
        if self.route.receiver is None:
            raise ValueError("route: the top-level route needs a receiver")
        for node in self.route.walk():
            if node.receiver is not None and node.receiver not in names:
                raise ValueError(f"route {node.name or '(unnamed)'}: unknown receiver {node.receiver!r}")
        route_names = [name for name, _node in named_routes(self.route)]
        dupes = sorted({n for n in route_names if route_names.count(n) > 1})
        if dupes:
            raise ValueError(f"route names must be unique (set `name:` on routes): {dupes}")
        if self.report_route is not None and self.report_route not in route_names:
            raise ValueError(f"report_route: no route named {self.report_route!r}")
        return self

    def receiver(self, name: str) -> ReceiverConfig | None:
        """The receiver called ``name``."""
        return next((r for r in self.receivers if r.name == name), None)


def named_routes(root: RouteConfig) -> Iterator[tuple[str, RouteConfig]]:
    """Every route with its name, depth first. Unnamed routes are called after their receiver
    (the top-level one ``default``); a child without its own receiver gets ``<parent>.<index>``."""
    yield root.name or "default", root
    yield from _named_children(root, root.name or "default")


def _named_children(parent: RouteConfig, parent_name: str) -> Iterator[tuple[str, RouteConfig]]:
    for index, child in enumerate(parent.routes):
        name = child.name or child.receiver or f"{parent_name}.{index}"
        yield name, child
        yield from _named_children(child, name)
