"""The SQLite outbox's schema: its version, each version's migration (``migration_N`` in ``sqlite.sql``), and how
they are applied: in one transaction, the version recorded in ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ...errors import OutboxError
from . import queries

SCHEMA_VERSION = 6
"""Stored in ``PRAGMA user_version``; ``migration_N`` in ``sqlite.sql`` leads from schema N - 1 to N."""

Q = queries.load("sqlite.sql")


def migrate(conn: sqlite3.Connection, path: Path, *, apply: bool) -> tuple[int, int]:
    """Bring the file's schema up to date (or, without ``apply``, refuse an older one and say what to run). Returns
    (the version found, the version now). A newer schema, written by a newer release, is always refused."""
    if conn.execute(Q["schema_version"]).fetchone()[0] == SCHEMA_VERSION:
        return SCHEMA_VERSION, SCHEMA_VERSION
    # One transaction, under the write lock: another process starting at once waits, then finds it done.
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute(Q["schema_version"]).fetchone()[0]
        if found > SCHEMA_VERSION:
            raise OutboxError(
                f"outbox {path} has schema {found}, written by a newer asgi-attribution (this one knows "
                f"schema {SCHEMA_VERSION}): upgrade asgi-attribution"
            )
        if found < SCHEMA_VERSION and not apply:
            raise OutboxError(
                f"outbox {path} has schema {found}, older than this asgi-attribution's {SCHEMA_VERSION}: "
                "run `attribution migrate`"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in statements(Q[f"migration_{version}"]):
                conn.execute(statement)
        conn.execute(Q["schema_set_version"].format(version=SCHEMA_VERSION))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found, SCHEMA_VERSION


def statements(script: str) -> list[str]:
    """A script's statements, one by one (``executescript`` would commit the migration's transaction). A
    trigger's body holds semicolons: a statement ends where SQLite says it is complete."""
    out, part = [], ""
    for piece in script.split(";"):
        part += piece + ";"
        if sqlite3.complete_statement(part):
            if part.strip(" \n;"):
                out.append(part.strip())
            part = ""
    return out
