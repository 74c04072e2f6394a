"""``scope["attribution"].utm``, ``.channel`` and hidden fields read the cookie's payload without models, and
say exactly what the models say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.forms import hidden_fields
from attribution.web.middleware import AttributionMiddleware, get_attribution
from attribution.web.state import LazyAttribution
from tests.support.helpers import NAVIGATION, SECRET


def reads(attr: Any) -> dict[str, Any]:
    return {"utm": attr.utm, "channel": attr.channel.value, "public": attr.public(), "fields": str(hidden_fields(attr))}


async def both(request: Request) -> JSONResponse:
    lazy = request.scope["attribution"]
    assert isinstance(lazy, LazyAttribution)
    fast = reads(lazy)  # first: no models are built yet
    assert not lazy._state.has_models
    return JSONResponse({"fast": fast, "models": reads(get_attribution(request))})


async def utm_only(request: Request) -> PlainTextResponse:
    return PlainTextResponse(repr(request.scope["attribution"].utm))


async def changed(request: Request) -> JSONResponse:
    attr = get_attribution(request)  # the app changes the models: reads after it see that
    attr.history.clear()
    attr.first = None
    return JSONResponse(reads(request.scope["attribution"]))


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def client(clock: Clock, **options: Any) -> TestClient:
    routes = [Route("/", both), Route("/p{n}", both), Route("/utm", utm_only), Route("/changed", changed)]
    app = AttributionMiddleware(Starlette(routes=routes), secret_key=SECRET, clock=clock, **options)
    return TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION)


def visit(c: TestClient, url: str, referer: str | None = None) -> dict[str, Any]:
    headers = {"referer": referer} if referer else {}
    response = c.get(url, headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert body["fast"] == body["models"]
    return body["fast"]


def test_a_visitor_without_a_cookie_reads_empty() -> None:
    got = visit(client(Clock()), "/")
    assert got == {"utm": {}, "channel": "direct", "public": {}, "fields": ""}


def test_the_source_touch_the_click_ids_and_both_channels() -> None:
    clock = Clock()
    c = client(clock)
    got = visit(c, "/?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=G1&fbclid=F1")
    assert got["utm"] == {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"}
    clicks = {"gclid": "G1", "fbclid": "F1"}
    assert got["public"] == {**got["utm"], **clicks, "channel": "paid_search", "first_channel": "paid_search"}
    clock.now += timedelta(hours=1)
    got = visit(c, "/", referer="https://www.bing.com/search?q=shoes")
    assert got["utm"] == {}
    assert got["public"] == {"gclid": "G1", "fbclid": "F1", "channel": "organic_search", "first_channel": "paid_search"}
    assert 'name="channel" value="organic_search"' in got["fields"]


def test_click_ids_past_their_window_are_left_out() -> None:
    clock = Clock()
    c = client(clock, click_id_windows={"gclid": 1})
    visit(c, "/?utm_source=google&gclid=G1&fbclid=F1")
    clock.now += timedelta(days=2)
    got = visit(c, "/?utm_source=news")
    assert got["public"] == {"utm_source": "news", "fbclid": "F1", "channel": "other", "first_channel": "paid_search"}


@pytest.mark.parametrize("history_size", [1, 2, 5])
def test_a_first_touch_kept_apart_from_an_overflowing_history(history_size: int) -> None:
    clock = Clock()
    c = client(clock, history_size=history_size)
    visit(c, "/?utm_source=newsletter&utm_medium=email")
    for i in range(4):
        clock.now += timedelta(minutes=1)
        got = visit(c, f"/p{i}?utm_source=s{i}&utm_medium=social")
    assert got["utm"] == {"utm_source": "s3", "utm_medium": "social"}
    assert got["public"]["first_channel"] == "email"
    assert got["public"]["channel"] == "organic_social"


def test_a_lazy_read_marks_the_response_as_varying_by_cookie() -> None:
    c = client(Clock())
    c.get("/?utm_source=google")
    response = c.get("/utm")
    assert response.text == "{'utm_source': 'google'}"
    assert "cookie" in response.headers["vary"].lower()


def test_reads_after_the_app_changed_the_models_see_the_change() -> None:
    c = client(Clock())
    c.get("/?utm_source=google&utm_medium=email")
    response = c.get("/changed")
    assert response.json() == {"utm": {}, "channel": "direct", "public": {}, "fields": ""}
