"""Before a request: which claimed deliveries still go, and the event each one sends, built from its order record.

A delivery's request is built when it is sent, from the order record checkout wrote (``orders.record``), so a
corrected value or a fixed adapter applies to what is still waiting. Some deliveries are settled here without a
request: one of a cancelled order (never sent), a correction whose conversion never reached the vendor (nothing to
correct), one whose record was purged or cannot be built (dead, with the reason). A correction whose conversion is
still on its way is handed back until that one has settled.

Pure: the worker passes the time in and writes the outcomes; nothing here touches the outbox or the network.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..vendors.base import JSON, Vendor
from .outbox.base import WAITING, Delivery, Finish, Status

log = logging.getLogger("attribution.worker")

CORRECTION_RECHECK = 5.0
"""Seconds at least before a correction handed back (its conversion still on its way) is claimed again."""


@dataclass(slots=True)
class Prepared:
    """A claimed chunk sorted out: the deliveries to send with their events, and the outcomes of the others."""

    send: list[Delivery] = field(default_factory=list)
    payloads: list[JSON] = field(default_factory=list)
    settled: list[Finish] = field(default_factory=list)
    """Finished without a request (cancelled, dead), or handed back (``released``)."""

    def add(self, other: Prepared) -> None:
        """``other``'s deliveries after these (a chunk prepared in parts, in order)."""
        self.send += other.send
        self.payloads += other.payloads
        self.settled += other.settled


def prepare(vendor: Vendor, chunk: Sequence[Delivery], now: float) -> Prepared:
    """Each delivery of ``chunk``: its event to send, or the outcome it comes to without one."""
    out = Prepared()
    for delivery in chunk:
        settled = _without_request(delivery, now)
        if settled is not None:
            out.settled.append(settled)
            continue
        try:
            payload = event_of(vendor, delivery)
        except Exception as exc:
            # An adapter's bug or a record this release cannot read: dead, with the type only (the message may quote
            # the customer's data); the operator fixes it and revives it with `attribution retry`.
            log.error("%s: building delivery %s's event failed (%s)", vendor.name, delivery.id, type(exc).__name__)
            reason = str(exc) if isinstance(exc, ValueError) and "purged" in str(exc) else type(exc).__name__
            out.settled.append(Finish(delivery.id, Status.DEAD, now, error=f"could not build the event: {reason}"))
            continue
        out.send.append(delivery)
        out.payloads.append(payload)
    return out


def count_readers(claimed: Iterable[Delivery]) -> None:
    """Count, on each order record of a claim, the deliveries that will build a request from it: the record is decoded
    once however many vendors read it, and its conversion let go once the last of them has (``event_of``)."""
    for delivery in claimed:
        if delivery.order is not None and delivery.payload is None:
            delivery.order.readers += 1


def event_of(vendor: Vendor, delivery: Delivery) -> JSON:
    """The event ``delivery`` sends: its stored payload (a delivery written before order records), else the vendor's
    event (or correction) built from the order record."""
    if delivery.payload is not None:
        return delivery.payload
    order = delivery.order
    if order is None:
        raise ValueError("the delivery has neither a payload nor an order record")
    try:
        conversion = order.conversion()
        if delivery.kind == "send":
            return vendor.payload(conversion)
        return vendor.correction(conversion, delivery.kind, datetime.fromtimestamp(delivery.created_at, UTC))
    finally:
        order.done_reading()


def _without_request(delivery: Delivery, now: float) -> Finish | None:
    order = delivery.order
    if delivery.kind == "send":
        if order is not None and order.cancelled:
            return Finish(delivery.id, Status.CANCELLED, now, error="the order was cancelled before it was sent")
        return None
    original = delivery.original_status
    if original in WAITING:
        due = max(delivery.original_due or now, now + CORRECTION_RECHECK)
        return Finish(delivery.id, Status.PENDING, now, next_attempt_at=due, released=True)
    if original not in (Status.DELIVERED, Status.DRY_RUN):
        return Finish(delivery.id, Status.CANCELLED, now, error="nothing was delivered to correct")
    return None
