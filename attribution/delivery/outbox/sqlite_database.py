"""The SQLite outbox's connection and its statements. Everything in ``Database`` runs on the database thread.

``SQLiteOutbox`` decides what runs when: each operation of the ``Outbox`` contract becomes one call of a method here,
queued on the outbox's one thread (``sqlite_thread``), with the connection that thread owns. The methods are plain
synchronous code over the statements of ``sqlite.sql``; those that write open their transaction with
``transaction``. Checkouts arrive through the group commit (``sqlite_group``), which calls ``insert`` and
``enqueued``; the claim and the outcomes use the set statements of ``sqlite_sets``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ...errors import OutboxError
from . import queries, sqlite_schema
from .base import Attempt, Delivery, Enqueued, Finish, NewDelivery, Status
from .sqlite_math import ensure_math
from .sqlite_sets import DueRow, due_rows, mark_claimed, record_finished

Q = queries.load("sqlite.sql")

Synchronous = Literal["FULL", "NORMAL"]

AUTOCHECKPOINT_PAGES = 20_000
"""About 80 MB of WAL (4 KiB pages) before a commit checkpoints by itself."""

INSERT_MAX_ROWS = 1000
"""Rows per INSERT statement: 9 parameters each, below SQLite's limit on parameters (32,766 since 3.32)."""

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""``json.dumps(payload, separators=(",", ":"), ensure_ascii=False)`` without building an encoder per row."""

Row = tuple[Any, ...]


def enqueue_rows(items: Sequence[NewDelivery], now: float) -> list[Row]:
    """The ``enqueue`` statement's parameters for each item, its payload encoded. Runs in the checkout's event loop,
    not on the database thread: see ``sqlite_group``. An item that is not JSON raises ``TypeError`` here."""
    return [(i.vendor, i.dedup_key, i.batch_key, _dumps(i.payload), now, now, now, i.order_id, i.event) for i in items]


class Database:
    """The one connection of a ``SQLiteOutbox``, opened on first use (creating the file, checking the schema), and
    every statement the outbox runs on it. Only the outbox's database thread calls it."""

    def __init__(self, path: Path, *, synchronous: Synchronous, busy_timeout: float, migrate: bool) -> None:
        self.path = path
        self.synchronous: Synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.auto_migrate = migrate
        self._conn: sqlite3.Connection | None = None
        self._mode = ""
        """The connection's ``synchronous`` setting now (it changes between checkouts' and workers' commits)."""
        self._last_checkpoint = 0.0

    # -- the connection --------------------------------------------------------------------------------

    def connection(self, *, check: bool = True) -> sqlite3.Connection:
        """The connection, opened if need be; with ``check``, the schema brought up to date (or refused) first."""
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
            setup = Q["open"].format(synchronous=self.synchronous, autocheckpoint=AUTOCHECKPOINT_PAGES)
            for pragma in sqlite_schema.statements(setup):
                conn.execute(pragma)
            self._mode = self.synchronous
            ensure_math(conn)  # the reports' time decay needs pow, missing from some SQLite builds
            if check:
                try:
                    sqlite_schema.migrate(conn, self.path, apply=self.auto_migrate)
                except BaseException:
                    conn.close()
                    raise
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def migrate(self, conn: sqlite3.Connection) -> tuple[int, int]:
        return sqlite_schema.migrate(conn, self.path, apply=True)

    @contextlib.contextmanager
    def transaction(self, conn: sqlite3.Connection, *, durable: bool = True) -> Iterator[None]:
        """One write transaction, under the write lock from its start; rolled back if the block raises.

        Only checkouts need a commit on disk before they return (``durable``). A claim or a result lost to a power
        cut merely makes a delivery due again (at-least-once), so the worker's writes skip the fsync; the next
        durable commit syncs the WAL up to it anyway."""
        mode = self.synchronous if durable else "NORMAL"
        if mode != self._mode:
            conn.execute(Q["synchronous"].format(mode=mode))
            self._mode = mode
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def failure(self, exc: sqlite3.Error | OSError) -> OutboxError:
        """The ``OutboxError`` to raise for an error of SQLite or of the system."""
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

    # -- checkouts (inside the group commit's transaction) ---------------------------------------------

    def insert(self, conn: sqlite3.Connection, rows: Sequence[Row]) -> dict[tuple[str, str], int]:
        """Rows (``enqueue_rows``) in few statements: the id of each row inserted, by vendor and dedup key. A key
        already stored, or twice among the rows, is written once.

        Every step of a statement gives the GIL away and waits to get it back from a busy event loop, so no step
        runs per row: each INSERT is one step, and the new rows' ids come back as one JSON array (``last_id``
        says why the rows above the largest id before are exactly those inserted)."""
        (last_id,) = conn.execute(Q["last_id"]).fetchone()
        row_marks = Q["enqueue_row"]
        for start in range(0, len(rows), INSERT_MAX_ROWS):
            chunk = rows[start : start + INSERT_MAX_ROWS]
            statement = Q["enqueue"].format(rows=", ".join([row_marks] * len(chunk)))
            conn.execute(statement, [value for row in chunk for value in row])
        (inserted,) = conn.execute(Q["inserted_since"], {"last_id": last_id}).fetchone()
        return {(vendor, key): id_ for id_, vendor, key in json.loads(inserted)}

    def enqueued(
        self, conn: sqlite3.Connection, items: Sequence[NewDelivery], fresh: dict[tuple[str, str], int]
    ) -> list[Enqueued]:
        """What became of one checkout's items: the first to claim a key ``insert`` inserted is new (it is taken
        from ``fresh``), any other (an older row, or the same key earlier in the group) a duplicate of the row
        stored."""
        out = []
        for item in items:
            found = fresh.pop((item.vendor, item.dedup_key), None)
            if found is not None:
                out.append(Enqueued(found, item.vendor, item.dedup_key, duplicate=False))
                continue
            (stored,) = conn.execute(Q["stored_id"], {"vendor": item.vendor, "dedup_key": item.dedup_key}).fetchone()
            out.append(Enqueued(stored, item.vendor, item.dedup_key, duplicate=True))
        return out

    # -- the worker ------------------------------------------------------------------------------------

    def claim(
        self, conn: sqlite3.Connection, worker_id: str, wanted: Mapping[str, int], *, now: float, lease: float
    ) -> dict[str, list[Delivery]]:
        """``Outbox.claim``, in one transaction."""
        with self.transaction(conn, durable=False):
            paused = {row["vendor"] for row in conn.execute(Q["paused"], {"now": now})}
            rows = [
                row
                for vendor, limit in wanted.items()
                if vendor not in paused
                for row in due_rows(conn, vendor, now=now, limit=limit)
            ]
            if not rows:
                return {}
            lost = [
                {"id": r.id, "number": r.attempts, "now": now, "worker": r.locked_by or ""}
                for r in rows
                if r.status == "sending"
            ]
            if lost:
                # The worker that held these died or stalled past its lease: say so in the history.
                conn.executemany(Q["lost"], lost)
            due = now + lease
            mark_claimed(conn, [r.id for r in rows], worker_id=worker_id, due=due, now=now)
            return _claimed(rows, worker_id, now=now, due=due)

    def finish(self, conn: sqlite3.Connection, worker_id: str, results: Sequence[Finish]) -> int:
        """``Outbox.finish``, in one transaction; then, at most once a second, a checkpoint of the WAL."""
        with self.transaction(conn, durable=False):
            applied = record_finished(conn, worker_id, results)
        now = time.monotonic()
        if now - self._last_checkpoint > 1.0:
            self._last_checkpoint = now
            conn.execute(Q["checkpoint"])
        return applied

    def pause(self, conn: sqlite3.Connection, vendor: str, until: float) -> None:
        with self.transaction(conn, durable=False):
            conn.execute(Q["pause"], {"vendor": vendor, "until": until})

    def paused(self, conn: sqlite3.Connection, now: float) -> dict[str, float]:
        return {row["vendor"]: row["until"] for row in conn.execute(Q["paused"], {"now": now}).fetchall()}

    def next_due(self, conn: sqlite3.Connection, vendors: Sequence[str]) -> float | None:
        found = [conn.execute(Q["next_due"], {"vendor": name}).fetchone()["due"] for name in vendors]
        due = [f for f in found if f is not None]
        return min(due) if due else None

    def count_waiting(self, conn: sqlite3.Connection, vendors: Sequence[str]) -> int:
        return sum(conn.execute(Q["count_waiting"], {"vendor": name}).fetchone()["waiting"] for name in vendors)

    # -- what operators read and do --------------------------------------------------------------------

    def get(self, conn: sqlite3.Connection, delivery_id: int) -> Delivery | None:
        row = conn.execute(Q["get"], {"id": delivery_id}).fetchone()
        if row is None:
            return None
        history = tuple(
            Attempt(number=a["number"], at=a["at"], result=a["result"], detail=a["detail"], worker=a["worker"])
            for a in conn.execute(Q["history"], {"id": delivery_id})
        )
        return _delivery(row, history)

    def list_deliveries(
        self, conn: sqlite3.Connection, *, status: Status | None, vendor: str | None, limit: int, offset: int
    ) -> list[Delivery]:
        where: list[str] = []
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status is not None:
            where.append(Q["list_status"])
            params["status"] = Status(status).value
        if vendor is not None:
            where.append(Q["list_vendor"])
            params["vendor"] = vendor
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return [_delivery(row) for row in conn.execute(Q["list"].format(where=clause), params).fetchall()]

    def counts(self, conn: sqlite3.Connection) -> dict[tuple[str, Status], int]:
        return {(row["vendor"], Status(row["status"])): row["n"] for row in conn.execute(Q["counts"]).fetchall()}

    def oldest_waiting(self, conn: sqlite3.Connection, vendors: Sequence[str]) -> dict[str, float]:
        found = {name: conn.execute(Q["oldest_waiting"], {"vendor": name}).fetchone()["created_at"] for name in vendors}
        return {name: at for name, at in found.items() if at is not None}

    def last_errors(self, conn: sqlite3.Connection, vendors: Sequence[str]) -> dict[str, Delivery]:
        found = {name: conn.execute(Q["last_error"], {"vendor": name}).fetchone() for name in vendors}
        return {name: _delivery(row) for name, row in found.items() if row is not None}

    def retry(self, conn: sqlite3.Connection, ids: Sequence[int], *, dead: bool, now: float) -> int:
        """``Outbox.retry``, in one durable transaction."""
        changed = 0
        with self.transaction(conn):
            for delivery_id in ids:
                changed += conn.execute(Q["retry_id"], {"id": delivery_id, "now": now}).rowcount
            if dead:
                changed += conn.execute(Q["retry_dead"], {"now": now}).rowcount
        return changed

    def purge_some(self, conn: sqlite3.Connection, statuses: Sequence[str], *, older_than: float, batch: int) -> int:
        """Delete up to ``batch`` deliveries of ``Outbox.purge``, in one short transaction; returns how many."""
        statement = Q["purge"].format(statuses=", ".join("?" for _ in statuses))
        with self.transaction(conn, durable=False):
            return int(conn.execute(statement, (*statuses, older_than, batch)).rowcount)


def _claimed(rows: Sequence[DueRow], worker_id: str, *, now: float, due: float) -> dict[str, list[Delivery]]:
    """The claimed rows as deliveries by vendor, as ``mark_claimed`` left them."""
    claimed: dict[str, list[Delivery]] = {}
    sending, loads = Status.SENDING, json.loads
    for r in rows:
        claimed.setdefault(r.vendor, []).append(
            Delivery(
                id=r.id,
                vendor=r.vendor,
                dedup_key=r.dedup_key,
                batch_key=r.batch_key,
                payload=loads(r.payload),
                status=sending,
                attempts=r.attempts + 1,
                created_at=float(r.created_at),
                updated_at=now,
                next_attempt_at=due,
                locked_by=worker_id,
                last_error=r.last_error,
                answer=r.answer,
                order_id=r.order_id,
                event=r.event,
            )
        )
    return claimed


def _delivery(row: sqlite3.Row, history: tuple[Attempt, ...] = ()) -> Delivery:
    """A row of ``deliveries`` read whole (``SELECT *``)."""
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
