"""One request's attribution: the cookie found, verified and decoded only when used.

The middleware puts a ``LazyAttribution`` at ``scope["attribution"]``; ``get_attribution`` reads it
from a Starlette request or a raw scope. Checkout and templates read the attribution through here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from ..capture import reads, wire
from ..capture.consent import GRANTED, Consent, decide
from ..capture.cookie import CookieCodec, cookie_values
from ..capture.models import Attribution, Channel, GA4Channel
from ..errors import MiddlewareNotInstalledError
from .types import Scope

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from ..capture.settings import Settings

SCOPE_KEY: Final = "attribution"


class AttributionState:
    """One request's view of the cookie: found, verified and turned into models only on first use.

    The request may carry several values (the ``__Host-`` cookie, the plain-named one of an earlier release,
    values another subdomain tossed in): each is tried in ``cookie_values``' order and the first genuine
    one is the attribution, so an invalid value never hides a valid one.
    """

    __slots__ = (
        "_attr",
        "_candidates",
        "_consent",
        "_genuine",
        "_raw",
        "_wire",
        "changed",
        "cleared",
        "clock",
        "codec",
        "cookie_header",
        "raw_host",
        "read",
    )

    def __init__(self, codec: CookieCodec, cookie_header: str, clock: Callable[[], datetime] | None = None) -> None:
        self.codec = codec
        self.cookie_header = cookie_header
        self.clock = clock
        self._candidates: list[tuple[str, bool]] | None = None  # None: not looked for yet
        self._raw: str | None = None
        self._genuine: bool | None = None
        self.raw_host = False
        """Whether ``raw`` is the ``__Host-`` cookie's value."""
        self._wire: wire.Wire | bool | None = False  # False: not read yet
        self._attr: Attribution | None = None
        self._consent: Consent | None = None
        self.changed = False
        self.cleared = False
        self.read = False

    @property
    def candidates(self) -> list[tuple[str, bool]]:
        """Every attribution cookie value the request carries, as ``(value, host)``, in the order tried."""
        if self._candidates is None:
            self._candidates = cookie_values(self.cookie_header, self.codec.name)
        return self._candidates

    @property
    def present(self) -> bool:
        """Whether the request carries an attribution cookie at all (genuine or not)."""
        return bool(self.candidates)

    @property
    def raw(self) -> str | None:
        """The request's attribution cookie value: the genuine one, else the first (to say why it was refused)."""
        self.payload()
        return self._raw

    def payload(self) -> wire.Wire | None:
        """The verified payload in its compact form (shared: never mutate it), None when there is none."""
        if self._wire is False:
            found: wire.Wire | None = None
            candidates = self.candidates
            for value, host in candidates:
                found = self.codec.read(value, host=host)
                if found is not None:
                    self._raw, self.raw_host, self._genuine = value, host, host
                    break
            else:
                if candidates:
                    self._raw, self.raw_host = candidates[0]
            self._wire = found
        return self._wire  # type: ignore[return-value]

    @property
    def genuine_host(self) -> bool | None:
        """Whether the genuine value read is the ``__Host-`` cookie's (True) or the plain name's (False); None
        when none was read (not looked at yet, or none genuine). ``Capturer.finish`` moves a value found under
        the name this response does not write."""
        return self._genuine

    def load(self) -> Attribution:
        """The models, built from the payload on first use."""
        if self._attr is None:
            data = self.payload()
            attr = wire.from_wire(data) if data is not None else Attribution.model_construct(history=[], identifiers={})
            now = self.clock() if self.clock is not None else None
            settings = self.codec.settings
            self._attr = attr.with_windows(settings.click_id_windows, now=now, direct=settings.direct_channel)
        return self._attr

    @property
    def has_models(self) -> bool:
        """Whether the models are built: the app may have changed them since, so reads must use them."""
        return self._attr is not None

    def now(self) -> datetime:
        return self.clock() if self.clock is not None else datetime.now(UTC)

    def consent(self, scope: Scope) -> Consent:
        """The consent hook's answer for this request, asked once (everything granted without a hook)."""
        if self._consent is None:
            self._consent = decide(self.codec.settings.consent, scope)
        return self._consent

    def clear(self) -> None:
        """Consent withdrawn: the cookie is deleted, and this request reads an empty attribution too."""
        self._wire = None
        self._attr = None
        self.cleared = True

    def replace(self, data: wire.Wire) -> None:
        self._wire = data
        self._attr = None
        self.changed = True


class LazyAttribution:
    """What ``scope["attribution"]`` holds: reads through to the decoded ``Attribution``.

    Decoding waits until an attribute is first read, so requests that never look cost nothing; ``utm``,
    ``channel`` and ``public()`` (what hidden fields render) read the verified payload directly and build
    no models at all.
    """

    __slots__ = ("_state",)

    def __init__(self, state: AttributionState) -> None:
        self._state = state

    def load(self) -> Attribution:
        self._state.read = True
        return self._state.load()

    def _payload(self) -> wire.Wire | None:
        self._state.read = True
        return self._state.payload()

    @property
    def utm(self) -> dict[str, str]:
        """``Attribution.utm``, without building the models (unless they are built already)."""
        if self._state.has_models:
            return self.load().utm
        data = self._payload()
        return reads.utm(data) if data is not None else {}

    @property
    def channel(self) -> Channel | GA4Channel:
        """``Attribution.channel``, without building the models (unless they are built already)."""
        if self._state.has_models:
            return self.load().channel
        data = self._payload()
        direct = self._state.codec.settings.direct_channel
        return reads.channel(data, direct) if data is not None else direct

    def public(self) -> dict[str, str]:
        """``Attribution.public()`` (what hidden fields render), without building the models (unless
        they are built already)."""
        state = self._state
        if state.has_models:
            return self.load().public()
        data = self._payload()
        return reads.public(data, state.codec.settings.click_id_windows, state.now()) if data is not None else {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.load(), name)

    def __repr__(self) -> str:
        return f"LazyAttribution({self.load()!r})"


def get_consent(conn: HTTPConnection | Scope) -> Consent:
    """What the visitor allowed (``attribution.consent``), as the middleware's consent hook answered for
    this request; everything granted when no hook is configured or the middleware is not installed."""
    scope = conn.scope if hasattr(conn, "scope") else conn
    lazy = scope.get(SCOPE_KEY)
    return lazy._state.consent(scope) if isinstance(lazy, LazyAttribution) else GRANTED


def settings_of(conn: HTTPConnection | Scope) -> Settings | None:
    """The settings of the middleware that served this request, None outside one."""
    scope = conn.scope if hasattr(conn, "scope") else conn
    lazy = scope.get(SCOPE_KEY)
    return lazy._state.codec.settings if isinstance(lazy, LazyAttribution) else None


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
