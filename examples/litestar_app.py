"""Litestar: the middleware in Litestar's own ``middleware=[DefineMiddleware(...)]``, the tracker's worker on
Litestar's ``lifespan=``, a handler reading the attribution and a route checking out (dry run).

    python -m examples.litestar_app --port 8000     # then open http://127.0.0.1:8000/?utm_source=newsletter&utm_medium=email

Litestar runs its middleware only for requests that match a route, so the middleware never sees the ASGI
lifespan (hence the tracker on ``lifespan=`` rather than the middleware's ``tracker=``) nor requests for
``/_attribution/...``. If you serve the browser snippet, wrap the whole application instead:
``app = AttributionMiddleware(Litestar(...), secret_key=..., tracker=tracker)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from litestar import Litestar, Request, get, post
from litestar.middleware import DefineMiddleware

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


@dataclass
class CheckoutIn:
    order_id: str
    sku: str
    price: Decimal
    quantity: int = 1
    currency: str = "USD"
    email: str | None = None


def example_vendors() -> list[Vendor]:
    """Placeholder credentials: fine in dry run, where nothing is sent."""
    return [Whop(api_key="whop-placeholder-key", company_id="biz_example"), RDStation(api_key="rd-placeholder")]


def create_app(
    *, outbox: str | os.PathLike[str] = "litestar-example-outbox.sqlite3", vendors: Sequence[Vendor] | None = None
) -> Litestar:
    tracker = Tracker(vendors=example_vendors() if vendors is None else vendors, outbox=outbox, dry_run=True)

    @get("/")
    async def home(request: Request) -> dict[str, object]:  # type: ignore[type-arg]
        attr = get_attribution(request)
        return {"channel": attr.channel.value, "utm": attr.utm, "click_ids": attr.click_ids}

    @post("/checkout", status_code=200)
    async def checkout(request: Request, data: CheckoutIn) -> dict[str, object]:  # type: ignore[type-arg]
        order = Order(
            id=data.order_id,
            value=data.price * data.quantity,
            currency=data.currency,
            items=[LineItem(id=data.sku, quantity=data.quantity, price=data.price)],
        )
        result = await tracker.checkout(request, order, customer=Customer(email=data.email))
        return {r.vendor: {"status": r.status, "reason": r.reason} for r in result}

    app = Litestar(
        route_handlers=[home, checkout],
        middleware=[DefineMiddleware(AttributionMiddleware, secret_key=SECRET_KEY)],
        lifespan=[lambda app: tracker.lifespan()],
    )
    app.state.tracker = tracker
    return app


app = create_app()

if __name__ == "__main__":
    from examples.serve import serve

    serve(app, "Litestar example", hint="?utm_source=newsletter&utm_medium=email")
