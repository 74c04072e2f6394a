"""Pinterest, Snapchat and OpenAI Ads end to end: a visitor lands from an ad in a real browser's clothes, checks
out through the ASGI app, the outbox keeps the deliveries, and the worker sends them to a strict fake of the
platform on 127.0.0.1 (uvicorn). Each platform is taken through a batch with a bad event in it, throttling and
an outage (Retry-After honoured), a repeated checkout, and a visitor who refused consent; with the root logger
at DEBUG, no credential, email, phone, name or browser id is logged or kept as an error."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from attribution import (
    AttributionMiddleware,
    Customer,
    LineItem,
    OpenAIAds,
    Order,
    PinterestConversions,
    SnapchatConversions,
    Status,
    Tracker,
    Vendor,
    event_id,
)
from attribution.vendors.pinterest import DEFAULT_EVENTS as PINTEREST_EVENTS
from tests.support.delivery_fakes import StartTracker, wait_for_status
from tests.support.helpers import BROWSER_UA, NAVIGATION, SECRET
from tests.support.servers import Serve

from .fake_openai_ads import FakeOpenAIAds
from .fake_pinterest import FakePinterest
from .fake_snapchat import FakeSnapchat

DAY = 86_400
AD_CLICK = {**NAVIGATION, "sec-fetch-mode": "navigate", "sec-fetch-site": "cross-site", "sec-fetch-user": "?1"}
EMAIL = "ana.souza@example.com"
PHONE = "+5511999998888"
FIRST, LAST = "Anabela", "Souzaferreira"
#: sha256("ana.souza@example.com"), computed apart from the library with sha256sum.
EMAIL_SHA256 = "7fd726011aa08d90d14a923ea0e5e3edf63bfe14b51ee6f6429483118d197c9b"


@dataclass
class Platform:
    """How one platform is set up, landed on, broken and read back."""

    name: str
    token: str
    landing: str
    cookies: dict[str, str]
    click: str
    """The click or browser id its event must carry (never to be logged)."""
    fake: Callable[[], Any]
    """A strict fake whose clock runs a day ahead: an event checked at checkout may age in the queue."""
    vendor: Callable[[str], Vendor]
    bad_checkout: dict[str, Any]
    bad_error: str
    outage: Callable[[Any, str], None]
    """Script a throttled answer (Retry-After: 1) and an outage whose text quotes the customer and the key."""
    received: Callable[[Any], list[dict[str, Any]]]
    ids: Callable[[dict[str, Any]], str]
    carried: Callable[[dict[str, Any]], list[str]]
    """The click / browser ids and the email digest an event carries, in a fixed order."""
    limited: Callable[[dict[str, Any]], bool]


def _quote(token: str, click: str) -> str:
    """An outage message quoting what the platform was sent in clear (it never gets the names: only digests),
    and the shapes of an email and a phone, and the key."""
    return f"temporarily unavailable for {EMAIL} / {PHONE} (click {click}) with key {token}"


PIN_TOKEN, SNAP_TOKEN, OPENAI_KEY = "pina_flow-token-7c1d2e3f", "snap-flow-token-7c1d2e3f", "sk-conv-flow-7c1d2e3f"
EPIK = "dj0yJnU9pin-flow-click"
SCCID = "4f6d1e2a-snap-flow-click"
OPPREF = "gAAAAABpX2v1-flow-oppref_reference=="


def _pinterest_outage(fake: FakePinterest, token: str) -> None:
    fake.script = [(429, 8, "Rate limit exceeded", {"retry-after": "1"}), (503, 4197, _quote(token, EPIK), {})]


def _snap_outage(fake: FakeSnapchat, token: str) -> None:
    throttled = {"status": "INVALID", "reason": "Too many requests"}
    down = {"status": "INVALID", "reason": _quote(token, SCCID)}
    fake.script = [(429, throttled, {"retry-after": "1"}), (500, down, {})]


def _openai_outage(fake: FakeOpenAIAds, token: str) -> None:
    throttled = {"error": {"message": "Rate limit reached.", "type": "rate_limit_error"}}
    down = {"error": {"message": _quote(token, OPPREF), "type": "server_error"}}
    fake.script = [(429, throttled, {"retry-after": "1"}), (503, down, {})]


def _ahead() -> float:
    return time.time() + DAY


PLATFORMS = [
    Platform(
        name="pinterest",
        token=PIN_TOKEN,
        landing=f"/?epik={EPIK}&utm_source=pinterest&utm_medium=paid_social",
        cookies={},
        click=EPIK,
        fake=lambda: FakePinterest(token=PIN_TOKEN, ad_account_id="549755885175"),
        vendor=lambda url: PinterestConversions(
            access_token=PIN_TOKEN,
            ad_account_id="549755885175",
            base_url=url,
            events={**PINTEREST_EVENTS, "contact": "contact_us"},  # a name Pinterest does not know
        ),
        bad_checkout={"event": "contact"},
        bad_error="Pinterest failed the event: event_name 'contact_us' is not a supported event name",
        outage=_pinterest_outage,
        received=lambda fake: fake.received,
        ids=lambda event: event["event_id"],
        carried=lambda e: [e["user_data"]["click_id"], e["user_data"]["em"][0]],
        limited=lambda e: e.get("custom_data", {}).get("opt_out_type") == "LDP",
    ),
    Platform(
        name="snapchat",
        token=SNAP_TOKEN,
        landing=f"/?ScCid={SCCID}&utm_source=snapchat",
        cookies={"_scid": "d3a1c2b4-5e6f-flow-scid"},
        click=SCCID,
        fake=lambda: FakeSnapchat(token=SNAP_TOKEN, pixel_id="7b4f6d1e-flow-pixel", clock=_ahead),
        vendor=lambda url: SnapchatConversions(access_token=SNAP_TOKEN, pixel_id="7b4f6d1e-flow-pixel", base_url=url),
        bad_checkout={"days_ago": 36.5},  # within Snap's 37 days at checkout, past them a day later
        bad_error="event_time is out of range (older than 37 days?)",
        outage=_snap_outage,
        received=lambda fake: fake.received,
        ids=lambda event: event["event_id"],
        carried=lambda e: [e["user_data"]["sc_click_id"], e["user_data"]["sc_cookie1"], e["user_data"]["em"][0]],
        limited=lambda e: e.get("data_processing_options") == ["LDU"],
    ),
    Platform(
        name="openai_ads",
        token=OPENAI_KEY,
        landing=f"/?oppref={OPPREF.replace('=', '%3D')}",
        cookies={"__obref": "ob.1761000000.flow-obref"},
        click=OPPREF,
        fake=lambda: FakeOpenAIAds(api_key=OPENAI_KEY, pixel_id="px_flow", clock=_ahead),
        vendor=lambda url: OpenAIAds(api_key=OPENAI_KEY, pixel_id="px_flow", base_url=url),
        bad_checkout={"days_ago": 6.5},  # within OpenAI's 7 days at checkout, past them a day later
        bad_error="timestamp_ms is more than 7 days in the past",
        outage=_openai_outage,
        received=lambda fake: fake.received,
        ids=lambda event: event["id"],
        carried=lambda e: [e["oppref"], e["user"]["obref"], e["user"]["emails_sha256"][0]],
        limited=lambda e: e.get("opt_out") is True,
    ),
]
CARRIED = {
    "pinterest": [EPIK],
    "snapchat": [SCCID, "d3a1c2b4-5e6f-flow-scid"],
    "openai_ads": [OPPREF, "ob.1761000000.flow-obref"],
}


def consent(scope: Any) -> Any:
    """The site's consent banner, as a cookie: ``all``, ``measure`` (no personalisation) or ``none``."""
    cookies = dict(
        part.strip().split("=", 1)
        for name, value in scope["headers"]
        if name == b"cookie"
        for part in value.decode("latin-1").split(";")
        if "=" in part
    )
    answer = cookies.get("cmp", "all")
    if answer == "none":
        return {"ad_measurement": False, "ad_personalization": False}
    return {"ad_measurement": True, "ad_personalization": answer == "all"}


def shop(tracker: Tracker) -> Starlette:
    async def checkout(request: Request) -> JSONResponse:
        form = await request.json()
        at = datetime.now(UTC) - timedelta(days=form.get("days_ago", 0))
        customer = Customer(email=EMAIL.upper(), phone=PHONE, first_name=FIRST, last_name=LAST, country="BR")
        if form.get("event", "purchase") == "purchase":
            items = [LineItem(id="sku-1", name="Blanket", price=Decimal("59.90"))]
            order = Order(id=form["order_id"], value=Decimal("59.90"), currency="EUR", items=items, time=at)
            result = await tracker.checkout(request, order, customer=customer)
        else:
            result = await tracker.checkout(
                request, customer=customer, event=form["event"], event_id=form["order_id"], event_time=at
            )
        return JSONResponse({r.vendor: [r.status, r.reason, list(r.delivery_ids)] for r in result})

    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", page), Route("/checkout", checkout, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, tracker=tracker, consent=consent)
    return app


@pytest.fixture(params=PLATFORMS, ids=lambda p: p.name)
def platform(request: pytest.FixtureRequest) -> Platform:
    found: Platform = request.param
    return found


@pytest.fixture
def fake(platform: Platform, serve: Serve) -> tuple[Any, str]:
    server = platform.fake()
    return server, serve(server.app())


@pytest.fixture
async def tracker(platform: Platform, fake: tuple[Any, str], start_tracker: StartTracker) -> Tracker:
    return await start_tracker([platform.vendor(fake[1])])


async def visit(tracker: Tracker, platform: Platform, orders: list[dict[str, Any]], cmp: str = "all") -> list[Any]:
    """A visitor lands from the platform's ad, then checks out once per entry of ``orders``."""
    transport = httpx2.ASGITransport(app=shop(tracker))
    async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example.com") as browser:
        browser.cookies.update({**platform.cookies, "cmp": cmp})
        referer = {"referer": "https://chatgpt.com/"} if platform.name == "openai_ads" else {}
        assert (await browser.get(platform.landing, headers={**AD_CLICK, **referer})).status_code == 200
        answers = []
        for form in orders:
            answer = await browser.post("/checkout", json=form, headers={"user-agent": BROWSER_UA})
            answers.append(answer.json()[platform.name])
    return answers


async def test_a_batch_with_a_bad_event_lands_around_it_and_a_repeat_checkout_is_a_duplicate(
    platform: Platform, fake: tuple[Any, str], tracker: Tracker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, _ = fake
    forms = [
        {"order_id": "F-1"},
        {"order_id": "F-2", **platform.bad_checkout},
        {"order_id": "F-3"},
        {"order_id": "F-1"},
    ]
    answers = await visit(tracker, platform, forms)
    assert [a[0] for a in answers] == ["queued", "queued", "queued", "duplicate"]
    good, bad = [answers[0][2][0], answers[2][2][0]], answers[1][2][0]
    await tracker.worker.start()
    await wait_for_status(tracker.outbox, good, Status.DELIVERED)
    await wait_for_status(tracker.outbox, [bad], Status.DEAD)

    events = platform.received(server)
    assert [platform.ids(e) for e in events] == ["F-1", "F-3"]  # once each: the repeat was never queued
    assert platform.ids(events[0]) == event_id(Order(id="F-1", value=1, currency="EUR"))  # the pixel's id
    # click and browser ids raw, the email only as its digest
    assert platform.carried(events[0]) == [*CARRIED[platform.name], EMAIL_SHA256]
    assert not platform.limited(events[0])
    dead = await tracker.outbox.get(bad)
    assert dead is not None
    assert platform.bad_error in (dead.last_error or "")
    assert_private(platform, caplog, [dead.last_error or ""])


async def test_throttling_and_an_outage_are_retried_honouring_retry_after(
    platform: Platform, fake: tuple[Any, str], tracker: Tracker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, _ = fake
    platform.outage(server, platform.token)
    (answer,) = await visit(tracker, platform, [{"order_id": "R-1"}])
    ids = answer[2]
    await tracker.worker.start()
    await wait_for_status(tracker.outbox, ids, Status.DELIVERED, timeout=15)
    delivery = await tracker.outbox.get(ids[0])
    assert delivery is not None
    assert [h.result for h in delivery.history] == ["retry", "retry", "delivered"]
    assert delivery.history[1].at - delivery.history[0].at >= 1.0  # the platform asked for a second
    assert "HTTP 429" in delivery.history[0].detail
    assert "HTTP 5" in delivery.history[1].detail
    assert [platform.ids(e) for e in platform.received(server)] == ["R-1"]
    assert_private(platform, caplog, [h.detail for h in delivery.history])


async def test_consent_refusing_personalisation_flags_the_event_and_refusing_measurement_sends_nothing(
    platform: Platform, fake: tuple[Any, str], tracker: Tracker
) -> None:
    server, _ = fake
    (limited,) = await visit(tracker, platform, [{"order_id": "L-1"}], cmp="measure")
    (refused,) = await visit(tracker, platform, [{"order_id": "N-1"}], cmp="none")
    assert limited[0] == "queued"
    assert refused[:2] == ["skipped", "consent for ad_measurement was not granted"]
    await tracker.worker.start()
    await wait_for_status(tracker.outbox, limited[2], Status.DELIVERED)
    (event,) = platform.received(server)
    assert platform.ids(event) == "L-1"
    assert platform.limited(event)


def assert_private(platform: Platform, caplog: pytest.LogCaptureFixture, errors: list[str]) -> None:
    """No credential, email, phone, name or browser id in any log record or kept error."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(record) for record in caplog.records]
    # The test's own browser logs its landing on the shop (a click id in its URL is the visitor's, not ours).
    logged = "\n".join(line for line in lines if "https://shop.example.com/" not in line)
    assert "HTTP Request: POST" in logged  # the flow did log at DEBUG, so the search searched something
    text = (logged + "\n" + "\n".join(errors)).lower()
    forbidden = [platform.token, EMAIL, PHONE, PHONE.lstrip("+"), FIRST, LAST, *CARRIED[platform.name]]
    assert [value for value in forbidden if value.lower() in text] == []
