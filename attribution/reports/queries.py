"""The report queries, in SQL both outbox backends run (SQLite and PostgreSQL), read through the outbox's
read-only seam (``Outbox.select``, ``Outbox.table``, ``Outbox.dialect``).

Each query adds up in the database, so a report over a million orders sends back a few dozen rows:

- ``revenue``: per dimension value (and currency: two currencies are never added together) the orders' credit
  and revenue under a model, over ``order_touches`` joined to the orders of the window. An order without touches
  joins none, and is credited to the dimension's "direct" value (``NO_TOUCH``).
- ``totals``: per currency, the orders and their revenue, whatever the model.
- ``deliveries`` and ``skips``: per vendor, the orders of the window by delivery status, and the reasons the
  vendors that did not apply gave at checkout.

Orders count when they are active (a cancelled order earned nothing), of the asked event (``purchase`` by
default) and have a value. The window is on the order's own time (``occurred_at``), ``since`` included,
``until`` excluded. Amounts are micro-units (``value_micros``): whole sums for ``first`` and ``last``, sums of
fractions for the other models, rounded to the micro-unit by the caller.

The SQL is written once with ``?`` placeholders and dialect-neutral functions; ``for_dialect`` turns it into
PostgreSQL's (``%s``, ``LEAST``, ``POWER``). The only names put into the text are table names the outbox gives
and dimension columns from ``DIMENSIONS``: every value is a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from .models import POSITION_ENDS, Model

#: The columns of ``order_touches`` each ``by=`` groups on.
DIMENSIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "channel": ("channel",),
    "source": ("source",),
    "medium": ("medium",),
    "campaign": ("campaign",),
    "source_medium": ("source", "medium"),
}
#: What an order without touches is credited to, per column (``source_medium`` is ``(direct) / (none)``).
NO_TOUCH: Final[Mapping[str, str]] = {
    "channel": "direct",
    "source": "(direct)",
    "medium": "(none)",
    "campaign": "(not set)",
}
#: The middle touches' share under ``position`` (three touches or more), as ``models.position_weights`` has it.
POSITION_MIDDLE: Final = 1.0 - 2 * POSITION_ENDS

ACTIVE: Final = "active"


@dataclass(frozen=True, slots=True)
class Bounds:
    """Which orders a report reads: of ``event`` (None: every event), from ``since`` (included) to ``until``
    (excluded; None: no end), in seconds since the epoch."""

    event: str | None
    since: float
    until: float | None


class Readable(Protocol):
    """What reports need of an outbox: one read-only statement at a time, and its tables' names."""

    @property
    def dialect(self) -> str: ...

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def table(self, name: str) -> str: ...


def for_dialect(sql: str, dialect: str) -> str:
    """The neutral text as the dialect runs it: the smaller of two values is ``MIN2(a, b)``, SQLite's ``min`` and
    PostgreSQL's ``LEAST``; PostgreSQL spells placeholders ``%s``."""
    if dialect == "sqlite":
        return sql.replace("MIN2(", "MIN(").replace("POW(", "pow(")
    if dialect == "postgres":
        return sql.replace("?", "%s").replace("MIN2(", "LEAST(").replace("POW(", "POWER(")
    raise ValueError(f"no report queries for the {dialect!r} dialect")


def _real(value: float) -> str:
    # PostgreSQL reads 0.4 as numeric, whose sums are exact but slow and come back as Decimal
    return f"CAST({value!r} AS DOUBLE PRECISION)"


def _window(bounds: Bounds) -> str:
    """The revenue reports' orders: active, of one event, with a value, in the window."""
    upper = " AND o.occurred_at < ?" if bounds.until is not None else ""
    return f"o.event = ? AND o.status = '{ACTIVE}' AND o.value_micros IS NOT NULL AND o.occurred_at >= ?{upper}"


def _params(bounds: Bounds) -> list[Any]:
    event = bounds.event or "purchase"
    return [event, bounds.since] if bounds.until is None else [event, bounds.since, bounds.until]


def revenue(box: Readable, bounds: Bounds, *, by: str, model: Model, half_life: float) -> tuple[str, list[Any]]:
    """The statement and parameters of the revenue rows: ``(*dimension values, currency, credit, micros)``."""
    columns = DIMENSIONS[by]
    orders, touches = box.table("orders"), box.table("order_touches")
    keys = ", ".join(f"COALESCE(t.{c}, '{NO_TOUCH[c]}') AS k{i}" for i, c in enumerate(columns))
    group = ", ".join(str(i + 1) for i in range(len(columns) + 1))
    where = _window(bounds)
    params = _params(bounds)
    if model in (Model.FIRST, Model.LAST):
        position = "0" if model is Model.FIRST else "o.touches - 1"
        sql = (
            f"SELECT {keys}, o.currency, COUNT(*), SUM(o.value_micros) FROM {orders} o "  # noqa: S608 - names from the outbox and DIMENSIONS, values as parameters
            f"{_touches(box.dialect, touches, f' AND t.position = {position}')} WHERE {where} GROUP BY {group}"
        )
    elif model in (Model.LINEAR, Model.POSITION):
        weight = _linear() if model is Model.LINEAR else _position()
        sql = (
            f"SELECT {keys}, o.currency, SUM({weight}), SUM(o.value_micros * {weight}) FROM {orders} o "  # noqa: S608 - names from the outbox and DIMENSIONS, values as parameters
            f"{_touches(box.dialect, touches)} WHERE {where} GROUP BY {group}"
        )
    elif box.dialect == "postgres":
        sql, params = _decay_postgres(keys, group, orders, touches, where, params, half_life)
    else:
        sql, params = _decay(len(columns), keys, group, orders, touches, where, params, half_life)
    return for_dialect(sql, box.dialect), params


def _touches(dialect: str, touches: str, condition: str = "") -> str:
    """The orders' touches, joined so that an order without any still counts (its columns NULL).

    PostgreSQL would hash every touch ever kept to join a month's orders; a LATERAL subquery that the planner may
    not flatten (``OFFSET 0``) reads each order's few touches through the primary key instead. SQLite's
    nested loop does that by itself."""
    if dialect == "postgres":
        subquery = f"SELECT * FROM {touches} t WHERE t.order_row = o.id{condition} OFFSET 0"  # noqa: S608 - names from the outbox, values as parameters
        return f"LEFT JOIN LATERAL ({subquery}) t ON TRUE"
    return f"LEFT JOIN {touches} t ON t.order_row = o.id{condition}"


def _linear() -> str:
    return f"({_real(1.0)} / CASE WHEN o.touches > 0 THEN o.touches ELSE 1 END)"


def _position() -> str:
    ends, middle = _real(POSITION_ENDS), _real(POSITION_MIDDLE)
    return (
        f"(CASE WHEN o.touches <= 1 THEN {_real(1.0)} WHEN o.touches = 2 THEN {_real(0.5)} "
        f"WHEN t.position = 0 OR t.position = o.touches - 1 THEN {ends} ELSE {middle} / (o.touches - 2) END)"
    )


#: The orders in the report index's own order (``orders_report``: event, occurred_at, currency, value_micros,
#: touches, then the row id): grouped so, each order's touches stream out of the index already together, and SQLite
#: adds them up order by order without sorting (grouped by ``id`` alone, it would scan every order by id).
SQLITE_ORDER: Final = "o.occurred_at, o.currency, o.value_micros, o.touches, o.id"


def _decay(
    width: int, keys: str, group: str, orders: str, touches: str, where: str, params: list[Any], half_life: float
) -> tuple[str, list[Any]]:
    """Time decay on SQLite, in two passes over each order's few touches: first the order's sum of 2^(-Δ/half-life)
    against its newest touch (``l``, the last; both capped at the order's time), then each touch's share of it."""
    raw = "POW({two}, (MIN2({at}, {occurred}) - {newest}) / ?)"
    two = _real(2.0)
    total = raw.format(two=two, at="x.at", occurred="o.occurred_at", newest="MIN2(l.at, o.occurred_at)")
    share = raw.format(two=two, at="t.at", occurred="p.occurred_at", newest="p.newest")
    weight = f"CASE WHEN p.touches = 0 THEN {_real(1.0)} ELSE {share} / p.s END"
    names = ", ".join(f"k{i}" for i in range(width))
    per_order = (
        f"SELECT o.id AS id, o.currency AS currency, o.value_micros AS value_micros, o.occurred_at AS occurred_at, "  # noqa: S608 - names from the outbox and DIMENSIONS, values as parameters
        f"o.touches AS touches, MIN2(l.at, o.occurred_at) AS newest, SUM({total}) AS s FROM {orders} o "
        f"LEFT JOIN {touches} l ON l.order_row = o.id AND l.position = o.touches - 1 "
        f"LEFT JOIN {touches} x ON x.order_row = o.id WHERE {where} GROUP BY {SQLITE_ORDER}"
    )
    sql = (
        f"SELECT {names}, currency, SUM(w), SUM(value_micros * w) FROM ("  # noqa: S608 - names from the outbox and DIMENSIONS, values as parameters
        f"SELECT {keys}, p.currency AS currency, p.value_micros AS value_micros, {weight} AS w "
        f"FROM ({per_order}) AS p LEFT JOIN {touches} t ON t.order_row = p.id) AS credit GROUP BY {group}"
    )
    return sql, [half_life, half_life, *params]  # the share's, then the sum's, then the window's


def _decay_postgres(
    keys: str, group: str, orders: str, touches: str, where: str, params: list[Any], half_life: float
) -> tuple[str, list[Any]]:
    """Time decay on PostgreSQL: each order's touches weighed and normalised inside its own LATERAL subquery, the
    windows over that order's few rows only (no sort of every touch of the month)."""
    newest = "LEAST(MAX(x.at) OVER (), o.occurred_at)"
    raw = f"POW({_real(2.0)}, (LEAST(x.at, o.occurred_at) - {newest}) / ?)"
    weighed = f"SELECT x.*, {raw} AS raw FROM {touches} x WHERE x.order_row = o.id OFFSET 0"  # noqa: S608 - names from the outbox and DIMENSIONS, values as parameters
    weight = f"COALESCE(t.w, {_real(1.0)})"
    sql = (
        f"SELECT {keys}, o.currency, SUM({weight}), SUM(o.value_micros * {weight}) FROM {orders} o "  # noqa: S608 - names from the outbox and DIMENSIONS, values as parameters
        f"LEFT JOIN LATERAL (SELECT r.*, r.raw / SUM(r.raw) OVER () AS w FROM ({weighed}) AS r) t ON TRUE "
        f"WHERE {where} GROUP BY {group}"
    )
    return sql, [half_life, *params]


def totals(box: Readable, bounds: Bounds) -> tuple[str, list[Any]]:
    """Per currency: ``(currency, orders, micros)`` of the window's orders."""
    sql = (
        f"SELECT o.currency, COUNT(*), SUM(o.value_micros) FROM {box.table('orders')} o "  # noqa: S608 - names from the outbox and DIMENSIONS, values as parameters
        f"WHERE {_window(bounds)} GROUP BY o.currency"
    )
    return for_dialect(sql, box.dialect), _params(bounds)


def _order_window(bounds: Bounds) -> str:
    """The delivery reports' orders: any status and value, in the window, of one event or all."""
    where = "o.occurred_at >= ?" + (" AND o.occurred_at < ?" if bounds.until is not None else "")
    return where + (" AND o.event = ?" if bounds.event is not None else "")


def _order_params(bounds: Bounds) -> list[Any]:
    params: list[Any] = [bounds.since] if bounds.until is None else [bounds.since, bounds.until]
    return params if bounds.event is None else [*params, bounds.event]


def deliveries(box: Readable, bounds: Bounds) -> tuple[str, list[Any]]:
    """Per vendor and status: ``(vendor, status, orders)`` of the window's orders (their first sending only,
    not the corrections that followed). The orders come first (SQLite keeps the left of a CROSS JOIN outside):
    grouping by vendor, SQLite would otherwise read every delivery ever kept in vendor order to spare a sort."""
    sql = (
        f"SELECT d.vendor, d.status, COUNT(*) FROM {box.table('orders')} o CROSS JOIN {box.table('deliveries')} d "  # noqa: S608 - names from the outbox and DIMENSIONS, values as parameters
        f"WHERE d.order_row = o.id AND d.kind = 'send' AND {_order_window(bounds)} GROUP BY d.vendor, d.status"
    )
    return for_dialect(sql, box.dialect), _order_params(bounds)


def skips(box: Readable, bounds: Bounds) -> tuple[str, list[Any]]:
    """Per vendor and reason: ``(vendor, reason, orders)`` the vendor did not apply to."""
    sql = (
        f"SELECT s.vendor, s.reason, COUNT(*) FROM {box.table('order_skips')} s "  # noqa: S608 - names from the outbox and DIMENSIONS, values as parameters
        f"JOIN {box.table('orders')} o ON o.id = s.order_row "
        f"WHERE {_order_window(bounds)} GROUP BY s.vendor, s.reason"
    )
    return for_dialect(sql, box.dialect), _order_params(bounds)
