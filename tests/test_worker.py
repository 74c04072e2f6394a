"""The worker against vendors faked with httpx2.MockTransport: retries, dead letters, batching, dry run,
timeouts, shutdown and several workers on one outbox."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2
import pytest

from attribution.errors import ConfigurationError
from attribution.outbox import Outbox, PostgresOutbox, SQLiteOutbox, Status
from attribution.retry import RetryPolicy
from attribution.worker import Worker
from tests.backends import twin
from tests.delivery_fakes import FAST, FakeBatchVendor, FakeNoDedupVendor, FakeVendor, items, wait_for_status
from tests.postgres import PostgresServer

Handler = Callable[[httpx2.Request], Awaitable[httpx2.Response]]


def worker(outbox: Outbox, handler: Handler, vendors: list | None = None, **kw: object) -> Worker:
    options: dict = {"policy": FAST, "poll_interval": 0.01, "lease": 5.0, "timeout": 1.0, **kw}
    return Worker(outbox, vendors or [FakeVendor()], transport=httpx2.MockTransport(handler), **options)


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


async def test_three_server_errors_then_success_delivers_once(outbox: Outbox) -> None:
    handler, seen = scripted(*(httpx2.Response(500, text="oops") for _ in range(3)))
    [e] = await outbox.enqueue(items(1), now=time.time())
    w = worker(outbox, handler)
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DELIVERED)
    finally:
        await w.stop()
    d = await outbox.get(e.id)
    assert d is not None
    assert d.attempts == 4
    assert [h.result for h in d.history] == ["retry", "retry", "retry", "delivered"]
    assert d.history[0].detail == "HTTP 500: oops"
    assert d.answer == '{"id":"v4"}'
    # Every attempt carried the same dedup key, and the vendor accepted exactly one.
    assert [json.loads(r.content)["event_id"] for r in seen] == ["o0"] * 4
    assert [r.headers["authorization"] for r in seen] == ["Bearer sekrit"] * 4


async def test_retry_after_is_waited_for(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.Response(429, headers={"Retry-After": "1"}, text="slow down"))
    times: list[float] = []

    async def timed(request: httpx2.Request) -> httpx2.Response:
        times.append(time.monotonic())
        return await handler(request)

    [e] = await outbox.enqueue(items(1), now=time.time())
    w = worker(outbox, timed)
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DELIVERED, timeout=5)
    finally:
        await w.stop()
    assert len(seen) == 2
    assert times[1] - times[0] >= 1.0
    d = await outbox.get(e.id)
    assert d is not None
    assert d.history[0].detail == "HTTP 429: slow down"


async def test_x_rate_limit_reset_pauses_the_vendor(outbox: Outbox) -> None:
    reset = str(int(time.time()) + 2)
    handler, _ = scripted(httpx2.Response(429, headers={"x-rate-limit-reset": reset}))
    times: list[float] = []

    async def timed(request: httpx2.Request) -> httpx2.Response:
        times.append(time.time())
        return await handler(request)

    ids = [e.id for e in await outbox.enqueue(items(1), now=time.time())]
    w = worker(outbox, timed)
    await w.start()
    try:
        await wait_for_status(outbox, ids, Status.DELIVERED, timeout=5)
    finally:
        await w.stop()
    assert times[1] >= float(reset) - 0.001


async def test_a_client_error_is_dead_at_once_with_the_vendor_message(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.Response(400, json={"error": "currency XYZ is not supported"}))
    [e] = await outbox.enqueue(items(1), now=time.time())
    w = worker(outbox, handler)
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DEAD)
        await asyncio.sleep(0.05)  # a few more polls: it must not be tried again
    finally:
        await w.stop()
    d = await outbox.get(e.id)
    assert d is not None
    assert len(seen) == 1
    assert d.attempts == 1
    assert d.last_error == 'HTTP 400: {"error":"currency XYZ is not supported"}'


async def test_a_timeout_is_retried_for_a_vendor_with_a_dedup_key(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.ReadTimeout("timed out"))
    [e] = await outbox.enqueue(items(1), now=time.time())
    w = worker(outbox, handler)
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DELIVERED)
    finally:
        await w.stop()
    d = await outbox.get(e.id)
    assert d is not None
    assert len(seen) == 2
    assert d.history[0].detail == "ReadTimeout after the request was sent; retried"


async def test_a_real_timeout_against_a_slow_vendor_is_retried(outbox: Outbox) -> None:
    calls = 0

    async def slow_once(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)
        return httpx2.Response(200)

    [e] = await outbox.enqueue(items(1), now=time.time())
    # MockTransport ignores client timeouts, so bound the slow call the way the client would.
    w = worker(outbox, _with_timeout(slow_once, 0.1))
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DELIVERED)
    finally:
        await w.stop()
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
    careful = FakeNoDedupVendor(retry_ambiguous=False)
    [e] = await outbox.enqueue(items(1, "fakenodedup"), now=time.time())
    w = worker(outbox, handler, [careful])
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DEAD)
    finally:
        await w.stop()
    d = await outbox.get(e.id)
    assert d is not None
    assert len(seen) == 1
    assert d.last_error is not None
    assert "not retried" in d.last_error
    assert "retry_ambiguous" in d.last_error

    # The default (retry_ambiguous=True) prefers a possible duplicate to a lost conversion.
    [e2] = await outbox.enqueue(items(1, "fakenodedup", start=1), now=time.time())
    w = worker(outbox, handler, [FakeNoDedupVendor()])
    await w.start()
    try:
        await wait_for_status(outbox, [e2.id], Status.DELIVERED)
    finally:
        await w.stop()
    d2 = await outbox.get(e2.id)
    assert d2 is not None
    assert "may duplicate" in d2.history[0].detail


async def test_a_connection_refused_is_retried_even_without_a_dedup_key(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.ConnectError("refused"))
    [e] = await outbox.enqueue(items(1, "fakenodedup"), now=time.time())
    w = worker(outbox, handler, [FakeNoDedupVendor(retry_ambiguous=False)])
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DELIVERED)
    finally:
        await w.stop()
    assert len(seen) == 2


async def test_dead_after_max_attempts(outbox: Outbox) -> None:
    handler, seen = scripted(*(httpx2.Response(503) for _ in range(10)))
    [e] = await outbox.enqueue(items(1), now=time.time())
    w = worker(outbox, handler, policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02))
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DEAD)
    finally:
        await w.stop()
    d = await outbox.get(e.id)
    assert d is not None
    assert (len(seen), d.attempts) == (3, 3)
    assert d.last_error == "HTTP 503: Service Unavailable; gave up after 3 attempts"


async def test_dead_when_too_old_to_retry(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.Response(500))
    [e] = await outbox.enqueue(items(1), now=time.time() - 100)
    w = worker(outbox, handler, policy=RetryPolicy(max_age=60.0, base_delay=0.01))
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DEAD)
    finally:
        await w.stop()
    d = await outbox.get(e.id)
    assert d is not None
    assert "older than 60s" in (d.last_error or "")
    assert len(seen) == 1


async def test_batching_vendor_gets_up_to_max_batch_per_request_per_batch_key(outbox: Outbox) -> None:
    sizes: list[tuple[str, int]] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)["conversions"]
        sizes.append((body[0]["event_id"][:1], len(body)))
        return httpx2.Response(200, json={"data": {"conversions_processed": len(body)}})

    pixel_a = [e.id for e in await outbox.enqueue(items(1100, "fakebatch", batch_key="A"), now=time.time())]
    pixel_b = await outbox.enqueue(items(30, "fakebatch", batch_key="B", start=5000), now=time.time())
    w = worker(outbox, handler, [FakeBatchVendor()], concurrency=2)
    await w.start()
    try:
        await wait_for_status(outbox, pixel_a + [e.id for e in pixel_b], Status.DELIVERED)
    finally:
        await w.stop()
    assert all(n <= 500 for _, n in sizes)
    assert sum(n for _, n in sizes) == 1130
    assert len(sizes) <= 5  # 1100 in three requests at best, 30 in one; a batch may be split between rounds


async def test_dry_run_builds_and_records_but_sends_nothing(outbox: Outbox) -> None:
    handler, seen = scripted()
    [e] = await outbox.enqueue(items(1), now=time.time())
    w = worker(outbox, handler, dry_run=True)
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DRY_RUN)
    finally:
        await w.stop()
    d = await outbox.get(e.id)
    assert d is not None
    assert seen == []
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
    w = worker(outbox, handler, [Broken()])
    await w.start()
    try:
        await wait_for_status(outbox, [e.id], Status.DEAD)
    finally:
        await w.stop()
    d = await outbox.get(e.id)
    assert d is not None
    assert d.last_error == "could not build the request: KeyError"


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
    t0 = time.monotonic()
    await w.stop(grace=0.1)
    assert time.monotonic() - t0 < 2
    for i in ids:
        d = await outbox.get(i)
        assert d is not None
        assert (d.status, d.locked_by, d.last_error) == (Status.PENDING, None, "interrupted by shutdown")

    handler, seen = scripted()
    w2 = worker(outbox, handler)
    await w2.start()
    try:
        await wait_for_status(outbox, ids, Status.DELIVERED)
    finally:
        await w2.stop()
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
    d = await outbox.get(e.id)
    assert d is not None
    assert d.status == Status.DELIVERED


async def test_two_workers_on_one_outbox_never_send_a_delivery_twice(outbox: Outbox) -> None:
    sent: Counter[str] = Counter()

    async def handler(request: httpx2.Request) -> httpx2.Response:
        sent[json.loads(request.content)["event_id"]] += 1
        await asyncio.sleep(0.001)
        return httpx2.Response(200)

    boxes = [outbox, twin(outbox)]  # connections of their own each, as two processes would have
    ids = [e.id for e in await boxes[0].enqueue(items(400), now=time.time())]
    workers = [worker(box, handler, concurrency=4) for box in boxes]
    try:
        await asyncio.gather(*(w.start() for w in workers))
        await wait_for_status(boxes[0], ids, Status.DELIVERED, timeout=30)
    finally:
        await asyncio.gather(*(w.stop() for w in workers))
        await boxes[1].close()
    assert len(sent) == 400
    assert set(sent.values()) == {1}
    assert all(w.sent > 0 for w in workers)  # both did share the work


async def test_start_and_stop_are_idempotent_and_wake_sends_at_once(outbox: Outbox) -> None:
    handler, _ = scripted()
    w = worker(outbox, handler, poll_interval=30.0)
    await w.start()
    await w.start()
    try:
        await asyncio.sleep(0.05)  # let the first look at the empty outbox pass
        [e] = await outbox.enqueue(items(1), now=time.time())
        w.wake()
        await wait_for_status(outbox, [e.id], Status.DELIVERED, timeout=2)
    finally:
        await w.stop()
        await w.stop()
    assert not w.running


def test_a_lease_shorter_than_a_request_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="lease"):
        Worker(SQLiteOutbox(tmp_path / "o.db"), [FakeVendor()], timeout=10.0, lease=20.0)
    with pytest.raises(ConfigurationError, match="once"):
        Worker(SQLiteOutbox(tmp_path / "o.db"), [FakeVendor(), FakeVendor()])


async def test_no_new_requests_start_while_a_checkout_runs_but_only_for_max_yield(outbox: Outbox) -> None:
    handler, seen = scripted()
    w = worker(outbox, handler)
    w.max_yield = 0.3
    await w.start()
    try:
        with w.yielding():
            [e] = await outbox.enqueue(items(1), now=time.time())
            w.wake()
            await asyncio.sleep(0.1)
            assert seen == []  # the checkout's event loop is left to the checkout
        await wait_for_status(outbox, [e.id], Status.DELIVERED, timeout=2)
        with w.yielding():  # a checkout that never ends cannot stop deliveries
            [e2] = await outbox.enqueue(items(1, start=1), now=time.time())
            w.wake()
            await wait_for_status(outbox, [e2.id], Status.DELIVERED, timeout=2)
    finally:
        await w.stop()
    assert len(seen) == 2


async def test_a_vendor_asking_to_wait_gets_its_claimed_deliveries_handed_back(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.Response(429, headers={"Retry-After": "1"}))
    ids = [e.id for e in await outbox.enqueue(items(10), now=time.time())]
    w = worker(outbox, handler, concurrency=1)  # one in flight, the rest claimed and ready
    await w.start()
    try:

        async def paused() -> bool:
            found = [await outbox.get(i) for i in ids]
            return all(d is not None and d.status == Status.PENDING for d in found)

        deadline = time.monotonic() + 2
        while not seen or not await paused():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        # During the pause nothing is held: only the first delivery counts an attempt.
        attempts = sorted([(await outbox.get(i)).attempts for i in ids])  # type: ignore[union-attr]
        assert attempts == [0] * 9 + [1]
        await wait_for_status(outbox, ids, Status.DELIVERED, timeout=5)
    finally:
        await w.stop()
    assert len(seen) == 11


async def test_a_vendor_asking_to_wait_pauses_every_worker_on_the_outbox(outbox: Outbox) -> None:
    handler, seen = scripted(httpx2.Response(429, headers={"Retry-After": "600"}))
    policy = RetryPolicy(base_delay=0.01, max_delay=0.05, max_retry_after=600.0)
    await outbox.enqueue(items(1), now=time.time())
    first = worker(outbox, handler, policy=policy)
    await first.start()
    try:
        await wait_for(lambda: len(seen) == 1)
    finally:
        await first.stop()
    paused = await outbox.paused(now=time.time())
    assert set(paused) == {"fake"}
    assert paused["fake"] > time.time() + 500

    # Another worker, in another process for all it knows, sends nothing to the paused vendor.
    other = twin(outbox)
    await other.enqueue(items(1, start=1), now=time.time())
    second = worker(other, handler, policy=policy)
    await second.start()
    try:
        await second.wait_idle(timeout=10)
    finally:
        await second.stop()
        await other.close()
    assert len(seen) == 1


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
