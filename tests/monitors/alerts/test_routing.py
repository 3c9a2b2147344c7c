from __future__ import annotations

from typing import Any

import pytest

from monitors.alerts.journeys import annotate
from monitors.alerts.routing import Route, build_tree, find_route, group_hash, routes_for
from monitors.config import JourneyConfig
from monitors.errors import ConfigError
from tests.monitors.alerts.conftest import make_config
from tests.monitors.alerts.factories import make_finding

RECEIVERS = [{"name": n, "type": "file"} for n in ("everyone", "pager", "retention", "staging")]


def tree(route: dict[str, Any]) -> Route:
    built = build_tree(make_config(RECEIVERS, route).alerts)
    assert built is not None
    return built


TREE = {
    "receiver": "everyone",
    "group_wait": "1m",
    "repeat_interval": "2h",
    "routes": [
        {"name": "staging", "receiver": "staging", "match": {"environment": "staging"}},
        {
            "name": "pager",
            "receiver": "pager",
            "min_severity": "critical",
            "continue": True,
            "repeat_interval": "30m",
        },
        {"name": "retention", "receiver": "retention", "match": {"journey": "*"}, "send_resolved": False},
    ],
}


@pytest.mark.parametrize(
    ("finding_kwargs", "expected"),
    [
        ({"environment": "staging", "severity": "critical"}, ["staging"]),
        ({"severity": "critical", "event": "Product Viewed"}, ["pager"]),
        ({"severity": "critical", "event": "Order Completed"}, ["pager", "retention"]),
        ({"severity": "warning", "event": "Product Viewed"}, ["default"]),
        ({"severity": "info", "event": "Added to Cart"}, ["retention"]),
    ],
    ids=[
        "first-match-stops",
        "continue-without-later-match",
        "continue-then-journey",
        "fallback-to-parent",
        "journey-any",
    ],
)
def test_findings_descend_to_the_first_matching_route_and_continue_when_asked(
    finding_kwargs: dict[str, Any], expected: list[str]
) -> None:
    journeys = [
        JourneyConfig(
            name="Cart recovery", trigger=["Added to Cart"], exit=["Order Completed"], raise_severity=False
        )
    ]
    finding = annotate(make_finding(**finding_kwargs), journeys)
    assert [r.name for r in routes_for(tree(TREE), finding)] == expected


def test_children_inherit_timing_and_resolved_settings_unless_they_set_their_own() -> None:
    root = tree(TREE)
    pager, retention = find_route(root, "pager"), find_route(root, "retention")
    assert (root.group_wait, root.group_interval, root.repeat_interval, root.send_resolved) == (
        60,
        300,
        7200,
        True,
    )
    assert (pager.group_wait, pager.repeat_interval, pager.send_resolved) == (60, 1800, True)
    assert (retention.repeat_interval, retention.send_resolved, retention.receiver) == (
        7200,
        False,
        "retention",
    )
    assert root.group_by == ("source", "environment", "kind")


def test_glob_patterns_and_lists_match_label_values() -> None:
    root = tree(
        {
            "receiver": "everyone",
            "routes": [
                {"receiver": "pager", "match": {"event": ["Order *", "Checkout*"], "kind": "silence"}}
            ],
        }
    )
    assert [r.name for r in routes_for(root, make_finding("silence", event="Order Completed"))] == ["pager"]
    assert [r.name for r in routes_for(root, make_finding("silence", event="Checkout Started"))] == ["pager"]
    assert [r.name for r in routes_for(root, make_finding("volume_drop", event="Order Completed"))] == [
        "default"
    ]


def test_group_labels_follow_group_by_and_dots_mean_one_group_per_finding() -> None:
    finding = make_finding("silence", source="ios")
    by_source = tree({"receiver": "everyone", "group_by": ["source", "kind"]})
    by_finding = tree({"receiver": "everyone", "group_by": ["..."]})
    assert by_source.group_labels(finding) == {"source": "ios", "kind": "silence"}
    assert by_finding.group_labels(finding) == {"fingerprint": finding.fingerprint}
    assert (
        group_hash("a", {"source": "ios"})
        == group_hash("a", {"source": "ios"})
        != group_hash("b", {"source": "ios"})
    )


def test_unknown_route_name_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match="no alert route named 'pagr'; routes: default, staging, pager, retention"
    ):
        find_route(tree(TREE), "pagr")
