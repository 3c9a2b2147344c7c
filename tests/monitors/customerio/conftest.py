"""Fixtures: a running stand-in (TLS on), a config and an App API client pointed at it, a SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitors.customerio.client import AppAPIClient
from monitors.customerio.config import CustomerIOConfig
from monitors.customerio.standin import StandIn, StandInInfo
from storage import Store


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A started stand-in with TLS."""
    server = StandIn(port=0, tls=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def info(standin: StandIn) -> StandInInfo:
    """Connection details of the running stand-in."""
    assert standin.info is not None
    return standin.info


def make_config(info: StandInInfo, **overrides: Any) -> CustomerIOConfig:
    """A config section pointing at the stand-in."""
    return CustomerIOConfig.model_validate({"workspace": "shop", "base_url": info.base_url, **overrides})


def make_client(config: CustomerIOConfig, info: StandInInfo, **kwargs: Any) -> AppAPIClient:
    """A client with fast backoff (retry timing is covered by the client's own tests)."""
    kwargs.setdefault("backoff_base", 0.01)
    return AppAPIClient.from_config(config, environ=info.env(), **kwargs)


@pytest.fixture
def cio_config(info: StandInInfo) -> CustomerIOConfig:
    """Default config against the stand-in."""
    return make_config(info)


@pytest.fixture
def client(cio_config: CustomerIOConfig, info: StandInInfo) -> Iterator[AppAPIClient]:
    """An App API client against the stand-in."""
    api = make_client(cio_config, info)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store (end-to-end tests; the Store itself is tested on both backends)."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'cio.sqlite'}")
    store.migrate()
    try:
        yield store
    finally:
        store.dispose()
