"""The semantic detectors end to end: generated traffic ingested by the real ingest path into a
real Store (SQLite and PostgreSQL), then ``run_detection`` with every registered detector."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitors.config import Config
from monitors.demo.incidents import Incident, Traffic, dumps
from monitors.detect import run_detection
from storage import Store
from tests.monitors.ingest.helpers import run_ingest

START = datetime(2024, 1, 1, tzinfo=UTC)
LEAK = START + timedelta(days=2, hours=15)
RENAME = START + timedelta(days=2, hours=17)


def _ingest(store: Store, tmp_path: Path, end: datetime) -> None:
    incidents = [
        Incident("staging_leak", "web", LEAK, LEAK + timedelta(hours=2), detail={"share": 0.1}),
        Incident("property_rename", "web", RENAME, end, "Added to Cart", {"from": "cart_value", "to": "cartValue"}),
    ]
    files = {s: open(tmp_path / f"{s}.jsonl", "w", encoding="utf-8") for s in ("web", "ios")}  # noqa: SIM115
    with files["web"], files["ios"]:
        for source, _arrival, msg in Traffic(START, end, incidents, scale=0.08).messages():
            files[source].write(dumps(msg) + "\n")
    for source in files:
        run_ingest(store, tmp_path / f"{source}.jsonl", source=source)


def test_a_leak_and_a_property_rename_come_out_as_two_findings_with_evidence(store: Store, tmp_path: Path) -> None:
    now = RENAME + timedelta(hours=2, minutes=10)
    _ingest(store, tmp_path, now)
    config = Config()
    run_detection(store, config, now=RENAME - timedelta(minutes=30))
    report = run_detection(store, config, now=now)
    assert set(report.detectors) == {"volume", "schema", "leakage", "latency", "identity", "names", "rename"}
    found = {(f.kind, f.source, f.event, f.subject): f for f in store.list_findings()}
    assert set(found) == {("staging_leak", "web", "*", ""), ("property_rename", "web", "Added to Cart", "cart_value → cartValue")}
    leak = found[("staging_leak", "web", "*", "")]
    assert leak.started_at - LEAK <= timedelta(minutes=15) and leak.ended_at is not None
    assert {"test_email", "test_user_id", "nonprod_host"} <= set(leak.evidence["signals"])
    assert leak.evidence["samples"] and all("qa+" not in s["sample"] for s in leak.evidence["samples"])
    rename = found[("property_rename", "web", "Added to Cart", "cart_value → cartValue")]
    assert rename.status == "open" and rename.evidence["types_from"] == ["number"] == rename.evidence["types_to"]
    again = run_detection(store, config, now=now)
    assert (again.opened, again.updated, again.resolved) == ([], [], [])
    assert json.dumps(rename.evidence, sort_keys=True) == json.dumps(store.get_finding(rename.fingerprint).evidence, sort_keys=True)  # type: ignore[union-attr]
