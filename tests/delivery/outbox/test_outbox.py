"""The outbox contract on every backend: idempotent durable writes, exclusive claims under a lease, owner-only
results, shared vendor pauses; then what is particular to SQLite and to PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from attribution.delivery.outbox.base import Finish, Outbox, Status
from attribution.delivery.outbox.postgres import PostgresOutbox
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from attribution.errors import AttributionError, ConfigurationError, OutboxError
from tests.support.backends import twin
from tests.support.delivery_fakes import claim_one, items, new_order, unwritable
from tests.support.postgres import PostgresServer, free_port


async def test_enqueue_is_idempotent_on_vendor_and_dedup_key(outbox: Outbox) -> None:
    first = await outbox.enqueue(items(2), now=100.0)
    again = await outbox.enqueue([*items(2), new_order("o0", "other")], now=101.0)
    assert [e.duplicate for e in first] == [False, False]
    assert [e.duplicate for e in again] == [True, True, False]
    assert [e.id for e in again[:2]] == [e.id for e in first]
    assert await outbox.counts() == {("fake", Status.PENDING): 2, ("other", Status.PENDING): 1}


async def test_one_key_twice_in_one_enqueue_is_one_row(outbox: Outbox) -> None:
    first, second = await outbox.enqueue(items(1) + items(1), now=0.0)
    assert (first.duplicate, second.duplicate, second.id) == (False, True, first.id)
    assert await outbox.counts() == {("fake", Status.PENDING): 1}


async def test_concurrent_enqueues_from_two_connections_store_one_row(outbox: Outbox) -> None:
    a, b = outbox, twin(outbox)
    try:
        results = await asyncio.gather(*(box.enqueue(items(50), now=1.0) for box in (a, b, a, b)))
        assert sum(not e.duplicate for r in results for e in r) == 50
        assert await a.counts() == {("fake", Status.PENDING): 50}
    finally:
        await b.close()


async def test_rows_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "o.db"
    box = SQLiteOutbox(path)
    [e] = await box.enqueue(items(1), now=5.0)
    await box.close()
    box = SQLiteOutbox(path)
    d = await box.get(e.id)
    await box.close()
    assert d is not None
    assert (d.vendor, d.dedup_key, d.payload, d.status, d.created_at) == ("fake", "o0", None, Status.PENDING, 5.0)
    assert d.order is not None
    assert (d.order.order_id, d.order.event, d.order.value, d.order.conversion().currency) == (
        "o0",
        "purchase",
        0,
        "USD",
    )
    journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"
    assert path.stat().st_mode & 0o777 == 0o600  # personal data: the site's user only


async def test_a_claimed_delivery_is_the_stored_row(outbox: Outbox) -> None:
    row = new_order("o1", "fake", value=7, dedup_key="k1", batch_key="px")
    (enqueued,) = await outbox.enqueue([row], now=2.0)
    first = await claim_one(outbox, "A", "fake", 10, now=3.0, lease=10.0)
    await outbox.finish("A", [Finish(enqueued.id, Status.PENDING, 4.0, next_attempt_at=5.0, error="HTTP 503")])
    (claimed,) = await claim_one(outbox, "B", "fake", 10, now=6.0, lease=10.0)
    stored = await outbox.get(enqueued.id)
    assert stored is not None
    assert first[0].order is not None
    assert first[0].order.conversion().value == 7
    # Every field as the outbox now holds it (history aside): what a worker sends and records comes from here.
    assert dataclasses.replace(claimed, order=None) == dataclasses.replace(stored, history=(), order=None)
    assert claimed.order is not None
    assert stored.order is not None
    assert (claimed.order.data, claimed.order.identifiers) == (stored.order.data, stored.order.identifiers)
    assert (claimed.batch_key, claimed.order_id, claimed.event, claimed.last_error) == (
        "px",
        "o1",
        "purchase",
        "HTTP 503",
    )
    assert (claimed.attempts, claimed.created_at, claimed.next_attempt_at, claimed.locked_by) == (2, 2.0, 16.0, "B")


async def test_claims_are_exclusive_until_the_lease_expires(outbox: Outbox) -> None:
    await outbox.enqueue(items(5), now=0.0)
    a = await claim_one(outbox, "A", "fake", 3, now=1.0, lease=10.0)
    b = await claim_one(outbox, "B", "fake", 10, now=1.0, lease=10.0)
    assert len(a) == 3
    assert len(b) == 2
    assert not {d.id for d in a} & {d.id for d in b}
    assert all(d.status == Status.SENDING and d.attempts == 1 for d in a + b)
    assert await claim_one(outbox, "C", "fake", 10, now=10.9, lease=10.0) == []
    # A's worker died: after its lease C takes its deliveries, and the history says what happened.
    c = await claim_one(outbox, "C", "fake", 10, now=11.5, lease=10.0)
    assert len(c) == 5
    assert all(d.attempts == 2 for d in c)
    got = await outbox.get(a[0].id)
    assert got is not None
    assert [h.result for h in got.history] == ["lost"]


async def test_claim_skips_other_vendors_and_future_deliveries(outbox: Outbox) -> None:
    await outbox.enqueue(items(1, "other") + items(1), now=0.0)
    [d] = await claim_one(outbox, "A", "fake", 10, now=1.0, lease=5.0)
    await outbox.finish("A", [Finish(d.id, Status.PENDING, 1.0, next_attempt_at=50.0, error="HTTP 500")])
    assert await claim_one(outbox, "A", "fake", 10, now=49.0, lease=5.0) == []
    assert len(await claim_one(outbox, "A", "fake", 10, now=50.0, lease=5.0)) == 1


async def test_only_the_owner_records_a_result(outbox: Outbox) -> None:
    await outbox.enqueue(items(1), now=0.0)
    [d] = await claim_one(outbox, "A", "fake", 1, now=1.0, lease=1.0)
    [d2] = await claim_one(outbox, "B", "fake", 1, now=3.0, lease=1.0)
    assert await outbox.finish("A", [Finish(d.id, Status.DEAD, 3.5, error="late")]) == 0
    assert await outbox.finish("B", [Finish(d2.id, Status.DELIVERED, 3.6, answer='{"id":"1"}')]) == 1
    got = await outbox.get(d.id)
    assert got is not None
    assert (got.status, got.answer, got.attempts, got.locked_by) == (Status.DELIVERED, '{"id":"1"}', 2, None)
    assert [(h.number, h.result) for h in got.history] == [(1, "lost"), (2, "delivered")]


async def test_released_deliveries_do_not_count_as_attempts(outbox: Outbox) -> None:
    await outbox.enqueue(items(1), now=0.0)
    [d] = await claim_one(outbox, "A", "fake", 1, now=1.0, lease=9.0)
    await outbox.finish("A", [Finish(d.id, Status.PENDING, 1.0, next_attempt_at=1.0, released=True)])
    got = await outbox.get(d.id)
    assert got is not None
    assert (got.status, got.attempts, got.history) == (Status.PENDING, 0, ())


async def test_retry_revives_dead_deliveries_and_purge_removes_old_ones(outbox: Outbox) -> None:
    ids = [e.id for e in await outbox.enqueue(items(3), now=0.0)]
    claimed = await claim_one(outbox, "A", "fake", 3, now=1.0, lease=5.0)
    await outbox.finish(
        "A",
        [
            Finish(claimed[0].id, Status.DEAD, 2.0, error="HTTP 400: bad"),
            Finish(claimed[1].id, Status.DEAD, 2.0, error="HTTP 400: bad"),
            Finish(claimed[2].id, Status.DELIVERED, 2.0, answer="ok"),
        ],
    )
    assert await outbox.retry(ids=[claimed[2].id], now=3.0) == 0  # delivered stays delivered
    assert await outbox.retry(ids=[claimed[0].id], now=3.0) == 1
    assert await outbox.retry(dead=True, now=3.0) == 1
    revived = await outbox.get(claimed[0].id)
    assert revived is not None
    assert (revived.status, revived.attempts, revived.next_attempt_at) == (Status.PENDING, 0, 3.0)
    assert revived.last_error == "HTTP 400: bad"
    assert await outbox.list(status=Status.PENDING) != []
    assert await outbox.purge(older_than=2.5) == 1  # only the delivered one: pending rows are kept
    assert await outbox.get(claimed[2].id) is None
    assert sorted(d.id for d in await outbox.list()) == sorted(ids[:2])


async def test_list_filters_and_pages(outbox: Outbox) -> None:
    await outbox.enqueue(items(5) + items(2, "other"), now=0.0)
    assert [d.dedup_key for d in await outbox.list(vendor="fake", limit=2)] == ["o4", "o3"]
    assert [d.dedup_key for d in await outbox.list(vendor="fake", limit=2, offset=2)] == ["o2", "o1"]
    assert len(await outbox.list(status=Status.DEAD)) == 0
    assert "value" not in repr((await outbox.list())[0])  # payload (may hold PII) stays out of reprs


async def test_an_unusable_file_is_an_outbox_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    box = SQLiteOutbox(tmp_path / "dir.db")
    with pytest.raises(OutboxError, match="outbox"):
        await box.open()
    await box.close()


async def test_the_dedup_holds_after_delivery_not_only_while_queued(outbox: Outbox) -> None:
    [e] = await outbox.enqueue(items(1), now=0.0)
    [d] = await claim_one(outbox, "A", "fake", 1, now=1.0, lease=5.0)
    assert await outbox.finish("A", [Finish(d.id, Status.DELIVERED, 2.0, answer="ok")]) == 1
    [again] = await outbox.enqueue(items(1), now=3.0)
    assert (again.id, again.duplicate) == (e.id, True)
    assert await outbox.counts() == {("fake", Status.DELIVERED): 1}


async def test_a_batch_is_claimed_together_soonest_first(outbox: Outbox) -> None:
    await outbox.enqueue(items(3, "fakebatch", batch_key="px", start=10), now=2.0)
    await outbox.enqueue(items(600, "fakebatch", batch_key="px"), now=1.0)
    claimed = await claim_one(outbox, "A", "fakebatch", 500, now=5.0, lease=5.0)
    assert len(claimed) == 500
    assert [d.dedup_key for d in claimed[:2]] == ["o0", "o1"]  # the older deliveries first
    assert all(d.created_at == 1.0 and d.locked_by == "A" for d in claimed)


async def test_concurrent_claims_from_two_connections_never_share_a_delivery(outbox: Outbox) -> None:
    other = twin(outbox)
    try:
        await outbox.enqueue(items(300), now=0.0)
        rounds = await asyncio.gather(
            *(claim_one(box, f"W{i}", "fake", 25, now=1.0, lease=60.0) for i, box in enumerate([outbox, other] * 8))
        )
    finally:
        await other.close()
    ids = [d.id for r in rounds for d in r]
    assert len(ids) == 300  # 16 claims of 25 for 300 rows: every row once
    assert len(set(ids)) == 300


async def test_a_vendor_pause_holds_every_worker_and_never_shortens(outbox: Outbox) -> None:
    other = twin(outbox)
    try:
        await outbox.enqueue(items(2) + items(1, "other"), now=0.0)
        await outbox.pause("fake", until=50.0)
        await other.pause("fake", until=20.0)  # an earlier end does not shorten the pause
        assert await other.paused(now=10.0) == {"fake": 50.0}
        claimed = await other.claim("B", limits={"fake": 10, "other": 10}, now=10.0, lease=5.0)
        assert set(claimed) == {"other"}  # the pause holds one vendor only
        assert await claim_one(other, "B", "fake", 10, now=49.0, lease=5.0) == []
        assert len(await claim_one(other, "B", "fake", 10, now=50.0, lease=5.0)) == 2
        assert await outbox.paused(now=50.0) == {}
    finally:
        await other.close()


async def test_purge_removes_only_old_finished_deliveries(outbox: Outbox) -> None:
    await outbox.enqueue(items(7), now=0.0)
    claimed = await claim_one(outbox, "A", "fake", 7, now=1.0, lease=5.0)
    await outbox.finish("A", [Finish(d.id, Status.DELIVERED, 2.0 if d.dedup_key != "o6" else 9.0) for d in claimed])
    assert await outbox.purge(older_than=5.0) == 6
    assert [d.dedup_key for d in await outbox.list()] == ["o6"]


async def test_the_sqlite_outbox_cannot_join_a_callers_transaction(tmp_path: Path) -> None:
    box = SQLiteOutbox(tmp_path / "o.db")
    try:
        with pytest.raises(ConfigurationError, match="PostgreSQL"):
            await box.enqueue_with(object(), items(1), now=0.0)
    finally:
        await box.close()


# -- PostgreSQL ------------------------------------------------------------------------------------------


async def test_postgres_purges_in_small_batches(postgres_url: str) -> None:
    box = PostgresOutbox(postgres_url, purge_batch=2)
    try:
        await box.enqueue(items(5), now=0.0)
        claimed = await claim_one(box, "A", "fake", 5, now=1.0, lease=5.0)
        await box.finish("A", [Finish(d.id, Status.DEAD, 2.0, error="HTTP 400") for d in claimed])
        assert await box.purge(older_than=5.0) == 5
        assert await box.counts() == {}
    finally:
        await box.close()


async def test_postgres_enqueue_in_a_rolled_back_transaction_leaves_nothing(postgres_url: str) -> None:
    box = PostgresOutbox(postgres_url)
    try:
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            written = await box.enqueue_with(conn, items(2), now=0.0)
            assert [e.duplicate for e in written] == [False, False]
            await conn.rollback()
            assert await box.counts() == {}
            await box.enqueue_with(conn, items(1), now=0.0)
            assert await box.counts() == {}  # not visible before the caller commits
            await conn.commit()
        assert await box.counts() == {("fake", Status.PENDING): 1}
    finally:
        await box.close()


@pytest.mark.parametrize("cursor_factory", [psycopg.Cursor, psycopg.ClientCursor])  # Django's is ClientCursor
async def test_postgres_enqueue_on_a_sync_connection_joins_its_transaction(
    postgres_url: str, cursor_factory: type[psycopg.Cursor[Any]]
) -> None:
    box = PostgresOutbox(postgres_url)

    def write(start: int, *, commit: bool) -> list[tuple[str, bool]]:
        with psycopg.connect(postgres_url, cursor_factory=cursor_factory) as conn:
            written = box.enqueue_with_sync(conn, items(2, start=start), now=0.0)
            conn.commit() if commit else conn.rollback()
        return [(e.dedup_key, e.duplicate) for e in written]

    try:
        await box.open()
        assert await asyncio.to_thread(write, 0, commit=False) == [("o0", False), ("o1", False)]
        assert await box.counts() == {}  # rolled back with the caller's transaction
        assert await asyncio.to_thread(write, 0, commit=True) == [("o0", False), ("o1", False)]
        assert await asyncio.to_thread(write, 1, commit=True) == [("o1", True), ("o2", False)]
        assert await box.counts() == {("fake", Status.PENDING): 3}
        found = await box.order("o2", "purchase")
        assert found is not None
        assert found[0].data == json.dumps(items(3)[2].record.data, separators=(",", ":"))  # bound intact
    finally:
        await box.close()


async def test_a_connection_to_another_database_is_refused_before_writing(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    box = PostgresOutbox(postgres_url)
    elsewhere = postgres_server.new_database()
    try:
        await box.open()
        async with await psycopg.AsyncConnection.connect(elsewhere) as conn:
            with pytest.raises(ConfigurationError, match="outbox's database"):
                await box.enqueue_with(conn, items(1), now=0.0)
        with psycopg.connect(elsewhere) as sync_conn, pytest.raises(ConfigurationError, match="outbox's database"):
            box.enqueue_with_sync(sync_conn, items(1), now=0.0)
        assert await box.counts() == {}
    finally:
        await box.close()


async def test_postgres_sync_enqueue_says_what_is_wrong(postgres_url: str) -> None:
    box = PostgresOutbox(postgres_url)  # never opened: its tables do not exist yet
    with psycopg.connect(postgres_url) as conn, pytest.raises(OutboxError, match="attribution migrate"):
        box.enqueue_with_sync(conn, items(1), now=0.0)
    with pytest.raises(TypeError, match=r"psycopg \(3\) Connection, not builtins.object"):
        box.enqueue_with_sync(object(), items(1), now=0.0)
    sqlite = SQLiteOutbox(":memory:")
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        sqlite.enqueue_with_sync(object(), items(1), now=0.0)


async def test_postgres_notifies_listeners_on_commit_only(postgres_url: str) -> None:
    box, writer = PostgresOutbox(postgres_url), PostgresOutbox(postgres_url)
    wakes: list[int] = []
    woken = asyncio.Event()

    def wake() -> None:
        wakes.append(1)
        woken.set()

    watching = asyncio.create_task(box.watch(wake))
    try:
        await asyncio.wait_for(woken.wait(), 10)  # the listener wakes once when it starts
        woken.clear()
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            await writer.enqueue_with(conn, items(1), now=0.0)
            await conn.rollback()
        await writer.enqueue(items(1, start=1), now=0.0)
        await asyncio.wait_for(woken.wait(), 10)
        # Notifications arrive in commit order: had the rolled-back write notified, it would be counted by now.
        assert len(wakes) == 2
        assert await writer.counts() == {("fake", Status.PENDING): 1}
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await writer.close()
        await box.close()


async def test_postgres_reconnects_after_a_database_restart(postgres_server: PostgresServer, postgres_url: str) -> None:
    box = PostgresOutbox(postgres_url, pool_size=3)
    try:
        await box.enqueue(items(1), now=0.0)
        await asyncio.gather(*(box.counts() for _ in range(3)))  # three pooled connections, all about to break
        await asyncio.to_thread(postgres_server.restart)
        await box.enqueue(items(1, start=1), now=0.0)
        assert await box.counts() == {("fake", Status.PENDING): 2}
    finally:
        await box.close()


async def test_postgres_enqueue_whose_commit_answer_was_lost_is_new_on_the_retry(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection breaks after the first attempt committed: the retry finds this checkout's own rows and says
    they are new, while a row an earlier checkout wrote stays a duplicate."""
    from attribution.delivery.outbox import postgres

    box = PostgresOutbox(postgres_url)
    real = postgres._enqueue
    lost: list[bool] = []

    async def commit_then_lose(conn: Any, rows: Any, now: float, *, retried: bool = False) -> Any:
        if not lost:  # the first attempt: its rows commit, then its connection is gone before the answer
            lost.append(True)
            async with await psycopg.AsyncConnection.connect(postgres_url) as first:
                await real(first, rows, now)
                await first.commit()
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return await real(conn, rows, now, retried=retried)

    try:
        [earlier] = await box.enqueue(items(1), now=50.0)
        monkeypatch.setattr(postgres, "_enqueue", commit_then_lose)
        written = await box.enqueue(items(3), now=100.0)
        assert lost == [True]
        assert [e.duplicate for e in written] == [True, False, False]
        assert written[0].id == earlier.id
        assert await box.counts() == {("fake", Status.PENDING): 3}
        again = await box.enqueue(items(3), now=101.0)  # a later checkout of the same order
        assert [e.duplicate for e in again] == [True, True, True]
        assert [e.id for e in again] == [e.id for e in written]
    finally:
        await box.close()


async def test_postgres_errors_name_the_database_but_never_the_password(postgres_server: PostgresServer) -> None:
    box = PostgresOutbox(f"postgresql://shop:hunter2@127.0.0.1:{free_port()}/shop", connect_timeout=1)
    with pytest.raises(OutboxError) as caught:
        await box.open()
    assert "127.0.0.1" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(box)


async def test_postgres_down_is_a_clear_outbox_error_then_it_recovers(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    box = PostgresOutbox(postgres_url, connect_timeout=1)
    try:
        await box.enqueue(items(1), now=0.0)
        await asyncio.to_thread(postgres_server.stop)
        try:
            with pytest.raises(OutboxError, match=r"no database connection within 1s"):
                await box.enqueue(items(1, start=1), now=0.0)
        finally:
            await asyncio.to_thread(postgres_server.start)
        # The same object recovers once its pool reconnects (it backs off between attempts, 1 s at first).
        deadline = time.monotonic() + 30
        while True:
            try:
                await box.enqueue(items(1, start=1), now=0.0)
                break
            except OutboxError:
                assert time.monotonic() < deadline, "the outbox did not reconnect"
        assert await box.counts() == {("fake", Status.PENDING): 2}
    finally:
        await box.close()


async def test_next_due_is_the_soonest_pending_or_leased_delivery_of_the_vendors_asked(outbox: Outbox) -> None:
    assert await outbox.next_due(["fake"]) is None
    await outbox.enqueue(items(2), now=100.0)
    await outbox.enqueue([new_order("x", "other")], now=50.0)
    assert await outbox.next_due(["fake"]) == 100.0
    assert await outbox.next_due(["fake", "other"]) == 50.0
    [first, second] = await claim_one(outbox, "w", "fake", 2, now=200.0, lease=30.0)
    assert await outbox.next_due(["fake"]) == 230.0  # a claimed delivery is due again when its lease runs out
    await outbox.finish("w", [Finish(first.id, Status.PENDING, 201.0, next_attempt_at=210.0)])
    assert await outbox.next_due(["fake"]) == 210.0
    await outbox.finish("w", [Finish(second.id, Status.DEAD, 202.0, error="x")])
    assert await outbox.next_due(["fake"]) == 210.0
    await claim_one(outbox, "w", "fake", 1, now=300.0, lease=30.0)
    await outbox.finish("w", [Finish(first.id, Status.DELIVERED, 301.0)])
    assert await outbox.next_due(["fake"]) is None  # finished deliveries are never due


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("below-a-file", "a part of its folder path is a file, not a folder"),
        ("read-only", "this process may not write to"),
    ],
)
async def test_a_path_the_system_refuses_is_an_outbox_error_naming_it_and_the_fix(
    tmp_path: Path, where: str, says: str
) -> None:
    if where == "below-a-file":
        (tmp_path / "taken").write_text("a file")
        path = tmp_path / "taken" / "deeper" / "outbox.sqlite3"
    else:
        path = Path("/sys/attribution-test/outbox.sqlite3")  # refused to every user, root included
    box = SQLiteOutbox(path)
    with pytest.raises(AttributionError) as caught:
        await box.open()
    await box.close()
    assert isinstance(caught.value, OutboxError)
    message = str(caught.value)
    assert str(path) in message
    assert says in message
    assert "choose another path" in message


async def test_purge_deletes_in_small_transactions_that_let_checkouts_through(tmp_path: Path) -> None:
    outbox = SQLiteOutbox(tmp_path / "outbox.sqlite3")
    try:
        old = [e.id for e in await outbox.enqueue(items(20), now=100.0)]
        claimed = await claim_one(outbox, "w", "fake", 20, now=100.0, lease=30.0)
        await outbox.finish("w", [Finish(d.id, Status.DELIVERED, 100.0) for d in claimed])
        kept = [e.id for e in await outbox.enqueue(items(3, start=100), now=100.0)]  # pending: never purged
        outbox.purge_batch = 3
        done: list[str] = []

        async def purge() -> int:
            n = await outbox.purge(older_than=200.0)
            done.append("purge")
            return n

        async def checkout() -> None:
            await outbox.enqueue(items(1, start=500), now=150.0)
            done.append("checkout")

        purged, _ = await asyncio.gather(purge(), checkout())
        assert purged == 20
        assert done == ["checkout", "purge"]  # the checkout did not wait for seven batches
        assert [await outbox.get(i) for i in old] == [None] * 20
        assert None not in [await outbox.get(i) for i in kept]
    finally:
        await outbox.close()


async def test_checkouts_written_together_succeed_or_fail_each_on_its_own(outbox: Outbox) -> None:
    batches = [items(2, start=10 * n) for n in range(30)]
    batches[7] = [*batches[7][:1], unwritable()]  # not JSON: this checkout alone fails
    batches[12] = items(2, start=0)  # the same deliveries as the first checkout: duplicates
    results = await asyncio.gather(*(outbox.enqueue(b, now=1.0) for b in batches), return_exceptions=True)
    assert isinstance(results[7], TypeError)
    written = [r for n, r in enumerate(results) if n != 7]
    assert all(isinstance(r, list) and len(r) == 2 for r in written)
    assert sorted(e.duplicate for r in written for e in r) == [False] * 56 + [True] * 2
    assert await outbox.counts() == {("fake", Status.PENDING): 56}  # the failed checkout left nothing behind


async def test_a_checkout_of_many_rows_is_written_in_several_statements(tmp_path: Path) -> None:
    outbox = SQLiteOutbox(tmp_path / "outbox.sqlite3")
    try:
        many = items(250)
        first = await outbox.enqueue(many[:120], now=1.0)
        again = await outbox.enqueue([*many, many[3]], now=2.0)
        assert [e.duplicate for e in again] == [True] * 120 + [False] * 130 + [True]
        assert [e.id for e in again[:120]] == [e.id for e in first]
        assert again[-1].id == again[3].id
        assert [e.dedup_key for e in again[:250]] == [i.deliveries[0].dedup_key for i in many]
        assert len({e.id for e in again}) == 250
        assert await outbox.counts() == {("fake", Status.PENDING): 250}
    finally:
        await outbox.close()


async def test_a_group_held_behind_other_work_writes_each_checkout_on_its_own(tmp_path: Path) -> None:
    outbox = SQLiteOutbox(tmp_path / "outbox.sqlite3")
    try:
        await outbox.open()
        release = asyncio.Event()
        loop = asyncio.get_running_loop()
        # the database thread waits here, so every checkout below joins one group
        busy = outbox._thread_now().submit(lambda: asyncio.run_coroutine_threadsafe(release.wait(), loop).result(), 0)
        batches = [items(3, start=10 * n) for n in range(20)]
        batches[5] = [*batches[5][:2], unwritable()]  # not JSON
        batches[9] = [*batches[9][:2], new_order("bad", None)]  # type: ignore[arg-type]  # the database refuses it
        batches[14] = [*batches[14], *batches[3]]  # an earlier checkout of the same group again: duplicates
        pending = [asyncio.ensure_future(outbox.enqueue(b, now=1.0)) for b in batches]
        await asyncio.sleep(0)
        release.set()
        await busy
        results = await asyncio.gather(*pending, return_exceptions=True)
        assert isinstance(results[5], TypeError)
        assert isinstance(results[9], OutboxError)
        for n, result in enumerate(results):
            if n not in (5, 9):
                assert isinstance(result, list)
                assert [e.dedup_key for e in result] == [d.dedup_key for i in batches[n] for d in i.deliveries]
                assert [e.duplicate for e in result] == [False] * 3 + [True] * (len(result) - 3)
        written = results[3]
        assert isinstance(written, list)
        assert [e.id for e in results[14][3:]] == [e.id for e in written]  # type: ignore[index]
        assert await outbox.counts() == {("fake", Status.PENDING): 54}
    finally:
        await outbox.close()
