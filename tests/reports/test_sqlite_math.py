"""SQLite without its math functions: ``pow`` and ``exp`` registered in Python give the same reports."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

from attribution.delivery.outbox.sqlite import SQLiteOutbox
from attribution.delivery.outbox.sqlite_math import ensure_math
from attribution.reports.models import Model
from attribution.reports.revenue import revenue_report
from tests.reports.store import Store, T

DAY = 86400.0


class NoMath:
    """A connection to a SQLite built without math functions: ``pow`` is unknown until registered."""

    def __init__(self) -> None:
        self.registered: dict[str, Any] = {}

    def execute(self, sql: str) -> Any:
        if "pow" in sql and "pow" not in self.registered:
            raise sqlite3.OperationalError("no such function: pow")
        return sqlite3.connect(":memory:").execute("SELECT 1")

    def create_function(self, name: str, arity: int, fn: Any, *, deterministic: bool) -> None:
        self.registered[name] = fn


def test_missing_functions_are_registered_and_present_ones_left_alone() -> None:
    bare = NoMath()
    assert ensure_math(bare) is True  # type: ignore[arg-type]
    assert set(bare.registered) == {"pow", "exp"}
    assert bare.registered["pow"](2.0, -1.0) == 0.5
    assert bare.registered["pow"](None, 1.0) is None
    assert bare.registered["pow"](-8.0, 0.5) is None
    assert bare.registered["pow"](10.0, 400.0) == math.inf
    assert bare.registered["exp"](0.0) == 1.0
    assert ensure_math(sqlite3.connect(":memory:")) is (sqlite3.sqlite_version_info < (3, 35))


async def test_the_python_functions_give_the_same_time_decay_report(tmp_path: Path) -> None:
    spec = str(tmp_path / "outbox.sqlite3")
    box = SQLiteOutbox(spec)
    await box.open()
    store = Store(box, spec)
    now = 1_800_000_000.0
    touches = [T(now - 9 * DAY, "email"), T(now - 2 * DAY, "referral"), T(now - DAY, "paid_search")]
    await store.add("A", at=now, value="70.00", touches=touches)
    built_in = await revenue_report(store, model=Model.TIME_DECAY, now=now + 1)
    conn = sqlite3.connect(store.spec)
    ensure_math(conn, force=True)

    class Python:
        dialect = "sqlite"

        def table(self, name: str) -> str:
            return name

        async def select(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]

    assert await revenue_report(Python(), model=Model.TIME_DECAY, now=now + 1) == built_in
    assert [r.key for r in built_in.rows] == ["paid_search", "referral", "email"]
    conn.close()
    await box.close()
