"""A response that carries a visitor's cookie is never one a shared cache may keep.

A landing whose app answers ``Cache-Control: public`` kept it beside our Set-Cookie: a CDN or proxy that ignores
Set-Cookie would then serve that visitor's attribution (and a server-made ``_fbp``) to everyone.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.web.middleware import AttributionMiddleware
from tests.helpers import COOKIE, NAVIGATION, SECRET, set_cookie_headers

LANDING = "/page?gclid=Cj0-shared&utm_source=google&utm_medium=cpc"


def site(cache_headers: dict[str, str], **options: Any) -> TestClient:
    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("a page", headers=cache_headers)

    app = AttributionMiddleware(Starlette(routes=[Route("/page", page)]), secret_key=SECRET, **options)
    return TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION)


@pytest.mark.parametrize(
    ("app_sets", "sent"),
    [
        ("public, max-age=600", "private, max-age=600"),
        ("public, max-age=60, s-maxage=3600", "private, max-age=60"),
        ("max-age=600", "private, max-age=600"),
        (None, "private"),
        ("private, max-age=30", "private, max-age=30"),
        ("no-store", "no-store"),
    ],
)
def test_a_landing_that_sets_the_cookie_is_private(app_sets: str | None, sent: str) -> None:
    headers = {"cache-control": app_sets} if app_sets else {}
    response = site({**headers, "cdn-cache-control": "max-age=3600", "surrogate-control": "max-age=3600"}).get(LANDING)
    assert any(h.startswith(f"{COOKIE}=") for h in set_cookie_headers(response))
    assert response.headers.get_list("cache-control") == [sent]
    assert "cdn-cache-control" not in response.headers
    assert "surrogate-control" not in response.headers


def test_a_page_without_our_cookie_keeps_the_apps_caching() -> None:
    c = site({"cache-control": "public, max-age=600", "cdn-cache-control": "max-age=3600"})
    c.get(LANDING)
    later = c.get("/page")  # a returning visitor: nothing written
    assert set_cookie_headers(later) == []
    assert later.headers["cache-control"] == "public, max-age=600"
    assert later.headers["cdn-cache-control"] == "max-age=3600"


def test_a_server_made_fbp_is_private_too() -> None:
    response = site({"cache-control": "public, max-age=600"}, meta_cookies=True).get("/page")
    assert any(h.startswith("_fbp=") for h in set_cookie_headers(response))
    assert response.headers["cache-control"] == "private, max-age=600"


def test_consent_withdrawn_clearing_the_cookie_is_private() -> None:
    consent = {"given": True}
    c = site({"cache-control": "public, max-age=600"}, consent=lambda scope: consent["given"])
    c.get(LANDING)
    consent["given"] = False
    cleared = c.get("/page")
    assert any("Max-Age=0" in h for h in set_cookie_headers(cleared))
    assert cleared.headers["cache-control"] == "private, max-age=600"
