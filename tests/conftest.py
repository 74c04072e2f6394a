"""Fixtures shared by the whole suite: ``outbox`` runs each outbox and worker test on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from attribution.delivery.outbox.base import Outbox
from attribution.delivery.outbox.choose import outbox_from

pytest_plugins = ["tests.postgres"]


@pytest.fixture(params=["sqlite", "postgres"])
def outbox_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What names a fresh, empty outbox: a SQLite file's path, or a PostgreSQL database's URL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "outbox.sqlite3")


@pytest.fixture
async def outbox(outbox_spec: str) -> AsyncIterator[Outbox]:
    """A fresh, open outbox, once per backend."""
    box = outbox_from(outbox_spec)
    await box.open()
    yield box
    await box.close()
