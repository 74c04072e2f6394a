"""The outbox on PostgreSQL, for sites on several machines: ``pip install 'asgi-attribution[postgres]'``.

Any number of web and worker processes on any number of machines share one database:

- ``enqueue`` is one ``INSERT ... ON CONFLICT (vendor, dedup_key) DO NOTHING``, committed (and so durable) when
  it returns; ``enqueue_with`` runs it on the site's own connection, in the order's own transaction.
- ``claim`` takes rows with ``FOR UPDATE SKIP LOCKED`` under a lease: no two workers hold one delivery, and a dead
  worker's deliveries are taken over when its lease expires.
- A commit that enqueued deliveries sends ``NOTIFY``; ``watch`` listens, so idle workers start at once.
- Vendor pauses (429, Retry-After) live in a table every worker reads at each claim.
- ``counts`` reads per-(vendor, status) totals plus a log of recent changes that triggers append (insert-only,
  so concurrent checkouts never wait for one another on a shared counter); workers fold the log into the totals
  about once a second after recording results, and after a purge (``fold_counts``).
- After a database restart, pooled connections that broke are dropped and the operation is tried once more on a
  fresh one; the listener reconnects by itself.

Every statement is in ``postgres.sql``, next to this module.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ...errors import ConfigurationError, OutboxError
from ...orders.record import micros
from . import corrections, queries
from .base import (
    TERMINAL,
    Attempt,
    Change,
    Confirmed,
    Delivery,
    Enqueued,
    Finish,
    NewOrder,
    Outbox,
    Status,
    StoredOrder,
    VendorCorrection,
)

T = TypeVar("T")
log = logging.getLogger("attribution.outbox")

SCHEMA_VERSION = 5
"""Recorded in the ``attribution_schema`` table; ``open`` migrates an older database forward."""


Q = queries.load("postgres.sql")

Connection = psycopg.AsyncConnection[Any]


def _row(
    row: DictRow,
    history: tuple[Attempt, ...] = (),
    order: StoredOrder | None = None,
    original: tuple[str, float] | None = None,
) -> Delivery:
    return Delivery(
        id=row["id"],
        vendor=row["vendor"],
        dedup_key=row["dedup_key"],
        batch_key=row["batch_key"],
        payload=row["payload"],
        status=Status(row["status"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_attempt_at=row["next_attempt_at"],
        locked_by=row["locked_by"],
        last_error=row["last_error"],
        answer=row["answer"],
        order_id=row["order_id"],
        event=row["event"],
        history=history,
        kind=row["kind"],
        hold_until=row["hold_until"],
        order=order,
        confirm_ref=row["confirm_ref"],
        confirm_at=row["confirm_at"],
        original_status=None if original is None else Status(original[0]),
        original_due=None if original is None else original[1],
    )


def _order(row: DictRow) -> StoredOrder:
    return StoredOrder(
        row=row["id"],
        order_id=row["order_id"],
        event=row["event"],
        value=None if row["value"] is None else Decimal(row["value"]),
        currency=row["currency"],
        status=row["status"],
        data=row["data"],
        identifiers=row["identifiers"],
    )


def _describe(exc: psycopg.Error) -> str:
    # Connection failures say where and why; other messages may quote a value from a row, so only their class.
    if isinstance(exc, psycopg.OperationalError) and not exc.sqlstate:
        return str(exc).strip().splitlines()[0]
    return f"{type(exc).__name__} (SQLSTATE {exc.sqlstate})"


class PostgresOutbox(Outbox):
    """The outbox in PostgreSQL tables named ``attribution_*``, in the database (and search path) of ``url``.

    Args:
        url: a libpq connection string or URL, e.g. ``postgresql://shop@db.internal/shop``.
        pool_size: the most connections this process opens (the listener takes one more while a worker runs).
        connect_timeout: seconds to wait for a pooled connection (or for the database to come back) before an
            operation fails with ``OutboxError``.
        migrate: bring an older schema up to date on ``open`` (the default). With False, ``open`` refuses an
            older schema and says to run ``attribution migrate``.
        purge_batch: rows deleted per transaction by ``purge``.
    """

    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        connect_timeout: float = 10.0,
        migrate: bool = True,
        purge_batch: int = 1000,
    ) -> None:
        self.url = url
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.auto_migrate = migrate
        self.purge_batch = purge_batch
        self.fold_batch = 10_000
        """Logged count changes moved into the totals per transaction by ``fold_counts``."""
        self._last_fold = 0.0
        self._pool: AsyncConnectionPool | None = None
        self._opening = asyncio.Lock()

    @functools.cached_property
    def _conninfo(self) -> dict[str, Any] | None:
        """The URL's parts, parsed once (None for a URL psycopg cannot read: connecting says why)."""
        try:
            return conninfo_to_dict(self.url)
        except psycopg.ProgrammingError:
            return None

    def __repr__(self) -> str:
        # Never the password: host, port and database only.
        parts = self._conninfo
        if parts is None:
            return "PostgresOutbox(<invalid url>)"
        where = f"{parts.get('host', '')}{':' + str(parts['port']) if parts.get('port') else ''}"
        return f"PostgresOutbox('postgresql://{where}/{parts.get('dbname', '')}')"

    def _check_database(self, connection: psycopg.Connection[Any] | Connection) -> None:
        """The caller's connection must be on the outbox's database: rows written anywhere else would wait
        where no worker looks."""
        wanted = self._conninfo.get("dbname") if self._conninfo is not None else None
        found = connection.info.dbname
        if wanted and found and wanted != found:
            raise ConfigurationError(
                f"the connection is to database {found!r} but the outbox is in {wanted!r}: write the order and "
                "its conversions in the outbox's database (one transaction cannot span two), or point the "
                "outbox at the order's"
            )

    # -- plumbing --------------------------------------------------------------------------------------

    async def _connect(self) -> Connection:
        """A connection of its own (migrations, the listener), given up after ``connect_timeout``."""
        return await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=max(1, round(self.connect_timeout))
        )

    async def open(self) -> None:
        await self._open()

    async def _open(self) -> AsyncConnectionPool:
        async with self._opening:
            if self._pool is not None:
                return self._pool
            try:
                async with await self._connect() as conn:
                    await self._migrate(conn, apply=self.auto_migrate)
            except psycopg.Error as exc:
                raise OutboxError(f"outbox {self!r} could not be opened: {_describe(exc)}") from exc
            pool = AsyncConnectionPool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                kwargs={"autocommit": True, "connect_timeout": max(1, round(self.connect_timeout))},
                timeout=self.connect_timeout,
                name="attribution-outbox",
                open=False,
            )
            await pool.open()
            self._pool = pool
            return pool

    async def close(self) -> None:
        async with self._opening:
            pool, self._pool = self._pool, None
        # A closed outbox may be opened again from another event loop (test clients run one per app).
        self._opening = asyncio.Lock()
        if pool is not None:
            await pool.close()

    async def migrate(self) -> tuple[int, int]:
        """Bring the schema up to date now. Returns (version found, version now)."""
        try:
            async with await self._connect() as conn:
                return await self._migrate(conn, apply=True)
        except psycopg.Error as exc:
            raise OutboxError(f"outbox {self!r} could not be migrated: {_describe(exc)}") from exc

    async def _migrate(self, conn: Connection, *, apply: bool) -> tuple[int, int]:
        async with conn.transaction():
            cur = conn.cursor()
            await cur.execute(Q["schema_lock"])
            await cur.execute(Q["schema_table"])
            await cur.execute(Q["schema_version"])
            found = (await cur.fetchone() or (0,))[0]
            if found > SCHEMA_VERSION:
                raise OutboxError(
                    f"outbox {self!r} has schema {found}, written by a newer asgi-attribution (this one knows "
                    f"schema {SCHEMA_VERSION}): upgrade asgi-attribution"
                )
            if found == 0 and not apply:
                raise OutboxError(f"no outbox in {self!r}: run `attribution migrate` to create one")
            if found < SCHEMA_VERSION and not apply:
                raise OutboxError(
                    f"outbox {self!r} has schema {found}, older than this asgi-attribution's {SCHEMA_VERSION}: "
                    "run `attribution migrate`"
                )
            for version in range(found + 1, SCHEMA_VERSION + 1):
                await cur.execute(Q[f"migration_{version}"])
            if found != SCHEMA_VERSION:
                await cur.execute(Q["schema_set_version"], {"version": SCHEMA_VERSION})
            return found, SCHEMA_VERSION

    async def _run(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection. A connection broken by a database restart is dropped and ``fn`` runs
        once more on a fresh one. Every statement here may run twice: writes are idempotent or owner-checked, and a
        claim whose answer was lost only holds its rows until their lease expires."""
        pool = await self._open()
        for attempt in (1, 2):
            try:
                async with pool.connection() as conn:
                    return await fn(conn)
            except PoolTimeout as exc:  # the database stayed out of reach for connect_timeout: waiting again won't help
                raise OutboxError(f"outbox {self!r}: no database connection within {self.connect_timeout:g}s") from exc
            except psycopg.OperationalError as exc:
                if attempt == 2 or (exc.sqlstate is not None and not exc.sqlstate.startswith(("08", "57"))):
                    raise OutboxError(f"outbox {self!r} failed: {_describe(exc)}") from exc
                log.warning("outbox %r: lost the database connection; retrying on a fresh one", self)
                await pool.check()
            except psycopg.Error as exc:
                raise OutboxError(f"outbox {self!r} failed: {_describe(exc)}") from exc
        raise AssertionError("unreachable")

    # -- the contract ----------------------------------------------------------------------------------

    async def enqueue(self, orders: Sequence[NewOrder], *, now: float) -> list[Enqueued]:
        attempts = 0

        async def work(conn: Connection) -> list[Enqueued]:
            nonlocal attempts
            attempts += 1
            async with conn.transaction():
                return await _enqueue(conn, orders, now, retried=attempts > 1)

        return await self._run(work)

    async def enqueue_with(self, connection: Any, orders: Sequence[NewOrder], *, now: float) -> list[Enqueued]:
        if not isinstance(connection, psycopg.AsyncConnection):
            raise TypeError(f"connection must be a psycopg AsyncConnection, not {type(connection).__name__}")
        self._check_database(connection)
        await self._open()  # the schema must exist; the write itself is the caller's
        try:
            return await _enqueue(connection, orders, now)
        except psycopg.Error as exc:
            raise OutboxError(f"outbox {self!r}: writing in the caller's transaction failed: {_describe(exc)}") from exc

    def enqueue_with_sync(self, connection: Any, orders: Sequence[NewOrder], *, now: float) -> list[Enqueued]:
        """``enqueue_with`` for synchronous code: a psycopg ``Connection`` (Django's ``connection.connection``),
        in its current transaction. The tables must exist: the app's tracker opened the outbox when it
        started, or ``attribution migrate`` ran."""
        if not isinstance(connection, psycopg.Connection):
            kind = f"{type(connection).__module__}.{type(connection).__qualname__}"
            raise TypeError(
                f"connection must be a psycopg (3) Connection, not {kind}: Django's postgresql backend uses one "
                "when psycopg 3 is installed (psycopg2 connections cannot be written through)"
            )
        self._check_database(connection)
        try:
            return _enqueue_sync(connection, orders, now)
        except psycopg.errors.UndefinedTable as exc:
            raise OutboxError(
                f"outbox {self!r}: its tables are not in the connection's database: start the tracker with the app "
                "(it creates them), or run `attribution migrate` against this database"
            ) from exc
        except psycopg.Error as exc:
            raise OutboxError(f"outbox {self!r}: writing in the caller's transaction failed: {_describe(exc)}") from exc

    async def correct(
        self, order_id: str, event: str, change: Change, *, now: float
    ) -> builtins.list[VendorCorrection] | None:
        async def work(conn: Connection) -> list[VendorCorrection] | None:
            async with conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(Q["order_for_update"], {"order_id": order_id, "event": event})
                found = await cur.fetchone()
                if found is None:
                    return None
                order = _order(found)
                await cur.execute(Q["order_deliveries"], {"row": order.row})
                plan = corrections.plan_for(change, order, _stored(await cur.fetchall()))
                queued: dict[str, int] = {}
                for name, params in corrections.statements(plan, order, now):
                    await cur.execute(Q[name], params)
                    if name == "queue_correction" and (row := await cur.fetchone()) is not None:
                        queued[params["vendor"]] = row["id"]
                if queued:
                    await cur.execute(Q["notify"])
            return corrections.answered(plan, queued)

        return await self._run(work)

    def correct_with_sync(
        self, connection: Any, order_id: str, event: str, change: Change, *, now: float
    ) -> builtins.list[VendorCorrection] | None:
        cur = self._sync_connection(connection).cursor(row_factory=dict_row)
        cur.execute(Q["order_for_update"], {"order_id": order_id, "event": event})
        found = cur.fetchone()
        if found is None:
            return None
        order = _order(found)
        cur.execute(Q["order_deliveries"], {"row": order.row})
        plan = corrections.plan_for(change, order, _stored(cur.fetchall()))
        queued: dict[str, int] = {}
        for name, params in corrections.statements(plan, order, now):
            cur.execute(Q[name], params)
            if name == "queue_correction" and (row := cur.fetchone()) is not None:
                queued[params["vendor"]] = row["id"]
        if queued:
            cur.execute(Q["notify"])
        return corrections.answered(plan, queued)

    def order_with_sync(
        self, connection: Any, order_id: str, event: str
    ) -> tuple[StoredOrder, builtins.list[Delivery]] | None:
        cur = self._sync_connection(connection).cursor(row_factory=dict_row)
        cur.execute(Q["order"], {"order_id": order_id, "event": event})
        found = cur.fetchone()
        if found is None:
            return None
        order = _order(found)
        cur.execute(Q["order_deliveries"], {"row": order.row})
        return order, [_row(r, order=order) for r in cur.fetchall()]

    def _sync_connection(self, connection: Any) -> psycopg.Connection[Any]:
        if not isinstance(connection, psycopg.Connection):
            kind = f"{type(connection).__module__}.{type(connection).__qualname__}"
            raise TypeError(f"connection must be a psycopg (3) Connection, not {kind}")
        self._check_database(connection)
        return connection

    async def order(self, order_id: str, event: str) -> tuple[StoredOrder, builtins.list[Delivery]] | None:
        async def work(conn: Connection) -> tuple[StoredOrder, list[Delivery]] | None:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(Q["order"], {"order_id": order_id, "event": event})
            found = await cur.fetchone()
            if found is None:
                return None
            order = _order(found)
            await cur.execute(Q["order_deliveries"], {"row": order.row})
            return order, [_row(r, order=order) for r in await cur.fetchall()]

        return await self._run(work)

    def table(self, name: str) -> str:
        return f"attribution_{name}"

    async def select(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        async def work(conn: Connection) -> list[tuple[Any, ...]]:
            async with conn.transaction():
                await conn.execute("SET TRANSACTION READ ONLY")
                # A month's report costs enough to cross the JIT thresholds, and compiling took longer than running
                # it (1.8 s of a time-decay report under load, bench/bench_reports.py): reports run without.
                await conn.execute("SET LOCAL jit = off")
                cur = await conn.execute(sql, list(params))
                return [tuple(row) for row in await cur.fetchall()]

        return await self._run(work)

    async def claim(
        self, worker_id: str, *, limits: Mapping[str, int], now: float, lease: float
    ) -> dict[str, list[Delivery]]:
        wanted = {vendor: limit for vendor, limit in limits.items() if limit > 0}
        if not wanted:
            return {}
        params = {
            "vendors": list(wanted),
            "limits": list(wanted.values()),
            "now": now,
            "until": now + lease,
            "worker": worker_id,
        }

        async def work(conn: Connection) -> tuple[list[DictRow], dict[int, StoredOrder], dict[int, tuple[str, float]]]:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(Q["claim"], params)
            rows = await cur.fetchall()
            return rows, *await _records_of(cur, rows)

        rows, orders, originals = await self._run(work)
        claimed: dict[str, list[Delivery]] = {}
        for row in sorted(rows, key=lambda r: (r["due"], r["id"])):
            order = orders.get(row["order_row"]) if row["order_row"] is not None else None
            claimed.setdefault(row["vendor"], []).append(_row(row, order=order, original=originals.get(row["id"])))
        return claimed

    async def claim_confirmations(
        self, worker_id: str, *, vendors: Sequence[str], now: float, lease: float, limit: int = 1000
    ) -> builtins.list[Delivery]:
        if not vendors:
            return []
        params = {"vendors": list(vendors), "now": now, "until": now + lease, "worker": worker_id, "limit": limit}

        async def work(conn: Connection) -> tuple[list[DictRow], dict[int, StoredOrder], dict[int, tuple[str, float]]]:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(Q["claim_confirmations"], params)
            rows = await cur.fetchall()
            return rows, *await _records_of(cur, rows)

        rows, orders, _ = await self._run(work)
        return [_row(r, order=orders.get(r["order_row"]) if r["order_row"] is not None else None) for r in rows]

    async def confirm(self, worker_id: str, results: Sequence[Confirmed]) -> int:
        if not results:
            return 0
        dead = [r.status == Status.DEAD for r in results]
        params = {
            "worker": worker_id,
            "ids": [r.id for r in results],
            "statuses": [None if r.status is None else r.status.value for r in results],
            "answers": [None if d else r.note for r, d in zip(results, dead, strict=True)],
            "errors": [r.note if d else None for r, d in zip(results, dead, strict=True)],
            "ask_ats": [r.ask_at for r in results],
            "ats": [r.at for r in results],
        }

        async def work(conn: Connection) -> int:
            return (await conn.execute(Q["record_confirmed"], params)).rowcount

        return await self._run(work)

    async def finish(self, worker_id: str, results: Sequence[Finish]) -> int:
        if not results:
            return 0
        params = {
            "worker": worker_id,
            "ids": [r.id for r in results],
            "statuses": [r.status.value for r in results],
            "ats": [r.at for r in results],
            "next_ats": [r.next_attempt_at for r in results],
            "errors": [r.error for r in results],
            "answers": [r.answer for r in results],
            "released": [r.released for r in results],
            "results": ["retry" if r.status == Status.PENDING else r.status.value for r in results],
            "details": [(r.error or r.answer or "")[:2000] for r in results],
            "confirm_refs": [r.confirm_ref for r in results],
            "confirm_ats": [r.confirm_at for r in results],
        }

        async def work(conn: Connection) -> int:
            cur = await conn.execute(Q["finish"], params)
            return cur.rowcount

        applied = await self._run(work)
        if time.monotonic() - self._last_fold > 1.0:
            try:
                await self.fold_counts()
            except OutboxError as exc:  # the results are recorded; the counts stay exact unfolded
                log.warning("outbox %r: folding the count changes failed (%s); trying again later", self, exc)
        return applied

    async def fold_counts(self) -> int:
        """Move the logged count changes into the per-(vendor, status) totals, ``fold_batch`` rows per short
        transaction, so ``counts`` stays a read of a few rows. Workers call it; returns how many were folded."""
        self._last_fold = time.monotonic()

        async def work(conn: Connection) -> int:
            cur = await conn.execute(Q["fold_counts"], {"batch": self.fold_batch})
            row = await cur.fetchone()
            return int(row[0]) if row is not None else 0

        total = 0
        while True:
            folded = await self._run(work)
            total += folded
            if folded < self.fold_batch:
                return total

    async def pause(self, vendor: str, until: float) -> None:
        async def work(conn: Connection) -> None:
            await conn.execute(Q["pause"], {"vendor": vendor, "until": until})

        await self._run(work)

    async def paused(self, *, now: float) -> dict[str, float]:
        async def work(conn: Connection) -> dict[str, float]:
            cur = await conn.execute(Q["paused"], {"now": now})
            return dict(await cur.fetchall())

        return await self._run(work)

    async def next_due(self, vendors: Sequence[str]) -> float | None:
        async def work(conn: Connection) -> float | None:
            cur = await conn.execute(Q["next_due"], {"vendors": list(vendors)})
            row = await cur.fetchone()
            return None if row is None or row[0] is None else float(row[0])

        return await self._run(work) if vendors else None

    async def count_waiting(self, vendors: Sequence[str]) -> int | None:
        async def work(conn: Connection) -> int:
            cur = await conn.execute(Q["count_waiting"], {"vendors": list(vendors)})
            row = await cur.fetchone()
            return int(row[0]) if row is not None else 0

        return await self._run(work)

    async def watch(self, wake: Callable[[], None]) -> None:
        delay = 0.2
        while True:
            try:
                async with await self._connect() as conn:
                    await conn.execute(Q["listen"])
                    delay = 0.2
                    wake()  # whatever was committed while nobody listened
                    async for _ in conn.notifies():
                        wake()
            except psycopg.Error as exc:
                log.warning("outbox %r: listening for new deliveries failed (%s); reconnecting", self, _describe(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def get(self, delivery_id: int) -> Delivery | None:
        async def work(conn: Connection) -> Delivery | None:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(Q["get"], {"id": delivery_id})
            row = await cur.fetchone()
            if row is None:
                return None
            await cur.execute(Q["history"], {"id": delivery_id})
            history = tuple(Attempt(**a) for a in await cur.fetchall())
            order = None
            if row["order_row"] is not None:
                await cur.execute(Q["order_by_row"], {"row": row["order_row"]})
                found = await cur.fetchone()
                order = _order(found) if found is not None else None
            return _row(row, history, order)

        return await self._run(work)

    async def list(
        self,
        *,
        status: Status | None = None,
        vendor: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Delivery]:
        params = {
            "status": Status(status).value if status is not None else None,
            "vendor": vendor,
            "limit": limit,
            "offset": offset,
        }

        async def work(conn: Connection) -> list[Delivery]:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(Q["list"], params)
            return await _with_orders(cur, await cur.fetchall())

        return await self._run(work)

    async def counts(self) -> dict[tuple[str, Status], int]:
        async def work(conn: Connection) -> dict[tuple[str, Status], int]:
            cur = await conn.execute(Q["counts"])
            return {(vendor, Status(status)): n for vendor, status, n in await cur.fetchall()}

        return await self._run(work)

    async def oldest_waiting(self, vendors: Sequence[str]) -> dict[str, float]:
        async def work(conn: Connection) -> dict[str, float]:
            cur = await conn.execute(Q["oldest_waiting"], {"vendors": list(vendors)})
            return {vendor: float(at) for vendor, at in await cur.fetchall()}

        return await self._run(work) if vendors else {}

    async def last_errors(self, vendors: Sequence[str]) -> dict[str, Delivery]:
        async def work(conn: Connection) -> dict[str, Delivery]:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(Q["last_errors"], {"vendors": list(vendors)})
            return {d.vendor: d for d in await _with_orders(cur, await cur.fetchall())}

        return await self._run(work) if vendors else {}

    async def retry(self, *, ids: Sequence[int] = (), dead: bool = False, now: float) -> int:
        id_list = [int(i) for i in ids]

        async def work(conn: Connection) -> int:
            changed = 0
            async with conn.transaction():
                if id_list:
                    changed += (await conn.execute(Q["retry_ids"], {"ids": id_list, "now": now})).rowcount
                if dead:
                    changed += (await conn.execute(Q["retry_dead"], {"now": now})).rowcount
            return changed

        return await self._run(work)

    async def purge(
        self,
        *,
        older_than: float,
        statuses: Sequence[Status] = tuple(TERMINAL),
        orders_older_than: float | None = None,
    ) -> int:
        batch = self.purge_batch
        params = {"statuses": [Status(s).value for s in statuses], "older_than": older_than, "batch": batch}

        async def batches(name: str, values: dict[str, Any]) -> int:
            async def work(conn: Connection) -> int:
                return (await conn.execute(Q[name], values)).rowcount

            total = 0
            while True:
                done = await self._run(work)
                total += done
                if done < batch:
                    return total
                await asyncio.sleep(0)  # let checkouts in this process go first

        total = await batches("purge", params) if params["statuses"] else 0
        await batches("scrub_orders", {"older_than": older_than, "batch": batch})
        if orders_older_than is not None:
            await batches("delete_orders", {"older_than": orders_older_than, "batch": batch})
        await self.fold_counts()
        return total


async def _with_orders(cur: psycopg.AsyncCursor[DictRow], rows: Sequence[DictRow]) -> list[Delivery]:
    """Rows of deliveries with their order records (one read for all): screens mask what the records hold."""
    orders = await _orders_of(cur, rows)
    return [_row(r, order=orders.get(r["order_row"]) if r["order_row"] is not None else None) for r in rows]


def _stored(rows: Sequence[DictRow]) -> list[corrections.Stored]:
    return [corrections.Stored(r["id"], r["vendor"], r["kind"], Status(r["status"])) for r in rows]


async def _records_of(
    cur: psycopg.AsyncCursor[DictRow], rows: Sequence[DictRow]
) -> tuple[dict[int, StoredOrder], dict[int, tuple[str, float]]]:
    """The order records of claimed rows, each once, and where the conversions their corrections correct stand."""
    orders = await _orders_of(cur, rows)
    corrections_wanted = [r["id"] for r in rows if r["kind"] != "send"]
    originals: dict[int, tuple[str, float]] = {}
    if corrections_wanted:
        await cur.execute(Q["originals"], {"ids": corrections_wanted})
        originals = {r["id"]: (r["status"], r["next_attempt_at"]) for r in await cur.fetchall()}
    return orders, originals


async def _orders_of(cur: psycopg.AsyncCursor[DictRow], rows: Sequence[DictRow]) -> dict[int, StoredOrder]:
    wanted = sorted({r["order_row"] for r in rows if r["order_row"] is not None})
    if not wanted:
        return {}
    await cur.execute(Q["claimed_orders"], {"rows": wanted})
    return {r["id"]: _order(r) for r in await cur.fetchall()}


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _order_params(orders: Sequence[NewOrder], now: float) -> dict[str, Any]:
    """The ``enqueue_orders`` statement's parameters: one array per column, one element per order (or touch, skip)."""
    records = [o.record for o in orders]
    touches = [(r, n, t) for r in records for n, t in enumerate(r.journey)]
    skips = [(o.record, vendor, reason) for o in orders for vendor, reason in o.skipped.items()]
    return {
        "now": now,
        "order_ids": [r.order_id for r in records],
        "events": [r.event for r in records],
        "occurred": [r.occurred_at.timestamp() for r in records],
        "values": [None if r.value is None else str(r.value) for r in records],
        "micros": [micros(r.value) for r in records],
        "currencies": [r.currency for r in records],
        "touches": [len(r.journey) for r in records],
        "datas": [_dumps(r.data) for r in records],
        "identifiers": [_dumps(r.identifiers) for r in records],
        "t_order_ids": [r.order_id for r, _, _ in touches],
        "t_events": [r.event for r, _, _ in touches],
        "t_positions": [n for _, n, _ in touches],
        "t_ats": [t.at.timestamp() for _, _, t in touches],
        "t_channels": [t.channel for _, _, t in touches],
        "t_sources": [t.source for _, _, t in touches],
        "t_media": [t.medium for _, _, t in touches],
        "t_campaigns": [t.campaign for _, _, t in touches],
        "t_landings": [t.landing for _, _, t in touches],
        "s_order_ids": [r.order_id for r, _, _ in skips],
        "s_events": [r.event for r, _, _ in skips],
        "s_vendors": [v for _, v, _ in skips],
        "s_reasons": [why for _, _, why in skips],
    }


def _missing_orders(orders: Sequence[NewOrder], recorded: Sequence[tuple[Any, ...]]) -> dict[str, Any] | None:
    """The ``existing_orders`` statement's parameters: the orders recorded before; None if this one recorded all."""
    new = {(order_id, event) for _, order_id, event in recorded}
    missing = [o.record for o in orders if (o.record.order_id, o.record.event) not in new]
    if not missing:
        return None
    return {"order_ids": [r.order_id for r in missing], "events": [r.event for r in missing]}


def _delivery_params(
    orders: Sequence[NewOrder], rows: Mapping[tuple[str, str], int], now: float
) -> dict[str, Any] | None:
    """The ``enqueue`` statement's parameters: one array per column, one element per delivery. None: no delivery."""
    items = [(o.record, d) for o in orders for d in o.deliveries]
    if not items:
        return None
    return {
        "now": now,
        "vendors": [d.vendor for _, d in items],
        "dedup_keys": [d.dedup_key for _, d in items],
        "batch_keys": [d.batch_key for _, d in items],
        "statuses": ["pending" if d.hold_until is None else "held" for _, d in items],
        "next_ats": [now if d.hold_until is None else d.hold_until for _, d in items],
        "d_order_ids": [r.order_id for r, _ in items],
        "d_events": [r.event for r, _ in items],
        "order_rows": [rows[r.order_id, r.event] for r, _ in items],
        "holds": [d.hold_until for _, d in items],
    }


def _lookup_params(orders: Sequence[NewOrder], inserted: Sequence[tuple[Any, ...]]) -> dict[str, Any] | None:
    """The ``existing`` statement's parameters: the keys the insert skipped, already stored. None if it skipped none."""
    new = {(vendor, key) for _, vendor, key in inserted}
    missing = [d for o in orders for d in o.deliveries if (d.vendor, d.dedup_key) not in new]
    if not missing:
        return None
    return {"vendors": [d.vendor for d in missing], "dedup_keys": [d.dedup_key for d in missing]}


def _enqueued(
    orders: Sequence[NewOrder],
    rows: Mapping[tuple[str, str], int],
    inserted: Sequence[tuple[Any, ...]],
    existing: Sequence[tuple[Any, ...]],
    *,
    now: float,
    retried: bool,
) -> list[Enqueued]:
    """What became of each delivery: new if this checkout wrote its row, else a duplicate of the row stored.

    ``inserted``: the rows the insert returned (id, vendor, dedup key). ``existing``: the rows it skipped (id,
    vendor, dedup key, created at). ``retried``: a first attempt may have committed before its connection was lost,
    so a skipped row created at this very ``now`` is this checkout's own, new to the caller, not a duplicate of an
    earlier checkout. A delivery repeating an earlier one's key is a duplicate of that one's row."""
    fresh: dict[tuple[str, str], int] = {(vendor, key): row_id for row_id, vendor, key in inserted}
    known: dict[tuple[str, str], int] = {}
    for row_id, vendor, key, created_at in existing:
        (fresh if retried and created_at == now else known)[vendor, key] = row_id
    out = []
    for order in orders:
        row = rows[order.record.order_id, order.record.event]
        for d in order.deliveries:
            key = (d.vendor, d.dedup_key)
            if key in fresh:
                out.append(Enqueued(fresh.pop(key), d.vendor, d.dedup_key, duplicate=False, order_row=row))
                known[key] = out[-1].id
            else:
                out.append(Enqueued(known[key], d.vendor, d.dedup_key, duplicate=True, order_row=row))
    return out


# The enqueue, once per kind of connection: the same statements and decisions, read top to bottom. Record the orders
# that are new (with their journeys and skips) and look up the ids of those recorded before; insert the deliveries
# that are new; look up the ids of the keys already stored; tell listening workers if anything is new (the NOTIFY is
# delivered when the transaction commits, never if it rolls back).


async def _enqueue(
    conn: Connection, orders: Sequence[NewOrder], now: float, *, retried: bool = False
) -> list[Enqueued]:
    """The enqueue on ``conn``, in whatever transaction it is in (``retried``: see ``_enqueued``)."""
    if not orders:
        return []
    cur = conn.cursor()
    await cur.execute(Q["enqueue_orders"], _order_params(orders, now))
    recorded = await cur.fetchall()
    rows = {(order_id, event): row for row, order_id, event in recorded}
    missing = _missing_orders(orders, recorded)
    if missing is not None:
        await cur.execute(Q["existing_orders"], missing)
        rows.update({(order_id, event): row for row, order_id, event in await cur.fetchall()})
    items = _delivery_params(orders, rows, now)
    if items is None:
        return []
    await cur.execute(Q["enqueue"], items)
    inserted = await cur.fetchall()
    existing: list[tuple[Any, ...]] = []
    lookup = _lookup_params(orders, inserted)
    if lookup is not None:
        await cur.execute(Q["existing"], lookup)
        existing = await cur.fetchall()
    enqueued = _enqueued(orders, rows, inserted, existing, now=now, retried=retried)
    if not all(e.duplicate for e in enqueued):
        await cur.execute(Q["notify"])
    return enqueued


def _enqueue_sync(conn: psycopg.Connection[Any], orders: Sequence[NewOrder], now: float) -> list[Enqueued]:
    """``_enqueue`` on a synchronous connection (Django's), in whatever transaction it is in."""
    if not orders:
        return []
    cur = conn.cursor()
    cur.execute(Q["enqueue_orders"], _order_params(orders, now))
    recorded = cur.fetchall()
    rows = {(order_id, event): row for row, order_id, event in recorded}
    missing = _missing_orders(orders, recorded)
    if missing is not None:
        cur.execute(Q["existing_orders"], missing)
        rows.update({(order_id, event): row for row, order_id, event in cur.fetchall()})
    items = _delivery_params(orders, rows, now)
    if items is None:
        return []
    cur.execute(Q["enqueue"], items)
    inserted = cur.fetchall()
    existing: list[tuple[Any, ...]] = []
    lookup = _lookup_params(orders, inserted)
    if lookup is not None:
        cur.execute(Q["existing"], lookup)
        existing = cur.fetchall()
    enqueued = _enqueued(orders, rows, inserted, existing, now=now, retried=False)
    if not all(e.duplicate for e in enqueued):
        cur.execute(Q["notify"])
    return enqueued
