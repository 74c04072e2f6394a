"""A large batch's events are built in slices: the event loop an in-app worker shares with the site runs between
them, a checkout that begins meanwhile goes first, and one slot builds at a time. A small one is built at once. What
is sent is the same."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx2
import pytest

from attribution.delivery import worker as worker_module
from attribution.delivery.outbox.base import Delivery, Outbox, Status
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from attribution.delivery.preparing import Prepared
from attribution.delivery.worker import PREPARE_AT_ONCE, PREPARE_SLICE, Worker
from attribution.vendors.base import Vendor
from tests.support.delivery_fakes import FakeBatchVendor, items, worker


class Slices:
    """Every call of ``prepare`` the worker makes: how many deliveries, from which task, at which turn of the loop
    (``tick`` counts the turns), and whether a checkout was running; ``hook`` runs after each is recorded."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.tasks: list[asyncio.Task[object] | None] = []
        self.turns: list[int] = []
        self.during_checkout: list[bool] = []
        self.log: list[str] = []
        """``slice`` per call, in order with what a test adds (a checkout's beginning and end)."""
        self.turn = 0
        self.checkout_running = False
        self.hook: Callable[[], None] | None = None

    async def tick(self) -> None:
        while True:
            self.turn += 1
            await asyncio.sleep(0)


@pytest.fixture
def slices(monkeypatch: pytest.MonkeyPatch) -> Slices:
    seen = Slices()
    prepare = worker_module.prepare

    def recorded(vendor: Vendor, chunk: Sequence[Delivery], now: float) -> Prepared:
        seen.sizes.append(len(chunk))
        seen.tasks.append(asyncio.current_task())
        seen.turns.append(seen.turn)
        seen.during_checkout.append(seen.checkout_running)
        seen.log.append("slice")
        if seen.hook is not None:
            seen.hook()
        return prepare(vendor, chunk, now)

    monkeypatch.setattr(worker_module, "prepare", recorded)
    return seen


LARGE = PREPARE_AT_ONCE + PREPARE_SLICE // 2
"""A batch just too large to be built in one step: whole slices, then half of one."""


def batching_worker(outbox: Outbox, requests: list[httpx2.Request], **kw: object) -> Worker:
    async def vendor(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return httpx2.Response(200, json={})

    return worker(outbox, vendor, [FakeBatchVendor()], **kw)


def sent_ids(requests: list[httpx2.Request]) -> list[list[str]]:
    return [[event["event_id"] for event in json.loads(r.content)["conversions"]] for r in requests]


async def test_a_batch_is_built_in_slices_with_the_loop_free_between_them(outbox: Outbox, slices: Slices) -> None:
    await outbox.enqueue(items(LARGE, "fakebatch", batch_key="pixel"), now=time.time())
    requests: list[httpx2.Request] = []
    ticker = asyncio.create_task(slices.tick())
    try:
        await batching_worker(outbox, requests, concurrency=1).run_until_idle()
    finally:
        ticker.cancel()
    assert sent_ids(requests) == [[f"o{i}" for i in range(LARGE)]]  # one request, every event, in order
    assert await outbox.counts() == {("fakebatch", Status.DELIVERED): LARGE}
    assert slices.sizes == [PREPARE_SLICE] * (LARGE // PREPARE_SLICE) + [PREPARE_SLICE // 2]
    assert all(later > earlier for earlier, later in itertools.pairwise(slices.turns)), slices.turns


async def test_a_checkout_that_begins_while_a_batch_is_built_goes_first(outbox: Outbox, slices: Slices) -> None:
    await outbox.enqueue(items(LARGE, "fakebatch", batch_key="pixel"), now=time.time())
    requests: list[httpx2.Request] = []
    w = batching_worker(outbox, requests, concurrency=1)
    w.max_yield = 3600.0  # only the checkout's end lets the building go on
    checkout_over = asyncio.Event()

    async def checkout() -> None:
        with w.yielding():
            slices.checkout_running = True
            slices.log.append("checkout begins")
            for _ in range(20):  # many turns of the loop, as a checkout awaiting its durable commit
                await asyncio.sleep(0)
            slices.log.append("checkout ends")
            slices.checkout_running = False
        checkout_over.set()

    def a_checkout_begins_after_the_first_slice() -> None:
        if len(slices.sizes) == 1:
            asyncio.get_running_loop().create_task(checkout())

    slices.hook = a_checkout_begins_after_the_first_slice
    async with asyncio.timeout(30):
        await w.run_until_idle()
        await checkout_over.wait()
    assert sent_ids(requests) == [[f"o{i}" for i in range(LARGE)]]
    slices_built = LARGE // PREPARE_SLICE + 1
    assert len(slices.sizes) == slices_built
    assert slices.during_checkout == [False] * slices_built
    # the checkout began right after the first slice, and the building went on only once it had ended
    assert slices.log == ["slice", "checkout begins", "checkout ends"] + ["slice"] * (slices_built - 1)


async def test_one_slot_builds_at_a_time(outbox: Outbox, slices: Slices) -> None:
    assert FakeBatchVendor.max_batch > PREPARE_AT_ONCE  # each batch is built in slices
    await outbox.enqueue(items(1000, "fakebatch", batch_key="pixel"), now=time.time())
    requests: list[httpx2.Request] = []
    await batching_worker(outbox, requests, concurrency=2).run_until_idle()
    assert sorted(len(ids) for ids in sent_ids(requests)) == [500, 500]
    assert sorted(itertools.chain(*sent_ids(requests))) == sorted(f"o{i}" for i in range(1000))
    # two slots, each building its batch of 500 in slices: one batch's slices all come before the other's
    runs = [task for task, _ in itertools.groupby(slices.tasks)]
    assert len(set(slices.tasks)) == 2
    assert len(runs) == 2, [id(task) for task in slices.tasks]


async def test_a_batch_small_enough_is_built_in_one_step(outbox: Outbox, slices: Slices) -> None:
    await outbox.enqueue(items(PREPARE_AT_ONCE, "fakebatch", batch_key="pixel"), now=time.time())
    requests: list[httpx2.Request] = []
    await batching_worker(outbox, requests, concurrency=1).run_until_idle()
    assert sent_ids(requests) == [[f"o{i}" for i in range(PREPARE_AT_ONCE)]]
    assert slices.sizes == [PREPARE_AT_ONCE]


async def test_a_worker_stopped_while_building_hands_the_batch_back_uncounted(outbox: Outbox, slices: Slices) -> None:
    ids = [e.id for e in await outbox.enqueue(items(LARGE, "fakebatch", batch_key="pixel"), now=time.time())]
    requests: list[httpx2.Request] = []
    w = batching_worker(outbox, requests, concurrency=1, shutdown_grace=0.0)
    w.max_yield = 3600.0
    checkout = w.yielding()  # a checkout that outlasts the worker: the building waits at the gate until stopped
    first_slice = asyncio.Event()

    def a_checkout_begins_after_the_first_slice() -> None:
        if len(slices.sizes) == 1:
            checkout.__enter__()
            first_slice.set()

    slices.hook = a_checkout_begins_after_the_first_slice
    await w.start()
    try:
        async with asyncio.timeout(30):
            await first_slice.wait()
            for _ in range(5):
                await asyncio.sleep(0)
            await w.stop()
    finally:
        checkout.__exit__(None, None, None)
    assert requests == []
    assert len(slices.sizes) == 1
    found = [await outbox.get(i) for i in ids]
    assert {(d.status, d.attempts) for d in found if d} == {(Status.PENDING, 0)}


async def test_a_slot_cancelled_while_waiting_to_build_hands_its_batch_back_uncounted(
    outbox: Outbox, slices: Slices
) -> None:
    ids = [e.id for e in await outbox.enqueue(items(LARGE, "fakebatch", batch_key="pixel"), now=time.time())]
    requests: list[httpx2.Request] = []
    w = batching_worker(outbox, requests, concurrency=1, shutdown_grace=0.0)
    await w.start()
    async with w._building:  # another slot is building: this one's batch waits its turn
        async with asyncio.timeout(30):
            while not any(lane.tasks for lane in w._lanes.values()):
                await asyncio.sleep(0.01)
            for _ in range(5):
                await asyncio.sleep(0)
            await w.stop()  # the grace is over at once: the waiting slot is cancelled
    assert (requests, slices.sizes) == ([], [])
    found = [await outbox.get(i) for i in ids]
    assert {(d.status, d.attempts) for d in found if d} == {(Status.PENDING, 0)}


def test_a_worker_started_again_in_another_event_loop_builds_large_batches_there(tmp_path: Path) -> None:
    box = SQLiteOutbox(tmp_path / "outbox.sqlite3")
    requests: list[httpx2.Request] = []
    w = batching_worker(box, requests, concurrency=2)
    assert FakeBatchVendor.max_batch > PREPARE_AT_ONCE  # two slots wait for each other's building

    async def send(start: int) -> list[tuple[Status, int]]:
        queued = await box.enqueue(items(1000, "fakebatch", batch_key="pixel", start=start), now=time.time())
        await w.run_until_idle()
        found = [await box.get(e.id) for e in queued]
        return [(d.status, d.attempts) for d in found if d]

    first = asyncio.run(send(0))  # as a test client runs each app in an event loop of its own
    second = asyncio.run(send(1000))
    asyncio.run(box.close())
    assert first == second == [(Status.DELIVERED, 1)] * 1000  # each sent at its first attempt, in either loop
    assert sorted(itertools.chain(*sent_ids(requests))) == sorted(f"o{i}" for i in range(2000))
