"""``tracker.report`` over a million recorded orders, on SQLite and on PostgreSQL, every model.

    python bench/bench_reports.py [--orders 1000000] [--runs 3] [--window 400] [--url postgresql://...]
                                  [--no-index] [--backends sqlite,postgres]

For each backend: fill ``--orders`` orders straight into the outbox's tables (bulk statements), spread evenly
over ``--window`` days back from now (400 by default, the orders' retention, so the report's 30 days hold 75,000
of them), 0 to 6 touches each (3 on average, as ``history_size=5`` plus the first touch allows), one order in
ten in EUR, one in fifty cancelled, one in five a lead rather than a purchase, deliveries to two vendors and
skips with their reasons; then time the 30-day revenue report by channel under each model and by source_medium
under ``last``, and the delivery report, ``--runs`` times each after one warm-up (min / median / max), and print
a query plan. ``--window 30`` puts every order inside the report's window: the worst case, every order read.

The outbox's report indexes are dropped with ``--no-index``, to show what they are worth. Without
``--url`` it starts its own PostgreSQL server from Debian's binaries (see tests/postgres.py). The load average is
printed beside each case: on a shared machine, figures move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from attribution.delivery.outbox.choose import outbox_from  # noqa: E402
from attribution.reports.deliveries import delivery_report  # noqa: E402
from attribution.reports.models import Model  # noqa: E402
from attribution.reports.revenue import revenue_report  # noqa: E402
from tests.postgres import temporary_server  # noqa: E402

CHANNELS = ("paid_search", "paid_social", "email", "organic_search", "referral", "display", "affiliate", "other")

#: The indexes the outbox's schema makes for reports (SQLite's migration 5, PostgreSQL's 4): ``--no-index`` drops
#: them, to show what they are worth.
REPORT_INDEXES = {
    "sqlite": ["orders_report", "deliveries_report"],
    "postgres": ["attribution_orders_report", "attribution_deliveries_report"],
}

# One statement per table: orders, their touches, their deliveries and skips. Everything derives from the id.
SQLITE_FILL = [
    """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :orders)
INSERT INTO orders (id, order_id, event, occurred_at, created_at, updated_at, value, value_micros, currency, status,
                    touches, data, identifiers)
SELECT i, 'ORD-' || i, CASE WHEN i % 5 = 0 THEN 'lead' ELSE 'purchase' END,
       :now - 60 - i * :step, :now, :now, printf('%d.90', 10 + i % 200), (10 + i % 200) * 1000000 + 900000,
       CASE WHEN i % 10 = 0 THEN 'EUR' ELSE 'USD' END, CASE WHEN i % 50 = 0 THEN 'cancelled' ELSE 'active' END,
       (i * 2654435761) % 7,
       '{"v":1,"event_id":"ORD-' || i || '","attribution":"a compact wire form..."}',
       '{"meta":{"em":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}'
FROM n""",
    """
WITH RECURSIVE p(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM p WHERE k < 5)
INSERT INTO order_touches (order_row, position, at, channel, source, medium, campaign, landing)
SELECT o.id, p.k, o.occurred_at - (o.touches - p.k) * 86400.0 * (1 + o.id % 3), {channel},
       'source-' || ((o.id + p.k) % 40), 'medium-' || ((o.id + p.k) % 6), 'campaign-' || ((o.id * 7 + p.k) % 300),
       '/landing'
FROM orders o JOIN p ON p.k < o.touches ORDER BY o.id, p.k""",
    """
INSERT INTO deliveries (vendor, dedup_key, payload, status, created_at, updated_at, next_attempt_at, order_id, event,
                        order_row, kind)
SELECT v.name, o.event || ':' || o.order_id, '{}',
       CASE WHEN o.id % 97 = 0 THEN 'dead' WHEN o.id % 13 = 0 THEN 'pending' ELSE 'delivered' END,
       o.created_at, o.created_at, o.created_at, o.order_id, o.event, o.id, 'send'
FROM orders o JOIN (SELECT 'meta' AS name UNION ALL SELECT 'tiktok') v
WHERE v.name = 'meta' OR o.id % 3 = 0""",
    """
INSERT INTO order_skips (order_row, vendor, reason)
SELECT o.id, 'tiktok', CASE WHEN o.id % 2 = 0 THEN 'no TikTok click id or browser id' ELSE 'no consent for tiktok' END
FROM orders o WHERE o.id % 3 <> 0""",
]
POSTGRES_FILL = [
    """
INSERT INTO attribution_orders (order_id, event, occurred_at, created_at, updated_at, value, value_micros, currency,
                                status, touches, data, identifiers)
SELECT 'ORD-' || i, CASE WHEN i % 5 = 0 THEN 'lead' ELSE 'purchase' END,
       %(now)s - 60 - i * %(step)s, %(now)s, %(now)s, (10 + i % 200) || '.90', (10 + i % 200) * 1000000 + 900000,
       CASE WHEN i % 10 = 0 THEN 'EUR' ELSE 'USD' END, CASE WHEN i % 50 = 0 THEN 'cancelled' ELSE 'active' END,
       ((i::bigint * 2654435761) % 7)::int,
       ('{"v":1,"event_id":"ORD-' || i || '","attribution":"a compact wire form..."}')::json,
       '{"meta":{"em":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}'::json
FROM generate_series(1, %(orders)s) AS i ORDER BY i""",
    """
INSERT INTO attribution_order_touches (order_row, position, at, channel, source, medium, campaign, landing)
SELECT o.id, p.k, o.occurred_at - (o.touches - p.k) * 86400.0 * (1 + o.id % 3), {channel},
       'source-' || ((o.id + p.k) % 40), 'medium-' || ((o.id + p.k) % 6), 'campaign-' || ((o.id * 7 + p.k) % 300),
       '/landing'
FROM attribution_orders o JOIN generate_series(0, 5) AS p(k) ON p.k < o.touches ORDER BY o.id, p.k""",
    """
INSERT INTO attribution_deliveries (vendor, dedup_key, payload, status, created_at, updated_at, next_attempt_at,
                                    order_id, event, order_row, kind)
SELECT v.name, o.event || ':' || o.order_id, '{}'::json,
       CASE WHEN o.id % 97 = 0 THEN 'dead' WHEN o.id % 13 = 0 THEN 'pending' ELSE 'delivered' END,
       o.created_at, o.created_at, o.created_at, o.order_id, o.event, o.id, 'send'
FROM attribution_orders o JOIN (VALUES ('meta'), ('tiktok')) AS v(name) ON v.name = 'meta' OR o.id % 3 = 0""",
    """
INSERT INTO attribution_order_skips (order_row, vendor, reason)
SELECT o.id, 'tiktok', CASE WHEN o.id % 2 = 0 THEN 'no TikTok click id or browser id' ELSE 'no consent for tiktok' END
FROM attribution_orders o WHERE o.id % 3 <> 0""",
]
CHANNEL = "CASE (o.id + p.k) % 8 " + " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(CHANNELS)) + " END"


def spread(samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"min {min(ms):8.1f}  median {statistics.median(ms):8.1f}  max {max(ms):8.1f} ms"


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        out.append(time.perf_counter() - started)
    return out


def fill_sqlite(path: Path, orders: int, now: float, window: int, index: bool) -> None:
    conn = sqlite3.connect(path)
    values = {"orders": orders, "now": now, "step": (window * 86400 - 120) / orders}  # the newest first, evenly spread
    for statement in SQLITE_FILL:
        conn.execute(statement.replace("{channel}", CHANNEL), values)
    for name in () if index else REPORT_INDEXES["sqlite"]:
        conn.execute(f"DROP INDEX {name}")
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def fill_postgres(url: str, orders: int, now: float, window: int, index: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        values = {"orders": orders, "now": now, "step": (window * 86400 - 120) / orders}
        for statement in POSTGRES_FILL:
            sql = statement.replace("{channel}", CHANNEL).replace("%", "%%").replace("%%(", "%(")
            conn.execute(sql, values)  # type: ignore[arg-type]
        for name in () if index else REPORT_INDEXES["postgres"]:
            conn.execute(f"DROP INDEX {name}")  # type: ignore[arg-type]
        conn.execute("VACUUM ANALYZE")


def _shift_postgres(url: str, now: float) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        newest = conn.execute("SELECT MAX(occurred_at) FROM attribution_orders").fetchone()[0]  # type: ignore[index]
        shift = now - 60 - newest
        conn.execute("UPDATE attribution_orders SET occurred_at = occurred_at + %s", (shift,))
        conn.execute("UPDATE attribution_order_touches SET at = at + %s", (shift,))
        conn.execute("VACUUM ANALYZE")


async def bench(label: str, spec: str, args: argparse.Namespace) -> None:
    now = time.time()
    box = outbox_from(spec)
    await box.open()
    started = time.perf_counter()
    if label == "sqlite":
        await box.close()
        fill_sqlite(Path(spec), args.orders, now, args.window, not args.no_index)
        box = outbox_from(spec)
    elif (await box.select(f"SELECT COUNT(*) FROM {box.table('orders')}"))[0][0] == 0:
        fill_postgres(spec, args.orders, now, args.window, not args.no_index)
    else:  # --database: a database filled by an earlier run, its orders' times moved to end now
        await asyncio.to_thread(_shift_postgres, spec, now)
    counts = await box.select(f"SELECT COUNT(*), SUM(touches) FROM {box.table('orders')}")
    print(f"\n{label}: {counts[0][0]} orders, {counts[0][1]} touches, filled in {time.perf_counter() - started:.0f}s")
    window = timedelta(days=30)
    cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        (f"revenue by channel, {model.value}", _revenue(box, now, window, "channel", model)) for model in Model
    ]
    cases.append(("revenue by source_medium, last", _revenue(box, now, window, "source_medium", Model.LAST)))
    cases.append(("delivery report", lambda: delivery_report(box, since=window, now=now)))
    for name, call in cases:
        await call()  # once to warm the caches, as a report page opened twice would be
        print(f"  {name:<34} {spread(await timed(call, args.runs))}   load {os.getloadavg()[0]:.1f}")
    await plans(label, box, now)
    await box.close()


def _revenue(box: Any, now: float, since: timedelta, by: str, model: Model) -> Callable[[], Awaitable[object]]:
    return lambda: revenue_report(box, since=since, by=by, model=model, now=now)


async def plans(label: str, box: Any, now: float) -> None:
    from attribution.reports import queries

    bounds = queries.Bounds("purchase", now - 30 * 86400, None)
    sql, params = queries.revenue(box, bounds, by="channel", model=Model.LINEAR, half_life=604800.0)
    explain = "EXPLAIN QUERY PLAN " if label == "sqlite" else "EXPLAIN "
    print(f"  plan of linear by channel ({label}):")
    for row in await box.select(explain + sql, params):
        print("    ", row[-1])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=int, default=400, help="days the orders are spread over")
    parser.add_argument("--url", help="an existing PostgreSQL server (a maintenance database URL)")
    parser.add_argument("--no-index", action="store_true", help="leave the report indexes out")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--database", help="with --url: this database, kept, filled on its first run only")
    args = parser.parse_args()
    backends = args.backends.split(",")
    print(f"{args.orders} orders over {args.window} days, report window 30 days, {args.runs} runs per case")
    with contextlib.ExitStack() as stack:
        if "sqlite" in backends:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="attribution-bench-"))
            await bench("sqlite", str(Path(folder) / "outbox.sqlite3"), args)
        if "postgres" in backends:
            base = args.url or stack.enter_context(temporary_server(fsync=True)).url()
            name = args.database or f"bench_reports_{os.getpid()}"
            with psycopg.connect(base, autocommit=True) as conn:
                found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
                if found is None:
                    conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
            await bench("postgres", urlsplit(base)._replace(path=f"/{name}").geturl(), args)


if __name__ == "__main__":
    asyncio.run(main())
