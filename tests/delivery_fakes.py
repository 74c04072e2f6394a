"""Small fake vendors and helpers shared by the outbox, worker, tracker and CLI tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import httpx2

from attribution.delivery.outbox.base import Delivery, NewDelivery, Outbox, Status
from attribution.delivery.outbox.choose import outbox_from
from attribution.delivery.policy import RetryPolicy
from attribution.delivery.worker import Worker
from attribution.orders.identifiers import EMAIL, Identifier
from attribution.vendors.base import JSON, Vendor

FAST = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, max_retry_after=5.0)


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
            "event_id": conversion.dedup_id,
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


def items(n: int, vendor: str = "fake", *, batch_key: str = "", start: int = 0) -> list[NewDelivery]:
    return [
        NewDelivery(vendor, f"o{i}", {"event_id": f"o{i}", "value": i}, batch_key=batch_key, order_id=f"o{i}")
        for i in range(start, start + n)
    ]


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
