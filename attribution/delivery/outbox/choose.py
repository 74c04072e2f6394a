"""The outbox a setting names: a ``postgresql://`` URL is a ``PostgresOutbox``, anything else a SQLite file."""

from __future__ import annotations

import os

from .base import Outbox
from .sqlite import SQLiteOutbox

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def outbox_from(spec: Outbox | str | os.PathLike[str], *, migrate: bool = True) -> Outbox:
    """The outbox ``spec`` names (an ``Outbox`` is itself). ``migrate=False`` opens an outbox without creating or
    migrating its tables (what read-only commands use). PostgreSQL needs the ``postgres`` extra (psycopg): imported
    only here."""
    if isinstance(spec, Outbox):
        return spec
    if isinstance(spec, str) and spec.startswith(POSTGRES_SCHEMES):
        from .postgres import PostgresOutbox

        return PostgresOutbox(spec, migrate=migrate)
    return SQLiteOutbox(spec, migrate=migrate)
