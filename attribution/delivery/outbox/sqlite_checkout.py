"""The SQLite outbox's checkouts: orders and their deliveries as rows, and the few statements that write a group.

``encode`` runs in the checkout's event loop (see ``sqlite_group``): the record's JSON is written there, so the
database thread, which shares the GIL with every event loop, runs little Python per group. ``write`` runs on the
database thread, inside the group's transaction: every order of the group in one INSERT, the new orders' ids read
back in one statement (the ids above the largest before, as for deliveries), then their journeys and skipped vendors
in one INSERT each, then every delivery in one INSERT with its order's id. A group costs a handful of statements
however many checkouts it holds: each statement is a step that gives the GIL away and waits to get it back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...orders.record import micros
from . import queries
from .base import Enqueued, NewOrder, Status

Q = queries.load("sqlite.sql")

Row = tuple[Any, ...]

MAX_ROWS = 500
"""Rows per INSERT statement: at most 13 parameters each, below SQLite's limit on parameters (32,766 since 3.32)."""

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` without building an encoder per call."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """One order as rows, ready for the database thread."""

    key: tuple[str, str]
    """(order_id, event): the record's identity."""
    order: Row
    """``enqueue_orders``' parameters."""
    touches: list[Row]
    """``enqueue_touches``' parameters, without the order's id (known once it is inserted)."""
    skips: list[Row]
    deliveries: list[Row]
    """``enqueue``' parameters, the order's id left out (it goes last but one)."""
    keys: list[tuple[str, str]]
    """(vendor, dedup_key) of each delivery, in order."""


def encode(orders: Sequence[NewOrder], now: float) -> list[Encoded]:
    """The rows of each order. A record that is not JSON raises ``TypeError`` here, in the checkout."""
    out = []
    for new in orders:
        record = new.record
        value = None if record.value is None else str(record.value)
        order = (
            record.order_id,
            record.event,
            record.occurred_at.timestamp(),
            now,
            now,
            value,
            micros(record.value),
            record.currency,
            len(record.journey),
            _dumps(record.data),
            _dumps(record.identifiers),
        )
        touches = [
            (n, t.at.timestamp(), t.channel, t.source, t.medium, t.campaign, t.landing)
            for n, t in enumerate(record.journey)
        ]
        deliveries = [
            (
                d.vendor,
                d.dedup_key,
                d.batch_key,
                Status.PENDING.value if d.hold_until is None else Status.HELD.value,
                now,
                now,
                now if d.hold_until is None else d.hold_until,
                record.order_id,
                record.event,
                "send",
                d.hold_until,
            )
            for d in new.deliveries
        ]
        out.append(
            Encoded(
                key=(record.order_id, record.event),
                order=order,
                touches=touches,
                skips=list(new.skipped.items()),
                deliveries=deliveries,
                keys=[(d.vendor, d.dedup_key) for d in new.deliveries],
            )
        )
    return out


def write(conn: sqlite3.Connection, group: Sequence[Sequence[Encoded]]) -> list[list[Enqueued]]:
    """Every order of ``group`` (one list per checkout) and its deliveries, inside the caller's transaction; what
    became of each checkout's deliveries. An order already recorded keeps its record, journey and skips; a delivery
    key already stored (or twice in the group) is written once, the others are duplicates of the row stored."""
    orders = [order for checkout in group for order in checkout]
    rows = _insert_orders(conn, orders)
    firsts = {o.key: o for o in reversed(orders)}  # an order twice in a group: the first one's journey and skips
    new = [(rows[key][0], o) for key, o in firsts.items() if rows[key][1]]
    _insert_many(conn, "enqueue_touches", _marks(8), [(row, *t) for row, o in new for t in o.touches])
    _insert_many(conn, "enqueue_skips", _marks(3), [(row, *s) for row, o in new for s in o.skips])
    # (vendor, dedup_key, batch_key, status, created, updated, next, order_id, event, order_row, kind, hold_until)
    deliveries = [(*d[:9], rows[o.key][0], *d[9:]) for o in orders for d in o.deliveries]
    fresh = _insert_deliveries(conn, deliveries)
    return [_enqueued(conn, checkout, rows, fresh) for checkout in group]


def _marks(width: int) -> str:
    return "(" + ", ".join("?" * width) + ")"


def _insert_orders(conn: sqlite3.Connection, orders: Sequence[Encoded]) -> dict[tuple[str, str], tuple[int, bool]]:
    """Each order's row id and whether this group recorded it (False: recorded before, or earlier in the group)."""
    (last_id,) = conn.execute(Q["last_order_id"]).fetchone()
    _insert_many(conn, "enqueue_orders", Q["enqueue_order_row"], [order.order for order in orders])
    (inserted,) = conn.execute(Q["orders_since"], {"last_id": last_id}).fetchone()
    rows: dict[tuple[str, str], tuple[int, bool]] = {(o, e): (i, True) for i, o, e in json.loads(inserted)}
    for order in orders:
        if order.key not in rows:
            (stored,) = conn.execute(Q["stored_order"], {"order_id": order.key[0], "event": order.key[1]}).fetchone()
            rows[order.key] = (stored, False)
    return rows


def _insert_many(conn: sqlite3.Connection, name: str, marks: str, rows: Sequence[Row]) -> None:
    """``rows`` through the statement ``name`` (``{rows}``: ``marks`` once per row), ``MAX_ROWS`` at a time."""
    for start in range(0, len(rows), MAX_ROWS):
        chunk = rows[start : start + MAX_ROWS]
        conn.execute(Q[name].format(rows=", ".join([marks] * len(chunk))), [v for row in chunk for v in row])


def _insert_deliveries(conn: sqlite3.Connection, rows: Sequence[Row]) -> dict[tuple[str, str], int]:
    """Deliveries in few statements: the id of each row inserted, by vendor and dedup key (``last_id`` says why the
    rows above the largest id before are exactly those inserted)."""
    if not rows:
        return {}
    (last_id,) = conn.execute(Q["last_id"]).fetchone()
    _insert_many(conn, "enqueue", Q["enqueue_row"], rows)
    (inserted,) = conn.execute(Q["inserted_since"], {"last_id": last_id}).fetchone()
    return {(vendor, key): id_ for id_, vendor, key in json.loads(inserted)}


def _enqueued(
    conn: sqlite3.Connection,
    checkout: Sequence[Encoded],
    rows: dict[tuple[str, str], tuple[int, bool]],
    fresh: dict[tuple[str, str], int],
) -> list[Enqueued]:
    """What became of one checkout's deliveries: the first to claim a key the insert wrote is new (it is taken from
    ``fresh``), any other (an older row, or the same key earlier in the group) a duplicate of the row stored."""
    out = []
    for order in checkout:
        row = rows[order.key][0]
        for vendor, key in order.keys:
            found = fresh.pop((vendor, key), None)
            if found is not None:
                out.append(Enqueued(found, vendor, key, duplicate=False, order_row=row))
                continue
            (stored,) = conn.execute(Q["stored_id"], {"vendor": vendor, "dedup_key": key}).fetchone()
            out.append(Enqueued(stored, vendor, key, duplicate=True, order_row=row))
    return out
