"""One vendor's lane: everything the worker holds for sending to that vendor, and the rules that read only it.

A lane has ``limit`` request slots (the vendor's ``concurrency``). Each busy slot is a task of the worker that
sends one request after another while deliveries are ready, as a client with one connection keeps it busy, so a
freed slot is refilled without waiting for the worker's loop. Deliveries the worker claimed for the vendor wait in
``ready``, oldest first; besides a round of requests in flight the lane keeps as many ready as the vendor's slots
sent in the last ``READY_SECONDS``, so claims come in few, large transactions and no slot runs dry between them.

    outbox ──claim (to_claim() rows)──▶ ready ──take_request()──▶ slot tasks (≤ limit) ──▶ vendor
                                          ▲                             │
                                          └── count_sent(): the rate ◀──┘

The lane decides nothing about time or the outbox: the worker reads the clock, claims, hands deliveries back and
records outcomes (see ``worker``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import httpx2

from ..vendors.base import Vendor
from .outbox.base import Delivery

READY_SECONDS = 0.2
"""Besides a round of requests, a lane keeps ready as many claimed deliveries as it sent in this long."""

RATE_WINDOW = 0.25
"""Seconds over which a lane counts its deliveries sent, at most (see ``Lane.count_sent``)."""

CLAIM_ROWS = 2048
"""Deliveries one claim takes at most, in whole batches of the vendor's largest (one at least). A claim is read whole
before its first request can start: 10,000 rows took 0.5 s, nothing sent meanwhile. Claimed in parts, the first
requests start after a part, and the database thread reads the next part while the event loop builds them."""


class Lane:
    """The worker's state for one vendor: its slots, its ready deliveries, its pause and its recent rate."""

    __slots__ = (
        "_rate_rows",
        "_rate_since",
        "client",
        "limit",
        "name",
        "paused_until",
        "rate",
        "ready",
        "rows_in_flight",
        "tasks",
        "unstarted",
        "vendor",
    )

    def __init__(self, vendor: Vendor, limit: int) -> None:
        self.vendor = vendor
        self.name = vendor.name
        self.limit = limit
        """Requests in flight at most: the vendor's ``concurrency``, one task per busy slot."""
        self.ready: deque[Delivery] = deque()
        """Claimed deliveries waiting for a free slot, oldest first."""
        self.tasks: set[asyncio.Task[None]] = set()
        """The busy slots' tasks."""
        self.unstarted: dict[asyncio.Task[None], list[Delivery]] = {}
        """The first deliveries of slot tasks that have not started yet (handed back if cancelled before that)."""
        self.rows_in_flight = 0
        """Deliveries taken by slots and not yet settled."""
        self.paused_until = 0.0
        """The vendor asked every worker to wait until then (429, Retry-After), by the worker's clock."""
        self.client: httpx2.AsyncClient | None = None
        """The worker's own connection pool for this vendor while it runs (None with a client given to it)."""
        self.rate = 0.0
        """Deliveries sent per second lately."""
        self._rate_rows = 0
        self._rate_since = time.monotonic()

    def __repr__(self) -> str:
        return f"Lane({self.name!r}, {len(self.tasks)}/{self.limit} busy, {len(self.ready)} ready)"

    def ahead(self) -> int:
        """How many claimed deliveries to keep ready: a round of requests, or what the lane's slots send in
        ``READY_SECONDS`` if that is more. A claim's answer waits for the event loop, busy with every slot's
        request; slots that ran dry meanwhile would leave connections idle, and httpcore probes each idle one on
        every request. A slow vendor keeps one round, so nothing claimed waits long for a slot."""
        return max(self.limit * self.vendor.max_batch, int(self.rate * READY_SECONDS))

    def running_low(self) -> bool:
        """Whether half of ``ahead`` or less is ready: time to claim more."""
        return len(self.ready) <= self.ahead() // 2

    def to_claim(self) -> int:
        """How many deliveries to claim now: room for a round in flight and ``ahead`` ready, once the lane runs
        low (0 when enough is ready or in flight), at most ``CLAIM_ROWS`` (a full claim is followed by another at
        once). Claiming ahead refills a freed slot without a database round trip, and makes claims large, cheap
        transactions."""
        ahead = self.ahead()
        room = self.limit * self.vendor.max_batch + ahead - self.rows_in_flight - len(self.ready)
        if room <= 0 or len(self.ready) > ahead // 2:
            return 0
        batch = self.vendor.max_batch
        return min(room, max(CLAIM_ROWS // batch, 1) * batch)  # whole batches: no part leaves a small request

    def take_request(self) -> list[Delivery]:
        """The next request's deliveries, taken from ``ready``: the oldest one and, for a batching vendor, others
        with its batch key, up to ``max_batch``; the rest stay ready in their order. ``ready`` must not be empty."""
        ready, max_batch = self.ready, self.vendor.max_batch
        head = ready.popleft()
        chunk = [head]
        if max_batch > 1:
            # Up to a full chunk, not through the whole of ``ready``: thousands wait there for a fast vendor. Those
            # of other batch keys passed on the way go back in front, in their order.
            key, keep = head.batch_key, list[Delivery]()
            while ready and len(chunk) < max_batch:
                d = ready.popleft()
                (chunk if d.batch_key == key else keep).append(d)
            ready.extendleft(reversed(keep))
        return chunk

    def drain(self) -> list[Delivery]:
        """Every ready delivery, taken out (to hand back to the outbox)."""
        out = list(self.ready)
        self.ready.clear()
        return out

    def count_sent(self, rows: int) -> None:
        """Keep the lane's recent rate of deliveries sent, in windows of ``RATE_WINDOW``, or shorter when as many
        as are kept ready went out: starting from a round, the rate is known after a few rounds instead of a
        quarter second of slots running dry between claims."""
        now = time.monotonic()
        self._rate_rows += rows
        elapsed = now - self._rate_since
        if elapsed >= RATE_WINDOW or self._rate_rows >= self.ahead():
            self.rate = self._rate_rows / elapsed
            self._rate_since, self._rate_rows = now, 0

    def restart_rate(self) -> None:
        """Count from now (a worker starting again): the rate learnt before is kept until the first window ends."""
        self._rate_since, self._rate_rows = time.monotonic(), 0
