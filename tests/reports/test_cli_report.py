"""``attribution report``: the table with bars, JSON equal to ``tracker.report``, CSV, the delivery report, and
clear errors for bad options."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from attribution import Tracker
from attribution.cli import main
from tests.reports.store import Store, T

DAY = 86400.0


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


@pytest.fixture
async def filled(store: Store) -> Store:
    now = datetime.now(UTC).timestamp()
    search = T(now - 5 * DAY, "paid_search", "google", "cpc", "brand")
    social = T(now - 3 * DAY, "paid_social", "facebook", "paid_social", "retargeting")
    await store.add("A", at=now - 2 * DAY, value="90.00", touches=[search, social], deliveries={"meta": "delivered"})
    await store.add("B", at=now - DAY, value="30.00", touches=[search], skips={"meta": "no consent for meta"})
    await store.add("C", at=now - 40 * DAY, value="500.00", touches=[search])
    return store


async def test_the_table_has_a_bar_per_row(filled: Store) -> None:
    code, text = await _run_in_thread("--outbox", filled.spec, "report", "--since", "30d", "--model", "first")
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("Revenue by channel, first touch: purchase orders from ")
    assert lines[3].split()[:5] == ["paid_search", "USD", "2", "120.00", "100.0%"]
    assert lines[3].endswith("█" * 30)


async def test_json_is_the_trackers_report_and_csv_the_same_rows(filled: Store) -> None:
    window = ("--since", "2026-01-01T00:00:00Z", "--until", "2099-01-01")
    options = ("--by", "source_medium", "--model", "position")
    code, text = await _run_in_thread("--outbox", filled.spec, "report", *window, *options, "--format", "json")
    assert code == 0
    tracker = Tracker(vendors=[], outbox=filled.outbox, run_worker=False)
    expected = await tracker.report(
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2099, 1, 1, tzinfo=UTC),
        by="source_medium",
        model="position",
    )
    assert json.loads(text) == json.loads(json.dumps(expected.to_dict()))
    assert json.loads(text)["rows"][0] == {"key": "google / cpc", "currency": "USD", "orders": 2.5, "revenue": "575.00"}
    code, text = await _run_in_thread("--outbox", filled.spec, "report", *window, *options, "--format", "csv")
    assert [row[:4] for row in csv.reader(io.StringIO(text))][1:] == [
        ["google / cpc", "USD", "2.5", "575.00"],
        ["facebook / paid_social", "USD", "0.5", "45.00"],
    ]


async def test_the_delivery_report(filled: Store) -> None:
    code, text = await _run_in_thread("--outbox", filled.spec, "report", "--deliveries", "--format", "json")
    assert code == 0
    assert json.loads(text)["vendors"] == [
        {
            "vendor": "meta",
            "orders": 2,
            "queued": 1,
            "delivered": 1,
            "failed": 0,
            "pending": 0,
            "skipped": {"no consent for meta": 1},
            "dry_run": 0,
            "cancelled": 0,
        }
    ]
    code, text = await _run_in_thread("--outbox", filled.spec, "report", "--deliveries")
    assert "skipped 1: no consent for meta" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "since 'yesterday'"),
        (("--until", "2026-12-01T00:00"), "no time zone"),
        (("--by", "country"), "invalid choice: 'country'"),
        (("--model", "w_shaped"), "invalid choice: 'w_shaped'"),
        (("--half-life", "0d"), "--half-life '0d'"),
    ],
)
def test_bad_options_say_what_is_wrong(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        run("--outbox", "unused.sqlite3", "report", *args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


async def _run_in_thread(*args: str) -> tuple[int, str]:
    import asyncio

    return await asyncio.to_thread(run, *args)
