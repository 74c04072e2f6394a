"""FastAPI: the middleware captures, the tracker's worker runs on the app's lifespan, a route checks out.

    python -m examples.fastapi_app        # dry run: requests are built and recorded in the outbox, not sent

``AttributionMiddleware(..., tracker=tracker)`` starts the worker on startup and stops it on shutdown; with
your own lifespan, ``async with tracker.lifespan():`` does the same.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from decimal import Decimal

from fastapi import FastAPI, Request
from pydantic import BaseModel

from attribution import (
    AttributionMiddleware,
    Customer,
    LineItem,
    Order,
    RDStation,
    Tracker,
    Vendor,
    Whop,
    get_attribution,
)
from examples.keys import secret

SECRET_KEY = secret("EXAMPLE_SECRET_KEY", "the attribution cookie")


class CheckoutIn(BaseModel):
    order_id: str
    sku: str
    price: Decimal
    quantity: int = 1
    currency: str = "USD"
    email: str | None = None
    phone: str | None = None


def example_vendors() -> list[Vendor]:
    """Placeholder credentials: fine in dry run, where nothing is sent."""
    return [Whop(api_key="whop-placeholder-key", company_id="biz_example"), RDStation(api_key="rd-placeholder")]


def create_app(
    *, outbox: str | os.PathLike[str] = "fastapi-example-outbox.sqlite3", vendors: Sequence[Vendor] | None = None
) -> AttributionMiddleware:
    tracker = Tracker(vendors=example_vendors() if vendors is None else vendors, outbox=outbox, dry_run=True)
    api = FastAPI()

    @api.get("/")
    async def home(request: Request) -> dict[str, object]:
        attr = get_attribution(request)
        return {"channel": attr.channel.value, "utm": attr.utm, "click_ids": attr.click_ids}

    @api.post("/checkout")
    async def checkout(body: CheckoutIn, request: Request) -> dict[str, object]:
        order = Order(
            id=body.order_id,
            value=body.price * body.quantity,
            currency=body.currency,
            items=[LineItem(id=body.sku, quantity=body.quantity, price=body.price)],
        )
        result = await tracker.checkout(request, order, customer=Customer(email=body.email, phone=body.phone))
        return {
            "order_id": order.id,
            "vendors": {r.vendor: {"status": r.status, "reason": r.reason} for r in result},
        }

    return AttributionMiddleware(api, secret_key=SECRET_KEY, tracker=tracker)


app = create_app()

if __name__ == "__main__":
    from examples.serve import serve

    serve(app, "FastAPI example")
