"""examples/postgres_app.py: the order and its conversions commit in one transaction, or neither exists."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from attribution.delivery.outbox.base import Delivery, Status
from attribution.delivery.outbox.postgres import PostgresOutbox
from examples import postgres_app
from tests.support.helpers import NAVIGATION


def rows(client: TestClient, box: PostgresOutbox, status: Status, count: int) -> list[Delivery]:
    deadline = time.monotonic() + 10
    while True:
        found: list[Delivery] = client.portal.call(box.list)
        if sum(d.status == status for d in found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_committed_order_is_queued_and_a_rolled_back_one_leaves_no_conversion(postgres_url: str) -> None:
    app = postgres_app.create_app(postgres_url)
    box = app.tracker.outbox  # type: ignore[union-attr]
    assert isinstance(box, PostgresOutbox)
    with TestClient(app, base_url="http://127.0.0.1", headers=NAVIGATION) as client:
        client.get("/orders?utm_source=google&utm_medium=cpc&gclid=Cj0-pg")
        order = {"id": "pg-1", "total": "49.90", "currency": "USD", "email": "ana@example.com"}
        placed = client.post("/orders", json=order)
        assert placed.status_code == 200
        assert placed.json() == {"order": "pg-1", "queued": ["whop"], "duplicate": False}
        [delivery] = rows(client, box, Status.DRY_RUN, 1)  # the in-app worker picked it up after the commit
        assert delivery.status == Status.DRY_RUN
        assert delivery.order_id == "pg-1"

        refused = client.post("/orders", json={**order, "id": "pg-2", "stock": 0})
        assert refused.status_code == 409
        assert client.get("/orders").json() == {"orders": 1}  # the order rolled back ...
        assert [d.order_id for d in client.portal.call(box.list)] == ["pg-1"]  # ... and its conversion with it
