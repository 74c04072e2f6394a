"""The CLI on each outbox backend: ``--outbox`` takes a SQLite path or a ``postgresql://`` URL, and so does
``ATTRIBUTION_OUTBOX``."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest

from attribution.cli import main, same_outbox
from attribution.delivery.outbox.base import Finish, Status
from attribution.delivery.outbox.choose import outbox_from
from attribution.delivery.outbox.postgres import PostgresOutbox
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from tests.support.delivery_fakes import claim_one, new_order


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


async def fill(spec: str) -> list[int]:
    box = outbox_from(spec)
    try:
        now = time.time()
        written = await box.enqueue(
            [new_order(f"B-{i}", "whop", dedup_key=f"purchase:B-{i}") for i in range(3)],
            now=now - 3600,
        )
        [first] = await claim_one(box, "w1", "whop", 1, now=now - 3600, lease=60)
        await box.finish("w1", [Finish(first.id, Status.DEAD, now - 3600, error="HTTP 400: bad currency")])
        return [e.id for e in written]
    finally:
        await box.close()


def test_the_cli_reads_and_changes_either_backend(outbox_spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTRIBUTION_CONFIG", raising=False)
    monkeypatch.delenv("ATTRIBUTION_OUTBOX", raising=False)
    ids = asyncio.run(fill(outbox_spec))
    code, out = run("--outbox", outbox_spec, "status")
    assert code == 0
    assert out.split("\n")[1].split()[:3] == ["whop", "2", "1"]  # pending, dead
    code, out = run("--outbox", outbox_spec, "list", "--status", "dead")
    assert (code, out.count("HTTP 400: bad currency")) == (0, 1)

    monkeypatch.setenv("ATTRIBUTION_OUTBOX", outbox_spec)
    assert run("retry", "--dead") == (0, "1 delivery will be sent again\n")
    code, out = run("show", str(ids[0]))
    assert code == 0
    assert "whop pending" in out
    # The two never-claimed ones are an hour old; the revived one was updated just now.
    assert run("purge", "--older-than", "60s", "--status", "pending")[0] == 0
    code, out = run("status")
    assert out.split("\n")[1].split()[:2] == ["whop", "1"]


def test_the_worker_command_knows_its_trackers_outbox_by_path_or_url(tmp_path: Path) -> None:
    url = "postgresql://shop@db.internal/shop"
    assert same_outbox(url, PostgresOutbox(url))
    assert not same_outbox("postgresql://shop@db.internal/other", PostgresOutbox(url))
    assert not same_outbox(url, SQLiteOutbox(tmp_path / "o.db"))
    assert same_outbox(str(tmp_path / "." / "o.db"), SQLiteOutbox(tmp_path / "o.db"))
    assert not same_outbox(str(tmp_path / "other.db"), SQLiteOutbox(tmp_path / "o.db"))


def test_read_only_commands_leave_an_empty_postgresql_database_untouched(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    for command in (["status"], ["list"], ["show", "1"]):
        code, _ = run("--outbox", postgres_url, *command)
        assert code == 2
        assert "no outbox in PostgresOutbox(" in capsys.readouterr().err
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute("select count(*) from information_schema.tables where table_schema = 'public'")
        assert tables.fetchone() == (0,)
    assert run("--outbox", postgres_url, "migrate")[0] == 0
    assert run("--outbox", postgres_url, "status") == (0, "the outbox is empty\n")
