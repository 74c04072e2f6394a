"""The default outbox: one SQLite file in WAL mode. No server to run; survives restarts and crashes.

Durability: every write is one transaction. With ``synchronous=FULL`` (the default) a commit is on disk
when ``enqueue`` returns, so a power cut cannot lose a conversion the checkout reported as queued. With
``NORMAL`` in WAL mode a process crash still loses nothing (the WAL is in the OS page cache), but a power
cut may lose the last commits; pick it only where that trade is acceptable.

Concurrency: all statements of one ``SQLiteOutbox`` run on one dedicated thread with one connection, so
the event loop never blocks on disk. Several processes may share the file: claims run in
``BEGIN IMMEDIATE`` transactions, which SQLite serialises across processes, and a claimed delivery belongs
to one worker until its lease expires. SQLite locks suit one machine only.

The parts, each in its module: this class decides what runs when on the database thread (``sqlite_thread``, by
priority: checkouts first, then reads, then the worker's writes); ``sqlite_database.Database`` owns the connection
and runs the statements, all of them in ``sqlite.sql``; checkouts are written in groups (``sqlite_group``); the
claim and the outcomes go a set of rows per statement (``sqlite_sets``); ``sqlite_schema`` migrates the file.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .base import (
    TERMINAL,
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
from .sqlite_database import Database, Synchronous
from .sqlite_group import GroupCommit
from .sqlite_thread import CHECKOUT, READ, WORKER, DatabaseThread

T = TypeVar("T")


class SQLiteOutbox(Outbox):
    """The outbox in one SQLite file (WAL). ``path`` is created on first use, with its parent folder.

    ``migrate``: bring an older schema up to date when first used (the default); with False, refuse it and say
    to run ``attribution migrate``.
    """

    spaced_writes = True  # each write is a hop to the database thread, whose cost hardly grows with its rows
    dialect = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 10.0,
        migrate: bool = True,
    ) -> None:
        self.path = Path(path)
        self._db = Database(self.path, synchronous=synchronous, busy_timeout=busy_timeout, migrate=migrate)
        self._thread: DatabaseThread | None = None
        self._lock = threading.Lock()
        self._group = GroupCommit(self._db, self._thread_now)
        self.purge_batch = 500
        """Rows deleted per transaction by ``purge``."""

    def __repr__(self) -> str:
        return f"SQLiteOutbox({str(self.path)!r})"

    @property
    def synchronous(self) -> Synchronous:
        return self._db.synchronous

    @property
    def busy_timeout(self) -> float:
        return self._db.busy_timeout

    @property
    def auto_migrate(self) -> bool:
        return self._db.auto_migrate

    # -- the database thread ---------------------------------------------------------------------------

    def _thread_now(self) -> DatabaseThread:
        """The database thread, started on first use (and again after ``close``)."""
        with self._lock:
            if self._thread is None:
                self._thread = DatabaseThread()
            return self._thread

    async def _run(self, work: Callable[[sqlite3.Connection], T], *, priority: int = READ, check: bool = True) -> T:
        """``work`` with the connection, on the database thread; SQLite's and the system's errors become
        ``OutboxError``. ``check``: the schema is checked (and migrated) before the first statement."""
        return await self._thread_now().submit(functools.partial(self._call, work, check), priority)

    def _call(self, work: Callable[[sqlite3.Connection], T], check: bool) -> T:
        try:
            return work(self._db.connection(check=check))
        except (sqlite3.Error, OSError) as exc:
            raise self._db.failure(exc) from exc

    async def open(self) -> None:
        await self._run(lambda conn: None)

    async def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        await thread.submit(self._db.close, WORKER)
        await asyncio.to_thread(thread.stop)

    async def migrate(self) -> tuple[int, int]:
        return await self._run(self._db.migrate, check=False)

    # -- the contract ----------------------------------------------------------------------------------

    async def enqueue(self, orders: Sequence[NewOrder], *, now: float) -> list[Enqueued]:
        return await self._group.enqueue(orders, now)

    async def correct(
        self,
        order_id: str,
        event: str,
        change: Change,
        *,
        now: float,
    ) -> builtins.list[VendorCorrection] | None:
        return await self._run(lambda conn: self._db.correct(conn, order_id, event, change, now=now), priority=CHECKOUT)

    async def claim_confirmations(
        self, worker_id: str, *, vendors: Sequence[str], now: float, lease: float, limit: int = 1000
    ) -> builtins.list[Delivery]:
        names = list(vendors)
        if not names:
            return []
        return await self._run(
            lambda conn: self._db.claim_confirmations(conn, worker_id, names, now=now, lease=lease, limit=limit),
            priority=WORKER,
        )

    async def confirm(self, worker_id: str, results: Sequence[Confirmed]) -> int:
        if not results:
            return 0
        return await self._run(lambda conn: self._db.confirm(conn, worker_id, results), priority=WORKER)

    async def order(self, order_id: str, event: str) -> tuple[StoredOrder, builtins.list[Delivery]] | None:
        return await self._run(lambda conn: self._db.order(conn, order_id, event))

    async def select(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        values = list(params)
        return await self._run(lambda conn: self._db.select(conn, sql, values))

    async def claim(
        self, worker_id: str, *, limits: Mapping[str, int], now: float, lease: float
    ) -> dict[str, list[Delivery]]:
        wanted = {vendor: limit for vendor, limit in limits.items() if limit > 0}
        if not wanted:
            return {}
        return await self._run(
            lambda conn: self._db.claim(conn, worker_id, wanted, now=now, lease=lease), priority=WORKER
        )

    async def next_due(self, vendors: Sequence[str]) -> float | None:
        names = list(vendors)
        if not names:
            return None
        return await self._run(lambda conn: self._db.next_due(conn, names), priority=WORKER)

    async def count_waiting(self, vendors: Sequence[str]) -> int | None:
        names = list(vendors)
        return await self._run(lambda conn: self._db.count_waiting(conn, names), priority=WORKER)

    async def finish(self, worker_id: str, results: Sequence[Finish]) -> int:
        if not results:
            return 0
        return await self._run(lambda conn: self._db.finish(conn, worker_id, results), priority=WORKER)

    async def pause(self, vendor: str, until: float) -> None:
        await self._run(lambda conn: self._db.pause(conn, vendor, until), priority=WORKER)

    async def paused(self, *, now: float) -> dict[str, float]:
        return await self._run(lambda conn: self._db.paused(conn, now))

    async def get(self, delivery_id: int) -> Delivery | None:
        return await self._run(lambda conn: self._db.get(conn, delivery_id))

    async def list(
        self,
        *,
        status: Status | None = None,
        vendor: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Delivery]:
        return await self._run(
            lambda conn: self._db.list_deliveries(conn, status=status, vendor=vendor, limit=limit, offset=offset)
        )

    async def counts(self) -> dict[tuple[str, Status], int]:
        return await self._run(self._db.counts)

    async def oldest_waiting(self, vendors: Sequence[str]) -> dict[str, float]:
        return await self._run(lambda conn: self._db.oldest_waiting(conn, vendors))

    async def last_errors(self, vendors: Sequence[str]) -> dict[str, Delivery]:
        return await self._run(lambda conn: self._db.last_errors(conn, vendors))

    async def retry(self, *, ids: Sequence[int] = (), dead: bool = False, now: float) -> int:
        id_list = [int(i) for i in ids]
        return await self._run(lambda conn: self._db.retry(conn, id_list, dead=dead, now=now))

    async def purge(
        self,
        *,
        older_than: float,
        statuses: Sequence[Status] = tuple(TERMINAL),
        orders_older_than: float | None = None,
    ) -> int:
        wanted = [Status(s).value for s in statuses]
        batch = self.purge_batch
        # Small transactions, each queued behind any checkout that arrived meanwhile: deleting a month of
        # history at once held the write lock for tens of milliseconds at a million rows.
        purged = 0
        while wanted:
            deleted = await self._run(
                lambda conn: self._db.purge_some(conn, wanted, older_than=older_than, batch=batch), priority=WORKER
            )
            purged += deleted
            if deleted < batch:
                break
        while (
            await self._run(lambda conn: self._db.scrub_some(conn, older_than=older_than, batch=batch), priority=WORKER)
            == batch
        ):
            pass
        if orders_older_than is not None:
            cutoff = orders_older_than
            while (
                await self._run(
                    lambda conn: self._db.delete_orders_some(conn, older_than=cutoff, batch=batch), priority=WORKER
                )
                == batch
            ):
                pass
        return purged
