"""Backend-neutral outbox helpers: a second handle on one outbox (another process's view), and its counts checked
against its rows."""

from __future__ import annotations

from collections import Counter

from attribution.delivery.outbox.base import Outbox, Status
from attribution.delivery.outbox.postgres import PostgresOutbox
from attribution.delivery.outbox.sqlite import SQLiteOutbox


def spec_of(box: Outbox) -> str:
    """The string that names ``box``'s storage, as ``--outbox`` and ``Tracker(outbox=...)`` take it."""
    if isinstance(box, SQLiteOutbox):
        return str(box.path)
    if isinstance(box, PostgresOutbox):
        return box.url
    raise TypeError(type(box).__name__)


def twin(box: Outbox) -> Outbox:
    """Another outbox object on the same storage, with connections of its own."""
    if isinstance(box, SQLiteOutbox):
        return SQLiteOutbox(box.path)
    if isinstance(box, PostgresOutbox):
        return PostgresOutbox(box.url)
    raise TypeError(type(box).__name__)


async def truth(outbox: Outbox) -> dict[tuple[str, Status], int]:
    """The counts taken from the rows themselves."""
    return dict(Counter((d.vendor, d.status) for d in await outbox.list(limit=10_000)))


async def assert_exact(outbox: Outbox) -> dict[tuple[str, Status], int]:
    """The counts, once checked against the rows (and, on PostgreSQL, against themselves after folding)."""
    counts = await outbox.counts()
    assert counts == await truth(outbox)
    if isinstance(outbox, PostgresOutbox):  # the same once the logged changes are folded into the totals
        await outbox.fold_counts()
        assert await outbox.counts() == counts
    return counts
