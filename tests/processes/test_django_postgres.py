"""examples/django_app with ``DATABASE_URL``: Django's ``transaction.atomic()`` covers the order and its conversions.

Run as a reader runs it (uvicorn in its own process, so Django's settings read ``DATABASE_URL`` at start), against
this suite's PostgreSQL: a committed order is queued and sent by the worker the lifespan started; an order that
rolls back after its checkout leaves no conversion.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from attribution.delivery.outbox.base import Status
from tests.support.delivery_fakes import dry_run_body, rows_when_sent
from tests.support.helpers import NAVIGATION

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def django_site(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.django_app.asgi:application", "--host", "127.0.0.1", "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": postgres_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        started, url = False, None
        for line in proc.stderr:  # the lifespan (and so the worker) is up, then uvicorn names its port
            assert "Traceback" not in line, line + proc.stderr.read()
            started = started or "Application startup complete" in line
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                url = found.group(1)
                break
        assert started
        assert url is not None
        yield url
    finally:  # stopped however the test went, so no server outlives it
        proc.send_signal(signal.SIGTERM)
        try:
            _, rest = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert "Traceback" not in rest


async def test_a_django_order_and_its_conversions_commit_together_or_not_at_all(
    django_site: str, postgres_url: str
) -> None:
    order = {"id": "dj-1", "total": "49.90", "currency": "USD", "email": "ana@example.com"}
    async with httpx2.AsyncClient(base_url=django_site, headers=NAVIGATION) as browser:
        landing = await browser.get(
            "/landing/", params={"utm_source": "google", "utm_medium": "cpc", "gclid": "Cj0-dj"}
        )
        assert landing.status_code == 200
        placed = await browser.post("/orders/", json=order)
        assert placed.status_code == 200, placed.text
        assert placed.json() == {"queued": ["whop"], "duplicate": False}
        refused = await browser.post("/orders/", json={**order, "id": "dj-2", "stock": 0})
        assert refused.status_code == 409
        assert (await browser.get("/orders/")).json() == {"orders": 1}  # dj-2 rolled back ...
    rows = await rows_when_sent(postgres_url, 1)
    assert [(r.order_id, r.status) for r in rows] == [("dj-1", Status.DRY_RUN)]  # ... and its conversion with it
    assert "Cj0-dj" in str(dry_run_body(rows[0]))  # the visitor's attribution, joined to the order


def test_without_a_database_the_orders_view_says_what_to_set() -> None:
    from starlette.testclient import TestClient

    from examples.django_app.asgi import create_application

    client = TestClient(create_application(), base_url="http://127.0.0.1", headers=NAVIGATION)
    answer = client.post("/orders/", json={"id": "x"})
    assert answer.status_code == 503
    assert "DATABASE_URL" in answer.json()["error"]
