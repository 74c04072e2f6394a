"""Fixtures shared by the delivery tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from attribution.outbox import Outbox, SQLiteOutbox


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    """An open, empty outbox, closed after the test. Every worker test takes its outbox from here."""
    box = SQLiteOutbox(tmp_path / "outbox.sqlite3")
    await box.open()
    yield box
    await box.close()
