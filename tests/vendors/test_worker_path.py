"""LinkedIn, Reddit and Microsoft Advertising along the whole path: a visitor lands from the platform's ad with a
real browser's User-Agent (and the platform tag's cookies), checks out through the ASGI app, and the tracker's
outbox and worker send to the platform's strict fake on 127.0.0.1 (uvicorn).

For each platform: several checkouts travel in one request, the one the platform refuses (an event the worker
sends too late, days after checkout) dies alone while its neighbours land; the same order checked out again is
a duplicate that never reaches the platform; a visitor who refused measurement for the platform is skipped; an
outage and a throttle are retried until delivered, the platform's asked delay honoured.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
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

from attribution import AttributionMiddleware, Customer, LinkedIn, MicrosoftAds, Order, Reddit, Status, Tracker
from attribution.vendors.base import Vendor
from tests.support.delivery_fakes import StartTracker, wait_for_status
from tests.support.helpers import NAVIGATION, SECRET
from tests.support.servers import Serve

from .fake_linkedin import FakeLinkedIn
from .fake_microsoft import FakeMicrosoft
from .fake_reddit import FakeReddit

DAY = 86_400.0


@dataclass
class Clock:
    """The adapters' clock at checkout: now, unless a test checks an order out as it was days ago."""

    offset: float = 0.0

    def __call__(self) -> float:
        return datetime.now(UTC).timestamp() + self.offset


@dataclass
class Platform:
    name: str
    fake: Callable[[], Any]
    vendor: Callable[[str, Clock], Vendor]
    landing: str
    cookies: dict[str, str]
    customer: dict[str, Any]
    received: Callable[[Any], list[str]]
    """The event ids the fake accepted, in order (duplicates included)."""
    stale_days: int
    """How late an event is refused: the platform's own limit, and a day."""
    outage: tuple[int, dict[str, Any], dict[str, str]]
    throttle: tuple[int, dict[str, Any], dict[str, str]]
    said: str
    """What the refusal of the late event says, in the platform's words."""
    requests: int
    """Requests for the batch of three: the refused batch split in halves, or sent again without the event named."""


def linkedin_vendor(url: str, clock: Clock) -> Vendor:
    return LinkedIn(
        client_id="86li-client-id",
        client_secret="li-client-secret-0123",
        refresh_token="AQX-li-refresh-token-0123",
        events={"purchase": "12345"},
        base_url=url,
        token_url=f"{url}/oauth/v2/accessToken",
        clock=clock,
    )


PLATFORMS = [
    Platform(
        name="linkedin",
        fake=FakeLinkedIn,
        vendor=linkedin_vendor,
        landing="/?li_fat_id=5f0e9d8c-7b6a-4c3d-9e1f-0a2b3c4d5e6f&utm_source=linkedin&utm_medium=paid_social",
        cookies={"li_fat_id": "5f0e9d8c-7b6a-4c3d-9e1f-0a2b3c4d5e6f"},
        customer={"email": "Ana.Souza@Example.com", "first_name": "Ana", "last_name": "Souza", "country": "BR"},
        received=lambda fake: [e["eventId"] for e in fake.received],
        stale_days=91,
        outage=(503, {"status": 503, "message": "Service Unavailable"}, {}),
        throttle=(
            429,
            {"status": 429, "code": "TOO_MANY_REQUESTS", "message": "Too many requests"},
            {"retry-after": "1"},
        ),
        said="conversion happened more than 90 days ago",
        requests=2,  # all three, refused naming Index: 1; then the other two
    ),
    Platform(
        name="reddit",
        fake=FakeReddit,
        vendor=lambda url, clock: Reddit(
            access_token="rdt-conversion-access-token-0123", pixel_id="a2_fakepixel01", base_url=url, clock=clock
        ),
        landing="/?rdt_cid=t2_abc123rdtclick&utm_source=reddit&utm_medium=paid_social",
        cookies={"_rdt_uuid": "1746400000000.4df2ebdc-15ff-4b34-9ae8-d6e2096a5dc9"},
        customer={"email": "Ana.Souza+shop@Example.com", "phone": "+55 11 91234-5678"},
        received=lambda fake: [e["metadata"]["conversion_id"] for e in fake.received],
        stale_days=8,
        outage=(503, {"error": {"code": 503, "message": "Service Unavailable"}}, {}),
        throttle=(
            429,
            {"error": {"code": 429, "message": "Too Many Requests"}},
            {"ratelimit": '"ads-conversion-events-eps";r=0;t=1'},
        ),
        said="must be within the last 7 days",
        requests=5,  # all three refused; [W-1] lands; [W-2, W-3] refused; each alone
    ),
    Platform(
        name="microsoft_ads",
        fake=FakeMicrosoft,
        vendor=lambda url, clock: MicrosoftAds(
            api_token="uet-capi-token-0123456789", tag_id="343123456", base_url=url, clock=clock
        ),
        landing="/?msclkid=0f7e5c3a9b2d4e6f8a1b2c3d4e5f6a7b&utm_source=bing&utm_medium=cpc",
        cookies={"_uetvid": "683d4bb0faf011f09ddaef7abf1922b0"},
        customer={"email": "Ana.Souza@Example.com", "phone": "+55 11 91234-5678"},
        received=lambda fake: [e["eventId"] for e in fake.received],
        stale_days=8,
        outage=(500, {"error": {"code": "InternalError", "message": "Internal error"}}, {}),
        throttle=(429, {"error": {"code": "TooManyRequests", "message": "Throttled"}}, {"retry-after": "1"}),
        said="eventTime is older than 7 days",
        requests=2,  # all three, refused with details[].index 1; then the other two
    ),
]


def header_consent(scope: Mapping[str, Any]) -> Any:
    """The site's consent hook: its banner's answer, sent here as a JSON header; no header, everything granted."""
    for name, value in scope["headers"]:
        if name == b"x-consent":
            return json.loads(value)
    return True


def shop(tracker: Tracker) -> Starlette:
    async def checkout(request: Request) -> JSONResponse:
        form = await request.json()
        placed = datetime.now(UTC) - timedelta(days=form.get("days_ago", 0))
        order = Order(id=form["order_id"], value=Decimal("49.90"), currency="BRL", time=placed)
        result = await tracker.checkout(request, order, customer=Customer(**form["customer"]))
        return JSONResponse(
            {r.vendor: {"status": r.status, "reason": r.reason, "ids": list(r.delivery_ids)} for r in result}
        )

    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("welcome")

    app = Starlette(routes=[Route("/", page), Route("/checkout", checkout, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, tracker=tracker, consent=header_consent)
    return app


@dataclass
class Setup:
    platform: Platform
    fake: Any
    tracker: Tracker
    clock: Clock

    async def visit(self, orders: list[dict[str, Any]], consent: Any = True) -> list[dict[str, Any]]:
        """A visitor lands from the platform's ad, with its tag's cookies, then checks out each order."""
        headers = {**NAVIGATION, "x-consent": json.dumps(consent)}
        transport = httpx2.ASGITransport(app=shop(self.tracker))
        async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example.com", headers=headers) as c:
            c.cookies.update(self.platform.cookies)
            assert (await c.get(self.platform.landing)).status_code == 200
            answers = []
            for form in orders:
                self.clock.offset = -form.get("days_ago", 0) * DAY  # checked out when it happened
                answer = (await c.post("/checkout", json={"customer": self.platform.customer, **form})).json()
                answers.append(answer[self.platform.name])
            self.clock.offset = 0.0
            return answers


@pytest.fixture(params=PLATFORMS, ids=[p.name for p in PLATFORMS])
def platform(request: pytest.FixtureRequest) -> Platform:
    found: Platform = request.param
    return found


@pytest.fixture
def served(platform: Platform, serve: Serve) -> tuple[Any, str]:
    fake = platform.fake()
    return fake, serve(fake.app())


@pytest.fixture
async def setup(platform: Platform, served: tuple[Any, str], start_tracker: StartTracker) -> Setup:
    fake, url = served
    clock = Clock()
    tracker = await start_tracker([platform.vendor(url, clock)])
    return Setup(platform, fake, tracker, clock)


async def test_a_batch_with_a_late_event_a_duplicate_and_a_refused_consent(setup: Setup) -> None:
    platform, fake, tracker = setup.platform, setup.fake, setup.tracker
    orders = [{"order_id": "W-1"}, {"order_id": "W-2", "days_ago": platform.stale_days}, {"order_id": "W-3"}]
    answers = await setup.visit(orders)
    assert [a["status"] for a in answers] == ["queued"] * 3
    again = await setup.visit([{"order_id": "W-1"}])
    assert again[0]["status"] == "duplicate"
    refused = await setup.visit([{"order_id": "W-4"}], consent={"vendors": {platform.name: False}})
    assert refused[0] == {"status": "skipped", "reason": "consent for ad_measurement was not granted", "ids": []}

    good, stale = [answers[0]["ids"][0], answers[2]["ids"][0]], answers[1]["ids"][0]
    await tracker.worker.start()
    await wait_for_status(tracker.outbox, good, Status.DELIVERED)
    await wait_for_status(tracker.outbox, [stale], Status.DEAD)

    assert platform.received(fake) == ["W-1", "W-3"]  # once each: the duplicate and the refused never left
    dead = await tracker.outbox.get(stale)
    assert dead is not None
    assert platform.said in (dead.last_error or "")
    assert fake.requests == platform.requests  # the three checkouts left in one request


async def test_an_outage_and_a_throttle_are_retried_waiting_as_asked(setup: Setup) -> None:
    platform, fake, tracker = setup.platform, setup.fake, setup.tracker
    fake.script = [platform.outage, platform.throttle]
    (answer,) = await setup.visit([{"order_id": "R-1"}])
    await tracker.worker.start()
    await wait_for_status(tracker.outbox, answer["ids"], Status.DELIVERED)
    delivery = await tracker.outbox.get(answer["ids"][0])
    assert delivery is not None
    assert [h.result for h in delivery.history] == ["retry", "retry", "delivered"]
    assert f"HTTP {platform.outage[0]}" in delivery.history[0].detail
    assert "HTTP 429" in delivery.history[1].detail
    assert delivery.history[2].at - delivery.history[1].at >= 0.9  # the platform asked for a second
    assert platform.received(fake) == ["R-1"]


@pytest.mark.parametrize("platform", [PLATFORMS[0]], ids=["linkedin"])
async def test_linkedin_refreshes_its_token_once_when_refused_through_the_worker(setup: Setup) -> None:
    fake, tracker = setup.fake, setup.tracker
    (first,) = await setup.visit([{"order_id": "T-1"}])
    await tracker.worker.start()
    await wait_for_status(tracker.outbox, first["ids"], Status.DELIVERED)
    fake.expire_tokens()  # sixty days later
    (second,) = await setup.visit([{"order_id": "T-2"}])
    tracker.worker.wake()
    await wait_for_status(tracker.outbox, second["ids"], Status.DELIVERED)
    delivery = await tracker.outbox.get(second["ids"][0])
    assert delivery is not None
    assert [h.result for h in delivery.history] == ["retry", "delivered"]
    assert "the access token is refreshed" in delivery.history[0].detail
    assert fake.issued == 2
    assert [e["eventId"] for e in fake.received] == ["T-1", "T-2"]
