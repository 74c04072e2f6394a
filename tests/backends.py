"""Backend-neutral helpers for tests that need a second handle on one outbox (another process's view)."""

from __future__ import annotations

from attribution.delivery.outbox.base import Outbox
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
