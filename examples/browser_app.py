"""A small site showing when the browser snippet matters; the browser tests drive it in Chromium.

    python -m examples.browser_app            # then open http://127.0.0.1:8000/

Pages:

* ``/landing``, ``/show``: server-rendered; the middleware captures the landing itself and the page shows
  what a handler reads. Every page carries the snippet's tag under a strict, nonce-based CSP.
* ``/cached/offer``, ``/cached/signup``: answered by ``EdgeCache``, a stand-in for a CDN whose cache key
  ignores the query string (most strip ``utm_*`` from it). The app never sees these requests, so only
  the snippet can record the landing; ``/cached/signup`` has forms the snippet fills.
* ``/app``: a single-page app whose links change the URL with ``history.pushState``.
* ``POST /signup``: echoes the submitted form, hidden attribution fields included.
"""

from __future__ import annotations

import json
import secrets
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from attribution import AttributionMiddleware, get_attribution, script_tag
from examples.keys import secret

SECRET = secret("EXAMPLE_SECRET_KEY", "the attribution cookie")


def _page(title: str, body: str, *, nonce: str | None) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<link rel="icon" href="data:,">'  # no favicon request
        f"{script_tag(nonce=nonce)}</head><body><h1>{escape(title)}</h1>{body}"
        '<nav><a id="home" href="/">home</a> <a id="show" href="/show">show</a> '
        '<a id="app" href="/app">app</a> <a id="signup" href="/cached/signup">signup</a></nav>'
        "</body></html>"
    )


def _html(title: str, body: str, script: str = "") -> HTMLResponse:
    """A page under a CSP that only runs scripts carrying this response's nonce: the snippet's tag
    must pass the nonce through for the snippet to run at all."""
    nonce = secrets.token_urlsafe(16)
    inline = f'<script nonce="{nonce}">{script}</script>' if script else ""
    csp = f"default-src 'self'; script-src 'nonce-{nonce}'; img-src 'self' data:; base-uri 'none'; form-action 'self'"
    return HTMLResponse(_page(title, body + inline, nonce=nonce), headers={"content-security-policy": csp})


async def show(request: Request) -> HTMLResponse:
    attr = get_attribution(request)
    touches = [{"path": t.path, "via": t.via, "params": t.params} for t in attr.history]
    body = (
        f'<pre id="attribution">{escape(json.dumps(attr.public(), sort_keys=True))}</pre>'
        f'<pre id="touches">{escape(json.dumps(touches))}</pre>'
    )
    return _html("What the server knows", body)


async def home(request: Request) -> HTMLResponse:
    return _html("Home", "<p>Open a landing with ?utm_source=... to see it captured.</p>")


# A router in twenty lines: links marked data-route change the URL with pushState instead of loading.
SPA_SCRIPT = """
function render() { document.getElementById("view").textContent = "view: " + location.pathname; }
document.addEventListener("click", function (event) {
  var link = event.target.closest("a[data-route]");
  if (!link) return;
  event.preventDefault();
  history.pushState({}, "", link.getAttribute("href"));
  render();
});
window.addEventListener("popstate", render);
render();
"""


async def spa(request: Request) -> HTMLResponse:
    body = (
        '<p id="view"></p>'
        '<a id="to-offer" data-route href="/app/offer?utm_source=spa&amp;utm_medium=social&amp;'
        'utm_campaign=launch">offer</a> <a id="to-about" data-route href="/app/about">about</a>'
    )
    return _html("Single-page app", body, SPA_SCRIPT)


async def signup(request: Request) -> JSONResponse:
    # parse_qsl rather than request.form(): that would need python-multipart for one urlencoded form
    fields = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return JSONResponse(dict(fields))


_CACHED_OFFER = "<p>This page came from the edge cache: the app never saw the request.</p>"
_CACHED_SIGNUP = (
    '<form id="signup-form" method="post" action="/signup" data-attribution>'
    '<input name="email" value="ana@example.com"><button id="submit">Sign up</button></form>'
    '<form id="prefixed-form" method="post" action="/signup" data-attribution="attr_">'
    '<input type="hidden" name="attr_utm_source" value="stale"></form>'
    '<form id="plain-form" method="post" action="/signup"><input name="email"></form>'
)


class EdgeCache:
    """Serves a few pages from a fixed cache, whatever their query string, without calling the app:
    what a CDN in front of the site does, and why server-side capture cannot see those landings.

    Cached HTML is shared by every visitor, so it carries no CSP nonce (a nonce reused is no nonce).
    """

    def __init__(self, app: Any, pages: dict[str, str]) -> None:
        self.app = app
        self.pages = {path: html.encode() for path, html in pages.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.pages.get(scope["path"]) if scope["type"] == "http" else None
        if body is None or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"public, max-age=600"),
            (b"x-cache", b"HIT"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})


def create_app(*, secret_key: str = SECRET, **options: Any) -> EdgeCache:
    """The example site: the edge cache in front of the middleware in front of the Starlette app.

    ``options`` go to ``AttributionMiddleware`` (``allowed_origins=``, ``consent=`` ...).
    """
    site = Starlette(
        routes=[
            Route("/", home),
            Route("/landing", show),
            Route("/show", show),
            Route("/app", spa),
            Route("/app/{rest:path}", spa),
            Route("/signup", signup, methods=["POST"]),
            # pages that are not HTML (the JSON /signup answer) make the browser ask for /favicon.ico
            Route("/favicon.ico", lambda request: Response(status_code=204)),
        ]
    )
    captured = AttributionMiddleware(site, secret_key=secret_key, **options)
    pages = {
        "/cached/offer": _page("Offer (cached)", _CACHED_OFFER, nonce=None),
        "/cached/signup": _page("Sign up (cached)", _CACHED_SIGNUP, nonce=None),
    }
    return EdgeCache(captured, pages)


app = create_app()

if __name__ == "__main__":
    from examples.serve import serve

    serve(app, "browser example")
