"""``AttributionMiddleware``: pure ASGI capture into one signed, HttpOnly, first-party cookie.

Per HTTP request it does the least it can:

* no tracked parameter, no external referrer on a page load, no browser-id cookie: it only puts a lazy
  ``scope["attribution"]`` in place, and decodes the cookie if and when the app reads it;
* browser-id cookies only (a returning visitor with ``_ga``/``_fbp``): it cuts their values out of the
  header and compares them with the ids the verified cookie holds; equal, it stops there, and remembers
  the header, so the visitor's next pages cost one dict lookup until the cookie expires (a header of
  several cookies and no id cookie is remembered the same way, for good);
* otherwise it verifies the cookie (once per process for a given value), applies the capture rules to its
  compact form, and writes the cookie back only when the attribution changed.

A request that already went through an outer ``AttributionMiddleware`` passes straight through, so a
mounted sub-app wrapped again never captures or writes the cookie twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from time import time as _now
from typing import Final, Protocol, Unpack

from starlette.requests import cookie_parser

from ..capture import rules
from ..capture.lru import ByteLRU
from ..capture.params import IDENTIFIER_COOKIES
from ..capture.settings import CaptureOptions, Settings
from . import debug, meta_cookies
from .capturer import Capturer, add_cookie, add_vary_cookie
from .collect import CollectEndpoints
from .debug import from_environment as _debug_from_environment
from .lifespan import run_lifespan
from .meta_cookies import MetaCookies
from .requestinfo import RequestInfo
from .state import SCOPE_KEY, AttributionState, LazyAttribution, get_attribution
from .types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AttributionMiddleware", "ManagedWorker", "get_attribution"]

#: What the Cookie headers known to change nothing may hold, and the longest header remembered.
SETTLED_BYTES: Final = 1024 * 1024
_SETTLED_ENTRY_BYTES: Final = 8 * 1024
_ENTRY_OVERHEAD: Final = 120  # the string's header, the float and the cache's own entry


class ManagedWorker(Protocol):
    """What the middleware needs of a ``Tracker``: a worker it starts and stops with the app's lifespan."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class AttributionMiddleware:
    """Capture UTM parameters, click ids and browser ids into one signed first-party cookie.

    Args:
        app: the ASGI app to wrap.
        options: the capture options, ``secret_key`` first (``CaptureOptions``: each one, its type and meaning;
            ``attribution.capture.settings.DEFAULTS``: their defaults). Checkout reads the consent answer from
            the request.
        tracker: a ``Tracker`` whose worker starts and stops with the app's lifespan.
        clock: the time source (tests and replays).
        debug: say on every response why it was or was not captured (an ``Attribution-Debug`` header
            and one log line); ``None`` reads the ``ATTRIBUTION_DEBUG`` environment variable.
        meta_cookies: write Meta's ``_fbp`` / ``_fbc`` from the server (``True``, or a ``MetaCookies``
            with the site's registrable domains); off by default. See ``attribution.meta_cookies``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracker: ManagedWorker | None = None,
        clock: Callable[[], datetime] | None = None,
        debug: bool | None = None,
        meta_cookies: bool | MetaCookies = False,
        **options: Unpack[CaptureOptions],
    ) -> None:
        self.app = app
        self.settings = Settings.build(**options)
        self.debug = debug if debug is not None else _debug_from_environment()
        self.capturer = Capturer(self.settings, clock, debug=self.debug)
        self._meta = MetaCookies() if meta_cookies is True else (meta_cookies or None)
        self.endpoints = CollectEndpoints(self.capturer, self._meta)
        self.tracker = tracker
        self._cookie_marker = self.settings.cookie_name + "="
        self._id_markers = tuple(f"{name}=" for name in IDENTIFIER_COOKIES)
        self._id_names = dict(IDENTIFIER_COOKIES)  # a plain dict: a mapping proxy's get is slower
        # Cookie header → until when its verified cookie holds every browser id it carries (``_settled``)
        self._settled: ByteLRU[str, float] = ByteLRU(SETTLED_BYTES, _SETTLED_ENTRY_BYTES)
        # read on every request: plain attributes, not lookups through settings
        self._prefix = self.settings.endpoint_prefix
        self._excluded = self.settings.excluded_paths
        self._consent = self.settings.consent
        # a consent hook, server-set Meta cookies or debug mode look at every request, not only landings
        self._every_request = self._consent is not None or self._meta is not None or self.debug

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
        state = self.capturer.state(cookie)
        scope[SCOPE_KEY] = LazyAttribution(state)
        query = scope["query_string"]
        if not (query or referer or self._every_request) and (not cookie or self._nothing_new(cookie, state)):
            # Nothing to capture: the response only needs Vary: Cookie if the app reads the attribution.
            async def send_vary(message: Message) -> None:
                if state.read and message["type"] == "http.response.start":
                    if self.capturer.may_move(state):  # a value under the name of an earlier release: moved
                        self.capturer.finish(state, message, secure=self.capturer.secure(scope))
                    else:
                        add_vary_cookie(message)
                await send(message)

            await self.app(scope, receive, send_vary)
            return
        await self._capture(scope, receive, send, state, bool(query) or referer)

    def _nothing_new(self, cookie: str, state: AttributionState) -> bool:
        """Whether a request without parameters or referrer has nothing to capture: no browser-id cookie,
        or only ids the signed cookie already holds."""
        if ";" not in cookie:  # one cookie: its name says whether it is an id cookie, no lookup needed
            return not cookie.lstrip().startswith(self._id_markers) or self._settled_header(cookie, state)
        return self._settled_header(cookie, state)

    async def _capture(self, scope: Scope, receive: Receive, send: Send, state: AttributionState, touch: bool) -> None:
        """A request that may change the attribution (``touch``: it has a query string or a referrer), or a
        site whose consent hook, server-set Meta cookies or debug mode look at every request."""
        capturer = self.capturer
        path: str = scope["path"]
        cookie = state.cookie_header
        has_ids = self._has_id_cookie(cookie)
        info: RequestInfo | None = None
        outcome: str | None = None
        meta: dict[str, str] = {}  # server-set Meta cookies (opt-in): name → value
        options = self._meta
        host: str | None = None  # the Host header's name, once read
        page_load = scope["method"] in ("GET", "HEAD")
        excluded = path.startswith(self._excluded)
        if options is not None and page_load and not excluded:
            info = RequestInfo.from_scope(scope)
            meta = meta_cookies.for_request(options, scope, info, state, capturer.clock())
            host = info.hostname
        if (touch or has_ids or meta) and not excluded:
            # (only a site that looks at every request gets here without the short path's settled check)
            if not (touch or meta) and self._every_request and self._settled_header(cookie, state):
                outcome = debug.UNCHANGED  # a returning visitor whose ids the cookie holds: nothing can change
            else:
                info = info or RequestInfo.from_scope(scope)
                host = info.hostname
                query = scope["query_string"]
                # another page's <img> or fetch of /?clickid=... must not plant attribution: navigations only
                navigation = page_load and info.may_be_navigation
                landing = capturer.landing(
                    path=path,
                    host=host,
                    query=query.decode("utf-8", "replace") if navigation and query else "",
                    referrer=info.referer if page_load and info.is_navigation else None,
                    cookies={**cookie_parser(cookie), **meta} if has_ids or meta else None,
                )
                if landing is not None:
                    outcome = capturer.apply(scope, info, landing, state)
        # consent withdrawn on a request the capture step did not decide: the cookie is cleared all the same
        undecided = self._consent is not None and not (state.changed or state.cleared)
        if undecided and self._cookie_marker in cookie and state.present:
            capturer.withdraw(scope, state)
        note = self._why(scope, info, outcome, state.cleared) if self.debug else None

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and (
                state.read or state.changed or state.cleared or note or meta
            ):
                secure = capturer.secure(scope, host)
                capturer.finish(state, message, secure=secure)
                if meta and options is not None and host is not None:
                    for name, value in meta.items():
                        add_cookie(message, options.set_cookie(name, value, host, secure=secure))
                if note is not None:
                    capturer.explain(state, message, scope["method"], path, note)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _has_id_cookie(self, cookie: str) -> bool:
        """Whether a cookie in the header is named like a browser-id cookie (then the capture step parses it).

        One split by cookie: a substring search per id name looked through the whole header a dozen times,
        signed cookie included, and cost three times as much whenever no id was there."""
        if ";" not in cookie:
            return cookie.lstrip().startswith(self._id_markers)
        names = self._id_names
        for part in cookie.split(";"):  # noqa: SIM110 - a loop, not any(): the generator costs as much as the checks
            if part.partition("=")[0].strip() in names:
                return True
        return False

    def _settled_header(self, cookie: str, state: AttributionState) -> bool:
        """Whether this Cookie header has nothing new to capture: no id cookie at all, or only ids the
        verified cookie already holds. Remembered per header: forever without ids, else until the signed
        cookie in it expires.

        A returning visitor sends the same header on every page, and the answer depends on nothing else:
        the header holds the id cookies and the signed cookie, whose payload (once verified) never changes.
        The cache is bounded by bytes, so hostile headers cannot grow it.
        """
        until = self._settled.get(cookie)
        if until is not None and _now() <= until:
            return True
        held = self._ids_held(cookie, state)
        if held is False:
            return False
        until = math.inf if held is None else self.capturer.codec.valid_until(state.raw, host=state.raw_host)
        if until is not None:
            self._settled.put(cookie, until, len(cookie) + _ENTRY_OVERHEAD)
        return True

    def _ids_held(self, cookie: str, state: AttributionState) -> bool | None:
        """True when every browser-id cookie equals the id the verified payload already holds, None when
        the header has no id cookie at all, False otherwise.

        One split of the header instead of a parse: every cookie named like an id cookie, wherever and
        however often it appears, must equal the stored id (``_ga`` by its last two parts, as it is stored).
        Any doubt (a quoted or empty value, an id not stored yet, no valid signed cookie) answers False,
        and the full capture step decides. The signed cookie is verified only when an id cookie is there.
        """
        names = self._id_names
        known: dict[str, str] | None = None
        for part in cookie.split(";"):
            name, _, value = part.partition("=")
            key = names.get(name.strip())
            if key is None:
                continue
            if known is None:
                data = state.payload()
                if data is None:
                    return False
                known = data["i"]
            stored = known.get(key)
            if stored is None:
                return False
            value = value.strip()
            if key == "ga":
                if not (value.endswith("." + stored) and value.count(".") >= 3):
                    return False
            elif value != stored:
                return False
        return None if known is None else True

    def _why(self, scope: Scope, info: RequestInfo | None, outcome: str | None, cleared: bool) -> str:
        """Under ``debug``: the outcome of a request the capture step did not see."""
        if cleared:
            return debug.CONSENT_REFUSED
        if outcome is not None:
            return outcome
        path: str = scope["path"]
        if path.startswith(self._excluded):
            return debug.EXCLUDED_PATH
        info = info or RequestInfo.from_scope(scope)
        external = rules.external_referrer(info.referer, info.hostname, self.settings) is not None
        page_load = scope["method"] in ("GET", "HEAD")
        return debug.no_landing(
            info, page_load=page_load, has_query=bool(scope["query_string"]), external_referrer=external
        )

    # -- lifespan ----------------------------------------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start the tracker with the app (or the server stops with the reason), stop it on shutdown."""
        assert self.tracker is not None
        await run_lifespan(self.app, self.tracker, scope, receive, send)
