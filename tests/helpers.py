"""Small shared pieces for the capture tests: a browser user agent and an app that shows its attribution."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.web.middleware import AttributionMiddleware, get_attribution

SECRET = "test-secret-key-0123456789abcdef"
#: The cookie's name on an HTTPS site without ``domain=`` (every test client's default base URL).
COOKIE = "__Host-attribution"
BROWSER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
NAVIGATION = {"user-agent": BROWSER_UA, "sec-fetch-dest": "document", "accept": "text/html"}


async def show(request: Request) -> JSONResponse:
    attr = get_attribution(request)
    return JSONResponse(
        {
            "utm": attr.utm,
            "click_ids": attr.click_ids,
            "identifiers": attr.identifiers,
            "channel": attr.channel.value,
            "first": attr.first.model_dump(mode="json") if attr.first else None,
            "last": attr.last.model_dump(mode="json") if attr.last else None,
            "history": len(attr.history),
        }
    )


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def make_app(**options: Any) -> Starlette:
    """A site with ``/show`` (reads the attribution), ``/plain`` and ``/static/x`` (never read it)."""
    app = Starlette(routes=[Route("/show", show), Route("/plain", plain), Route("/static/x", plain), Route("/", plain)])
    options.setdefault("secret_key", SECRET)
    app.add_middleware(AttributionMiddleware, **options)
    return app


def client(app: Starlette | None = None, *, base_url: str = "https://shop.example.com", **options: Any) -> TestClient:
    return TestClient(app or make_app(**options), base_url=base_url, headers=NAVIGATION)


def set_cookie_headers(response: Any) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]


async def raw_asgi(
    app: Any, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request as raw ASGI messages, so any bytes (NUL, invalid UTF-8) reach the app as a server could pass
    them: the status, the response headers and the body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("203.0.113.9", 50000),
        "server": ("shop.example.com", 443),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[0].get("headers", []), b"".join(m.get("body", b"") for m in sent[1:])
