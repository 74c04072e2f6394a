"""Until the outbox keeps order records: both outboxes with the order tables and the read-only seam added, as
the order-record schema describes them. Removed when the outbox has them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from attribution.delivery.outbox.postgres import PostgresOutbox
from attribution.delivery.outbox.sqlite import SQLiteOutbox

SQLITE = """
ALTER TABLE deliveries ADD COLUMN order_row INTEGER REFERENCES orders (id);
ALTER TABLE deliveries ADD COLUMN hold_until REAL;
ALTER TABLE deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'send';
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, order_id TEXT NOT NULL, event TEXT NOT NULL, occurred_at REAL NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, value TEXT, value_micros INTEGER, currency TEXT,
    status TEXT NOT NULL, touches INTEGER NOT NULL, data TEXT, identifiers TEXT, UNIQUE (order_id, event));
CREATE INDEX orders_occurred ON orders (occurred_at);
CREATE TABLE order_touches (
    order_row INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE, position INTEGER NOT NULL, at REAL NOT NULL,
    channel TEXT NOT NULL, source TEXT NOT NULL, medium TEXT NOT NULL, campaign TEXT NOT NULL, landing TEXT NOT NULL,
    PRIMARY KEY (order_row, position)) WITHOUT ROWID;
CREATE TABLE order_skips (
    order_row INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE, vendor TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (order_row, vendor)) WITHOUT ROWID;
CREATE INDEX deliveries_order ON deliveries (order_row)
"""

POSTGRES = """
CREATE TABLE attribution_orders (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_id TEXT NOT NULL, event TEXT NOT NULL,
    occurred_at DOUBLE PRECISION NOT NULL, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
    value TEXT, value_micros BIGINT, currency TEXT, status TEXT NOT NULL, touches INTEGER NOT NULL, data JSON,
    identifiers JSON, UNIQUE (order_id, event));
CREATE INDEX attribution_orders_occurred ON attribution_orders (occurred_at);
CREATE TABLE attribution_order_touches (
    order_row BIGINT NOT NULL REFERENCES attribution_orders (id) ON DELETE CASCADE, position INTEGER NOT NULL,
    at DOUBLE PRECISION NOT NULL, channel TEXT NOT NULL, source TEXT NOT NULL, medium TEXT NOT NULL,
    campaign TEXT NOT NULL, landing TEXT NOT NULL, PRIMARY KEY (order_row, position));
CREATE TABLE attribution_order_skips (
    order_row BIGINT NOT NULL REFERENCES attribution_orders (id) ON DELETE CASCADE, vendor TEXT NOT NULL,
    reason TEXT NOT NULL, PRIMARY KEY (order_row, vendor));
ALTER TABLE attribution_deliveries ADD COLUMN order_row BIGINT REFERENCES attribution_orders (id);
ALTER TABLE attribution_deliveries ADD COLUMN hold_until DOUBLE PRECISION;
ALTER TABLE attribution_deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'send';
CREATE INDEX attribution_deliveries_order ON attribution_deliveries (order_row)
"""


class ShimSQLite(SQLiteOutbox):
    dialect: ClassVar[str] = "sqlite"

    async def open(self) -> None:
        await super().open()

        def work(conn: Any) -> None:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'orders'").fetchone() is None:
                for statement in SQLITE.split(";"):
                    conn.execute(statement)

        await self._run(work)

    def table(self, name: str) -> str:
        return name

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._run(lambda conn: [tuple(r) for r in conn.execute(sql, params).fetchall()])


class ShimPostgres(PostgresOutbox):
    dialect: ClassVar[str] = "postgres"

    async def open(self) -> None:
        await super().open()

        async def work(conn: Any) -> None:
            cur = await conn.execute("SELECT to_regclass('attribution_orders')")
            if (await cur.fetchone())[0] is None:
                for statement in POSTGRES.split(";"):
                    await conn.execute(statement)

        await self._run(work)

    def table(self, name: str) -> str:
        return f"attribution_{name}"

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async def work(conn: Any) -> list[tuple[Any, ...]]:
            async with conn.transaction():
                await conn.execute("SET LOCAL jit = off")
                cur = await conn.execute(sql, params)
                return [tuple(r) for r in await cur.fetchall()]

        return await self._run(work)


def shim_outbox(spec: str) -> Any:
    return ShimPostgres(spec) if spec.startswith("postgresql://") else ShimSQLite(spec)
