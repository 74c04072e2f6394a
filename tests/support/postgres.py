"""A real PostgreSQL server for the test session, loaded as a pytest plugin by ``tests/conftest.py``.

``initdb`` makes a cluster in a temporary directory, ``pg_ctl`` starts it on a free loopback port and stops it
at the end of the session. PostgreSQL refuses to run as root: as root (CI) the server runs as the ``postgres``
system user, which owns the temporary directory. Each test asks for a fresh database (``new_database``).

Without the binaries the tests that need the server fail when ``CI=true`` (CI must not skip them) and are
skipped with the reason otherwise. ``make test`` installs Debian's ``postgresql`` package when it can.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SERVER_USER = "postgres"
"""The system user the server runs as when the tests run as root."""


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``PG_BINDIR``, Debian's newest ``/usr/lib/postgresql/N/bin``, or PATH."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    candidates += [str(p) for p in sorted(versions, key=lambda p: int(p.parent.name), reverse=True)]
    on_path = shutil.which("pg_ctl")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    for candidate in candidates:
        if candidate and all(os.access(Path(candidate) / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running test cluster: ``url(name)`` for a database, ``restart()`` for the reconnect tests."""

    bindir: Path
    root: Path
    port: int
    as_user: list[str] = field(default_factory=list)
    fsync: bool = False
    """Benchmarks turn it on, to compare commits that reach the disk with SQLite's."""
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, check=False, cwd=self.root, timeout=120
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr or result.stdout}\n{log}")

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        # fsync off (tests): the server is stopped cleanly and never has to survive a power cut; it keeps CREATE
        # DATABASE cheap on a shared machine. Commit, rollback and restart behave the same.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.fsync:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """Stop (closing every client connection) and start again on the same port."""
        self.stop()
        self.start()

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", SERVER_USER, "--"]
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups"]
    raise RuntimeError("running as root, and neither runuser nor setpriv is available to drop to the postgres user")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason} (install Debian's postgresql, or run `make test`)")


@contextlib.contextmanager
def temporary_server(*, fsync: bool = False) -> Iterator[PostgresServer]:
    """A new cluster in a temporary directory, started on a free port; stopped and deleted afterwards."""
    bindir = find_bindir()
    if bindir is None:
        raise LookupError("initdb/pg_ctl not found (PG_BINDIR, /usr/lib/postgresql/*/bin, PATH)")
    as_user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="attribution-pg-"))
    if as_user:
        shutil.chown(root, SERVER_USER, SERVER_USER)
    server = PostgresServer(bindir=bindir, root=root, port=free_port(), as_user=as_user, fsync=fsync)
    try:
        server.init()
        server.start()
    except Exception:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, in a temporary directory, stopped at the end."""
    if find_bindir() is None:
        _unavailable("initdb/pg_ctl not found (PG_BINDIR, /usr/lib/postgresql/*/bin, PATH)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'asgi-attribution[postgres]')")
    with temporary_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh database for this test."""
    return postgres_server.new_database()
