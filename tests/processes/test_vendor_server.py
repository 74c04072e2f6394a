"""The fake vendor the benchmarks send to answers every adapter as the real API would on success, so a
checkout through the app reaches ``delivered`` for every vendor, the batching ones and Google's token included."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.checkout.tracker import Tracker
from attribution.delivery.outbox.base import Status
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from attribution.orders.conversion import Customer, LineItem, Order
from attribution.web.middleware import AttributionMiddleware
from tests.support.delivery_fakes import FAST
from tests.support.helpers import NAVIGATION, SECRET
from tests.support.vendor_server import FakeVendorServer, event_ids, loopback_vendors

LANDING = (
    "/?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=Cj0KCQ-test&twclid=tw-test&ttclid=tt-test"
    "&fbclid=fb-test&cnct_tracking_id=t-1&sendout_id=s-1&ctwa_clid=c-1&ad_id=a-1&attribution_source=meta_ctwa"
    "&li_fat_id=li-test&rdt_cid=rdt-test&msclkid=0f7e5c3a9b2d4e6f8a1b2c3d4e5f6a7b"
)


async def counts(path: Path) -> dict[tuple[str, Status], int]:
    box = SQLiteOutbox(path)
    try:
        return await box.counts()
    finally:
        await box.close()


def test_every_adapter_reads_the_fake_vendors_answer_as_delivered(
    tmp_path: Path, vendor_server: FakeVendorServer
) -> None:
    vendors = loopback_vendors(vendor_server.url)
    outbox = tmp_path / "outbox.sqlite3"
    tracker = Tracker(vendors=vendors, outbox=outbox, policy=FAST, poll_interval=0.02)

    async def checkout(request: Request) -> JSONResponse:
        number = request.query_params["order"]
        order = Order(id=number, value="99.90", currency="USD", items=[LineItem(id="SKU-1", price="99.90")])
        customer = Customer(email="jane.doe@example.com", phone="+14155550100", first_name="Jane")
        result = await tracker.checkout(request, order, customer=customer)
        return JSONResponse({r.vendor: r.status for r in result})

    app = Starlette(routes=[Route("/checkout", checkout, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, tracker=tracker)
    orders = [f"F-{n}" for n in range(3)]
    delivered = {(v.name, Status.DELIVERED): len(orders) for v in vendors}
    with TestClient(app, base_url="https://shop.example", headers=NAVIGATION) as http:
        http.get(LANDING)
        for number in orders:
            assert http.post(f"/checkout?order={number}").json() == {v.name: "queued" for v in vendors}
        deadline = time.monotonic() + 10
        while asyncio.run(counts(outbox)) != delivered and time.monotonic() < deadline:
            time.sleep(0.05)
    # Each adapter read the fake's answer as a success.
    assert asyncio.run(counts(outbox)) == delivered
    # Google's adapter fetched its OAuth token from the fake once, and sent the conversions with it.
    assert vendor_server.paths.count("/google/token") == 1
    uploads = [
        b for p, b in zip(vendor_server.paths, vendor_server.bodies, strict=True) if p.endswith("/v1/events:ingest")
    ]
    keys = [k for body in uploads for k in event_ids(body)]
    assert len(keys) == len(set(keys)) == len(orders)
    assert all(any(n in k for n in orders) for k in keys)
    # Each batching vendor's dedup keys are found where its request puts them, every order once.
    for vendor in ("/linkedin/", "/reddit/", "/microsoft/"):
        bodies = [b for p, b in zip(vendor_server.paths, vendor_server.bodies, strict=True) if p.startswith(vendor)]
        assert sorted(k for body in bodies for k in event_ids(body)) == orders, vendor
