"""Fixtures for the dashboard tests: a seeded store on each backend, and AppTest runs of the real
router against a seeded SQLite file with a config that has journeys, an SLO override and a
Customer.io workspace."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from monitors.config import load_config
from monitors.timeutil import utcnow
from storage import Store
from tests.monitors.ui.seed import Seeded, seed

DASHBOARD = str(Path(__file__).resolve().parents[3] / "dashboard.py")
CONFIG = """
journeys:
  - name: Cart recovery
    trigger: [Added to Cart]
    exit: [Order Completed]
  - name: Welcome
    trigger: [Signed Up]
detectors:
  latency:
    slos:
      - {event: Order Completed, max: 30s}
dashboard:
  latency_slo: 60s
  slo_overrides:
    - {event: "Added *", latency_slo: 90s}
customerio:
  workspace: shop-prod
  base_url: http://127.0.0.1:9
"""


@pytest.fixture
def config_path(tmp_path: Path) -> str:
    """The test config file."""
    path = tmp_path / "ehm.yaml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return str(path)


@pytest.fixture
def now() -> datetime:
    """The clock the seed is relative to."""
    return utcnow()


@pytest.fixture
def seeded(store: Store, now: datetime) -> Seeded:
    """The seeded data set on each backend."""
    return seed(store, now)


@pytest.fixture
def ui_config(config_path: str):  # type: ignore[no-untyped-def]
    """The parsed test config."""
    return load_config(config_path)


def _clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def app_store(sqlite_url: str, config_path: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, Seeded]]:
    """A seeded SQLite store the dashboard under test reads (through the environment)."""
    store = Store.from_url(sqlite_url)
    store.migrate()
    seeded = seed(store, utcnow())
    monkeypatch.setenv("EHM_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("EHM_CONFIG", config_path)
    monkeypatch.delenv("EHM_DASHBOARD_PASSWORD", raising=False)
    _clear_caches()
    try:
        yield store, seeded
    finally:
        _clear_caches()
        store.dispose()


def page_hash(at: AppTest, url_path: str) -> str:
    """The script hash of a registered page (callable pages cannot be found by file path)."""
    for key, info in at._registered_pages.items():  # AppTest keeps the pages st.navigation registered
        if info.get("url_pathname") == ("" if url_path == "overview" else url_path):
            return str(key)
    raise AssertionError(f"no page {url_path!r} registered")


OpenPage = Callable[..., AppTest]


@pytest.fixture
def open_page(app_store: tuple[Store, Seeded]) -> OpenPage:
    """``open_page("findings", finding=fp)``: run the router, switch to the page, run it."""

    def run(url_path: str, **query: str) -> AppTest:
        at = AppTest.from_file(DASHBOARD, default_timeout=30)
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
        if url_path != "overview":
            at._page_hash = page_hash(at, url_path)
            at.run()
        return at

    return run
