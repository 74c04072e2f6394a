"""Order records written straight into an outbox's tables, for report tests that need exact journeys, times,
statuses and deliveries (the end-to-end tests check out through the middleware instead).

``Store`` reads through the outbox's read-only seam (``dialect``, ``table``, ``select``) and writes rows with a
connection of its own, in either backend.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from attribution.delivery.outbox.base import Outbox


@dataclass(frozen=True)
class T:
    """One touch: when (seconds), and its names."""

    at: float
    channel: str = "referral"
    source: str = "blog.example.org"
    medium: str = "referral"
    campaign: str = "(not set)"
    landing: str = "/"


@dataclass
class Store:
    """An open outbox, and a writer of order rows into its tables."""

    outbox: Outbox
    spec: str
    _ids: int = 0
    _rows: list[int] = field(default_factory=list)

    @property
    def dialect(self) -> str:
        return self.outbox.dialect

    def table(self, name: str) -> str:
        return self.outbox.table(name)

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self.outbox.select(sql, params)

    async def add(
        self,
        order_id: str,
        *,
        at: float,
        touches: Sequence[T] = (),
        value: str | None = "10.00",
        currency: str | None = "USD",
        status: str = "active",
        event: str = "purchase",
        deliveries: dict[str, str] | None = None,
        skips: dict[str, str] | None = None,
        kind: str = "send",
        data: str = "{}",
    ) -> int:
        """Write one order with its journey, deliveries ``{vendor: status}`` and skips ``{vendor: reason}``;
        ``data`` is the record's JSON text (where the customer's data would be)."""
        return await asyncio.to_thread(
            self._add, order_id, at, touches, value, currency, status, event, deliveries or {}, skips or {}, kind, data
        )

    def _add(
        self,
        order_id: str,
        at: float,
        touches: Sequence[T],
        value: str | None,
        currency: str | None,
        status: str,
        event: str,
        deliveries: dict[str, str],
        skips: dict[str, str],
        kind: str,
        data: str,
    ) -> int:
        micros = None if value is None else int(Decimal(value) * 1_000_000)
        ph = "?" if self.dialect == "sqlite" else "%s"

        def q(sql: str) -> str:
            return sql.replace("?", ph)

        order = (order_id, event, at, at, at, value, micros, currency, status, len(touches), data, data)
        with self._connect() as conn:
            cur = conn.cursor()
            cur.execute(
                q(
                    f"INSERT INTO {self.table('orders')} (order_id, event, occurred_at, created_at, updated_at, value, "
                    "value_micros, currency, status, touches, data, identifiers) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
                ),
                order,
            )
            row = int(cur.fetchone()[0])
            for position, t in enumerate(touches):
                cur.execute(
                    q(
                        f"INSERT INTO {self.table('order_touches')} (order_row, position, at, channel, source, medium, "
                        "campaign, landing) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    (row, position, t.at, t.channel, t.source, t.medium, t.campaign, t.landing),
                )
            for vendor, reason in skips.items():
                cur.execute(
                    q(f"INSERT INTO {self.table('order_skips')} (order_row, vendor, reason) VALUES (?, ?, ?)"),
                    (row, vendor, reason),
                )
            for vendor, delivery_status in deliveries.items():
                cur.execute(
                    q(
                        f"INSERT INTO {self.table('deliveries')} (vendor, dedup_key, payload, status, created_at, "
                        "updated_at, next_attempt_at, order_id, event, order_row, kind) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    (
                        vendor,
                        f"{kind}:{event}:{order_id}",
                        "{}",
                        delivery_status,
                        at,
                        at,
                        at,
                        order_id,
                        event,
                        row,
                        kind,
                    ),
                )
            conn.commit()
        return row

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            return _SQLite(self.spec)
        import psycopg

        return psycopg.connect(self.spec)


class _SQLite:
    """sqlite3's connection as a context manager that closes (its own only commits or rolls back)."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=10)
        self.conn.execute("PRAGMA foreign_keys=ON")

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()
