"""``Tracker.report`` and ``report_sync``: the tracker's outbox and clock, the same report from synchronous code."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from attribution import Tracker
from attribution.errors import ConfigurationError
from tests.reports.store import Store, T

DAY = 86400.0
NOW = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


async def test_the_report_counts_back_from_the_trackers_clock(store: Store) -> None:
    await store.add("A", at=NOW - 29 * DAY, value="10.00", touches=[T(NOW - 30 * DAY, "email")])
    await store.add("B", at=NOW - 31 * DAY, value="99.00", touches=[T(NOW - 32 * DAY, "email")])
    tracker = Tracker(vendors=[], outbox=store.outbox, run_worker=False, clock=lambda: NOW)
    report = await tracker.report()  # the defaults: 30 days, by channel, last touch
    assert report.to_dict()["since"] == "2026-11-01T00:00:00Z"
    assert [(r.key, str(r.revenue)) for r in report.rows] == [("email", "10.000000")]
    assert (report.model.value, report.by) == ("last", "channel")
    older = await tracker.report(since=timedelta(days=40), by="source", model="linear")
    assert [row.orders for row in older.rows] == [2.0]


async def test_report_sync_gives_the_same_report_from_synchronous_code(store: Store) -> None:
    await store.add("A", at=NOW - DAY, value="10.00", touches=[T(NOW - 2 * DAY, "email"), T(NOW - DAY, "referral")])
    tracker = Tracker(vendors=[], outbox=store.outbox, run_worker=False, clock=lambda: NOW)
    options = {"since": timedelta(days=7), "model": "time_decay", "by": "channel"}
    expected = await tracker.report(**options)  # type: ignore[arg-type]
    found = await asyncio.to_thread(lambda: tracker.report_sync(**options))  # type: ignore[arg-type]
    assert found == expected
    assert [r.key for r in found.rows] == ["referral", "email"]


async def test_report_sync_inside_an_event_loop_says_to_await(store: Store) -> None:
    tracker = Tracker(vendors=[], outbox=store.outbox, run_worker=False, clock=lambda: NOW)
    with pytest.raises(ConfigurationError, match=r"await tracker\.report"):
        tracker.report_sync()
