"""The delivery accuracy report: per vendor, how many of the window's orders it saw, and what came of them.

For each vendor: ``orders`` it saw at checkout (queued for it, or skipped), ``queued`` (a delivery was written),
and of those ``delivered``, ``failed`` (dead: out of attempts, refused for good, or too old), ``pending``
(waiting, being sent, or held back before sending), plus ``dry_run`` (built and recorded, not sent) and
``cancelled`` (the order was cancelled before it was sent); ``skipped`` counts, per reason, the orders the vendor
did not apply to, with the reason checkout gave (no click id, no consent, an event the vendor does not take...).

Only an order's first sending counts (deliveries of kind ``send``); corrections sent later are not orders. The
window is on the order's time, as in the revenue report; every event counts unless one is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from . import queries
from .queries import Bounds, Readable
from .revenue import iso, window

#: Where each delivery status counts.
COLUMNS: Final = {
    "delivered": "delivered",
    "dead": "failed",
    "pending": "pending",
    "sending": "pending",
    "held": "pending",
    "dry_run": "dry_run",
    "cancelled": "cancelled",
}


@dataclass(frozen=True, slots=True)
class VendorAccuracy:
    """One vendor's orders in the window, by what came of them."""

    vendor: str
    orders: int = 0
    queued: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    dry_run: int = 0
    cancelled: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "orders": self.orders,
            "queued": self.queued,
            "delivered": self.delivered,
            "failed": self.failed,
            "pending": self.pending,
            "skipped": dict(self.skipped),
            "dry_run": self.dry_run,
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Per vendor, by name."""

    since: datetime
    until: datetime | None
    vendors: tuple[VendorAccuracy, ...] = ()
    event: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"vendors": [{"vendor", "orders", "queued", "delivered", "failed", "pending", "skipped": {reason:
        count}}]}`` (each vendor also with ``dry_run`` and ``cancelled``), plus ``since``, ``until`` and
        ``event``."""
        return {
            "since": iso(self.since),
            "until": None if self.until is None else iso(self.until),
            "event": self.event,
            "vendors": [v.to_dict() for v in self.vendors],
        }


async def delivery_report(
    box: Readable,
    *,
    since: timedelta | datetime = timedelta(days=30),
    until: datetime | None = None,
    event: str | None = None,
    now: float,
) -> DeliveryReport:
    """Count in the outbox: two statements (statuses, skip reasons), a row per vendor and status or reason."""
    start, end = window(since, until, now=now)
    bounds = Bounds(event, start.timestamp(), None if end is None else end.timestamp())
    sql, params = queries.deliveries(box, bounds)
    statuses = await box.select(sql, params)
    sql, params = queries.skips(box, bounds)
    reasons = await box.select(sql, params)
    return DeliveryReport(since=start, until=end, vendors=accuracy(statuses, reasons), event=event)


def accuracy(statuses: Iterable[Sequence[Any]], reasons: Iterable[Sequence[Any]]) -> tuple[VendorAccuracy, ...]:
    """Per vendor, from ``(vendor, status, count)`` and ``(vendor, reason, count)`` rows."""
    counts: dict[str, dict[str, int]] = {}
    skipped: dict[str, dict[str, int]] = {}
    for vendor, status, n in statuses:
        row = counts.setdefault(vendor, {})
        row["queued"] = row.get("queued", 0) + int(n)
        column = COLUMNS.get(status)
        if column is not None:
            row[column] = row.get(column, 0) + int(n)
    for vendor, reason, n in reasons:
        skipped.setdefault(vendor, {})[reason] = int(n)
    out = []
    for vendor in sorted(counts.keys() | skipped.keys()):
        row, why = counts.get(vendor, {}), skipped.get(vendor, {})
        out.append(VendorAccuracy(vendor=vendor, orders=row.get("queued", 0) + sum(why.values()), skipped=why, **row))
    return tuple(out)
