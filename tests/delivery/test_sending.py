"""One attempt at a vendor: per-row answers, a batch split to isolate a bad payload, a token refreshed at send
time, and a dry run that sends nothing. Vendors are faked with httpx2.MockTransport."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx2

from attribution.delivery.outbox.base import Outbox, Status
from attribution.delivery.sending import DryRun, Sender
from attribution.delivery.worker import Worker
from attribution.vendors.base import JSON, Delivered, Failed, Outcome, Split, Vendor
from tests.support.delivery_fakes import FAST, FakeClock, items


class RowsVendor(Vendor):
    """A toy batched vendor: answers per row, refuses a whole batch holding a ``poison`` payload, and needs
    a short-lived token fetched at send time."""

    name: ClassVar[str] = "rows"
    max_batch: ClassVar[int] = 8

    def __init__(self, marks: dict[str, JSON] | None = None) -> None:
        self.base_url = "http://rows.test"
        self.tokens = 0
        self.marks = marks or {}
        """Order id → what its event carries besides its id (``reject``, ``poison``)."""

    def check(self, conversion: Any) -> str | None:
        return None

    def payload(self, conversion: Any) -> JSON:
        return {"event_id": conversion.event_id, **self.marks.get(conversion.event_id, {})}

    async def authorize(self, client: httpx2.AsyncClient) -> None:
        self.tokens += 1

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        return httpx2.Request(
            "POST",
            f"{self.base_url}/events",
            json={"events": list(payloads)},
            headers={"Authorization": f"Bearer token-{self.tokens}"},
        )

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        if response.status_code == 400:
            reason = response.json()["error"]
            return Split(reason) if len(payloads) > 1 else [Failed(f"HTTP 400: {reason}")]
        rows = response.json()["results"]
        return [Delivered(json.dumps(r)) if r["ok"] else Failed(r["error"]) for r in rows]


def rows_vendor_answer(request: httpx2.Request) -> httpx2.Response:
    events = json.loads(request.content)["events"]
    if any(e.get("poison") for e in events):
        return httpx2.Response(400, json={"error": "the batch holds an invalid event"})
    rows = [{"ok": False, "error": "unknown pixel"} if e.get("reject") else {"ok": True} for e in events]
    return httpx2.Response(200, json={"results": rows})


def recording(seen: list[httpx2.Request]) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return rows_vendor_answer(request)

    return httpx2.MockTransport(handler)


async def test_each_payload_gets_its_own_outcome_from_one_request() -> None:
    seen: list[httpx2.Request] = []
    async with httpx2.AsyncClient(transport=recording(seen)) as client:
        send = Sender(client)
        outcomes = await send(RowsVendor(), [{"id": 1}, {"id": 2, "reject": True}, {"id": 3}])
    assert outcomes == [Delivered('{"ok": true}'), Failed("unknown pixel"), Delivered('{"ok": true}')]
    assert len(seen) == 1
    assert send.sent == 1


async def test_a_refused_batch_is_halved_until_the_bad_payload_stands_alone() -> None:
    seen: list[httpx2.Request] = []
    vendor = RowsVendor()
    payloads = [{"id": i, "poison": i == 5} for i in range(8)]
    async with httpx2.AsyncClient(transport=recording(seen)) as client:
        outcomes = await Sender(client)(vendor, payloads)
    assert outcomes[5] == Failed("HTTP 400: the batch holds an invalid event")
    assert [type(o) for i, o in enumerate(outcomes) if i != 5] == [Delivered] * 7
    sizes = [len(json.loads(r.content)["events"]) for r in seen]
    # 0-7 refused; 0-3 fine; 4-7 refused; 4-5 refused; 4 fine; 5 alone fails; 6-7 fine
    assert sizes == [8, 4, 4, 2, 1, 1, 2]
    # The token is fetched before every request, not once per batch.
    assert [r.headers["authorization"] for r in seen] == [f"Bearer token-{n}" for n in range(1, 8)]


async def test_a_dry_run_describes_the_request_and_makes_no_call() -> None:
    seen: list[httpx2.Request] = []
    vendor = RowsVendor()
    async with httpx2.AsyncClient(transport=recording(seen)) as client:
        outcomes = await Sender(client, dry_run=True)(vendor, [{"id": 1}, {"id": 2}])
    assert seen == []
    assert vendor.tokens == 0  # no network at all, not even for a token
    [first, second] = outcomes
    assert isinstance(first, DryRun)
    assert first == second
    assert first.request.startswith("POST http://rows.test/events\n")
    assert "authorization: ***" in first.request


async def test_an_adapter_that_miscounts_its_answers_fails_the_batch_loudly() -> None:
    class Miscounting(RowsVendor):
        def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
            return [Delivered()]

    async with httpx2.AsyncClient(transport=recording([])) as client:
        outcomes = await Sender(client)(Miscounting(), [{"id": 1}, {"id": 2}])
    assert outcomes == [Failed("the rows adapter read 1 outcomes for 2 payloads")] * 2


async def test_the_worker_records_a_batchs_outcomes_per_delivery(outbox: Outbox) -> None:
    new = items(6, "rows", batch_key="pixel")
    ids = [e.id for e in await outbox.enqueue(new, now=time.time())]
    seen: list[httpx2.Request] = []
    vendor = RowsVendor(marks={"o2": {"reject": True}, "o4": {"poison": True}})
    worker = Worker(outbox, [vendor], transport=recording(seen), policy=FAST, lease=5.0, timeout=1.0)
    await worker.run_until_idle()
    assert await outbox.counts() == {("rows", Status.DELIVERED): 4, ("rows", Status.DEAD): 2}
    rejected, poisoned = await outbox.get(ids[2]), await outbox.get(ids[4])
    assert rejected is not None
    assert poisoned is not None
    assert rejected.last_error == "unknown pixel"
    assert poisoned.last_error == "HTTP 400: the batch holds an invalid event"
    assert all(d.attempts == 1 for d in [rejected, poisoned])


async def test_an_adapter_whose_answer_is_not_a_sequence_fails_the_batch_loudly(outbox: Outbox) -> None:
    class Broken(RowsVendor):
        def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
            return None  # type: ignore[return-value] - the adapter bug under test

    [e] = await outbox.enqueue(items(1, "rows"), now=time.time())
    worker = Worker(outbox, [Broken()], transport=recording([]), policy=FAST, lease=5.0, timeout=1.0)
    await worker.run_until_idle()
    d = await outbox.get(e.id)
    assert d is not None
    assert (d.status, d.last_error) == (Status.DEAD, "HTTP 200: could not read the answer (TypeError)")


def one_lane_on_a_short_lease(outbox: Outbox, vendor: Vendor, handler: Any, clock: FakeClock) -> Worker:
    """One request at a time, on a 100 s lease against 10 s timeouts (one request may take 30 s)."""
    return Worker(
        outbox,
        [vendor],
        transport=httpx2.MockTransport(handler),
        policy=FAST,
        lease=100.0,
        timeout=10.0,
        concurrency=1,
        clock=clock,
    )


async def test_halves_of_a_refused_batch_are_not_sent_once_the_lease_could_run_out(outbox: Outbox) -> None:
    """Each half of a refused batch is one more request, each up to 30 s with 10 s timeouts. Halving a batch
    of 8 takes seven requests: sent one after another on one 100 s lease, the last ones would outlive it and
    another worker could take the batch over and send it at the same time. A half left with less lease than a
    request may take waits for its next attempt instead."""
    clock = FakeClock(1000.0)
    claimed_elsewhere: list[int] = []
    sizes: list[int] = []

    async def slow_vendor(request: httpx2.Request) -> httpx2.Response:
        sizes.append(len(json.loads(request.content)["events"]))
        clock.advance(30.0)  # a slow but legal answer: within connect + write + read timeouts
        other = await outbox.claim("other-worker", limits={"rows": 100}, now=clock(), lease=100.0)
        claimed_elsewhere.extend(d.id for d in other.get("rows", []))
        return rows_vendor_answer(request)

    ids = [e.id for e in await outbox.enqueue(items(8, "rows", batch_key="pixel"), now=clock())]
    worker = one_lane_on_a_short_lease(outbox, RowsVendor(marks={"o5": {"poison": True}}), slow_vendor, clock)
    await worker.run_until_idle()
    assert claimed_elsewhere == []  # no delivery was ever sendable by two workers at once
    assert sizes == [8, 4, 4]  # the whole, its first half, its second half; then 70 s of the lease were gone
    statuses = [(await outbox.get(i)).status for i in ids]  # type: ignore[union-attr]
    assert statuses == [Status.DELIVERED] * 4 + [Status.PENDING] * 4


async def test_a_slow_token_refresh_does_not_push_the_request_past_the_lease(outbox: Outbox) -> None:
    """Fetching a token is a request of its own. A delivery that started with just enough lease for one
    request must not go out after a slow refresh has eaten into it: another worker could take it over."""
    clock = FakeClock(1000.0)
    claimed_elsewhere: list[int] = []

    class SlowToken(RowsVendor):
        max_batch: ClassVar[int] = 1

        async def authorize(self, client: httpx2.AsyncClient) -> None:
            await super().authorize(client)
            if self.tokens == 2:
                clock.advance(30.0)  # the second send finds its token expired: a slow but legal refresh

    async def vendor(request: httpx2.Request) -> httpx2.Response:
        clock.advance(45.0 if clock() < 1045.0 else 30.0)
        other = await outbox.claim("other-worker", limits={"rows": 10}, now=clock(), lease=100.0)
        claimed_elsewhere.extend(d.id for d in other.get("rows", []))
        return rows_vendor_answer(request)

    ids = [e.id for e in await outbox.enqueue(items(2, "rows"), now=clock())]
    worker = one_lane_on_a_short_lease(outbox, SlowToken(), vendor, clock)
    await worker.run_until_idle()
    assert claimed_elsewhere == []
    second = await outbox.get(ids[1])
    assert second is not None
    assert second.status == Status.PENDING  # not sent: it waits for a fresh lease
