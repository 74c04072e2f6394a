"""``counts`` is kept as rows change instead of counted from the history: it must stay exact through every way a
delivery moves, on both backends. On PostgreSQL, concurrent checkouts must not wait for each other to keep it."""

from __future__ import annotations

import logging

import psycopg
import pytest

from attribution.delivery.outbox.base import Finish, Outbox, Status
from attribution.delivery.outbox.postgres import PostgresOutbox
from tests.support.backends import assert_exact
from tests.support.delivery_fakes import claim_one, items


async def test_counts_stay_exact_through_every_move(outbox: Outbox) -> None:
    await outbox.enqueue(items(6) + items(2, "other"), now=1.0)
    await outbox.enqueue(items(3), now=1.5)  # duplicates change nothing
    assert await assert_exact(outbox) == {("fake", Status.PENDING): 6, ("other", Status.PENDING): 2}

    a, b, c, d, e, f = await claim_one(outbox, "A", "fake", 6, now=2.0, lease=10.0)
    assert await assert_exact(outbox) == {("fake", Status.SENDING): 6, ("other", Status.PENDING): 2}

    applied = await outbox.finish(
        "A",
        [
            Finish(a.id, Status.DELIVERED, 3.0, answer="ok"),
            Finish(b.id, Status.DELIVERED, 3.0, answer="ok"),
            Finish(c.id, Status.PENDING, 3.0, next_attempt_at=4.0, error="HTTP 503"),
            Finish(d.id, Status.DEAD, 3.0, error="HTTP 400"),
            Finish(e.id, Status.DRY_RUN, 3.0, answer="{}"),
            Finish(f.id, Status.PENDING, 3.0, next_attempt_at=3.0, released=True),
        ],
    )
    assert applied == 6
    assert await assert_exact(outbox) == {
        ("fake", Status.DELIVERED): 2,
        ("fake", Status.PENDING): 2,
        ("fake", Status.DEAD): 1,
        ("fake", Status.DRY_RUN): 1,
        ("other", Status.PENDING): 2,
    }

    assert await outbox.retry(dead=True, now=5.0) == 1
    assert await outbox.retry(ids=[e.id, a.id], now=5.0) == 1  # a delivered one stays delivered
    assert await assert_exact(outbox) == {
        ("fake", Status.DELIVERED): 2,
        ("fake", Status.PENDING): 4,
        ("other", Status.PENDING): 2,
    }

    assert await outbox.purge(older_than=4.0) == 2
    assert await assert_exact(outbox) == {("fake", Status.PENDING): 4, ("other", Status.PENDING): 2}


async def test_counts_stay_exact_when_a_lease_expires_and_another_worker_takes_over(outbox: Outbox) -> None:
    await outbox.enqueue(items(3), now=0.0)
    held = await claim_one(outbox, "A", "fake", 3, now=1.0, lease=5.0)
    taken = await claim_one(outbox, "B", "fake", 3, now=10.0, lease=5.0)  # A's lease ran out
    assert sorted(x.id for x in taken) == sorted(x.id for x in held)
    assert await assert_exact(outbox) == {("fake", Status.SENDING): 3}
    # A comes back late: nothing of its result applies, and the counts do not move.
    assert await outbox.finish("A", [Finish(x.id, Status.DELIVERED, 11.0) for x in held]) == 0
    assert await assert_exact(outbox) == {("fake", Status.SENDING): 3}
    assert await outbox.finish("B", [Finish(x.id, Status.DEAD, 12.0, error="HTTP 400") for x in taken]) == 3
    assert await assert_exact(outbox) == {("fake", Status.DEAD): 3}


async def test_oldest_waiting_and_last_errors_per_vendor(outbox: Outbox) -> None:
    await outbox.enqueue(items(2), now=10.0)
    await outbox.enqueue(items(1, start=2), now=20.0)
    await outbox.enqueue(items(1, "other"), now=30.0)
    await outbox.enqueue(items(1, "idle"), now=5.0)
    first, second, _ = await claim_one(outbox, "A", "fake", 3, now=40.0, lease=5.0)
    [idle] = await claim_one(outbox, "A", "idle", 1, now=40.0, lease=5.0)
    await outbox.finish(
        "A",
        [
            Finish(first.id, Status.DEAD, 41.0, error="HTTP 400"),
            Finish(second.id, Status.PENDING, 42.0, next_attempt_at=50.0, error="HTTP 503"),
            Finish(idle.id, Status.DELIVERED, 43.0, answer="ok"),
        ],
    )
    # "fake": the retry waiting (queued at 10) is older than the one still sending (queued at 20).
    assert await outbox.oldest_waiting(["fake", "other", "idle", "none"]) == {"fake": 10.0, "other": 30.0}
    errors = await outbox.last_errors(["fake", "other", "idle"])
    assert {v: (x.id, x.status, x.last_error) for v, x in errors.items()} == {
        "fake": (second.id, Status.PENDING, "HTTP 503")
    }


async def test_postgres_checkouts_in_open_transactions_do_not_wait_for_each_other(postgres_url: str) -> None:
    box = PostgresOutbox(postgres_url)
    try:
        async with (
            await psycopg.AsyncConnection.connect(postgres_url) as first,
            await psycopg.AsyncConnection.connect(postgres_url) as second,
        ):
            # Had every checkout updated one shared (vendor, status) total, the second would wait on the first's
            # row lock until it commits: with this lock timeout it fails instead of waiting.
            await second.execute("SET lock_timeout = '200ms'")
            await box.enqueue_with(first, items(1), now=0.0)
            await box.enqueue_with(second, items(1, start=1), now=0.0)
            await second.commit()
            assert await box.counts() == {("fake", Status.PENDING): 1}
            await first.commit()
        assert await box.counts() == {("fake", Status.PENDING): 2}
        assert await box.fold_counts() == 2
        assert await box.counts() == {("fake", Status.PENDING): 2}
    finally:
        await box.close()


@pytest.mark.parametrize("batch", [1, 3])
async def test_postgres_folding_in_small_transactions_keeps_counts_exact(postgres_url: str, batch: int) -> None:
    box = PostgresOutbox(postgres_url)
    box.fold_batch = batch
    try:
        for start in range(0, 10, 2):
            await box.enqueue(items(2, start=start), now=0.0)
        claimed = await claim_one(box, "A", "fake", 4, now=1.0, lease=5.0)
        assert await box.fold_counts() == 7  # five checkouts, and a claim moving rows from pending to sending
        await box.finish("A", [Finish(x.id, Status.DELIVERED, 2.0) for x in claimed])
        assert await assert_exact(box) == {("fake", Status.PENDING): 6, ("fake", Status.DELIVERED): 4}
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            cur = await conn.execute("SELECT count(*) FROM attribution_count_changes")
            assert await cur.fetchone() == (0,)
    finally:
        await box.close()


async def test_postgres_results_are_recorded_when_folding_the_counts_fails(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    box = PostgresOutbox(postgres_url)
    try:
        await box.enqueue(items(2), now=0.0)
        claimed = await claim_one(box, "A", "fake", 2, now=1.0, lease=5.0)
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
            await conn.execute("ALTER TABLE attribution_counts RENAME TO attribution_counts_away")
            box._last_fold = 0.0  # due for a fold
            with caplog.at_level(logging.WARNING, logger="attribution.outbox"):
                assert await box.finish("A", [Finish(x.id, Status.DELIVERED, 2.0) for x in claimed]) == 2
            assert "folding the count changes failed" in caplog.text
            await conn.execute("ALTER TABLE attribution_counts_away RENAME TO attribution_counts")
        assert await assert_exact(box) == {("fake", Status.DELIVERED): 2}
    finally:
        await box.close()
