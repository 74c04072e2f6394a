"""Corrections and holds end to end, on both outbox backends: real checkouts through the ASGI app, the real worker
against strict fakes (``httpx2.MockTransport`` for a plain vendor, Google's fakes for Data Manager and the Google Ads
API), and ``Tracker.adjust`` / ``cancel`` between them: a value corrected before sending, a cancellation before
sending, Google's restatement and retraction after delivery, a vendor that cannot be told, idempotence, an unknown
order, holds released or cancelled by ``still_valid``, and Google's later verdict asked by the worker."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from attribution import CorrectionResult, GoogleAds, VendorCorrection, cli
from attribution.checkout.tracker import Tracker
from attribution.delivery.outbox.base import Status
from attribution.delivery.worker import STILL_VALID_AGAIN
from attribution.errors import UnknownOrderError
from attribution.orders.conversion import Customer, Order
from attribution.vendors.base import Vendor
from attribution.web.middleware import AttributionMiddleware
from tests.delivery_fakes import FAST, FakeClock, FakeVendor, drain
from tests.helpers import NAVIGATION, SECRET
from tests.vendors.fake_datamanager import CONVERSION_ACTION, FakeDataManager
from tests.vendors.google_fakes import google_ads
from tests.vendors.google_server import FakeGoogle
from tests.vendors.google_tokens import USER

GCLID = "Cj0KCQ-corrections"
ACTION = "customers/1234567890/conversionActions/987654321"


class Routes(httpx2.AsyncBaseTransport):
    """Each host to its own fake; any other host is a test bug (never a real vendor's URL)."""

    def __init__(self, hosts: dict[str, httpx2.AsyncBaseTransport]) -> None:
        self.hosts = hosts

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        assert host in self.hosts, f"a request to {host}, which no fake serves"
        return await self.hosts[host].handle_async_request(request)


@dataclass
class Plain:
    """A strict fake for ``FakeVendor``: one JSON event per POST to ``/fake`` with its Bearer token."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.method != "POST" or request.url.path != "/fake":
            return httpx2.Response(404, json={"error": "no such endpoint"})
        if request.headers.get("authorization") != "Bearer sekrit":
            return httpx2.Response(401, json={"error": "bad token"})
        body = json.loads(request.content)
        if not isinstance(body, dict) or set(body) - {"event_id", "value", "email", "utm_source", "gclid", "ip",
                                                        "user_agent"}:  # fmt: skip
            return httpx2.Response(400, json={"error": "unknown field"})
        self.events.append(body)
        return httpx2.Response(200, json={"ok": True})


def dm_vendor() -> GoogleAds:
    """``GoogleAds`` on the Data Manager API (the default), served by ``FakeDataManager``."""
    settings: dict[str, Any] = {
        **USER,
        "customer_id": "123-456-7890",
        "conversion_actions": {"purchase": CONVERSION_ACTION},
        "base_url": "http://datamanager.test",
        "token_url": "http://datamanager.test/token",
        "enhanced_conversions": True,
    }
    return GoogleAds(**settings)


@dataclass
class Shop:
    tracker: Tracker
    clock: FakeClock
    plain: Plain
    datamanager: FakeDataManager
    google: FakeGoogle
    http: httpx2.AsyncClient

    async def buy(self, order: str, value: str = "49.90", *, gclid: str = GCLID) -> dict[str, Any]:
        """A visitor lands from a Google ad and checks out ``order`` through the site."""
        await self.http.get(f"/?utm_source=google&utm_medium=cpc&gclid={gclid}")
        response = await self.http.post("/checkout", json={"order": order, "value": value})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def send(self) -> None:
        await drain(self.tracker.worker, self.clock)

    async def statuses(self, order: str) -> dict[tuple[str, str], Status]:
        found = await self.tracker.outbox.order(order, "purchase")
        assert found is not None
        return {(d.vendor, d.kind): d.status for d in found[1]}


def make_app(tracker: Tracker) -> Starlette:
    async def checkout(request: Request) -> JSONResponse:
        form = await request.json()
        order = Order(id=form["order"], value=form["value"], currency="BRL")
        result = await tracker.checkout(request, order, customer=Customer(email="ana@example.com"))
        return JSONResponse({r.vendor: r.status for r in result})

    app = Starlette(routes=[Route("/", lambda r: JSONResponse({})), Route("/checkout", checkout, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, tracker=tracker)
    return app


@pytest.fixture
def shop_factory(outbox_spec: str) -> Callable[..., contextlib.AbstractAsyncContextManager[Shop]]:
    @contextlib.asynccontextmanager
    async def make(vendors: list[str], **options: Any) -> AsyncIterator[Shop]:
        clock = FakeClock(time.time())
        plain, datamanager, google = Plain(), FakeDataManager(wall_clock=clock), FakeGoogle()
        built: dict[str, Callable[[], Vendor]] = {
            "fake": FakeVendor,
            "datamanager": dm_vendor,
            "google_ads_api": lambda: google_ads(
                base_url="http://googleads.test", token_url="http://googleads.test/token"
            ),
        }
        transport = Routes(
            {
                "fake.test": httpx2.MockTransport(plain),
                "datamanager.test": httpx2.ASGITransport(app=datamanager.app()),
                "googleads.test": httpx2.ASGITransport(app=google.app()),
            }
        )
        tracker = Tracker(
            vendors=[built[name]() for name in vendors],
            outbox=outbox_spec,
            run_worker=False,
            clock=clock,
            policy=FAST,
            transport=transport,
            lease=30.0,
            timeout=5.0,
            **options,
        )
        await tracker.start()
        asgi = httpx2.ASGITransport(app=make_app(tracker), client=("198.51.100.7", 5555))
        try:
            async with httpx2.AsyncClient(transport=asgi, base_url="https://shop.example", headers=NAVIGATION) as http:
                yield Shop(tracker, clock, plain, datamanager, google, http)
        finally:
            await tracker.worker.stop()
            await tracker.stop()

    return make


# -- before sending --------------------------------------------------------------------------------------------------


async def test_a_value_corrected_while_queued_is_the_value_the_vendor_receives(shop_factory: Any) -> None:
    async with shop_factory(["fake"]) as shop:
        assert await shop.buy("A-1", "49.90") == {"fake": "queued"}
        result = await shop.tracker.adjust("A-1", value=Decimal("12.50"))
        assert isinstance(result, CorrectionResult)  # the public names
        assert result["fake"] == VendorCorrection("fake", "adjusted", "not sent yet: it goes with the new value", 1)
        assert [(r.vendor, r.status) for r in result] == [("fake", "adjusted")]
        assert result.kind == "adjust"
        assert result.changed
        await shop.send()
        assert [e["value"] for e in shop.plain.events] == ["12.50"]
        assert shop.plain.events[0]["event_id"] == "A-1"
        assert await shop.statuses("A-1") == {("fake", "send"): Status.DELIVERED}
        stored = await shop.tracker.outbox.order("A-1", "purchase")
        assert stored is not None
        assert (stored[0].value, stored[0].currency) == (Decimal("12.50"), "BRL")


async def test_an_order_cancelled_while_queued_is_never_sent(shop_factory: Any) -> None:
    async with shop_factory(["fake"]) as shop:
        await shop.buy("A-2")
        result = await shop.tracker.cancel("A-2", reason="refund")
        assert [(r.vendor, r.status) for r in result] == [("fake", "cancelled")]
        await shop.send()
        assert shop.plain.events == []
        found = await shop.tracker.outbox.order("A-2", "purchase")
        assert found is not None
        order, (delivery,) = found
        assert order.status == "cancelled"
        assert delivery.status is Status.CANCELLED
        assert delivery.last_error == "cancelled before it was sent (refund)"


# -- after delivery: each vendor as it can be told --------------------------------------------------------------------


async def test_a_delivered_order_adjusted_is_restated_on_data_manager_with_the_same_transaction_id(
    shop_factory: Any,
) -> None:
    async with shop_factory(["fake", "datamanager"]) as shop:
        await shop.buy("A-3", "49.90")
        await shop.send()
        assert set((await shop.statuses("A-3")).values()) == {Status.DELIVERED}
        shop.clock.advance(3600)
        result = await shop.tracker.adjust("A-3", value="20.00")
        assert {r.vendor: (r.status, r.reason) for r in result} == {
            "fake": ("not_supported", "fake documents no way to be told of a new value"),
            "google_ads": ("restated", "a restatement is queued"),
        }
        await shop.send()
        assert [key[2] for key in shop.datamanager.restatements] == ["A-3"]  # the same transactionId, sent again
        (held,) = shop.datamanager.conversions.values()
        assert (held["transactionId"], held["conversionValue"], held["currency"]) == ("A-3", 20.0, "BRL")
        assert [e["value"] for e in shop.plain.events] == ["49.90"]  # the plain vendor keeps what it got
        assert (await shop.statuses("A-3"))[("google_ads", "restate")] is Status.DELIVERED


async def test_a_delivered_order_adjusted_is_a_restatement_on_the_google_ads_api(shop_factory: Any) -> None:
    async with shop_factory(["google_ads_api"]) as shop:
        await shop.buy("A-10", "49.90")
        await shop.send()
        shop.clock.advance(3600)
        result = await shop.tracker.adjust("A-10", value="20.00", currency="usd")
        assert [(r.vendor, r.status) for r in result] == [("google_ads", "restated")]
        await shop.send()
        (adjustment,) = shop.google.adjusted[(ACTION, "A-10")]
        assert adjustment["adjustmentType"] == "RESTATEMENT"
        assert adjustment["restatementValue"] == {"adjustedValue": 20.0, "currencyCode": "USD"}
        assert (await shop.statuses("A-10"))[("google_ads", "restate")] is Status.DELIVERED


async def test_a_delivered_order_cancelled_is_retracted_where_google_can_be_told(shop_factory: Any) -> None:
    async with shop_factory(["fake", "google_ads_api"]) as shop:
        await shop.buy("A-4")
        await shop.send()
        shop.clock.advance(3600)
        result = await shop.tracker.cancel("A-4")
        assert {r.vendor: (r.status, r.reason) for r in result} == {
            "fake": ("not_supported", "fake documents no way to be told of a cancellation"),
            "google_ads": ("retracted", "a retraction is queued"),
        }
        await shop.send()
        (adjustment,) = shop.google.adjusted[(ACTION, "A-4")]
        assert adjustment["adjustmentType"] == "RETRACTION"
        assert "restatementValue" not in adjustment
        assert (await shop.statuses("A-4"))[("google_ads", "retract")] is Status.DELIVERED


async def test_data_manager_cannot_be_told_of_a_cancellation_and_says_so(shop_factory: Any) -> None:
    async with shop_factory(["datamanager"]) as shop:
        await shop.buy("A-5")
        await shop.send()
        result = await shop.tracker.cancel("A-5")
        assert [(r.vendor, r.status, r.reason) for r in result] == [
            ("google_ads", "not_supported", "google_ads documents no way to be told of a cancellation")
        ]
        await shop.send()
        assert shop.datamanager.restatements == []
        assert await shop.statuses("A-5") == {("google_ads", "send"): Status.DELIVERED}


# -- idempotence and unknown orders -----------------------------------------------------------------------------------


async def test_the_same_correction_twice_changes_nothing_the_second_time(shop_factory: Any) -> None:
    async with shop_factory(["fake", "google_ads_api"]) as shop:
        await shop.buy("A-6")
        await shop.send()
        shop.clock.advance(3600)
        first = await shop.tracker.adjust("A-6", value="30")
        again = await shop.tracker.adjust("A-6", value="30")
        assert first.changed
        assert not again.changed
        assert {r.status for r in again} == {"unchanged"}
        await shop.send()
        adjustments = shop.google.adjusted[(ACTION, "A-6")]
        assert len(adjustments) == 1
        cancelled = await shop.tracker.cancel("A-6")
        twice = await shop.tracker.cancel("A-6")
        assert cancelled.changed
        assert not twice.changed
        assert [(r.vendor, r.status, r.reason) for r in twice] == [
            ("fake", "unchanged", "the order is cancelled"),
            ("google_ads", "unchanged", "the order is cancelled"),
        ]
        rows = await shop.tracker.outbox.list(limit=100)
        assert sorted(d.kind for d in rows) == ["restate", "retract", "send", "send"]


async def test_an_unknown_order_is_an_error_and_changes_nothing(shop_factory: Any) -> None:
    async with shop_factory(["fake"]) as shop:
        await shop.buy("A-7")
        before = [(d.id, d.status, d.updated_at) for d in await shop.tracker.outbox.list()]
        with pytest.raises(UnknownOrderError, match="no order 'NOPE' with event 'purchase'"):
            await shop.tracker.adjust("NOPE", value="1")
        with pytest.raises(UnknownOrderError):
            await shop.tracker.cancel("A-7", event="lead")  # the order exists, as a purchase only
        assert [(d.id, d.status, d.updated_at) for d in await shop.tracker.outbox.list()] == before
        stored = await shop.tracker.outbox.order("A-7", "purchase")
        assert stored is not None
        assert stored[0].status == "active"
        assert stored[0].value == Decimal("49.90")


async def test_the_sync_twins_correct_on_either_backend(shop_factory: Any, outbox_spec: str) -> None:
    """SQLite: no connection needed. PostgreSQL: in the caller's transaction, which a rollback undoes."""
    async with shop_factory(["fake"]) as shop:
        await shop.buy("A-8")
        await shop.buy("A-9")
        if outbox_spec.startswith("postgres"):
            import psycopg

            def in_transaction(commit: bool) -> tuple[Any, Any]:
                with psycopg.connect(outbox_spec) as conn:
                    adjusted = shop.tracker.adjust_sync("A-8", value="5", connection=conn)
                    cancelled = shop.tracker.cancel_sync("A-9", connection=conn)
                    conn.commit() if commit else conn.rollback()
                return adjusted, cancelled

            undone = await asyncio.to_thread(in_transaction, False)
            assert [r.status for r in undone[0]] == ["adjusted"]
            assert await shop.statuses("A-9") == {("fake", "send"): Status.PENDING}  # rolled back: nothing changed
            adjusted, cancelled = await asyncio.to_thread(in_transaction, True)
        else:
            adjusted = await asyncio.to_thread(shop.tracker.adjust_sync, "A-8", value="5")
            cancelled = await asyncio.to_thread(shop.tracker.cancel_sync, "A-9")
        assert [r.status for r in adjusted] == ["adjusted"]
        assert [r.status for r in cancelled] == ["cancelled"]
        await shop.send()
        assert [(e["event_id"], e["value"]) for e in shop.plain.events] == [("A-8", "5")]


# -- holds ------------------------------------------------------------------------------------------------------------

DAY = timedelta(hours=24)


async def screens(spec: str, *commands: str) -> str:
    """What ``attribution status`` / ``list`` / ``show`` print for the outbox at ``spec``."""
    texts = []
    for command in commands:
        out = io.StringIO()
        code = await asyncio.to_thread(cli.main, ["--outbox", spec, *command.split()], out)
        assert code == 0, out.getvalue()
        texts.append(out.getvalue())
    return "\n".join(texts)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_held_purchase_shows_its_release_and_is_sent_after_it_when_still_valid(
    shop_factory: Any, outbox_spec: str, kind: str
) -> None:
    asked: list[tuple[str, str]] = []

    def sync_check(order_id: str, event: str) -> bool:
        asked.append((order_id, event))
        return True

    async def async_check(order_id: str, event: str) -> bool:
        await asyncio.sleep(0)
        return sync_check(order_id, event)

    check = sync_check if kind == "sync" else async_check
    async with shop_factory(["fake"], hold={"purchase": DAY}, still_valid=check) as shop:
        await shop.buy("H-1")
        release = shop.clock.now + DAY.total_seconds()
        (delivery,) = await shop.tracker.outbox.list()
        assert (delivery.status, delivery.hold_until) == (Status.HELD, release)
        await shop.tracker.worker.run_until_idle()  # nothing is due before the release
        assert shop.plain.events == []
        assert asked == []
        when = datetime.fromtimestamp(release, UTC).strftime("%Y-%m-%d %H:%M:%S")
        shown = await screens(outbox_spec, "status", "list", f"show {delivery.id}")
        assert f"held: 1, the next released at {when}" in shown  # status
        assert f"held until {when}" in shown.split("delivery ")[0]  # list
        assert f"held until    {when} (then the site's still_valid is asked)" in shown  # show
        await shop.send()
        assert asked == [("H-1", "purchase")]
        assert [e["event_id"] for e in shop.plain.events] == ["H-1"]
        assert shop.clock.now >= release
        assert await shop.statuses("H-1") == {("fake", "send"): Status.DELIVERED}


async def test_a_held_purchase_still_valid_refuses_is_cancelled_never_sent_and_left_out_of_reports(
    shop_factory: Any,
) -> None:
    async def refuse(order_id: str, event: str) -> bool:
        return order_id != "H-2"

    async with shop_factory(["fake"], hold={"purchase": DAY}, still_valid=refuse) as shop:
        await shop.buy("H-2")
        await shop.buy("H-3")
        await shop.send()
        assert [e["event_id"] for e in shop.plain.events] == ["H-3"]
        found = await shop.tracker.outbox.order("H-2", "purchase")
        assert found is not None
        order, (delivery,) = found
        assert delivery.status is Status.CANCELLED
        assert delivery.last_error == "still_valid: the order no longer stands"
        assert order.status == "cancelled"  # the record too: reports leave it out, as after Tracker.cancel
        kept = await shop.tracker.outbox.order("H-3", "purchase")
        assert kept is not None
        assert kept[0].status == "active"


async def test_a_still_valid_that_fails_is_asked_again_later_and_nothing_is_dropped(
    shop_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    answers: list[bool | Exception] = [ConnectionError("db down"), True]

    def flaky(order_id: str, event: str) -> bool:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with shop_factory(["fake"], hold={"purchase": DAY}, still_valid=flaky) as shop:
        await shop.buy("H-4")
        shop.clock.advance(DAY.total_seconds())
        await shop.tracker.worker.run_until_idle()
        (delivery,) = await shop.tracker.outbox.list()
        assert delivery.status is Status.HELD  # not sent, not dropped: held again
        assert delivery.next_attempt_at == shop.clock.now + STILL_VALID_AGAIN
        assert delivery.attempts == 0
        assert "still_valid failed for a held order (ConnectionError); asking again later" in caplog.text
        assert shop.plain.events == []
        await shop.send()
        assert answers == []
        assert [e["event_id"] for e in shop.plain.events] == ["H-4"]


async def test_a_hold_per_vendor_sends_one_at_once_and_holds_the_other(shop_factory: Any) -> None:
    async with shop_factory(
        ["fake", "datamanager"],
        hold={"purchase": DAY, "fake": {"purchase": timedelta(0)}},
        still_valid=lambda o, e: True,
    ) as shop:
        await shop.buy("H-5")
        await shop.buy("H-6")
        await shop.tracker.worker.run_until_idle()
        assert sorted(e["event_id"] for e in shop.plain.events) == ["H-5", "H-6"]
        assert shop.datamanager.conversions == {}
        assert (await shop.statuses("H-5"))[("google_ads", "send")] is Status.HELD
        adjusted = await shop.tracker.adjust("H-5", value="10")  # held: it goes with the new value
        cancelled = await shop.tracker.cancel("H-6")  # held: never sent
        assert {r.vendor: r.status for r in adjusted} == {"fake": "not_supported", "google_ads": "adjusted"}
        assert {r.vendor: r.status for r in cancelled} == {"fake": "not_supported", "google_ads": "cancelled"}
        await shop.send()
        (held,) = shop.datamanager.conversions.values()
        assert (held["transactionId"], held["conversionValue"]) == ("H-5", 10.0)
        assert (await shop.statuses("H-6"))[("google_ads", "send")] is Status.CANCELLED


# -- later verdicts ---------------------------------------------------------------------------------------------------


async def test_the_worker_asks_google_for_its_later_verdict_and_records_it(shop_factory: Any) -> None:
    async with shop_factory(["datamanager"]) as shop:
        await shop.buy("V-1")
        await shop.send()
        shop.http.cookies.clear()  # another visitor, whose click id Google will refuse when it processes it
        await shop.buy("V-2", gclid="UNDECODABLE-click")
        await shop.send()
        rows = {d.order_id: d for d in await shop.tracker.outbox.list()}
        assert {o: (d.status, d.confirm_ref) for o, d in rows.items()} == {
            "V-1": (Status.DELIVERED, "dm-request-1"),
            "V-2": (Status.DELIVERED, "dm-request-2"),
        }
        shop.clock.advance(GoogleAds.confirm_after or 0)
        await shop.tracker.worker.run_until_idle()  # asked while Google still processes: asked again later
        assert shop.datamanager.status_calls == 2
        again = [await shop.tracker.outbox.get(d.id) for d in rows.values()]
        assert {d.status for d in again if d is not None} == {Status.DELIVERED}
        assert all(d is not None and d.confirm_ref for d in again)
        shop.datamanager.process()
        shop.clock.advance(2 * 3600)
        await shop.tracker.worker.run_until_idle()
        good, bad = [await shop.tracker.outbox.get(rows[o].id) for o in ("V-1", "V-2")]
        assert good is not None
        assert bad is not None
        assert (good.status, good.confirm_ref, good.confirm_at) == (Status.DELIVERED, None, None)
        assert bad.status is Status.DEAD
        assert bad.last_error == (
            "refused after delivery: refused by Google after it accepted the request: "
            "FAILED: INVALID_GCLID 1 of 1 events"
        )
        assert shop.datamanager.status_calls == 4
