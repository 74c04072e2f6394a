"""The middleware through real HTTP on the ASGI app: capture, the cookie's attributes, laziness, consent."""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from attribution.capture.cookie import CookieCodec
from attribution.errors import MiddlewareNotInstalledError
from attribution.web.middleware import AttributionMiddleware, get_attribution
from tests.helpers import BROWSER_UA, COOKIE, NAVIGATION, SECRET, client, make_app, set_cookie_headers

LANDING = "/show?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=Cj0KCQ"


def test_a_landing_sets_one_signed_httponly_cookie_and_the_next_page_reads_it() -> None:
    c = client()
    first = c.get(LANDING)
    assert first.status_code == 200
    cookies = set_cookie_headers(first)
    assert len(cookies) == 1
    header = cookies[0]
    assert header.startswith(f"{COOKIE}=")  # Secure and host-only: a name no other host can set
    for attribute in ("Path=/", "HttpOnly", "SameSite=Lax", "Secure", f"Max-Age={90 * 86400}"):
        assert attribute in header
    assert first.json()["utm"] == {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"}

    later = c.get("/show")
    assert later.json()["click_ids"] == {"gclid": "Cj0KCQ"}
    assert later.json()["channel"] == "paid_search"
    assert set_cookie_headers(later) == []  # nothing changed: nothing written


@pytest.mark.parametrize(
    ("base_url", "secure"),
    [
        ("http://localhost:8000", False),
        ("http://127.0.0.1:8000", False),
        ("http://[::1]:8000", False),
        ("http://shop.example.com", True),
        ("https://shop.example.com", True),
        ("https://localhost", True),
    ],
)
def test_secure_except_on_plain_http_localhost(base_url: str, secure: bool) -> None:
    response = client(base_url=base_url).get(LANDING)
    (header,) = set_cookie_headers(response)
    assert ("; Secure" in header) is secure


def test_secure_can_be_forced_off_and_domain_set() -> None:
    response = client(secure=False, domain=".example.com").get(LANDING)
    (header,) = set_cookie_headers(response)
    assert "Secure" not in header
    assert "Domain=example.com" in header


def test_vary_cookie_only_when_the_attribution_was_read_or_written() -> None:
    c = client()
    c.get(LANDING)
    assert "cookie" in c.get("/show").headers.get("vary", "").lower()
    assert "vary" not in c.get("/plain").headers


@pytest.mark.parametrize(
    ("app_vary", "expected"),
    [
        (None, "Cookie"),
        ("Accept-Encoding", "Accept-Encoding, Cookie"),
        ("Accept-Encoding, Origin", "Accept-Encoding, Origin, Cookie"),
        ("Accept-Encoding, cookie", "Accept-Encoding, cookie"),  # named already: not repeated
        ("*", "*"),  # varies by everything already
    ],
)
def test_vary_cookie_joins_the_apps_own_vary_in_one_header(app_vary: str | None, expected: str) -> None:
    async def page(request: Request) -> PlainTextResponse:
        get_attribution(request)
        return PlainTextResponse("ok", headers={"vary": app_vary} if app_vary else None)

    app = AttributionMiddleware(Starlette(routes=[Route("/", page)]), secret_key=SECRET)
    c = TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION)
    for path in ("/?utm_source=google", "/"):  # written, then read
        varies = [v for k, v in c.get(path).headers.multi_items() if k.lower() == "vary"]
        assert varies == [expected]


@pytest.mark.parametrize("headers", [None, (), ((b"content-type", b"text/plain"),)])
def test_a_raw_asgi_app_may_send_no_headers_or_a_tuple_of_them(headers: Any) -> None:
    async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        get_attribution(scope)
        start: dict[str, Any] = {"type": "http.response.start", "status": 200}
        if headers is not None:
            start["headers"] = headers
        await send(start)
        await send({"type": "http.response.body", "body": b"ok"})

    c = TestClient(AttributionMiddleware(raw_app, secret_key=SECRET), base_url="https://shop.example.com")
    for path in ("/?utm_source=google", "/"):  # written (and read), then read only
        response = c.get(path, headers=NAVIGATION)
        assert response.status_code == 200
        assert response.headers["vary"] == "Cookie"
    assert set_cookie_headers(c.get("/?utm_source=news", headers=NAVIGATION))


def test_a_request_that_neither_captures_nor_reads_never_decodes_the_cookie(monkeypatch: pytest.MonkeyPatch) -> None:
    c = client()
    c.get(LANDING)
    calls = []
    original = CookieCodec.read
    monkeypatch.setattr(CookieCodec, "read", lambda self, raw, **kw: calls.append(raw) or original(self, raw, **kw))
    c.get("/plain")
    assert calls == []
    c.get("/show")
    assert len(calls) == 1


def test_a_direct_visit_never_replaces_the_last_touch() -> None:
    c = client()
    c.get(LANDING)
    body = c.get("/show").json()  # no parameters, no referrer: direct
    assert body["channel"] == "paid_search"
    assert body["history"] == 1


def test_an_external_referrer_on_a_page_load_is_a_touch_but_not_on_a_fetch() -> None:
    c = client()
    fetch = c.get("/show", headers={"referer": "https://www.bing.com/", "sec-fetch-dest": "empty"})
    assert fetch.json()["history"] == 0
    page = c.get("/show", headers={"referer": "https://www.bing.com/search?q=shoes"})
    assert page.json()["channel"] == "organic_search"
    assert page.json()["last"]["referrer"] == "www.bing.com"
    internal = c.get("/show", headers={"referer": "https://shop.example.com/cart"})
    assert internal.json()["history"] == 1


def test_post_requests_are_not_landings() -> None:
    app = Starlette(routes=[Route("/form", lambda r: PlainTextResponse("ok"), methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET)
    response = TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION).post("/form?utm_source=x")
    assert set_cookie_headers(response) == []


def test_bots_are_not_captured() -> None:
    c = client()
    for agent in ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "curl/8.5.0", ""):
        response = c.get(LANDING, headers={"user-agent": agent})
        assert response.status_code == 200
        assert set_cookie_headers(response) == []
        assert response.json()["utm"] == {}


def test_bots_can_be_captured_when_asked() -> None:
    response = client(capture_bots=True).get(LANDING, headers={"user-agent": "curl/8.5.0"})
    assert len(set_cookie_headers(response)) == 1


def test_excluded_paths_are_not_captured() -> None:
    assert set_cookie_headers(client().get("/static/x?utm_source=google")) == []
    custom = client(excluded_paths=["/plain"])
    assert set_cookie_headers(custom.get("/plain?utm_source=google")) == []
    assert len(set_cookie_headers(custom.get("/static/x?utm_source=google"))) == 1


def test_without_consent_nothing_is_captured_and_an_existing_cookie_is_cleared() -> None:
    consenting = {"yes": True}
    c = client(consent=lambda scope: consenting["yes"])
    c.get(LANDING)
    consenting["yes"] = False
    response = c.get("/show?utm_source=other")
    (header,) = set_cookie_headers(response)
    assert header.startswith(f'{COOKIE}=""')
    assert "Max-Age=0" in header
    assert c.get("/show").json()["utm"] == {}
    assert set_cookie_headers(c.get(LANDING)) == []


def test_a_failing_consent_hook_means_no_consent_and_the_site_keeps_serving() -> None:
    def broken(scope: Any) -> bool:
        raise RuntimeError("consent service down")

    response = client(consent=broken).get(LANDING)
    assert response.status_code == 200
    assert set_cookie_headers(response) == []


def test_browser_id_cookies_are_captured_on_any_page_and_written_once() -> None:
    c = client()
    c.cookies.set("_fbp", "fb.1.1700000000000.1234", domain="shop.example.com")
    c.cookies.set("_ga", "GA1.1.555.1700000000", domain="shop.example.com")
    first = c.get("/show")
    assert first.json()["identifiers"] == {"fbp": "fb.1.1700000000000.1234", "ga": "555.1700000000"}
    assert len(set_cookie_headers(first)) == 1
    assert set_cookie_headers(c.get("/show")) == []


@pytest.mark.parametrize(
    ("cookie", "name", "value"),
    [
        ("dp_pid=4f1c2a9e", "dp_pid", "4f1c2a9e"),
        ("_fbp=fb.1.1700000000000.1234", "fbp", "fb.1.1700000000000.1234"),
        ("_fbc=fb.1.1700000000000.IwAR2x", "fbc", "fb.1.1700000000000.IwAR2x"),
        ("_ga=GA1.1.555.1700000000", "ga", "555.1700000000"),
        ("_ttp=2abcTTPxyz", "ttp", "2abcTTPxyz"),
        ("_wuid=wuid_8c1f", "wuid", "wuid_8c1f"),
        ("_rdtrk=rd-3f2a-77", "rdtrk", "rd-3f2a-77"),
    ],
)
def test_a_browser_id_cookie_that_arrives_alone_is_captured(cookie: str, name: str, value: str) -> None:
    c = client()
    first = c.get("/plain", headers={"cookie": cookie})  # a direct visitor: the id is the only cookie
    assert len(set_cookie_headers(first)) == 1
    assert c.get("/show").json()["identifiers"] == {name: value}


@pytest.mark.parametrize("cookie", ["csrftoken=abc", "x_ga=GA1.1.555.1700000000", "my_fbp=fb.1.1.1"])
def test_a_lone_cookie_that_only_resembles_a_browser_id_is_not_captured(cookie: str) -> None:
    response = client().get("/show", headers={"cookie": cookie})
    assert response.json()["identifiers"] == {}
    assert set_cookie_headers(response) == []


def test_click_ids_expire_after_their_window() -> None:
    now = {"t": datetime(2026, 1, 1, tzinfo=UTC)}
    c = client(clock=lambda: now["t"], click_id_windows={"gclid": 30})
    c.get(LANDING + "&ttclid=T1")
    now["t"] += timedelta(days=27)
    assert c.get("/show").json()["click_ids"] == {"gclid": "Cj0KCQ", "ttclid": "T1"}
    now["t"] += timedelta(days=2)  # day 29: past ttclid's 28-day default, inside gclid's configured 30
    assert c.get("/show").json()["click_ids"] == {"gclid": "Cj0KCQ"}
    now["t"] += timedelta(days=2)  # day 31: both expired; the campaign itself is still remembered
    body = c.get("/show").json()
    assert body["click_ids"] == {}
    assert body["utm"]["utm_campaign"] == "spring"


def test_a_tampered_cookie_is_ignored_and_replaced() -> None:
    c = client()
    c.cookies.set("attribution", "eyJ0YW1wZXJlZCI6dHJ1ZX0.forged.signature", domain="shop.example.com")
    shown = c.get("/show")
    assert shown.status_code == 200
    assert shown.json()["utm"] == {}
    landing = c.get(LANDING)
    written, deleted = set_cookie_headers(landing)
    assert written.startswith(f"{COOKIE}=")
    assert deleted.startswith('attribution=""; Path=/; Max-Age=0')  # the forged plain-named value goes
    assert c.get("/show").json()["utm"]["utm_source"] == "google"


@pytest.mark.parametrize(
    "query",
    [
        "utm_source=" + "x" * 10_000,
        "&".join(f"k{i}=v" for i in range(1000)) + "&utm_source=many",
        "utm_source=%zz%&gclid=%",
        "utm_source=a%00b",
        "utm_source=%FF%FE",
        "utm_source=%F0%9F%98%80",
        "utm_source=a&utm_source=b",
        "utm_source=",
    ],
)
def test_absurd_query_strings_never_break_the_site(query: str) -> None:
    response = client().get("/show?" + query)
    assert response.status_code == 200
    for value in response.json()["utm"].values():
        assert "\x00" not in value
        assert len(value) <= 200


def test_raw_non_utf8_bytes_in_the_query_string() -> None:
    app = make_app()
    scope_query = b"utm_source=\xff\xfe&gclid=ok"
    seen: dict[str, Any] = {}

    async def run() -> None:
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "https",
            "path": "/show",
            "raw_path": b"/show",
            "query_string": scope_query,
            "root_path": "",
            "headers": [(b"host", b"shop.example.com"), (b"user-agent", BROWSER_UA.encode())],
            "client": ("1.2.3.4", 1234),
            "server": ("shop.example.com", 443),
        }
        await app(scope, receive, send)
        seen["status"] = messages[0]["status"]
        seen["body"] = b"".join(m.get("body", b"") for m in messages[1:])

    import anyio

    anyio.run(run)
    assert seen["status"] == 200
    assert b'"gclid":"ok"' in seen["body"]


def test_websocket_and_lifespan_pass_through_untouched() -> None:
    events: list[str] = []

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        assert "attribution" not in websocket.scope
        await websocket.send_text("hi " + await websocket.receive_text())
        await websocket.close()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(routes=[WebSocketRoute("/ws", echo)], lifespan=lifespan)
    app.add_middleware(AttributionMiddleware, secret_key=SECRET)
    with TestClient(app) as c, c.websocket_connect("/ws?utm_source=x") as ws:
        ws.send_text("there")
        assert ws.receive_text() == "hi there"
    assert events == ["startup", "shutdown"]


def test_get_attribution_without_the_middleware_says_how_to_fix_it() -> None:
    async def page(request: Request) -> PlainTextResponse:
        get_attribution(request)
        return PlainTextResponse("unreachable")

    app = Starlette(routes=[Route("/", page)])
    with pytest.raises(MiddlewareNotInstalledError, match="AttributionMiddleware"):
        TestClient(app).get("/")


def test_get_attribution_accepts_a_raw_scope_and_scope_attribution_reads_lazily() -> None:
    seen: dict[str, Any] = {}

    async def page(request: Request) -> PlainTextResponse:
        seen["from_scope"] = get_attribution(request.scope).utm
        seen["lazy"] = request.scope["attribution"].get("utm_source")
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", page)])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET)
    TestClient(app, base_url="https://a.example", headers=NAVIGATION).get("/?utm_source=mail")
    assert seen == {"from_scope": {"utm_source": "mail"}, "lazy": "mail"}


def test_a_short_secret_key_is_a_clear_configuration_error() -> None:
    from attribution.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        AttributionMiddleware(make_app(), secret_key="short")
    with pytest.raises(ConfigurationError, match="400 days"):
        AttributionMiddleware(make_app(), secret_key=SECRET, max_age=timedelta(days=401))


def test_a_second_middleware_inside_the_first_never_captures_twice() -> None:
    inner = make_app()  # wrapped once already
    outer = AttributionMiddleware(inner, secret_key=SECRET)
    response = TestClient(outer, base_url="https://shop.example.com", headers=NAVIGATION).get(LANDING)
    assert len(set_cookie_headers(response)) == 1
    assert response.json()["click_ids"] == {"gclid": "Cj0KCQ"}


@pytest.mark.parametrize("path", ["/landing?utm_source=google&gclid=Cj0KCQ", "/read"])
def test_a_response_start_without_headers_still_gets_the_cookie(path: str) -> None:
    """ASGI makes ``headers`` optional in ``http.response.start``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/read":
            get_attribution(scope)
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"ok"})

    c = TestClient(
        AttributionMiddleware(app, secret_key=SECRET), base_url="https://shop.example.com", headers=NAVIGATION
    )
    response = c.get(path)
    assert response.status_code == 200
    assert response.text == "ok"
    assert "cookie" in response.headers["vary"].lower()
    assert len(set_cookie_headers(response)) == (1 if "utm_source" in path else 0)


def test_a_returning_visitor_whose_id_cookies_are_stored_costs_no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    import attribution.web.middleware as middleware_module
    from attribution.web.requestinfo import RequestInfo

    c = client()
    c.cookies.set("_fbp", "fb.1.1700000000000.1234", domain="shop.example.com")
    c.cookies.set("_ga", "GA1.1.555.1700000000", domain="shop.example.com")
    c.cookies.set("x_ga", "GA1.1.999.1700000000", domain="shop.example.com")  # only looks like one
    assert len(set_cookie_headers(c.get("/plain"))) == 1
    parsed: list[str] = []
    monkeypatch.setattr(middleware_module, "cookie_parser", lambda header: parsed.append(header) or {})
    built: list[int] = []
    original = RequestInfo.from_scope
    monkeypatch.setattr(RequestInfo, "from_scope", classmethod(lambda cls, scope: built.append(1) or original(scope)))
    again = c.get("/plain")
    assert set_cookie_headers(again) == []
    assert (parsed, built) == ([], [])
    # a changed id takes the full path and is written
    monkeypatch.undo()
    c.cookies.set("_ga", "GA1.1.777.1800000000", domain="shop.example.com")
    changed = c.get("/plain")
    assert len(set_cookie_headers(changed)) == 1
    assert c.get("/show").json()["identifiers"] == {"fbp": "fb.1.1700000000000.1234", "ga": "777.1800000000"}


def test_a_returning_visitors_header_is_remembered_until_the_cookie_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    import attribution.web.middleware as middleware_module
    from attribution.capture import cookie as cookie_module

    c = client(max_age=60)
    c.cookies.set("_fbp", "fb.1.1700000000000.1234", domain="shop.example.com")
    c.cookies.set("_ga", "GA1.1.555.1700000000", domain="shop.example.com")
    assert len(set_cookie_headers(c.get("/plain"))) == 1
    assert set_cookie_headers(c.get("/plain")) == []  # ids compared with the payload, and the header kept
    reads: list[object] = []
    original = CookieCodec.read
    monkeypatch.setattr(CookieCodec, "read", lambda self, raw, **kw: reads.append(raw) or original(self, raw, **kw))
    assert set_cookie_headers(c.get("/plain")) == []
    assert reads == []  # the same header again: not even the cookie is looked up
    # past the cookie's max_age the remembered header counts for nothing: the cookie reads as expired,
    # and the ids are captured into a new one
    later = middleware_module._now() + 61
    monkeypatch.setattr(middleware_module, "_now", lambda: later)
    monkeypatch.setattr(cookie_module, "_now", lambda: later)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(later))
    assert len(set_cookie_headers(c.get("/plain"))) == 1
    assert reads != []


def test_a_header_with_no_id_cookie_is_remembered_and_never_verified(monkeypatch: pytest.MonkeyPatch) -> None:
    import attribution.web.middleware as middleware_module

    app = AttributionMiddleware(make_app(), secret_key=SECRET)
    c = TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION)
    assert len(set_cookie_headers(c.get(LANDING))) == 1
    c.cookies.set("sessionid", "s_fbp=1.2.3", domain="shop.example.com")  # an id cookie's name, inside a value
    c.cookies.set("theme", "dark", domain="shop.example.com")
    reads: list[object] = []
    original = CookieCodec.read
    monkeypatch.setattr(CookieCodec, "read", lambda self, raw, **kw: reads.append(raw) or original(self, raw, **kw))
    parsed: list[str] = []
    monkeypatch.setattr(middleware_module, "cookie_parser", lambda header: parsed.append(header) or {})
    for _ in range(2):
        assert set_cookie_headers(c.get("/plain")) == []
    assert (reads, parsed) == ([], [])
    (header,) = [h for h in app._settled._entries if "theme=dark" in h]
    assert app._settled.get(header) == math.inf  # no id cookie: nothing in it can ever be new
    # an id cookie arriving later makes a new header, which is compared and captured
    monkeypatch.undo()
    c.cookies.set("_ttp", "ttp-1", domain="shop.example.com")
    assert len(set_cookie_headers(c.get("/plain"))) == 1
    assert c.get("/show").json()["identifiers"] == {"ttp": "ttp-1"}


def test_id_cookies_are_compared_wherever_and_however_often_they_appear(monkeypatch: pytest.MonkeyPatch) -> None:
    import attribution.web.middleware as middleware_module

    c = client()
    c.cookies.set("_fbp", "fb.1.1700000000000.1234", domain="shop.example.com")
    c.cookies.set("_ga", "GA1.1.555.1700000000", domain="shop.example.com")
    c.get("/plain")
    stored = f"{COOKIE}={c.cookies[COOKIE]}"
    c.cookies.clear()
    parsed: list[str] = []
    original = middleware_module.cookie_parser
    monkeypatch.setattr(middleware_module, "cookie_parser", lambda header: parsed.append(header) or original(header))

    def visit(header: str) -> list[str]:
        return set_cookie_headers(c.get("/plain", headers={"cookie": header}))

    ids = "_ga=GA1.1.555.1700000000; _fbp=fb.1.1700000000000.1234"
    for hit in range(3):  # GA4's session cookie changes on every page: a new header each time, still no parse
        assert visit(f"{ids}; _ga_ABC123=GS1.1.170000000{hit}.5.1.0.0; {stored}; csrftoken=x") == []
    assert parsed == []
    # a quoted value is left to the parse, which reads the same id: nothing to write
    assert visit(f'_fbp="fb.1.1700000000000.1234"; {stored}') == []
    assert len(parsed) == 1
    # the same cookie twice with another value: the parse decides (its last value wins) and it is captured
    (written,) = visit(f"{ids}; {stored}; _fbp=fb.1.1700000000000.9999")
    assert len(parsed) == 2
    c.cookies.clear()
    value = written.split(";", 1)[0].split("=", 1)[1]
    c.cookies.set(COOKIE, value, domain="shop.example.com")
    assert c.get("/show").json()["identifiers"]["fbp"] == "fb.1.1700000000000.9999"


def test_remembered_headers_stay_within_their_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import attribution.web.middleware as middleware_module

    monkeypatch.setattr(middleware_module, "SETTLED_BYTES", 4096)
    app = AttributionMiddleware(make_app(), secret_key=SECRET)
    c = TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION)
    c.cookies.set("_fbp", "fb.1.1700000000000.1234", domain="shop.example.com")
    c.get("/plain")
    for i in range(100):  # the same visitor with ever new other cookies: a new header each time
        c.cookies.set("other", f"v{i}", domain="shop.example.com")
        assert set_cookie_headers(c.get("/plain")) == []
    assert 0 < app._settled.size <= 4096
    assert len(app._settled) < 100


@pytest.mark.parametrize("new", [("_fbp", "fb.1.1700000000000.9999"), ("_ttp", "newTTP1"), ("dp_pid", "p-2")])
def test_a_new_or_changed_id_next_to_stored_ones_is_captured(new: tuple[str, str]) -> None:
    c = client()
    c.cookies.set("_fbp", "fb.1.1700000000000.1234", domain="shop.example.com")
    c.get("/plain")
    c.cookies.set(*new, domain="shop.example.com")
    assert len(set_cookie_headers(c.get("/plain"))) == 1
    identifiers = c.get("/show").json()["identifiers"]
    assert identifiers[{"_fbp": "fbp", "_ttp": "ttp", "dp_pid": "dp_pid"}[new[0]]] == new[1]


def test_consent_withdrawn_clears_the_cookie_of_a_returning_visitor_with_ids() -> None:
    consent = {"given": True}
    c = client(consent=lambda scope: consent["given"])
    c.cookies.set("_fbp", "fb.1.1700000000000.1234", domain="shop.example.com")
    c.get(LANDING)
    consent["given"] = False
    (header,) = set_cookie_headers(c.get("/plain"))
    assert "Max-Age=0" in header


def test_an_older_fbc_cookie_does_not_bring_back_the_click_a_newer_fbclid_replaced() -> None:
    site = client()
    site.cookies.set("_fbc", "fb.1.1700000000000.OLDCLICK", domain="shop.example.com")
    first = site.get("/show?fbclid=NEWCLICK").json()["identifiers"]["fbc"]
    assert first.startswith("fb.1.")
    assert first.endswith(".NEWCLICK")
    # The browser still sends the pixel's old _fbc: the click kept is the newer one.
    assert site.get("/show").json()["identifiers"]["fbc"] == first
    # A click the pixel recorded later than ours is taken.
    newer = f"fb.1.{int(first.split('.')[2]) + 5000}.LATERCLICK"
    site.cookies.set("_fbc", newer, domain="shop.example.com")
    assert site.get("/show").json()["identifiers"]["fbc"] == newer


def test_undecodable_bytes_in_a_utm_value_are_dropped_not_stored_as_replacement_characters() -> None:
    shown = client().get("/show?utm_source=news%C0%AFletter&utm_campaign=%E0%80%AF").json()
    assert shown["utm"] == {"utm_source": "newsletter"}
