"""The collect endpoint and the snippet route through real HTTP on the ASGI app.

Every refusal is checked for its status, its JSON error and the absence of a cookie: a refused request
must never plant attribution.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from attribution.capture.cookie import CookieCodec
from attribution.capture.models import Attribution
from attribution.capture.settings import Settings
from attribution.web.collect import MAX_BODY_BYTES
from attribution.web.middleware import AttributionMiddleware
from tests.helpers import BROWSER_UA, COOKIE, NAVIGATION, SECRET, make_app, raw_asgi, set_cookie_headers

SITE = "https://shop.example.com"
COLLECT = "/_attribution/collect"
SCRIPT = "/_attribution/attribution.js"
SCRIPT_BYTES = (
    Path(__file__).resolve().parent.parent / "attribution" / "web" / "static" / "attribution.js"
).read_bytes()
VERSION = hashlib.sha256(SCRIPT_BYTES).hexdigest()[:16]
#: What Chrome sends with the snippet's fetch from one of the site's own pages.
SAME_ORIGIN = {
    "user-agent": BROWSER_UA,
    "origin": SITE,
    "sec-fetch-site": "same-origin",
    "sec-fetch-mode": "cors",
    "sec-fetch-dest": "empty",
    "content-type": "text/plain;charset=UTF-8",
}
LANDING = {"url": f"{SITE}/offer?utm_source=newsletter&utm_medium=email&gclid=Cj0abc", "referrer": ""}


def make_client(base_url: str = SITE, **options: Any) -> TestClient:
    return TestClient(make_app(**options), base_url=base_url)


def post(c: TestClient, body: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return c.post(COLLECT, content=content, headers={**SAME_ORIGIN, **(headers or {})}, **kwargs)


def stored(c: TestClient, **options: Any) -> Attribution:
    """The attribution in the client's cookie jar, read back through the codec."""
    codec = CookieCodec(Settings.build(secret_key=SECRET, **options))
    return codec.decode(c.cookies.get(COOKIE), host=True)


def assert_refused(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert set_cookie_headers(response) == []


# -- recording --------------------------------------------------------------------------------------------


def test_a_reported_landing_sets_the_cookie_and_the_next_page_reads_it() -> None:
    c = make_client()
    response = post(c, LANDING)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["recorded"] is True
    assert body["attribution"] == {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "gclid": "Cj0abc",
        "channel": "paid_search",
        "first_channel": "paid_search",
    }
    (header,) = set_cookie_headers(response)
    assert "HttpOnly" in header
    assert "Secure" in header

    attr = stored(c)
    assert attr.last is not None
    assert attr.last.via == "browser"
    assert attr.last.path == "/offer"
    page = c.get("/show", headers=NAVIGATION).json()
    assert page["utm"] == {"utm_source": "newsletter", "utm_medium": "email"}
    assert page["click_ids"] == {"gclid": "Cj0abc"}


def test_application_json_is_accepted_too() -> None:
    c = make_client()
    response = post(c, LANDING, {"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["recorded"] is True


def test_an_external_referrer_alone_is_a_touch_and_an_internal_one_is_not() -> None:
    c = make_client()
    internal = post(c, {"url": f"{SITE}/a", "referrer": f"{SITE}/b"})
    assert internal.json() == {"attribution": {}, "recorded": False}
    assert set_cookie_headers(internal) == []

    external = post(c, {"url": f"{SITE}/a", "referrer": "https://www.google.com/search?q=shoes"})
    assert external.json()["recorded"] is True
    last = stored(c).last
    assert last is not None
    assert last.referrer == "www.google.com"
    assert last.channel.value == "organic_search"


def test_the_same_landing_seen_by_the_server_and_the_snippet_is_one_touch() -> None:
    c = make_client()
    c.get("/show?utm_source=newsletter&utm_medium=email&gclid=Cj0abc", headers=NAVIGATION)
    assert len(stored(c).history) == 1
    report = {"url": f"{SITE}/show?utm_source=newsletter&utm_medium=email&gclid=Cj0abc", "referrer": ""}
    again = post(c, report)
    assert again.status_code == 200
    assert again.json()["recorded"] is False
    assert set_cookie_headers(again) == []
    assert len(stored(c).history) == 1


def test_record_false_only_answers_with_the_public_part() -> None:
    c = make_client()
    post(c, LANDING)
    answer = post(c, {"url": f"{SITE}/signup?utm_source=other", "referrer": "", "record": False})
    assert answer.status_code == 200
    assert answer.json()["recorded"] is False
    assert answer.json()["attribution"]["utm_source"] == "newsletter"
    assert len(stored(c).history) == 1


def test_browser_id_cookies_on_the_report_are_captured() -> None:
    c = make_client()
    c.cookies.set("_fbp", "fb.1.1700000000000.123456789")
    response = post(c, {"url": f"{SITE}/", "referrer": ""})
    assert response.json()["recorded"] is True
    assert stored(c).identifiers == {"fbp": "fb.1.1700000000000.123456789"}
    # identifiers are not public: the page never sees them
    assert "fbp" not in response.json()["attribution"]


def test_an_excluded_path_is_not_a_landing() -> None:
    c = make_client()
    response = post(c, {"url": f"{SITE}/static/x?utm_source=newsletter", "referrer": ""})
    assert response.json() == {"attribution": {}, "recorded": False}


def test_a_custom_prefix_moves_both_routes() -> None:
    c = make_client(endpoint_prefix="/t/")
    assert c.post("/t/collect", content=json.dumps(LANDING), headers=SAME_ORIGIN).json()["recorded"]
    assert c.get("/t/attribution.js").status_code == 200
    # the default prefix is now the app's own namespace
    assert c.get(SCRIPT).status_code == 404


# -- who may post -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"sec-fetch-site": "cross-site", "origin": "https://evil.example"}, id="cross-site"),
        pytest.param({"sec-fetch-site": "same-site", "origin": "https://blog.shop.example.com"}, id="same-site"),
        pytest.param({"sec-fetch-site": "none", "origin": ""}, id="typed-url"),
        pytest.param({"sec-fetch-site": "", "origin": "https://evil.example"}, id="old-browser-cross"),
        pytest.param({"sec-fetch-site": "", "origin": ""}, id="no-origin-no-fetch-metadata"),
        pytest.param({"sec-fetch-site": "", "origin": "null"}, id="sandboxed-null-origin"),
        pytest.param({"sec-fetch-site": "", "origin": "http://shop.example.com:8080"}, id="other-port"),
        # a cross-site form post carrying JSON in a text/plain body: the classic CSRF shape
        pytest.param(
            {"sec-fetch-site": "cross-site", "origin": "https://evil.example", "sec-fetch-mode": "navigate"},
            id="cross-site-form",
        ),
    ],
)
def test_other_origins_cannot_plant_attribution(headers: dict[str, str]) -> None:
    c = make_client()
    sent = {k: v for k, v in {**SAME_ORIGIN, **headers}.items() if v}
    response = c.post(COLLECT, content=json.dumps(LANDING), headers=sent)
    assert_refused(response, 403, "forbidden_origin")
    assert stored(c).is_empty


def test_an_old_browser_posting_from_the_site_itself_is_accepted() -> None:
    c = make_client()
    headers = {k: v for k, v in SAME_ORIGIN.items() if not k.startswith("sec-fetch")}
    response = c.post(COLLECT, content=json.dumps(LANDING), headers=headers)
    assert response.status_code == 200
    assert response.json()["recorded"] is True


def test_an_https_page_behind_a_tls_terminating_proxy_is_the_same_origin() -> None:
    c = make_client(base_url="http://shop.example.com")  # the app sees plain http
    headers = {k: v for k, v in SAME_ORIGIN.items() if not k.startswith("sec-fetch")}
    response = c.post(COLLECT, content=json.dumps(LANDING), headers=headers)
    assert response.status_code == 200


def test_allowed_origins_may_post_and_read_the_answer() -> None:
    other = "https://www.example.com"
    c = make_client(allowed_origins=[other + "/"])
    headers = {"sec-fetch-site": "same-site", "origin": other}
    response = post(c, {"url": f"{other}/landing?utm_source=partner", "referrer": ""}, headers)
    assert response.status_code == 200
    assert response.json()["recorded"] is True
    assert response.headers["access-control-allow-origin"] == other
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]
    last = stored(c).last
    assert last is not None
    assert last.params == {"utm_source": "partner"}


@pytest.mark.parametrize("configured", ["https://WWW.example.com:443", "https://www.example.com:443/"])
def test_an_allowed_origin_is_matched_as_browsers_write_origin(configured: str) -> None:
    c = make_client(allowed_origins=[configured])
    other = "https://www.example.com"  # browsers leave the default port out of Origin
    headers = {"sec-fetch-site": "same-site", "origin": other}
    response = post(c, {"url": f"{other}/landing?utm_source=partner", "referrer": ""}, headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == other
    refused = post(c, {"url": "https://www.example.com:8443/x", "referrer": ""}, {**headers, "origin": other + ":8443"})
    assert_refused(refused, 403, "forbidden_origin")


def test_same_origin_answers_carry_no_cors_headers() -> None:
    response = post(make_client(), LANDING)
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://evil.example/offer?utm_source=x", "foreign_url"),
        ("http://shop.example.com:8443/offer?utm_source=x", "foreign_url"),
        ("/offer?utm_source=x", "invalid_url"),
        ("javascript:alert(1)//shop.example.com", "invalid_url"),
        ("http://[::1", "invalid_url"),
        ("ftp://shop.example.com/offer?utm_source=x", "invalid_url"),
    ],
)
def test_the_reported_url_must_be_a_page_of_this_site(url: str, error: str) -> None:
    c = make_client()
    assert_refused(post(c, {"url": url, "referrer": ""}), 422, error)


# -- bad bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b'{"url": "x"', b"\xff\xfe{}", b"[" * 4000, b'{"url": NaN'],
)
def test_malformed_json_is_a_400(raw: bytes) -> None:
    assert_refused(post(make_client(), raw), 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": 123}, "url"),
        ({"url": ["https://shop.example.com/"]}, "url"),
        ({}, "url"),
        ({"url": ""}, "url"),
        ({"url": LANDING["url"], "referrer": 5}, "referrer"),
        ({"url": LANDING["url"], "record": "yes"}, "record"),
        ({"url": LANDING["url"] + "&x=" + "a" * 2100}, "url"),
        ([LANDING], "object"),
        ("https://shop.example.com/", "object"),
        (None, "object"),
    ],
)
def test_wrongly_typed_bodies_are_a_422_naming_the_problem(body: Any, field: str) -> None:
    response = post(make_client(), body)
    assert_refused(response, 422, "invalid_body")
    assert field in response.json()["detail"]


def test_an_oversized_body_is_a_413_before_it_is_read() -> None:
    body = {"url": LANDING["url"], "padding": "x" * MAX_BODY_BYTES}
    assert_refused(post(make_client(), body), 413, "body_too_large")


async def test_an_oversized_chunked_body_is_a_413_while_it_is_read() -> None:
    """Driven as raw ASGI, since the test client buffers a streamed body before the app sees it."""
    app = AttributionMiddleware(make_app(), secret_key=SECRET)
    headers = [(k.encode(), v.encode()) for k, v in {**SAME_ORIGIN, "host": "shop.example.com"}.items()]
    scope = {
        "type": "http",
        "method": "POST",
        "path": COLLECT,
        "query_string": b"",
        "headers": headers,  # no content-length: a chunked upload
        "scheme": "https",
        "server": ("shop.example.com", 443),
    }
    received: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append(1)
        return {"type": "http.request", "body": b" " * 1024, "more_body": True}  # never ends

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"] == "body_too_large"
    assert len(received) == MAX_BODY_BYTES // 1024 + 1  # it stopped reading at the limit


def test_a_bad_content_length_is_a_400() -> None:
    c = make_client()
    response = c.post(COLLECT, content=b"{}", headers={**SAME_ORIGIN, "content-length": "abc"})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""])
def test_other_content_types_are_a_415(content_type: str) -> None:
    headers = {k: v for k, v in SAME_ORIGIN.items() if k != "content-type"}
    if content_type:
        headers["content-type"] = content_type
    response = make_client().post(COLLECT, content=json.dumps(LANDING), headers=headers)
    assert_refused(response, 415, "unsupported_media_type")


def test_odd_inputs_never_get_a_500() -> None:
    c = make_client()
    bodies: list[Any] = [
        {"url": "https://shop.example.com/%ff%00?utm_source=%00%ff&gclid=" + "é" * 10},
        {"url": "https://shop.example.com:99999/"},
        {"url": "https://user:pw@shop.example.com/?utm_source=x"},
        {"url": "https://shop.example.com/?" + "&".join(f"utm_source={i}" for i in range(300))},
        {"url": LANDING["url"], "referrer": "http://[::1"},
        {"url": LANDING["url"], "referrer": "android-app://com.google.android.gm/"},
        {"url": LANDING["url"], "referrer": None, "record": True, "extra": {"nested": [1, 2]}},
        {"url": "https:///nohost"},
        {"url": "\x00"},
        {"url": LANDING["url"], "referrer": "\ud800"},
        1e999,
        True,
    ]
    for body in bodies:
        response = post(c, json.dumps(body).encode())
        assert response.status_code < 500, (body, response.text)
        assert "error" in response.json() or "attribution" in response.json()


# -- who is recorded --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_agent",
    [
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0",
        "",
    ],
)
def test_bots_are_not_recorded(user_agent: str) -> None:
    c = make_client()
    response = post(c, LANDING, {"user-agent": user_agent})
    assert response.status_code == 200
    assert response.json() == {"attribution": {}, "recorded": False}
    assert set_cookie_headers(response) == []


def test_bots_are_recorded_when_asked_to() -> None:
    c = make_client(capture_bots=True)
    response = post(c, LANDING, {"user-agent": "Googlebot/2.1"})
    assert response.json()["recorded"] is True


def test_visitors_without_consent_are_not_recorded_and_their_cookie_is_cleared() -> None:
    consenting = {"yes": True}
    c = make_client(consent=lambda scope: consenting["yes"])
    assert post(c, LANDING).json()["recorded"] is True
    assert not stored(c).is_empty

    consenting["yes"] = False
    response = post(c, {"url": f"{SITE}/other?utm_source=again", "referrer": ""})
    assert response.status_code == 200
    assert response.json() == {"attribution": {}, "recorded": False}
    (header,) = set_cookie_headers(response)
    assert "Max-Age=0" in header
    assert stored(c).is_empty


def test_a_failing_consent_hook_means_no_consent() -> None:
    def broken(scope: Any) -> bool:
        raise RuntimeError("consent service down")

    response = post(make_client(consent=broken), LANDING)
    assert response.status_code == 200
    assert response.json() == {"attribution": {}, "recorded": False}


# -- routes -----------------------------------------------------------------------------------------------


def test_unknown_paths_under_the_prefix_are_a_json_404() -> None:
    response = make_client().get("/_attribution/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("GET", COLLECT, "POST"), ("PUT", COLLECT, "POST"), ("POST", SCRIPT, "GET, HEAD")],
)
def test_wrong_methods_are_a_405_with_allow(method: str, path: str, allow: str) -> None:
    response = make_client().request(method, path, headers=SAME_ORIGIN)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"] == "method_not_allowed"


# -- the script -------------------------------------------------------------------------------------------


def test_the_script_is_served_with_its_etag_and_a_short_cache() -> None:
    response = make_client().get(SCRIPT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.content == SCRIPT_BYTES
    assert response.headers["etag"] == f'"{VERSION}"'
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in response.headers


def test_the_versioned_script_is_immutable_and_an_old_version_is_not() -> None:
    c = make_client()
    assert c.get(f"{SCRIPT}?v={VERSION}").headers["cache-control"] == "public, max-age=31536000, immutable"
    assert c.get(f"{SCRIPT}?v=0123456789abcdef").headers["cache-control"] == "public, max-age=300"


@pytest.mark.parametrize("tag", [f'"{VERSION}"', f'W/"{VERSION}"', f'"other", "{VERSION}"', "*"])
def test_if_none_match_gets_a_304_without_a_body(tag: str) -> None:
    response = make_client().get(f"{SCRIPT}?v={VERSION}", headers={"if-none-match": tag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == f'"{VERSION}"'
    assert response.headers["cache-control"].endswith("immutable")


def test_a_stale_etag_gets_the_script() -> None:
    response = make_client().get(SCRIPT, headers={"if-none-match": '"0123456789abcdef"'})
    assert response.status_code == 200
    assert response.content == SCRIPT_BYTES


def test_head_gets_the_headers_without_the_body() -> None:
    response = make_client().head(SCRIPT)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(SCRIPT_BYTES))
    assert response.headers["etag"] == f'"{VERSION}"'


# -- hostile headers: never a 500 -------------------------------------------------------------------------


async def raw_request(
    method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request as raw ASGI, so header bytes reach the app exactly as a server could pass them."""
    path, _, query = path.partition("?")
    return await raw_asgi(make_app(), method, path, query.encode(), headers, body)


def _headers(**overrides: bytes) -> list[tuple[bytes, bytes]]:
    base = {k.encode(): v.encode() for k, v in {**SAME_ORIGIN, "host": "shop.example.com"}.items()}
    base.update({k.replace("_", "-").encode(): v for k, v in overrides.items()})
    return list(base.items())


@pytest.mark.parametrize(
    "length",
    [
        b"\xb2",
        b"\xb9\xb3",
        "١٢".encode(),
        b"9" * 5000,
        b"99999999999999999999",
        b"-1",
        b"+2",
        b"1e3",
        b"0x10",
        b" ",
        b"\x00",
    ],
)
async def test_a_content_length_that_is_not_ascii_digits_is_a_4xx(length: bytes) -> None:
    body = json.dumps(LANDING).encode()
    status, _, answer = await raw_request("POST", COLLECT, _headers(content_length=length), body)
    assert status in (400, 413)
    assert json.loads(answer)["error"] in ("bad_request", "body_too_large")


async def test_conflicting_content_lengths_are_a_400_and_equal_ones_are_fine() -> None:
    body = json.dumps(LANDING).encode()
    size = str(len(body)).encode()
    status, _, answer = await raw_request(
        "POST", COLLECT, [*_headers(), (b"content-length", size), (b"content-length", b"4000")], body
    )
    assert status == 400
    assert json.loads(answer)["error"] == "bad_request"
    status, _, answer = await raw_request(
        "POST", COLLECT, [*_headers(), (b"content-length", size), (b"content-length", size)], body
    )
    assert status == 200
    assert json.loads(answer)["recorded"] is True


HOSTILE_VALUES = [
    b"\xff\xfe\xfd",
    b"\x00",
    b"[",
    b"[::1",
    b"a:b:c:",
    b"http://[",
    b"\xb2" * 10,
    b"x" * 100_000,
    b";;=;",
    b"==",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize(
    "name", ["host", "origin", "sec_fetch_site", "content_type", "cookie", "user_agent", "referer", "if_none_match"]
)
async def test_no_header_bytes_make_the_collect_endpoint_or_a_page_answer_500(name: str, value: bytes) -> None:
    status, _, answer = await raw_request("POST", COLLECT, _headers(**{name: value}), json.dumps(LANDING).encode())
    assert status < 500
    assert "error" in json.loads(answer) or "attribution" in json.loads(answer)
    status, _, _ = await raw_request("GET", SCRIPT, _headers(**{name: value}))
    assert status < 500
    status, _, _ = await raw_request("GET", "/show?utm_source=x&gclid=abc", _headers(**{name: value}))
    assert status == 200
