"""Cached loaders for the pages: one Store (connection pool) and one config per server process
(``st.cache_resource``), query results per window for ``TTL`` seconds (``st.cache_data``).

Arguments are plain hashable values (epoch seconds, tuples) so reruns within a bucket hit the
cache. After an action (acknowledge…) the page calls :func:`refresh_findings`.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from monitors.config import Config, load_config
from monitors.plan import Plan, load_plan
from monitors.timeutil import from_epoch
from monitors.ui.queries import customerio as q_cio
from monitors.ui.queries import event as q_event
from monitors.ui.queries import findings as q_findings
from monitors.ui.queries import operations as q_ops
from monitors.ui.queries import overview as q_overview
from monitors.ui.queries import plan as q_plan
from monitors.ui.weekly import WeeklyReview, weekly_review
from monitors.ui.window import Window
from storage import Store
from storage.findings_store import StoredFinding

TTL = 30
WindowArgs = tuple[str, int, int, int]


@st.cache_resource(show_spinner=False)
def config() -> Config:
    """The config ($EHM_CONFIG or ./ehm.yaml; defaults otherwise)."""
    return load_config()


@st.cache_resource(show_spinner=False)
def store() -> Store:
    """The store named by the config ($EHM_DATABASE_URL wins); must be migrated."""
    opened = Store.from_url(config().database.resolve())
    opened.ensure_current()
    return opened


@st.cache_resource(show_spinner=False)
def plan() -> Plan:
    """The tracking plan of the config (the built-in D2C plan by default)."""
    return load_plan(config().plan)


def args_of(win: Window) -> WindowArgs:
    """A window as cache-friendly plain values."""
    return win.key, win.since, win.until, win.width


def _win(args: WindowArgs) -> Window:
    return Window(*args)


@st.cache_data(ttl=TTL, show_spinner=False)
def findings() -> list[StoredFinding]:
    """Every finding (newest first)."""
    return store().list_findings()


@st.cache_data(ttl=TTL, show_spinner=False)
def overview(args: WindowArgs) -> pd.DataFrame:
    """The overview table."""
    return q_overview.overview(store(), config(), _win(args), findings())


@st.cache_data(ttl=TTL, show_spinner=False)
def journeys() -> pd.DataFrame:
    """Journeys at risk or healthy."""
    return q_overview.journeys(config(), findings())


@st.cache_data(ttl=TTL, show_spinner=False)
def tiles(args: WindowArgs, now: int) -> dict[str, float]:
    """The live tiles (``now`` rounded by the caller)."""
    return q_overview.tiles(store(), config(), _win(args), findings(), from_epoch(now))


@st.cache_data(ttl=TTL, show_spinner=False)
def series_choices() -> pd.DataFrame:
    """Every series."""
    return q_event.series_choices(store())


@st.cache_data(ttl=TTL, show_spinner=False)
def event_detail(source: str, environment: str, event: str, args: WindowArgs) -> q_event.EventDetail:
    """The event page's data."""
    return q_event.event_detail(store(), config(), q_event.SeriesKey(source, environment, event), _win(args))


@st.cache_data(ttl=TTL, show_spinner=False)
def findings_table(filters: q_findings.Filters) -> pd.DataFrame:
    """The filtered findings list."""
    return q_findings.findings_table(store(), config(), filters)


@st.cache_data(ttl=TTL, show_spinner=False)
def filter_options() -> dict[str, list[str]]:
    """Values for the findings filters."""
    return q_findings.filter_options(store(), config())


@st.cache_data(ttl=TTL, show_spinner=False)
def weekly(end: int) -> WeeklyReview:
    """The weekly latency review ending at ``end`` (epoch s)."""
    return weekly_review(store(), config(), from_epoch(end))


@st.cache_data(ttl=TTL, show_spinner=False)
def customerio(args: WindowArgs) -> q_cio.CustomerIOView:
    """The Customer.io page's data."""
    return q_cio.customerio_view(store(), config(), _win(args))


@st.cache_data(ttl=10, show_spinner=False)
def operations(now: int) -> q_ops.Operations:
    """Sources, rejects, jobs (short TTL: on-call watches this page)."""
    return q_ops.operations(store(), store().bucket_seconds() or config().bucket_seconds, from_epoch(now))


@st.cache_data(ttl=TTL, show_spinner=False)
def plan_view(args: WindowArgs) -> q_plan.PlanView:
    """The tracking-plan page's data."""
    return q_plan.plan_view(store(), plan(), _win(args))


def refresh_findings() -> None:
    """Forget cached findings after someone acted on one."""
    for loader in (findings, overview, journeys, tiles, findings_table, filter_options, event_detail):
        loader.clear()


def minute(now: datetime) -> int:
    """``now`` floored to the minute, as a cache key."""
    return int(now.timestamp()) // 60 * 60
