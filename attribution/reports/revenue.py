"""The revenue report: per channel (or source, medium, campaign, source / medium) and currency, how many orders
and how much revenue the touches earned under one attribution model, and what it looks like as JSON.

``orders`` is fractional credit (a float: an order shared by two touches gives each 0.5), ``revenue`` an exact
decimal (``Decimal``; a decimal string in JSON), rounded to the micro-unit where a model shares an order's value.
Rows come sorted by revenue, largest first; ``totals`` gives, per currency, every order of the window once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypedDict

from ..errors import ConfigurationError
from . import queries
from .models import DEFAULT_HALF_LIFE, Model
from .queries import DIMENSIONS, Bounds, Readable

BY: Final = tuple(DIMENSIONS)
"""What a report can be by: ``channel``, ``source``, ``medium``, ``campaign``, ``source_medium``."""
DEFAULT_EVENT: Final = "purchase"
_MICRO: Final = Decimal(1).scaleb(-6)
_CENT: Final = Decimal("0.01")


class ReportOptions(TypedDict, total=False):
    """What ``Tracker.report`` takes, all keywords: ``since`` (a ``timedelta`` back from now, default 30 days, or an
    aware ``datetime``), ``until`` (an aware ``datetime``; None, the default: up to now), ``by`` (``channel``,
    ``source``, ``medium``, ``campaign``, ``source_medium``), ``model`` (``first``, ``last``, ``linear``,
    ``position``, ``time_decay``), ``half_life`` (time decay's, default 7 days), ``event`` (default ``purchase``)."""

    since: timedelta | datetime
    until: datetime | None
    by: str
    model: Model | str
    half_life: timedelta
    event: str


@dataclass(frozen=True, slots=True)
class Row:
    """One dimension value in one currency: its credited orders and revenue."""

    key: str
    currency: str
    orders: float
    revenue: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "currency": self.currency, "orders": self.orders, "revenue": money(self.revenue)}


@dataclass(frozen=True, slots=True)
class Total:
    """Every order of the window in one currency, once."""

    currency: str
    orders: float
    revenue: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"currency": self.currency, "orders": self.orders, "revenue": money(self.revenue)}


@dataclass(frozen=True, slots=True)
class Report:
    """Revenue by ``by`` under ``model`` for the orders of ``event`` between ``since`` (included) and ``until``
    (excluded; None: up to now)."""

    model: Model
    by: str
    since: datetime
    until: datetime | None
    rows: tuple[Row, ...] = ()
    totals: tuple[Total, ...] = ()
    event: str = DEFAULT_EVENT
    half_life: timedelta = field(default=DEFAULT_HALF_LIFE)

    def to_dict(self) -> dict[str, Any]:
        """``{"model", "by", "since", "until", "rows": [{"key", "currency", "orders", "revenue"}], "totals":
        [{"currency", "orders", "revenue"}]}``, plus ``event`` and ``half_life`` (seconds)."""
        return {
            "model": self.model.value,
            "by": self.by,
            "since": iso(self.since),
            "until": None if self.until is None else iso(self.until),
            "rows": [row.to_dict() for row in self.rows],
            "totals": [total.to_dict() for total in self.totals],
            "event": self.event,
            "half_life": self.half_life.total_seconds(),
        }

    def total(self, currency: str) -> Total | None:
        return next((t for t in self.totals if t.currency == currency), None)

    def share(self, row: Row) -> float:
        """The row's part of its currency's revenue, 0 to 1 (0 when that revenue is nothing)."""
        total = self.total(row.currency)
        if total is None or total.revenue <= 0:
            return 0.0
        return float(row.revenue / total.revenue)


def money(amount: Decimal) -> str:
    """``24.90``, ``33.333333``: at least cents, at most micro-units, never an exponent."""
    exact = amount.quantize(_MICRO).normalize()
    if exact.as_tuple().exponent > -2:  # type: ignore[operator]  # a finite amount's exponent is an int
        exact = exact.quantize(_CENT)
    return format(exact, "f")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def window(since: timedelta | datetime, until: datetime | None, *, now: float) -> tuple[datetime, datetime | None]:
    """``since`` as a moment (a ``timedelta`` counts back from ``now``), checked with ``until``: aware datetimes,
    ``since`` before ``until``."""
    if isinstance(since, timedelta):
        if since <= timedelta(0):
            raise ConfigurationError(f"since={since!r}: give a positive period, e.g. timedelta(days=30)")
        start = datetime.fromtimestamp(int(now), UTC) - since  # to the second: a window people read
    elif isinstance(since, datetime):
        start = _aware("since", since)
    else:
        raise ConfigurationError(f"since: a timedelta or an aware datetime, not {type(since).__name__}")
    end = None if until is None else _aware("until", until)
    if end is not None and end <= start:
        raise ConfigurationError(f"until ({iso(end)}) must come after since ({iso(start)})")
    return start, end


def _aware(name: str, moment: object) -> datetime:
    if not isinstance(moment, datetime):
        raise ConfigurationError(f"{name}: an aware datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ConfigurationError(f"{name}={moment.isoformat()} has no time zone: use e.g. datetime(..., tzinfo=UTC)")
    return moment


def choose(by: str, model: Model | str, half_life: timedelta) -> Model:
    """The model named, after checking ``by`` and ``half_life``; a clear error otherwise."""
    if by not in DIMENSIONS:
        raise ConfigurationError(f"by={by!r}: choose one of {', '.join(BY)}")
    try:
        chosen = Model(model)
    except ValueError:
        raise ConfigurationError(f"model={model!r}: choose one of {', '.join(m.value for m in Model)}") from None
    if not isinstance(half_life, timedelta) or half_life <= timedelta(0):
        raise ConfigurationError(f"half_life={half_life!r}: give a positive timedelta, e.g. timedelta(days=7)")
    return chosen


async def revenue_report(
    box: Readable,
    *,
    since: timedelta | datetime = timedelta(days=30),
    until: datetime | None = None,
    by: str = "channel",
    model: Model | str = Model.LAST,
    half_life: timedelta = DEFAULT_HALF_LIFE,
    event: str = DEFAULT_EVENT,
    now: float,
) -> Report:
    """Add the window's orders up in the outbox: two statements (the rows, the totals), a few rows back."""
    chosen = choose(by, model, half_life)
    start, end = window(since, until, now=now)
    bounds = Bounds(event, start.timestamp(), None if end is None else end.timestamp())
    sql, params = queries.revenue(box, bounds, by=by, model=chosen, half_life=half_life.total_seconds())
    found = await box.select(sql, params)
    sql, params = queries.totals(box, bounds)
    totals = await box.select(sql, params)
    return Report(
        model=chosen,
        by=by,
        since=start,
        until=end,
        rows=rows_of(found, width=len(DIMENSIONS[by])),
        totals=tuple(sorted((_total(r) for r in totals), key=lambda t: (-t.revenue, t.currency))),
        event=event,
        half_life=half_life,
    )


def rows_of(found: Iterable[Sequence[Any]], *, width: int) -> tuple[Row, ...]:
    """The query's rows as report rows: ``source / medium`` joined, amounts from micro-units, largest first.
    Two rows with one key and currency (a touch named like the "direct" of orders without touches) are one."""
    merged: dict[tuple[str, str], tuple[float, Decimal]] = {}
    for record in found:
        key = " / ".join(record[:width])
        currency, share, micros = record[width], record[width + 1], record[width + 2]
        orders, revenue = merged.get((key, currency), (0.0, Decimal(0)))
        merged[(key, currency)] = (orders + float(share), revenue + _amount(micros))
    rows = (Row(key, currency, credit(orders), revenue) for (key, currency), (orders, revenue) in merged.items())
    return tuple(sorted(rows, key=lambda r: (-r.revenue, r.key, r.currency)))


def credit(orders: float) -> float:
    """Fractional credit to six places: three thirds of an order are 1.0, not 0.9999999999999999."""
    return round(orders, 6)


def _amount(micros: int | float | Decimal | None) -> Decimal:
    """Micro-units as an amount: exact for a whole number, rounded to the micro-unit for a sum of fractions."""
    if micros is None:
        return Decimal(0)
    whole = micros if isinstance(micros, int) else Decimal(micros).to_integral_value()
    return Decimal(whole).scaleb(-6)


def _total(record: Sequence[Any]) -> Total:
    currency, count, micros = record
    return Total(currency=currency, orders=float(count), revenue=_amount(micros))
