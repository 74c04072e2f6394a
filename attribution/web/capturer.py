"""One site's capture step, shared by the middleware and the collect endpoint.

Both reduce what they see (a request, or a page the browser reports) to a ``rules.Landing`` with the
one builder here, apply it to the request's ``AttributionState`` under the consent hook and the bot
list, and finish the response with the cookie.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Literal

from ..capture import rules, wire
from ..capture.cookie import CookieCodec
from ..capture.settings import Settings
from . import debug
from .requestinfo import RequestInfo, is_bot, wants_secure
from .state import AttributionState
from .types import Message, Scope

_DEBUG_HEADER = debug.HEADER.lower().encode("ascii")


def _now() -> datetime:
    return datetime.now(UTC)


class Capturer:
    """The capture rules of one configured site, with its cookie codec and clock."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None, *, debug: bool = False) -> None:
        self.settings = settings
        self.debug = debug
        """Say on every response why it was or was not a capture (``attribution.debug``)."""
        self.codec = CookieCodec(settings)
        self._state_clock = clock  # None: the state reads windows against the real time
        self.clock = clock or _now

    def state(self, cookie_header: str) -> AttributionState:
        """A fresh per-request state over this Cookie header (nothing is read yet)."""
        return AttributionState(self.codec, cookie_header, self._state_clock)

    def landing(
        self,
        *,
        path: str,
        host: str,
        query: str = "",
        referrer: str | None = None,
        cookies: Mapping[str, str] | None = None,
        via: Literal["server", "browser"] = "server",
    ) -> rules.Landing | None:
        """What a page says about the visitor's origin, or None when it says nothing.

        ``query`` and ``referrer`` are what may count as a touch (the caller leaves both out for a POST or
        an excluded path, and the referrer for a fetch); ``cookies`` are the request's, for the browser ids
        they hold.
        """
        params = rules.tracked_params(query, self.settings.tracked_params) if query else {}
        external = rules.external_referrer(referrer, host, self.settings) if referrer else None
        ids = rules.identifiers_from_cookies(cookies) if cookies else {}
        if not params and external is None and not ids:
            return None
        return rules.Landing(params=params, path=path, referrer=external, cookies=ids, host=host, via=via)

    def allowed(self, scope: Scope, state: AttributionState) -> bool:
        """Whether the consent hook allows capture on this request (yes without a hook; no when it
        fails). Its answer, per purpose, stays on the state for checkout."""
        return state.consent(scope).captures

    def withdraw(self, scope: Scope, state: AttributionState) -> bool:
        """Whether the consent hook refuses capture on this request; if it does, a cookie the request
        carries is cleared (consent withdrawn: forget the visitor)."""
        if self.allowed(scope, state):
            return False
        if state.present:
            state.clear()
        return True

    def secure(self, scope: Scope, hostname: str | None = None) -> bool:
        """Whether the cookie gets the Secure attribute on this request."""
        if self.settings.secure is not None:
            return self.settings.secure
        return wants_secure(scope.get("scheme", "http"), hostname or RequestInfo.from_scope(scope).hostname)

    def apply(self, scope: Scope, info: RequestInfo, landing: rules.Landing, state: AttributionState) -> str:
        """Apply a landing to the state, honouring consent and the bot list; say what came of it
        (one of ``attribution.debug``'s outcomes)."""
        if self.settings.consent is not None and self.withdraw(scope, state):  # no hook: always allowed
            return debug.CONSENT_REFUSED
        if not self.settings.capture_bots and is_bot(info.user_agent):
            return debug.BOT
        updated = rules.apply_wire(state.payload(), landing, now=self.clock(), settings=self.settings)
        if updated is None:
            return debug.UNCHANGED
        state.replace(updated)
        return debug.CAPTURED

    def explain(self, state: AttributionState, message: Message, method: str, path: str, outcome: str) -> None:
        """Under ``debug``: log why this request was (not) a capture and say it in a response header."""
        note = debug.report(method, path, outcome, debug.cookie_problem(self.codec, state.raw, host=state.raw_host))
        add_header(message, _DEBUG_HEADER, note)

    def finish(self, state: AttributionState, message: Message, *, secure: bool) -> None:
        """Add Set-Cookie when the attribution changed (or consent was withdrawn), and Vary: Cookie
        when the response may depend on it.

        A genuine value read under the name this response does not write (the plain name of an earlier
        release, on a Secure host-only site) is written under this one, and the other name is deleted: it is
        read once, then moved."""
        codec = self.codec
        host = codec.writes_host(secure)
        genuine = state.genuine_host
        if state.cleared:
            add_cookie(message, codec.clear_cookie(secure=secure))
            self._clear_other(state, message, host, secure)
        elif state.changed or (genuine is not None and genuine != host):
            value = codec.encode_wire(state.payload() or wire.empty(), host=host)
            add_cookie(message, codec.set_cookie(value, secure=secure))
            self._clear_other(state, message, host, secure)
        if state.read or state.changed or state.cleared:
            add_vary_cookie(message)

    def may_move(self, state: AttributionState) -> bool:
        """Whether ``finish`` may move the genuine value read to the other name, by the settings alone (the
        request's Secure flag decides the rest): the plain name's where a ``__Host-`` cookie can be written,
        the ``__Host-`` cookie's where the settings write only the plain name (``domain``, ``secure=False``)."""
        genuine = state.genuine_host
        if genuine is None:
            return False
        settings = self.settings
        if genuine:
            return bool(settings.domain) or settings.secure is False
        return not settings.domain and settings.secure is not False

    def _clear_other(self, state: AttributionState, message: Message, host: bool, secure: bool) -> None:
        """Delete the name this response does not write, when the request carried it."""
        if any(found != host for _, found in state.candidates):
            add_cookie(message, self.codec.clear_cookie(secure=secure, host=not host))


def add_header(message: Message, name: bytes, value: str) -> None:
    """Append a header to a response start message (its ``headers`` made a list if it was not one)."""
    _raw_headers(message).append((name, value.encode("latin-1")))


#: Headers that tell a CDN, not the browser, how long to keep a response (RFC 9213's and Fastly's / Akamai's): a
#: response with a visitor's cookie is nothing a CDN may keep, whatever the app told it.
_CDN_CACHE_HEADERS = frozenset((b"cdn-cache-control", b"surrogate-control"))
_SHARED_ONLY = frozenset((b"public", b"s-maxage"))
_ALREADY_PRIVATE = frozenset((b"private", b"no-store"))


def add_cookie(message: Message, set_cookie: str) -> None:
    """Add a Set-Cookie of ours, and make sure no shared cache stores the response that carries it.

    A cache that ignores Set-Cookie (some CDNs, some proxies) would otherwise hand one visitor's attribution,
    and a server-made ``_fbp``, to everyone who asks for the same page: ``public`` and ``s-maxage`` are
    dropped from Cache-Control and ``private`` added (unless ``private`` or ``no-store`` is there already,
    ``private`` alone when the app set none), and the CDN-only cache headers removed. The browser's own
    caching (``max-age``) is left as the app set it."""
    raw = _raw_headers(message)
    raw.append((b"set-cookie", set_cookie.encode("latin-1")))
    found = False
    for index in range(len(raw) - 1, -1, -1):
        name = bytes(raw[index][0]).lower()
        if name in _CDN_CACHE_HEADERS:
            del raw[index]
        elif name == b"cache-control":
            found = True
            raw[index] = (raw[index][0], _private(bytes(raw[index][1])))
    if not found:
        raw.append((b"cache-control", b"private"))


def _private(value: bytes) -> bytes:
    directives = [d.strip() for d in value.split(b",") if d.strip()]
    kept = [d for d in directives if d.split(b"=", 1)[0].strip().lower() not in _SHARED_ONLY]
    if not {d.split(b"=", 1)[0].strip().lower() for d in kept} & _ALREADY_PRIVATE:
        kept.insert(0, b"private")
    return b", ".join(kept)


def add_vary_cookie(message: Message) -> None:
    """Add ``Vary: Cookie`` to a response start message, merged into a Vary header it has (once).

    Works on the raw header list: cheaper than Starlette's ``add_vary_header``, which reads every header
    twice, and it never repeats ``Cookie`` in a Vary that has it already."""
    raw = _raw_headers(message)
    for index, (name, value) in enumerate(raw):
        if name == b"vary":
            tokens = {token.strip().lower() for token in bytes(value).split(b",")}
            if not tokens & {b"cookie", b"*"}:
                raw[index] = (name, bytes(value) + b", Cookie")
            return
    raw.append((b"vary", b"Cookie"))


def _raw_headers(message: Message) -> list[tuple[bytes, bytes]]:
    """A response start message's header list, made a list first if it was absent (optional in ASGI) or any
    other iterable of pairs."""
    raw = message.get("headers")
    if type(raw) is not list:
        raw = message["headers"] = list(raw or ())
    return raw
