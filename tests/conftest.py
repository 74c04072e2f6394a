"""Fixtures shared by the whole suite: ``outbox`` runs each outbox and worker test on every backend; the suite's
PostgreSQL server (``postgres_server``, ``postgres_url``, from ``tests.support.postgres``); the fake vendor server on
127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from attribution.delivery.outbox.base import Outbox
from attribution.delivery.outbox.choose import outbox_from
from tests.support.vendor_server import FakeVendorServer

pytest_plugins = ["tests.support.postgres"]


@pytest.fixture(params=["sqlite", "postgres"])
def outbox_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What names a fresh, empty outbox: a SQLite file's path, or a PostgreSQL database's URL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "outbox.sqlite3")


@pytest.fixture
async def outbox(outbox_spec: str) -> AsyncIterator[Outbox]:
    """A fresh, open outbox, once per backend."""
    box = outbox_from(outbox_spec)
    await box.open()
    yield box
    await box.close()


@pytest.fixture
def vendor_server() -> Iterator[FakeVendorServer]:
    """The fake vendor the benchmarks send to, answering every adapter on a free port of 127.0.0.1."""
    server = FakeVendorServer().start_in_thread()
    yield server
    server.stop()
