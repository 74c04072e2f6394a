"""``attribution status`` with a long kept history, on SQLite and on PostgreSQL.

    python bench/bench_counts.py [--rows 1000000] [--runs 5] [--checkouts 200] [--url postgresql://...]

For each backend: fill ``--rows`` delivered rows directly (one bulk statement), plus a small queue and a few
failures over three vendors; then time ``counts()``, the whole ``attribution status`` command (opening the
outbox included) and the full-table count that ``counts()`` replaced, ``--runs`` times each (min / median / max).
A checkout (one order, two deliveries) and a worker's round (claim 64, record them) are timed with the count
triggers in place and with them dropped, to show what keeping the counts costs. The plans of the status queries are
printed, to show they use indexes. Last, an outbox of the previous schema version with as many rows is made beside
it and migrating it forward (the latest migration) is timed.

Without ``--url`` it starts its own PostgreSQL server (fsync on) from Debian's binaries (see tests/support/postgres.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from attribution.cli import main as cli_main  # noqa: E402
from attribution.delivery.outbox.base import Outbox  # noqa: E402
from attribution.delivery.outbox.postgres import PostgresOutbox  # noqa: E402
from attribution.delivery.outbox.sqlite import SQLiteOutbox  # noqa: E402
from tests.support.delivery_fakes import new_order  # noqa: E402
from tests.support.postgres import temporary_server  # noqa: E402

VENDORS = ("meta", "google", "tiktok")
OLD_COUNT = "SELECT vendor, status, count(*) FROM {table} GROUP BY vendor, status"
FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO deliveries (vendor, dedup_key, payload, status, created_at, updated_at, next_attempt_at, answer)
SELECT CASE i % 3 WHEN 0 THEN 'meta' WHEN 1 THEN 'google' ELSE 'tiktok' END, 'old-' || i,
       '{"event_id":"' || i || '","value":49.9}', 'delivered', 1e9 + i, 1e9 + i, 1e9 + i, '{"ok":true}'
FROM n
"""
FILL_POSTGRES = """
INSERT INTO attribution_deliveries (vendor, dedup_key, payload, status, created_at, updated_at, next_attempt_at, answer)
SELECT (ARRAY['meta', 'google', 'tiktok'])[i %% 3 + 1], 'old-' || i, ('{"event_id":"' || i || '","value":49.9}')::json,
       'delivered', 1e9 + i, 1e9 + i, 1e9 + i, '{"ok":true}'
FROM generate_series(1, %s) AS i
"""


def spread(samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"min {min(ms):7.2f}  median {statistics.median(ms):7.2f}  max {max(ms):7.2f} ms"


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        out.append(time.perf_counter() - started)
    return out


def status(spec: str) -> None:
    out = io.StringIO()
    if cli_main(["--outbox", spec, "status"], out=out) != 0:
        raise SystemExit(f"status failed: {out.getvalue()}")


async def queue_and_failures(box: Outbox) -> None:
    """A live queue: 300 waiting per vendor, some claimed, some retried or dead with an error."""
    from attribution.delivery.outbox.base import Finish, Status

    now = time.time()
    await box.enqueue([new_order(f"new-{i}", *VENDORS) for i in range(300)], now=now - 3600)
    claimed = await box.claim("bench", limits=dict.fromkeys(VENDORS, 50), now=now, lease=600)
    results = [
        Finish(d.id, Status.DEAD if i % 2 else Status.PENDING, now, next_attempt_at=now + 60, error="HTTP 400")
        for batch in claimed.values()
        for i, d in enumerate(batch[:20])
    ]
    await box.finish("bench", results)


async def checkouts(box: Outbox, n: int, tag: str) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await box.enqueue([new_order(f"{tag}-{i}", *VENDORS[:2], value=1)], now=time.time())
        samples.append(time.perf_counter() - started)
    return samples


async def claims(box: Outbox, n: int, tag: str) -> list[float]:
    """A worker's round: claim 64 due deliveries, record them delivered."""
    from attribution.delivery.outbox.base import Finish, Status

    samples = []
    for i in range(n):
        await box.enqueue([new_order(f"{tag}-{i}-{j}", "batch") for j in range(64)], now=0.0)
        started = time.perf_counter()
        claimed = await box.claim("bench", limits={"batch": 64}, now=time.time(), lease=60)
        await box.finish("bench", [Finish(d.id, Status.DELIVERED, time.time()) for d in claimed["batch"]])
        samples.append(time.perf_counter() - started)
    return samples


async def bench(label: str, spec: str, box: Outbox, args: argparse.Namespace) -> None:
    print(f"\n{label}: {args.rows} delivered rows kept")
    await box.open()
    started = time.perf_counter()
    if isinstance(box, SQLiteOutbox):
        conn = sqlite3.connect(box.path, check_same_thread=False)
        conn.execute(FILL_SQLITE, (args.rows,))
        conn.commit()
        conn.execute("ANALYZE")
        old_count = OLD_COUNT.format(table="deliveries")
        plans = {
            "oldest waiting": "EXPLAIN QUERY PLAN SELECT MIN(created_at) FROM deliveries WHERE vendor = 'meta'"
            " AND status IN ('pending', 'sending')",
            "last error": "EXPLAIN QUERY PLAN SELECT * FROM deliveries WHERE vendor = 'meta' AND last_error IS NOT NULL"
            " AND status <> 'delivered' ORDER BY updated_at DESC LIMIT 1",
        }
        drop = "DROP TRIGGER deliveries_count_{}"
    else:
        pg = psycopg.connect(spec, autocommit=True)
        pg.execute(FILL_POSTGRES, (args.rows,))
        pg.execute("VACUUM ANALYZE attribution_deliveries")
        old_count = OLD_COUNT.format(table="attribution_deliveries")
        plans = {
            "oldest waiting": "EXPLAIN SELECT vendor, min(created_at) FROM attribution_deliveries"
            " WHERE vendor = ANY(ARRAY['meta']) AND status IN ('pending', 'sending') GROUP BY vendor",
            "last error": "EXPLAIN SELECT * FROM attribution_deliveries WHERE vendor = 'meta'"
            " AND last_error IS NOT NULL AND status <> 'delivered' ORDER BY updated_at DESC LIMIT 1",
        }
        drop = "DROP TRIGGER attribution_count_{} ON attribution_deliveries"
    print(f"   fill: {time.perf_counter() - started:.1f} s")
    await queue_and_failures(box)
    if isinstance(box, PostgresOutbox):
        await box.fold_counts()
    db = conn if isinstance(box, SQLiteOutbox) else pg
    for name, sql in plans.items():
        plan = " / ".join(str(r[-1]).strip() for r in db.execute(sql).fetchall())
        print(f"   plan, {name}: {plan}")

    await counts_and_status(box, spec, args.runs)
    full = await timed(lambda: asyncio.to_thread(lambda: db.execute(old_count).fetchall()), args.runs)
    print(f"   full-table count (what counts() did before): {spread(full)}")

    await checkouts(box, 20, "warm")
    kept = await checkouts(box, args.checkouts, "kept")
    rounds = await claims(box, 20, "kept")
    for op in ("insert", "update", "delete"):
        db.execute(drop.format(op))
    if isinstance(db, sqlite3.Connection):
        db.commit()
    bare = await checkouts(box, args.checkouts, "bare")
    bare_rounds = await claims(box, 20, "bare")
    print(f"   checkout (1 order, 2 deliveries), counts kept:       {spread(kept)}")
    print(f"   checkout (1 order, 2 deliveries), without triggers:  {spread(bare)}")
    print(f"   claim + finish of 64, counts kept:          {spread(rounds)}")
    print(f"   claim + finish of 64, without triggers:     {spread(bare_rounds)}")
    await box.close()
    db.close()
    print(f"   migrating from the previous schema: {await migrating(box, spec, args.rows):.2f} s")


async def migrating(box: Outbox, spec: str, rows: int) -> float:
    """Seconds ``migrate`` takes on an outbox of the previous schema version holding ``rows`` delivered rows: the
    latest migration on a file or database of this size, made beside the one measured above."""
    if isinstance(box, SQLiteOutbox):
        from attribution.delivery.outbox.sqlite_schema import SCHEMA_VERSION, Q, statements

        path = Path(box.path).with_name("previous.sqlite3")
        conn = sqlite3.connect(path)
        for version in range(1, SCHEMA_VERSION):
            for statement in statements(Q[f"migration_{version}"]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
        conn.execute(FILL_SQLITE, (rows,))
        conn.commit()
        conn.close()
        path.chmod(0o600)  # as the outbox makes its own files: it holds customers' data
        previous: Outbox = SQLiteOutbox(path)
    else:
        from attribution.delivery.outbox.postgres import SCHEMA_VERSION as PG_VERSION
        from attribution.delivery.outbox.postgres import Q as PQ

        name = urlsplit(spec).path.lstrip("/") + "_previous"
        with psycopg.connect(spec, autocommit=True) as pg:
            pg.execute(f'CREATE DATABASE "{name}"')
        url = urlsplit(spec)._replace(path=f"/{name}").geturl()
        with psycopg.connect(url, autocommit=True) as pg:
            for version in range(1, PG_VERSION):
                pg.execute(PQ[f"migration_{version}"])
            pg.execute("CREATE TABLE attribution_schema (version INTEGER NOT NULL)")
            pg.execute("INSERT INTO attribution_schema VALUES (%s)", (PG_VERSION - 1,))
            pg.execute(FILL_POSTGRES, (rows,))
            pg.execute("VACUUM ANALYZE attribution_deliveries")
        previous = PostgresOutbox(url)
    started = time.perf_counter()
    await previous.migrate()
    elapsed = time.perf_counter() - started
    await previous.close()
    return elapsed


async def counts_and_status(box: Outbox, spec: str, runs: int) -> None:
    await box.counts()
    print(f"   counts():                                   {spread(await timed(box.counts, runs))}")
    status_runs = await timed(lambda: asyncio.to_thread(status, spec), runs)
    print(f"   attribution status (opening included):      {spread(status_runs)}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="an existing PostgreSQL server (a maintenance database URL)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--checkouts", type=int, default=200)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.sqlite3")
        await bench("sqlite", path, SQLiteOutbox(path), args)
        base = args.url or stack.enter_context(temporary_server(fsync=True)).url()
        name = f"bench_counts_{os.getpid()}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = urlsplit(base)._replace(path=f"/{name}").geturl()
        await bench("postgresql", url, PostgresOutbox(url), args)


if __name__ == "__main__":
    asyncio.run(main())
