"""Meta against a strict fake of its endpoint on 127.0.0.1 (uvicorn): a landing and checkouts through the
ASGI app, the outbox and the worker; the fake's refusals classified, and a stale event isolated."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from attribution import AttributionMiddleware, Customer, Order, Status, Tracker
from attribution.orders.conversion import Conversion, RequestContext
from attribution.vendors.base import JSON, Delivered, Failed, Split
from attribution.vendors.meta import MetaConversions
from tests.support.delivery_fakes import StartTracker, wait_for_status
from tests.support.helpers import NAVIGATION, SECRET
from tests.support.servers import Serve

from .fake_meta import FakeMeta

TOKEN = "EAAB-system-user-token"
PIXEL = "987654321098765"
FBCLID = "IwAR2F4-Kq_MixedCase"
APP_SECRET = "app-secret-of-the-shop"


@pytest.fixture
def fake(serve: Serve) -> tuple[FakeMeta, str]:
    meta = FakeMeta(token=TOKEN, pixel_id=PIXEL, app_secret=APP_SECRET)
    return meta, serve(meta.app())


def vendor(url: str, **options: Any) -> MetaConversions:
    settings: dict[str, Any] = {"access_token": TOKEN, "pixel_id": PIXEL, "app_secret": APP_SECRET, "base_url": url}
    return MetaConversions(**{**settings, **options})


def shop(tracker: Tracker) -> Starlette:
    async def checkout(request: Request) -> JSONResponse:
        form = await request.json()
        order = Order(id=form["order_id"], value=Decimal(form["value"]), currency="EUR")
        result = await tracker.checkout(request, order, customer=Customer(email=form["email"], country="DE"))
        return JSONResponse({"ids": list(result["meta"].delivery_ids), "status": result["meta"].status})

    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", page), Route("/checkout", checkout, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, tracker=tracker)
    return app


@pytest.fixture
async def tracker(fake: tuple[FakeMeta, str], start_tracker: StartTracker) -> Tracker:
    return await start_tracker([vendor(fake[1], throttle_pause=0.01)])


async def checkouts(tracker: Tracker, orders: int) -> list[int]:
    """A visitor lands from a Meta ad, then buys ``orders`` times through the app."""
    transport = httpx2.ASGITransport(app=shop(tracker))
    async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example.com", headers=NAVIGATION) as c:
        assert (await c.get(f"/?fbclid={FBCLID}&utm_source=facebook&utm_medium=paid_social")).status_code == 200
        ids: list[int] = []
        for i in range(orders):
            answer = (
                await c.post("/checkout", json={"order_id": f"M-{i}", "value": "19.90", "email": "A@b.de"})
            ).json()
            assert answer["status"] == "queued"
            ids += answer["ids"]
    return ids


async def test_checkouts_reach_the_fake_in_one_batch_through_the_worker(
    fake: tuple[FakeMeta, str], tracker: Tracker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    meta, _ = fake
    ids = await checkouts(tracker, 3)
    await tracker.worker.start()
    await wait_for_status(tracker.outbox, ids, Status.DELIVERED)

    assert meta.requests == 1  # three queued deliveries, one request
    assert [e["event_id"] for e in meta.received] == ["M-0", "M-1", "M-2"]
    event = meta.received[0]
    assert event["event_name"] == "Purchase"
    assert event["action_source"] == "website"
    assert event["event_source_url"] == "https://shop.example.com/checkout"
    user = event["user_data"]
    assert user["client_user_agent"] == NAVIGATION["user-agent"]
    assert user["fbc"].startswith("fb.")
    assert user["fbc"].endswith("." + FBCLID)
    # sha256("a@b.de") and sha256("de"), computed with a separate tool
    assert user["em"] == "363a175f65786e7799e43a17e3f9f7baa20553a6408901bc04db39da72261fe3"
    assert user["country"] == "959a45d44e6fcf58361ed004681556fe50129f2109e817dec098c00c9e5d2578"
    delivery = await tracker.outbox.get(ids[0])
    assert delivery is not None
    assert json.loads(delivery.answer or "{}")["events_received"] == 3
    # Our own log lines never carry the token (httpx2's request line is masked by the redaction filter).
    ours = "".join(r.getMessage() for r in caplog.records if r.name.startswith("attribution"))
    assert "delivered" in ours  # the worker did log, at DEBUG ...
    assert TOKEN not in ours  # ... neither the token
    assert "a@b.de" not in ours.lower()  # nor the customer's email


async def test_transient_and_throttling_errors_are_retried_to_delivery(
    fake: tuple[FakeMeta, str], tracker: Tracker
) -> None:
    meta, _ = fake
    busy = {"error": {"message": "Service temporarily unavailable", "code": 2, "is_transient": True}}
    throttled = {"error": {"message": "User request limit reached", "code": 17, "type": "OAuthException"}}
    meta.script = [(503, busy, {}), (400, throttled, {})]
    ids = await checkouts(tracker, 1)
    await tracker.worker.start()
    await wait_for_status(tracker.outbox, ids, Status.DELIVERED)
    delivery = await tracker.outbox.get(ids[0])
    assert delivery is not None
    assert [h.result for h in delivery.history] == ["retry", "retry", "delivered"]
    assert "code 2" in (delivery.history[0].detail or "")
    assert "code 17" in (delivery.history[1].detail or "")
    assert [e["event_id"] for e in meta.received] == ["M-0"]


# -- the fake's refusals, read by the adapter --------------------------------------------------------------


def conversion(order_id: str, at: datetime) -> Conversion:
    return Conversion(
        order=Order(id=order_id, value=Decimal("5"), currency="USD", time=at),
        customer=Customer(email="buyer@example.com"),
        context=RequestContext(ip="2001:db8::7", user_agent=NAVIGATION["user-agent"], url="https://shop.example.com/"),
    )


def post(meta: MetaConversions, payloads: list[JSON]) -> httpx2.Response:
    with httpx2.Client() as client:
        response = client.send(meta.build_request(payloads))
        response.read()
        return response


def test_a_stale_event_is_refused_and_isolated_while_its_neighbour_goes_through(fake: tuple[FakeMeta, str]) -> None:
    meta, url = fake
    now = datetime.now(UTC)
    stale_at = now - timedelta(days=8)
    # prepared when it was still fresh (the adapter's own clock then), sent today
    stale = vendor(url, clock=lambda: stale_at.timestamp() + 60).payload(conversion("OLD-1", stale_at))
    fresh = vendor(url).payload(conversion("NEW-1", now))
    adapter = vendor(url)
    assert adapter.check(conversion("OLD-1", stale_at)) is not None  # today, check would have skipped it

    both = post(adapter, [fresh, stale])
    assert both.status_code == 400
    split = adapter.read_batch(both, [fresh, stale])
    assert isinstance(split, Split)
    assert "event_time is too far in the past" in split.reason
    assert meta.received == []  # all or nothing

    alone = post(adapter, [stale])
    (outcome,) = adapter.read_batch(alone, [stale])
    assert isinstance(outcome, Failed)
    (ok,) = adapter.read_batch(post(adapter, [fresh]), [fresh])
    assert isinstance(ok, Delivered)
    assert [e["event_id"] for e in meta.received] == ["NEW-1"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: e["user_data"].update(em="buyer@example.com"), "em must be SHA-256 hashed"),
        (lambda e: e["user_data"].update(fbp="a" * 64), "fbp must be the unhashed"),
        (lambda e: e.update(event_time=e["event_time"] * 1000), "in the future (is it in milliseconds?)"),
        (lambda e: e.pop("event_source_url"), "website events need event_source_url"),
        (lambda e: e["custom_data"].pop("currency"), "currency is required for purchase events"),
        (lambda e: e.update(user_data={}), "needs at least one customer information parameter"),
    ],
)
def test_the_fake_refuses_what_meta_refuses_and_the_adapter_splits_or_fails(
    fake: tuple[FakeMeta, str], change: Any, expected: str
) -> None:
    _, url = fake
    adapter = vendor(url)
    good = adapter.payload(conversion("G-1", datetime.now(UTC)))
    bad = json.loads(json.dumps(good))
    bad["event_id"] = "B-1"
    change(bad)
    assert [type(o) for o in adapter.read_batch(post(adapter, [good]), [good])] == [Delivered]  # passes alone
    answer = post(adapter, [good, bad])
    split = adapter.read_batch(answer, [good, bad])
    assert isinstance(split, Split)
    assert expected in split.reason


def test_request_level_refusals_fail_every_event_without_splitting(fake: tuple[FakeMeta, str]) -> None:
    _, url = fake
    good = vendor(url).payload(conversion("G-1", datetime.now(UTC)))
    wrong_token = vendor(url, access_token="EAAB-revoked")
    outcomes = wrong_token.read_batch(post(wrong_token, [good, good]), [good, good])
    assert not isinstance(outcomes, Split)
    assert [type(o) for o in outcomes] == [Failed, Failed]
    assert "code 190" in outcomes[0].reason
    other_pixel = vendor(url, pixel_id="111")
    outcomes = other_pixel.read_batch(post(other_pixel, [good, good]), [good, good])
    assert not isinstance(outcomes, Split)
    assert "code 100/33" in outcomes[0].reason
    wrong_secret = MetaConversions(access_token=TOKEN, pixel_id=PIXEL, base_url=url, app_secret="not-the-secret")
    outcomes = wrong_secret.read_batch(post(wrong_secret, [good, good]), [good, good])
    assert not isinstance(outcomes, Split)
    assert "Invalid appsecret_proof" in outcomes[0].reason


def test_the_fake_takes_a_thousand_events_and_refuses_more(fake: tuple[FakeMeta, str]) -> None:
    meta, url = fake
    adapter = vendor(url)
    good = adapter.payload(conversion("G-1", datetime.now(UTC)))
    assert isinstance(adapter.read_response(post(adapter, [good] * 1000)), Delivered)
    assert len(meta.received) == 1000
    request = adapter.build_request([good])
    too_many = json.dumps({"data": [good] * 1001}).encode()
    with httpx2.Client() as client:
        answer = client.post(str(request.url), content=too_many, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 100
