from __future__ import annotations

from typing import Any

import pytest

from monitors.alerts.config import named_routes
from monitors.config import parse_config
from monitors.errors import ConfigError

FILE = {"name": "out", "type": "file"}


def alerts(**section: Any) -> dict[str, Any]:
    return {"alerts": {"receivers": [FILE], "route": {"receiver": "out"}, **section}}


def test_defaults_have_no_route_and_the_source_down_inhibit_rule() -> None:
    config = parse_config({})
    assert config.alerts.route is None
    assert config.alerts.dashboard_url == "http://localhost:8501"
    [rule] = config.alerts.inhibit_rules
    assert rule.source_match == {"kind": ["source_down", "ingest_stalled"], "subject": ""}
    assert rule.target_match == {"kind": ["silence", "volume_drop"]}
    assert rule.equal == ["source", "environment"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"receivers": [{**FILE, "colour": "red"}]}, "receivers.0.file.colour: unknown key"),
        ({"route": {"receiver": "nobody"}}, "unknown receiver 'nobody'"),
        ({"route": {"receiver": "out", "group_wait": "soon"}}, "not a duration"),
        ({"route": {"receiver": "out", "match": {"colour": "red"}}}, "unknown label(s) ['colour']"),
        ({"route": {"receiver": "out", "group_by": ["team"]}}, "unknown label(s) ['team']"),
        ({"route": {}}, "the top-level route needs a receiver"),
        ({"receivers": [FILE, FILE]}, "receiver names must be unique"),
        (
            {"route": {"receiver": "out", "routes": [{"receiver": "out"}, {"receiver": "out"}]}},
            "route names must be unique",
        ),
        ({"report_route": "weekly"}, "no route named 'weekly'"),
        ({"dashboard_url": "localhost:8501"}, "dashboard_url must start with http"),
        ({"receivers": [{"name": "x", "type": "carrier_pigeon"}]}, "does not match any of the expected tags"),
    ],
    ids=[
        "unknown-key",
        "unknown-receiver",
        "bad-duration",
        "bad-match-label",
        "bad-group-label",
        "root-without-receiver",
        "duplicate-receiver",
        "duplicate-route",
        "unknown-report-route",
        "bad-dashboard-url",
        "unknown-type",
    ],
)
def test_invalid_alerts_config_is_rejected_with_the_reason(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(alerts(**section))
    assert message in str(info.value)


def test_routes_are_named_explicitly_after_their_receiver_or_by_position() -> None:
    config = parse_config(
        {
            "alerts": {
                "receivers": [FILE, {"name": "pd", "type": "pagerduty"}],
                "route": {
                    "receiver": "out",
                    "routes": [
                        {"receiver": "pd"},
                        {"name": "retention", "match": {"journey": "*"}},
                        {"match": {"kind": "x"}},
                    ],
                },
            }
        }
    )
    assert config.alerts.route is not None
    assert [name for name, _node in named_routes(config.alerts.route)] == [
        "default",
        "pd",
        "retention",
        "default.2",
    ]


def test_receivers_list_the_environment_variables_holding_their_secrets() -> None:
    config = parse_config(
        {
            "alerts": {
                "receivers": [
                    {
                        "name": "mail",
                        "type": "email",
                        "host": "smtp.test",
                        "sender": "ehm@shop.test",
                        "to": ["oncall@shop.test"],
                        "username": "ehm",
                        "password_env": "SMTP_PASSWORD",
                    },
                    {"name": "hook", "type": "webhook"},
                    {"name": "bot", "type": "slack_bot", "channel": "C1", "token_env": "BOT"},
                ]
            }
        }
    )
    assert [r.secret_envs() for r in config.alerts.receivers] == [
        ["SMTP_PASSWORD"],
        ["EHM_WEBHOOK_URL", "EHM_WEBHOOK_SECRET"],
        ["BOT"],
    ]


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_email_port_defaults_follow_security(security: str, port: int) -> None:
    config = parse_config(
        {
            "alerts": {
                "receivers": [
                    {
                        "name": "m",
                        "type": "email",
                        "host": "h",
                        "sender": "a@b.c",
                        "to": ["x@y.z"],
                        "security": security,
                    }
                ]
            }
        }
    )
    assert config.alerts.receivers[0].effective_port == port  # type: ignore[union-attr]


def test_journey_config_defaults_to_production_and_raising_severity() -> None:
    config = parse_config(
        {
            "journeys": [
                {
                    "name": "Cart recovery",
                    "trigger": ["Added to Cart"],
                    "exit": ["Order Completed", "Added to Cart"],
                }
            ]
        }
    )
    [journey] = config.journeys
    assert journey.environments == ["production"]
    assert journey.raise_severity is True
    assert journey.events == ["Added to Cart", "Order Completed"]
