"""The report queries on both outboxes: hand-computed reports, and every model and dimension against the models'
pure functions on random journeys."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from attribution.errors import ConfigurationError
from attribution.reports.deliveries import delivery_report
from attribution.reports.models import Model, weights
from attribution.reports.revenue import Report, revenue_report
from tests.reports.store import Store, T

DAY = 86400.0
NOW = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
START = NOW - 30 * DAY  # the orders' journeys start here; the window is the last 30 days


def email(at: float) -> T:
    return T(at, "email", "newsletter", "email", "november")


def search(at: float) -> T:
    return T(at, "paid_search", "google", "cpc", "brand")


def referral(at: float) -> T:
    return T(at, "referral", "blog.example.org", "referral")


def social(at: float) -> T:
    return T(at, "paid_social", "facebook", "paid_social", "retargeting")


async def sample(store: Store) -> None:
    """Four orders that count, and three that must not."""
    await store.add(
        "A",
        at=START + 21 * DAY,
        value="100.00",
        touches=[email(START), search(START + 7 * DAY), referral(START + 14 * DAY)],
    )
    await store.add("B", at=START + 21 * DAY, value="50.00", touches=[search(START + 20 * DAY)])
    await store.add(
        "C", at=START + 7 * DAY, value="30.00", currency="EUR", touches=[email(START), social(START + 7 * DAY)]
    )
    await store.add("D", at=START + 22 * DAY, value="20.00")  # no touch: direct
    await store.add("E", at=START + 22 * DAY, value="999.00", status="cancelled", touches=[search(START)])
    await store.add("F", at=START + 22 * DAY, value="5.00", event="lead", touches=[search(START)])
    await store.add("G", at=NOW - 40 * DAY, value="700.00", touches=[search(NOW - 41 * DAY)])  # before the window


def rows(report: Report) -> list[tuple[str, str, float, str]]:
    data = report.to_dict()
    return [(r["key"], r["currency"], r["orders"], r["revenue"]) for r in data["rows"]]


async def report(store: Store, **options: Any) -> Report:
    return await revenue_report(store, since=timedelta(days=30), now=NOW, **options)


async def test_last_touch_by_channel(store: Store) -> None:
    await sample(store)
    found = await report(store, by="channel", model="last")
    assert rows(found) == [
        ("referral", "USD", 1.0, "100.00"),
        ("paid_search", "USD", 1.0, "50.00"),
        ("paid_social", "EUR", 1.0, "30.00"),
        ("direct", "USD", 1.0, "20.00"),
    ]
    data = found.to_dict()
    assert data["totals"] == [
        {"currency": "USD", "orders": 3.0, "revenue": "170.00"},
        {"currency": "EUR", "orders": 1.0, "revenue": "30.00"},
    ]
    assert (data["model"], data["by"], data["until"]) == ("last", "channel", None)
    assert data["since"] == "2026-11-01T00:00:00Z"


async def test_first_touch_by_source_and_campaign(store: Store) -> None:
    await sample(store)
    assert rows(await report(store, by="source", model="first")) == [
        ("newsletter", "USD", 1.0, "100.00"),
        ("google", "USD", 1.0, "50.00"),
        ("newsletter", "EUR", 1.0, "30.00"),
        ("(direct)", "USD", 1.0, "20.00"),
    ]
    assert [r[0] for r in rows(await report(store, by="campaign", model="first"))] == [
        "november",
        "brand",
        "november",
        "(not set)",
    ]


async def test_linear_by_source_medium(store: Store) -> None:
    await sample(store)
    assert rows(await report(store, by="source_medium", model="linear")) == [
        ("google / cpc", "USD", 1.333333, "83.333333"),
        ("blog.example.org / referral", "USD", 0.333333, "33.333333"),
        ("newsletter / email", "USD", 0.333333, "33.333333"),
        ("(direct) / (none)", "USD", 1.0, "20.00"),
        ("facebook / paid_social", "EUR", 0.5, "15.00"),
        ("newsletter / email", "EUR", 0.5, "15.00"),
    ]


async def test_position_by_medium(store: Store) -> None:
    await sample(store)
    assert rows(await report(store, by="medium", model="position")) == [
        ("cpc", "USD", 1.2, "70.00"),
        ("email", "USD", 0.4, "40.00"),
        ("referral", "USD", 0.4, "40.00"),
        ("(none)", "USD", 1.0, "20.00"),
        ("email", "EUR", 0.5, "15.00"),
        ("paid_social", "EUR", 0.5, "15.00"),
    ]


async def test_time_decay_by_channel(store: Store) -> None:
    await sample(store)
    # A: one, two and three half-lives before the order: 1/7, 2/7, 4/7 of 100; C: 1/3 and 2/3 of 30
    assert rows(await report(store, by="channel", model="time_decay")) == [
        ("paid_search", "USD", 1.285714, "78.571429"),
        ("referral", "USD", 0.571429, "57.142857"),
        ("direct", "USD", 1.0, "20.00"),
        ("paid_social", "EUR", 0.666667, "20.00"),
        ("email", "USD", 0.142857, "14.285714"),
        ("email", "EUR", 0.333333, "10.00"),
    ]
    # a half-life of a day: A's first touch, two weeks before its last, hardly counts: 2^-14 / (2^-14 + 2^-7 + 1)
    quick = await report(store, by="channel", model="time_decay", half_life=timedelta(days=1))
    assert {(k, c): r for k, c, _, r in rows(quick)}[("email", "USD")] == "0.006056"


async def test_another_event_and_a_closed_window(store: Store) -> None:
    await sample(store)
    assert rows(await report(store, event="lead")) == [("paid_search", "USD", 1.0, "5.00")]
    until = datetime.fromtimestamp(START + 21 * DAY, UTC)  # excluded: A and B happen at that very second
    assert rows(await report(store, until=until)) == [("paid_social", "EUR", 1.0, "30.00")]


async def test_a_direct_touch_and_orders_without_touches_are_one_row(store: Store) -> None:
    await store.add("X", at=NOW - DAY, value="1.00", touches=[T(NOW - 2 * DAY, "direct", "(direct)", "(none)")])
    await store.add("Y", at=NOW - DAY, value="2.00")
    assert rows(await report(store)) == [("direct", "USD", 2.0, "3.00")]


async def test_an_empty_window(store: Store) -> None:
    found = await report(store)
    assert found.to_dict()["rows"] == []
    assert found.to_dict()["totals"] == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"by": "country"}, "by='country'"),
        ({"model": "w_shaped"}, "model='w_shaped'"),
        ({"since": datetime(2026, 11, 1)}, "no time zone"),
        ({"since": timedelta(days=-1)}, "positive"),
        ({"until": datetime(2026, 1, 1, tzinfo=UTC)}, "must come after"),
        ({"half_life": timedelta(0)}, "half_life"),
    ],
)
async def test_bad_options_say_what_is_wrong(store: Store, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        await revenue_report(store, now=NOW, **options)


async def test_every_model_and_dimension_agree_with_the_pure_models(store: Store) -> None:
    """Random journeys of up to seven touches, with equal times and two currencies: the SQL's sums are the
    sums of the models' weights."""
    rng = random.Random(25)
    pool = [email, search, referral, social, lambda at: T(at, "organic_search", "google.com", "organic")]
    journeys = []
    for i in range(40):
        at = NOW - rng.uniform(0, 29) * DAY
        times = sorted(at - rng.choice([0, 0, 3600, rng.uniform(0, 20 * DAY)]) for _ in range(rng.randint(0, 7)))
        touches = [rng.choice(pool)(t) for t in times]
        value = f"{rng.randint(1, 50000) / 100:.2f}"
        currency = rng.choice(["USD", "USD", "BRL"])
        await store.add(f"R{i}", at=at, value=value, currency=currency, touches=touches)
        journeys.append((at, touches, Decimal(value), currency))
    for model in Model:
        for by in ("channel", "source", "medium", "campaign", "source_medium"):
            credit: dict[tuple[str, str], float] = defaultdict(float)
            revenue: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
            for at, touches, value, currency in journeys:
                names = [_name(t, by) for t in touches] or [_name(None, by)]
                ws = weights(model, [t.at for t in touches], at=at) or [1.0]
                for name, w in zip(names, ws, strict=True):
                    credit[(name, currency)] += w
                    revenue[(name, currency)] += value * Decimal(w)
            found = {(k, c): (o, Decimal(r)) for k, c, o, r in rows(await report(store, by=by, model=model))}
            assert {k for k, v in credit.items() if v > 1e-6} <= set(found) <= set(credit), (model, by)
            for key, (orders, amount) in found.items():
                assert orders == pytest.approx(credit[key], abs=2e-6), (model, by, key)
                assert amount == pytest.approx(revenue[key], abs=Decimal("0.000002")), (model, by, key)


def _name(touch: T | None, by: str) -> str:
    if touch is None:
        return {"channel": "direct", "source": "(direct)", "medium": "(none)", "campaign": "(not set)"}.get(
            by, "(direct) / (none)"
        )
    if by == "source_medium":
        return f"{touch.source} / {touch.medium}"
    return str(getattr(touch, by))


async def test_deliveries_per_vendor(store: Store) -> None:
    meta_only = "no Meta click or browser id (fbc/fbp)"
    await store.add("A", at=NOW - DAY, deliveries={"meta": "delivered", "google_ads": "dead"})
    await store.add("B", at=NOW - DAY, deliveries={"meta": "pending", "google_ads": "delivered"})
    await store.add("C", at=NOW - DAY, deliveries={"google_ads": "held"}, skips={"meta": meta_only})
    await store.add("D", at=NOW - DAY, deliveries={"google_ads": "sending"}, skips={"meta": meta_only})
    await store.add(
        "E",
        at=NOW - DAY,
        status="cancelled",
        deliveries={"google_ads": "cancelled"},
        skips={"meta": "no consent for meta"},
    )
    await store.add("F", at=NOW - DAY, event="lead", value=None, currency=None, deliveries={"meta": "dry_run"})
    await store.add("G", at=NOW - 60 * DAY, deliveries={"meta": "delivered"})  # before the window
    await store.add("H", at=NOW - DAY, deliveries={"meta": "delivered"}, kind="restate")  # a correction: not an order
    found = (await delivery_report(store, since=timedelta(days=30), now=NOW)).to_dict()
    assert found["vendors"] == [
        {
            "vendor": "google_ads",
            "orders": 5,
            "queued": 5,
            "delivered": 1,
            "failed": 1,
            "pending": 2,
            "skipped": {},
            "dry_run": 0,
            "cancelled": 1,
        },
        {
            "vendor": "meta",
            "orders": 6,
            "queued": 3,
            "delivered": 1,
            "failed": 0,
            "pending": 1,
            "skipped": {meta_only: 2, "no consent for meta": 1},
            "dry_run": 1,
            "cancelled": 0,
        },
    ]
    purchases = (await delivery_report(store, since=timedelta(days=30), event="purchase", now=NOW)).to_dict()
    assert [(v["vendor"], v["orders"], v["dry_run"]) for v in purchases["vendors"]] == [
        ("google_ads", 5, 0),
        ("meta", 5, 0),
    ]
