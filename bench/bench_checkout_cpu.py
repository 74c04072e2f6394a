"""CPU per checkout when 200 arrive at once: the site's own share of a burst, without a client in the process.

    python bench/bench_checkout_cpu.py [--runs 3] [--at-once 200] [--waves 5]

The site of ``bench_checkout`` (the middleware, a Tracker with all eight adapters, a SQLite outbox, no worker)
is called directly as an ASGI app, with the scope a server would pass for a visitor who landed from an ad:
no HTTP client or server shares the process, so what is measured is the middleware, the route and
``tracker.checkout()`` with its durable group commit. Each wave sends ``--at-once`` checkouts together; the
process's CPU (every thread) per checkout and each wave's wall time are reported per run, then as
min / median / max over the runs. Run it at two commits to compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx2  # noqa: E402
from bench_checkout import LANDING, UA, purchase  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from attribution.middleware import AttributionMiddleware  # noqa: E402
from attribution.tracker import Tracker  # noqa: E402
from tests.vendor_server import loopback_vendors  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"


def site(outbox: Path) -> tuple[Tracker, AttributionMiddleware]:
    tracker = Tracker(vendors=loopback_vendors("http://127.0.0.1:9"), outbox=outbox, run_worker=False)

    async def checkout(request: Request) -> JSONResponse:
        order, customer = purchase(request.query_params["order"])
        result = await tracker.checkout(request, order, customer=customer)
        return JSONResponse({r.vendor: r.status for r in result})

    app = Starlette(routes=[Route("/checkout", checkout, methods=["POST"])])
    return tracker, AttributionMiddleware(app, secret_key=SECRET, tracker=tracker)


async def one_run(at_once: int, waves: int) -> tuple[float, float]:
    """(CPU µs per checkout, median wave wall ms) over ``waves`` waves, after a warm-up wave."""
    with tempfile.TemporaryDirectory() as tmp:
        tracker, app = site(Path(tmp) / "outbox.sqlite3")
        async with tracker.lifespan():
            transport = httpx2.ASGITransport(app=app, client=("203.0.113.7", 5000))
            async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example") as browser:
                landing = await browser.get(LANDING, headers={"user-agent": UA})
                cookie = f"attribution={landing.cookies['attribution']}".encode()
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
    return cpu * 1e6, statistics.median(walls[1:]) * 1e3


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--at-once", type=int, default=200)
    parser.add_argument("--waves", type=int, default=5)
    args = parser.parse_args()
    results = []
    for number in range(args.runs):
        cpu, wall = await one_run(args.at_once, args.waves)
        results.append((cpu, wall))
        print(f"run {number + 1}: {cpu:.0f} µs of CPU per checkout, {wall:.1f} ms per wave of {args.at_once}")
    cpus, walls = sorted(c for c, _ in results), sorted(w for _, w in results)
    print(f"CPU per checkout   {cpus[0]:.0f} / {statistics.median(cpus):.0f} / {cpus[-1]:.0f} µs (min / median / max)")
    print(f"wall per wave      {walls[0]:.1f} / {statistics.median(walls):.1f} / {walls[-1]:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
