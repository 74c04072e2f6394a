"""The snippet route and the collect endpoint (served under ``settings.endpoint_prefix``).

``GET {prefix}attribution.js``
    The browser snippet, with a strong ETag; cached for a year when asked for by its content hash
    (``?v=``, as ``script_tag`` renders it), else for five minutes with ETag revalidation.

``POST {prefix}collect`` with ``{"url": "...", "referrer": "..."}``
    A landing the browser saw and the server may not have (a cached page, an SPA navigation). The same
    capture rules as the middleware apply, and the answer is ``{"attribution": <public part>,
    "recorded": bool}`` plus the Set-Cookie when the attribution changed. ``"record": false`` only asks
    for the public part (the snippet filling form fields on a page that is no landing).

Only same-origin requests are accepted (``Sec-Fetch-Site``, ``Origin``, and the reported URL's origin),
plus the configured ``allowed_origins``: a cross-site page cannot plant attribution. Bad input gets a 4xx
with ``{"error": ..., "detail": ...}``, never a 500.
"""

from __future__ import annotations

import json
import logging
from typing import Final
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, Response

from ..capture.settings import origin_of
from ..errors import ConfigurationError
from . import debug, meta_cookies
from .capturer import Capturer, add_cookie
from .meta_cookies import MetaCookies
from .requestinfo import RequestInfo, is_bot
from .snippet import COLLECT_NAME, SCRIPT_NAME, load_snippet
from .state import AttributionState
from .types import Message, Receive, Scope, Send

log = logging.getLogger("attribution.collect")

#: Largest collect body accepted. A URL and a referrer fit many times over; anything bigger is not the
#: snippet, and the limit is enforced while reading, so nobody can make the server buffer more.
MAX_BODY_BYTES: Final = 4096
MAX_URL_LENGTH: Final = 2048
SCRIPT_IMMUTABLE: Final = "public, max-age=31536000, immutable"
SCRIPT_REVALIDATE: Final = "public, max-age=300"
_JSON_TYPES: Final = frozenset(("application/json", "text/plain"))


class CollectBody(BaseModel):
    """What the snippet posts. Strict: a number where a string belongs is an error, not a coercion."""

    model_config = ConfigDict(strict=True, extra="ignore")

    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH)
    """The page's full URL (its query carries the tracked parameters)."""
    referrer: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    """``document.referrer`` for a page load; empty for an SPA navigation within the site."""
    record: bool = True
    """False: record nothing from the URL, only answer with the public attribution."""


class CollectError(Exception):
    """A request the endpoint refuses, with the status and the JSON error it answers."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail

    def response(self, headers: dict[str, str] | None = None) -> Response:
        # nosniff: a browser must never read an error as HTML or script, whatever a request put in it
        headers = {"x-content-type-options": "nosniff", **(headers or {})}
        return JSONResponse({"error": self.error, "detail": self.detail}, status_code=self.status, headers=headers)


class CollectEndpoints:
    """ASGI app for ``{prefix}attribution.js`` and ``{prefix}collect``, capturing with the middleware's
    capturer."""

    def __init__(self, capturer: Capturer, meta: MetaCookies | None = None) -> None:
        self.capturer = capturer
        self.meta = meta
        """Server-set Meta cookies (``meta_cookies=``): a reported landing gets them as a page load does."""
        self.settings = capturer.settings
        prefix = self.settings.endpoint_prefix
        self.script_path = prefix + SCRIPT_NAME
        self.collect_path = prefix + COLLECT_NAME

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == self.script_path:
            allowed = "GET, HEAD"
            response = self.script(scope) if method in ("GET", "HEAD") else None
        elif path == self.collect_path:
            allowed = "POST"
            response = await self.collect(scope, receive) if method == "POST" else None
        else:
            # the path is not repeated back: an answer that reflects what the request chose is one to abuse
            response = CollectError(404, "not_found", f"nothing is served here; see {self.collect_path}").response()
        if response is None:
            response = CollectError(405, "method_not_allowed", f"{path} accepts {allowed} only").response(
                {"allow": allowed}
            )
        await response(scope, receive, send)

    # -- the script --------------------------------------------------------------------------------------

    def script(self, scope: Scope) -> Response:
        try:
            snippet = load_snippet()
        except ConfigurationError as exc:
            log.error("%s", exc)
            return CollectError(404, "not_found", str(exc)).response()
        query = scope.get("query_string", b"").decode("latin-1")
        # Only the exact content hash may be cached for good: an old ?v= must not pin today's file.
        versioned = f"v={snippet.version}" in query.split("&")
        headers = {
            "etag": snippet.etag,
            "cache-control": SCRIPT_IMMUTABLE if versioned else SCRIPT_REVALIDATE,
            "x-content-type-options": "nosniff",
        }
        if _etag_matches(_header(scope, b"if-none-match"), snippet.etag):
            return Response(status_code=304, headers=headers)
        # Response leaves the body out for HEAD itself, keeping the GET's content-length.
        return Response(snippet.body, media_type="text/javascript; charset=utf-8", headers=headers)

    # -- the collect endpoint ----------------------------------------------------------------------------

    async def collect(self, scope: Scope, receive: Receive) -> Response:
        info = RequestInfo.from_scope(scope)
        own = self._own_origins(scope, info)
        try:
            cors = self._check_origin(info, own)
            body = self._parse(await self._read_body(scope, receive))
            site = self._site_url(body.url, own)
        except CollectError as exc:
            return exc.response()

        capturer = self.capturer
        state = capturer.state(info.cookie)
        path = unquote(site.path, errors="replace") or "/"
        record = body.record and not path.startswith(self.settings.excluded_paths)
        meta = self._meta_cookies(scope, info, state, site.query) if record else {}
        landing = capturer.landing(
            path=path,
            host=(site.hostname or "").lower(),
            query=site.query if record else "",
            referrer=body.referrer if record else None,
            cookies={**cookie_parser(info.cookie), **meta} if info.cookie or meta else None,
            via="browser",
        )
        outcome = None
        if landing is not None:
            outcome = capturer.apply(scope, info, landing, state)
        elif state.present and capturer.withdraw(scope, state):
            outcome = debug.CONSENT_REFUSED  # consent withdrawn: forget, as the middleware does on any request
        # Without consent the state reads empty (nothing captured, any cookie cleared); a bot is told nothing.
        hidden = not self.settings.capture_bots and is_bot(info.user_agent)
        public = {} if hidden else state.load().public()
        response = JSONResponse(
            {"attribution": public, "recorded": state.changed},
            headers={"cache-control": "no-store", "x-content-type-options": "nosniff", **cors},
        )
        start: Message = {"headers": response.raw_headers}  # what finish adds lands in the response's list
        secure = capturer.secure(scope, info.hostname)
        capturer.finish(state, start, secure=secure)
        if meta and self.meta is not None:
            for name, value in meta.items():
                add_cookie(start, self.meta.set_cookie(name, value, info.hostname, secure=secure))
        if capturer.debug:
            if outcome is None:
                outcome = debug.EXCLUDED_PATH if body.record and not record else debug.NO_TRACKED_PARAMETER
                if record and body.referrer and _host(body.referrer):
                    outcome = debug.INTERNAL_REFERRER  # a referrer, but the site's own or an ignored host
            capturer.explain(state, start, "POST", path, outcome)
        return response

    def _meta_cookies(self, scope: Scope, info: RequestInfo, state: AttributionState, query: str) -> dict[str, str]:
        """The Meta cookies for the reported page, on this host (the answer's ``Set-Cookie`` is this host's)."""
        if self.meta is None:
            return {}
        return meta_cookies.for_page(self.meta, scope, info, state, query, "", self.capturer.clock())

    def _own_origins(self, scope: Scope, info: RequestInfo) -> frozenset[str]:
        host = info.host
        if not host:
            return frozenset()
        # Behind a TLS-terminating proxy the app may see http while the browser is on https.
        return frozenset((origin_of(scope.get("scheme", "http"), host), origin_of("https", host)))

    def _check_origin(self, info: RequestInfo, own: frozenset[str]) -> dict[str, str]:
        """Refuse anything but the site's own pages (and the allowed origins); return CORS headers for an
        allowed other origin so its snippet can read the answer."""
        origin = info.origin.strip().lower().rstrip("/")
        fetch_site = info.sec_fetch_site.strip().lower()
        allowed_other = origin in self.settings.allowed_origins
        if fetch_site == "same-origin":
            ok = True  # asserted by the browser itself; a page cannot forge a Sec-Fetch-* header
        elif fetch_site:
            ok = allowed_other  # same-site (another port or subdomain), cross-site, none
        else:
            # Older browsers send no Sec-Fetch-Site; every browser sends Origin on a POST.
            ok = bool(origin) and (origin in own or allowed_other)
        if not ok:
            raise CollectError(
                403,
                "forbidden_origin",
                "the collect endpoint only accepts requests from the site's own pages; add other origins "
                "of the site to allowed_origins",
            )
        if allowed_other and origin not in own:
            return {
                "access-control-allow-origin": origin,
                "access-control-allow-credentials": "true",
                "vary": "Origin",
            }
        return {}

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        lengths = {value for key, value in scope["headers"] if key == b"content-length"}
        if lengths:
            # ASCII digits only (str.isdigit() also takes "²"), one value however often it is repeated
            length = lengths.pop().strip()
            if lengths or not length.isdigit():
                raise CollectError(400, "bad_request", "Content-Length must be one number of ASCII digits")
            if len(length.lstrip(b"0")) > len(str(MAX_BODY_BYTES)) or int(length) > MAX_BODY_BYTES:
                raise CollectError(413, "body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
        # Checked before reading so an unsupported body is never read at all.
        media_type = _header(scope, b"content-type").split(";", 1)[0].strip().lower()
        if media_type not in _JSON_TYPES:
            raise CollectError(415, "unsupported_media_type", "send the body as application/json or text/plain")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise CollectError(400, "bad_request", "the client went away mid-body")
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:  # chunked bodies have no Content-Length to check up front
                raise CollectError(413, "body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _parse(self, raw: bytes) -> CollectBody:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise CollectError(400, "invalid_json", "the body is not valid UTF-8 JSON") from None
        if not isinstance(data, dict):
            raise CollectError(422, "invalid_body", 'the body must be a JSON object like {"url": "..."}')
        try:
            return CollectBody.model_validate(data)
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
                for error in exc.errors(include_url=False)
            )
            raise CollectError(422, "invalid_body", detail) from None

    def _site_url(self, url: str, own: frozenset[str]) -> SplitResult:
        """The reported URL, which must be a page of this site: a landing elsewhere is none of ours."""
        try:
            parts = urlsplit(url)
            origin = origin_of(parts.scheme, parts.netloc) if parts.hostname else ""
        except ValueError:
            origin = ""
        if not origin.startswith(("http://", "https://")):
            raise CollectError(422, "invalid_url", "url must be an absolute http(s) URL")
        if origin not in own and origin not in self.settings.allowed_origins:
            raise CollectError(422, "foreign_url", "url must be a page of this site (or of allowed_origins)")
        return parts


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: ``W/"x"`` matches ``"x"``."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags
