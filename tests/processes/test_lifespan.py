"""The tracker on the ASGI lifespan under a real uvicorn on 127.0.0.1: a tracker that cannot start stops the
server with the reason, and an app that does not run the lifespan (Django's) still gets its worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest

from attribution.checkout.tracker import Tracker
from attribution.web.middleware import AttributionMiddleware
from tests.support.delivery_fakes import FakeVendor
from tests.support.helpers import BROWSER_UA, SECRET
from tests.support.servers import Server

ROOT = Path(__file__).resolve().parents[2]


def test_a_tracker_that_cannot_start_stops_the_server_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the outbox's folder should be")
    outbox = tmp_path / "taken" / "outbox.sqlite3"
    server = subprocess.run(
        [sys.executable, "-m", "uvicorn", "tests.support.lifespan_site:app", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ATTRIBUTION_TEST_OUTBOX": str(outbox)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert server.returncode == 3  # uvicorn's "startup failed": it never served a request
    assert "the tracker could not start" in server.stderr
    assert f"outbox {outbox} cannot be created: a part of its folder path is a file" in server.stderr
    assert "Uvicorn running" not in server.stderr
    assert "appears unsupported" not in server.stderr


@pytest.fixture
def django_site(tmp_path: Path) -> tuple[Tracker, AttributionMiddleware]:
    from django.conf import settings
    from django.core.asgi import get_asgi_application

    import examples.django_app.asgi  # noqa: F401 - configures Django's settings

    tracker = Tracker(vendors=[FakeVendor("http://127.0.0.1:9")], outbox=tmp_path / "outbox.sqlite3", dry_run=True)
    return (
        tracker,
        AttributionMiddleware(get_asgi_application(), secret_key=settings.ATTRIBUTION_SECRET_KEY, tracker=tracker),
    )


def test_djangos_asgi_app_under_uvicorn_runs_the_worker_for_the_servers_life(
    django_site: tuple[Tracker, AttributionMiddleware],
) -> None:
    # Django's handler raises on the lifespan scope; without the middleware answering for it, uvicorn would
    # call the lifespan unsupported and serve with no worker.
    tracker, app = django_site
    with Server(app, lifespan="auto") as server:  # uvicorn's default
        assert tracker.worker.running
        page = httpx2.get(server.url + "/", headers={"user-agent": BROWSER_UA}, params={"utm_source": "news"})
        assert page.status_code == 200
        assert page.headers["set-cookie"].startswith("attribution=")
    assert not tracker.worker.running


def test_a_starlette_app_keeps_its_own_lifespan_around_the_trackers(tmp_path: Path) -> None:
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette

    events: list[str] = []
    tracker = Tracker(vendors=[], outbox=tmp_path / "outbox.sqlite3", dry_run=True)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        events.append(f"app starts, worker running: {tracker.worker.running}")
        yield
        events.append(f"app stops, worker running: {tracker.worker.running}")

    with Server(
        AttributionMiddleware(Starlette(lifespan=lifespan), secret_key=SECRET, tracker=tracker), lifespan="auto"
    ):
        events.append(f"serving, worker running: {tracker.worker.running}")
    assert events == [
        "app starts, worker running: False",
        "serving, worker running: True",
        "app stops, worker running: False",
    ]
