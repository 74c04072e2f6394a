"""Quart: the middleware wraps ``app.asgi_app`` (Quart's way of adding ASGI middleware), the tracker's worker
starts and stops with the lifespan that passes through it, a handler reads the attribution and a route checks
out (dry run).

    python -m examples.quart_app --port 8000     # then open http://127.0.0.1:8000/?utm_source=newsletter&utm_medium=email

``app.asgi_app`` sees every request and the lifespan, so ``tracker=`` on the middleware is enough; with
Quart's ``@app.before_serving`` / ``@app.after_serving`` you would call ``tracker.start()`` / ``stop()``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from quart import Quart, request

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


def example_vendors() -> list[Vendor]:
    """Placeholder credentials: fine in dry run, where nothing is sent."""
    return [Whop(api_key="whop-placeholder-key", company_id="biz_example"), RDStation(api_key="rd-placeholder")]


def create_app(
    *, outbox: str | os.PathLike[str] = "quart-example-outbox.sqlite3", vendors: Sequence[Vendor] | None = None
) -> Quart:
    tracker = Tracker(vendors=example_vendors() if vendors is None else vendors, outbox=outbox, dry_run=True)
    app = Quart(__name__)

    @app.get("/")
    async def home() -> dict[str, Any]:
        attr = get_attribution(request.scope)
        return {"channel": attr.channel.value, "utm": attr.utm, "click_ids": attr.click_ids}

    @app.post("/checkout")
    async def checkout() -> dict[str, Any]:
        body = await request.get_json()
        price = Decimal(str(body["price"]))
        quantity = int(body.get("quantity", 1))
        order = Order(
            id=str(body["order_id"]),
            value=price * quantity,
            currency=str(body.get("currency", "USD")),
            items=[LineItem(id=str(body["sku"]), quantity=quantity, price=price)],
        )
        result = await tracker.checkout(request.scope, order, customer=Customer(email=body.get("email")))
        return {r.vendor: {"status": r.status, "reason": r.reason} for r in result}

    app.asgi_app = AttributionMiddleware(app.asgi_app, secret_key=SECRET_KEY, tracker=tracker)  # type: ignore[method-assign]
    app.config["ATTRIBUTION_TRACKER"] = tracker
    return app


app = create_app()

if __name__ == "__main__":
    from examples.serve import serve

    serve(app, "Quart example", hint="?utm_source=newsletter&utm_medium=email")
