"""The suite's own PostgreSQL server: reachable, not run as root, a fresh database per test, restartable."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.support.postgres import PostgresServer, _unavailable, find_bindir


def test_each_test_gets_an_empty_database_on_a_server_it_can_restart(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        version = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert version is not None
    assert version[0] >= 150000
    postgres_server.restart()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]  # committed rows survive a restart
    other = postgres_server.new_database()
    assert other != postgres_url
    with psycopg.connect(other) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables == (0,)
    owner = postgres_server.data.stat().st_uid
    assert owner != 0  # PostgreSQL refuses root; the cluster belongs to an ordinary user


def test_without_postgresql_ci_fails_and_a_developer_is_told_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL is required in CI: initdb missing"):
        _unavailable("initdb missing")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"PostgreSQL not available: initdb missing .*make test"):
        _unavailable("initdb missing")


def test_the_binaries_are_found_where_debian_puts_them_or_where_pg_bindir_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = find_bindir()
    assert found is not None
    assert (found / "initdb").exists()
    for tool in ("initdb", "pg_ctl", "postgres"):
        (tmp_path / tool).write_text("#!/bin/sh\n")
        (tmp_path / tool).chmod(0o755)
    monkeypatch.setenv("PG_BINDIR", str(tmp_path))
    assert find_bindir() == tmp_path
