"""The SQLite outbox's database thread: one thread owns the connection and runs the outbox's work by priority,
so the event loop never waits on the disk."""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

CHECKOUT, READ, WORKER = 0, 1, 2
"""Priorities on the database thread: a checkout waits for no queued worker write, only the one running."""


class DatabaseThread:
    """One thread owning the connection, taking work by priority, then in order of arrival."""

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], Any] | None, Future[Any] | None]] = (
            queue.PriorityQueue()
        )
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._serve, name="attribution-outbox", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            _, _, fn, future = self._queue.get()
            if fn is None or future is None:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    def submit(self, fn: Callable[[], T], priority: int) -> asyncio.Future[T]:
        return asyncio.wrap_future(self.submit_raw(fn, priority))

    def submit_raw(self, fn: Callable[[], T], priority: int) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((priority, next(self._order), fn, future))
        return future

    def stop(self) -> None:
        self._queue.put((99, next(self._order), None, None))
        self._thread.join()
