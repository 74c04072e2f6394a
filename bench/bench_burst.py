"""200 checkouts at once, as a real server sees them: p50/p95 of the whole HTTP request, the server's share.

    python bench/bench_burst.py [--runs 3] [--at-once 200] [--n 600] [--worker process|in-app] [--pause 0.5]

Per run, fresh processes on 127.0.0.1: the fake vendors of ``tests.support.vendor_server`` (answering after 1 s), the
site of ``bench_checkout`` (the middleware, a Tracker with every adapter, a SQLite outbox) served by
uvicorn with httptools and uvloop when installed, and ``attribution worker`` unless ``--worker in-app``.
This process is the load: it lands ``--n`` distinct visitors (one cookie each, as real buyers), opens
``--at-once`` keep-alive connections, then sends the checkouts in waves of ``--at-once`` requests written at
once, each wave by fresh visitors, and times every request from its write to the end of its answer.

Reported per run (p50 / p95, ms), then as min / median / max over the runs:
- ``whole request``: what the buyer's browser waits for (the load's own clock).
- ``in tracker.checkout()``: from the handler's call to its return (the server's clock).
- ``durable commit wait``: within that, from the outbox write's call to its return: the group commit's share
  (waiting for the database thread and the fsync), the rest of the request being CPU on the event loop.
- ``server CPU per checkout``: the site process's CPU (user + system, every thread) over the waves, divided by
  the checkouts. The last checkout of a wave waits for the CPU of the others: about ``at_once`` x this.
Every conversion must reach the fake vendors exactly once per vendor, or the bench fails.

Figures (``--runs 1 --n 600`` three times, alternating with the release before order records; 2-core machine
shared with other jobs, load average 0.9-1.0): whole request p95 602 / 660 / 742 ms with 14 vendors, against
610 / 685 / 741 ms before with 8 (min / median / max); server CPU 2,750 / 2,817 / 3,150 µs per checkout against
2,683 / 2,783 / 3,200. The earlier round's 166 ms p95 was measured on a quieter machine: the same code measures
several times slower here today, so only the side-by-side comparison says anything.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_checkout import LANDING, UA, purchase  # noqa: E402
from bench_server import HOST, free_port, wait_listening  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"


def site() -> Any:
    """The site, for ``uvicorn bench_burst:site --factory`` (settings from the environment)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from attribution.checkout.tracker import Tracker
    from attribution.delivery.outbox.base import Status
    from attribution.web.middleware import AttributionMiddleware
    from tests.support.vendor_server import loopback_vendors

    tracker = Tracker(
        vendors=loopback_vendors(os.environ["BENCH_VENDOR_URL"]),
        outbox=os.environ["BENCH_OUTBOX"],
        concurrency=64,
        poll_interval=0.05,
        run_worker=os.environ["BENCH_WORKER"] == "in-app",
    )
    timings: list[tuple[float, float]] = []
    commits: list[float] = []
    enqueue = tracker.outbox.enqueue

    async def timed_enqueue(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await enqueue(*args, **kwargs)
        finally:
            commits.append(time.perf_counter() - started)

    tracker.outbox.enqueue = timed_enqueue  # type: ignore[method-assign]

    async def land(request: Request) -> JSONResponse:
        return JSONResponse({})

    async def checkout(request: Request) -> JSONResponse:
        order, customer = purchase(request.query_params["order"])
        started = time.perf_counter()
        result = await tracker.checkout(request, order, customer=customer)
        timings.append((time.perf_counter() - started, commits[-1] if commits else 0.0))
        return JSONResponse({r.vendor: r.status for r in result})

    async def stats(request: Request) -> JSONResponse:
        """The timings since the last call, the process's CPU seconds, and the outbox's counts."""
        taken = list(timings)
        timings.clear()
        counts = await tracker.outbox.counts()
        delivered = sum(n for (_, s), n in counts.items() if s == Status.DELIVERED)
        cpu = os.times()
        return JSONResponse({"timings": taken, "cpu": cpu.user + cpu.system, "delivered": delivered})

    app = Starlette(routes=[Route("/", land), Route("/checkout", checkout, methods=["POST"]), Route("/stats", stats)])
    return AttributionMiddleware(app, secret_key=SECRET, tracker=tracker)


class Connection:
    """One keep-alive HTTP/1.1 connection, as little client CPU as a request can take."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection(HOST, port))

    async def request(self, method: str, target: str, cookie: str = "") -> tuple[float, dict[str, str], bytes]:
        lines = [f"{method} {target} HTTP/1.1", "Host: shop.example", f"User-Agent: {UA}", "Content-Length: 0"]
        if cookie:
            lines.append(f"Cookie: {cookie}")
        started = time.perf_counter()
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers.setdefault(name.strip().lower(), value.strip())
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"{method} {target} answered {head.splitlines()[0]!r}: {body[:300]!r}")
        return time.perf_counter() - started, headers, body

    def close(self) -> None:
        self.writer.close()


async def land_visitors(port: int, n: int) -> list[str]:
    """``n`` visitors landing from an ad, each with its own click ids: their cookies."""
    connection = await Connection.open(port)
    cookies = []
    for i in range(n):
        _, headers, _ = await connection.request("GET", LANDING.replace("bench", f"bench-{i}"))
        cookies.append(headers["set-cookie"].split(";", 1)[0])
    connection.close()
    return cookies


async def load(port: int, args: argparse.Namespace) -> dict[str, Any]:
    cookies = await land_visitors(port, args.n + 1)
    connections = [await Connection.open(port) for _ in range(args.at_once)]
    _, _, warm = await connections[0].request("POST", "/checkout?order=warmup", cookies[-1])
    vendors = len(json.loads(warm))
    stats = await connections[0].request("GET", "/stats")
    cpu_before = json.loads(stats[2])["cpu"]
    whole: list[float] = []

    async def one(connection: Connection, i: int) -> None:
        took, _, body = await connection.request("POST", f"/checkout?order=B-{i}", cookies[i])
        if list(json.loads(body).values()).count("queued") != vendors:
            raise SystemExit(f"a checkout did not queue for every vendor: {body!r}")
        whole.append(took)

    for wave in range(0, args.n, args.at_once):
        numbers = range(wave, min(wave + args.at_once, args.n))
        await asyncio.gather(*(one(c, i) for c, i in zip(connections, numbers, strict=False)))
        await asyncio.sleep(args.pause)
    server = json.loads((await connections[0].request("GET", "/stats"))[2])
    result = {
        "whole": whole,
        "checkout": [t[0] for t in server["timings"]],
        "commit": [t[1] for t in server["timings"]],
        "cpu": (server["cpu"] - cpu_before) / args.n,
    }
    expected = (args.n + 1) * vendors
    deadline = time.monotonic() + 120
    while server["delivered"] < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        server = json.loads((await connections[0].request("GET", "/stats"))[2])
    for connection in connections:
        connection.close()
    if server["delivered"] != expected:
        raise SystemExit(f"the worker delivered {server['delivered']} of {expected} deliveries")
    return result


def percentiles(times: Sequence[float]) -> tuple[float, float]:
    return statistics.median(times) * 1000, statistics.quantiles(times, n=20)[-1] * 1000


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    """Fresh vendor, site and worker processes, one outbox: the waves, then every delivery checked."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}"}
    vendor = subprocess.Popen(
        [sys.executable, "-m", "tests.support.vendor_server", "--delay", "1.0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    processes = [vendor]
    try:
        assert vendor.stdout is not None
        env["BENCH_VENDOR_URL"] = f"http://{HOST}:{vendor.stdout.readline().split()[1]}"
        with tempfile.TemporaryDirectory() as tmp:
            env["BENCH_OUTBOX"] = str(Path(tmp) / "outbox.sqlite3")
            env["BENCH_WORKER"] = args.worker
            port = free_port()
            uvloop = importlib.util.find_spec("uvloop") is not None
            httptools = importlib.util.find_spec("httptools") is not None
            server = [sys.executable, "-m", "uvicorn", "bench_burst:site", "--factory", "--host", HOST]
            server += ["--port", str(port), "--loop", "uvloop" if uvloop else "asyncio"]
            server += ["--http", "httptools" if httptools else "h11", "--no-access-log", "--log-level", "warning"]
            server += ["--backlog", str(max(2048, 2 * args.at_once))]
            processes.append(subprocess.Popen(server, cwd=ROOT / "bench", env=env))
            wait_listening(port, time.monotonic() + 30)
            if args.worker == "process":
                worker = [
                    sys.executable,
                    "-m",
                    "attribution.cli",
                    "--config",
                    "bench_checkout:worker_tracker",
                    "worker",
                ]
                processes.append(subprocess.Popen(worker, cwd=ROOT / "bench", env=env, stdout=subprocess.DEVNULL))
            return asyncio.run(load(port, args))
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--at-once", type=int, default=200)
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--worker", choices=["process", "in-app"], default="process")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between waves")
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, float]]] = {"whole": [], "checkout": [], "commit": []}
    cpus = []
    for run in range(args.runs):
        result = one_run(args)
        cpus.append(result["cpu"] * 1e6)
        line = [f"run {run + 1}:"]
        for key in rows:
            rows[key].append(percentiles(result[key]))
            line.append(f"{key} {rows[key][-1][0]:.1f}/{rows[key][-1][1]:.1f}")
        print(" ".join(line), f"(p50/p95 ms), server CPU {cpus[-1]:.0f} us/checkout", flush=True)
    labels = {"whole": "whole HTTP request", "checkout": "in tracker.checkout()", "commit": "durable commit wait"}
    print(f"{args.at_once} checkouts at once, {args.n} per run, worker {args.worker}, {args.runs} runs; min/median/max")
    for key, label in labels.items():
        for index, name in ((0, "p50"), (1, "p95")):
            values = sorted(r[index] for r in rows[key])
            print(f"{label:<24} {name}  {values[0]:7.1f} / {statistics.median(values):7.1f} / {values[-1]:7.1f} ms")
    floor = sorted(cpus)
    print(f"{'server CPU per checkout':<29}{floor[0]:7.0f} / {statistics.median(floor):7.0f} / {floor[-1]:7.0f} us")
    at = statistics.median(floor) * args.at_once / 1000
    print(
        f"-> {args.at_once} x that: {at:.0f} ms of one process's CPU per wave (the last request waits for most of it)"
    )


if __name__ == "__main__":
    main()
