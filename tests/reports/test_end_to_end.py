"""Visitors land through the middleware at chosen times (its injected clock), check out, and the three doors to
the report agree: ``attribution report --format json``, ``tracker.report`` and the page's ``/data.json``; on both
outbox backends."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from attribution import AttributionMiddleware, Customer, LineItem, Order, Tracker
from attribution.cli import main
from attribution.reports import ReportApp
from tests.delivery_fakes import FakeVendor
from tests.helpers import BROWSER_UA

SECRET = "end-to-end-secret-0123456789abcdef"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
STAFF = {"authorization": "Bearer staff"}
NAVIGATE = {
    "user-agent": BROWSER_UA,
    "accept": "text/html,application/xhtml+xml",
    "sec-fetch-dest": "document",
    "sec-fetch-mode": "navigate",
    "sec-fetch-site": "cross-site",
    "sec-fetch-user": "?1",
}


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()


def shop(tracker: Tracker, clock: Clock) -> AttributionMiddleware:
    async def checkout(request: Request) -> JSONResponse:
        body = await request.json()
        value = Decimal(body["value"])
        order = Order(
            id=body["id"],
            value=value,
            currency=body["currency"],
            time=clock(),
            items=[LineItem(id="mug", name="Mug", quantity=1, price=value)],
        )
        result = await tracker.checkout(request, order, customer=Customer(email=body.get("email")))
        return JSONResponse({r.vendor: r.status for r in result})

    async def page(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    def staff(request: Request) -> bool:
        return request.headers.get("authorization") == STAFF["authorization"]

    app = Starlette(
        routes=[
            Mount("/admin/report", ReportApp(tracker, authorize=staff)),
            Route("/checkout", checkout, methods=["POST"]),
            Route("/{path:path}", page),
        ]
    )
    return AttributionMiddleware(app, secret_key=SECRET, tracker=tracker, clock=clock)


@pytest.fixture
async def site(outbox_spec: str) -> AsyncIterator[tuple[Tracker, Clock, Any]]:
    clock = Clock()
    tracker = Tracker(vendors=[FakeVendor(needs_email=True)], outbox=outbox_spec, run_worker=False, clock=clock.seconds)
    await tracker.start()
    yield tracker, clock, shop(tracker, clock)
    await tracker.stop()


class Visitor:
    """One browser: its own cookie jar, real navigations."""

    def __init__(self, app: Any, clock: Clock) -> None:
        transport = httpx2.ASGITransport(app=app, client=("203.0.113.7", 50000))
        self.http = httpx2.AsyncClient(transport=transport, base_url="https://shop.example", headers=NAVIGATE)
        self.clock = clock

    async def land(self, at: timedelta, url: str, referer: str | None = None) -> None:
        self.clock.now = T0 + at
        headers = {"referer": referer} if referer else {}
        assert (await self.http.get(url, headers=headers)).status_code == 200

    async def buy(
        self, at: timedelta, order_id: str, value: str, currency: str = "USD", email: str | None = None
    ) -> dict[str, str]:
        self.clock.now = T0 + at
        body = {"id": order_id, "value": value, "currency": currency, "email": email}
        response = await self.http.post("/checkout", json=body, headers={"sec-fetch-dest": "empty"})
        assert response.status_code == 200
        await self.http.aclose()
        answer: dict[str, str] = response.json()
        return answer


async def visits(app: Any, clock: Clock) -> None:
    """Four journeys, worked out by hand below."""
    one = Visitor(app, clock)  # Google ad, then the newsletter three days later: buys a day after
    await one.land(timedelta(0), "/?gclid=Cj0-e2e&utm_source=google&utm_medium=cpc&utm_campaign=brand")
    await one.land(timedelta(days=3), "/news?utm_source=newsletter&utm_medium=email&utm_campaign=november")
    assert await one.buy(timedelta(days=4), "E2E-1", "120.00", email="jane.doe@example.com") == {"fake": "queued"}
    two = Visitor(app, clock)  # a Meta ad; pays in euros, no email: the vendor skips
    await two.land(timedelta(days=1), "/?fbclid=IwAR-e2e&utm_source=facebook&utm_medium=paid_social")
    assert await two.buy(timedelta(days=2), "E2E-2", "40.00", currency="EUR") == {"fake": "skipped"}
    three = Visitor(app, clock)  # typed the address: no touch at all
    await three.land(timedelta(days=5), "/")
    assert await three.buy(timedelta(days=5, hours=1), "E2E-3", "10.00", email="sam@example.com") == {"fake": "queued"}
    four = Visitor(app, clock)  # an organic link from a blog, then the Google ad a week later
    await four.land(timedelta(days=1), "/post", referer="https://blog.example.org/best-mugs")
    await four.land(timedelta(days=8), "/?gclid=Cj0-e2e-2&utm_source=google&utm_medium=cpc&utm_campaign=brand")
    assert await four.buy(timedelta(days=8, hours=2), "E2E-4", "60.00", email="alex@example.com") == {"fake": "queued"}


WINDOW = {"since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"}


async def three_ways(tracker: Tracker, app: Any, spec: str, by: str, model: str) -> list[dict[str, Any]]:
    """The report by the CLI's JSON, by tracker.report and by /data.json."""
    out = io.StringIO()
    argv = ["--outbox", spec, "report", "--since", WINDOW["since"], "--until", WINDOW["until"], "--by", by]
    code = await asyncio.to_thread(main, [*argv, "--model", model, "--format", "json"], out)
    assert code == 0
    in_code = await tracker.report(
        since=datetime(2026, 11, 1, tzinfo=UTC), until=datetime(2026, 12, 1, tzinfo=UTC), by=by, model=model
    )
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example", headers=STAFF) as http:
        page = await http.get("/admin/report/data.json", params={**WINDOW, "by": by, "model": model})
    assert page.status_code == 200
    return [json.loads(out.getvalue()), json.loads(json.dumps(in_code.to_dict())), page.json()]


async def test_the_cli_the_tracker_and_the_page_give_the_same_report(
    site: tuple[Tracker, Clock, Any], outbox_spec: str
) -> None:
    tracker, clock, app = site
    await visits(app, clock)
    cli, in_code, page = await three_ways(tracker, app, outbox_spec, "channel", "last")
    assert cli == in_code == page
    assert [(r["key"], r["currency"], r["orders"], r["revenue"]) for r in cli["rows"]] == [
        ("email", "USD", 1.0, "120.00"),
        ("paid_search", "USD", 1.0, "60.00"),
        ("paid_social", "EUR", 1.0, "40.00"),
        ("direct", "USD", 1.0, "10.00"),
    ]
    assert cli["totals"] == [
        {"currency": "USD", "orders": 3.0, "revenue": "190.00"},
        {"currency": "EUR", "orders": 1.0, "revenue": "40.00"},
    ]

    cli, in_code, page = await three_ways(tracker, app, outbox_spec, "source_medium", "time_decay")
    assert cli == in_code == page
    # visitor one: Google four days before the order, the newsletter one day before, half-life seven days
    first_share = 2 ** (-4 / 7) / (2 ** (-4 / 7) + 2 ** (-1 / 7))
    rows = {(r["key"], r["currency"]): r for r in cli["rows"]}
    assert rows[("newsletter / email", "USD")]["orders"] == pytest.approx(1 - first_share, abs=1e-6)
    # visitor four: the blog seven days and two hours before the order, Google two hours before
    google_share = 2 ** (-2 / 168) / (2 ** (-2 / 168) + 2 ** (-170 / 168))
    expected = Decimal(120 * first_share + 60 * google_share)
    assert Decimal(rows[("google / cpc", "USD")]["revenue"]) == pytest.approx(expected, abs=Decimal("0.000002"))
    assert ("blog.example.org / referral", "USD") in rows
    assert rows[("(direct) / (none)", "USD")]["revenue"] == "10.00"


async def test_the_delivery_report_says_what_the_vendor_did(site: tuple[Tracker, Clock, Any], outbox_spec: str) -> None:
    _tracker, clock, app = site
    await visits(app, clock)
    out = io.StringIO()
    argv = ["--outbox", outbox_spec, "report", "--deliveries", "--since", WINDOW["since"], "--format", "json"]
    assert await asyncio.to_thread(main, argv, out) == 0
    assert json.loads(out.getvalue())["vendors"] == [
        {
            "vendor": "fake",
            "orders": 4,
            "queued": 3,
            "delivered": 0,
            "failed": 0,
            "pending": 3,
            "skipped": {"the customer has no email": 1},
            "dry_run": 0,
            "cancelled": 0,
        }
    ]
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example", headers=STAFF) as http:
        html = (await http.get("/admin/report/", params={"since": WINDOW["since"]})).text
        refused = await http.get("/admin/report/", headers={"authorization": "Bearer visitor"})
    assert "1: the customer has no email" in html
    assert "jane.doe" not in html
    assert "example.com" not in html
    assert refused.status_code == 403
