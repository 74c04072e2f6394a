"""The attribution models on journeys worked out by hand: 1, 2, 3 and 7 touches, equal times, old journeys."""

from __future__ import annotations

from datetime import timedelta

import pytest

from attribution.reports.models import Model, weights

DAY = 86400.0


def approx(values: list[float]) -> object:
    return pytest.approx(values, abs=1e-12)


def test_one_touch_takes_everything_under_every_model() -> None:
    for model in Model:
        assert weights(model, [100.0], at=100.0 + DAY) == [1.0]


def test_an_order_without_touches_gives_no_weights() -> None:
    for model in Model:
        assert weights(model, []) == []


def test_two_touches() -> None:
    times = [0.0, 7 * DAY]  # the first a week before the second, the order at the second
    assert weights("first", times) == [1.0, 0.0]
    assert weights("last", times) == [0.0, 1.0]
    assert weights("linear", times) == [0.5, 0.5]
    assert weights("position", times) == [0.5, 0.5]
    # 2^-1 and 2^0, normalised: 0.5 / 1.5 and 1 / 1.5
    assert weights("time_decay", times, at=7 * DAY) == approx([1 / 3, 2 / 3])


def test_three_touches() -> None:
    times = [0.0, 7 * DAY, 14 * DAY]
    assert weights("first", times) == [1.0, 0.0, 0.0]
    assert weights("last", times) == [0.0, 0.0, 1.0]
    assert weights("linear", times) == approx([1 / 3, 1 / 3, 1 / 3])
    assert weights("position", times) == approx([0.4, 0.2, 0.4])
    # one, two and three half-lives... before an order a week after the last touch: 1/8, 1/4, 1/2 of 7/8
    assert weights("time_decay", times, at=21 * DAY) == approx([1 / 7, 2 / 7, 4 / 7])


def test_seven_touches() -> None:
    times = [i * DAY for i in range(7)]
    assert weights("first", times) == [1.0] + [0.0] * 6
    assert weights("last", times) == [0.0] * 6 + [1.0]
    assert weights("linear", times) == approx([1 / 7] * 7)
    assert weights("position", times) == approx([0.4, 0.04, 0.04, 0.04, 0.04, 0.04, 0.4])
    # a half-life of one day: 2^-6 ... 2^0, summing to 127/64
    expected = [2 ** (i - 6) / (127 / 64) for i in range(7)]
    assert weights("time_decay", times, at=6 * DAY, half_life=timedelta(days=1)) == approx(expected)
    assert sum(weights("time_decay", times, at=30 * DAY)) == pytest.approx(1.0)


def test_equal_times_share_evenly_under_time_decay() -> None:
    assert weights("time_decay", [5 * DAY] * 4, at=9 * DAY) == approx([0.25] * 4)


def test_time_decay_depends_on_the_gaps_not_on_how_old_the_journey_is() -> None:
    near = weights("time_decay", [0.0, DAY], at=DAY, half_life=timedelta(hours=1))
    # 400 days with a one-hour half-life is 2^-9600 of the order's time: computed naively, both weights are 0
    old = weights("time_decay", [0.0, DAY], at=401 * DAY, half_life=timedelta(hours=1))
    assert near == old
    assert near == approx([2**-24 / (1 + 2**-24), 1 / (1 + 2**-24)])


def test_a_touch_after_the_order_counts_as_at_the_order() -> None:
    # clocks of two machines a minute apart: the touch recorded after the order weighs as one at the order
    assert weights("time_decay", [0.0, 7 * DAY + 60], at=7 * DAY) == approx([1 / 3, 2 / 3])


def test_the_half_life_must_be_positive() -> None:
    with pytest.raises(ValueError, match="half-life"):
        weights("time_decay", [0.0, 1.0], half_life=timedelta(0))


def test_an_unknown_model_is_refused() -> None:
    with pytest.raises(ValueError, match="w_shaped"):
        weights("w_shaped", [0.0])
