"""``warehouse`` commands as documented: one-shot collection for CronJobs, status, SQL, rollups,
pruning, and errors that say what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from monitors.cli import main
from monitors.config import parse_config
from monitors.errors import ConfigError
from monitors.timeutil import utcnow
from tests.monitors.warehouse.conftest import Warehouse
from tests.monitors.warehouse.helpers import load_warehouse, messages


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def setup(duck_warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A config with two warehouse sources (one unreachable) and a store URL."""
    load_warehouse(duck_warehouse.engine, messages(50, now=utcnow()), schema=None)
    duck_warehouse.engine.dispose()  # the CLI opens its own engine from the env var
    monkeypatch.setenv("EHM_TEST_DWH_URL", duck_warehouse.url)
    monkeypatch.setenv("EHM_TEST_BROKEN_URL", f"duckdb:///{tmp_path / 'missing' / 'nope.duckdb'}")
    config = tmp_path / "ehm.yaml"
    config.write_text(yaml.safe_dump({"warehouses": [
        {"name": "shop-dwh", "url_env": "EHM_TEST_DWH_URL", "lateness": "2h"},
        {"name": "broken", "url_env": "EHM_TEST_BROKEN_URL"},
    ]}))  # fmt: skip
    return str(config), f"sqlite:///{tmp_path / 'ehm.sqlite'}"


def test_collect_one_source_then_status(setup: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, db = setup
    code, out, err = _run(
        capsys, "warehouse", "collect", "--source", "shop-dwh", "--config", config, "--db", db
    )
    assert (code, err) == (0, "") and out.startswith("shop-dwh: 50 events in ")
    code, out, _ = _run(capsys, "warehouse", "status", "--config", config, "--db", db)
    records = {r["source"]: r for r in json.loads(out)}
    assert records["shop-dwh"]["runs"] == 1 and records["shop-dwh"]["leased_by"] is None
    assert records["broken"]["runs"] == 0


def test_collect_all_reports_a_broken_source_and_goes_on(
    setup: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, db = setup
    code, out, _err = _run(
        capsys, "warehouse", "collect", "--all", "--config", config, "--db", db, "--format", "json"
    )
    by_name = {r["source"]: r for r in json.loads(out)}
    assert code == 1 and by_name["shop-dwh"]["status"] == "ok" and by_name["shop-dwh"]["events"] == 50
    assert by_name["broken"]["status"] == "error"


def test_unknown_source_and_missing_url_say_what_to_do(setup: tuple[str, str], capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    config, db = setup
    code, _out, err = _run(capsys, "warehouse", "collect", "--source", "nope", "--config", config, "--db", db)
    assert code == 2 and "no warehouse source 'nope' in the config (shop-dwh, broken)" in err
    monkeypatch.delenv("EHM_TEST_DWH_URL")
    code, _out, err = _run(
        capsys, "warehouse", "collect", "--source", "shop-dwh", "--config", config, "--db", db
    )
    assert code == 2 and "set the environment variable EHM_TEST_DWH_URL" in err


def test_sql_prints_the_queries_for_another_dialect(
    setup: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, db = setup
    _run(capsys, "migrate", "--db", db)
    code, out, _ = _run(
        capsys,
        "warehouse",
        "sql",
        "--source",
        "shop-dwh",
        "--config",
        config,
        "--db",
        db,
        "--dialect",
        "bigquery",
    )
    assert (
        code == 0 and "-- added_to_cart: aggregates" in out and "UNIX_MICROS(" in out and "TO_HEX(MD5(" in out
    )


def test_rollup_and_prune(setup: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, db = setup
    _run(capsys, "warehouse", "collect", "--source", "shop-dwh", "--config", config, "--db", db)
    code, out, _ = _run(capsys, "warehouse", "rollup", "--config", config, "--db", db)
    assert code == 0 and out.startswith("rebuilt ")
    code, out, _ = _run(capsys, "warehouse", "prune", "--config", config, "--db", db)
    assert code == 0 and "event_metrics: 0" in out


@pytest.mark.parametrize(
    ("section", "message"),
    [({"name": "a", "url_env": "postgresql://u:p@h/db"}, "url_env must be the NAME of an environment variable"),
     ({"name": "a", "url_env": "X", "slice": "7m"}, "slice must divide a day"),
     ({"name": "a", "url_env": "X", "tables": ["orders"]}, "unknown tables ['orders']"),
     ({"name": "a", "url_env": "X", "layout": "custom"}, "layout: custom needs a `custom:` section"),
     ({"name": "a", "url_env": "X", "lateness": "soon"}, "not a duration"),
     ({"name": "a", "url_env": "X", "bogus": 1}, "unknown key")],
)  # fmt: skip
def test_config_errors(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config({"warehouses": [section]})


def test_config_defaults() -> None:
    cfg = parse_config({"warehouses": [{"name": "a", "url_env": "X", "schema": "web_prod"}]})
    src = cfg.warehouses[0]
    assert (src.schema_, src.watermark, src.lateness_seconds, src.slice_seconds) == (
        "web_prod",
        "received_at",
        21600,
        3600,
    )
    assert cfg.rollups.seconds() == {"raw": 14 * 86400, "hour": 90 * 86400, "day": 730 * 86400}
