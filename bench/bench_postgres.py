"""The PostgreSQL outbox against SQLite, side by side in one run.

    python bench/bench_postgres.py [--checkouts 200] [--deliveries 4000] [--workers 1,2,4] [--rows 1000000]
    python bench/bench_postgres.py --url postgresql://...   # an existing server instead of a throwaway one

1. Checkout latency (median, p95): ``tracker.checkout`` with two vendors, the worker elsewhere, one after another
   and all at once (``--checkouts`` concurrent), on SQLite (synchronous=FULL) and on PostgreSQL (fsync on).
2. Delivery throughput to a fake vendor on loopback (its own process, answering after ``--vendor-delay``):
   1, 2 and 4 ``attribution worker`` processes on one PostgreSQL outbox, against plain httpx2 with as many
   requests in flight in one process, building each body from its order in memory on the clock (as a hand-written
   sender must; the workers build theirs from the order records). The receiver counts loss and duplicates.
3. Claim and checkout cost with ``--rows`` delivered rows kept (30 days of history), against an empty table.

Without ``--url`` it starts its own server from Debian's PostgreSQL (see tests/support/postgres.py), as a non-root user.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx2  # noqa: E402
import psycopg  # noqa: E402
from bench_throughput import fresh_databases, vendor  # noqa: E402

from attribution.capture.models import Attribution  # noqa: E402
from attribution.checkout.tracker import Tracker  # noqa: E402
from attribution.delivery.outbox.base import Finish, Outbox, Status  # noqa: E402
from attribution.delivery.outbox.postgres import PostgresOutbox  # noqa: E402
from attribution.delivery.outbox.sqlite import SQLiteOutbox  # noqa: E402
from attribution.delivery.worker import DEFAULT_TIMEOUT  # noqa: E402
from attribution.orders.conversion import Order  # noqa: E402
from attribution.orders.record import conversion_of  # noqa: E402
from tests.support.delivery_fakes import FakeBatchVendor, FakeVendor, items, new_order  # noqa: E402
from tests.support.postgres import temporary_server  # noqa: E402

PER_WORKER = 16
"""Requests in flight per worker process."""


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": "https",
        "path": "/checkout",
        "query_string": b"",
        "client": ("203.0.113.9", 1),
        "headers": [(b"host", b"shop.example"), (b"user-agent", b"Mozilla/5.0 bench")],
        "attribution": Attribution(),
    }


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered) * 1000:6.2f} ms  p95 {p95 * 1000:6.2f} ms"


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def checkouts(box: Outbox, n: int, prefix: str) -> tuple[list[float], list[float]]:
    tracker = Tracker(vendors=[FakeVendor(), FakeBatchVendor()], outbox=box, run_worker=False)
    await tracker.start()
    try:

        def one(i: int, tag: str) -> Callable[[], Awaitable[object]]:
            order = Order(id=f"{prefix}-{tag}-{i}", value="49.90", currency="USD")
            return lambda: tracker.checkout(scope(), order)

        for i in range(20):  # warm up: connections, statement plans
            await one(i, "warm")()
        single = [await timed(one(i, "single")) for i in range(n)]
        together = list(await asyncio.gather(*(timed(one(i, "together")) for i in range(n))))
    finally:
        await tracker.stop()
    return single, together


async def plain_httpx2(url: str, n: int, concurrency: int) -> float:
    """A hand-written sender with the orders in memory: each body built from its order (timed), then posted."""
    fake = FakeVendor(url)
    queue = iter([conversion_of(r.order_id, r.event, r.value, r.currency, r.data, r.identifiers)
                  for r in (o.record for o in items(n))])  # fmt: skip
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(timeout=DEFAULT_TIMEOUT, limits=limits, trust_env=False) as client:

        async def lane() -> None:
            for conversion in queue:
                (await client.send(fake.build_request([fake.payload(conversion)]))).raise_for_status()

        return await timed(lambda: asyncio.gather(*(lane() for _ in range(concurrency))))


async def worker_processes(url: str, db: str, n: int, count: int) -> float:
    """Seconds from enqueueing ``n`` deliveries to all delivered, with ``count`` worker processes already waiting
    (they are woken by the enqueue's NOTIFY)."""
    box = PostgresOutbox(db)
    await box.open()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FAKE_VENDOR_URL": url,
        "ATTRIBUTION_TEST_OUTBOX": db,
        "FAKE_CONCURRENCY": str(PER_WORKER),
        "FAKE_LEASE": "30",
    }
    command = [sys.executable, "-m", "attribution.cli", "--config", "tests.support.crash_site:tracker", "worker"]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in range(count)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            proc.stdout.readline()  # "worker ... sending to ...": started
        await asyncio.sleep(1.0)  # each has opened its pool and its listener
        started = time.perf_counter()
        await box.enqueue(items(n), now=time.time())
        while (await box.counts()).get(("fake", Status.DELIVERED), 0) < n:
            await asyncio.sleep(0.02)
        return time.perf_counter() - started
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        await box.close()


async def throughput(server_url: Callable[[], str], n: int, counts: list[int], delay: float, folder: Path) -> None:
    print(f"\n2. throughput: {n} deliveries, vendor answering after {delay * 1000:.0f} ms, {PER_WORKER} per worker")
    for count in counts:
        log = folder / f"plain-{count}.txt"
        with vendor(log, delay) as url:
            plain = await plain_httpx2(url, n, PER_WORKER * count)
        log = folder / f"workers-{count}.txt"
        with vendor(log, delay) as url:
            elapsed = await worker_processes(url, server_url(), n, count)
        got = Counter(log.read_text().split())
        lost, twice = n - len(got), sum(1 for v in got.values() if v > 1)
        print(
            f"   {count} worker(s): {n / elapsed:6.0f}/s   plain httpx2 ({PER_WORKER * count} in flight): "
            f"{n / plain:6.0f}/s   ratio {plain / elapsed:.2f}   lost {lost}, sent twice {twice}"
        )


async def growth(db: str, rows: int) -> None:
    box = PostgresOutbox(db)
    await box.open()

    async def measure(label: str) -> None:
        checkout = [await timed(lambda i=i: box.enqueue(items(2, start=10_000_000 + i * 2), now=time.time()))
                    for i in range(100)]  # fmt: skip
        claims = []
        for _ in range(20):
            start = int(time.time() * 1e6)  # new order ids each round; worth nothing (their ids are not amounts)
            await box.enqueue([new_order(f"o{start + j}", "fakebatch") for j in range(64)], now=time.time())
            started = time.perf_counter()
            claimed = await box.claim("w", limits={"fakebatch": 64}, now=time.time() + 1, lease=60)
            claims.append(time.perf_counter() - started)
            done = [Finish(d.id, Status.DELIVERED, time.time()) for d in claimed.get("fakebatch", [])]
            await box.finish("w", done)
        print(f"   {label:>22}: checkout {stats(checkout)}   claim of 64 {stats(claims)}")

    print(f"\n3. growth: {rows} delivered rows kept")
    await measure("(warm-up)")
    await measure("empty table")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO attribution_deliveries (vendor, dedup_key, payload, status, created_at, updated_at,"
            " next_attempt_at) SELECT 'fake', 'old-' || i, '{\"event_id\":1}', 'delivered', 1, 1, 1"
            " FROM generate_series(1, %s) AS i",
            (rows,),
        )
        conn.execute("VACUUM ANALYZE attribution_deliveries")
    await measure(f"{rows} delivered kept")
    await box.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="an existing PostgreSQL server (a maintenance database URL)")
    parser.add_argument("--checkouts", type=int, default=200)
    parser.add_argument("--deliveries", type=int, default=4000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--vendor-delay", type=float, default=0.02)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        base = args.url or stack.enter_context(temporary_server(fsync=True)).url()
        fresh = fresh_databases(base)

        print(f"1. checkout latency, {args.checkouts} checkouts of two vendors each")
        for label, box in (
            ("sqlite (FULL)", SQLiteOutbox(Path(tmp) / "bench.sqlite3")),
            ("postgresql", PostgresOutbox(fresh())),
        ):
            single, together = await checkouts(box, args.checkouts, label.split()[0])
            print(f"   {label:>14} one at a time: {stats(single)}   {args.checkouts} at once: {stats(together)}")
        counts = [int(c) for c in args.workers.split(",")]
        await throughput(fresh, args.deliveries, counts, args.vendor_delay, Path(tmp))
        await growth(fresh(), args.rows)


if __name__ == "__main__":
    asyncio.run(main())
