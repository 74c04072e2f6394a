"""Checkout latency while every vendor takes 1 s to answer: the checkout only writes the outbox.

    python bench/bench_checkout.py [--n 200] [--at-once 1] [--worker in-app|process]

A Starlette site with the middleware and a Tracker configured with every adapter (Meta, Google Ads with its OAuth
token endpoint, TikTok, LinkedIn, Reddit, Microsoft, Pinterest, Snapchat and OpenAI Ads among them), each pointed at
a fake vendor on 127.0.0.1 (its own process) that answers after 1 s in the vendor's own success shape. The worker
sends while the checkouts are measured: from the app's own event loop (``--worker in-app``, the default) or from
``attribution worker`` in another process (``--worker process``). Prints the vendor's latency and the checkout's,
measured side by side in one run, and their ratio (target: checkout at least 100x faster). ``--at-once 200`` sends
the checkouts in waves of 200 concurrent requests instead of one at a time (target: p95 at most 25 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from attribution.checkout.tracker import Tracker  # noqa: E402
from attribution.delivery.outbox.base import Status  # noqa: E402
from attribution.orders.conversion import Customer, LineItem, Order  # noqa: E402
from attribution.web.middleware import AttributionMiddleware  # noqa: E402
from tests.support.vendor_server import loopback_vendors  # noqa: E402

LANDING = (
    "/?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=Cj0KCQiA-bench&twclid=tw-bench&ttclid=tt-bench"
    "&fbclid=fb-bench&cnct_tracking_id=t-1&sendout_id=s-1&ctwa_clid=c-1&ad_id=a-1&attribution_source=meta_ctwa"
    "&li_fat_id=li-bench&rdt_cid=rdt-bench&msclkid=0f7e5c3a9b2d4e6f8a1b2c3d4e5f6a7b"
    "&epik=pin-bench&ScCid=snap-bench&oppref=gAAAAB-bench%3D%3D"
)
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


def purchase(number: str) -> tuple[Order, Customer]:
    """The benches' sample purchase: order ``number`` of one line item, and a customer every vendor can use."""
    order = Order(id=number, value="99.90", currency="USD", items=[LineItem(id="SKU-1", price="99.90")])
    return order, Customer(email="jane.doe@example.com", phone="+14155550100", first_name="Jane")


def worker_tracker() -> Tracker:
    """The same site's tracker for `attribution worker --config bench_checkout:worker_tracker`."""
    return Tracker(
        vendors=loopback_vendors(os.environ["BENCH_VENDOR_URL"]),
        outbox=os.environ["BENCH_OUTBOX"],
        concurrency=64,
        poll_interval=0.05,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument(
        "--worker",
        choices=["in-app", "process"],
        default="in-app",
        help="send from the app's own event loop (default) or from `attribution worker` in another process",
    )
    parser.add_argument("--at-once", type=int, default=1, help="checkouts sent concurrently, in waves")
    args = parser.parse_args()

    # The fake vendor runs in its own process, so it is not part of what is measured.
    vendor_process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.vendor_server", "--delay", "1.0"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert vendor_process.stdout is not None
    vendor_url = f"http://127.0.0.1:{vendor_process.stdout.readline().split()[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Path(tmp) / "outbox.sqlite3"
        tracker = Tracker(
            vendors=loopback_vendors(vendor_url),
            outbox=outbox,
            concurrency=64,
            poll_interval=0.2,
            run_worker=args.worker == "in-app",
        )
        worker_process = None
        if args.worker == "process":
            worker_process = subprocess.Popen(
                [sys.executable, "-m", "attribution.cli", "--config", "bench_checkout:worker_tracker", "worker"],
                cwd=ROOT / "bench",
                env={
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "BENCH_VENDOR_URL": vendor_url,
                    "BENCH_OUTBOX": str(outbox),
                },
                stdout=subprocess.DEVNULL,
            )

        call_times: list[float] = []

        async def checkout(request: Request) -> JSONResponse:
            order, customer = purchase(request.query_params["order"])
            started = time.perf_counter()
            result = await tracker.checkout(request, order, customer=customer)
            call_times.append(time.perf_counter() - started)
            return JSONResponse({r.vendor: r.status for r in result})

        app = Starlette(routes=[Route("/checkout", checkout, methods=["POST"])])
        app.add_middleware(AttributionMiddleware, secret_key="bench-secret-0123456789abcdef", tracker=tracker)
        transport = httpx2.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with (
            tracker.lifespan(),
            httpx2.AsyncClient(
                transport=transport, base_url="https://shop.example", headers={"user-agent": UA}
            ) as site,
            httpx2.AsyncClient(trust_env=False) as direct,
        ):
            await site.get(LANDING)
            first = (await site.post("/checkout?order=warmup")).json()
            queued = [name for name, status in first.items() if status == "queued"]
            if len(queued) != len(tracker.vendors):
                raise SystemExit(f"the warm-up checkout did not queue for every vendor: {first}")

            vendor_times, checkout_times = [], []
            call_times.clear()

            async def one(i: int) -> None:
                started = time.perf_counter()
                response = await site.post(f"/checkout?order=B-{i}")
                checkout_times.append(time.perf_counter() - started)
                if list(response.json().values()).count("queued") != len(queued):
                    raise SystemExit(f"checkout did not queue for every vendor: {response.json()}")

            for wave in range(0, args.n, args.at_once):
                if wave % 40 < args.at_once:  # the vendor's latency, measured in the same run, under the same load
                    started = time.perf_counter()
                    (await direct.post(f"{vendor_url}/whop/conversions", json={})).raise_for_status()
                    vendor_times.append(time.perf_counter() - started)
                await asyncio.gather(*(one(i) for i in range(wave, min(wave + args.at_once, args.n))))

            expected = (args.n + 1) * len(queued)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                counts = await tracker.outbox.counts()
                if sum(n for (_, s), n in counts.items() if s == Status.DELIVERED) == expected:
                    break
                await asyncio.sleep(0.1)
            counts = await tracker.outbox.counts()
        if worker_process is not None:
            worker_process.terminate()
            worker_process.wait()
    vendor_process.kill()
    vendor_process.wait()

    delivered = sum(n for (_, s), n in counts.items() if s == Status.DELIVERED)
    vendor = statistics.median(vendor_times)
    pace = "one at a time" if args.at_once == 1 else f"{args.at_once} at once"
    print(f"vendors queued per checkout: {', '.join(queued)}; {args.n} checkouts, {pace}; worker {args.worker}")
    print(f"vendor answers in            {vendor * 1000:8.1f} ms (median of {len(vendor_times)})")
    for label, times in (("tracker.checkout() returns", call_times), ("whole HTTP request", checkout_times)):
        p50, p95 = statistics.median(times), statistics.quantiles(times, n=20)[-1]
        print(
            f"{label:<28} {p50 * 1000:8.2f} ms median, {p95 * 1000:6.2f} ms p95"
            f"   -> {vendor / p50:4.0f}x faster than the vendor (median), {vendor / p95:4.0f}x (p95)"
        )
    print("target: checkout at least 100x faster than the vendor")
    print(f"delivered afterwards by the worker: {delivered}/{expected}")


if __name__ == "__main__":
    asyncio.run(main())
