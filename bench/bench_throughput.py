"""Delivery throughput: the worker draining 10,000 conversions to a fake vendor on loopback, against plain
httpx2 posting the same payloads with the same client settings (the limit on this machine).

    python bench/bench_throughput.py [--n 10000] [--concurrency 32]

The fake vendor is a separate process (raw asyncio HTTP/1.1, keep-alive) that logs every event_id it gets,
so loss and duplicates are counted by the receiver, not by the sender. Both runs share one client
configuration: same connection limits, same timeouts, same concurrency. Prints both rates and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402

from attribution.outbox import SQLiteOutbox, Status  # noqa: E402
from attribution.worker import DEFAULT_TIMEOUT, Worker  # noqa: E402
from tests.delivery_fakes import FakeVendor, items  # noqa: E402


def start_vendor(log: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.vendor_server", "--log", str(log)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = proc.stdout.readline().split()[1]
    return proc, f"http://127.0.0.1:{port}"


def received(log: Path) -> Counter[str]:
    return Counter(log.read_text().split())


async def baseline(url: str, n: int, concurrency: int) -> float:
    """Plain httpx2: the same requests the adapter builds, C at a time, one pooled client."""
    vendor = FakeVendor(url)
    payloads = [d.payload for d in items(n)]
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(timeout=DEFAULT_TIMEOUT, limits=limits, trust_env=False) as client:
        queue = iter(payloads)

        async def lane() -> None:
            for payload in queue:
                response = await client.send(vendor.build_request([payload]))
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return time.perf_counter() - started


async def worker_run(url: str, n: int, concurrency: int, folder: Path) -> tuple[float, int]:
    box = SQLiteOutbox(folder / "outbox.sqlite3")
    await box.enqueue(items(n), now=time.time())  # the checkouts, not timed here (see bench_checkout.py)
    worker = Worker(box, [FakeVendor(url)], concurrency=concurrency, poll_interval=0.05)
    started = time.perf_counter()
    await worker.start()
    while True:
        await asyncio.sleep(0.02)
        counts = await box.counts()
        if counts.get(("fake", Status.DELIVERED), 0) == n:
            break
    elapsed = time.perf_counter() - started
    await worker.stop()
    delivered = (await box.counts()).get(("fake", Status.DELIVERED), 0)
    await box.close()
    return elapsed, delivered


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    n, c = args.n, args.concurrency
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rates: dict[str, list[float]] = {"httpx2": [], "worker": []}
        for round_ in range(2):
            # Alternate, each against a fresh vendor process, so drift on a shared machine hits both.
            log = folder / f"plain-{round_}.txt"
            proc, url = start_vendor(log)
            try:
                plain = await baseline(url, n, c)
            finally:
                proc.kill()
                proc.wait()
            plain_got = received(log)
            if len(plain_got) != n or set(plain_got.values()) != {1}:
                raise SystemExit("the baseline lost or doubled requests: the fake vendor is broken")
            rates["httpx2"].append(n / plain)

            log = folder / f"worker-{round_}.txt"
            proc, url = start_vendor(log)
            run_dir = folder / f"run-{round_}"
            run_dir.mkdir()
            try:
                elapsed, delivered = await worker_run(url, n, c, run_dir)
            finally:
                proc.kill()
                proc.wait()
            got = received(log)
            lost = n - len(got)
            doubled = sum(1 for v in got.values() if v > 1)
            rates["worker"].append(n / elapsed)
            print(
                f"round {round_ + 1}: httpx2 {n / plain:7.0f}/s   worker {n / elapsed:7.0f}/s   "
                f"ratio {plain / elapsed:.2f}   delivered {delivered}/{n}, lost {lost}, sent twice {doubled}"
            )
            if delivered != n or lost or doubled:
                raise SystemExit(f"FAILED: delivered {delivered}/{n}, lost {lost}, sent twice {doubled}")
        best_plain, best_worker = max(rates["httpx2"]), max(rates["worker"])
        print(
            f"\n{n} conversions, concurrency {c}: plain httpx2 {best_plain:.0f}/s, worker {best_worker:.0f}/s "
            f"(best of 2 each): ratio {best_worker / best_plain:.2f} (target >= 0.50), zero loss"
        )


if __name__ == "__main__":
    asyncio.run(main())
