"""Claims and results of many deliveries at once: more rows than one SQLite statement takes, every kind of
result in one call, times kept to the last digit; and a worker that holds no more than a round for a slow
vendor, and more for a fast one as soon as its first rounds went out."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from attribution.delivery.outbox import sqlite_sets
from attribution.delivery.outbox.base import Delivery, Finish, Outbox, Status
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from attribution.delivery.outbox.sqlite_sets import CHUNK, DueRow, Q
from attribution.delivery.worker import Worker
from tests.support.delivery_fakes import FAST, FakeVendor, claim_one, items

N = 2 * CHUNK + 22
"""Three statements' worth where SQLite binds few values (``statement_rows``), the last one padded."""


@pytest.fixture(params=["as many rows a statement as SQLite binds", "CHUNK rows a statement"])
def statement_rows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways a SQLite outbox writes many rows: a few large statements, or (an SQLite that binds 999 values at
    most) statements of ``CHUNK`` rows."""
    if request.param == "CHUNK rows a statement":
        monkeypatch.setattr(sqlite_sets, "MOST_ROWS", CHUNK)


def test_a_statement_takes_as_many_rows_as_sqlite_binds_values_for() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        assert sqlite_sets.rows_per_statement(conn, 8) <= sqlite_sets.MOST_ROWS
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # SQLite before 3.32
        assert (sqlite_sets.rows_per_statement(conn, 8), sqlite_sets.rows_per_statement(conn, 4)) == (CHUNK, 2 * CHUNK)
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32766)
        assert sqlite_sets.rows_per_statement(conn, 8) == min(sqlite_sets.MOST_ROWS, 2048)
        assert sqlite_sets.rows_per_statement(conn, 1) == sqlite_sets.MOST_ROWS
    finally:
        conn.close()


@pytest.mark.usefixtures("statement_rows")
async def test_a_claim_and_a_finish_larger_than_a_statement_keep_every_row_and_digit(outbox: Outbox) -> None:
    base = 1_763_862_000.123456789
    created = [base + i * 0.000123457 for i in range(N)]
    for i, at in enumerate(created):
        await outbox.enqueue(items(1, start=i), now=at)
    now = base + 10.987654321
    claimed = await claim_one(outbox, "A", "fake", N + 5, now=now, lease=60.0)
    assert [d.dedup_key for d in claimed] == [f"o{i}" for i in range(N)]  # soonest due first
    assert [d.created_at for d in claimed] == created
    assert {(d.status, d.attempts, d.locked_by, d.next_attempt_at, d.updated_at) for d in claimed} == {
        (Status.SENDING, 1, "A", now + 60.0, now)
    }
    assert claimed[7].order is not None
    assert (claimed[7].payload, claimed[7].order.order_id, claimed[7].order.value) == (None, "o7", 7)
    assert await outbox.counts() == {("fake", Status.SENDING): N}

    later = now + 1.000001
    kinds = [
        lambda d: Finish(d.id, Status.DELIVERED, later, answer=f'{{"id":"{d.dedup_key}"}}'),
        lambda d: Finish(d.id, Status.PENDING, later, next_attempt_at=later + 2.5, error="HTTP 503: busy"),
        lambda d: Finish(d.id, Status.DEAD, later, error="HTTP 400: bad email"),
        lambda d: Finish(d.id, Status.DRY_RUN, later, answer="POST https://vendor.test/"),
        lambda d: Finish(d.id, Status.PENDING, later, next_attempt_at=later, released=True),
    ]
    results = [kinds[i % 5](d) for i, d in enumerate(claimed)]
    assert await outbox.finish("A", results) == N
    assert await outbox.finish("A", results) == 0  # nothing is this worker's any more

    counts = await outbox.counts()
    assert sum(counts.values()) == N
    assert counts[("fake", Status.DELIVERED)] == len(range(0, N, 5))
    expected = {
        0: (Status.DELIVERED, 1, "answer", None, None, "delivered"),
        1: (Status.PENDING, 1, None, "HTTP 503: busy", later + 2.5, "retry"),
        2: (Status.DEAD, 1, None, "HTTP 400: bad email", None, "dead"),
        3: (Status.DRY_RUN, 1, "POST https://vendor.test/", None, None, "dry_run"),
        4: (Status.PENDING, 0, None, None, later, None),
    }
    for i in (N - 5, N - 4, N - 3, N - 2, N - 1):
        got = await outbox.get(claimed[i].id)
        assert got is not None
        status, attempts, answer, error, next_at, result = expected[i % 5]
        answer = f'{{"id":"{claimed[i].dedup_key}"}}' if answer == "answer" else answer
        assert (got.status, got.attempts, got.answer, got.last_error, got.locked_by, got.updated_at) == (
            status,
            attempts,
            answer,
            error,
            None,
            later,
        )
        if next_at is not None:
            assert got.next_attempt_at == next_at
        assert [(h.number, h.result, h.at, h.worker) for h in got.history] == (
            [] if result is None else [(1, result, later, "A")]
        )


@pytest.mark.usefixtures("statement_rows")
async def test_a_result_for_a_delivery_another_worker_took_over_is_ignored_in_a_large_finish(
    outbox: Outbox,
) -> None:
    await outbox.enqueue(items(N), now=1.0)
    mine = await claim_one(outbox, "A", "fake", N, now=2.0, lease=1.0)
    theirs = await claim_one(outbox, "B", "fake", 10, now=4.0, lease=100.0)  # A's lease ran out
    results = [Finish(d.id, Status.DELIVERED, 5.0, answer="ok") for d in mine]
    assert await outbox.finish("A", results) == N - 10  # the ten B took over are left alone
    taken = await outbox.get(theirs[0].id)
    assert taken is not None
    assert (taken.status, taken.locked_by, [h.result for h in taken.history]) == (Status.SENDING, "B", ["lost"])


def test_a_claims_candidates_are_read_by_the_names_its_statement_lists() -> None:
    """DueRow names the ``due`` statement's columns by position: a column added to one must be added to the other."""
    for statement in ("due", "due_confirmations"):
        found = re.search(r"json_array\((.*?)\)\) AS due,(.*?)\nFROM", Q[statement], flags=re.DOTALL)
        assert found is not None
        listed = [re.sub(r"quote\((\w+)\)", r"\1", column.strip()) for column in found.group(1).split(",")]
        listed += re.findall(r"\) AS (\w+)", found.group(2))  # the records' texts, beside the array
        assert listed == list(DueRow._fields), statement


@pytest.mark.usefixtures("statement_rows")
async def test_one_delivery_twice_in_one_finish_is_recorded_as_the_first_says(tmp_path: Path) -> None:
    box = SQLiteOutbox(tmp_path / "outbox.sqlite3")
    try:
        await box.enqueue(items(2), now=1.0)
        a, b = await claim_one(box, "A", "fake", 2, now=2.0, lease=10.0)
        results = [
            Finish(a.id, Status.DELIVERED, 3.0, answer="first"),
            Finish(b.id, Status.DEAD, 3.0, error="HTTP 400"),
            Finish(a.id, Status.DEAD, 3.0, error="second"),
        ]
        assert await box.finish("A", results) == 2
        got = await box.get(a.id)
        assert got is not None
        assert (got.status, got.answer, got.last_error) == (Status.DELIVERED, "first", None)
    finally:
        await box.close()


async def test_a_slow_vendor_has_no_more_than_a_round_claimed_beside_its_request(outbox: Outbox) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(request: httpx2.Request) -> httpx2.Response:
        started.set()
        await release.wait()
        return httpx2.Response(200, json={"id": "1"})

    await outbox.enqueue(items(40), now=time.time())
    worker = Worker(
        outbox,
        [FakeVendor()],
        transport=httpx2.MockTransport(slow),
        policy=FAST,
        concurrency=1,
        poll_interval=0.01,
        lease=5.0,
        timeout=1.0,
    )
    await worker.start()
    try:
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(0.05)  # the loop may look again meanwhile: it must not claim more
        assert await outbox.counts() == {("fake", Status.SENDING): 2, ("fake", Status.PENDING): 38}
        release.set()
        await worker.run_until_idle()
    finally:
        await worker.stop()
    assert await outbox.counts() == {("fake", Status.DELIVERED): 40}


async def test_a_fast_vendor_gets_more_than_a_round_claimed_once_its_first_rounds_went_out(outbox: Outbox) -> None:
    await outbox.enqueue(items(400), now=time.time())
    worker = Worker(
        outbox,
        [FakeVendor()],
        transport=httpx2.MockTransport(lambda request: httpx2.Response(200, json={"id": "1"})),
        policy=FAST,
        concurrency=2,
        poll_interval=0.01,
        lease=5.0,
        timeout=1.0,
    )
    asked: list[int] = []
    claim = outbox.claim

    async def counting(worker_id: str, **kwargs: Any) -> dict[str, list[Delivery]]:
        asked.append(kwargs["limits"]["fake"])
        return await claim(worker_id, **kwargs)

    outbox.claim = counting  # type: ignore[method-assign]
    await worker.run_until_idle()
    assert await outbox.counts() == {("fake", Status.DELIVERED): 400}
    # Two rounds (two in flight, two ready) at first; then what the lanes send in a fifth of a second.
    assert asked[0] == 4
    assert max(asked) > 4


async def test_a_claim_reads_each_records_texts_as_stored_whatever_they_hold(tmp_path: Path) -> None:
    """The claim reads the records' texts beside its rows, joined: each row gets its own, a NULL (scrubbed) stays None
    and an empty text stays empty, and a text that is no JSON (never written so, but a file is a file; this one with
    the separator in it) fails its own delivery when built, not the claim nor its neighbours."""
    box = SQLiteOutbox(tmp_path / "outbox.sqlite3")
    try:
        await box.enqueue(items(5), now=1.0)
        with sqlite3.connect(tmp_path / "outbox.sqlite3") as conn:
            conn.execute("UPDATE orders SET data = 'not' || char(30) || 'json' WHERE order_id = 'o1'")
            conn.execute("""UPDATE orders SET identifiers = '"a string"' WHERE order_id = 'o2'""")
            conn.execute("UPDATE orders SET data = NULL, identifiers = NULL WHERE order_id = 'o3'")
            conn.execute("UPDATE orders SET identifiers = '' WHERE order_id = 'o4'")
        claimed = {d.dedup_key: d for d in await claim_one(box, "A", "fake", 10, now=2.0, lease=10.0)}
        assert sorted(claimed) == ["o0", "o1", "o2", "o3", "o4"]
        orders = {key: d.order for key, d in claimed.items() if d.order is not None}
        assert sorted(orders) == sorted(claimed)
        for key, delivery in claimed.items():
            stored = await box.get(delivery.id)
            assert stored is not None
            assert stored.order is not None
            assert orders[key].order_id == key
            if key != "o1":
                assert (orders[key].data, orders[key].identifiers) == (stored.order.data, stored.order.identifiers)
        assert orders["o1"].data == "not\x1fjson"
        assert orders["o4"].identifiers == ""
        assert orders["o0"].conversion().event_id == "o0"
        assert orders["o4"].conversion().event_id == "o4"
        for key in ("o1", "o2"):
            with pytest.raises(ValueError):
                orders[key].conversion()
        assert orders["o3"].scrubbed
        with pytest.raises(ValueError, match="purged"):
            orders["o3"].conversion()
    finally:
        await box.close()
