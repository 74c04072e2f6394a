"""The worker against vendors faked with httpx2.MockTransport: retries, dead letters, batching, dry run,
timeouts, shutdown and several workers on one outbox.

Retries and pauses are driven by an injected clock: ``drain`` runs the worker until it is idle, moves the
clock to the next due time and runs it again, so no test sleeps through a backoff or a Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx2
import pytest

from attribution.delivery.outbox.base import Outbox, Status
from attribution.delivery.outbox.postgres import PostgresOutbox
from attribution.delivery.policy import RetryPolicy
from attribution.delivery.worker import Worker
from attribution.errors import ConfigurationError
from tests.support.backends import twin
from tests.support.delivery_fakes import (
    FAST,
    FakeBatchVendor,
    FakeClock,
    FakeNoDedupVendor,
    FakeVendor,
    Handler,
    drain,
    items,
    running,
    wait_for_status,
    worker,
)
from tests.support.postgres import PostgresServer


def scripted(*answers: httpx2.Response | Exception) -> tuple[Handler, list[httpx2.Request]]:
    """A vendor that gives these answers in turn, then 200, and remembers every request."""
    seen: list[httpx2.Request] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if len(seen) <= len(answers):
            answer = answers[len(seen) - 1]
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx2.Response(200, json={"id": f"v{len(seen)}"})

    return handler, seen


async def status_of(outbox: Outbox, delivery_id: int) -> tuple[Status, int, str | None]:
    d = await outbox.get(delivery_id)
    assert d is not None
    return d.status, d.attempts, d.last_error


async def test_three_server_errors_then_success_delivers_once(outbox: Outbox) -> None:
    handler, seen = scripted(*(httpx2.Response(500, text="oops") for _ in range(3)))
    clock = FakeClock()
    [e] = await outbox.enqueue(items(1), now=clock())
    await drain(worker(outbox, handler, clock=clock), clock)
    d = await outbox.get(e.id)
    assert d is not None
    assert (d.status, d.attempts) == (Status.DELIVERED, 4)
    assert [h.result for h in d.history] == ["retry", "retry", "retry", "delivered"]
    assert d.history[0].detail == "HTTP 500: oops"
    assert d.answer == '{"id":"v4"}'
    # Every attempt carried the same dedup key, and the vendor accepted exactly one.
    assert [json.loads(r.content)["event_id"] for r in seen] == ["o0"] * 4
    assert [r.headers["authorization"] for r in seen] == ["Bearer sekrit"] * 4


async def test_retry_after_is_waited_for_by_the_clock(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.Response(429, headers={"Retry-After": "3"}, text="slow down"))
    clock = FakeClock()
    [e] = await outbox.enqueue(items(1), now=clock())
    w = worker(outbox, handler, clock=clock, rand=lambda: 0.0)
    await w.run_until_idle()
    assert (len(seen), await outbox.next_due(["fake"])) == (1, clock() + 3.0)
    clock.advance(2.9)
    await w.run_until_idle()
    assert len(seen) == 1  # asked to wait 3 s: not a moment before
    clock.advance(0.1)
    await w.run_until_idle()
    assert len(seen) == 2
    assert await status_of(outbox, e.id) == (Status.DELIVERED, 2, "HTTP 429: slow down")


async def test_a_running_worker_sleeps_until_a_retry_is_due_not_until_the_next_poll(outbox: Outbox) -> None:
    # One worker records the retry and stops; another, polling only hourly, learns the due time from the
    # outbox and sends it then.
    handler, seen = scripted(httpx2.Response(429, headers={"Retry-After": "1"}))
    [e] = await outbox.enqueue(items(1), now=time.time())
    await worker(outbox, handler).run_until_idle()
    assert len(seen) == 1
    async with running(worker(outbox, handler, poll_interval=3600.0)):
        await wait_for_status(outbox, [e.id], Status.DELIVERED, timeout=30)
    assert len(seen) == 2


async def test_another_vendors_429_with_x_rate_limit_headers_backs_off_normally(outbox: Outbox) -> None:
    # X's reset headers are read by XAds alone: for any other vendor they mean nothing, so a far reset must
    # not park the vendor.
    clock = FakeClock()
    far = str(int(clock()) + 3600)
    handler, seen = scripted(httpx2.Response(429, headers={"x-rate-limit-reset": far}))
    await outbox.enqueue(items(1), now=clock())
    await worker(outbox, handler, clock=clock).run_until_idle()
    due = await outbox.next_due(["fake"])
    assert due is not None
    assert due - clock() <= FAST.max_delay  # the backoff, not an hour
    assert len(seen) == 1


async def test_a_client_error_is_dead_at_once_with_the_vendor_message(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.Response(400, json={"error": "currency XYZ is not supported"}))
    clock = FakeClock()
    [e] = await outbox.enqueue(items(1), now=clock())
    w = worker(outbox, handler, clock=clock)
    await drain(w, clock)
    clock.advance(3600)
    await w.run_until_idle()  # an hour later it is still not tried again
    assert len(seen) == 1
    assert await status_of(outbox, e.id) == (
        Status.DEAD,
        1,
        'HTTP 400: {"error":"currency XYZ is not supported"}',
    )


async def test_a_timeout_is_retried_for_a_vendor_with_a_dedup_key(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.ReadTimeout("timed out"))
    clock = FakeClock()
    [e] = await outbox.enqueue(items(1), now=clock())
    await drain(worker(outbox, handler, clock=clock), clock)
    d = await outbox.get(e.id)
    assert d is not None
    assert (d.status, len(seen)) == (Status.DELIVERED, 2)
    assert d.history[0].detail == "ReadTimeout after the request was sent; retried"


async def test_a_real_timeout_against_a_slow_vendor_is_retried(outbox: Outbox) -> None:
    calls = 0

    async def slow_once(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)
        return httpx2.Response(200)

    clock = FakeClock()
    [e] = await outbox.enqueue(items(1), now=clock())
    # MockTransport ignores client timeouts, so bound the slow call the way the client would.
    await drain(worker(outbox, _with_timeout(slow_once, 0.1), clock=clock), clock)
    assert (await status_of(outbox, e.id))[0] == Status.DELIVERED
    assert calls == 2


def _with_timeout(handler: Handler, seconds: float) -> Handler:
    async def bounded(request: httpx2.Request) -> httpx2.Response:
        try:
            return await asyncio.wait_for(handler(request), seconds)
        except TimeoutError:
            raise httpx2.ReadTimeout("timed out", request=request) from None

    return bounded


async def test_without_a_dedup_key_an_ambiguous_timeout_follows_retry_ambiguous(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.ReadTimeout("timed out"), httpx2.ReadTimeout("timed out"))
    clock = FakeClock()
    [e] = await outbox.enqueue(items(1, "fakenodedup"), now=clock())
    await drain(worker(outbox, handler, [FakeNoDedupVendor(retry_ambiguous=False)], clock=clock), clock)
    status, _, error = await status_of(outbox, e.id)
    assert (status, len(seen)) == (Status.DEAD, 1)
    assert error is not None
    assert "not retried" in error
    assert "retry_ambiguous" in error

    # The default (retry_ambiguous=True) prefers a possible duplicate to a lost conversion.
    [e2] = await outbox.enqueue(items(1, "fakenodedup", start=1), now=clock())
    await drain(worker(outbox, handler, [FakeNoDedupVendor()], clock=clock), clock)
    d2 = await outbox.get(e2.id)
    assert d2 is not None
    assert d2.status == Status.DELIVERED
    assert "may duplicate" in d2.history[0].detail


async def test_a_connection_refused_is_retried_even_without_a_dedup_key(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.ConnectError("refused"))
    clock = FakeClock()
    [e] = await outbox.enqueue(items(1, "fakenodedup"), now=clock())
    await drain(worker(outbox, handler, [FakeNoDedupVendor(retry_ambiguous=False)], clock=clock), clock)
    assert (await status_of(outbox, e.id))[0] == Status.DELIVERED
    assert len(seen) == 2


async def test_dead_after_max_attempts(outbox: Outbox) -> None:
    handler, seen = scripted(*(httpx2.Response(503) for _ in range(10)))
    clock = FakeClock()
    [e] = await outbox.enqueue(items(1), now=clock())
    await drain(worker(outbox, handler, policy=RetryPolicy(max_attempts=3), clock=clock), clock)
    assert len(seen) == 3
    assert await status_of(outbox, e.id) == (Status.DEAD, 3, "HTTP 503: Service Unavailable; gave up after 3 attempts")


async def test_dead_when_too_old_to_retry(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.Response(500))
    clock = FakeClock()
    [e] = await outbox.enqueue(items(1), now=clock() - 100)
    await drain(worker(outbox, handler, policy=RetryPolicy(max_age=60.0), clock=clock), clock)
    status, _, error = await status_of(outbox, e.id)
    assert status == Status.DEAD
    assert "older than 60s" in (error or "")
    assert len(seen) == 1


async def test_batching_vendor_gets_up_to_max_batch_per_request_per_batch_key(outbox: Outbox) -> None:
    sizes: list[tuple[str, int]] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)["conversions"]
        sizes.append((body[0]["event_id"][:1], len(body)))
        return httpx2.Response(200, json={"data": {"conversions_processed": len(body)}})

    pixel_a = [e.id for e in await outbox.enqueue(items(1100, "fakebatch", batch_key="A"), now=time.time())]
    pixel_b = await outbox.enqueue(items(30, "fakebatch", batch_key="B", start=5000), now=time.time())
    await worker(outbox, handler, [FakeBatchVendor()], concurrency=2).run_until_idle()
    assert await outbox.counts() == {("fakebatch", Status.DELIVERED): len(pixel_a) + len(pixel_b)}
    assert all(n <= 500 for _, n in sizes)
    assert sum(n for _, n in sizes) == 1130
    assert len(sizes) <= 5  # 1100 in three requests at best, 30 in one; a batch may be split between rounds


async def test_dry_run_builds_and_records_but_sends_nothing(outbox: Outbox) -> None:
    handler, seen = scripted()
    [e] = await outbox.enqueue(items(1), now=time.time())
    await worker(outbox, handler, dry_run=True).run_until_idle()
    d = await outbox.get(e.id)
    assert d is not None
    assert (d.status, seen) == (Status.DRY_RUN, [])
    assert d.answer is not None
    assert d.answer.startswith("POST http://fake.test/fake\n")
    assert "authorization: ***" in d.answer
    assert "sekrit" not in d.answer
    assert '"event_id": "o0"' in d.answer


async def test_a_broken_adapter_makes_the_delivery_dead_without_quoting_it(outbox: Outbox) -> None:
    class Broken(FakeVendor):
        def build_request(self, payloads):  # type: ignore[no-untyped-def]
            raise KeyError("someone@example.com")

    handler, _ = scripted()
    [e] = await outbox.enqueue(items(1), now=time.time())
    await worker(outbox, handler, [Broken()]).run_until_idle()
    assert await status_of(outbox, e.id) == (Status.DEAD, 1, "could not build the request: KeyError")


async def test_stop_hands_back_requests_still_in_flight(outbox: Outbox) -> None:
    started = asyncio.Event()

    async def hanging(request: httpx2.Request) -> httpx2.Response:
        started.set()
        await asyncio.sleep(30)
        return httpx2.Response(200)

    ids = [e.id for e in await outbox.enqueue(items(3), now=time.time())]
    w = worker(outbox, hanging)
    await w.start()
    await asyncio.wait_for(started.wait(), 5)
    await w.stop(grace=0.1)
    for i in ids:
        d = await outbox.get(i)
        assert d is not None
        assert (d.status, d.locked_by, d.last_error) == (Status.PENDING, None, "interrupted by shutdown")

    handler, seen = scripted()
    await worker(outbox, handler).run_until_idle()
    assert await outbox.counts() == {("fake", Status.DELIVERED): 3}
    assert len(seen) == 3


async def test_stop_lets_quick_requests_finish(outbox: Outbox) -> None:
    started = asyncio.Event()

    async def quick(request: httpx2.Request) -> httpx2.Response:
        started.set()
        await asyncio.sleep(0.2)
        return httpx2.Response(200)

    [e] = await outbox.enqueue(items(1), now=time.time())
    w = worker(outbox, quick)
    await w.start()
    await asyncio.wait_for(started.wait(), 5)
    await w.stop(grace=5)
    assert (await status_of(outbox, e.id))[0] == Status.DELIVERED


async def test_two_workers_on_one_outbox_never_send_a_delivery_twice(outbox: Outbox) -> None:
    sent: Counter[str] = Counter()
    senders: set[int] = set()
    both = asyncio.Event()

    def handler_of(index: int) -> Callable[[httpx2.Request], Awaitable[httpx2.Response]]:
        async def handler(request: httpx2.Request) -> httpx2.Response:
            sent[json.loads(request.content)["event_id"]] += 1
            senders.add(index)
            if len(senders) == 2:
                both.set()
            # The first requests wait (a while at most) for the other worker's first, so how fast one worker
            # starts cannot let it take the whole outbox before the other has claimed anything.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(both.wait(), timeout=10)
            await asyncio.sleep(0.001)
            return httpx2.Response(200)

        return handler

    await outbox.enqueue(items(400), now=time.time())
    other = twin(outbox)  # connections of its own, as another process would have
    workers = [worker(box, handler_of(i), concurrency=4) for i, box in enumerate((outbox, other))]
    try:
        await asyncio.gather(*(w.run_until_idle() for w in workers))
    finally:
        await other.close()
    assert await outbox.counts() == {("fake", Status.DELIVERED): 400}
    assert len(sent) == 400
    assert set(sent.values()) == {1}
    assert all(w.sent > 0 for w in workers)  # both did share the work


async def test_start_and_stop_are_idempotent_and_wake_sends_at_once(outbox: Outbox) -> None:
    handler, _ = scripted()
    w = worker(outbox, handler, poll_interval=3600.0)
    await w.start()
    await w.start()
    try:
        await w.run_until_idle()  # the first look at the empty outbox is over
        [e] = await outbox.enqueue(items(1), now=time.time())
        w.wake()
        await wait_for_status(outbox, [e.id], Status.DELIVERED, timeout=30)
    finally:
        await w.stop()
        await w.stop()
    assert not w.running


async def test_a_lease_shorter_than_a_request_is_refused(outbox: Outbox) -> None:
    with pytest.raises(ConfigurationError, match="lease"):
        Worker(outbox, [FakeVendor()], timeout=10.0, lease=20.0)
    with pytest.raises(ConfigurationError, match="once"):
        Worker(outbox, [FakeVendor(), FakeVendor()])


async def test_no_new_requests_start_while_a_checkout_runs_but_only_for_max_yield(outbox: Outbox) -> None:
    handler, seen = scripted()
    w = worker(outbox, handler)
    w.max_yield = 0.3
    async with running(w):
        with w.yielding():
            [e] = await outbox.enqueue(items(1), now=time.time())
            w.wake()
            await asyncio.sleep(0.1)
            assert seen == []  # the checkout's event loop is left to the checkout
        await wait_for_status(outbox, [e.id], Status.DELIVERED, timeout=30)
        with w.yielding():  # a checkout that never ends cannot stop deliveries
            [e2] = await outbox.enqueue(items(1, start=1), now=time.time())
            w.wake()
            await wait_for_status(outbox, [e2.id], Status.DELIVERED, timeout=30)
    assert len(seen) == 2


def first_held() -> tuple[Handler, list[httpx2.Request], asyncio.Event, asyncio.Event]:
    """A vendor that holds its first answer until told; the first event says that request arrived."""
    first_sent, answer_first = asyncio.Event(), asyncio.Event()
    seen: list[httpx2.Request] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if len(seen) == 1:
            first_sent.set()
            await answer_first.wait()
        return httpx2.Response(200, json={"id": f"v{len(seen)}"})

    return handler, seen, first_sent, answer_first


async def test_a_lane_already_sending_starts_no_next_request_while_a_checkout_runs(outbox: Outbox) -> None:
    handler, seen, first_sent, answer_first = first_held()
    first, second = (e.id for e in await outbox.enqueue(items(2), now=time.time()))
    w = worker(outbox, handler, concurrency=1)  # one lane: both deliveries claimed, the second waits in it
    w.max_yield = 3600.0  # only the checkout's end lets the lane go on
    async with running(w):
        await first_sent.wait()
        with w.yielding():
            answer_first.set()
            # The lane has recorded the first outcome and taken the second delivery, then stopped at the gate.
            await wait_for_status(outbox, [first], Status.DELIVERED, timeout=30)
            assert len(seen) == 1
            assert await status_of(outbox, second) == (Status.SENDING, 1, None)
        await wait_for_status(outbox, [second], Status.DELIVERED, timeout=30)
    assert len(seen) == 2


async def test_a_lane_stopped_at_the_gate_hands_its_deliveries_back_unsent(outbox: Outbox) -> None:
    handler, seen, first_sent, answer_first = first_held()
    first, second = (e.id for e in await outbox.enqueue(items(2), now=time.time()))
    w = worker(outbox, handler, concurrency=1, shutdown_grace=0.0)
    w.max_yield = 3600.0
    await w.start()
    await first_sent.wait()
    with w.yielding():
        answer_first.set()
        await wait_for_status(outbox, [first], Status.DELIVERED, timeout=30)
        await w.stop()
    assert len(seen) == 1
    # Held at the gate, then stopped: back to pending with its claim uncounted, for the next worker.
    assert await status_of(outbox, second) == (Status.PENDING, 0, None)


async def test_a_vendor_asking_to_wait_gets_its_claimed_deliveries_handed_back(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.Response(429, headers={"Retry-After": "30"}))
    clock = FakeClock()
    ids = [e.id for e in await outbox.enqueue(items(10), now=clock())]
    w = worker(outbox, handler, concurrency=1, clock=clock)  # one in flight, the rest claimed and ready
    await w.run_until_idle()
    found = [await outbox.get(i) for i in ids]
    # During the pause nothing is held: every delivery is pending, and only the first counts an attempt.
    assert [d.status for d in found if d] == [Status.PENDING] * 10
    assert sorted(d.attempts for d in found if d) == [0] * 9 + [1]
    assert len(seen) == 1
    await drain(w, clock)
    assert await outbox.counts() == {("fake", Status.DELIVERED): 10}
    assert len(seen) == 11


async def test_a_loop_that_dies_is_reported_instead_of_waited_for(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(BaseException):
        """Not an Exception: gets past every handler the loop has."""

    class BrokenClaims:
        """The test's outbox, except that claiming fails beyond repair."""

        def __getattr__(self, name: str) -> object:
            return getattr(outbox, name)

        async def claim(self, *args: object, **kwargs: object) -> dict[str, list[object]]:
            raise Broken

    handler, _ = scripted()
    w = worker(BrokenClaims(), handler)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="stopped before the outbox was drained"):
        await w.run_until_idle()
    assert not w.running
    assert "the worker stopped on an unexpected error" in caplog.text


async def test_a_vendor_asking_to_wait_pauses_every_worker_on_the_outbox(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.Response(429, headers={"Retry-After": "600"}))
    clock = FakeClock()
    policy = RetryPolicy(base_delay=0.01, max_delay=0.05, max_retry_after=600.0)
    await outbox.enqueue(items(1), now=clock())
    await worker(outbox, handler, policy=policy, clock=clock).run_until_idle()
    assert await outbox.paused(now=clock()) == {"fake": clock() + 600}

    # Another worker, in another process for all it knows, sends nothing to the paused vendor.
    other = twin(outbox)
    try:
        await other.enqueue(items(1, start=1), now=clock())
        second = worker(other, handler, policy=policy, clock=clock)
        await second.run_until_idle()
        assert len(seen) == 1
        assert await second.next_due() == clock() + 600  # it knows when to look again
        clock.advance(600)
        await drain(second, clock)
    finally:
        await other.close()
    assert await outbox.counts() == {("fake", Status.DELIVERED): 2}


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_postgres_restart_while_the_worker_sends_loses_nothing(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    sent: Counter[str] = Counter()

    async def handler(request: httpx2.Request) -> httpx2.Response:
        sent[json.loads(request.content)["event_id"]] += 1
        await asyncio.sleep(0.01)
        return httpx2.Response(200)

    box = PostgresOutbox(postgres_url)
    ids = [e.id for e in await box.enqueue(items(200), now=time.time())]
    w = worker(box, handler, concurrency=2, lease=3.0, timeout=0.5)
    await w.start()
    try:
        await wait_for(lambda: sum(sent.values()) >= 20)
        await asyncio.to_thread(postgres_server.restart)
        ids += [e.id for e in await box.enqueue(items(50, start=200), now=time.time())]  # checkouts work at once
        await wait_for_status(box, ids, Status.DELIVERED, timeout=60)
        counts = await box.counts()
    finally:
        await w.stop()
        await box.close()
    assert counts == {("fake", Status.DELIVERED): 250}
    assert set(sent) == {f"o{i}" for i in range(250)}  # nothing lost
    assert max(sent.values()) <= 2  # a result lost with the connection means one more send, no more


async def test_an_outbox_that_fails_to_claim_is_asked_again_after_the_poll_interval_not_at_once(
    outbox: Outbox,
) -> None:
    claims = 0

    class FailingClaims:
        """The test's outbox, except that every claim fails (a database out of reach)."""

        def __getattr__(self, name: str) -> object:
            return getattr(outbox, name)

        async def claim(self, *args: object, **kwargs: object) -> dict[str, list[object]]:
            nonlocal claims
            claims += 1
            raise OSError("database unreachable")

    await outbox.enqueue(items(1), now=time.time())
    handler, _ = scripted()
    w = worker(FailingClaims(), handler, poll_interval=3600.0)  # type: ignore[arg-type]
    async with running(w):
        await asyncio.sleep(0.2)
    # One look, then a sleep (PostgreSQL's listener wakes it once more when it connects): no hot loop.
    assert 1 <= claims <= 2


async def test_a_delivery_left_with_less_lease_than_a_request_may_take_is_not_sent_on_it(outbox: Outbox) -> None:
    """Timeouts of 30 s allow one request up to 90 s (connect, write, read); a lease of 100 s is accepted. A
    delivery that waited 40 s for its slot has 60 s of lease left: sent on it, a slow but legal answer would
    outlive the lease, and another worker would claim and send it at the same time."""
    clock = FakeClock(1000.0)
    claimed_elsewhere: list[int] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        clock.advance(40.0 if json.loads(request.content)["event_id"] == "o0" else 61.0)
        other = await outbox.claim("other-worker", limits={"fake": 10}, now=clock(), lease=100.0)
        claimed_elsewhere.extend(d.id for d in other.get("fake", []))
        return httpx2.Response(200)

    ids = [e.id for e in await outbox.enqueue(items(2), now=clock())]
    w = worker(outbox, handler, concurrency=1, timeout=30.0, lease=100.0, clock=clock)
    await w.run_until_idle()
    assert claimed_elsewhere == []  # nothing was sent by two workers at once
    for delivery_id in ids:
        d = await outbox.get(delivery_id)
        assert d is not None
        assert d.status == Status.DELIVERED
        assert [a.result for a in d.history] == ["delivered"]


async def test_an_answer_that_cannot_be_decoded_is_retried_then_dead_not_reclaimed_forever(outbox: Outbox) -> None:
    """A body whose Content-Encoding lies (gzip that is not) makes httpx2 raise DecodingError after the vendor
    answered. It is an attempt like a broken connection after sending: retried while the policy allows, then
    dead, rather than left claimed to be taken again at every lease's end, forever."""
    seen: list[httpx2.Request] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, headers={"Content-Encoding": "gzip"}, stream=httpx2.ByteStream(b"not gzip"))

    clock = FakeClock()
    [e] = await outbox.enqueue(items(1), now=clock())
    await drain(worker(outbox, handler, clock=clock), clock)
    d = await outbox.get(e.id)
    assert d is not None
    assert (d.status, d.attempts) == (Status.DEAD, FAST.max_attempts)
    assert [h.result for h in d.history] == ["retry"] * (FAST.max_attempts - 1) + ["dead"]
    assert d.history[0].detail == "DecodingError after the request was sent; retried"
    assert len(seen) == FAST.max_attempts


async def test_an_unexpected_error_while_sending_is_an_attempt_not_a_lost_lane(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    """An adapter that raises where the sender does not expect it (here, masking a dry run's headers) must not
    leave its delivery claimed with no outcome, to be taken again at every lease's end forever."""

    class Unmaskable(FakeVendor):
        def masked_headers(self, request: httpx2.Request) -> dict[str, str]:
            raise RuntimeError("Bearer sekrit for jane@example.com")

    handler, seen = scripted()
    clock = FakeClock()
    [e] = await outbox.enqueue(items(1), now=clock())
    caplog.set_level(logging.DEBUG)
    await drain(worker(outbox, handler, [Unmaskable()], clock=clock, dry_run=True), clock)
    assert seen == []
    d = await outbox.get(e.id)
    assert d is not None
    assert (d.status, d.attempts) == (Status.DEAD, FAST.max_attempts)
    assert d.history[0].detail == "sending failed unexpectedly (RuntimeError)"
    assert "fake: sending failed unexpectedly (RuntimeError)" in caplog.text
    assert "sekrit" not in caplog.text
    assert "jane" not in caplog.text


async def test_retry_after_zero_pauses_nobody(outbox: Outbox) -> None:
    """``Retry-After: 0`` (and Google's "refresh the token and send again") asks for no wait: no pause is
    stored for the other workers, and deliveries claimed meanwhile are not handed back."""
    handler, seen = scripted(httpx2.Response(429, headers={"Retry-After": "0"}, text="again"))
    clock = FakeClock()
    ids = [e.id for e in await outbox.enqueue(items(3), now=clock())]
    await drain(worker(outbox, handler, clock=clock, concurrency=1), clock)
    assert await outbox.paused(now=clock() - 1.0) == {}
    assert [(await status_of(outbox, i))[0] for i in ids] == [Status.DELIVERED] * 3
    assert len(seen) == 4


async def test_outcomes_are_written_at_once_when_the_last_request_ends(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writes are spaced while outcomes keep coming; once no request is left, the last ones must not wait.
    monkeypatch.setattr("attribution.delivery.writer.WRITE_EVERY", 20.0)  # far longer than wait_for_status waits
    handler, _ = scripted()
    async with running(worker(outbox, handler)) as w:
        for start in (0, 3):
            ids = [e.id for e in await outbox.enqueue(items(3, start=start), now=time.time())]
            w.wake()
            await wait_for_status(outbox, ids, Status.DELIVERED)
