from __future__ import annotations

import pytest

from monitors.alerts.journeys import annotate
from monitors.alerts.matchers import parse_matcher
from monitors.alerts.silences import Silence, silenced, validate_matchers
from monitors.config import JourneyConfig
from tests.monitors.alerts.conftest import T0, at
from tests.monitors.alerts.factories import make_finding


def silence(**matchers: str | list[str]) -> Silence:
    return Silence(
        1,
        dict(matchers),
        starts_at=at(minutes=10),
        ends_at=at(hours=2),
        created_by="ana",
        comment="deploy",
        created_at=T0,
    )


def test_a_silence_mutes_matching_findings_only_inside_its_window() -> None:
    s = silence(event="Order *", kind=["silence", "volume_drop"])
    hit, miss = make_finding("volume_drop"), make_finding("latency")
    assert silenced([hit, miss], [s], at(minutes=9)) == {}
    assert silenced([hit, miss], [s], at(minutes=10)) == {
        hit.fingerprint: "silenced by #1 event=Order *, kind=silence|volume_drop"
    }
    assert silenced([hit, miss], [s], at(hours=2)) == {}


def test_journey_silences_match_any_journey_at_risk() -> None:
    journey = JourneyConfig(name="Cart recovery", exit=["Order Completed"])
    finding = annotate(make_finding(), [journey])
    assert set(silenced([finding], [silence(journey="Cart recovery")], at(hours=1))) == {finding.fingerprint}
    assert silenced([finding], [silence(journey="Win-back")], at(hours=1)) == {}


@pytest.mark.parametrize(
    ("matchers", "message"),
    [({}, "at least one matcher"), ({"team": "growth"}, "unknown label(s) ['team']")],
    ids=["empty", "unknown-label"],
)
def test_silences_need_known_labels(matchers: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_matchers(matchers)
    assert message in str(info.value)


def test_matchers_parse_from_the_command_line() -> None:
    assert parse_matcher("event = Order Completed") == ("event", "Order Completed")
    with pytest.raises(ValueError, match="use label=pattern"):
        parse_matcher("Order Completed")
