"""What a correction of an order does to each of its deliveries: a pure plan, which every backend carries out in
one transaction.

A delivery not sent yet needs nothing but the corrected record (its request is built from it when sent) or, for a
cancellation, to be cancelled. A conversion the vendor may already hold (delivered, or in flight) can only be
corrected by telling the vendor: a correction delivery (``restate`` or ``retract``) where the vendor documents one,
else the result says ``not_supported``. A correction delivery waits for the conversion it corrects to settle (the
worker hands it back meanwhile), and is built from the record when sent, so a restatement queued and then adjusted
again carries the latest value, and a cancellation makes a waiting restatement pointless (it is cancelled).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ...orders.record import micros
from ...vendors.base import Vendor
from .base import Change, Kind, Status, StoredOrder, VendorCorrection

_NOT_SENT = frozenset({Status.PENDING, Status.HELD, Status.DEAD, Status.DRY_RUN})
_MAY_BE_HELD_BY_VENDOR = frozenset({Status.DELIVERED, Status.SENDING})


@dataclass(frozen=True, slots=True)
class Stored:
    """One delivery of the order, as the correction finds it."""

    id: int
    vendor: str
    kind: str
    status: Status


@dataclass(slots=True)
class Plan:
    """What to write: the order's new value or status, deliveries to cancel, corrections to queue, and the answer."""

    value: Decimal | None = None
    currency: str | None = None
    cancel_order: bool = False
    changes_record: bool = False
    cancel: list[tuple[int, str]] = field(default_factory=list)
    """(delivery id, reason) to mark cancelled."""
    queue: list[tuple[str, Kind, str, str]] = field(default_factory=list)
    """(vendor, kind, dedup key, batch key) of the correction deliveries to write."""
    results: list[VendorCorrection] = field(default_factory=list)


def with_vendors(change: Change, vendors: Sequence[Vendor], stored: StoredOrder | None) -> Change:
    """``change`` told which vendors can be corrected, and the batch keys of their corrections (built from the
    stored order; none when its details were purged)."""
    if stored is None or stored.scrubbed:
        reason = "the order's details were purged after the retention period: the vendors cannot be told"
        return Change(change.kind, change.value, change.currency, change.reason, unavailable=reason)
    conversion = stored.conversion()
    keys = {
        (vendor.name, kind): vendor.correction_batch_key(conversion, kind)
        for vendor in vendors
        for kind in vendor.corrections
    }
    return Change(
        change.kind,
        change.value,
        change.currency,
        change.reason,
        restate=frozenset(v.name for v in vendors if "restate" in v.corrections),
        retract=frozenset(v.name for v in vendors if "retract" in v.corrections),
        batch_keys=keys,
    )


def plan(
    change: Change,
    *,
    dedup_id: str,
    value: Decimal | None,
    currency: str | None,
    cancelled: bool,
    deliveries: Sequence[Stored],
    batch_keys: Mapping[tuple[str, str], str],
) -> Plan:
    """The plan for ``change`` to an order whose current value, currency and state are given, with ``deliveries``
    (conversions and corrections, oldest first). ``batch_keys``: (vendor, kind) → the correction's batch key."""
    out = Plan()
    sends = [d for d in deliveries if d.kind == "send"]
    if cancelled:
        out.results = [VendorCorrection(d.vendor, "unchanged", "the order is cancelled", d.id) for d in sends]
        return out
    if change.kind == "adjust":
        if change.value == value and (change.currency or currency) == currency:
            out.results = [VendorCorrection(d.vendor, "unchanged", f"already {value} {currency}", d.id) for d in sends]
            return out
        out.value, out.currency, out.changes_record = change.value, change.currency or currency, True
    else:
        out.cancel_order = out.changes_record = True
    for send in sends:
        corrections = [d for d in deliveries if d.vendor == send.vendor and d.kind != "send"]
        out.results.append(_one(change, send, corrections, dedup_id, batch_keys, out))
    return out


def _one(
    change: Change,
    send: Stored,
    corrections: Sequence[Stored],
    dedup_id: str,
    batch_keys: Mapping[tuple[str, str], str],
    out: Plan,
) -> VendorCorrection:
    vendor, reason = send.vendor, change.reason or change.kind
    if send.status == Status.CANCELLED:
        return VendorCorrection(vendor, "unchanged", "never sent: it was cancelled", send.id)
    if send.status in _NOT_SENT:
        if change.kind == "adjust":
            return VendorCorrection(vendor, "adjusted", "not sent yet: it goes with the new value", send.id)
        out.cancel.append((send.id, f"cancelled before it was sent ({reason})"))
        return VendorCorrection(vendor, "cancelled", "not sent yet: it never will be", send.id)
    assert send.status in _MAY_BE_HELD_BY_VENDOR
    waiting = [c for c in corrections if c.status in (Status.PENDING, Status.HELD)]
    kind: Kind = "restate" if change.kind == "adjust" else "retract"
    able = change.restate if kind == "restate" else change.retract
    if vendor not in able:
        what = "a new value" if kind == "restate" else "a cancellation"
        why = change.unavailable or f"{vendor} documents no way to be told of {what}"
        return VendorCorrection(vendor, "not_supported", why, send.id)
    if kind == "restate":
        queued = next((c for c in waiting if c.kind == "restate"), None)
        if queued is not None:  # built from the record when sent: it carries the newest value already
            return VendorCorrection(
                vendor, "restated", "a restatement was already waiting: it sends the new value", queued.id
            )
    else:
        for c in waiting:  # a retraction makes a waiting restatement pointless
            out.cancel.append((c.id, "superseded: the order was cancelled"))
    number = len(corrections) + 1
    out.queue.append((vendor, kind, f"{dedup_id}:{kind}:{number}", batch_keys.get((vendor, kind), kind)))
    if kind == "restate":
        return VendorCorrection(vendor, "restated", "a restatement is queued", None)
    return VendorCorrection(vendor, "retracted", "a retraction is queued", None)


def statements(plan: Plan, order: StoredOrder, now: float) -> list[tuple[str, dict[str, Any]]]:
    """The statements (by name, the same in every backend's SQL file) and parameters that carry a plan out, in order.
    ``queue_correction`` returns the new delivery's id (none when its key was taken)."""
    out: list[tuple[str, dict[str, Any]]] = []
    if plan.cancel_order:
        out.append(("cancel_order", {"row": order.row, "now": now}))
    elif plan.changes_record:
        value = None if plan.value is None else str(plan.value)
        adjusted: dict[str, Any] = {"row": order.row, "value": value, "micros": micros(plan.value), "now": now}
        out.append(("adjust_order", {**adjusted, "currency": plan.currency}))
    out += [("cancel_delivery", {"id": i, "reason": reason, "now": now}) for i, reason in plan.cancel]
    for vendor, kind, dedup_key, batch_key in plan.queue:
        queued: dict[str, Any] = {"vendor": vendor, "dedup_key": dedup_key, "batch_key": batch_key, "kind": kind}
        where = {"order_id": order.order_id, "event": order.event, "row": order.row, "now": now}
        out.append(("queue_correction", {**queued, **where}))
    return out


def answered(plan: Plan, queued: Mapping[str, int]) -> list[VendorCorrection]:
    """The plan's answer, each correction queued with the id of its delivery."""
    return [
        dataclasses.replace(r, delivery_id=queued[r.vendor]) if r.delivery_id is None and r.vendor in queued else r
        for r in plan.results
    ]


def plan_for(change: Change, order: StoredOrder, deliveries: Sequence[Stored]) -> Plan:
    """``plan`` for a stored order."""
    return plan(
        change,
        dedup_id=f"{order.event}:{order.order_id}",
        value=order.value,
        currency=order.currency,
        cancelled=order.cancelled,
        deliveries=deliveries,
        batch_keys=change.batch_keys,
    )
