"""The ``customerio`` and ``stand-in`` commands."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from monitors.cli import main
from monitors.customerio.standin import StandIn, StandInInfo

ROOT = Path(__file__).resolve().parents[3]


def write_config(tmp_path: Path, info: StandInInfo) -> str:
    path = tmp_path / "ehm.yaml"
    path.write_text(yaml.safe_dump({"customerio": {"workspace": "shop", "base_url": info.base_url}}))
    return str(path)


def test_collect_then_status(standin: StandIn, info: StandInInfo, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CUSTOMERIO_APP_API_KEY", info.credentials.app_api_key)
    standin.inject("event", name="signup", timestamp=1_795_000_000)
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path, info)
    assert main(["customerio", "collect", "--config", config, "--db", db]) == 0
    assert capsys.readouterr().out == "shop: read 1 activities in 1 pages (*: end); 1 requests, 0 rate-limited\n"
    assert main(["customerio", "status", "--config", config, "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "shop: ok — read 1 activities in 1 pages (*: end)"
    assert lines[1].endswith("; 1 requests, 0 rate-limited")
    assert main(["customerio", "status", "--config", config, "--db", db, "--format", "json"]) == 0
    [health] = json.loads(capsys.readouterr().out)
    assert (health["workspace"], health["status"]) == ("shop", "ok")


def test_collect_without_a_key_records_and_reports_it(info: StandInInfo, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CUSTOMERIO_APP_API_KEY", raising=False)
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path, info)
    assert main(["customerio", "collect", "--config", config, "--db", db]) == 6
    assert capsys.readouterr().err == "error: App API key missing — set CUSTOMERIO_APP_API_KEY\n"
    main(["customerio", "status", "--config", config, "--db", db])
    assert capsys.readouterr().out.startswith("shop: auth_error — App API key missing — set CUSTOMERIO_APP_API_KEY")


def test_collect_without_a_section_says_what_to_add(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "ehm.yaml"
    config.write_text("bucket: 5m\n")
    assert main(["customerio", "collect", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "no `customerio:` section in the config" in capsys.readouterr().err


def test_status_before_any_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["migrate", "--db", db]) == 0
    capsys.readouterr()
    assert main(["customerio", "status", "--db", db]) == 0
    assert "no Customer.io collection has run yet" in capsys.readouterr().out


def test_stand_in_rejects_bad_faults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stand-in", "--fault", "5xx=lots"]) == 2
    assert "bad fault '5xx=lots'" in capsys.readouterr().err


def test_stand_in_command_serves_until_terminated(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    proc = subprocess.Popen([sys.executable, "-m", "monitors", "stand-in", "--tls", "--ca-out", str(ca),
                             "--fault", "429=1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        details = json.loads(proc.stdout.readline())
        assert details["ca_path"] == str(ca) and ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
        key = details["credentials"]["app_api_key"]
        first = httpx.get(f"{details['base_url']}/v1/activities", headers={"Authorization": f"Bearer {key}"})
        assert first.status_code == 429
        secure = httpx.get(f"{details['tls_url']}/v1/activities", headers={"Authorization": f"Bearer {key}"},
                           verify=ssl.create_default_context(cafile=str(ca)))
        assert secure.status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "stand-in stopped" in err


def test_check_config_reports_every_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CIO_KEY", raising=False)
    config = tmp_path / "ehm.yaml"
    config.write_text(yaml.safe_dump({
        "bucket": "15m",
        "sources": [{"name": "backend", "paths": ["logs/*.jsonl"]}],
        "customerio": {"workspace": "shop", "app_api_key_env": "CIO_KEY", "activity_types": ["failed_event"],
                       "reconcile": {"sources": ["backend", "web"], "settle": "5m"}},
    }))
    assert main(["customerio", "check-config", "--config", str(config)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: customerio config problems:",
        "  customerio: the App API key variable CIO_KEY is not set — export it",
        "  customerio.reconcile.sources: ['web'] are not configured sources (['backend'])",
        "  customerio.activity_types does not read `event`: reconciliation will judge nothing",
        "  customerio.reconcile.settle is under half a bucket: late activities may look like losses",
    ]


def test_check_config_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CUSTOMERIO_APP_API_KEY", "k")
    config = tmp_path / "ehm.yaml"
    config.write_text(yaml.safe_dump({"customerio": {"workspace": "shop", "region": "eu"}}))
    assert main(["customerio", "check-config", "--config", str(config)]) == 0
    assert capsys.readouterr().out == (
        "customerio config OK: workspace shop at https://api-eu.customer.io, key from CUSTOMERIO_APP_API_KEY, "
        "reading all types in one stream, budget 600 pages per run\n")
