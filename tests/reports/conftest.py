"""``store``: an open outbox with order tables, on each backend, and a writer of order rows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.reports.shim import shim_outbox
from tests.reports.store import Store


@pytest.fixture
async def store(outbox_spec: str) -> AsyncIterator[Store]:
    box = shim_outbox(outbox_spec)
    await box.open()
    yield Store(box, outbox_spec)
    await box.close()
