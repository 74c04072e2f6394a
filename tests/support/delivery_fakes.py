"""Small fake vendors and helpers shared by the outbox, worker, tracker and CLI tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import httpx2
from starlette.testclient import TestClient

from attribution.capture.models import Attribution, Channel, Touch
from attribution.checkout.tracker import Tracker
from attribution.delivery.outbox.base import Delivery, NewDelivery, NewOrder, Outbox, Status
from attribution.delivery.outbox.choose import outbox_from
from attribution.delivery.policy import RetryPolicy
from attribution.delivery.worker import Worker
from attribution.orders.conversion import Conversion, Customer, Order, RequestContext
from attribution.orders.identifiers import EMAIL, Identifier, union
from attribution.orders.record import OrderRecord, record_of
from attribution.vendors.base import JSON, Vendor

FAST = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, max_retry_after=5.0)
Handler = Callable[[httpx2.Request], Awaitable[httpx2.Response]]
"""A vendor as ``httpx2.MockTransport`` calls it."""
#: The ``start_tracker`` fixture's type: ``await start_tracker(vendors)`` gives a started tracker.
StartTracker = Callable[[list[Vendor]], Awaitable[Tracker]]


def worker(outbox: Outbox, handler: Handler, vendors: list[Vendor] | None = None, **kw: object) -> Worker:
    """A worker for tests: ``FakeVendor`` unless ``vendors``, answered by ``handler``, fast retries, short polls."""
    options: dict[str, Any] = {"policy": FAST, "poll_interval": 0.01, "lease": 5.0, "timeout": 1.0, **kw}
    return Worker(outbox, vendors or [FakeVendor()], transport=httpx2.MockTransport(handler), **options)


class FakeVendor(Vendor):
    """One JSON object per request, Bearer auth, dedup key in ``event_id``."""

    name: ClassVar[str] = "fake"
    identifiers: tuple[Identifier, ...] = (EMAIL,)

    def __init__(
        self, base_url: str = "http://fake.test", *, retry_ambiguous: bool = True, needs_email: bool = False
    ) -> None:
        self.base_url = base_url
        self.retry_ambiguous = retry_ambiguous
        self.needs_email = needs_email

    def check(self, conversion: Any) -> str | None:
        if self.needs_email and not EMAIL.of(conversion):
            return "the customer has no email"
        return None

    def batch_key(self, conversion: Any) -> str:
        return "pixel" if self.max_batch > 1 else ""

    def payload(self, conversion: Any) -> JSON:
        return {
            "event_id": conversion.event_id,
            "value": str(conversion.value),
            "email": EMAIL.of(conversion),
            "utm_source": conversion.attribution.get("utm_source"),
            "gclid": conversion.attribution.get("gclid"),
            "ip": conversion.context.ip,
            "user_agent": conversion.context.user_agent,
        }

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        body: Any = payloads[0] if self.max_batch == 1 else {"conversions": list(payloads)}
        return httpx2.Request(
            "POST", f"{self.base_url}/{self.name}", json=body, headers={"Authorization": "Bearer sekrit"}
        )


class FakeBatchVendor(FakeVendor):
    name: ClassVar[str] = "fakebatch"
    max_batch: ClassVar[int] = 500


class FakeNoDedupVendor(FakeVendor):
    name: ClassVar[str] = "fakenodedup"
    has_dedup_key: ClassVar[bool] = False


def record(order_id: str, value: int | Decimal = 0, *, email: str | None = None) -> OrderRecord:
    """The order record of a purchase ``order_id`` worth ``value`` USD, its customer kept in the fake's forms."""
    template = _TEMPLATES.get(email)
    if template is None:
        conversion = Conversion(
            order=Order(id="template", value=Decimal(0), currency="USD", time=datetime(2026, 11, 2, 10, tzinfo=UTC)),
            customer=Customer(email=email),
        )
        template = _TEMPLATES[email] = record_of(conversion, FakeVendor.identifiers)
    amount = Decimal(value)
    return dataclasses.replace(template, order_id=order_id, value=amount, data={**template.data, "event_id": order_id})


_TEMPLATES: dict[str | None, OrderRecord] = {}


def previous_release_outbox(path: Path, rows: Sequence[tuple[str, str, JSON, str]], *, now: float = 1.0) -> Path:
    """A SQLite outbox file as the release before order records wrote it (schema 3), holding pending deliveries
    (vendor, dedup key, finished payload, batch key): what a site upgrading with a queue still waiting has."""
    from attribution.delivery.outbox.sqlite_schema import Q, statements

    conn = sqlite3.connect(path)
    for version in (1, 2, 3):
        for statement in statements(Q[f"migration_{version}"]):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.executemany(
        "INSERT INTO deliveries (vendor, dedup_key, batch_key, payload, status, created_at, updated_at,"
        " next_attempt_at, order_id, event) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, 'purchase')",
        [
            (vendor, key, batch_key, json.dumps(payload), now, now, now, key.partition(":")[2])
            for vendor, key, payload, batch_key in rows
        ],
    )
    conn.commit()
    conn.close()
    return path


def customer_record(
    order_id: str,
    vendors: Sequence[Vendor],
    *,
    value: str = "49.90",
    customer: Customer | None = None,
    ip: str = "198.51.100.7",
    user_agent: str = "Mozilla/5.0",
    utm_source: str = "google",
) -> OrderRecord:
    """The record a checkout of ``order_id`` by a customer with an email, a phone and a name writes for ``vendors``."""
    conversion = Conversion(
        order=Order(id=order_id, value=Decimal(value), currency="BRL"),
        customer=customer or Customer(email="ana@example.com", phone="+5511999998888", first_name="Ana"),
        context=RequestContext(ip=ip, user_agent=user_agent, url="https://shop.example.com/checkout"),
        attribution=Attribution(
            first=Touch(at=datetime.now(UTC), params={"utm_source": utm_source}, channel=Channel.OTHER)
        ),
    )
    return record_of(conversion, union(v.identifiers for v in vendors))


def new_order(
    order_id: str,
    *vendors: str,
    value: int | Decimal = 0,
    dedup_key: str | None = None,
    batch_key: str = "",
    hold_until: float | None = None,
) -> NewOrder:
    """One order with a delivery to each of ``vendors`` (dedup key ``order_id`` unless given)."""
    deliveries = tuple(NewDelivery(v, dedup_key or order_id, batch_key, hold_until) for v in vendors)
    return NewOrder(record(order_id, value), deliveries)


def unwritable(order_id: str = "bad") -> NewOrder:
    """An order whose record is not JSON: its checkout fails, alone."""
    return NewOrder(dataclasses.replace(record(order_id), data={"x": object()}), (NewDelivery("fake", order_id),))


def items(n: int, vendor: str = "fake", *, batch_key: str = "", start: int = 0) -> list[NewOrder]:
    """``n`` orders (``o{start}``, ``o{start + 1}``, ...), each with one delivery to ``vendor`` (dedup key ``o{i}``)."""
    return [
        NewOrder(record(f"o{i}", i), (NewDelivery(vendor, f"o{i}", batch_key=batch_key),))
        for i in range(start, start + n)
    ]


def dry_run_body(delivery: Delivery) -> Any:
    """The body a dry-run worker built for a delivery, as it recorded it (``answer``: the request as an operator
    reads it, headers then a blank line then the body)."""
    assert delivery.status == Status.DRY_RUN, delivery.status
    assert delivery.answer is not None
    return json.loads(delivery.answer.split("\n\n", 1)[1])


async def event_for(tracker: Any, delivery_id: int) -> JSON:
    """The event the tracker's worker sends for a delivery: built from its order record, as when it is sent."""
    event = await tracker.event(delivery_id)
    assert event is not None, f"no event for delivery {delivery_id}"
    return dict(event)


async def wait_for_status(outbox: Outbox, ids: Sequence[int], status: Status, *, timeout: float = 10.0) -> None:
    """Poll until every id has ``status`` (fails the test with what it found after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [await outbox.get(i) for i in ids]
        if all(d is not None and d.status == status for d in found):
            return
        if time.monotonic() > deadline:
            summary = {d.id: (d.status.value, d.attempts, d.last_error) for d in found if d is not None}
            raise AssertionError(f"not all {status.value} after {timeout}s: {summary}")
        await asyncio.sleep(0.01)


async def rows_when_sent(spec: str, count: int, *, timeout: float = 10.0) -> list[Delivery]:
    """Every row of the outbox at ``spec`` (a file or a URL, as an example writes it) once ``count`` of them
    are dry runs, what a dry-run worker records for its sends; after ``timeout``, the rows as they are."""
    outbox = outbox_from(spec)
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = await outbox.list()
            if sum(r.status == Status.DRY_RUN for r in rows) >= count or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.1)
    finally:
        await outbox.close()


async def claim_one(
    outbox: Outbox, worker_id: str, vendor: str, limit: int, *, now: float, lease: float
) -> list[Delivery]:
    """Claim for one vendor (the tests' common case)."""
    return (await outbox.claim(worker_id, limits={vendor: limit}, now=now, lease=lease)).get(vendor, [])


class FakeClock:
    """A clock that moves only when told to: retries and pauses happen when the test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """The worker started for the block and stopped after it, whatever happens inside."""
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def drain(worker: Worker, clock: FakeClock, *, rounds: int = 50) -> None:
    """Run the worker until nothing is left to send, moving ``clock`` to each next due time (retries,
    pauses) instead of sleeping."""
    for _ in range(rounds):
        await worker.run_until_idle()
        due = await worker.next_due()
        if due is None:
            return
        clock.now = max(clock.now, due)
    raise AssertionError(f"still deliveries to send after {rounds} rounds")


def wait_for_rows(client: TestClient, app: Any, count: int, *, status: Status, timeout: float = 5.0) -> list[Delivery]:
    """The outbox rows once ``count`` of them have reached ``status`` (the in-app worker runs meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        rows: list[Delivery] = client.portal.call(app.tracker.outbox.list)  # type: ignore[union-attr]
        if sum(r.status == status for r in rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
