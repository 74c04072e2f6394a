"""Durable storage of deliveries: the ``Outbox`` contract and its backends, SQLite (one machine, the default)
and PostgreSQL (many machines; the ``postgres`` extra)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .base import TERMINAL, Attempt, Delivery, Enqueued, Finish, NewDelivery, Outbox, Status
from .sqlite import SQLiteOutbox

if TYPE_CHECKING:
    from .postgres import PostgresOutbox

__all__ = [
    "TERMINAL",
    "Attempt",
    "Delivery",
    "Enqueued",
    "Finish",
    "NewDelivery",
    "Outbox",
    "PostgresOutbox",
    "SQLiteOutbox",
    "Status",
    "outbox_from",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def outbox_from(spec: Outbox | str | os.PathLike[str], *, migrate: bool = True) -> Outbox:
    """The outbox a string names: a ``postgresql://`` URL is a ``PostgresOutbox``, anything else a SQLite file.
    ``migrate=False`` opens an outbox without creating or migrating its tables (what read-only commands use)."""
    if isinstance(spec, Outbox):
        return spec
    if isinstance(spec, str) and spec.startswith(POSTGRES_SCHEMES):
        from .postgres import PostgresOutbox

        return PostgresOutbox(spec, migrate=migrate)
    return SQLiteOutbox(spec, migrate=migrate)


def __getattr__(name: str) -> Any:
    # PostgresOutbox needs psycopg (the postgres extra): import it only when asked for.
    if name == "PostgresOutbox":
        from .postgres import PostgresOutbox

        return PostgresOutbox
    raise AttributeError(f"module 'attribution.outbox' has no attribute {name!r}")
