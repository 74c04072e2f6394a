"""The SQLite outbox's statements over many rows: a claim's candidates read, claims and outcomes written, a set of
rows per statement (the statements are in ``sqlite.sql``).

The outbox's database thread shares the GIL with the event loop. ``executemany`` steps SQLite once per row and
lets go of the GIL around every step; while the loop is busy, getting it back each time costs far more than
the row's own work (a claim of 64 rows took 12 ms under load, 2 to 3 ms idle). Here many rows go in one
statement, their values bound as a ``VALUES`` list (in ``FROM``, not a ``WITH``: Python's sqlite3 counts the rows
an ``UPDATE`` changed only when the statement begins with it): one step writes them all, triggers included. A list is
padded with rows of NULLs (which match no delivery) to a power of two, so only a few statement texts are
ever compiled, and cut at as many rows as SQLite binds values for (``MOST_ROWS`` at most): every statement is one
more wait for the GIL, so marking 10,000 claimed rows 64 at a time took 1.2 to 1.6 s while the event loop was busy,
and 0.16 s in one statement.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from . import queries
from .base import Finish, Status

Q = queries.load("sqlite.sql")

CHUNK = 64
"""Rows per statement where SQLite binds few values (at most 8 values each: 512 bound values, under every SQLite's
limit: 999 before 3.32)."""

MOST_ROWS = 1024
"""Rows per statement at most (a power of two), where SQLite binds values enough (32,766 since 3.32)."""

Row = tuple[Any, ...]


def _bucket(n: int) -> int:
    size = 1
    while size < n:
        size *= 2
    return size


def rows_per_statement(conn: sqlite3.Connection, width: int) -> int:
    """How many rows of ``width`` values one statement takes on ``conn``: ``MOST_ROWS``, or as many as its SQLite binds
    values for besides three more (``CHUNK`` at least)."""
    room = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 3
    size = MOST_ROWS
    while size > CHUNK and size * width > room:
        size //= 2
    return size


def _chunks(rows: Sequence[Row], *, unique: bool, size: int) -> Iterator[Sequence[Row]]:
    """``rows`` in order, at most ``size`` at a time; with ``unique``, a delivery id (the first value) seen
    again starts a new chunk, so a statement applies to each delivery once, in the order given."""
    if not unique or len({row[0] for row in rows}) == len(rows):  # the usual case: no per-row bookkeeping
        for start in range(0, len(rows), size):
            yield rows[start : start + size]
        return
    chunk: list[Row] = []
    ids: set[Any] = set()
    for row in rows:
        if len(chunk) == size or (unique and row[0] in ids):
            yield chunk
            chunk, ids = [], set()
        chunk.append(row)
        ids.add(row[0])
    if chunk:
        yield chunk


def _values(chunk: Sequence[Row], width: int) -> tuple[str, list[Any]]:
    """A ``VALUES`` list for ``chunk`` padded to a power of two, and its flat parameters."""
    size = _bucket(len(chunk))
    sql = ", ".join(["(" + ", ".join("?" * width) + ")"] * size)
    params = [value for row in chunk for value in row]
    params += [None] * (width * (size - len(chunk)))
    return sql, params


class DueRow(NamedTuple):
    """A claim's candidate, as the ``due`` statement lists its columns (in this order)."""

    id: int
    vendor: str
    dedup_key: str
    batch_key: str
    payload: str
    """As stored: the JSON text (``null`` for a delivery built from its order record)."""
    status: str
    attempts: int
    created_at: str
    """As ``quote`` writes it, every digit kept: ``float`` reads it back exactly."""
    last_error: str | None
    answer: str | None
    order_id: str
    locked_by: str | None
    event: str
    kind: str
    hold_until: float | None
    order_row: int | None
    value: str | None
    """The order's: its current value (a decimal string), currency, status, and below, the record's JSON texts."""
    currency: str | None
    order_status: str | None
    original_status: str | None
    """For a correction: the status and due time of the conversion it corrects."""
    original_due: float | None
    confirm_ref: str | None
    data: str | None
    identifiers: str | None


def due_rows(conn: sqlite3.Connection, vendor: str, *, now: float, limit: int) -> list[DueRow]:
    """Up to ``limit`` deliveries of ``vendor`` due at ``now`` (pending, or sending with a lease run out), soonest
    due first, in one step (the ``due`` statement returns them as one JSON array, their records' texts beside it)."""
    return _rows(conn.execute(Q["due"], {"vendor": vendor, "now": now, "limit": limit}).fetchone())


def confirmation_rows(conn: sqlite3.Connection, vendor: str, *, now: float, limit: int) -> list[DueRow]:
    """Up to ``limit`` delivered deliveries of ``vendor`` whose vendor's verdict is due at ``now``, in one step."""
    return _rows(conn.execute(Q["due_confirmations"], {"vendor": vendor, "now": now, "limit": limit}).fetchone())


def _rows(found: tuple[str, str | None, str | None]) -> list[DueRow]:
    """The rows of a ``due`` answer: the JSON array's columns, then each record's texts, the n-th for the n-th row."""
    array, data, identifiers = found
    rows = json.loads(array)
    datas, forms = _texts(data), _texts(identifiers)
    if not len(rows) == len(datas) == len(forms):  # cannot be (char(30) is replaced in the texts); said if it were
        raise sqlite3.DatabaseError(f"a claim read {len(rows)} rows but {len(datas)} and {len(forms)} order records")
    return [DueRow._make((*row, text, form)) for row, text, form in zip(rows, datas, forms, strict=True)]


def _texts(joined: str | None) -> list[str | None]:
    """The texts ``group_concat`` joined with char(30), each written after a ``=``, an empty one for NULL."""
    if joined is None:  # no row
        return []
    return [text[1:] if text else None for text in joined.split("\x1e")]


def mark_claimed(conn: sqlite3.Connection, ids: Sequence[int], *, worker_id: str, due: float, now: float) -> None:
    """Claimed deliveries become ``sending``, this worker's until ``due``, with one more attempt."""
    most = rows_per_statement(conn, 1)
    for start in range(0, len(ids), most):
        chunk = ids[start : start + most]
        size = _bucket(len(chunk))
        conn.execute(
            Q["mark_claimed"].format(ids=", ".join("?" * size)),
            [worker_id, due, now, *chunk, *[None] * (size - len(chunk))],
        )


_VALUE = {status: status.value for status in Status}
_RESULT = {**_VALUE, Status.PENDING: "retry"}
"""A status as stored, and as an attempt's result (a delivery left pending was an attempt to retry)."""


def record_finished(conn: sqlite3.Connection, worker_id: str, results: Sequence[Finish]) -> int:
    """Write outcomes of deliveries this worker still holds, as ``Outbox.finish`` says; returns how many
    applied. The history first, while ownership can still be checked, then the results, then the deliveries
    handed back unsent."""
    done = [r for r in results if not r.released]
    history = [(r.id, r.at, _RESULT[r.status], (r.error or r.answer or "")[:2000]) for r in done]
    for chunk in _chunks(history, unique=False, size=rows_per_statement(conn, 4)):
        values, params = _values(chunk, 4)
        conn.execute(Q["record_attempts"].format(values=values), [worker_id, *params, worker_id])
    applied = 0
    outcomes = [
        (r.id, _VALUE[r.status], r.next_attempt_at, r.error, r.answer, r.at, r.confirm_ref, r.confirm_at) for r in done
    ]
    for chunk in _chunks(outcomes, unique=True, size=rows_per_statement(conn, 8)):
        values, params = _values(chunk, 8)
        applied += conn.execute(Q["record_outcomes"].format(values=values), [*params, worker_id]).rowcount
    released = [(r.id, _VALUE[r.status], r.next_attempt_at, r.at) for r in results if r.released]
    for chunk in _chunks(released, unique=True, size=rows_per_statement(conn, 4)):
        values, params = _values(chunk, 4)
        applied += conn.execute(Q["record_released"].format(values=values), [*params, worker_id]).rowcount
    return applied
