"""The edge under generated hostile input: whatever a browser, a proxy or an attacker sends, pages keep serving,
the cookie the site writes reads back and stays under 4 KB, and the collect endpoint answers 200 or a JSON 4xx.

Requests are raw ASGI messages, so any bytes (NUL, invalid or overlong UTF-8, 10,000 parameters) reach the
middleware exactly as a server could pass them.
"""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from attribution import AttributionMiddleware, get_attribution
from tests.support.helpers import BROWSER_UA, SECRET, raw_asgi

HOST = b"shop.example.com"
PAGE = [(b"host", HOST), (b"user-agent", BROWSER_UA.encode()), (b"sec-fetch-dest", b"document")]
SAME_ORIGIN = [
    (b"host", HOST),
    (b"user-agent", BROWSER_UA.encode()),
    (b"sec-fetch-site", b"same-origin"),
    (b"content-type", b"application/json"),
]
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


async def show(request: Request) -> JSONResponse:
    attr = get_attribution(request)
    return JSONResponse({"utm": attr.utm, "click_ids": attr.click_ids, "identifiers": attr.identifiers})


APP = AttributionMiddleware(Starlette(routes=[Route("/{path:path}", show)]), secret_key=SECRET, meta_cookies=True)


def call(
    method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return asyncio.run(raw_asgi(APP, method, path, query, headers, body))


def set_cookies(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return {v.split(b"=", 1)[0]: v.split(b";", 1)[0] for k, v in headers if k == b"set-cookie"}


TRACKED = st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "gclid", "fbclid", "ttclid", "ctwa_clid"])
NASTY_BYTES = st.sampled_from(
    [b"%00", b"\x00", b"%ZZ", b"%", b"%C0%AF", b"%E0%80%AF", b"%ED%A0%80", b"\xff\xfe", b"+", b"&", b"=", b";", b"%25"]
)
VALUE = st.lists(st.one_of(st.binary(max_size=40), NASTY_BYTES, st.just(b"a" * 600)), max_size=6).map(b"".join)
PAIR = st.tuples(st.one_of(TRACKED.map(str.encode), st.binary(max_size=12)), VALUE).map(lambda kv: kv[0] + b"=" + kv[1])
QUERY = st.one_of(
    st.lists(PAIR, max_size=30).map(b"&".join),
    st.integers(1, 12_000).map(lambda n: b"&".join(b"utm_source=%d" % i for i in range(n)) + b"&gclid=late"),
)


@FUZZ
@given(query=QUERY)
def test_any_query_string_serves_the_page_and_the_cookie_written_reads_back(query: bytes) -> None:
    status, headers, body = call("GET", "/landing", query, PAGE)
    assert status == 200
    seen = json.loads(body)
    cookies = set_cookies(headers)
    assert all(len(value) < 4096 for value in cookies.values())
    if b"attribution" in cookies:
        back = [*PAGE, (b"cookie", b"; ".join(cookies.values()))]
        again_status, again_headers, again = call("GET", "/next", b"", back)
        assert again_status == 200
        assert json.loads(again) == seen  # what the first response wrote is exactly what comes back
        assert b"attribution" not in set_cookies(again_headers)


COOKIE_NAME = st.sampled_from([b"attribution", b"_fbp", b"_fbc", b"_ga", b"_ttp", b"dp_pid", b"_gcl_aw", b"x"])
COOKIE_VALUE = st.one_of(
    st.binary(max_size=60),
    st.just(b"A" * 20_000),
    st.just(b"fb.1.1700000000000." + b"9" * 20_000),
    st.just(b"GA1.1." + b"." * 3000),
    st.sampled_from([b'"', b"\xc3\xa9\xe4\xb8\xad", b"\x00", b"=", b".eJx", b"fb.1.2.<b>"]),
)
COOKIE = st.lists(st.tuples(COOKIE_NAME, COOKIE_VALUE), max_size=8).map(
    lambda pairs: b"; ".join(name + b"=" + value for name, value in pairs)
)


@FUZZ
@given(cookie=COOKIE, query=st.sampled_from([b"", b"utm_source=news&fbclid=IwAR-x_1"]))
def test_any_cookie_header_serves_the_page_and_nothing_written_is_oversized(cookie: bytes, query: bytes) -> None:
    status, headers, _ = call("GET", "/page", query, [*PAGE, (b"cookie", cookie)])
    assert status == 200
    assert all(len(value) < 4096 for value in set_cookies(headers).values())


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
JSON_ANY = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner))
BODY = st.one_of(
    st.binary(max_size=200),
    JSON_ANY.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {"url": st.one_of(JSON_ANY, st.just("https://shop.example.com/?utm_source=x"), st.text(max_size=80))},
        optional={"referrer": JSON_ANY, "record": JSON_ANY},
    ).map(lambda value: json.dumps(value).encode()),
    st.integers(1, 3000).map(lambda depth: b'{"url": ' + b"[" * depth + b"]" * depth + b"}"),
    st.just(b'{"url": "https://shop.example.com/?utm_source=' + b"a" * 5000 + b'"}'),
)
ORIGIN_HEADERS = st.sampled_from(
    [
        SAME_ORIGIN,
        [h for h in SAME_ORIGIN if h[0] != b"sec-fetch-site"] + [(b"origin", b"https://evil.example")],
        [h for h in SAME_ORIGIN if h[0] != b"sec-fetch-site"] + [(b"sec-fetch-site", b"cross-site")],
        [h for h in SAME_ORIGIN if h[0] != b"sec-fetch-site"] + [(b"origin", b"null")],
        [h for h in SAME_ORIGIN if h[0] != b"content-type"] + [(b"content-type", b"text/html")],
    ]
)


@FUZZ
@given(body=BODY, headers=ORIGIN_HEADERS)
def test_the_collect_endpoint_answers_anything_with_200_or_a_json_4xx(
    body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    status, _, answer = call("POST", "/_attribution/collect", b"", headers, body)
    data = json.loads(answer)
    if status == 200:
        assert set(data) == {"attribution", "recorded"}
    else:
        assert 400 <= status < 500
        assert isinstance(data["error"], str)
        assert isinstance(data["detail"], str)
        assert data["detail"]
