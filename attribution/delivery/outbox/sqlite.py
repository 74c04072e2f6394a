"""The default outbox: one SQLite file in WAL mode. No server to run; survives restarts and crashes.

Durability: every write is one transaction. With ``synchronous=FULL`` (the default) a commit is on disk
when ``enqueue`` returns, so a power cut cannot lose a conversion the checkout reported as queued. With
``NORMAL`` in WAL mode a process crash still loses nothing (the WAL is in the OS page cache), but a power
cut may lose the last commits; pick it only where that trade is acceptable.

Concurrency: all statements of one ``SQLiteOutbox`` run on one dedicated thread with one connection, so
the event loop never blocks on disk. Several processes may share the file: claims run in
``BEGIN IMMEDIATE`` transactions, which SQLite serialises across processes, and a claimed delivery belongs
to one worker until its lease expires. SQLite locks suit one machine only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from ...errors import OutboxError
from .base import TERMINAL, Attempt, Delivery, Enqueued, Finish, NewDelivery, Outbox, Status
from .sqlite_math import ensure_math
from .sqlite_schema import MIGRATIONS, SCHEMA_VERSION, statements
from .sqlite_sets import due_rows, mark_claimed, record_finished
from .sqlite_thread import CHECKOUT, READ, WORKER, DatabaseThread

T = TypeVar("T")


def _row(row: sqlite3.Row, history: tuple[Attempt, ...] = ()) -> Delivery:
    return Delivery(
        id=row["id"],
        vendor=row["vendor"],
        dedup_key=row["dedup_key"],
        batch_key=row["batch_key"],
        payload=json.loads(row["payload"]),
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
    )


_AUTOCHECKPOINT_PAGES = 20_000
"""About 80 MB of WAL (4 KiB pages) before a commit checkpoints by itself."""


class SQLiteOutbox(Outbox):
    """The outbox in one SQLite file (WAL). ``path`` is created on first use, with its parent folder.

    ``migrate``: bring an older schema up to date when first used (the default); with False, refuse it and say
    to run ``attribution migrate``.
    """

    spaced_writes = True  # each write is a hop to the database thread, whose cost hardly grows with its rows

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout: float = 10.0,
        migrate: bool = True,
    ) -> None:
        self.path = Path(path)
        self.auto_migrate = migrate
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._thread: DatabaseThread | None = None
        self._conn: sqlite3.Connection | None = None
        self._mode = ""
        self._last_checkpoint = 0.0
        self._lock = threading.Lock()
        self.purge_batch = 500
        """Rows deleted per transaction by ``purge``."""
        self._arrivals: list[_Arrival] = []
        self._group_scheduled = False
        """Checkouts waiting for the next group commit, and whether one is queued on the database thread."""

    def __repr__(self) -> str:
        return f"SQLiteOutbox({str(self.path)!r})"

    # -- plumbing --------------------------------------------------------------------------------------

    def _connect(self, *, check: bool = True) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                # The outbox holds personal data: readable by the site's user only. SQLite gives the WAL
                # and shared-memory files the database file's permissions.
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so every write transaction takes
            # the write lock up front instead of failing to upgrade a read lock under contention.
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            self._mode = self.synchronous
            conn.execute("PRAGMA foreign_keys=ON")
            ensure_math(conn)  # the reports' time decay needs pow, missing from some SQLite builds
            # Checkpoints (copying the WAL into the database, with fsyncs) would otherwise run inside
            # whichever commit crosses the threshold, often a checkout's. The worker checkpoints after
            # writing results instead; this high threshold is only the backstop when no worker runs here.
            conn.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")
            if check:
                try:
                    self._migrate(conn, apply=self.auto_migrate)
                except BaseException:
                    conn.close()
                    raise
            self._conn = conn
        return self._conn

    def _migrate(self, conn: sqlite3.Connection, *, apply: bool) -> tuple[int, int]:
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return SCHEMA_VERSION, SCHEMA_VERSION
        # One transaction, under the write lock: another process starting at once waits, then finds it done.
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                raise OutboxError(
                    f"outbox {self.path} has schema {found}, written by a newer asgi-attribution (this one knows "
                    f"schema {SCHEMA_VERSION}): upgrade asgi-attribution"
                )
            if found < SCHEMA_VERSION and not apply:
                raise OutboxError(
                    f"outbox {self.path} has schema {found}, older than this asgi-attribution's {SCHEMA_VERSION}: "
                    "run `attribution migrate`"
                )
            for version in range(found + 1, SCHEMA_VERSION + 1):
                for statement in statements(MIGRATIONS[version]):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return found, SCHEMA_VERSION

    async def migrate(self) -> tuple[int, int]:
        return await self._run(lambda conn: self._migrate(conn, apply=True), check=False)

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, priority: int = READ, check: bool = True) -> T:
        thread = self._thread_now()

        def call() -> T:
            try:
                return fn(self._connect(check=check))
            except (sqlite3.Error, OSError) as exc:
                raise self._failure(exc) from exc

        return await thread.submit(call, priority)

    def _thread_now(self) -> DatabaseThread:
        with self._lock:
            if self._thread is None:
                self._thread = DatabaseThread()
            return self._thread

    def _failure(self, exc: sqlite3.Error | OSError) -> OutboxError:
        if isinstance(exc, OSError):
            return OutboxError(self._os_failure(exc))
        return OutboxError(f"outbox {self.path} failed: {exc}")

    def _os_failure(self, exc: OSError) -> str:
        """What the operating system refused, said with the path and the fix."""
        where = "choose another path (Tracker(outbox=...), or --outbox / ATTRIBUTION_OUTBOX for the CLI)"
        if isinstance(exc, PermissionError):
            return (
                f"outbox {self.path} cannot be created or written: this process may not write to "
                f"{exc.filename or self.path.parent} ({exc.strerror}); give the site's user write access there, "
                f"or {where}"
            )
        if isinstance(exc, FileExistsError | NotADirectoryError):
            return f"outbox {self.path} cannot be created: a part of its folder path is a file, not a folder; {where}"
        return f"outbox {self.path} cannot be opened: {exc.strerror or type(exc).__name__}; {where}"

    def _write(self, conn: sqlite3.Connection, fn: Callable[[], T], *, durable: bool = True) -> T:
        # Only checkouts need a commit on disk before they return. A claim or a result lost to a power cut
        # merely makes a delivery due again (at-least-once), so the worker's writes skip the fsync; the next
        # durable commit syncs the WAL up to it anyway.
        mode = self.synchronous if durable else "NORMAL"
        if mode != self._mode:
            conn.execute(f"PRAGMA synchronous={mode}")
            self._mode = mode
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def open(self) -> None:
        await self._run(lambda conn: None)

    async def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await thread.submit(shut, WORKER)
        await asyncio.to_thread(thread.stop)

    # -- the contract ----------------------------------------------------------------------------------

    async def enqueue(self, items: Sequence[NewDelivery], *, now: float) -> list[Enqueued]:
        # Group commit: checkouts that arrive while the database thread is busy are written together, in one
        # transaction and one fsync; every caller returns after that commit.
        # The payloads are encoded here, before the database thread takes the group: that thread then runs one
        # INSERT per group, and gives the GIL back to the event loop for most of its work.
        rows = [
            (i.vendor, i.dedup_key, i.batch_key, _dumps(i.payload), now, now, now, i.order_id, i.event) for i in items
        ]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Enqueued]] = loop.create_future()
        with self._lock:
            self._arrivals.append(_Arrival(items, rows, future, loop))
            schedule, self._group_scheduled = not self._group_scheduled, True
        if schedule:
            self._thread_now().submit_raw(self._write_group, CHECKOUT)
        return await future

    def _write_group(self) -> None:
        """On the database thread: write every checkout waiting now, in one durable transaction."""
        with self._lock:
            group, self._arrivals = self._arrivals, []
            self._group_scheduled = False
        outcomes: list[list[Enqueued] | BaseException]
        try:
            conn = self._connect()

            def all_at_once() -> list[list[Enqueued] | BaseException]:
                try:
                    fresh = _insert(conn, [row for arrival in group for row in arrival.rows])
                    return [_enqueued(conn, arrival.items, fresh) for arrival in group]
                except Exception as exc:
                    if len(group) == 1:
                        raise
                    raise _OneFailed from exc

            # Savepoints cost more than the inserts they guard: the group goes without them, and only when one
            # of its checkouts fails is it written again with a savepoint per checkout.
            try:
                outcomes = self._write(conn, all_at_once)
            except _OneFailed:
                outcomes = self._write(conn, lambda: self._each_apart(conn, group))
        except (sqlite3.Error, OSError) as exc:
            outcomes = [self._failure(exc)] * len(group)
        except BaseException as exc:
            outcomes = [exc] * len(group)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Arrival, list[Enqueued] | BaseException]]] = {}
        for arrival, outcome in zip(group, outcomes, strict=True):
            by_loop.setdefault(arrival.loop, []).append((arrival, outcome))
        for loop, settled in by_loop.items():  # one wake-up of each event loop for the whole group
            loop.call_soon_threadsafe(_settle_all, settled)

    def _each_apart(self, conn: sqlite3.Connection, group: Sequence[_Arrival]) -> list[list[Enqueued] | BaseException]:
        """A group's checkouts, each in a savepoint of its own: one that fails leaves the others written."""
        outcomes: list[list[Enqueued] | BaseException] = []
        for arrival in group:
            conn.execute("SAVEPOINT checkout")
            try:
                outcomes.append(_enqueued(conn, arrival.items, _insert(conn, arrival.rows)))
            except Exception as exc:  # this checkout only; the others still commit
                conn.execute("ROLLBACK TO checkout")
                outcomes.append(self._failure(exc) if isinstance(exc, sqlite3.Error) else exc)
            conn.execute("RELEASE checkout")
        return outcomes

    async def claim(
        self, worker_id: str, *, limits: Mapping[str, int], now: float, lease: float
    ) -> dict[str, list[Delivery]]:
        wanted = {vendor: limit for vendor, limit in limits.items() if limit > 0}
        if not wanted:
            return {}

        def work(conn: sqlite3.Connection) -> dict[str, list[Delivery]]:
            def tx() -> dict[str, list[Delivery]]:
                paused = {r[0] for r in conn.execute("SELECT vendor FROM vendor_pauses WHERE until > ?", (now,))}
                rows = [
                    row
                    for vendor, limit in wanted.items()
                    if vendor not in paused
                    for row in due_rows(conn, vendor, now=now, limit=limit)
                ]
                if not rows:
                    return {}
                lost = [(r[0], r[6], now, r[11] or "") for r in rows if r[5] == "sending"]
                if lost:
                    # The worker that held these died or stalled past its lease: say so in the history.
                    conn.executemany(
                        "INSERT INTO attempts (delivery_id, number, at, result, detail, worker)"
                        " VALUES (?, ?, ?, 'lost', 'lease expired before a result was recorded', ?)",
                        lost,
                    )
                due = now + lease
                mark_claimed(conn, [r[0] for r in rows], worker_id=worker_id, due=due, now=now)
                claimed: dict[str, list[Delivery]] = {}
                sending, loads = Status.SENDING, json.loads
                for r in rows:
                    claimed.setdefault(r[1], []).append(
                        Delivery(
                            id=r[0],
                            vendor=r[1],
                            dedup_key=r[2],
                            batch_key=r[3],
                            payload=loads(r[4]),
                            status=sending,
                            attempts=r[6] + 1,
                            created_at=r[7],
                            updated_at=now,
                            next_attempt_at=due,
                            locked_by=worker_id,
                            last_error=r[8],
                            answer=r[9],
                            order_id=r[10],
                            event=r[12],
                        )
                    )
                return claimed

            return self._write(conn, tx, durable=False)

        return await self._run(work, priority=WORKER)

    async def next_due(self, vendors: Sequence[str]) -> float | None:
        names = list(vendors)

        def work(conn: sqlite3.Connection) -> float | None:
            # One index seek per vendor on deliveries_due (vendor, next_attempt_at).
            found = [
                conn.execute(
                    "SELECT MIN(next_attempt_at) FROM deliveries WHERE vendor = ? AND status IN ('pending', 'sending')",
                    (name,),
                ).fetchone()[0]
                for name in names
            ]
            due = [f for f in found if f is not None]
            return min(due) if due else None

        return await self._run(work, priority=WORKER) if names else None

    async def count_waiting(self, vendors: Sequence[str]) -> int | None:
        names = list(vendors)

        def work(conn: sqlite3.Connection) -> int:
            # On the partial index deliveries_due: proportional to the backlog, not to the kept history.
            return sum(
                conn.execute(
                    "SELECT COUNT(*) FROM deliveries WHERE vendor = ? AND status IN ('pending', 'sending')", (name,)
                ).fetchone()[0]
                for name in names
            )

        return await self._run(work, priority=WORKER)

    async def finish(self, worker_id: str, results: Sequence[Finish]) -> int:
        if not results:
            return 0

        def work(conn: sqlite3.Connection) -> int:
            def tx() -> int:
                return record_finished(conn, worker_id, results)

            applied = self._write(conn, tx, durable=False)
            now = time.monotonic()
            if now - self._last_checkpoint > 1.0:
                self._last_checkpoint = now
                # PASSIVE: copies what it can without waiting for readers or blocking writers.
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return applied

        return await self._run(work, priority=WORKER)

    async def pause(self, vendor: str, until: float) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._write(
                conn,
                lambda: conn.execute(
                    "INSERT INTO vendor_pauses (vendor, until) VALUES (?, ?)"
                    " ON CONFLICT (vendor) DO UPDATE SET until = max(until, excluded.until)",
                    (vendor, until),
                ),
                durable=False,
            )

        await self._run(work, priority=WORKER)

    async def paused(self, *, now: float) -> dict[str, float]:
        def work(conn: sqlite3.Connection) -> dict[str, float]:
            rows = conn.execute("SELECT vendor, until FROM vendor_pauses WHERE until > ?", (now,)).fetchall()
            return {r[0]: r[1] for r in rows}

        return await self._run(work)

    async def get(self, delivery_id: int) -> Delivery | None:
        def work(conn: sqlite3.Connection) -> Delivery | None:
            row = conn.execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if row is None:
                return None
            history = tuple(
                Attempt(number=a["number"], at=a["at"], result=a["result"], detail=a["detail"], worker=a["worker"])
                for a in conn.execute(
                    "SELECT number, at, result, detail, worker FROM attempts WHERE delivery_id = ? ORDER BY rowid",
                    (delivery_id,),
                )
            )
            return _row(row, history)

        return await self._run(work)

    async def list(
        self,
        *,
        status: Status | None = None,
        vendor: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Delivery]:
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(Status(status).value)
        if vendor is not None:
            where.append("vendor = ?")
            args.append(vendor)
        clause = f"WHERE {' AND '.join(where)}" if where else ""

        def work(conn: sqlite3.Connection) -> list[Delivery]:
            rows = conn.execute(
                f"SELECT * FROM deliveries {clause} ORDER BY id DESC LIMIT ? OFFSET ?",  # noqa: S608
                (*args, limit, offset),
            ).fetchall()
            return [_row(r) for r in rows]

        return await self._run(work)

    async def counts(self) -> dict[tuple[str, Status], int]:
        def work(conn: sqlite3.Connection) -> dict[tuple[str, Status], int]:
            # The totals the triggers keep (schema 3): a few rows, however long the kept history.
            rows = conn.execute(
                "SELECT vendor, status, n FROM delivery_counts WHERE n > 0 ORDER BY vendor, status"
            ).fetchall()
            return {(r[0], Status(r[1])): r[2] for r in rows}

        return await self._run(work)

    async def oldest_waiting(self, vendors: Sequence[str]) -> dict[str, float]:
        def work(conn: sqlite3.Connection) -> dict[str, float]:
            # Per vendor, on the partial index deliveries_due: as costly as the queue is long.
            found = {
                name: conn.execute(
                    "SELECT MIN(created_at) FROM deliveries WHERE vendor = ? AND status IN ('pending', 'sending')",
                    (name,),
                ).fetchone()[0]
                for name in vendors
            }
            return {name: at for name, at in found.items() if at is not None}

        return await self._run(work)

    async def last_errors(self, vendors: Sequence[str]) -> dict[str, Delivery]:
        def work(conn: sqlite3.Connection) -> dict[str, Delivery]:
            # One seek per vendor on the partial index deliveries_failing (vendor, updated_at).
            found = {
                name: conn.execute(
                    "SELECT * FROM deliveries WHERE vendor = ? AND last_error IS NOT NULL AND status <> 'delivered'"
                    " ORDER BY updated_at DESC LIMIT 1",
                    (name,),
                ).fetchone()
                for name in vendors
            }
            return {name: _row(row) for name, row in found.items() if row is not None}

        return await self._run(work)

    async def retry(self, *, ids: Sequence[int] = (), dead: bool = False, now: float) -> int:
        id_list = [int(i) for i in ids]

        def work(conn: sqlite3.Connection) -> int:
            def tx() -> int:
                changed = 0
                sql = (
                    "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,"
                    " locked_by = NULL, updated_at = ? WHERE "
                )
                for i in id_list:
                    changed += conn.execute(
                        sql + "id = ? AND status IN ('pending', 'dead', 'dry_run')", (now, now, i)
                    ).rowcount
                if dead:
                    changed += conn.execute(sql + "status = 'dead'", (now, now)).rowcount
                return changed

            return self._write(conn, tx)

        return await self._run(work)

    async def purge(self, *, older_than: float, statuses: Sequence[Status] = tuple(TERMINAL)) -> int:
        wanted = [Status(s).value for s in statuses]
        if not wanted:
            return 0
        marks = ", ".join("?" for _ in wanted)
        batch = self.purge_batch

        def work(conn: sqlite3.Connection) -> int:
            return self._write(
                conn,
                lambda: (
                    conn.execute(
                        "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries"  # noqa: S608
                        f" WHERE status IN ({marks}) AND updated_at < ? LIMIT ?)",
                        (*wanted, older_than, batch),
                    ).rowcount
                ),
                durable=False,
            )

        # Small transactions, each queued behind any checkout that arrived meanwhile: deleting a month of
        # history at once held the write lock for tens of milliseconds at a million rows.
        purged = 0
        while True:
            deleted = await self._run(work, priority=WORKER)
            purged += deleted
            if deleted < batch:
                return purged


@dataclass(frozen=True, slots=True)
class _Arrival:
    """One checkout's deliveries waiting for the next group commit."""

    items: Sequence[NewDelivery]
    rows: list[tuple[Any, ...]]
    """The INSERT's parameters for each item, payload encoded."""
    future: asyncio.Future[list[Enqueued]]
    loop: asyncio.AbstractEventLoop


class _OneFailed(Exception):
    """A checkout of a group failed: write the group again, each checkout apart."""


def _settle(future: asyncio.Future[list[Enqueued]], outcome: list[Enqueued] | BaseException) -> None:
    if future.done():  # the checkout was cancelled; what it wrote stays (enqueue is idempotent)
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(settled: Sequence[tuple[_Arrival, list[Enqueued] | BaseException]]) -> None:
    for arrival, outcome in settled:
        _settle(arrival.future, outcome)


_ROW = "(?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)"
_INSERT = (
    "INSERT INTO deliveries (vendor, dedup_key, batch_key, payload, status,"
    " created_at, updated_at, next_attempt_at, order_id, event) VALUES {rows}"
    " ON CONFLICT (vendor, dedup_key) DO NOTHING"
)
_INSERTED = "SELECT json_group_array(json_array(id, vendor, dedup_key)) FROM deliveries WHERE id > ?"
_INSERT_MAX_ROWS = 1000
"""Rows per INSERT statement: 9 parameters each, below SQLite's limit on parameters (32,766 since 3.32)."""

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""``json.dumps(payload, separators=(",", ":"), ensure_ascii=False)`` without building an encoder per row."""


def _insert(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> dict[tuple[str, str], int]:
    """Rows in few statements: the id of each row inserted, by vendor and dedup key. A key already stored, or
    twice among the rows, is written once.

    Every step of a statement gives the GIL away and waits to get it back from a busy event loop, so no step
    runs per row: each INSERT is one step, and the new rows' ids come back as one JSON array. Inside the write
    transaction nobody else inserts, and a new rowid is one more than the largest, so the rows inserted here
    are exactly those above the largest id before."""
    before = conn.execute("SELECT coalesce(max(id), 0) FROM deliveries").fetchone()[0]
    for start in range(0, len(rows), _INSERT_MAX_ROWS):
        chunk = rows[start : start + _INSERT_MAX_ROWS]
        conn.execute(_INSERT.format(rows=", ".join([_ROW] * len(chunk))), [value for row in chunk for value in row])
    (inserted,) = conn.execute(_INSERTED, (before,)).fetchone()
    return {(vendor, key): id_ for id_, vendor, key in json.loads(inserted)}


def _enqueued(
    conn: sqlite3.Connection, items: Sequence[NewDelivery], fresh: dict[tuple[str, str], int]
) -> list[Enqueued]:
    """What became of one checkout's items: the first to claim a key inserted by ``_insert`` is new, any other
    (an older row, or the same key earlier in the group) a duplicate of the row stored."""
    out = []
    for item in items:
        found = fresh.pop((item.vendor, item.dedup_key), None)
        if found is not None:
            out.append(Enqueued(found, item.vendor, item.dedup_key, duplicate=False))
            continue
        existing = conn.execute(
            "SELECT id FROM deliveries WHERE vendor = ? AND dedup_key = ?", (item.vendor, item.dedup_key)
        ).fetchone()
        out.append(Enqueued(existing[0], item.vendor, item.dedup_key, duplicate=True))
    return out
