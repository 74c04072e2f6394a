"""Capture through a real uvicorn server on 127.0.0.1, with the tracker started by the ASGI lifespan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from attribution import Tracker
from tests.support.helpers import BROWSER_UA, make_app
from tests.support.servers import Server


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    return Tracker(vendors=[], outbox=tmp_path / "outbox.sqlite3", dry_run=True)


@pytest.fixture
def live(tracker: Tracker) -> Iterator[Server]:
    with Server(make_app(tracker=tracker)) as server:
        yield server


def test_a_landing_through_uvicorn_sets_the_cookie_and_the_next_request_reads_it(live: Server) -> None:
    headers = {"user-agent": BROWSER_UA, "accept": "text/html"}
    with httpx2.Client(base_url=live.url, headers=headers) as client:
        landing = client.get("/show", params={"utm_source": "newsletter", "utm_medium": "email", "fbclid": "IwAR0x"})
        assert landing.status_code == 200
        (header,) = landing.headers.get_list("set-cookie")
        assert header.startswith("attribution=")
        assert "HttpOnly" in header
        assert "SameSite=Lax" in header
        assert "Secure" not in header  # plain HTTP on 127.0.0.1: a Secure cookie would never come back
        body = client.get("/show").json()
    assert body["utm"] == {"utm_source": "newsletter", "utm_medium": "email"}
    assert body["channel"] == "email"
    assert body["identifiers"]["fbc"].startswith("fb.0.")  # an IP host: subdomain index 0
    assert body["identifiers"]["fbc"].endswith(".IwAR0x")


def test_the_tracker_runs_for_the_servers_lifetime(tracker: Tracker) -> None:
    assert not tracker.worker.running
    with Server(make_app(tracker=tracker)) as server:
        assert httpx2.get(server.url + "/plain").text == "ok"
        assert tracker.worker.running
    assert not tracker.worker.running
