"""Corrections of an order already checked out: a new value (a partial refund, a corrected total) or its
cancellation (a refund, a cancelled trial, cash on delivery never paid), told to every vendor that can be told.

``Tracker.adjust`` and ``Tracker.cancel`` build a ``Change`` here and hand it to the outbox, which applies it to the
order record and its deliveries in one transaction (``delivery.outbox.corrections`` plans it). Deliveries not sent
yet simply go with the corrected record, or never; a conversion the vendor already holds is corrected only where
the vendor documents how (``Vendor.corrections``), with a correction delivery the worker sends like any other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..delivery.outbox.base import Change, Outbox, VendorCorrection
from ..delivery.outbox.corrections import with_vendors
from ..errors import InvalidConversionError, UnknownOrderError
from ..orders.conversion import ISO_4217, EventName
from ..vendors.base import Vendor


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    """What ``Tracker.adjust`` or ``cancel`` did, one ``VendorCorrection`` per vendor the order was sent to."""

    order_id: str
    event: str
    kind: Literal["adjust", "cancel"]
    vendors: tuple[VendorCorrection, ...] = field(default=())

    def __getitem__(self, vendor: str) -> VendorCorrection:
        for result in self.vendors:
            if result.vendor == vendor:
                return result
        raise KeyError(vendor)

    def __iter__(self) -> Iterator[VendorCorrection]:
        return iter(self.vendors)

    @property
    def changed(self) -> bool:
        """Whether anything changed (False when the same correction was made before)."""
        return any(r.status != "unchanged" for r in self.vendors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "event": self.event,
            "kind": self.kind,
            "vendors": [
                {"vendor": r.vendor, "status": r.status, "reason": r.reason, "delivery_id": r.delivery_id}
                for r in self.vendors
            ],
        }


def event_name(event: EventName | str) -> str:
    """The stored name of an event (``purchase``, ``lead``, ..., ``custom``)."""
    return event.value if isinstance(event, EventName) else str(event)


def adjustment(value: Decimal | float | int | str, currency: str | None) -> Change:
    """An adjustment's ``Change``, checked: a finite amount of zero or more, an ISO 4217 currency if given."""
    try:
        amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidConversionError("value must be a number such as Decimal('12.50')") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidConversionError("value must be a finite amount of zero or more")
    code = None
    if currency is not None:
        code = currency.strip().upper()
        if code not in ISO_4217:
            raise InvalidConversionError(f"unknown currency {currency[:8]!r}: use an ISO 4217 code such as 'USD'")
    return Change("adjust", value=amount, currency=code)


def cancellation(reason: str) -> Change:
    return Change("cancel", reason=str(reason)[:200])


def unknown(order_id: str, event: str) -> UnknownOrderError:
    return UnknownOrderError(
        f"no order {order_id!r} with event {event!r} was checked out (or its record was purged): nothing was changed"
    )


async def correct(
    outbox: Outbox, vendors: Sequence[Vendor], order_id: str, event: str, change: Change, *, now: float
) -> CorrectionResult:
    """Apply ``change`` to a stored order, telling ``vendors`` where they can be told (``Tracker.adjust`` and
    ``cancel``, and the CLI's). Raises ``UnknownOrderError`` when no such order is kept: nothing is changed."""
    found = await outbox.order(order_id, event)
    if found is None:
        raise unknown(order_id, event)
    change = with_vendors(change, vendors, found[0])
    done = await outbox.correct(order_id, event, change, now=now)
    if done is None:
        raise unknown(order_id, event)
    return CorrectionResult(order_id, event, change.kind, tuple(done))
