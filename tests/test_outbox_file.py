"""The SQLite outbox's file: another application's database is never changed, and the outbox is never left
readable by other users.

Run as the operator runs it: ``attribution`` as a subprocess against real files.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import stat
from pathlib import Path

import pytest

from attribution.checkout.tracker import Tracker
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from tests.delivery_fakes import new_order
from tests.test_cli_process import cli


def site_database(path: Path) -> None:
    """A shop's own SQLite database, in the default rollback-journal mode."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    conn.executemany("INSERT INTO users (email) VALUES (?)", [("ana@example.com",), ("bo@example.com",)])
    conn.commit()
    conn.close()
    path.chmod(0o644)


def fingerprint(path: Path) -> tuple[str, int, list[str]]:
    return (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        stat.S_IMODE(path.stat().st_mode),
        sorted(p.name for p in path.parent.iterdir()),
    )


@pytest.mark.parametrize(
    "command", [["status"], ["list"], ["show", "1"], ["purge", "--older-than", "1d"], ["retry", "--dead"], ["migrate"]]
)
def test_any_command_on_another_applications_database_leaves_it_byte_identical(
    tmp_path: Path, command: list[str]
) -> None:
    db = tmp_path / "site.db"
    site_database(db)
    before = fingerprint(db)
    done = cli("--outbox", str(db), *command, cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    assert f"{db} is not an outbox: it holds another application's tables" in done.stderr
    assert fingerprint(db) == before  # same bytes, same mode, no -wal or -shm beside it
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0


@pytest.mark.parametrize("content", [b"", b"order,email\n1,ana@example.com\n"], ids=["empty", "not-sqlite"])
def test_reading_an_empty_or_non_database_file_says_not_an_outbox(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    before = fingerprint(path)
    done = cli("--outbox", str(path), "status", cwd=tmp_path)
    assert done.returncode == 2
    assert "is not an outbox" in done.stderr
    assert fingerprint(path) == before


def loose_outbox(path: Path) -> None:
    async def make() -> None:
        box = SQLiteOutbox(path)
        await box.enqueue([new_order("A-1", "whop")], now=1.0)
        await box.close()

    asyncio.run(make())
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if name.exists():
            name.chmod(0o666)


def test_an_outbox_readable_by_others_is_made_0600_when_a_command_opens_it(tmp_path: Path) -> None:
    box = tmp_path / "outbox.sqlite3"
    loose_outbox(box)
    done = cli("--outbox", str(box), "status", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "whop" in done.stdout
    assert f"outbox file {box} could be read by other users (mode 0666): made 0600" in done.stderr
    for name in tmp_path.iterdir():
        assert stat.S_IMODE(name.stat().st_mode) == 0o600, name


def test_the_tracker_opening_a_loose_outbox_makes_it_0600_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = tmp_path / "outbox.sqlite3"
    loose_outbox(box)
    tracker = Tracker(vendors=[], outbox=box, run_worker=False)

    async def run() -> None:
        await tracker.start()
        await tracker.stop()

    with caplog.at_level(logging.WARNING, logger="attribution.outbox"):
        asyncio.run(run())
    assert stat.S_IMODE(box.stat().st_mode) == 0o600
    assert any("made 0600" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_an_outbox_of_the_right_mode_opens_without_a_word(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = tmp_path / "outbox.sqlite3"
    tracker = Tracker(vendors=[], outbox=box, run_worker=False)

    async def run() -> None:
        await tracker.start()
        await tracker.stop()

    with caplog.at_level(logging.DEBUG, logger="attribution.outbox"):
        asyncio.run(run())
        asyncio.run(run())
    assert stat.S_IMODE(box.stat().st_mode) == 0o600
    assert [r for r in caplog.records if r.name == "attribution.outbox"] == []
