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
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from ...errors import OutboxError
from . import corrections, queries, sqlite_file, sqlite_schema
from .base import Attempt, Change, Confirmed, Delivery, Finish, Status, StoredOrder, VendorCorrection
from .sqlite_math import ensure_math
from .sqlite_sets import CHUNK, DueRow, confirmation_rows, due_rows, mark_claimed, record_finished

Q = queries.load("sqlite.sql")

Synchronous = Literal["FULL", "NORMAL"]

AUTOCHECKPOINT_PAGES = 20_000
"""About 80 MB of WAL (4 KiB pages) before a commit checkpoints by itself."""


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
            may_create = self.auto_migrate or not check
            if not may_create and not self.path.exists():
                raise OutboxError(f"no outbox at {self.path} (and this use creates none)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                # The outbox holds personal data: readable by the site's user only. SQLite gives the WAL
                # and shared-memory files the database file's permissions.
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so every write transaction takes
            # the write lock up front instead of failing to upgrade a read lock under contention.
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            try:  # before anything writes: another application's database is refused untouched
                sqlite_file.foreign(conn, self.path, may_create=may_create)
            except BaseException:
                conn.close()
                raise
            sqlite_file.tighten(self.path)
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

    def claim_confirmations(
        self, conn: sqlite3.Connection, worker_id: str, vendors: Sequence[str], *, now: float, lease: float, limit: int
    ) -> list[Delivery]:
        """``Outbox.claim_confirmations``, in one transaction."""
        with self.transaction(conn, durable=False):
            rows = [row for vendor in vendors for row in confirmation_rows(conn, vendor, now=now, limit=limit)]
            until = now + lease
            for start in range(0, len(rows), CHUNK):
                ids = [r.id for r in rows[start : start + CHUNK]]
                conn.execute(Q["mark_confirming"].format(ids=", ".join("?" * len(ids))), [worker_id, until, *ids])
        orders: dict[int, StoredOrder] = {}
        return [_from_due(r, orders, status=Status.DELIVERED, locked_by=worker_id, confirm_at=until) for r in rows]

    def confirm(self, conn: sqlite3.Connection, worker_id: str, results: Sequence[Confirmed]) -> int:
        """``Outbox.confirm``, in one transaction."""
        applied = 0
        with self.transaction(conn, durable=False):
            for r in results:
                dead = r.status == Status.DEAD
                params = {
                    "id": r.id,
                    "worker": worker_id,
                    "status": None if r.status is None else r.status.value,
                    "answer": None if dead else r.note,
                    "error": r.note if dead else None,
                    "ask_at": r.ask_at,
                    "at": r.at,
                }
                applied += conn.execute(Q["record_confirmed"], params).rowcount
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
        order = None
        if row["order_row"] is not None:
            found = conn.execute(Q["order_by_row"], {"row": row["order_row"]}).fetchone()
            order = _stored_order(found) if found is not None else None
        return _delivery(row, history, order)

    def order(self, conn: sqlite3.Connection, order_id: str, event: str) -> tuple[StoredOrder, list[Delivery]] | None:
        found = conn.execute(Q["order"], {"order_id": order_id, "event": event}).fetchone()
        if found is None:
            return None
        order = _stored_order(found)
        rows = conn.execute(Q["order_deliveries"], {"row": order.row}).fetchall()
        return order, [_delivery(row, order=order) for row in rows]

    def correct(
        self,
        conn: sqlite3.Connection,
        order_id: str,
        event: str,
        change: Change,
        *,
        now: float,
    ) -> list[VendorCorrection] | None:
        """``Outbox.correct``, in one durable transaction."""
        with self.transaction(conn):
            found = conn.execute(Q["order"], {"order_id": order_id, "event": event}).fetchone()
            if found is None:
                return None
            order = _stored_order(found)
            stored = [
                corrections.Stored(r["id"], r["vendor"], r["kind"], Status(r["status"]))
                for r in conn.execute(Q["order_deliveries"], {"row": order.row})
            ]
            plan = corrections.plan_for(change, order, stored)
            queued: dict[str, int] = {}
            for name, params in corrections.statements(plan, order, now):
                row = conn.execute(Q[name], params).fetchone()
                if name == "queue_correction" and row is not None:
                    queued[params["vendor"]] = row[0]
        return corrections.answered(plan, queued)

    def select(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """One read-only statement: SQLite refuses it if it would write (``query_only``)."""
        conn.execute("PRAGMA query_only = ON")
        try:
            return [tuple(row) for row in conn.execute(sql, params).fetchall()]
        finally:
            conn.execute("PRAGMA query_only = OFF")

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
        return _with_orders(conn, conn.execute(Q["list"].format(where=clause), params).fetchall())

    def counts(self, conn: sqlite3.Connection) -> dict[tuple[str, Status], int]:
        return {(row["vendor"], Status(row["status"])): row["n"] for row in conn.execute(Q["counts"]).fetchall()}

    def oldest_waiting(self, conn: sqlite3.Connection, vendors: Sequence[str]) -> dict[str, float]:
        found = {name: conn.execute(Q["oldest_waiting"], {"vendor": name}).fetchone()["created_at"] for name in vendors}
        return {name: at for name, at in found.items() if at is not None}

    def last_errors(self, conn: sqlite3.Connection, vendors: Sequence[str]) -> dict[str, Delivery]:
        found = [row for name in vendors if (row := conn.execute(Q["last_error"], {"vendor": name}).fetchone())]
        return {d.vendor: d for d in _with_orders(conn, found)}

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

    def scrub_some(self, conn: sqlite3.Connection, *, older_than: float, batch: int) -> int:
        """Scrub the personal parts of up to ``batch`` old orders (``Outbox.purge``); returns how many."""
        with self.transaction(conn, durable=False):
            return int(conn.execute(Q["scrub_orders"], {"older_than": older_than, "batch": batch}).rowcount)

    def delete_orders_some(self, conn: sqlite3.Connection, *, older_than: float, batch: int) -> int:
        """Delete up to ``batch`` orders past their retention, with their journeys; returns how many."""
        with self.transaction(conn, durable=False):
            return int(conn.execute(Q["delete_orders"], {"older_than": older_than, "batch": batch}).rowcount)


def _claimed(rows: Sequence[DueRow], worker_id: str, *, now: float, due: float) -> dict[str, list[Delivery]]:
    """The claimed rows as deliveries by vendor, as ``mark_claimed`` left them: one ``StoredOrder`` per order."""
    claimed: dict[str, list[Delivery]] = {}
    orders: dict[int, StoredOrder] = {}
    for r in rows:
        delivery = _from_due(
            r, orders, status=Status.SENDING, locked_by=worker_id, attempts=r.attempts + 1, updated=(now, due)
        )
        claimed.setdefault(r.vendor, []).append(delivery)
    return claimed


def _from_due(
    r: DueRow,
    orders: dict[int, StoredOrder],
    *,
    status: Status,
    locked_by: str,
    attempts: int | None = None,
    confirm_at: float | None = None,
    updated: tuple[float, float] | None = None,
) -> Delivery:
    """A delivery of the ``due`` statement's row; ``updated``: its ``updated_at`` and ``next_attempt_at`` as a claim
    just wrote them (else its creation time for both)."""
    order = None
    if r.order_row is not None:
        order = orders.get(r.order_row)
        if order is None:
            order = orders[r.order_row] = StoredOrder(
                row=r.order_row,
                order_id=r.order_id,
                event=r.event,
                value=None if r.value is None else Decimal(r.value),
                currency=r.currency,
                status=r.order_status or "active",
                data=r.data,
                identifiers=r.identifiers,
            )
    created = float(r.created_at)
    updated_at, next_attempt_at = updated or (created, created)
    return Delivery(
        id=r.id,
        vendor=r.vendor,
        dedup_key=r.dedup_key,
        batch_key=r.batch_key,
        payload=_payload(r.payload),
        status=status,
        attempts=r.attempts if attempts is None else attempts,
        created_at=created,
        updated_at=updated_at,
        next_attempt_at=next_attempt_at,
        locked_by=locked_by,
        last_error=r.last_error,
        answer=r.answer,
        order_id=r.order_id,
        event=r.event,
        kind=r.kind,  # type: ignore[arg-type]
        hold_until=r.hold_until,
        order=order,
        confirm_ref=r.confirm_ref,
        confirm_at=confirm_at,
        original_status=None if r.original_status is None else Status(r.original_status),
        original_due=r.original_due,
    )


def _with_orders(conn: sqlite3.Connection, rows: Sequence[sqlite3.Row]) -> list[Delivery]:
    """Rows of ``deliveries`` with their order records (one read for all): screens mask what the records hold."""
    wanted = sorted({row["order_row"] for row in rows if row["order_row"] is not None})
    orders: dict[int, StoredOrder] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        statement = Q["orders_by_rows"].format(rows=", ".join("?" * len(chunk)))
        orders.update((row["id"], _stored_order(row)) for row in conn.execute(statement, chunk))
    return [_delivery(row, order=orders.get(row["order_row"])) for row in rows]


def _payload(text: str | None) -> Any:
    """A stored payload: the finished event of a delivery written before order records, else None (``null``)."""
    return None if text is None or text == "null" else json.loads(text)


def _stored_order(row: sqlite3.Row) -> StoredOrder:
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


def _delivery(row: sqlite3.Row, history: tuple[Attempt, ...] = (), order: StoredOrder | None = None) -> Delivery:
    """A row of ``deliveries`` read whole (``SELECT *``)."""
    return Delivery(
        id=row["id"],
        vendor=row["vendor"],
        dedup_key=row["dedup_key"],
        batch_key=row["batch_key"],
        payload=_payload(row["payload"]),
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
    )
