"""The suite's own PostgreSQL server: reachable, not run as root, a fresh database per test, restartable."""

from __future__ import annotations

import psycopg

from tests.postgres import PostgresServer


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
