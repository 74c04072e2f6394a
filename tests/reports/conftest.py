"""``store``: an open outbox, on each backend, and a writer of order rows into its tables."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from attribution.delivery.outbox.choose import outbox_from
from tests.reports.store import Store


@pytest.fixture
async def store(outbox_spec: str) -> AsyncIterator[Store]:
    box = outbox_from(outbox_spec)
    await box.open()
    yield Store(box, outbox_spec)
    await box.close()
