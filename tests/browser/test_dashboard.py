"""The real dashboard in a real browser: Debian chromium driven by Playwright (never a downloaded
browser), against ``streamlit run dashboard.py`` on a seeded SQLite store.

Opens every page (a screenshot each, in ``$EHM_SCREENSHOTS``, default ``tests/artifacts/browser/``), fails on
any Streamlit exception, error element or browser console error, and performs the key actions:
the shared time range through the URL, an event deep link, acknowledging a finding from its
alert link, exporting the weekly review as CSV.
"""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitors.timeutil import utcnow
from storage import Store
from tests.monitors.ui.conftest import CONFIG
from tests.monitors.ui.seed import Seeded, seed

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: `apt-get install chromium` "
                       "(scripts/ensure-system-deps.sh does it for `make test`)"),
]  # fmt: skip
PAGES = {"": "Overview", "event": "Event detail", "findings": "Findings", "latency": "Weekly latency review",
         "customerio": "Customer.io", "operations": "Sources and jobs", "plan": "Tracking plan"}  # fmt: skip
BENIGN = ("/_stcore/health", "/_stcore/host-config", "favicon", "fonts.gstatic", "404 (Not Found)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A seeded store and a dashboard server on a free port."""
    home = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{home / 'ehm.sqlite'}"
    store = Store.from_url(url)
    store.migrate()
    seeded: Seeded = seed(store, utcnow())
    (home / "ehm.yaml").write_text(CONFIG, encoding="utf-8")
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EHM_")}, "EHM_DATABASE_URL": url,
           "EHM_CONFIG": str(home / "ehm.yaml")}  # fmt: skip
    with (home / "server.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"),
                                   "--server.headless", "true", "--server.port", str(port), "--server.address",
                                   "127.0.0.1", "--browser.gatherUsageStats", "false"],
                                  env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait_healthy(port, server)
        yield {"base": f"http://127.0.0.1:{port}", "store": store, "seeded": seeded, "home": home}
    finally:
        server.terminate()
        server.wait(20)
        store.dispose()


def _wait_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                if resp.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the dashboard server did not become healthy")


@pytest.fixture(scope="module")
def page(app: dict[str, Any]) -> Iterator[Any]:
    """A chromium page collecting console errors in ``page.errors``."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])  # fmt: skip
        tab = browser.new_page(viewport={"width": 1400, "height": 2200})
        tab.errors = []
        tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" and not any(
            b in m.text for b in BENIGN) else None)  # fmt: skip
        tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        yield tab
        browser.close()


READY = """() => !document.querySelector('[data-testid=stStatusWidget]')
  && [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(c => c.querySelector('.main-svg'))"""


def _settle(page: Any) -> None:
    """Wait until no script run is in flight and every chart is drawn —
    twice, half a second apart (a rerun can start just after the first look)."""
    page.wait_for_selector('[data-testid="stApp"]')
    for _ in range(2):
        page.wait_for_timeout(500)
        page.wait_for_function(READY, timeout=30000)


def _clean(page: Any) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    assert page.errors == []


def _shots() -> Path:
    folder = Path(os.environ.get("EHM_SCREENSHOTS") or ROOT / "tests" / "artifacts" / "browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_page_renders_without_errors(app: dict[str, Any], page: Any) -> None:
    folder = _shots()
    for path, title in PAGES.items():
        page.goto(f"{app['base']}/{path}")
        _settle(page)
        assert page.locator("h1").first.inner_text() == title
        _clean(page)
        page.screenshot(path=str(folder / f"{path or 'overview'}.png"), full_page=True)


def test_time_range_is_shared_through_the_url(app: dict[str, Any], page: Any) -> None:
    page.goto(f"{app['base']}/?range=7d")
    _settle(page)
    assert "1 h buckets" in page.get_by_text("UTC, 1 h buckets").first.inner_text()
    page.get_by_role("radio", name="6h").click()
    page.wait_for_url("**range=6h**")
    _settle(page)
    assert "5 min buckets" in page.get_by_text("UTC, 5 min buckets").first.inner_text()
    _clean(page)


def test_event_deep_link_draws_its_charts(app: dict[str, Any], page: Any) -> None:
    page.goto(f"{app['base']}/event?event=Order+Completed&source=shop-backend&env=production")
    _settle(page)
    assert page.get_by_label("Event", exact=True).input_value() == "Order Completed"
    page.wait_for_function("document.querySelectorAll('[data-testid=stPlotlyChart] .main-svg').length >= 3")
    assert page.locator(".legendtext", has_text="expected range").count() == 1
    _clean(page)


def test_acknowledge_a_finding_from_its_alert_link(app: dict[str, Any], page: Any) -> None:
    fingerprint = app["seeded"].fingerprints["drop"]
    page.goto(f"{app['base']}/findings?finding={fingerprint}")
    _settle(page)
    page.get_by_label("Your name (recorded with the action)").fill("Ann Browser")
    page.get_by_label("Your name (recorded with the action)").press("Enter")
    _settle(page)
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    page.get_by_text("acknowledge recorded: the finding is now acknowledged").wait_for(timeout=15000)
    _clean(page)
    found = app["store"].get_finding(fingerprint)
    assert (found.status, found.status_by) == ("acknowledged", "Ann Browser")


def test_weekly_review_exports_csv(app: dict[str, Any], page: Any) -> None:
    page.goto(f"{app['base']}/latency")
    _settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert {(r["event"], r["hop"]) for r in rows} >= {("Order Completed", "e2e"), ("Added to Cart", "send")}
    _clean(page)
