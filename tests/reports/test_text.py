"""Reports as a terminal table with bars, and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from attribution.reports.deliveries import DeliveryReport, VendorAccuracy
from attribution.reports.models import Model
from attribution.reports.revenue import Report, Row, Total, money
from attribution.reports.text import bar, delivery_csv, delivery_table, revenue_csv, revenue_table

SINCE = datetime(2026, 11, 1, tzinfo=UTC)


def sample(model: Model = Model.LAST) -> Report:
    return Report(
        model=model,
        by="channel",
        since=SINCE,
        until=None,
        rows=(
            Row("paid_search", "USD", 3.0, Decimal("300.00")),
            Row("email", "USD", 1.5, Decimal("75.00")),
            Row("paid_social", "EUR", 2.0, Decimal("40.00")),
            Row("direct", "USD", 0.5, Decimal("25.00")),
        ),
        totals=(Total("USD", 5.0, Decimal("400.00")), Total("EUR", 2.0, Decimal("40.00"))),
    )


def test_a_bar_is_the_share_in_eighths_of_a_cell() -> None:
    assert bar(1.0, 4) == "████"
    assert bar(0.0, 4) == "    "
    assert bar(0.5, 4) == "██  "
    assert bar(0.75 / 4, 4) == "▊   "  # six eighths of one cell
    assert bar(0.001, 4) == "▏   "  # something is never drawn as nothing


def test_the_table_shows_each_rows_share_of_its_currency_as_a_number_and_a_bar() -> None:
    text = revenue_table(sample())
    lines = text.splitlines()
    assert lines[0] == "Revenue by channel, last touch: purchase orders from 2026-11-01T00:00:00Z to now"
    search = next(line for line in lines if line.startswith("paid_search"))
    assert "300.00" in search
    assert "75.0%" in search
    assert search.rstrip().endswith("█" * 22 + "▌")  # 75 % of 30 cells: 22.5 cells
    social = next(line for line in lines if line.startswith("paid_social"))
    assert "100.0%" in social
    assert social.rstrip().endswith("█" * 30)
    assert "1.50" in next(line for line in lines if line.startswith("email"))
    totals = [line.split() for line in lines if line.startswith("total")]
    assert totals == [["total", "USD", "5", "400.00"], ["total", "EUR", "2", "40.00"]]


def test_an_empty_report_says_so() -> None:
    empty = Report(model=Model.TIME_DECAY, by="campaign", since=SINCE, until=SINCE + timedelta(days=1))
    text = revenue_table(empty)
    assert "time decay, half-life 7d" in text
    assert "to 2026-11-02T00:00:00Z" in text
    assert text.rstrip().endswith("no orders in this window")


def test_csv_has_a_line_per_row_with_the_share() -> None:
    found = list(csv.reader(io.StringIO(revenue_csv(sample(Model.LINEAR)))))
    assert found[0] == ["channel", "currency", "orders", "revenue", "share"]
    assert found[1] == ["paid_search", "USD", "3.0", "300.00", "0.750000"]
    assert found[3] == ["paid_social", "EUR", "2.0", "40.00", "1.000000"]
    assert len(found) == 5


def test_money_keeps_cents_and_micro_units_never_an_exponent() -> None:
    assert money(Decimal("24.9")) == "24.90"
    assert money(Decimal("100")) == "100.00"
    assert money(Decimal("33.3333333")) == "33.333333"
    assert money(Decimal("1E+3")) == "1000.00"
    assert money(Decimal("0.000763")) == "0.000763"


def accuracy() -> DeliveryReport:
    return DeliveryReport(
        since=SINCE,
        until=None,
        vendors=(
            VendorAccuracy("google_ads", orders=4, queued=1, delivered=1, skipped={"no Google click id": 3}),
            VendorAccuracy("meta", orders=4, queued=4, delivered=2, failed=1, pending=1),
        ),
    )


def test_the_delivery_table_lists_each_vendor_and_why_it_skipped() -> None:
    lines = delivery_table(accuracy()).splitlines()
    assert lines[0] == "Deliveries per vendor: orders (every event) from 2026-11-01T00:00:00Z to now"
    assert lines[2].split() == [
        "vendor",
        "orders",
        "queued",
        "delivered",
        "failed",
        "pending",
        "dry_run",
        "cancelled",
        "skipped",
    ]
    assert lines[3].split() == ["google_ads", "4", "1", "1", "0", "0", "0", "0", "3"]
    assert lines[4].strip() == "skipped 3: no Google click id"
    assert lines[5].split() == ["meta", "4", "4", "2", "1", "1", "0", "0", "0"]


def test_the_delivery_csv_joins_the_reasons() -> None:
    found = list(csv.reader(io.StringIO(delivery_csv(accuracy()))))
    assert found[1] == ["google_ads", "4", "1", "1", "0", "0", "0", "0", "3", "no Google click id=3"]
    assert found[2][-2:] == ["0", ""]
