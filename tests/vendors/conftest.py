"""Fixtures of the vendor tests: a strict fake served under uvicorn on 127.0.0.1, and a started tracker without its
in-app worker (the tests drive the worker's path themselves), both stopped after the test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from attribution.checkout.tracker import Tracker
from attribution.vendors.base import Vendor
from tests.support.delivery_fakes import FAST, StartTracker
from tests.support.servers import Serve, Server


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(app)`` starts ``app`` (a fake's ASGI app) on a free port of 127.0.0.1 and gives its URL."""
    with contextlib.ExitStack() as servers:
        yield lambda app: servers.enter_context(Server(app)).url


@pytest.fixture
async def start_tracker(tmp_path: Path) -> AsyncIterator[StartTracker]:
    """``await start_tracker(vendors)``: a started tracker on a fresh SQLite outbox, fast retries, no worker."""
    started: list[Tracker] = []

    async def start(vendors: list[Vendor]) -> Tracker:
        tracker = Tracker(
            vendors=vendors, outbox=tmp_path / "outbox.sqlite3", run_worker=False, policy=FAST, poll_interval=0.01
        )
        await tracker.start()
        started.append(tracker)
        return tracker

    yield start
    for tracker in reversed(started):
        await tracker.stop()
