"""Attribution models: how one order's credit is shared among the touches of its journey.

A journey is the order's touches t1..tn, the first touch then the later ones in time order, none twice
(``orders.journey``). Each model gives every touch a weight; the weights of one order add up to 1, so an order
is credited once in all, whatever the model:

- ``first``: all to t1.
- ``last``: all to tn. Direct visits are never touches, so this is "last non-direct".
- ``linear``: 1/n each.
- ``position``: one touch 100 %, two 50/50, three or more 40 % to the first, 40 % to the last and 20 % split
  evenly over the middle ones.
- ``time_decay``: 2^(-Δ/half-life) for a touch Δ before the order, normalised to 1. Only the differences between
  the touches matter after normalising, so the weights are computed against the newest touch (no underflow to
  zero for a journey months old with a half-life of an hour). A touch timed after the order (clock skew between
  machines) counts as at the order's time.

The report queries (``reports.queries``) compute the same weights in SQL; these functions are their reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Final


class Model(StrEnum):
    """The attribution models a report can use."""

    FIRST = "first"
    LAST = "last"
    LINEAR = "linear"
    POSITION = "position"
    TIME_DECAY = "time_decay"


DEFAULT_HALF_LIFE: Final = timedelta(days=7)
#: The shares of the first and of the last touch under ``position`` for three touches or more.
POSITION_ENDS: Final = 0.4


def weights(
    model: Model | str,
    times: Sequence[float],
    *,
    at: float | None = None,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> list[float]:
    """The weight of each touch of one journey (oldest first), adding up to 1; ``[]`` for an order without touches.

    ``times`` are the touches' times and ``at`` the order's, in seconds since the epoch; only ``time_decay``
    reads them (``at`` defaults to the newest touch).
    """
    model = Model(model)
    n = len(times)
    if n == 0:
        return []
    if model is Model.FIRST:
        return [1.0] + [0.0] * (n - 1)
    if model is Model.LAST:
        return [0.0] * (n - 1) + [1.0]
    if model is Model.LINEAR:
        return [1.0 / n] * n
    if model is Model.POSITION:
        return position_weights(n)
    return decay_weights(times, at=at, half_life=half_life)


def position_weights(n: int) -> list[float]:
    """40 / 20 / 40: the ends weigh most, the middle shares the rest evenly."""
    if n == 1:
        return [1.0]
    if n == 2:
        return [0.5, 0.5]
    middle = (1.0 - 2 * POSITION_ENDS) / (n - 2)
    return [POSITION_ENDS] + [middle] * (n - 2) + [POSITION_ENDS]


def decay_weights(times: Sequence[float], *, at: float | None, half_life: timedelta) -> list[float]:
    """2^(-Δ/half-life), normalised; computed against the newest touch, which weighs 1 before normalising."""
    seconds = half_life.total_seconds()
    if seconds <= 0:
        raise ValueError("the half-life must be positive, e.g. 7 days")
    newest = max(times) if at is None else min(max(times), at)
    raw = [2.0 ** ((min(t, newest) - newest) / seconds) for t in times]
    total = sum(raw)
    return [w / total for w in raw]
