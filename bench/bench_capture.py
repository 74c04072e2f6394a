"""Per-request cost of the capture middleware, as ratios to a bare Starlette app, measured side by side.

    python bench/bench_capture.py [--rounds 15] [--requests 2000]

Two tables. "in-process HTTP" sends real requests through httpx2's ASGITransport (request building,
header encoding, response reading: what a request costs an in-process client, and closest to what
a server sees). "direct ASGI" calls the app with prepared scopes, so the middleware's own cost in
microseconds stands out with nothing around it. Each round runs every case for the same number of
requests, in a shuffled order; a case's figure is its median over rounds, and ratios compare medians from this
one run, so a noisy, shared machine slows every case alike.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from attribution.capture.cookie import CookieCodec
from attribution.capture.rules import Landing, apply_wire
from attribution.capture.settings import Settings
from attribution.web.middleware import AttributionMiddleware

SECRET = "bench-secret-key-0123456789abcdef"
UA = b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36"
BASE_HEADERS = [
    (b"host", b"shop.example.com"),
    (b"user-agent", UA),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"accept-language", b"en-US,en;q=0.9"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"sec-fetch-dest", b"document"),
    (b"sec-fetch-mode", b"navigate"),
    (b"sec-fetch-site", b"none"),
]
#: A site's own cookies beside ours: a session, a CSRF token, a consent choice (no browser-id cookie).
OTHER = "sessionid=k3j4h5g6f7d8s9a0q1w2; csrftoken=Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2; cookie_consent=analytics"
LANDING_QUERY = b"utm_source=google&utm_medium=cpc&utm_campaign=spring_sale&utm_content=hero&gclid=Cj0KCQiA12345"


async def page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def site() -> Starlette:
    return Starlette(routes=[Route("/", page)])


def stored_cookie() -> str:
    """A realistic cookie: two touches and three browser ids."""
    settings = Settings.build(secret_key=SECRET)
    data = None
    for query in (
        {"utm_source": "google", "utm_medium": "cpc", "gclid": "Cj0KCQiA1234"},
        {"utm_source": "news"},
    ):
        data = apply_wire(data, Landing(params=query, path="/"), now=_now(), settings=settings) or data
    assert data is not None
    # the ids the browser-id case sends as cookies, as a returning visitor's cookie already holds them
    data["i"] = {"fbp": "fb.1.1700000000000.12345", "ga": "1234567890.1700000000"}
    return CookieCodec(settings).encode_wire(data)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def scope(query: bytes = b"", cookie: str | None = None) -> dict[str, Any]:
    headers = list(BASE_HEADERS)
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "raw_path": b"/",
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("203.0.113.9", 50000),
        "server": ("shop.example.com", 443),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def run(app: Any, query: bytes, cookie: str | None, n: int) -> float:
    """Seconds per request over n direct ASGI calls. Each scope (and what the request left in it) is freed
    when its call returns, as a server frees it, so the garbage collector sees what it would see there."""
    scopes = [scope(query, cookie) for _ in range(n)]
    start = time.perf_counter()
    while scopes:
        await app(scopes.pop(), _receive, _send)
    return (time.perf_counter() - start) / n


def session_cookie(app: SessionMiddleware, payload: dict[str, Any]) -> str:
    """A SessionMiddleware cookie holding ``payload``, signed the way it signs."""
    import json
    from base64 import b64encode

    data = b64encode(json.dumps(payload).encode())
    return f"session={app.signer.sign(data).decode()}"


async def run_http(app: Any, query: bytes, cookie: str | None, n: int) -> float:
    """Seconds per request over n requests through httpx2's ASGI transport: the request is built,
    encoded, answered and read as a client would, without a client cookie jar (so every case sends
    exactly its own request, as a browser with that cookie would)."""
    import httpx2

    transport = httpx2.ASGITransport(app=app)
    url = "https://shop.example.com/" + (f"?{query.decode()}" if query else "")
    headers = [(k.decode(), v.decode()) for k, v in BASE_HEADERS if k != b"host"]
    if cookie is not None:
        headers.append(("cookie", cookie))
    start = time.perf_counter()
    for _ in range(n):
        response = await transport.handle_async_request(httpx2.Request("GET", url, headers=headers))
        await response.aread()
    return (time.perf_counter() - start) / n


def report(title: str, samples: dict[str, list[float]]) -> None:
    """Per case: the median time, and the ratio to its bare twin in each round as min/median/max (a round
    measures both back to back, so a round-wide slowdown cancels out of its ratio)."""
    print(f"\n{title}")
    print(f"{'case':40} {'us/request':>10} {'x bare min/median/max':>24}")
    ratios: dict[str, list[float]] = {}
    for name, values in samples.items():
        base = samples["bare, landing URL" if "landing" in name else "bare"]
        ratios[name] = sorted(v / b for v, b in zip(values, base, strict=True))
        r = ratios[name]
        spread = f"{r[0]:.3f}/{statistics.median(r):.3f}/{r[-1]:.3f}"
        print(f"{name:40} {statistics.median(values) * 1e6:10.2f} {spread:>24}")
    sessions = samples["SessionMiddleware, same payload"]
    versus = sorted(v / s for v, s in zip(samples["wrapped, cookie, no params"], sessions, strict=True))
    for label, values, target in (
        ("wrapped-no-params / bare", ratios["wrapped, cookie, no params"], "<= 1.05"),
        ("wrapped + ids / bare", ratios["wrapped, cookie + _ga/_fbp, no params"], "<= 1.10"),
        ("landing / bare with the same URL", ratios["wrapped, landing, 5 params"], "<= 1.5"),
        ("wrapped-no-params / SessionMiddleware", versus, "< 1"),
    ):
        median = statistics.median(values)
        print(f"  {label:38} = {median:.3f} median, {values[0]:.3f}..{values[-1]:.3f} (target {target})")


async def main(rounds: int, requests: int) -> None:
    from attribution.web import middleware

    print(f"attribution.middleware from {middleware.__file__}")  # a compiled copy (bench_compiled.py) shows as .so
    cookie = stored_cookie()
    wrapped = AttributionMiddleware(site(), secret_key=SECRET)
    sessions = SessionMiddleware(site(), secret_key=SECRET, https_only=True)
    # a comparable payload: the same touches and ids, as a session would hold them
    session_payload = CookieCodec(Settings.build(secret_key=SECRET)).decode(cookie).model_dump(mode="json")
    ids = "_ga=GA1.1.1234567890.1700000000; _fbp=fb.1.1700000000000.12345"
    session = session_cookie(sessions, session_payload)
    stored = f"attribution={cookie}"
    bare = site()
    # name: (app, query string, Cookie header)
    cases: dict[str, tuple[Any, bytes, str | None]] = {
        "bare": (bare, b"", None),
        "bare, landing URL": (bare, LANDING_QUERY, None),
        "wrapped, cookie, no params": (wrapped, b"", stored),
        "wrapped, cookie + _ga/_fbp, no params": (wrapped, b"", f"{stored}; {ids}"),
        "wrapped, cookie + session/csrf/consent": (wrapped, b"", f"{stored}; {OTHER}"),
        "wrapped, landing, 5 params": (wrapped, LANDING_QUERY, None),
        "SessionMiddleware, same payload": (sessions, b"", session),
    }
    for app, query, cookie_header in cases.values():  # warm up caches (bot list, regexes) first
        await run(app, query, cookie_header, 200)
        await run_http(app, query, cookie_header, 50)
    direct: dict[str, list[float]] = {name: [] for name in cases}
    http: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases)
    for _ in range(rounds):
        random.shuffle(order)  # no case always runs first, or always after the same one
        for name in order:
            app, query, cookie_header = cases[name]
            gc.collect()
            direct[name].append(await run(app, query, cookie_header, requests))
            http[name].append(await run_http(app, query, cookie_header, max(50, requests // 10)))
    report("in-process HTTP (httpx2.ASGITransport)", http)
    report("direct ASGI calls", direct)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
