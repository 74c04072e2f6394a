"""The checkout gate: while a checkout runs in the event loop a worker shares, the worker starts no new request.

A worker inside the app shares the app's event loop, and starting a request is CPU work (building, signing,
handing it to the pool) that a checkout would wait behind. ``Tracker.checkout`` runs inside ``Worker.yielding()``,
which holds this gate shut; the worker's loop and every lane's slots wait at it before starting requests. It opens
when the last checkout ends, or ``max_yield`` seconds after it shut, so a steady stream of checkouts delays
deliveries but cannot stop them. Requests already in flight are not held back: only their start is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class CheckoutGate:
    """Open unless checkouts run; shut for at most ``max_yield`` seconds at a time."""

    def __init__(self, max_yield: float = 0.05) -> None:
        self.max_yield = max_yield
        """Longest pause of new requests while checkouts run in the same loop (seconds)."""
        self._open = asyncio.Event()
        self._open.set()
        self._timer: asyncio.TimerHandle | None = None
        self._checkouts = 0

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait(self) -> None:
        """Until the gate is open (at once if it is)."""
        if not self._open.is_set():
            await self._open.wait()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Shut while any such block runs (the first to begin shuts the gate, the last to end opens it)."""
        self._checkouts += 1
        if self._checkouts == 1:
            self._shut()
        try:
            yield
        finally:
            self._checkouts -= 1
            if not self._checkouts:
                self.open()

    def renew(self) -> None:
        """For a worker starting in the running loop: a new event, since an ``asyncio.Event`` belongs to the loop
        that first waits on it and a worker may start again in another loop; shut at once if a checkout runs."""
        self.open()  # a timer of an earlier start belongs to that start's loop
        self._open = asyncio.Event()
        self._open.set()
        if self._checkouts:
            self._shut()

    def open(self) -> None:
        """Open now (``max_yield`` passed, the checkouts ended, or the worker stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._open.set()

    def _shut(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no running loop: no worker of ours runs in it to hold back
            return
        if self._open.is_set():
            self._open.clear()
            self._timer = loop.call_later(self.max_yield, self.open)
