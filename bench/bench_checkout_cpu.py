"""CPU per checkout when 200 arrive at once: the site's own share of a burst, without a client in the process.

    python bench/bench_checkout_cpu.py [--runs 3] [--at-once 200] [--waves 5] [--vendors 1,8,0] [--parts | --floor]

The site of ``bench_checkout`` (the middleware, a Tracker with every adapter, a SQLite outbox, no worker)
is called directly as an ASGI app, with the scope a server would pass for a visitor who landed from an ad:
no HTTP client or server shares the process, so what is measured is the middleware, the route and
``tracker.checkout()`` with its durable group commit. Each wave sends ``--at-once`` checkouts together; the
process's CPU (every thread) per checkout and each wave's wall time are reported per run, then as
min / median / max over the runs. Run it at two commits to compare them. ``--vendors 1,8,0`` runs it with the first
adapter, the first eight and all of them configured: the CPU per checkout should not grow with them.

Figures (2-core machine shared with other jobs, load average 0.8-1.0; three rounds, each running the release before
order records (eight vendors, every body built at checkout, ``96b8090~1``), the start of this round (``9c84eef``) and
this code one after the other; µs of CPU per checkout, min / median / max): before order records, 8 vendors 1,908 /
2,279 / 2,512; the round's start, 1 vendor 928 / 968 / 986, 8 vendors 1,269 / 1,395 / 1,399, 14 vendors 1,880 /
1,991 / 2,069; now 1 vendor 809 / 932 / 1,034, 8 vendors 1,359 / 1,419 / 1,574, 14 vendors 1,578 / 1,805 / 2,013.
Eight vendors cost 0.62 of what they did before order records, not half; each vendor still adds some 60-80 µs:
its delivery row, its ``check`` and ``batch_key``, its customer forms (``--parts`` below, and docs/delivery.md on why
each vendor's row is written at checkout). This machine measured the earlier rounds' 543-584 µs at about a third of
these figures for the same code: compare side by side, not with them.

``--parts`` takes the cost of the vendors apart instead: every adapter configured, run as it is and with one part
of each vendor's work taken away at a time (``checks``: each vendor applies without its ``check`` and ``batch_key``
running; ``rows``: only the first vendor's delivery row is written; ``forms``: the record keeps only the first
vendor's customer forms; ``all``: the three at once), beside the first adapter alone. These are measurements, not
configurations a site can run: what remains with ``all`` is what the vendors cost beyond their checks, rows and
forms.

A quiet session (load 0.5-0.9), three rounds alternating with ``96b8090~1``: before order records, 8 vendors 1,387 /
1,461 / 1,573; now 1 vendor 639 / 676 / 723, 8 vendors 958 / 1,027 / 1,044, 14 vendors 1,346 / 1,492 / 1,534 (8
vendors: 0.70 of before).

``--floor`` measures, in process, the two parts of each vendor's cost that this design cannot take away: its
``check`` (with ``consent`` and ``batch_key``: checkout answers per vendor, ``skipped`` and why), and its delivery
row (the INSERT and the read-back of the new rows' ids, timed alone inside a group of ``--at-once`` checkouts
written together). Each is given for the first adapter and for all, and per vendor beyond
the first: what fourteen vendors must add to one even when everything else a vendor costs is gone. Beside them,
the whole ``tracker.record()`` of the same conversions, ``--at-once`` at once (no request: what the middleware and
the HTTP layer cost is left out). ``--floor --runs 5``, two sessions, CPU time: per vendor beyond the first, checks
10.2 and 11.7 µs, rows 15.8 and 16.5 µs, the whole ``record()`` 47.9 and 41.5 µs; thirteen more vendors add at
least 337 and 368 µs, about as much as one vendor's whole ``record()`` (349 and 368 µs).

Then the outbox alone: the rows of ``--at-once`` checkouts (one delivery per vendor, as the waves wrote them, under
new dedup keys) handed to ``outbox.enqueue`` at once, each call timed until its rows are durable. That is the
group commit's share of a burst, apart from the CPU that builds the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx2  # noqa: E402
from bench_checkout import LANDING, UA, purchase  # noqa: E402
from bench_throughput import CLICKS, conversions  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from attribution.checkout.tracker import Tracker  # noqa: E402
from attribution.delivery.outbox import sqlite_checkout  # noqa: E402
from attribution.delivery.outbox.base import Enqueued, NewOrder  # noqa: E402
from attribution.delivery.outbox.sqlite_database import Database  # noqa: E402
from attribution.orders import pii  # noqa: E402
from attribution.web.middleware import AttributionMiddleware  # noqa: E402
from tests.support.vendor_server import loopback_vendors  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"


def site(outbox: Path, vendors: int) -> tuple[Tracker, AttributionMiddleware]:
    """The site with the first ``vendors`` adapters of ``loopback_vendors`` (all of them: 0)."""
    configured = loopback_vendors("http://127.0.0.1:9")
    tracker = Tracker(vendors=configured[:vendors] if vendors else configured, outbox=outbox, run_worker=False)

    async def checkout(request: Request) -> JSONResponse:
        order, customer = purchase(request.query_params["order"])
        result = await tracker.checkout(request, order, customer=customer)
        return JSONResponse({r.vendor: r.status for r in result})

    app = Starlette(routes=[Route("/checkout", checkout, methods=["POST"])])
    return tracker, AttributionMiddleware(app, secret_key=SECRET, tracker=tracker)


PARTS = ("as is", "checks", "rows", "forms", "all")
"""``--parts``: the cases, each the site with every adapter and one part of each vendor's work taken away."""


@contextlib.contextmanager
def without(part: str) -> Iterator[None]:
    """The tracker and the outbox with ``part`` of each vendor's work taken away (see ``--parts``)."""
    patches: list[tuple[Any, str, Any]] = []
    if part in ("checks", "all"):

        def applies(self: Tracker, conversion: Any) -> tuple[dict[str, Any], list[tuple[Any, str]]]:
            return {}, [(vendor, "") for vendor in self.vendors]

        patches.append((Tracker, "_answers", applies))
    if part in ("rows", "all"):
        encode = sqlite_checkout.encode

        def first_row(orders: Sequence[NewOrder], now: float) -> list[Any]:
            rows = encode(orders, now)
            return [dataclasses.replace(r, deliveries=r.deliveries[:1], keys=r.keys[:1]) for r in rows]

        patches.append((sqlite_checkout, "encode", first_row))
    if part in ("forms", "all"):
        forms = Tracker._forms
        patches.append((Tracker, "_forms", lambda self, vendors: forms(self, vendors[:1])))
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, value in patches:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def again(order: NewOrder) -> NewOrder:
    """The same checkout under a new order id and new dedup keys, so that it is written, not answered as a
    duplicate."""
    record = dataclasses.replace(order.record, order_id=order.record.order_id + ":again")
    rows = tuple(dataclasses.replace(row, dedup_key=row.dedup_key + ":again") for row in order.deliveries)
    return dataclasses.replace(order, record=record, deliveries=rows)


async def enqueue_at_once(tracker: Tracker, written: list[list[NewOrder]]) -> list[float]:
    """Seconds until durable, per call, for the checkouts ``written`` (their order records and deliveries) enqueued
    again all at once."""
    outbox = tracker.outbox
    batches = [[again(order) for order in orders] for orders in written]

    async def one(rows: list[NewOrder]) -> float:
        started = time.perf_counter()
        answers = await outbox.enqueue(rows, now=time.time())
        if any(answer.duplicate for answer in answers):
            raise SystemExit("a row enqueued again under a new dedup key was answered as a duplicate")
        return time.perf_counter() - started

    return list(await asyncio.gather(*(one(rows) for rows in batches)))


async def one_run(at_once: int, waves: int, vendors: int) -> tuple[float, float, list[float], int]:
    """(CPU µs per checkout, median wave wall ms, the outbox alone's seconds per call, deliveries per checkout)
    over ``waves`` waves, after a warm-up wave."""
    with tempfile.TemporaryDirectory() as tmp:
        tracker, app = site(Path(tmp) / "outbox.sqlite3", vendors)
        written: list[list[NewOrder]] = []
        enqueue = tracker.outbox.enqueue

        async def keep(items: Sequence[NewOrder], *, now: float) -> list[Enqueued]:
            if len(written) < at_once:
                written.append(list(items))
            return await enqueue(items, now=now)

        tracker.outbox.enqueue = keep  # type: ignore[method-assign]
        async with tracker.lifespan():
            transport = httpx2.ASGITransport(app=app, client=("203.0.113.7", 5000))
            async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example") as browser:
                landing = await browser.get(LANDING, headers={"user-agent": UA})
                # the cookie under the name the site set (__Host-attribution on HTTPS), as the browser sends it back
                cookie = "; ".join(f"{name}={value}" for name, value in landing.cookies.items()).encode()
            headers = [(b"host", b"shop.example"), (b"user-agent", UA.encode()), (b"cookie", cookie)]
            answers: list[int] = []

            async def call(number: str) -> None:
                scope = {
                    "type": "http",
                    "asgi": {"version": "3.0"},
                    "http_version": "1.1",
                    "method": "POST",
                    "scheme": "https",
                    "path": "/checkout",
                    "raw_path": b"/checkout",
                    "query_string": f"order={number}".encode(),
                    "root_path": "",
                    "headers": headers,
                    "client": ("203.0.113.7", 5000),
                    "server": ("shop.example", 443),
                    "state": {},
                }

                async def receive() -> dict[str, Any]:
                    return {"type": "http.request", "body": b"", "more_body": False}

                async def send(message: dict[str, Any]) -> None:
                    if message["type"] == "http.response.start":
                        answers.append(message["status"])

                await app(scope, receive, send)

            walls = []
            cpu_started = 0.0
            for wave in range(waves + 1):
                if wave == 1:  # the first wave warms caches up and is not counted
                    cpu_started = time.process_time()
                started = time.perf_counter()
                await asyncio.gather(*(call(f"W{wave}-{i}") for i in range(at_once)))
                walls.append(time.perf_counter() - started)
            cpu = (time.process_time() - cpu_started) / (waves * at_once)
            if answers != [200] * ((waves + 1) * at_once):
                raise SystemExit(f"not every checkout answered 200: {sorted(set(answers))}")
            tracker.outbox.enqueue = enqueue  # type: ignore[method-assign]
            durable = await enqueue_at_once(tracker, written)
            per_checkout = len(written[0][0].deliveries)
    return cpu * 1e6, statistics.median(walls[1:]) * 1e3, durable, per_checkout


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--at-once", type=int, default=200)
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--vendors", default="0", help="comma-separated counts of adapters configured (0: all)")
    parser.add_argument("--parts", action="store_true", help="take the vendors' cost apart (see the docstring)")
    parser.add_argument("--floor", action="store_true", help="what each vendor costs at least (see the docstring)")
    args = parser.parse_args()
    if args.floor:
        await floor(args.runs, args.at_once)
        return
    if args.parts:
        await parts(args.runs, args.at_once, args.waves)
        return
    summary = []
    for count in (int(v) for v in args.vendors.split(",")):
        results = []
        for number in range(args.runs):
            cpu, wall, durable, queued = await one_run(args.at_once, args.waves, count)
            p95 = statistics.quantiles(durable, n=20)[-1] * 1e3
            results.append((cpu, wall, p95))
            print(
                f"{queued} vendors, run {number + 1}: {cpu:.0f} µs of CPU per checkout, {wall:.1f} ms per wave of "
                f"{args.at_once}; outbox alone, {len(durable)} checkouts' rows at once: "
                f"p50 {statistics.median(durable) * 1e3:.1f} ms, p95 {p95:.1f} ms",
                flush=True,
            )
        rows = (("CPU per checkout", 0, "µs"), ("wall per wave", 1, "ms"), ("outbox alone, p95", 2, "ms"))
        for label, index, unit in rows:
            values = sorted(result[index] for result in results)
            low, middle, high = values[0], statistics.median(values), values[-1]
            summary.append(f"{queued:>2} vendors  {label:<19}{low:.1f} / {middle:.1f} / {high:.1f} {unit}")
    print("\nmin / median / max over the runs:")
    print("\n".join(summary))


async def parts(runs: int, at_once: int, waves: int) -> None:
    """``--parts``: the first adapter alone, then every adapter as it is and without each part; the cases alternate
    within each run, so that drift on a shared machine reaches them all."""
    cases = [("first adapter alone", 1, "as is")] + [(f"all adapters, {p}", 0, p) for p in PARTS]
    cpu: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    for number in range(runs):
        for label, vendors, part in cases:
            with without(part):
                spent, _, _, _ = await one_run(at_once, waves, vendors)
            cpu[label].append(spent)
            print(f"run {number + 1}: {label:<28} {spent:.0f} µs of CPU per checkout", flush=True)
    print("\nmin / median / max over the runs (µs of CPU per checkout; 'without' a part: see the docstring):")
    for label, values in cpu.items():
        values.sort()
        shown = label.replace(", checks", ", without checks").replace(", rows", ", without rows")
        shown = shown.replace(", forms", ", without forms").replace(", all", ", without all three")
        print(f"  {shown:<42}{values[0]:.0f} / {statistics.median(values):.0f} / {values[-1]:.0f}")


EVERY_CLICK = {
    **CLICKS,
    **{
        "ctwa_clid": "c-1",
        "cnct_tracking_id": "t-1",
        "sendout_id": "s-1",
        "ad_id": "a-1",
        "attribution_source": "meta_ctwa",
    },
}
"""Every adapter's click id, Connectly's Click-to-WhatsApp one too: each vendor applies and writes its row."""


async def floor(runs: int, at_once: int) -> None:
    """``--floor``: the vendors' checks and their delivery rows, per checkout, beside the whole of ``tracker.record``
    (the conversion already built: no request; ``at_once`` at once, as the waves), with the first adapter and with
    all; min / median / max over ``runs`` runs of ``at_once`` checkouts each, the two cases alternating. All CPU
    time: the checks' and the rows' of the thread that runs them, the whole ``record()``'s of the process (its
    database thread too)."""
    cases = {"first adapter": 1, "all adapters": 0}
    parts = ("whole record()", "checks", "rows")
    spent: dict[tuple[str, str], list[float]] = {(part, label): [] for part in parts for label in cases}
    counts: dict[str, int] = {}
    for number in range(runs):
        for label, vendors in cases.items():
            with tempfile.TemporaryDirectory() as tmp:
                tracker, _ = site(Path(tmp) / "outbox.sqlite3", vendors)
                counts[label] = len(tracker.vendors)
                batch = [
                    c.model_copy(update={"event_id": f"F{number}-{c.event_id}"})
                    for c in conversions(at_once, EVERY_CLICK)
                ]
                warm = batch[0].model_copy(update={"event_id": "warm-up"})
                with warm.attribution.read_once(), pii.hashing_once():
                    tracker._answers(warm)  # the adapters' first call (caches, lazy imports) is not counted
                checks = 0.0
                for conversion in batch:
                    started = time.thread_time()
                    with conversion.attribution.read_once(), pii.hashing_once():
                        _, applied = tracker._answers(conversion)
                    checks += time.thread_time() - started
                    if len(applied) != len(tracker.vendors):
                        raise SystemExit("a vendor did not apply to the floor's conversion")
                orders = [tracker._prepare(conversion)[1] for conversion in batch]
                rows = _rows_insert(Path(tmp) / "floor.sqlite3", orders)
                async with tracker.lifespan():
                    await tracker.record(batch[0].model_copy(update={"event_id": "warm-up"}))
                    again = [c.model_copy(update={"event_id": "R" + c.event_id}) for c in batch]
                    started = time.process_time()
                    await asyncio.gather(*(tracker.record(conversion) for conversion in again))
                    whole = time.process_time() - started
            for part, seconds in zip(parts, (whole, checks, rows), strict=True):
                spent[part, label].append(seconds / at_once * 1e6)
            print(
                f"run {number + 1}: {label:<14} ({counts[label]:>2} vendors) per checkout: whole record() "
                f"{spent['whole record()', label][-1]:6.1f} µs of CPU, checks {spent['checks', label][-1]:6.1f} µs, "
                f"delivery rows {spent['rows', label][-1]:6.1f} µs",
                flush=True,
            )
    extra = counts["all adapters"] - counts["first adapter"]
    print("\nmin / median / max over the runs, µs per checkout:")
    medians: dict[tuple[str, str], float] = {}
    for (part, label), values in spent.items():
        values.sort()
        medians[part, label] = statistics.median(values)
        print(f"  {part:<16}{label:<15}{values[0]:7.1f} / {medians[part, label]:7.1f} / {values[-1]:7.1f}")
    added = {part: medians[part, "all adapters"] - medians[part, "first adapter"] for part in parts}
    floor_added = added["checks"] + added["rows"]
    one = medians["whole record()", "first adapter"]
    print(
        f"per vendor beyond the first (medians): checks {added['checks'] / extra:.1f} µs, delivery rows "
        f"{added['rows'] / extra:.1f} µs, the whole record() {added['whole record()'] / extra:.1f} µs. "
        f"{extra} more vendors add at least {floor_added:.0f} µs: {floor_added / one:.0%} of one vendor's whole "
        f"record() ({one:.0f} µs)"
    )


def _rows_insert(path: Path, orders: list[NewOrder]) -> float:
    """CPU seconds the delivery rows take when ``orders`` are written as one group (``sqlite_checkout.write`` in one
    durable transaction): their INSERT and the read-back of their ids (``_insert_deliveries``), timed alone."""
    database = Database(path, synchronous="FULL", busy_timeout=5.0, migrate=True)
    conn = database.connection()
    insert = sqlite_checkout._insert_deliveries
    spent = 0.0

    def timed(conn: Any, rows: Any) -> Any:
        nonlocal spent
        started = time.thread_time()
        try:
            return insert(conn, rows)
        finally:
            spent += time.thread_time() - started

    sqlite_checkout._insert_deliveries = timed  # type: ignore[assignment]
    try:
        encoded = [sqlite_checkout.encode([order], time.time()) for order in orders]
        with database.transaction(conn):
            sqlite_checkout.write(conn, encoded)
    finally:
        sqlite_checkout._insert_deliveries = insert
        database.close()
    return spent


if __name__ == "__main__":
    asyncio.run(main())
