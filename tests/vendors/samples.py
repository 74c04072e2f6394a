"""Shared fixtures for the vendor tests: a fixed clock, captured attribution, and a wire to send through."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2

from attribution.capture.models import Attribution, Channel, Touch
from attribution.capture.params import DEFAULT_CLICK_ID_WINDOWS
from attribution.orders.conversion import Conversion, Customer, LineItem, Order, RequestContext
from attribution.orders.identifiers import derive_all
from attribution.vendors.base import JSON, Outcome, Vendor

#: 1746480000 = 2025-05-05T21:20:00Z, the event_time of Connectly's own example.
NOW = datetime(2025, 5, 5, 21, 20, tzinfo=UTC)
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/127.0.0.0 Safari/537.36"
)

CTWA = {
    "cnct_tracking_id": "trk_8f3a",
    "sendout_id": "so_1207",
    "ctwa_clid": "ARAkLk3xCTWAclid",
    "ad_id": "120210000000001",
    "attribution_source": "meta_ctwa",
}


def attribution(*touches: Touch, identifiers: dict[str, str] | None = None, now: datetime = NOW) -> Attribution:
    """Attribution as capture stores it (first touch, history oldest first, cookie ids), read at ``now``."""
    attr = Attribution(first=touches[0] if touches else None, history=list(touches), identifiers=identifiers or {})
    return attr.with_windows(DEFAULT_CLICK_ID_WINDOWS, now=now)


def touch(ago: timedelta, channel: Channel = Channel.PAID_SOCIAL, referrer: str | None = None, **params: str) -> Touch:
    return Touch(at=NOW - ago, params=params, path="/landing", referrer=referrer, channel=channel)


def order(**overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "id": "ORD-7821",
        "value": Decimal("99.97"),
        "currency": "USD",
        "items": [
            LineItem(id="sku-1", name="Blanket", quantity=1, price=Decimal("49.99"), category="Pet supplies"),
            LineItem(id="sku-2", name="Bowl", quantity=1, price=Decimal("49.98"), category="Pet supplies"),
        ],
        "time": NOW,
    }
    fields.update(overrides)
    return Order(**fields)


def purchase(attr: Attribution, customer: Customer | None = None, **overrides: Any) -> Conversion:
    fields: dict[str, Any] = {
        "order": order(),
        "customer": customer or Customer(),
        "attribution": attr,
        "context": RequestContext(
            ip="203.0.113.7", user_agent=UA, url="https://shop.example.com/checkout", referrer=None
        ),
    }
    fields.update(overrides)
    return Conversion(**fields)


Handler = Callable[[httpx2.Request], httpx2.Response]


@dataclass(frozen=True)
class Queued:
    """What checkout writes for one vendor, with the payload the worker builds from the stored order."""

    vendor: str
    dedup_key: str
    batch_key: str
    payload: JSON


def queued(vendor: Vendor, conversion: Conversion) -> Queued:
    """The delivery of ``conversion`` to ``vendor``: checked as checkout checks it, and its payload built from the
    customer forms an order record keeps for that vendor, as the worker builds it."""
    reason = vendor.check(conversion)
    assert reason is None, reason
    stored = conversion.with_identifiers(derive_all(vendor.identifiers, conversion.customer))
    return Queued(vendor.name, conversion.dedup_id, vendor.batch_key(conversion), vendor.payload(stored))


def send(vendor: Vendor, payloads: Sequence[JSON], handler: Handler | None = None) -> tuple[httpx2.Request, Outcome]:
    """Build the request, send it through a mock transport, return what went on the wire and the outcome."""
    seen: list[httpx2.Request] = []

    def record(request: httpx2.Request) -> httpx2.Response:
        request.read()
        seen.append(request)
        return handler(request) if handler else httpx2.Response(200, json={"ok": True})

    with httpx2.Client(transport=httpx2.MockTransport(record)) as client:
        response = client.send(vendor.build_request(payloads))
    (wire,) = seen
    return wire, vendor.read_response(response)


def response(
    status: int, body: Any = None, headers: dict[str, str] | None = None, text: str | None = None
) -> httpx2.Response:
    """A response as the worker hands it to ``read_response`` (with its request attached)."""
    request = httpx2.Request("POST", "https://vendor.test/")
    if text is not None:
        return httpx2.Response(status, text=text, headers=headers, request=request)
    if body is None:
        return httpx2.Response(status, headers=headers, request=request)
    return httpx2.Response(status, json=body, headers=headers, request=request)
