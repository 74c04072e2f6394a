"""Reports for synchronous code (a Django view, a script): the same queries, run to completion on an event loop
of their own.

An outbox's connections may belong to the event loop that opened them (PostgreSQL's pool does), so a synchronous
report on a PostgreSQL outbox reads through a second outbox on the same database, opened and closed around it.
SQLite's outbox runs its statements on its own thread, whichever loop asks: it is used as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..delivery.outbox.choose import outbox_from
from ..errors import ConfigurationError

T = TypeVar("T")


def run_sync(box: Any, read: Callable[[Any], Awaitable[T]]) -> T:
    """``read(outbox)`` to completion, from code that runs no event loop in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ConfigurationError("a synchronous report inside a running event loop: use `await tracker.report(...)`")
    return asyncio.run(_read(box, read))


async def _read(box: Any, read: Callable[[Any], Awaitable[T]]) -> T:
    url = getattr(box, "url", None)
    if getattr(box, "dialect", None) != "postgres" or not isinstance(url, str):
        return await read(box)
    twin = outbox_from(url, migrate=False)
    try:
        return await read(twin)
    finally:
        await twin.close()
