from __future__ import annotations

import pytest

from monitors.config import parse_config
from monitors.errors import ConfigError


def test_minimal_section_defaults() -> None:
    config = parse_config({"customerio": {"workspace": "shop"}}).customerio
    assert config is not None
    assert config.api_url == "https://api.customer.io"
    assert config.app_api_key_env == "CUSTOMERIO_APP_API_KEY"
    assert config.streams == [None]
    assert (config.budget, config.page_size, config.rate_limit) == (600, 100, 10.0)


def test_region_eu_and_base_url_override() -> None:
    eu = parse_config({"customerio": {"workspace": "s", "region": "eu"}}).customerio
    assert eu is not None and eu.api_url == "https://api-eu.customer.io"
    local = parse_config({"customerio": {"workspace": "s", "region": "eu", "base_url": "http://127.0.0.1:9/"}})
    assert local.customerio is not None and local.customerio.api_url == "http://127.0.0.1:9"


def test_listed_activity_types_become_streams() -> None:
    config = parse_config({"customerio": {"workspace": "s", "activity_types": ["event", "failed_event"]}})
    assert config.customerio is not None and config.customerio.streams == ["event", "failed_event"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"workspace": "s", "region": "ap"}, "customerio.region"),
        ({"workspace": "s", "app_api_key_env": "sk_live 123"}, "environment variable name"),
        ({"workspace": "s", "activity_types": ["Event Sent"]}, "not activity types"),
        ({"workspace": "s", "activity_types": ["event", "event"]}, "lists a type twice"),
        ({"workspace": "s", "budget": 0}, "customerio.budget"),
        ({"workspace": "s", "page_size": 101}, "customerio.page_size"),
        ({"workspace": "s", "rate_limit": 20}, "customerio.rate_limit"),
        ({"workspace": "s", "base_url": "api.customer.io"}, "base_url must start with"),
        ({"workspace": "s", "backfill": "soon"}, "not a duration"),
        ({"workspace": "s", "reconcile": {"min_ratio": 0.5, "critical_ratio": 0.8}}, "critical_ratio"),
        ({"workspace": "s", "api_key": "x"}, "customerio.api_key: unknown key"),
        ({"region": "us"}, "customerio.workspace"),
    ],
)
def test_invalid_sections_are_rejected_with_the_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"customerio": section})
