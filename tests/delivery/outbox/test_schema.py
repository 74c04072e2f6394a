"""Schema versions: an outbox written by the previous schema opens and migrates forward; a newer one is refused;
with ``migrate=False`` the operator migrates explicitly with ``attribution migrate``."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from pathlib import Path

import httpx2
import psycopg
import pytest

from attribution.cli import main
from attribution.delivery.outbox.base import Outbox, Status
from attribution.delivery.outbox.choose import outbox_from
from attribution.delivery.outbox.postgres import PostgresOutbox
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from attribution.delivery.worker import Worker
from attribution.errors import OutboxError
from tests.support.backends import assert_exact
from tests.support.delivery_fakes import FAST, FakeVendor, claim_one, items, new_order

# The SQLite schema 1 exactly as the first release wrote it (PRAGMA user_version = 1).
SQLITE_SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    vendor TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    batch_key TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    locked_by TEXT,
    last_error TEXT,
    answer TEXT,
    order_id TEXT NOT NULL DEFAULT '',
    event TEXT NOT NULL DEFAULT '',
    UNIQUE (vendor, dedup_key)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (vendor, next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS deliveries_updated ON deliveries (status, updated_at);
CREATE TABLE IF NOT EXISTS attempts (
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    at REAL NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    worker TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id);
PRAGMA user_version = 1;
INSERT INTO deliveries (vendor, dedup_key, payload, status, created_at, updated_at, next_attempt_at, order_id)
    VALUES ('fake', 'o0', '{"event_id":"o0","value":0}', 'pending', 1.0, 1.0, 1.0, 'o0');
"""


def schema_1_file(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(SQLITE_SCHEMA_1)
    conn.close()
    return path


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


async def test_a_schema_1_sqlite_file_opens_migrated_with_its_deliveries(tmp_path: Path) -> None:
    path = schema_1_file(tmp_path / "old.sqlite3")
    box = SQLiteOutbox(path)
    try:
        [d] = await claim_one(box, "A", "fake", 5, now=2.0, lease=5.0)
        assert (d.dedup_key, d.payload, d.attempts) == ("o0", {"event_id": "o0", "value": 0}, 1)
        await box.pause("fake", until=50.0)  # schema 2's table
        assert await box.paused(now=3.0) == {"fake": 50.0}
        [again] = await box.enqueue(items(1), now=4.0)
        assert again.duplicate
    finally:
        await box.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 6


async def test_with_migrate_off_an_old_schema_waits_for_attribution_migrate(tmp_path: Path) -> None:
    path = schema_1_file(tmp_path / "old.sqlite3")
    box = SQLiteOutbox(path, migrate=False)
    with pytest.raises(OutboxError, match=r"schema 1, older .* run `attribution migrate`"):
        await box.counts()
    await box.close()
    assert await asyncio.to_thread(run, "--outbox", str(path), "migrate") == (0, "outbox schema 1 -> 6\n")
    assert await asyncio.to_thread(run, "--outbox", str(path), "migrate") == (0, "outbox schema 6: up to date\n")
    box = SQLiteOutbox(path, migrate=False)
    try:
        assert await box.counts() == {("fake", Status.PENDING): 1}
    finally:
        await box.close()


async def test_postgres_with_migrate_off_waits_for_attribution_migrate(postgres_url: str) -> None:
    box = PostgresOutbox(postgres_url, migrate=False)
    with pytest.raises(OutboxError, match=r"no outbox in .*: run `attribution migrate` to create one"):
        await box.open()
    assert await asyncio.to_thread(run, "--outbox", postgres_url, "migrate") == (0, "outbox schema 0 -> 5\n")
    try:
        await box.open()
        assert await box.enqueue(items(1), now=0.0) != []
    finally:
        await box.close()


async def test_an_outbox_written_by_a_newer_release_is_refused(outbox: Outbox, outbox_spec: str) -> None:
    await outbox.enqueue(items(1), now=0.0)
    await outbox.close()
    if isinstance(outbox, SQLiteOutbox):
        sqlite3.connect(outbox.path).execute("PRAGMA user_version = 99")
    else:
        with psycopg.connect(outbox_spec, autocommit=True) as conn:
            conn.execute("UPDATE attribution_schema SET version = 99")
    newer = outbox_from(outbox_spec)
    try:
        with pytest.raises(OutboxError, match=r"schema 99, written by a newer asgi-attribution .* upgrade"):
            await newer.counts()
        with pytest.raises(OutboxError, match="newer"):
            await newer.migrate()
    finally:
        await newer.close()


# Deliveries in every status, as a release before the kept counts stored them.
OLD_ROWS = [
    (vendor, f"{vendor}{i}", status, float(i))
    for vendor, statuses in (("fake", ["pending", "sending", "delivered", "delivered", "dead"]), ("other", ["dry_run"]))
    for i, status in enumerate(statuses)
]
OLD_COUNTS = {
    ("fake", Status.PENDING): 1,
    ("fake", Status.SENDING): 1,
    ("fake", Status.DELIVERED): 2,
    ("fake", Status.DEAD): 1,
    ("other", Status.DRY_RUN): 1,
}

# Two checkouts, then a claim of everything due: the pending ones and the one whose lease ran out.
AFTER_CLAIM = {k: n for k, n in OLD_COUNTS.items() if k[1] != Status.PENDING} | {("fake", Status.SENDING): 4}


async def migrates_with_its_counts(box: Outbox, versions: tuple[int, int]) -> None:
    """The old rows are counted by the migration, and the changes after it are counted as they happen."""
    try:
        assert await box.migrate() == versions
        assert await assert_exact(box) == OLD_COUNTS
        await box.enqueue(items(2), now=10.0)
        await claim_one(box, "A", "fake", 5, now=11.0, lease=5.0)
        assert await assert_exact(box) == AFTER_CLAIM
    finally:
        await box.close()


async def test_a_schema_2_sqlite_file_gets_its_counts_on_migrating(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(SQLITE_SCHEMA_1.split("PRAGMA user_version")[0])  # its tables, without its row
    conn.executescript(
        "CREATE TABLE vendor_pauses (vendor TEXT PRIMARY KEY, until REAL NOT NULL); PRAGMA user_version = 2;"
    )
    conn.executemany(
        "INSERT INTO deliveries (vendor, dedup_key, payload, status, created_at, updated_at, next_attempt_at)"
        " VALUES (?, ?, '{}', ?, ?, ?, 0.0)",
        [(v, k, st, at, at) for v, k, st, at in OLD_ROWS],
    )
    conn.commit()
    conn.close()
    await migrates_with_its_counts(SQLiteOutbox(path), (2, 6))


async def test_a_schema_1_postgres_database_gets_its_counts_on_migrating(postgres_url: str) -> None:
    from attribution.delivery.outbox.postgres import Q

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(Q["migration_1"])
        conn.execute(
            "CREATE TABLE attribution_schema (version INTEGER NOT NULL); INSERT INTO attribution_schema VALUES (1)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO attribution_deliveries (vendor, dedup_key, payload, status, created_at, updated_at,"
                " next_attempt_at) VALUES (%s, %s, '{}', %s, %s, %s, 0.0)",
                [(v, k, st, at, at) for v, k, st, at in OLD_ROWS],
            )
    await migrates_with_its_counts(PostgresOutbox(postgres_url), (1, 5))


LEGACY_PAYLOAD = {"event_id": "old-1", "value": "12.50", "email": "kept@example.com"}


async def sends_what_it_stored(box: Outbox) -> None:
    """A delivery queued before order records kept its finished event: the worker sends it byte for byte, and a
    checkout after the migration records an order beside it."""
    seen: list[dict[str, object]] = []

    def vendor(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json={"id": "v1"})

    try:
        await box.enqueue([new_order("new-1", "fake", value=3)], now=time.time())
        await Worker(box, [FakeVendor()], transport=httpx2.MockTransport(vendor), policy=FAST).run_until_idle()
        assert seen[0] == LEGACY_PAYLOAD
        assert seen[1]["event_id"] == "new-1"
        assert await box.counts() == {("fake", Status.DELIVERED): 2}
        found = await box.order("new-1", "purchase")
        assert found is not None
        assert found[0].value == 3
    finally:
        await box.close()


async def test_a_schema_3_sqlite_file_sends_its_queued_deliveries_and_records_new_orders(tmp_path: Path) -> None:
    from attribution.delivery.outbox.sqlite_schema import Q, statements

    path = tmp_path / "previous.sqlite3"
    conn = sqlite3.connect(path)
    for version in (1, 2, 3):  # the file as the release before order records wrote it
        for statement in statements(Q[f"migration_{version}"]):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute(
        "INSERT INTO deliveries (vendor, dedup_key, payload, status, created_at, updated_at, next_attempt_at,"
        " order_id, event) VALUES ('fake', 'purchase:old-1', ?, 'pending', 1.0, 1.0, 1.0, 'old-1', 'purchase')",
        [json.dumps(LEGACY_PAYLOAD)],
    )
    conn.commit()
    conn.close()
    await sends_what_it_stored(SQLiteOutbox(path))


async def test_a_schema_2_postgres_database_sends_its_queued_deliveries_and_records_new_orders(
    postgres_url: str,
) -> None:
    from attribution.delivery.outbox.postgres import Q

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(Q["migration_1"])
        conn.execute(Q["migration_2"])
        conn.execute("CREATE TABLE attribution_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO attribution_schema VALUES (2)")
        conn.execute(
            "INSERT INTO attribution_deliveries (vendor, dedup_key, payload, status, created_at, updated_at,"
            " next_attempt_at, order_id, event) VALUES ('fake', 'purchase:old-1', %s, 'pending', 1.0, 1.0, 1.0,"
            " 'old-1', 'purchase')",
            [json.dumps(LEGACY_PAYLOAD)],
        )
    await sends_what_it_stored(PostgresOutbox(postgres_url))


async def test_an_order_recorded_in_layout_1_is_sent_as_checkout_built_it(outbox: Outbox) -> None:
    """Order records written before layout 2 (the attribution in the cookie's compact form) still decode: the worker
    sends the request checkout would have built, on both backends."""
    from attribution.delivery.outbox.base import NewDelivery, NewOrder
    from attribution.orders.record import OrderRecord
    from tests.vendors.test_contract import SAMPLES, everything, layout_1

    saved, vendor = layout_1(), SAMPLES["meta"]()
    assert saved.data is not None
    assert saved.identifiers is not None
    conversion = everything()
    record = OrderRecord(
        saved.order_id,
        saved.event,
        conversion.event_time,
        saved.value,
        saved.currency,
        json.loads(saved.data),
        json.loads(saved.identifiers),
    )
    await outbox.enqueue([NewOrder(record, (NewDelivery("meta", conversion.dedup_id),))], now=time.time())
    seen: list[bytes] = []

    def meta(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.content)
        return httpx2.Response(200, json={"events_received": 1, "fbtrace_id": "A1"})

    await Worker(outbox, [vendor], transport=httpx2.MockTransport(meta), policy=FAST).run_until_idle()
    assert seen == [vendor.build_request([vendor.payload(conversion)]).content]
    assert await outbox.counts() == {("meta", Status.DELIVERED): 1}


async def orders_found_without_the_order_index(box: Outbox) -> None:
    """An outbox as schema 5 (SQLite) or 4 (PostgreSQL) left it, with an order and its deliveries: migrated, each
    order's deliveries are still found (on the report index, which starts with the order's row)."""
    try:
        found = await box.order("o1", "purchase")
        assert found is not None
        assert sorted(d.vendor for d in found[1]) == ["fake", "meta"]
        [again] = await box.enqueue([new_order("o2", "fake")], now=3.0)
        assert not again.duplicate
    finally:
        await box.close()


async def test_a_schema_5_sqlite_file_drops_the_order_index_and_still_finds_each_orders_deliveries(
    tmp_path: Path,
) -> None:
    from attribution.delivery.outbox.sqlite_schema import Q, statements

    path = tmp_path / "schema5.sqlite3"
    conn = sqlite3.connect(path)
    for version in range(1, 6):
        for statement in statements(Q[f"migration_{version}"]):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()

    def indexes() -> set[str]:
        with sqlite3.connect(path) as db:
            return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}

    assert "deliveries_order" in indexes()
    box = SQLiteOutbox(path, migrate=False)
    assert await box.migrate() == (5, 6)
    await box.enqueue([new_order("o1", "fake", "meta")], now=1.0)
    await box.close()
    assert "deliveries_order" not in indexes()
    assert "deliveries_report" in indexes()
    await orders_found_without_the_order_index(SQLiteOutbox(path))


async def test_a_schema_4_postgres_database_drops_the_order_index_and_still_finds_each_orders_deliveries(
    postgres_url: str,
) -> None:
    from attribution.delivery.outbox.postgres import Q

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for version in range(1, 5):
            conn.execute(Q[f"migration_{version}"])
        conn.execute("CREATE TABLE attribution_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO attribution_schema VALUES (4)")
        before = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'attribution_deliveries'")
        }
    assert "attribution_deliveries_order" in before
    box = PostgresOutbox(postgres_url)
    assert await box.migrate() == (4, 5)
    await box.enqueue([new_order("o1", "fake", "meta")], now=1.0)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        after = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'attribution_deliveries'")
        }
    assert "attribution_deliveries_order" not in after
    assert "attribution_deliveries_report" in after
    await orders_found_without_the_order_index(box)
