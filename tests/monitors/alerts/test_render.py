"""Contract tests shared by every renderer, and rendered output compared with saved files.

Regenerate the expected files after an intended change with ``EHM_UPDATE_EXPECTED=1``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from monitors.alerts.message import Message, MessageKind
from monitors.alerts.renderers import CHANNELS, RENDERERS, as_text, slack
from tests.monitors.alerts.samples import DASHBOARD, PII, SAMPLES

EXPECTED = Path(__file__).parent / "expected"
EXTENSIONS = {"text": "txt", "markdown": "md", "email": "eml.txt"}
UPDATE = os.environ.get("EHM_UPDATE_EXPECTED") == "1"


@pytest.mark.parametrize("renderer", sorted(CHANNELS))
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_rendered_messages_match_the_saved_expected_files(sample: str, renderer: str) -> None:
    rendered = as_text(CHANNELS[renderer](SAMPLES[sample]()))
    path = EXPECTED / f"{sample}.{renderer}.{EXTENSIONS.get(renderer, 'json')}"
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"missing {path.name}: run with EHM_UPDATE_EXPECTED=1 and review the diff"
    assert rendered == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("renderer", sorted(set(CHANNELS) - {"pagerduty"}))
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_renderer_says_what_matters_and_leaks_no_personal_data(sample: str, renderer: str) -> None:
    message = SAMPLES[sample]()
    text = as_text(CHANNELS[renderer](message))
    plain = re.sub(r"\\(.)", r"\1", text) if renderer == "markdown" else text.replace("&amp;", "&")
    assert message.title in plain or json.dumps(message.title)[1:-1] in text
    for journey in message.journeys:
        assert journey.name in text
    for item in message.items[:10]:
        assert item.url in text
    if message.kind is not MessageKind.REPORT:
        assert DASHBOARD in text
    if message.is_test:  # people see TEST; machines get "type": "test"
        assert "TEST" in text if renderer != "webhook" else '"type": "test"' in text
    for value in PII:
        assert value not in text


@pytest.mark.parametrize("sample", sorted(set(SAMPLES) - {"report"}))
def test_pagerduty_events_use_the_fingerprint_as_dedup_key_and_map_states(sample: str) -> None:
    message = SAMPLES[sample]()
    events = CHANNELS["pagerduty"](message)
    if message.is_test:
        assert [e["event_action"] for e in events] == ["trigger"]
        assert events[0]["payload"]["severity"] == "info" and events[0]["payload"]["summary"].startswith(
            "[TEST]"
        )
        return
    assert [e["dedup_key"] for e in events] == [i.fingerprint for i in message.items]
    actions = {"firing": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}
    assert [e["event_action"] for e in events] == [actions[i.state.value] for i in message.items]
    for event, item in zip(events, message.items, strict=True):
        if event["event_action"] == "trigger":
            assert event["payload"]["severity"] == item.severity.value
            assert event["payload"]["source"] == "web/production"
            assert len(event["payload"]["summary"]) <= 1024
        else:
            assert set(event) == {"event_action", "dedup_key"}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_slack_payloads_respect_block_kit_limits(sample: str) -> None:
    payload = slack.render(SAMPLES[sample]())
    blocks = payload["blocks"]
    assert payload["text"] and len(blocks) <= 50
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    for block in blocks:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
        if block["type"] in ("context", "actions"):
            assert 1 <= len(block["elements"]) <= 10


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_messages_round_trip_through_json(sample: str) -> None:
    message = SAMPLES[sample]()
    assert Message.from_dict(json.loads(json.dumps(message.to_dict()))) == message


def test_file_formats_are_the_text_renderers() -> None:
    assert sorted(RENDERERS) == ["json", "markdown", "text"]
    message = SAMPLES["firing_single"]()
    assert (
        json.loads(RENDERERS["json"](message))["findings"][0]["fingerprint"] == message.items[0].fingerprint
    )


def test_many_findings_are_cut_to_ten_with_a_pointer_to_the_dashboard() -> None:
    text = CHANNELS["text"](SAMPLES["many"]())
    assert "Event 09 down" in text and "Event 10 down" not in text
    assert "… and 2 more in the dashboard" in text
