"""A vendor's lane on its own: what one request takes from the ready deliveries, and when the lane asks for more."""

from __future__ import annotations

from attribution.delivery.lane import CLAIM_ROWS, READY_SECONDS, Lane
from attribution.delivery.outbox.base import Delivery, Status
from tests.support.delivery_fakes import FakeBatchVendor, FakeVendor


def ready(lane: Lane, keys: str) -> None:
    """One claimed delivery per letter of ``keys``, the letter its batch key."""
    start = len(lane.ready)
    lane.ready.extend(
        Delivery(i, lane.name, f"o{i}", key, {}, Status.SENDING, 1, 0.0, 0.0, 120.0)
        for i, key in enumerate(keys, start=start)
    )


def test_a_request_takes_the_oldest_delivery_and_its_batch_mates_in_order() -> None:
    lane = Lane(FakeBatchVendor(), limit=2)
    ready(lane, "abab" + "a" * 600)
    first = lane.take_request()
    assert [d.id for d in first[:3]] == [0, 2, 4]
    assert len(first) == FakeBatchVendor.max_batch  # no more than one request carries
    assert {d.batch_key for d in first} == {"a"}
    assert [d.id for d in lane.ready][:2] == [1, 3]  # the others stay, oldest first
    taken = {d.id for d in first}
    assert [d.id for d in lane.ready] == [i for i in range(604) if i not in taken]  # every one, in its order
    assert [d.id for d in lane.take_request()] == [1, 3]


def test_a_vendor_without_batches_takes_one_delivery_per_request() -> None:
    lane = Lane(FakeVendor(), limit=4)
    ready(lane, "aaa")
    assert [d.id for d in lane.take_request()] == [0]
    assert [d.id for d in lane.drain()] == [1, 2]
    assert not lane.ready


def test_a_lane_claims_a_round_and_what_it_keeps_ready_once_it_runs_low() -> None:
    lane = Lane(FakeVendor(), limit=4)
    assert lane.ahead() == 4  # a round of requests, before any rate is known
    assert lane.to_claim() == 8  # a round in flight and a round ready
    ready(lane, "aaa")
    assert lane.to_claim() == 0  # more than half a round is ready
    lane.rows_in_flight = 4
    lane.take_request()
    lane.take_request()
    assert lane.running_low()
    assert lane.to_claim() == 8 - 4 - 1
    lane.rate = 1000.0  # a fast vendor: keep what it sends in READY_SECONDS
    assert lane.ahead() == int(1000 * READY_SECONDS)
    assert lane.to_claim() == 4 + 200 - 4 - 1


def test_the_rate_is_known_as_soon_as_a_round_went_out() -> None:
    lane = Lane(FakeVendor(), limit=4)
    assert lane.rate == 0.0
    lane.count_sent(4)  # as many as are kept ready: no need to wait for the window's end
    assert lane.rate > 0.0


def test_a_claim_takes_whole_batches_of_at_most_claim_rows_and_the_lane_claims_again_while_there_is_room() -> None:
    class Huge(FakeBatchVendor):
        max_batch = CLAIM_ROWS * 2

    lane = Lane(FakeBatchVendor(), limit=32)  # room for 32 requests of 500 and as many ready: far more than a claim
    part = (CLAIM_ROWS // 500) * 500
    assert lane.to_claim() == part  # whole batches: no part of a claim is a small request
    lane.rows_in_flight = part  # the first part went to the slots: room for more, claimed again at once
    assert lane.to_claim() == part
    lane.rows_in_flight = 32 * 500 + 32 * 500 - 100  # nearly full: only what is left
    assert lane.to_claim() == 100
    assert Lane(Huge(), limit=2).to_claim() == CLAIM_ROWS * 2  # a batch larger than CLAIM_ROWS is claimed whole
    assert Lane(FakeVendor(), limit=4).to_claim() == 8  # a small lane is not cut
