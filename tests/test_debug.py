"""The debug switch: every request says why it was (not) captured, in a header and one log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.capture.cookie import CookieCodec
from attribution.capture.models import Attribution
from attribution.capture.settings import Settings
from attribution.web.middleware import AttributionMiddleware
from tests.helpers import BROWSER_UA, COOKIE, NAVIGATION, SECRET, client, set_cookie_headers

LANDING = "/show?utm_source=spring-newsletter&utm_medium=email&gclid=Cj0KCQdebug"
HEADER = "attribution-debug"
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "python-httpx/0.28.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "",
]


def test_a_browser_landing_says_captured_and_a_reload_says_unchanged() -> None:
    c = client(debug=True)
    first = c.get(LANDING)
    assert first.headers[HEADER] == "captured"
    assert len(set_cookie_headers(first)) == 1
    assert c.get(LANDING).headers[HEADER] == "unchanged"


@pytest.mark.parametrize("agent", BOTS)
def test_a_bot_landing_says_skipped_bot(agent: str) -> None:
    response = client(debug=True).get(LANDING, headers={"user-agent": agent})
    assert response.headers[HEADER] == "skipped=bot"
    assert set_cookie_headers(response) == []


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/plain", {}, "skipped=no-tracked-parameter"),
        ("/plain?page=2&sort=price", {}, "skipped=no-tracked-parameter"),
        ("/static/x?utm_source=google", {}, "skipped=excluded-path"),
        ("/plain", {"referer": "https://shop.example.com/cart"}, "skipped=internal-referrer"),
        ("/plain", {"referer": "https://www.paypal.com/checkoutnow"}, "skipped=internal-referrer"),
        ("/plain", {"referer": "https://www.bing.com/", "sec-fetch-dest": "empty"}, "skipped=not-a-page-load"),
        ("/plain", {"referer": "https://www.bing.com/search?q=shoes"}, "captured"),
    ],
)
def test_each_request_that_is_no_landing_says_why(path: str, headers: dict[str, str], expected: str) -> None:
    response = client(debug=True).get(path, headers=headers)
    assert response.status_code == 200
    assert response.headers[HEADER] == expected


def test_a_post_with_parameters_is_not_a_page_load() -> None:
    response = client(debug=True).post("/plain?utm_source=x")
    assert response.headers[HEADER] == "skipped=not-a-page-load"


def test_refused_consent_says_so_and_clears_the_cookie() -> None:
    consent = {"given": True}
    c = client(debug=True, consent=lambda scope: consent["given"])
    c.get(LANDING)
    consent["given"] = False
    assert c.get(LANDING).headers[HEADER] == "skipped=consent-refused"
    c.get(LANDING)  # the cleared cookie is gone; a landing without consent still says why
    assert c.get("/plain?utm_source=x").headers[HEADER] == "skipped=consent-refused"


def _cookie_signed_by(secret: str) -> str:
    return CookieCodec(Settings.build(secret_key=secret)).encode(Attribution())


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("eyJ0YW1wZXJlZCI6dHJ1ZX0.forged.signature", "bad-signature"),
        (_cookie_signed_by("an-old-key-that-was-rotated-out"), "bad-signature"),
        ("x" * 5000, "too-large"),
    ],
)
def test_a_refused_cookie_is_named_without_its_content(value: str, problem: str) -> None:
    c = client(debug=True)
    c.cookies.set("attribution", value, domain="shop.example.com")
    response = c.get("/plain")
    assert response.headers[HEADER] == f"skipped=no-tracked-parameter; cookie={problem}"
    assert value not in response.headers[HEADER]


def test_an_expired_cookie_says_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = CookieCodec(Settings.build(secret_key=SECRET, max_age=3600))
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 7200)
    old = codec.encode(Attribution())
    monkeypatch.undo()
    c = client(debug=True, max_age=3600)
    c.cookies.set("attribution", old, domain="shop.example.com")
    assert c.get(LANDING).headers[HEADER] == "captured; cookie=expired"


def test_one_log_line_per_request_with_no_cookie_or_captured_value(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = client(debug=True)
    c.get(LANDING)
    caplog.clear()
    cookie = c.cookies.get(COOKIE)
    assert cookie
    c.get(LANDING, headers={"user-agent": BOTS[0]})
    lines = [r.getMessage() for r in caplog.records if r.name == "attribution"]
    assert lines == ["attribution debug: GET /show: skipped=bot"]
    # the test client logs its own request URL; what the library logs is under "attribution"
    everything = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("attribution"))
    for secret in (cookie, "spring-newsletter", "Cj0KCQdebug", SECRET):
        assert secret not in everything


def test_off_by_default_and_on_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTRIBUTION_DEBUG", raising=False)
    assert HEADER not in client().get(LANDING).headers
    monkeypatch.setenv("ATTRIBUTION_DEBUG", "1")
    assert client().get(LANDING).headers[HEADER] == "captured"
    assert HEADER not in client(debug=False).get(LANDING).headers


def test_the_collect_endpoint_says_why_too() -> None:
    c = client(debug=True)
    site = {"origin": "https://shop.example.com", "sec-fetch-site": "same-origin", "content-type": "text/plain"}
    body: dict[str, Any] = {"url": "https://shop.example.com/offer?utm_source=news", "referrer": ""}
    assert c.post("/_attribution/collect", content=json.dumps(body), headers=site).headers[HEADER] == "captured"
    body = {"url": "https://shop.example.com/offer", "referrer": "https://shop.example.com/"}
    answer = c.post("/_attribution/collect", content=json.dumps(body), headers=site)
    assert answer.headers[HEADER] == "skipped=internal-referrer"
    bot = c.post("/_attribution/collect", content=json.dumps(body), headers={**site, "user-agent": "curl/8.5.0"})
    assert bot.headers[HEADER] == "skipped=internal-referrer"
    body = {"url": "https://shop.example.com/offer?utm_source=other"}
    bot = c.post("/_attribution/collect", content=json.dumps(body), headers={**site, "user-agent": "curl/8.5.0"})
    assert bot.headers[HEADER] == "skipped=bot"
    assert BROWSER_UA in c.headers["user-agent"]


@pytest.mark.parametrize("who", ["jane.doe@example.com", "+5511912345678"])
def test_a_path_holding_an_email_or_a_phone_is_logged_masked(caplog: pytest.LogCaptureFixture, who: str) -> None:
    caplog.set_level(logging.DEBUG)
    app = Starlette(routes=[Route("/users/{who}/orders", lambda request: PlainTextResponse("ok"))])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, debug=True)
    response = TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION).get(
        f"/users/{who}/orders?utm_source=x"
    )
    assert response.headers[HEADER] == "captured"
    lines = [r.getMessage() for r in caplog.records if r.name == "attribution"]
    assert len(lines) == 1
    assert lines[0].startswith("attribution debug: GET /users/")
    assert who not in lines[0]
    assert "/orders" in lines[0]
