"""The worker as a separate process (`attribution worker`) against a fake vendor process on 127.0.0.1, on each
outbox backend: killed with SIGKILL mid-flight and restarted, nothing is lost; three worker processes never send
one delivery twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from attribution.delivery.outbox.base import Outbox, Status
from tests.support.delivery_fakes import items

ROOT = Path(__file__).resolve().parents[2]


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def vendor(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """A fake vendor process answering 200 after ``delay`` seconds, logging every event_id it receives."""
    delay = getattr(request, "param", 0.15)
    log = tmp_path / "received.txt"
    proc = spawn("-m", "tests.support.vendor_server", "--delay", str(delay), "--log", str(log))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), proc.stderr.read() if proc.stderr else line
    yield f"http://127.0.0.1:{line.split()[1]}", log
    proc.kill()
    proc.wait()


def received(log: Path) -> Counter[str]:
    return Counter(log.read_text().split()) if log.exists() else Counter()


def start_worker(outbox: str, url: str, **env: str) -> subprocess.Popen[str]:
    proc = spawn(
        "-m",
        "attribution.cli",
        "--config",
        "tests.support.crash_site:tracker",
        "worker",
        env={"FAKE_VENDOR_URL": url, "ATTRIBUTION_TEST_OUTBOX": str(outbox), **env},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("worker "), (proc.stderr.read() if proc.stderr else "") or first
    return proc


async def wait_until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_sigkill_mid_flight_then_restart_loses_nothing(
    outbox: Outbox, outbox_spec: str, vendor: tuple[str, Path]
) -> None:
    url, log = vendor
    path = outbox_spec
    keys = [e.dedup_key for e in await outbox.enqueue(items(200), now=time.time())]

    worker = start_worker(path, url, FAKE_CONCURRENCY="16")

    async def some_sent_and_more_in_flight() -> bool:
        c = await outbox.counts()
        return sum(received(log).values()) >= 40 and c.get(("fake", Status.SENDING), 0) > 0

    await wait_until(some_sent_and_more_in_flight, 20)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    in_flight = {d.dedup_key for d in await outbox.list(status=Status.SENDING, limit=1000)}
    assert in_flight, "the kill should have caught deliveries in flight"

    restarted = start_worker(path, url, FAKE_CONCURRENCY="16")
    try:

        async def all_delivered() -> bool:
            return await outbox.counts() == {("fake", Status.DELIVERED): 200}

        await wait_until(all_delivered, 30)
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(10) == 0  # a clean, graceful stop

    got = received(log)
    assert set(got) == set(keys)  # none lost
    sent_twice = {k for k, n in got.items() if n > 1}
    # At-least-once: only what was in flight at the kill may have gone out twice (same dedup key).
    assert sent_twice <= in_flight
    assert max(got.values()) <= 2


@pytest.mark.parametrize("vendor", [0.005], indirect=True)
async def test_three_worker_processes_never_send_a_delivery_twice(
    outbox: Outbox, outbox_spec: str, vendor: tuple[str, Path]
) -> None:
    url, log = vendor
    path = outbox_spec
    workers = [start_worker(path, url) for _ in range(3)]
    try:
        # Enqueue while they run, as a site's web processes would.
        for start in range(0, 400, 50):
            await outbox.enqueue(items(50, start=start), now=time.time())
            await asyncio.sleep(0.01)

        async def all_delivered() -> bool:
            return await outbox.counts() == {("fake", Status.DELIVERED): 400}

        await wait_until(all_delivered, 30)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        codes = [w.wait(10) for w in workers]
    assert codes == [0, 0, 0]
    got = received(log)
    assert len(got) == 400
    assert set(got.values()) == {1}
    assert len(await delivering_workers(outbox)) >= 2  # the work was shared


async def delivering_workers(box: Outbox) -> Counter[str]:
    """How many deliveries each worker delivered, from the attempt history."""
    found = [await box.get(d.id) for d in await box.list(limit=10_000)]
    return Counter(h.worker for d in found if d for h in d.history if h.result == "delivered")
