"""Before a request: each order record of a claim is decoded once however many vendors read it, and its conversion is
let go once the last of them has built its request (kept, thousands in flight make every garbage collection long)."""

from __future__ import annotations

import json

import pytest

from attribution.delivery.outbox.base import Delivery, Status, StoredOrder
from attribution.delivery.preparing import count_readers, prepare
from attribution.orders import record
from tests.support.delivery_fakes import FakeBatchVendor, FakeVendor, customer_record


def stored(order_id: str = "o-1") -> StoredOrder:
    saved = customer_record(order_id, [FakeVendor()])
    return StoredOrder(
        1, saved.order_id, saved.event, saved.value, saved.currency, "active",
        json.dumps(saved.data), json.dumps(saved.identifiers),
    )  # fmt: skip


def delivery(id_: int, vendor: str, order: StoredOrder) -> Delivery:
    return Delivery(
        id=id_, vendor=vendor, dedup_key=f"purchase:{order.order_id}", batch_key="", payload=None,
        status=Status.SENDING, attempts=1, created_at=1.0, updated_at=1.0, next_attempt_at=200.0,
        order_id=order.order_id, event="purchase", order=order,
    )  # fmt: skip


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The order ids decoded from their records, in order."""
    seen: list[str] = []
    real = record.conversion_of

    def counting(order_id: str, *args: object, **kwargs: object) -> object:
        seen.append(order_id)
        return real(order_id, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("attribution.delivery.outbox.base.conversion_of", counting)
    return seen


def test_a_record_read_by_two_vendors_of_a_claim_is_decoded_once_and_then_let_go(decodes: list[str]) -> None:
    order = stored()
    claim = [delivery(1, "fake", order), delivery(2, "fakebatch", order)]
    count_readers(claim)
    assert order.readers == 2
    first = prepare(FakeVendor(), claim[:1], 100.0)
    assert order._conversion is not None, "kept for the other vendor"
    second = prepare(FakeBatchVendor(), claim[1:], 100.0)
    assert decodes == ["o-1"]
    assert order._conversion is None, "let go after the last reader"
    assert first.payloads[0]["event_id"] == second.payloads[0]["event_id"] == "o-1"
    assert first.payloads[0]["email"] == "ana@example.com"


def test_a_record_that_fails_to_build_still_counts_its_reader_done(decodes: list[str]) -> None:
    order = stored()
    order.data = json.dumps({**json.loads(order.data or "{}"), "v": 99})
    claim = [delivery(1, "fake", order)]
    count_readers(claim)
    prepared = prepare(FakeVendor(), claim, 100.0)
    assert [f.status for f in prepared.settled] == [Status.DEAD]
    assert order.readers == 0


def test_without_counted_readers_the_conversion_is_kept(decodes: list[str]) -> None:
    """Outside a worker's claim (``attribution show``, corrections), a record read twice is decoded once."""
    order = stored()
    assert order.conversion() is order.conversion()
    order.done_reading()
    assert order._conversion is not None
    assert decodes == ["o-1"]
