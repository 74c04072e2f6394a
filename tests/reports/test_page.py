"""``ReportApp``: refused unless ``authorize`` says yes; the table, the charts and the delivery table for the
asked window, model and dimension; ``/data.json`` equal to ``tracker.report``; no customer data, no script."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from attribution import Tracker
from attribution.errors import ConfigurationError
from attribution.reports import ReportApp
from tests.reports.store import Store, T

DAY = 86400.0
NOW = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
PERSONAL = '{"email": "jane.doe@example.com", "phone": "+14155550100", "name": "Jane Doe"}'


async def orders(store: Store) -> None:
    search = T(NOW - 5 * DAY, "paid_search", "google", "cpc", "brand")
    mail = T(NOW - 9 * DAY, "email", "newsletter", "email", "<b>november</b>")
    await store.add(
        "A",
        at=NOW - 2 * DAY,
        value="90.00",
        touches=[mail, search],
        data=PERSONAL,
        deliveries={"meta": "delivered"},
        skips={"google_ads": "no Google click id (gclid, gbraid or wbraid)"},
    )
    await store.add("B", at=NOW - DAY, value="30.00", touches=[mail], data=PERSONAL, deliveries={"meta": "dead"})
    await store.add("C", at=NOW - DAY, value="12.00", currency="EUR", data=PERSONAL)


@pytest.fixture
async def tracker(store: Store) -> AsyncIterator[Tracker]:
    await orders(store)
    return Tracker(vendors=[], outbox=store.outbox, run_worker=False, clock=lambda: NOW)


def site(tracker: Tracker, authorize: Any) -> Starlette:
    return Starlette(routes=[Mount("/admin/attribution", ReportApp(tracker, authorize=authorize))])


async def get(app: Any, path: str, **headers: str) -> httpx2.Response:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example") as http:
        return await http.get(path, headers=headers)


def test_without_authorize_it_is_a_configuration_error(tmp_path: Any) -> None:
    tracker = Tracker(vendors=[], outbox=tmp_path / "o.sqlite3", run_worker=False)
    with pytest.raises(ConfigurationError, match="authorize"):
        ReportApp(tracker)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="authorize"):
        ReportApp(tracker, authorize="staff")  # type: ignore[arg-type]


async def test_refused_unless_authorize_says_yes(tracker: Tracker) -> None:
    asked: list[str] = []

    def no(request: Request) -> bool:
        asked.append(request.url.path)
        return False

    for path in ("/admin/attribution/", "/admin/attribution/data.json", "/admin/attribution/deliveries.json"):
        response = await get(site(tracker, no), path)
        assert response.status_code == 403
        assert "paid_search" not in response.text
    assert asked == ["/admin/attribution/", "/admin/attribution/data.json", "/admin/attribution/deliveries.json"]

    async def ask_for_credentials(request: Request) -> bool | Response:
        if request.headers.get("authorization") != "Bearer staff-token":
            return Response("who are you?", 401, {"www-authenticate": "Bearer"})
        return True

    refused = await get(site(tracker, ask_for_credentials), "/admin/attribution/")
    assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
    allowed = await get(site(tracker, ask_for_credentials), "/admin/attribution/", authorization="Bearer staff-token")
    assert allowed.status_code == 200
    # only True itself says yes: a truthy value that is not an answer refuses
    assert (await get(site(tracker, lambda r: "yes"), "/admin/attribution/")).status_code == 403


async def test_the_page_shows_both_models_the_charts_and_the_deliveries(tracker: Tracker) -> None:
    response = await get(site(tracker, lambda r: True), "/admin/attribution/?since=30d&by=channel&model=last")
    assert response.status_code == 200
    html = response.text
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "<script" not in html
    assert 'id="chart-USD"' in html
    assert 'id="chart-EUR"' in html
    assert "Revenue by channel in USD, last touch and first touch" in html
    # last touch: A to paid_search, B to email; first touch: both to email
    assert (
        '<tr class="row" data-key="paid_search" data-currency="USD"><td>paid_search</td><td>USD</td>'
        '<td class="n">1.00</td><td class="n">90.00</td><td class="n">75.0%</td>'
        '<td class="n">0.00</td><td class="n">0.00</td><td class="n">0.0%</td></tr>' in html
    )
    assert (
        '<tr class="row" data-key="email" data-currency="USD"><td>email</td><td>USD</td>'
        '<td class="n">1.00</td><td class="n">30.00</td><td class="n">25.0%</td>'
        '<td class="n">2.00</td><td class="n">120.00</td><td class="n">100.0%</td></tr>' in html
    )
    assert 'data-key="direct" data-currency="EUR"' in html
    assert (
        '<tr class="vendor" data-vendor="meta"><td>meta</td><td class="n">2</td><td class="n">2</td>'
        '<td class="n">1</td><td class="n">1</td>' in html
    )
    assert "1: no Google click id (gclid, gbraid or wbraid)" in html
    for personal in ("jane.doe", "example.com", "4155550100", "Jane", "Doe"):
        assert personal not in html


async def test_names_from_the_journey_are_escaped(tracker: Tracker) -> None:
    html = (await get(site(tracker, lambda r: True), "/admin/attribution/?by=campaign&model=first")).text
    assert "<b>november</b>" not in html
    assert "&lt;b&gt;november&lt;/b&gt;" in html


async def test_data_json_is_the_trackers_report(tracker: Tracker) -> None:
    async def staff(request: Request) -> bool:
        return True

    query = "since=2026-11-01T00:00:00Z&until=2026-12-01&by=source_medium&model=time_decay&half_life=3d"
    response = await get(site(tracker, staff), f"/admin/attribution/data.json?{query}")
    assert response.status_code == 200
    expected = await tracker.report(
        since=datetime(2026, 11, 1, tzinfo=UTC),
        until=datetime(2026, 12, 1, tzinfo=UTC),
        by="source_medium",
        model="time_decay",
        half_life=timedelta(days=3),
    )
    assert response.json() == json.loads(json.dumps(expected.to_dict()))
    assert [row["key"] for row in response.json()["rows"]][:2] == ["google / cpc", "newsletter / email"]
    deliveries = await get(site(tracker, staff), "/admin/attribution/deliveries.json?since=30d")
    assert [v["vendor"] for v in deliveries.json()["vendors"]] == ["google_ads", "meta"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("by=country", "by=&#x27;country&#x27;"),
        ("model=w", "model=&#x27;w&#x27;"),
        ("since=yesterday", "since"),
        ("until=2026-12-01T00:00:00", "no time zone"),
        ("half_life=0d", "half_life"),
    ],
)
async def test_a_bad_parameter_is_a_400_that_says_which(tracker: Tracker, query: str, message: str) -> None:
    response = await get(site(tracker, lambda r: True), f"/admin/attribution/?{query}")
    assert response.status_code == 400
    assert message in response.text
    data = await get(site(tracker, lambda r: True), f"/admin/attribution/data.json?{query}")
    assert data.status_code == 400
    assert "error" in data.json()
