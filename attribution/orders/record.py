"""One checked-out order (or event) as the outbox keeps it, and the conversion the worker rebuilds from it.

Checkout writes one record per order and event; each vendor's delivery refers to it, and the worker builds the
vendor's request from it when it sends. The record holds everything a vendor reads, in three parts:

- ``value`` and ``currency`` apart, since corrections change them (``Tracker.adjust``);
- ``data``: the order (id, time, items), the request context, the visitor's attribution as checkout read it
  (the cookie's compact wire form, its click-id windows, and the moment it was read, so a click id inside its
  window at checkout is still inside it when the worker sends hours later), and the visitor's consent;
- ``identifiers``: the customer, only in the forms the applicable vendors declared (``orders.identifiers``).

Touch and click times are kept to the second, as the cookie keeps them. ``journey`` (``orders.journey``) is
what reports read: times, channels and campaign names, never the customer or the visitor's ids.

The worker decodes a record for every delivery it sends, so the layout is made to decode cheaply: since layout 2
the attribution is kept whole (every click id written out, as ``wire.from_wire`` reads it), not in the cookie's
compact form that a signed cookie needs checked and its click ids derived back from the touches. The outbox's own
rows are trusted data: they are read without validating them again (a record that does not decode is a delivery
dead with the error's type). Layout 1 records, written before, still decode through the cookie's checked path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from ..capture.consent import GRANTED, Consent
from ..capture.models import Attribution, trusted
from ..capture.params import DEFAULT_CLICK_ID_WINDOWS
from ..capture.wire import from_wire, parse, to_wire
from .conversion import Conversion, Customer, EventName, LineItem, Order, RequestContext
from .identifiers import Identifier
from .journey import JourneyTouch, journey

JSON = dict[str, Any]
VERSION: Final = 2
"""The layout of ``data``; a record written by a newer release is refused, not misread."""
_COMPACT: Final = 1
"""The layout before 2: the attribution in the cookie's compact wire form (``wire.compact``)."""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """What checkout stores for one order and event. ``identifiers`` and ``data`` hold personal data: their repr
    never shows them."""

    order_id: str
    event: str
    occurred_at: datetime
    value: Decimal | None
    currency: str | None
    data: JSON = field(repr=False)
    identifiers: dict[str, str] = field(repr=False)
    journey: tuple[JourneyTouch, ...] = ()

    @property
    def dedup_id(self) -> str:
        """``purchase:ORD-7821``, as ``Conversion.dedup_id`` says it: one record per order and event."""
        return f"{self.event}:{self.order_id}"


def record_of(conversion: Conversion, forms: Iterable[Identifier]) -> OrderRecord:
    """The record of a conversion, keeping the customer only in ``forms``."""
    attribution = conversion.attribution
    read_at = attribution_read_at(attribution)
    windows = attribution.click_id_windows
    own = {
        key: int(windows[key].total_seconds())
        for key in attribution.clicks
        if key in windows and windows[key] != DEFAULT_CLICK_ID_WINDOWS.get(key)
    }
    context = conversion.context
    order = conversion.order
    data: JSON = {
        "v": VERSION,
        "event_id": conversion.event_id,
        "time": conversion.event_time.isoformat(),
        "attribution": to_wire(attribution),
        "read_at": read_at.timestamp(),
    }
    if conversion.custom_name is not None:
        data["custom_name"] = conversion.custom_name
    if order is not None:
        data["order"] = {"time": order.time.isoformat(), "items": [_item(i) for i in order.items]}
    ctx = {k: v for k, v in (("ip", context.ip), ("ua", context.user_agent), ("url", context.url)) if v}
    if context.referrer:
        ctx["ref"] = context.referrer
    if ctx:
        data["context"] = ctx
    if own:
        data["windows"] = own
    choices = conversion.consent.compact()
    if choices is not None:
        data["consent"] = choices
    return OrderRecord(
        order_id=conversion.event_id,
        event=conversion.event.value,
        occurred_at=conversion.event_time,
        value=conversion.value,
        currency=conversion.currency,
        data=data,
        # through the conversion: the forms the vendors' checks derived a moment ago are not derived again
        identifiers={form.name: value for form in forms if (value := conversion.identifier(form))},
        journey=journey(attribution),
    )


def conversion_of(
    order_id: str,
    event: str,
    value: Decimal | None,
    currency: str | None,
    data: Mapping[str, Any],
    identifiers: Mapping[str, str],
) -> Conversion:
    """The conversion a record describes, as vendors read it: no ``Customer``, only the stored forms
    (``Conversion.with_identifiers``), the attribution read at the moment checkout read it. Raises ``ValueError``
    for a record this release cannot read."""
    version = data.get("v")
    if version == VERSION:
        decoded = from_wire(data["attribution"], copy=False)  # the decode's own dicts: not copied
    elif version == _COMPACT:
        wire = parse(data["attribution"])
        if wire is None:
            raise ValueError("an order record whose attribution is not understood")
        decoded = from_wire(wire)
    else:
        raise ValueError(f"an order record of layout {version!r}, not {VERSION}: upgrade asgi-attribution")
    own = data.get("windows")
    windows = {**DEFAULT_CLICK_ID_WINDOWS, **{k: timedelta(seconds=v) for k, v in own.items()}} if own else None
    read_at = datetime.fromtimestamp(data["read_at"], UTC)
    attribution = decoded.with_windows(windows or DEFAULT_CLICK_ID_WINDOWS, read_at)
    ctx = data.get("context", {})
    context = trusted(
        RequestContext,
        {"ip": ctx.get("ip"), "user_agent": ctx.get("ua"), "url": ctx.get("url"), "referrer": ctx.get("ref")},
    )
    event_time = datetime.fromisoformat(data["time"])
    stored_order = data.get("order")
    order = None
    if stored_order is not None:
        order = trusted(
            Order,
            {
                "id": order_id,
                "value": value,
                "currency": currency,
                "items": [_line_item(i) for i in stored_order["items"]],
                "time": datetime.fromisoformat(stored_order["time"]),
            },
        )
    conversion = trusted(
        Conversion,
        {
            "event": EventName(event),
            "custom_name": data.get("custom_name"),
            "order": order,
            "event_id": data["event_id"],
            "value": value,
            "currency": currency,
            "event_time": event_time,
            "customer": _NOBODY,
            "attribution": attribution,
            "context": context,
            "consent": _consent(data.get("consent")),
        },
    )
    private = conversion.__pydantic_private__
    assert private is not None  # trusted sets the defaults of Conversion's private attributes
    private["_stored"] = dict(identifiers)  # as ``conversion._stored = ...``, without pydantic's __setattr__
    return conversion


_NOBODY: Final = Customer()


def _consent(choices: Any) -> Consent:
    # the default (no consent hook) is one frozen instance, not a validation per delivery
    return GRANTED if choices is None else Consent.from_compact(choices)


def _item(item: LineItem) -> list[Any]:
    return [item.id, item.name, item.quantity, str(item.price), item.category]


def _line_item(raw: list[Any]) -> LineItem:
    id_, name, quantity, price, category = raw
    fields = {"id": id_, "name": name, "quantity": quantity, "price": Decimal(price), "category": category}
    return trusted(LineItem, fields)


def micros(value: Decimal | None) -> int | None:
    """A value in millionths, for exact sums in SQL (``Decimal("12.5")`` → 12500000); None stays None."""
    return None if value is None else int((value * 1_000_000).to_integral_value())


def read_value(text: str | None) -> Decimal | None:
    """A stored amount (a decimal string, never a float) back as a ``Decimal``."""
    return None if text is None else Decimal(text)


def attribution_read_at(attribution: Attribution) -> datetime:
    """The moment a pinned attribution answers for (checkout's clock)."""
    private = attribution.__pydantic_private__ or {}
    return private.get("_now") or datetime.now(UTC)
