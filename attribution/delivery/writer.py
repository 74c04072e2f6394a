"""Group commit of the worker's results: outcomes are buffered and written in one transaction per round.

A crash between a send and that write leaves the delivery claimed; its lease expires and it is sent again
(at-least-once, which the dedup key makes harmless for vendors that have one). A write that fails is logged
and handled the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from .outbox.base import Finish, Outbox

log = logging.getLogger("attribution.worker")

WRITE_EVERY = 0.05
"""For an outbox with ``spaced_writes`` (SQLite), seconds from the start of one write to the next while outcomes
keep coming: each write is a transaction and a hop to the database thread, whose cost hardly grows with its
rows, so outcomes gather meanwhile. Other outboxes write as soon as the last write ended."""


class OutcomeWriter:
    """Writes recorded outcomes to the outbox in the background, one ``finish`` call per round.

    ``written`` is called after each round (the worker then looks for more work).
    """

    def __init__(self, outbox: Outbox, worker_id: str, *, written: Callable[[], None]) -> None:
        self.outbox = outbox
        self.worker_id = worker_id
        self.written = written
        self._pending: list[Finish] = []
        self._pauses: dict[str, float] = {}
        self._writing = False
        self._closing = False
        self._kick: asyncio.Event | None = None
        self._hurry: asyncio.Event | None = None
        self._last_write = float("-inf")
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """Whether outcomes wait to be written or are being written."""
        return bool(self._pending) or bool(self._pauses) or self._writing

    def start(self) -> None:
        # Made here: an asyncio.Event belongs to the loop that first waits on it, and a worker may be started
        # again in another loop.
        self._kick, self._hurry, self._closing = asyncio.Event(), asyncio.Event(), False
        self._task = asyncio.create_task(self._serve(), name="attribution-outbox-writer")

    def record(self, finishes: list[Finish]) -> None:
        self._pending.extend(finishes)
        if self._kick is not None:
            self._kick.set()

    def flush(self) -> None:
        """Write what is recorded without waiting out ``WRITE_EVERY``: nothing more is coming soon."""
        if self._hurry is not None:
            self._hurry.set()

    def pause(self, vendor: str, until: float) -> None:
        """Store a vendor's pause with the next round, before its outcomes."""
        self._pauses[vendor] = max(until, self._pauses.get(vendor, 0.0))
        if self._kick is not None:
            self._kick.set()

    async def close(self) -> None:
        """Write everything recorded so far, then stop. Never cancels a write: a cancelled write could drop
        outcomes already taken from the buffer."""
        if self._task is not None and self._kick is not None:
            self._closing = True
            self.flush()
            self._kick.set()
            await self._task
        self._task = None
        await self._write()

    async def _serve(self) -> None:
        assert self._kick is not None
        while True:
            await self._kick.wait()
            every = WRITE_EVERY if self.outbox.spaced_writes else 0.0
            wait = self._last_write + every - asyncio.get_running_loop().time()
            if wait > 0 and not self._closing and self._hurry is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), wait)
            self._kick.clear()
            if self._hurry is not None:
                self._hurry.clear()
            self._last_write = asyncio.get_running_loop().time()
            try:
                await self._write()
            except Exception:
                # The deliveries stay claimed; their lease expires and they are sent again.
                log.exception("recording delivery outcomes failed; they will be retried after their lease")
            self.written()
            if self._closing and not self._pending and not self._pauses:
                return

    async def _write(self) -> None:
        if not self._pending and not self._pauses:
            return
        pauses, self._pauses = self._pauses, {}
        batch, self._pending = self._pending, []
        self._writing = True
        try:
            for vendor, until in pauses.items():
                await self.outbox.pause(vendor, until)
            if batch:
                await self.outbox.finish(self.worker_id, batch)
        finally:
            self._writing = False
