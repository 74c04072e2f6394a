"""The SQLite outbox's group commit: checkouts that arrive while the database thread is busy are written together,
in one transaction and one fsync, and each checkout returns once that commit is on disk.

A durable commit costs an fsync whatever it holds, so 200 checkouts arriving at once, each committing on its own,
would queue 200 fsyncs; grouped, they wait for the commit in progress and then share the next one. The way there
crosses from the checkouts' event loops to the database thread and back:

1. In the checkout's event loop (``enqueue``): its orders are encoded as rows (``sqlite_checkout.encode``, the
   records' JSON) there, so the database thread, which shares the GIL with every event loop, runs little Python per
   group. An ``Arrival`` (the rows, a future of this loop, the loop itself) joins ``_arrivals`` under a lock:
   checkouts may come from several threads, each running its own loop. The first arrival since the last group was
   taken submits one ``_write`` to the database thread at ``CHECKOUT`` priority (behind the statement running,
   ahead of the worker's queued work); later arrivals only join the list. The checkout then awaits its future.
2. On the database thread (``_write``): every arrival waiting at that moment becomes the group, and the list starts
   anew, so the next arrival schedules the next group. The group is written in one durable transaction
   (``_together``, ``sqlite_checkout.write``): a handful of statements for the whole group. If a checkout's rows
   fail (the database refuses one), that transaction is rolled back and the group written again with a savepoint
   per checkout (``_each_apart``): the failing checkout gets its error, the others their rows. Savepoints cost more
   than the inserts they guard, so only a group with a failure pays for them. When the transaction itself fails
   (the disk, the busy timeout on another process's lock), every checkout of the group gets that error.
3. Back in each checkout's loop (``_answer``): an asyncio future may only be settled from its own loop, so the
   outcomes go to each loop by ``call_soon_threadsafe``, once per loop for all its checkouts in the group (one
   wake-up however many). A checkout cancelled meanwhile is skipped; its rows stay written, and a retry of it finds
   them (enqueue is idempotent).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import sqlite_checkout
from .base import Enqueued, NewOrder
from .sqlite_database import Database
from .sqlite_thread import CHECKOUT, DatabaseThread

Outcome = list[Enqueued] | BaseException
"""One checkout's answer: what became of its items, or the error to raise in it."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """One checkout waiting for the next group commit."""

    rows: list[sqlite_checkout.Encoded]
    """The checkout's orders as rows, records encoded."""
    future: asyncio.Future[list[Enqueued]]
    loop: asyncio.AbstractEventLoop
    """The checkout's event loop, the only one that may settle ``future``."""


class GroupCommit:
    """Writes checkouts for a ``SQLiteOutbox``, in groups (see the module's docstring)."""

    def __init__(self, database: Database, thread: Callable[[], DatabaseThread]) -> None:
        self._db = database
        self._thread = thread
        """The outbox's database thread (started on first use)."""
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._scheduled = False
        """Whether a ``_write`` is queued on the database thread that has not taken the arrivals yet."""

    async def enqueue(self, orders: Sequence[NewOrder], now: float) -> list[Enqueued]:
        """Step 1, in the checkout's event loop: join the next group and wait for its commit."""
        rows = sqlite_checkout.encode(orders, now)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Enqueued]] = loop.create_future()
        with self._lock:
            self._arrivals.append(Arrival(rows, future, loop))
            schedule, self._scheduled = not self._scheduled, True
        if schedule:
            self._thread().submit_raw(self._write, CHECKOUT)
        return await future

    def _write(self) -> None:
        """Steps 2 and 3, on the database thread: write every checkout waiting now, then answer each."""
        with self._lock:
            group, self._arrivals = self._arrivals, []
            self._scheduled = False
        _answer(group, self._commit(group))

    def _commit(self, group: Sequence[Arrival]) -> list[Outcome]:
        """The group in one durable transaction; written again each checkout apart if one of them failed."""
        db = self._db
        try:
            conn = db.connection()
            try:
                with db.transaction(conn):
                    return self._together(conn, group)
            except _OneFailed:
                with db.transaction(conn):
                    return self._each_apart(conn, group)
        except (sqlite3.Error, OSError) as exc:
            return [db.failure(exc)] * len(group)
        except BaseException as exc:
            return [exc] * len(group)

    def _together(self, conn: sqlite3.Connection, group: Sequence[Arrival]) -> list[Outcome]:
        """Every checkout's rows in the same statements, without savepoints."""
        try:
            return list(sqlite_checkout.write(conn, [arrival.rows for arrival in group]))
        except Exception as exc:
            if len(group) == 1:  # nothing to tell apart: its error is the checkout's
                raise
            raise _OneFailed from exc

    def _each_apart(self, conn: sqlite3.Connection, group: Sequence[Arrival]) -> list[Outcome]:
        """Each checkout in a savepoint of its own: one that fails leaves the others written."""
        outcomes: list[Outcome] = []
        for arrival in group:
            conn.execute("SAVEPOINT checkout")
            try:
                outcomes.append(sqlite_checkout.write(conn, [arrival.rows])[0])
            except Exception as exc:  # this checkout only; the others still commit
                conn.execute("ROLLBACK TO checkout")
                outcomes.append(self._db.failure(exc) if isinstance(exc, sqlite3.Error) else exc)
            conn.execute("RELEASE checkout")
        return outcomes


class _OneFailed(Exception):
    """A checkout of a group failed: write the group again, each checkout apart."""


def _answer(group: Sequence[Arrival], outcomes: Sequence[Outcome]) -> None:
    """Step 3: hand each loop the outcomes of its checkouts, in one call."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[list[Enqueued]], Outcome]]] = {}
    for arrival, outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(arrival.loop, []).append((arrival.future, outcome))
    for loop, settled in by_loop.items():
        loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: Sequence[tuple[asyncio.Future[list[Enqueued]], Outcome]]) -> None:
    """In the checkouts' loop: each future gets its outcome."""
    for future, outcome in settled:
        if future.done():  # the checkout was cancelled; what it wrote stays (enqueue is idempotent)
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
