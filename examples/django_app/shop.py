"""The Django example's checkout: the order and its conversions commit in one Django transaction.

Set ``DATABASE_URL`` (``postgresql://user@host/db``) and the project keeps its orders in PostgreSQL, and the
outbox's tables beside them, so ``transaction.atomic()`` covers both: ``tracker.checkout_sync(...,
connection=connection)`` writes the deliveries on Django's own connection. An order that rolls back leaves no
conversion; once it commits, PostgreSQL notifies the worker (in the app, started with its lifespan).

    DATABASE_URL=postgresql://shop@localhost/shop uvicorn examples.django_app.asgi:application --port 8000
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from attribution import CheckoutResult, Customer, Order, Tracker, Whop

ORDERS = """
CREATE TABLE IF NOT EXISTS shop_orders (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    total NUMERIC(12, 2) NOT NULL,
    currency TEXT NOT NULL
)
"""

#: The site's tracker when the project has a database for it; dry run: the worker records what it would send.
TRACKER: Tracker | None = (
    Tracker(vendors=[Whop(api_key="whop-placeholder-key", company_id="biz_example")], outbox=url, dry_run=True)
    if (url := os.environ.get("DATABASE_URL"))
    else None
)


class OutOfStock(Exception):
    pass


_created = False


def _orders_table() -> None:
    """Create the orders table on first use (a real project would have a model and a migration)."""
    global _created
    if not _created:
        with connection.cursor() as cursor:
            cursor.execute(ORDERS)
        _created = True


def place_order(request: Any, form: dict[str, Any]) -> CheckoutResult:
    """Write the order and queue its conversions in one transaction; ``OutOfStock`` rolls both back."""
    assert TRACKER is not None
    order = Order(id=form["id"], value=Decimal(form["total"]), currency=form["currency"])
    _orders_table()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_orders (id, email, total, currency) VALUES (%s, %s, %s, %s)",
                [order.id, form["email"], order.value, order.currency],
            )
        result = TRACKER.checkout_sync(request, order, customer=Customer(email=form["email"]), connection=connection)
        if form.get("stock", 1) < 1:
            raise OutOfStock  # after the checkout: the rollback must take the conversions with it
    return result


def order_count() -> int:
    _orders_table()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM shop_orders")
        row = cursor.fetchone()
    return int(row[0]) if row else 0
