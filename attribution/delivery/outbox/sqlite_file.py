"""The SQLite outbox's file before it is used: whose database it is, and who may read it.

Both checks run when the outbox first connects, before anything is written:

* ``foreign``: a file that holds another application's tables (``--outbox site.db`` by mistake) is refused
  whole, so nothing (not even the switch to WAL) changes it; an empty database becomes an outbox only when the
  caller may create one (a read-only command gets "not an outbox" and leaves the file as it found it);
* ``tighten``: the outbox holds customers' personal data, so a file (and its WAL and shared-memory files) that
  other users may read or write is made ``0600``, with a warning saying what it was.
"""

from __future__ import annotations

import logging
import sqlite3
import stat
from pathlib import Path

from ...errors import OutboxError

log = logging.getLogger("attribution.outbox")

#: The mode the outbox's files are created with and brought back to.
PRIVATE = 0o600
_SIDE_FILES = ("-wal", "-shm", "-journal")


def foreign(conn: sqlite3.Connection, path: Path, *, may_create: bool) -> None:
    """Raise ``OutboxError`` unless the database is an outbox (of any schema version) or, when ``may_create``,
    an empty database. Only reads: a refused file is left byte for byte as it was."""
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:  # not a SQLite file at all ("file is not a database")
        raise OutboxError(f"{path} is not an outbox: {exc}; pass the outbox's path") from None
    tables = {t for t in tables if not t.startswith("sqlite_")}
    if version == 0 and not tables:
        if may_create:
            return
        raise OutboxError(f"{path} is not an outbox: the database is empty (a read-only command creates nothing)")
    if "deliveries" not in tables or (version == 0 and tables):
        raise OutboxError(
            f"{path} is not an outbox: it holds another application's tables; left as it was. Pass the outbox's "
            "path (Tracker(outbox=...), --outbox or ATTRIBUTION_OUTBOX)"
        )


def tighten(path: Path) -> None:
    """Make the outbox's files readable and writable by their owner only, saying so when they were not."""
    for name in (path, *(path.with_name(path.name + side) for side in _SIDE_FILES)):
        try:
            mode = stat.S_IMODE(name.stat().st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        try:
            name.chmod(PRIVATE)
        except OSError as exc:
            log.error(
                "outbox file %s may be read by other users (mode %04o) and could not be made 0600 (%s): it holds "
                "customers' personal data; chmod 600 it",
                name,
                mode,
                exc.strerror or type(exc).__name__,
            )
            continue
        log.warning(
            "outbox file %s could be read by other users (mode %04o): made 0600, as it holds customers' personal data",
            name,
            mode,
        )
