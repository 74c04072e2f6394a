"""``AttributionMiddleware``: pure ASGI capture into one signed, HttpOnly, first-party cookie.

Per HTTP request it does the least it can:

* no tracked parameter, no external referrer on a page load, no browser-id cookie: it only puts a lazy
  ``scope["attribution"]`` in place, and decodes the cookie if and when the app reads it;
* otherwise it verifies the cookie (once per process for a given value), applies the capture rules to its
  compact form, and writes the cookie back only when the attribution changed.

A request that already went through an outer ``AttributionMiddleware`` passes straight through, so a
mounted sub-app wrapped again never captures or writes the cookie twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser

from . import capture, wire
from .cookie import CookieCodec
from .errors import MiddlewareNotInstalledError
from .models import Attribution
from .params import IDENTIFIER_COOKIES
from .requestinfo import RequestInfo, is_bot, wants_secure
from .settings import ConsentHook, Settings

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("attribution")
SCOPE_KEY = "attribution"


class AttributionState:
    """One request's view of the cookie: found, verified and turned into models only on first use."""

    __slots__ = ("_attr", "_raw", "_wire", "changed", "cleared", "clock", "codec", "cookie_header", "read")

    def __init__(self, codec: CookieCodec, cookie_header: str, clock: Callable[[], datetime] | None = None) -> None:
        self.codec = codec
        self.cookie_header = cookie_header
        self.clock = clock
        self._raw: str | bool | None = False  # False: not looked for yet
        self._wire: wire.Wire | bool | None = False  # False: not read yet
        self._attr: Attribution | None = None
        self.changed = False
        self.cleared = False
        self.read = False

    @property
    def raw(self) -> str | None:
        """This site's attribution cookie value, if the request carries one."""
        if self._raw is False:
            self._raw = cookie_value(self.cookie_header, self.codec.settings.cookie_name)
        return self._raw  # type: ignore[return-value]

    def payload(self) -> wire.Wire | None:
        """The verified payload in its compact form (shared: never mutate it), None when there is none."""
        if self._wire is False:
            self._wire = self.codec.read(self.raw)
        return self._wire  # type: ignore[return-value]

    def load(self) -> Attribution:
        """The models, built from the payload on first use."""
        if self._attr is None:
            data = self.payload()
            if data is not None:
                attr = wire.from_wire(data)
            else:
                attr = Attribution.model_construct(history=[], identifiers={}, clicks={})
            now = self.clock() if self.clock is not None else None
            self._attr = attr.with_windows(self.codec.settings.click_id_windows, now=now)
        return self._attr

    def replace(self, data: wire.Wire) -> None:
        self._wire = data
        self._attr = None
        self.changed = True


def cookie_value(header: str, name: str) -> str | None:
    """One cookie's value from a Cookie header, without parsing the others."""
    start = 0
    marker = name + "="
    while True:
        at = header.find(marker, start)
        if at < 0:
            return None
        if at == 0 or header[at - 1] in "; ":
            end = header.find(";", at)
            value = header[at + len(marker) : end if end >= 0 else None].strip()
            return value.strip('"') or None
        start = at + 1


class LazyAttribution:
    """What ``scope["attribution"]`` holds: reads through to the decoded ``Attribution``.

    Decoding waits until an attribute is first read, so requests that never look cost nothing.
    """

    __slots__ = ("_state",)

    def __init__(self, state: AttributionState) -> None:
        self._state = state

    def load(self) -> Attribution:
        self._state.read = True
        return self._state.load()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.load(), name)

    def __repr__(self) -> str:
        return f"LazyAttribution({self.load()!r})"


class AttributionMiddleware:
    """Capture UTM parameters, click ids and browser ids into one signed first-party cookie.

    Args:
        app: the ASGI app to wrap.
        secret_key: signing key, or a list of keys newest first (the first signs, all verify).
        cookie_name, max_age, domain, secure: the cookie (``secure=None`` means Secure except on
            plain-HTTP localhost).
        history_size: touches kept besides the first (default 5).
        extra_params: more query parameters to capture.
        click_id_windows: per click id, how long it attributes (timedelta or days).
        excluded_paths: path prefixes never captured (static assets).
        ignored_referrers: hosts whose referrals are not touches (payment pages, sign-in providers).
        consent: ``callable(scope) -> bool``; when it says no, nothing is captured and the cookie is
            cleared.
        capture_bots: capture crawlers too (off by default).
        endpoint_prefix: where the snippet and the collect endpoint are served.
        allowed_origins: extra origins allowed to post to the collect endpoint.
        tracker: a ``Tracker`` whose worker starts and stops with the app's lifespan.
        clock: the time source (tests and replays).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_key: str | list[str] | tuple[str, ...],
        tracker: Any = None,
        clock: Callable[[], datetime] | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.settings = Settings.build(secret_key=secret_key, **options)
        self.codec = CookieCodec(self.settings)
        self.tracker = tracker
        self._custom_clock = clock
        self.clock = clock or (lambda: datetime.now(UTC))
        self._cookie_marker = self.settings.cookie_name + "="
        self._id_markers = tuple(f"{name}=" for name in IDENTIFIER_COOKIES)
        # read on every request: plain attributes, not lookups through settings
        self._prefix = self.settings.endpoint_prefix
        self._excluded = self.settings.excluded_paths
        self._consent = self.settings.consent
        from .collect import CollectEndpoints  # the endpoints need the settings and codec built above

        self.endpoints = CollectEndpoints(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self.tracker is not None:
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return

        if SCOPE_KEY in scope:  # an outer AttributionMiddleware owns this request
            await self.app(scope, receive, send)
            return

        path: str = scope["path"]
        if path.startswith(self._prefix):
            await self.endpoints(scope, receive, send)
            return

        # The hot path: one pass over the headers for the two that decide whether there is work.
        cookie = ""
        referer = False
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookie = value.decode("latin-1") if not cookie else f"{cookie}; {value.decode('latin-1')}"
            elif name == b"referer":
                referer = True
        state = AttributionState(self.codec, cookie, self._custom_clock)
        scope[SCOPE_KEY] = LazyAttribution(state)

        has_ids = ";" in cookie and self._has_id_cookie(cookie)  # one cookie alone is ours or not an id
        info: RequestInfo | None = None
        if (scope["query_string"] or referer or has_ids) and not path.startswith(self._excluded):
            info = RequestInfo.from_scope(scope)
            landing = self.landing(scope, info, cookie_parser(cookie) if has_ids else {})
            if landing is not None:
                self.capture(scope, info, landing, state)
        withdrawn = self._consent is not None and not (state.changed or state.cleared)
        if withdrawn and self._cookie_marker in cookie and state.raw is not None and not self.allowed(scope):
            state.cleared = True

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and (state.read or state.changed or state.cleared):
                secure = self.secure(scope, info.hostname if info is not None else None)
                self.finish(state, MutableHeaders(scope=message), secure=secure)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _has_id_cookie(self, cookie: str) -> bool:
        # plain substring checks: ~5x cheaper here than one alternation regex; a false hit costs a parse
        # (a loop, not any(): the generator alone costs as much as the checks)
        for marker in self._id_markers:  # noqa: SIM110
            if marker in cookie:
                return True
        return False

    # -- capture -----------------------------------------------------------------------------------------

    def landing(self, scope: Scope, info: RequestInfo, cookies: dict[str, str]) -> capture.Landing | None:
        """What this request says about the visitor's origin, or None when it says nothing."""
        params: dict[str, str] = {}
        referrer = None
        if scope["method"] in ("GET", "HEAD"):
            query = scope["query_string"]
            if query:
                params = capture.tracked_params(query.decode("utf-8", "replace"), self.settings.tracked_params)
            if info.referer and info.is_navigation:
                referrer = capture.external_referrer(info.referer, info.hostname, self.settings)
        ids = capture.identifiers_from_cookies(cookies) if cookies else {}
        if not params and referrer is None and not ids:
            return None
        return capture.Landing(params=params, path=scope["path"], referrer=referrer, cookies=ids, host=info.hostname)

    def secure(self, scope: Scope, hostname: str | None = None) -> bool:
        """Whether the cookie gets the Secure attribute on this request."""
        if self.settings.secure is not None:
            return self.settings.secure
        return wants_secure(scope.get("scheme", "http"), hostname or RequestInfo.from_scope(scope).hostname)

    def allowed(self, scope: Scope) -> bool:
        consent: ConsentHook | None = self.settings.consent
        if consent is None:
            return True
        try:
            return bool(consent(scope))
        except Exception:
            log.exception("attribution consent hook failed; treating the visitor as not consenting")
            return False

    def capture(self, scope: Scope, info: RequestInfo, landing: capture.Landing, state: AttributionState) -> None:
        """Apply a landing to the state, honouring consent and the bot list."""
        if not self.allowed(scope):
            if state.raw is not None:
                state.cleared = True
            return
        if not self.settings.capture_bots and is_bot(info.user_agent):
            return
        updated = capture.apply_wire(state.payload(), landing, now=self.clock(), settings=self.settings)
        if updated is not None:
            state.replace(updated)

    def finish(self, state: AttributionState, headers: MutableHeaders, *, secure: bool) -> None:
        """Add Set-Cookie when the attribution changed (or consent was withdrawn), and Vary: Cookie
        when the response may depend on it."""
        if state.cleared:
            headers.append("set-cookie", self.codec.clear_cookie(secure=secure))
        elif state.changed:
            value = self.codec.encode_wire(state.payload() or wire.empty())
            headers.append("set-cookie", self.codec.set_cookie(value, secure=secure))
        if state.read or state.changed or state.cleared:
            headers.add_vary_header("Cookie")

    # -- lifespan ----------------------------------------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start the tracker's worker on startup and stop it on shutdown, around the app's own."""

        async def receive_and_manage_worker() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.tracker.start()
            elif message["type"] == "lifespan.shutdown":
                await self.tracker.stop()
            return message

        await self.app(scope, receive_and_manage_worker, send)


def get_attribution(conn: HTTPConnection | Scope) -> Attribution:
    """The visitor's attribution, from a Starlette/FastAPI ``Request`` (or any ``HTTPConnection``) or a
    raw ASGI scope. Raises ``MiddlewareNotInstalledError`` when the request did not pass through
    ``AttributionMiddleware``."""
    scope = conn.scope if hasattr(conn, "scope") else conn
    lazy = scope.get(SCOPE_KEY)
    if isinstance(lazy, LazyAttribution):
        return lazy.load()
    if isinstance(lazy, Attribution):
        return lazy
    raise MiddlewareNotInstalledError(
        "no attribution on this request: wrap your ASGI app with "
        "AttributionMiddleware(app, secret_key=...) (or add it with app.add_middleware) so it sees every "
        "request"
    )
