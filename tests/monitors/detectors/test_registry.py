"""Detectors register by module name; the ``detectors:`` config is strict and overrides apply."""

from __future__ import annotations

import pytest

from monitors.config import parse_config
from monitors.detectors import available, registry
from monitors.detectors.config import DetectorsConfig, VolumeConfig
from monitors.errors import ConfigError


def test_volume_is_registered_by_module_name() -> None:
    assert "volume" in available()
    assert [d.name for d in registry()] == ["volume", "schema", "leakage", "latency", "identity", "names", "rename"]
    assert "volume" not in [d.name for d in registry(DetectorsConfig(disabled=["volume"]))]


def test_unknown_keys_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"detectors\.volume\.sensitivty: unknown key"):
        parse_config({"detectors": {"volume": {"sensitivty": "high"}}})
    with pytest.raises(ConfigError, match=r"detectors\.volume\.lateness"):
        parse_config({"detectors": {"volume": {"lateness": "soon"}}})


def test_overrides_apply_in_order_and_presets_follow_sensitivity() -> None:
    config = VolumeConfig.model_validate(
        {
            "min_abs_change": 3,
            "overrides": [
                {"event": "Checkout *", "sensitivity": "high"},
                {"source": "qa-*", "enabled": False},
                {"event": "Checkout Completed", "resolve_after": 12},
            ],
        }
    )
    default = config.resolve("web", "production", "Product Viewed")
    assert (default.sensitivity, default.threshold, default.min_abs_change, default.min_rel_change) == (
        "medium",
        4.5,
        3,
        0.15,
    )
    checkout = config.resolve("web", "production", "Checkout Completed")
    assert (checkout.sensitivity, checkout.threshold, checkout.min_abs_change, checkout.resolve_after) == (
        "high",
        3.5,
        3,
        12,
    )
    assert config.resolve("web", "production", "Checkout Started").min_rel_change == 0.1
    assert not config.resolve("qa-app", "production", "Product Viewed").enabled
