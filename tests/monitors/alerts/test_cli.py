"""``python -m monitors alerts …`` end to end (in-process through ``monitors.cli.main``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitors.cli import main
from storage import Store
from tests.monitors.alerts.conftest import add_finding
from tests.monitors.alerts.receivers import HttpReceiver, Reply


@pytest.fixture
def config_file(tmp_path: Path, http_receiver: HttpReceiver) -> Path:
    data: dict[str, Any] = {
        "journeys": [{"name": "Cart recovery", "trigger": ["Added to Cart"], "exit": ["Order Completed"]}],
        "alerts": {
            "dashboard_url": "http://dash.test:8501",
            "receivers": [
                {"name": "hook", "type": "webhook"},
                {
                    "name": "pager",
                    "type": "pagerduty",
                    "url": http_receiver.url("/v2/enqueue"),
                    "routing_key_env": "EHM_TEST_PD_KEY",
                },
            ],
            "route": {
                "receiver": "hook",
                "group_wait": "0s",
                "routes": [
                    {
                        "name": "oncall",
                        "receiver": "pager",
                        "min_severity": "critical",
                        "repeat_interval": "1h",
                        "continue": True,
                    },
                    {"name": "everything", "receiver": "hook"},
                ],
            },
        },
    }
    path = tmp_path / "ehm.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch, http_receiver: HttpReceiver) -> None:
    monkeypatch.setenv("EHM_WEBHOOK_URL", http_receiver.url("/hook"))
    monkeypatch.setenv("EHM_WEBHOOK_SECRET", "s3cret-hmac")
    monkeypatch.setenv("EHM_TEST_PD_KEY", "K" * 32)


def test_check_config_prints_the_route_tree(
    config_file: Path, secrets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "check-config", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "alerts config OK: 2 receivers, 3 routes, 1 journeys",
        "route default → receiver hook: matches everything; group by source,environment,kind; wait 0s, interval 5m, repeat 4h; resolved on",
        "route oncall → receiver pager: matches everything, severity ≥ critical; group by source,environment,kind; wait 0s, interval 5m, repeat 1h; resolved on; continue",
        "route everything → receiver hook: matches everything; group by source,environment,kind; wait 0s, interval 5m, repeat 4h; resolved on",
    ]


def test_check_config_names_missing_secrets_without_sending(
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    http_receiver: HttpReceiver,
) -> None:
    for name in ("EHM_WEBHOOK_URL", "EHM_WEBHOOK_SECRET", "EHM_TEST_PD_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["alerts", "check-config", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert (
        "EHM_WEBHOOK_URL (receiver hook), EHM_WEBHOOK_SECRET (receiver hook), EHM_TEST_PD_KEY (receiver pager)"
        in err
    )
    assert main(["alerts", "check-config", "--config", str(config_file), "--no-env"]) == 0
    assert http_receiver.requests == []


def test_check_config_rejects_unknown_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump({"alerts": {"receivers": [{"name": "x", "type": "file", "colour": "red"}]}})
    )
    assert main(["alerts", "check-config", "--config", str(path)]) == 2
    assert "alerts.receivers.0.file.colour: unknown key" in capsys.readouterr().err


def test_alerts_test_sends_a_marked_alert_through_the_named_route(
    config_file: Path, secrets: None, http_receiver: HttpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "test", "--config", str(config_file), "--route", "oncall"]) == 0
    assert capsys.readouterr().out.startswith(
        "sent test alert through route oncall (dedup_keys=ehm-test-oncall-20"
    )
    assert [r.json()["event_action"] for r in http_receiver.at("/v2/enqueue")] == ["trigger", "resolve"]
    assert http_receiver.at("/v2/enqueue")[0].json()["payload"]["summary"].startswith("[TEST]")
    assert main(["alerts", "test", "--config", str(config_file), "--route", "pagr"]) == 2
    assert "no alert route named 'pagr'; routes: default, oncall, everything" in capsys.readouterr().err


def test_alerts_test_reports_a_failing_receiver_with_exit_code_7(
    config_file: Path, secrets: None, http_receiver: HttpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    http_receiver.script("/hook", Reply(403, "forbidden"))
    assert main(["alerts", "test", "--config", str(config_file), "--route", "default"]) == 7
    assert capsys.readouterr().err.strip() == "error: webhook hook: HTTP 403 forbidden"


def test_dispatch_and_outbox_commands(
    config_file: Path,
    secrets: None,
    sqlite_url: str,
    sqlite_store: Store,
    http_receiver: HttpReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_finding(sqlite_store, event="Order Completed", severity="warning")
    http_receiver.script("/hook", Reply(400, "bad request"))
    args = ["--config", str(config_file), "--db", sqlite_url]
    assert main(["alerts", "dispatch", *args, "--now", "2026-11-02T10:01:00Z"]) == 0
    captured = capsys.readouterr()
    assert (
        captured.out.strip()
        == "1 findings considered, 0 muted, 2 messages queued; delivered 1, retrying 0, failed 1, waiting 0"
    )
    assert "hook: webhook hook: HTTP 400 bad request" in captured.err
    assert main(["alerts", "outbox", *args, "--status", "failed"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["receiver"], row["status"], row["last_error"]) == (
        "hook",
        "failed",
        "webhook hook: HTTP 400 bad request",
    )
    assert "s3cret-hmac" not in json.dumps(sqlite_store.list_outbox(), default=str)


def test_silence_add_list_expire(
    config_file: Path, sqlite_url: str, sqlite_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_file), "--db", sqlite_url]
    assert (
        main(
            [
                "alerts",
                "silence",
                "add",
                *args,
                "--match",
                "event=Order *",
                "--match",
                "kind=silence",
                "--for",
                "2h",
                "--starts",
                "2099-01-01T00:00:00Z",
                "--comment",
                "migration",
                "--by",
                "ana",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == (
        "silence #1 mutes event=Order *, kind=silence from 2099-01-01T00:00:00Z until 2099-01-01T02:00:00Z"
    )
    assert main(["alerts", "silence", "list", *args]) == 0
    assert (
        capsys.readouterr().out.strip()
        == "#1 event=Order *, kind=silence  2099-01-01T00:00:00Z → 2099-01-01T02:00:00Z  by ana: migration"
    )
    assert main(["alerts", "silence", "expire", *args, "1"]) == 0
    assert main(["alerts", "silence", "list", *args]) == 0
    assert capsys.readouterr().out.strip().endswith("no silences")
    assert main(["alerts", "silence", "expire", *args, "1"]) == 3
    assert (
        main(["alerts", "silence", "add", *args, "--match", "team=growth", "--for", "1h", "--comment", "x"])
        == 2
    )
    assert "unknown label(s) ['team']" in capsys.readouterr().err
