"""The transactional outbox: the order and its conversions commit together, or neither does.

The shop keeps its orders in PostgreSQL and so does the outbox (``PostgresOutbox``, the ``postgres`` extra).
``POST /orders`` opens one transaction on the shop's own connection, inserts the order, and passes that connection
to ``tracker.checkout(..., connection=conn)``: the deliveries are written in the same transaction. If anything
after that fails (here: stock runs out), the transaction rolls back and no conversion exists for an order that
never happened. Once it commits, PostgreSQL notifies the workers and they send at once.

    DATABASE_URL=postgresql://shop@localhost/shop uvicorn examples.postgres_app:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from attribution import AttributionMiddleware, Customer, Order, Tracker, Vendor, Whop
from examples.keys import secret

SECRET_KEY = secret("EXAMPLE_SECRET_KEY", "the attribution cookie")

ORDERS = """
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    total NUMERIC(12, 2) NOT NULL,
    currency TEXT NOT NULL
)
"""


class OutOfStock(Exception):
    pass


def create_app(url: str, *, vendors: Sequence[Vendor] | None = None, dry_run: bool = True) -> AttributionMiddleware:
    # One URL for both: the outbox's tables live next to the orders, so one transaction can cover both.
    tracker = Tracker(
        vendors=[Whop(api_key="whop-placeholder-key", company_id="biz_example")] if vendors is None else vendors,
        outbox=url,
        dry_run=dry_run,
    )
    pool = AsyncConnectionPool(url, min_size=1, max_size=5, open=False)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open()
        async with pool.connection() as conn:
            await conn.execute(ORDERS)
        try:
            yield
        finally:
            await pool.close()

    async def place_order(request: Request) -> JSONResponse:
        form = await request.json()
        order = Order(id=form["id"], value=Decimal(form["total"]), currency=form["currency"])
        try:
            async with pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO orders (id, email, total, currency) VALUES (%s, %s, %s, %s)",
                    (order.id, form["email"], order.value, order.currency),
                )
                result = await tracker.checkout(request, order, customer=Customer(email=form["email"]), connection=conn)
                if form.get("stock", 1) < 1:
                    raise OutOfStock  # after the checkout: the rollback must take the conversions with it
        except OutOfStock:
            return JSONResponse({"error": "out of stock"}, status_code=409)
        return JSONResponse({"order": order.id, "queued": result.queued, "duplicate": result.duplicate})

    async def order_count(request: Request) -> JSONResponse:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM orders")
            row = await cur.fetchone()
        return JSONResponse({"orders": row[0] if row else 0})

    app = Starlette(
        routes=[Route("/orders", place_order, methods=["POST"]), Route("/orders", order_count)], lifespan=lifespan
    )
    return AttributionMiddleware(app, secret_key=SECRET_KEY, tracker=tracker)


if "DATABASE_URL" in os.environ:
    app = create_app(os.environ["DATABASE_URL"])
