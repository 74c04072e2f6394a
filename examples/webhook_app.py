"""Checkouts that finish at the payment provider: export the attribution at checkout, report on the webhook.

1. ``POST /checkout`` (the visitor's browser, with its cookie) creates a payment at the provider and puts
   ``tracker.export_token(request)`` in the payment's metadata.
2. ``POST /webhooks/payment`` (the provider's server: no cookie, another IP) says the payment succeeded;
   ``tracker.checkout_token(token, order, ...)`` queues the conversions with the visitor's attribution and
   the checkout request's context.

The provider here is a stand-in (``FakeProvider``): a dict of payments and an HMAC-signed webhook, as real
providers sign theirs. Verify the signature before trusting anything in the body.
``GET /_provider/payments/{id}/webhook`` answers with the exact body the stand-in would post for that payment
(the token is in ``data.metadata.attribution``) and its signature in an ``x-signature`` header, so the whole
flow can be tried with curl (docs/examples.md shows the commands):

    python -m examples.webhook_app --port 8000
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from attribution import (
    AttributionMiddleware,
    Customer,
    InvalidConversionError,
    Order,
    RDStation,
    TokenError,
    Tracker,
    Vendor,
    Whop,
    get_attribution,
)
from examples.keys import secret

SECRET_KEY = secret("EXAMPLE_SECRET_KEY", "the attribution cookie and checkout tokens")
WEBHOOK_SECRET = secret("EXAMPLE_WEBHOOK_SECRET", "the stand-in provider's webhook signature")


@dataclass
class FakeProvider:
    """A payment provider's view: payments with metadata, and how it signs the webhooks it sends."""

    webhook_secret: str = WEBHOOK_SECRET
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)

    def create_payment(self, amount: Decimal, currency: str, metadata: dict[str, str]) -> dict[str, Any]:
        payment = {"id": "pay_" + secrets.token_hex(6), "amount": str(amount), "currency": currency}
        payment["metadata"] = dict(metadata)
        self.payments[payment["id"]] = payment
        return payment

    def sign(self, body: bytes) -> str:
        return hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()

    def verify(self, body: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(body), signature)

    def succeeded(self, payment_id: str, email: str | None = None) -> tuple[bytes, str]:
        """The webhook this provider posts once the payment succeeds: its body and its signature."""
        event = {"type": "payment.succeeded", "data": {**self.payments[payment_id], "email": email}}
        body = json.dumps(event).encode()
        return body, self.sign(body)


def example_vendors() -> list[Vendor]:
    return [Whop(api_key="whop-placeholder-key", company_id="biz_example"), RDStation(api_key="rd-placeholder")]


def create_app(
    *,
    outbox: str | os.PathLike[str] = "webhook-example-outbox.sqlite3",
    vendors: Sequence[Vendor] | None = None,
    provider: FakeProvider | None = None,
) -> AttributionMiddleware:
    tracker = Tracker(
        vendors=example_vendors() if vendors is None else vendors, outbox=outbox, secret_key=SECRET_KEY, dry_run=True
    )
    payments = provider or FakeProvider()

    async def home(request: Request) -> JSONResponse:
        attr = get_attribution(request)
        return JSONResponse({"channel": attr.channel.value, "utm": attr.utm, "click_ids": attr.click_ids})

    async def checkout(request: Request) -> JSONResponse:
        """The visitor starts paying: the attribution goes into the payment's metadata."""
        body = await request.json()
        order_id = str(body["order_id"])
        metadata = {"order_id": order_id, "attribution": tracker.export_token(request)}
        payment = payments.create_payment(Decimal(str(body["amount"])), str(body["currency"]), metadata)
        return JSONResponse({"payment_id": payment["id"]})

    async def webhook(request: Request) -> JSONResponse:
        """The provider says a payment succeeded. No cookie here: the token carries the attribution."""
        raw = await request.body()
        if not payments.verify(raw, request.headers.get("x-signature", "")):
            return JSONResponse({"error": "bad signature"}, status_code=400)
        event = json.loads(raw)
        if event.get("type") != "payment.succeeded":
            return JSONResponse({"ignored": event.get("type")})
        payment = event["data"]
        metadata = payment.get("metadata") or {}
        try:
            order = Order(id=metadata["order_id"], value=Decimal(payment["amount"]), currency=payment["currency"])
            customer = Customer(email=payment.get("email"))
            result = await tracker.checkout_token(metadata["attribution"], order, customer=customer)
        except (KeyError, InvalidConversionError, TokenError) as exc:
            # 4xx: the provider stops retrying a webhook we will never accept.
            return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=422)
        return JSONResponse({r.vendor: r.status for r in result})

    async def provider_webhook(request: Request) -> Response:
        """Not part of a real site: what the stand-in provider would post to /webhooks/payment."""
        payment_id = request.path_params["payment_id"]
        if payment_id not in payments.payments:
            return JSONResponse({"error": "no such payment"}, status_code=404)
        body, signature = payments.succeeded(payment_id, request.query_params.get("email"))
        return Response(body, media_type="application/json", headers={"x-signature": signature})

    site = Starlette(
        routes=[
            Route("/", home),
            Route("/checkout", checkout, methods=["POST"]),
            Route("/webhooks/payment", webhook, methods=["POST"]),
            Route("/_provider/payments/{payment_id}/webhook", provider_webhook),
        ]
    )
    site.state.provider = payments
    site.state.tracker = tracker
    return AttributionMiddleware(site, secret_key=SECRET_KEY, tracker=tracker)


app = create_app()

if __name__ == "__main__":
    from examples.serve import serve

    serve(app, "webhook example")
