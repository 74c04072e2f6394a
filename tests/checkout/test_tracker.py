"""Checkout through a real ASGI app with the middleware: queue, idempotency, skips, webhook tokens, and the
in-app worker delivering to a fake vendor on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution import cli
from attribution.capture.models import Attribution
from attribution.checkout.tracker import CheckoutResult, Tracker
from attribution.delivery.outbox.base import Status
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from attribution.delivery.worker import Worker
from attribution.errors import ConfigurationError, InvalidConversionError, TokenError
from attribution.orders.conversion import Customer, Order
from attribution.web.middleware import AttributionMiddleware
from tests.support.delivery_fakes import FAST, FakeBatchVendor, FakeVendor, event_for, wait_for_status
from tests.support.helpers import NAVIGATION, SECRET
from tests.support.vendor_server import FakeVendorServer, event_ids

LANDING = "/?utm_source=google&utm_medium=cpc&gclid=Cj0KCQ-test-gclid"


def bare_scope() -> dict[str, Any]:
    """An ASGI scope as the middleware leaves it, for calls outside an app."""
    return {
        "type": "http",
        "scheme": "https",
        "path": "/checkout",
        "query_string": b"",
        "client": ("1.2.3.4", 1),
        "headers": [(b"host", b"shop.example")],
        "attribution": Attribution(),
    }


def summary(result: CheckoutResult) -> dict[str, Any]:
    return {r.vendor: (r.status, r.reason, list(r.delivery_ids)) for r in result}


def make_site(tracker: Tracker) -> Starlette:
    async def checkout(request: Request) -> JSONResponse:
        form = await request.json()
        order = Order(id=form["order"], value=form.get("value", "49.90"), currency="BRL")
        customer = Customer(email=form.get("email"))
        result = await tracker.checkout(request, order, customer=customer)
        return JSONResponse(summary(result))

    async def pay(request: Request) -> PlainTextResponse:
        return PlainTextResponse(tracker.export_token(request))

    async def webhook(request: Request) -> JSONResponse:
        event = await request.json()
        order = Order(id=event["order"], value="10", currency="USD")
        result = await tracker.checkout_token(event["token"], order, customer=Customer(email="a@example.com"))
        return JSONResponse(summary(result))

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("welcome")

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/checkout", checkout, methods=["POST"]),
            Route("/pay", pay),
            Route("/webhook", webhook, methods=["POST"]),
        ]
    )
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, tracker=tracker)
    return app


@pytest.fixture
def outbox_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


def make_tracker(outbox_path: Path | str, **kw: Any) -> Tracker:
    options: dict[str, Any] = {
        "vendors": [FakeVendor(needs_email=True), FakeBatchVendor()],
        "outbox": outbox_path,
        "secret_key": "tracker-token-secret-0123456789",
        "trusted_proxies": ["10.0.0.0/8"],
        "policy": FAST,
        "poll_interval": 0.02,
        "lease": 10.0,
        "timeout": 2.0,
        **kw,
    }
    return Tracker(**options)


@pytest.fixture
async def site(outbox_spec: str) -> AsyncIterator[tuple[Tracker, httpx2.AsyncClient]]:
    """The site driven in this test's own loop, without the worker (so rows stay pending to inspect), on each
    outbox backend."""
    tracker = make_tracker(outbox_spec, run_worker=False)
    transport = httpx2.ASGITransport(app=make_site(tracker), client=("10.0.0.2", 5555))
    async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example", headers=NAVIGATION) as http:
        await http.get(LANDING)
        yield tracker, http
    await tracker.stop()


async def test_checkout_queues_one_delivery_per_vendor_with_attribution_and_context(
    site: tuple[Tracker, httpx2.AsyncClient],
) -> None:
    tracker, http = site
    response = await http.post(
        "/checkout",
        json={"order": "A-1", "email": " Ana@Example.com "},
        headers={"x-forwarded-for": "6.6.6.6, 198.51.100.7", "referer": "https://shop.example/cart"},
    )
    result = response.json()
    assert result == {"fake": ["queued", None, [1]], "fakebatch": ["queued", None, [2]]}
    d = await tracker.outbox.get(1)
    assert d is not None
    assert (d.status, d.dedup_key, d.order_id, d.event) == (Status.PENDING, "purchase:A-1", "A-1", "purchase")
    assert await event_for(tracker, 1) == {
        "event_id": "A-1",
        "value": "49.90",
        "email": "ana@example.com",
        "utm_source": "google",
        "gclid": "Cj0KCQ-test-gclid",
        "ip": "198.51.100.7",  # the trusted proxy's view, not the spoofed 6.6.6.6
        "user_agent": NAVIGATION["user-agent"],
    }
    batch = await tracker.outbox.get(2)
    assert batch is not None
    assert batch.batch_key == "pixel"


async def test_the_same_order_twice_queues_nothing_new_and_says_so(
    site: tuple[Tracker, httpx2.AsyncClient],
) -> None:
    tracker, http = site
    first = (await http.post("/checkout", json={"order": "A-2", "email": "b@example.com"})).json()
    again = (await http.post("/checkout", json={"order": "A-2", "email": "b@example.com"})).json()
    assert [s for s, _, _ in first.values()] == ["queued", "queued"]
    assert again == {
        "fake": ["duplicate", "already queued for this order and event", first["fake"][2]],
        "fakebatch": ["duplicate", "already queued for this order and event", first["fakebatch"][2]],
    }
    assert sum((await tracker.outbox.counts()).values()) == 2


async def test_concurrent_checkouts_of_one_order_make_one_delivery_per_vendor(
    site: tuple[Tracker, httpx2.AsyncClient],
) -> None:
    tracker, http = site
    responses = await asyncio.gather(
        *(http.post("/checkout", json={"order": "A-3", "email": "c@example.com"}) for _ in range(8))
    )
    statuses = [tuple(s for s, _, _ in r.json().values()) for r in responses]
    assert statuses.count(("queued", "queued")) == 1
    assert statuses.count(("duplicate", "duplicate")) == 7
    assert await tracker.outbox.counts() == {("fake", Status.PENDING): 1, ("fakebatch", Status.PENDING): 1}


async def test_a_vendor_that_does_not_apply_is_skipped_with_the_reason(
    site: tuple[Tracker, httpx2.AsyncClient],
) -> None:
    _, http = site
    result = (await http.post("/checkout", json={"order": "A-4"})).json()
    assert result["fake"] == ["skipped", "the customer has no email", []]
    assert result["fakebatch"][0] == "queued"


async def test_an_impossible_order_is_an_error_at_the_call(outbox_path: Path) -> None:
    with pytest.raises(InvalidConversionError):
        Order(id="A-5", value="-1", currency="USD")
    tracker = make_tracker(outbox_path, run_worker=False)
    scope = {"type": "http", "attribution": None, "headers": []}
    with pytest.raises(Exception, match="AttributionMiddleware"):
        await tracker.checkout(scope, Order(id="A-5", value="1", currency="USD"))
    with pytest.raises(TypeError, match="colour"):
        tracker._conversion(None, None, "lead", None, None, {"colour": "red"})  # type: ignore[arg-type]


async def test_a_broken_adapter_does_not_fail_the_checkout(site: tuple[Tracker, httpx2.AsyncClient]) -> None:
    tracker, http = site

    def explode(conversion: Any) -> Any:
        raise RuntimeError("bug")

    tracker.vendors[1].check = explode  # type: ignore[method-assign]
    result = (await http.post("/checkout", json={"order": "A-6", "email": "d@example.com"})).json()
    assert result["fake"][0] == "queued"
    assert result["fakebatch"][:2] == ["skipped", "the fakebatch adapter failed (RuntimeError); see the logs"]


async def test_an_adapter_that_cannot_build_its_event_fails_that_delivery_alone(
    outbox_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The event is built when sent: an adapter's bug there makes that delivery dead with the exception's type (the
    message may quote the customer), logged for its author, and the other vendor's delivery goes."""
    received: list[str] = []

    def vendor(request: httpx2.Request) -> httpx2.Response:
        received.append(request.url.path)
        return httpx2.Response(200, json={"id": "v1"})

    tracker = make_tracker(outbox_path, transport=httpx2.MockTransport(vendor))

    def explode(conversion: Any) -> Any:
        raise ValueError(f"cannot send {conversion.order.id} for {EMAIL_IN_BUG} to this pixel")

    tracker.vendors[1].payload = explode  # type: ignore[method-assign]
    caplog.set_level(logging.DEBUG)
    result = await tracker.checkout(
        bare_scope(), Order(id="A-7", value="5", currency="EUR"), customer=Customer(email=EMAIL_IN_BUG)
    )
    assert [r.status for r in result] == ["queued", "queued"]
    await tracker.worker.run_until_idle()
    fake = await tracker.outbox.get(result["fake"].delivery_ids[0])
    broken = await tracker.outbox.get(result["fakebatch"].delivery_ids[0])
    assert fake is not None
    assert broken is not None
    assert (fake.status, broken.status) == (Status.DELIVERED, Status.DEAD)
    assert broken.last_error == "could not build the event: ValueError"
    assert received == ["/fake"]
    assert "building delivery" in caplog.text
    assert EMAIL_IN_BUG not in caplog.text
    await tracker.stop()


EMAIL_IN_BUG = "quoted@example.com"


async def test_webhook_checkout_with_an_exported_token(site: tuple[Tracker, httpx2.AsyncClient]) -> None:
    tracker, http = site
    token = (await http.get("/pay", headers={"x-forwarded-for": "198.51.100.9"})).text
    # The webhook comes from the payment provider: no cookie, another IP.
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=make_site(tracker), client=("203.0.113.50", 443)),
        base_url="https://shop.example",
    ) as provider:
        result = (await provider.post("/webhook", json={"order": "W-1", "token": token})).json()
        assert result["fake"][0] == "queued"
        event = await event_for(tracker, result["fake"][2][0])
        assert (event["utm_source"], event["gclid"], event["ip"]) == ("google", "Cj0KCQ-test-gclid", "198.51.100.9")
        assert event["user_agent"] == NAVIGATION["user-agent"]
        # The same webhook delivered twice (providers retry) queues nothing new.
        again = (await provider.post("/webhook", json={"order": "W-1", "token": token})).json()
        assert again["fake"][0] == "duplicate"
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        with pytest.raises(TokenError, match="not valid"):
            await tracker.checkout_token(tampered, Order(id="W-2", value="1", currency="USD"))


async def test_an_expired_token_is_refused(outbox_path: Path) -> None:
    now = [1_800_000_000.0]
    tracker = make_tracker(outbox_path, run_worker=False, clock=lambda: now[0])
    scope = bare_scope()
    token = tracker.export_token(scope)
    now[0] += 15 * 24 * 3600
    with pytest.raises(TokenError, match="expired"):
        await tracker.checkout_token(token, Order(id="W-3", value="1", currency="USD"))
    await tracker.stop()


def test_tokens_need_a_secret_key(outbox_path: Path) -> None:
    tracker = make_tracker(outbox_path, secret_key=None)
    with pytest.raises(ConfigurationError, match="secret_key"):
        tracker.export_token({"type": "http", "headers": [], "attribution": None})


def test_bad_trusted_proxies_are_a_configuration_error(outbox_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        make_tracker(outbox_path, trusted_proxies=["not-a-network"])


def test_in_app_worker_delivers_to_a_vendor_on_loopback(outbox_path: Path, vendor_server: FakeVendorServer) -> None:
    tracker = make_tracker(outbox_path, vendors=[FakeVendor(vendor_server.url), FakeBatchVendor(vendor_server.url)])
    with TestClient(make_site(tracker), base_url="https://shop.example", headers=NAVIGATION) as http:
        assert tracker.worker.running  # started by the ASGI lifespan, through the middleware
        http.get(LANDING)
        started = time.monotonic()
        for n in range(5):
            result = http.post("/checkout", json={"order": f"L-{n}", "email": "e@example.com"}).json()
            assert [s for s, _, _ in result.values()] == ["queued", "queued"]
        deadline = started + 10
        while vendor_server.requests < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert not tracker.worker.running  # stopped on lifespan shutdown
    received = sorted(k for body in vendor_server.bodies for k in event_ids(body))
    assert received == sorted([f"L-{n}" for n in range(5)] * 2)

    async def statuses() -> dict[tuple[str, Status], int]:
        box = SQLiteOutbox(outbox_path)
        try:
            return await box.counts()
        finally:
            await box.close()

    assert asyncio.run(statuses()) == {("fake", Status.DELIVERED): 5, ("fakebatch", Status.DELIVERED): 5}
    # ... and the operator sees it.
    out = io.StringIO()
    assert cli.main(["--outbox", str(outbox_path), "status"], out=out) == 0
    assert [line.split() for line in out.getvalue().splitlines()[:3]] == [
        ["vendor", "delivered", "oldest", "waiting"],
        ["fake", "5", "-"],
        ["fakebatch", "5", "-"],
    ]


async def test_dry_run_records_requests_without_sending(outbox_path: Path, vendor_server: FakeVendorServer) -> None:
    tracker = make_tracker(outbox_path, vendors=[FakeVendor(vendor_server.url)], dry_run=True)
    scope = bare_scope()
    async with tracker.lifespan():
        result = await tracker.checkout(
            scope, Order(id="D-1", value="5", currency="EUR"), customer=Customer(email="f@example.com")
        )
        [delivery_id] = result["fake"].delivery_ids
        await wait_for_status(tracker.outbox, [delivery_id], Status.DRY_RUN)
        d = await tracker.outbox.get(delivery_id)
    assert vendor_server.requests == 0
    assert d is not None
    assert d.answer is not None
    assert f"POST {vendor_server.url}/fake" in d.answer


def test_dry_run_is_set_once_and_the_tracker_tells_the_truth(outbox_path: Path) -> None:
    tracker = make_tracker(outbox_path, dry_run=True)
    assert (tracker.dry_run, tracker.worker.dry_run) == (True, True)
    assert "dry_run=True" in repr(tracker)
    with pytest.raises(AttributeError):
        tracker.worker.dry_run = False  # type: ignore[misc]
    sending = make_tracker(outbox_path)
    rehearsal = sending.worker.with_dry_run()  # `attribution worker --dry-run`: a worker of its own
    assert (sending.dry_run, rehearsal.dry_run) == (False, True)
    assert "dry_run=False" in repr(sending)
    assert (rehearsal.outbox, rehearsal.policy, rehearsal.lease) == (sending.outbox, FAST, 10.0)


def test_a_tracker_takes_a_ready_worker_and_refuses_two_setups(outbox_path: Path) -> None:
    vendors = [FakeVendor()]
    box = SQLiteOutbox(outbox_path)
    worker = Worker(box, vendors, policy=FAST, lease=30.0, timeout=2.0, dry_run=True)
    tracker = Tracker(vendors=vendors, outbox=box, worker=worker)
    assert (tracker.worker, tracker.outbox, tracker.dry_run) == (worker, box, True)
    with pytest.raises(ConfigurationError, match="lease"):
        Tracker(vendors=vendors, outbox=box, worker=worker, lease=60.0)
    with pytest.raises(ConfigurationError, match="same ones"):
        Tracker(vendors=[FakeVendor(), FakeBatchVendor()], outbox=box, worker=worker)
    with pytest.raises(ConfigurationError, match="outbox"):
        Tracker(vendors=vendors, outbox=SQLiteOutbox(outbox_path), worker=worker)
    with pytest.raises(ConfigurationError, match="dry_run"):
        Tracker(vendors=vendors, outbox=box, worker=Worker(box, vendors, lease=30.0, timeout=2.0), dry_run=True)


async def test_a_checkout_asks_each_vendor_once_whether_it_applies(outbox_path: Path) -> None:
    class Counting(FakeVendor):
        checks = prepares = 0

        def check(self, conversion: Any) -> str | None:
            self.checks += 1
            return super().check(conversion)

        def payload(self, conversion: Any) -> Any:
            self.prepares += 1
            return super().payload(conversion)

    vendor = Counting(needs_email=True)
    tracker = make_tracker(outbox_path, vendors=[vendor], run_worker=False)
    skipped = await tracker.checkout(bare_scope(), Order(id="C-1", value="5", currency="EUR"))
    assert skipped["fake"].status == "skipped"
    assert (vendor.checks, vendor.prepares) == (1, 0)
    queued = await tracker.checkout(
        bare_scope(), Order(id="C-2", value="5", currency="EUR"), customer=Customer(email="g@example.com")
    )
    assert queued["fake"].status == "queued"
    assert (vendor.checks, vendor.prepares) == (2, 0)  # the event is built when the worker sends it
    await event_for(tracker, queued["fake"].delivery_ids[0])
    assert vendor.prepares == 1
    await tracker.stop()


async def test_checkouts_on_a_server_that_never_ran_the_lifespan_say_so_once_with_the_fix(
    outbox_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = make_tracker(outbox_path)  # run_worker=True, but ASGITransport runs no lifespan
    transport = httpx2.ASGITransport(app=make_site(tracker))
    async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example", headers=NAVIGATION) as http:
        with caplog.at_level(logging.ERROR, logger="attribution"):
            for n in range(2):
                result = (await http.post("/checkout", json={"order": f"N-{n}", "email": "h@example.com"})).json()
                assert result["fake"][0] == "queued"
    said = [r.getMessage() for r in caplog.records if "never started" in r.getMessage()]
    assert len(said) == 1
    assert "run_worker=False" in said[0]
    assert "attribution worker" in said[0]
    assert not tracker.worker.running
    assert await tracker.outbox.counts() == {("fake", Status.PENDING): 2, ("fakebatch", Status.PENDING): 2}
    await tracker.stop()


async def test_a_broken_adapter_is_logged_where_it_failed_without_what_it_quoted(
    site: tuple[Tracker, httpx2.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    tracker, http = site

    def explode(conversion: Any) -> Any:
        raise ValueError(f"cannot send {conversion.customer.plain_email} to this pixel")

    tracker.vendors[1].check = explode  # type: ignore[method-assign]
    caplog.set_level(logging.DEBUG)
    result = (await http.post("/checkout", json={"order": "A-7", "email": "d@example.com"})).json()
    assert result["fakebatch"][:2] == ["skipped", "the fakebatch adapter failed (ValueError); see the logs"]
    assert "fakebatch could not check a conversion (ValueError)" in caplog.text
    assert "in explode" in caplog.text  # where it failed, for the adapter's author
    assert "d@example.com" not in caplog.text


# -- synchronous code on a synchronous connection (Django's transactions) ----------------------------------


def test_sync_checkouts_write_in_the_callers_transaction(postgres_url: str) -> None:
    import psycopg

    from attribution.delivery.outbox.postgres import PostgresOutbox

    tracker = Tracker(
        vendors=[FakeVendor("http://127.0.0.1:9")], outbox=postgres_url, run_worker=False, secret_key=SECRET
    )

    def checkout(request: Request) -> JSONResponse:  # a sync view: Starlette runs it in a thread, as Django does
        form = request.query_params
        with psycopg.connect(postgres_url) as conn:
            result = tracker.checkout_sync(
                request, Order(id=form["order"], value="9.90", currency="USD"), connection=conn
            )
            conn.commit() if form.get("commit") == "yes" else conn.rollback()
        return JSONResponse(summary(result))

    def webhook(request: Request) -> JSONResponse:
        with psycopg.connect(postgres_url) as conn:
            order = Order(id=request.query_params["order"], value="10", currency="USD")
            result = tracker.checkout_token_sync(request.query_params["token"], order, connection=conn)
        return JSONResponse(summary(result))

    async def pay(request: Request) -> PlainTextResponse:
        return PlainTextResponse(tracker.export_token(request))

    routes = [
        Route("/checkout", checkout, methods=["POST"]),
        Route("/webhook", webhook, methods=["POST"]),
        Route("/pay", pay),
    ]
    app = AttributionMiddleware(Starlette(routes=routes), secret_key=SECRET, tracker=tracker)
    with TestClient(app, base_url="https://shop.example", headers=NAVIGATION) as client:
        client.get(LANDING)
        rolled_back = client.post("/checkout", params={"order": "s-1", "commit": "no"}).json()
        committed = client.post("/checkout", params={"order": "s-1", "commit": "yes"}).json()
        again = client.post("/checkout", params={"order": "s-1", "commit": "yes"}).json()
        token = client.get("/pay").text
        client.cookies.clear()
        hook = client.post("/webhook", params={"order": "s-2", "token": token}).json()
        rows = client.portal.call(tracker.outbox.list)
        webhook_event = client.portal.call(event_for, tracker, next(r.id for r in rows if r.order_id == "s-2"))
    assert isinstance(tracker.outbox, PostgresOutbox)
    assert rolled_back["fake"][0] == "queued"  # queued in a transaction that then rolled back ...
    assert committed["fake"][0] == "queued"  # ... so the same order is new when it commits
    assert again["fake"][:2] == ["duplicate", "already queued for this order and event"]
    assert hook["fake"][0] == "queued"
    assert sorted(r.order_id for r in rows) == ["s-1", "s-2"]
    assert webhook_event["gclid"] == "Cj0KCQ-test-gclid"


async def test_a_sync_checkout_needs_the_postgresql_outbox(tmp_path: Path) -> None:
    tracker = Tracker(vendors=[FakeVendor("http://127.0.0.1:9")], outbox=tmp_path / "o.sqlite3", run_worker=False)
    scope = {**bare_scope(), "attribution": Attribution()}
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        await asyncio.to_thread(
            tracker.checkout_sync, scope, Order(id="x", value="1", currency="USD"), connection=object()
        )
