"""A signed, time-limited export of a visitor's attribution, for checkouts that finish without the browser.

A payment webhook arrives from the payment provider, without the visitor's cookie. Export a token while the
visitor is still on the site (put it in the payment's metadata or a hidden field), and give it back to
``Tracker.checkout_token`` when the webhook arrives.

The token carries the attribution in the cookie's compact form (first touch, the latest touches, the newest
value of each click id, browser ids), the site's click-id windows where they differ from the defaults (so the
webhook drops a click id the site no longer credits, as the site's own pages do) and the request context of
the export (IP, user agent, URL, referrer), zlib-compressed when shorter, HMAC-signed with a timestamp. It
is signed, not encrypted: whoever holds it can read it, so it holds only what the visitor's own browser
already sent. One paid landing with the checkout's context comes to about 490 characters; Stripe's metadata
values allow 500, so for a visitor with distinct first and last touches pass ``max_touches=0`` (first touch
only, click ids still the newest) and leave the context out where space is tight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Final, NamedTuple

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from ..capture.consent import Consent
from ..capture.keys import check_keys
from ..capture.models import Attribution
from ..capture.params import DEFAULT_CLICK_ID_WINDOWS
from ..capture.wire import compact, from_wire, parse, to_wire
from ..errors import TokenError
from ..orders.conversion import RequestContext

_SALT: Final = "attribution.checkout-token.v1"


class Exported(NamedTuple):
    """What a token holds."""

    attribution: Attribution
    context: RequestContext
    consent: Consent
    order_id: str | None = None
    """The order the token was exported for (``export_token(..., order_id=)``), which alone it may check out."""


class TokenCodec:
    """Signs and verifies checkout tokens.

    Args:
        secret_key: signing key, or a list newest first (the first signs, all verify), as for the cookie.
            Use the middleware's key or a key of its own; never a vendor credential.
        max_age: how long a token stays valid (seconds or a timedelta; default 14 days, for slow payment
            methods such as bank transfers and boletos).
        max_touches: the latest touches kept besides the first (the last touch, by default).
        clock: seconds since the epoch (tests).
    """

    def __init__(
        self,
        secret_key: str | Sequence[str],
        *,
        max_age: float | timedelta = timedelta(days=14),
        max_touches: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        keys = list(check_keys([secret_key] if isinstance(secret_key, str) else list(secret_key)))
        self.max_age = max_age.total_seconds() if isinstance(max_age, timedelta) else float(max_age)
        self.max_touches = max_touches

        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        # itsdangerous signs with the LAST key; our setting lists the newest first.
        self._serializer = URLSafeTimedSerializer(list(reversed(keys)), salt=_SALT, signer=_Signer)
        self._clock = clock

    def __repr__(self) -> str:
        return f"TokenCodec(max_age={self.max_age:g})"

    def dumps(
        self,
        attribution: Attribution,
        context: RequestContext | None = None,
        consent: Consent | None = None,
        *,
        order_id: str | None = None,
    ) -> str:
        """The token for this attribution (and request context, and the visitor's consent), bound to one order
        when ``order_id`` is given."""
        history = attribution.history[-self.max_touches :] if self.max_touches > 0 else []
        first = attribution.first
        trimmed = Attribution(
            first=first, history=history, identifiers=attribution.identifiers, clicks=attribution.clicks
        )
        ctx = context or RequestContext()
        payload: dict[str, Any] = {"a": compact(to_wire(trimmed))}
        windows = attribution.click_id_windows
        own = {
            key: int(windows[key].total_seconds())
            for key in attribution.clicks
            if key in windows and windows[key] != DEFAULT_CLICK_ID_WINDOWS.get(key)
        }
        if own:
            payload["w"] = own
        fields = [ctx.ip, ctx.user_agent, ctx.url, ctx.referrer]
        if any(fields):
            payload["c"] = fields
        choices = consent.compact() if consent is not None else None
        if choices is not None:
            payload["k"] = choices
        if order_id is not None:
            payload["o"] = str(order_id)
        return self._serializer.dumps(payload)

    def loads(self, token: str) -> tuple[Attribution, RequestContext]:
        """The attribution and request context in a token. Raises ``TokenError`` when it was tampered
        with, signed with another key, malformed or older than ``max_age``."""
        exported = self.read(token)
        return exported.attribution, exported.context

    def read(self, token: str) -> Exported:
        """Everything in a token: attribution, request context and consent (the default, everything
        granted, for tokens exported without one). Raises ``TokenError`` as ``loads`` does."""
        if not isinstance(token, str | bytes) or not token:
            raise TokenError("no attribution token: pass the string export_token() gave (it is missing or empty)")
        try:
            payload = self._serializer.loads(token, max_age=int(self.max_age))
        except SignatureExpired:
            raise TokenError(
                f"the attribution token expired (valid {self.max_age:g}s); the conversion can still be "
                "reported without attribution"
            ) from None
        except BadSignature:
            raise TokenError(
                "the attribution token is not valid: altered, truncated, or signed with another key"
            ) from None
        try:
            data = parse(payload["a"])
            if data is None:
                raise ValueError("not an attribution payload")
            attribution = from_wire(data)
            own = payload.get("w") or {}
            if not all(isinstance(k, str) and type(v) is int and v > 0 for k, v in own.items()):
                raise ValueError("not click-id windows")
            if own:
                windows = {k: timedelta(seconds=v) for k, v in own.items()}
                attribution = attribution.with_windows({**DEFAULT_CLICK_ID_WINDOWS, **windows})
            raw = payload.get("c") or [None, None, None, None]
            ip, user_agent, url, referrer = raw
            context = RequestContext(ip=ip, user_agent=user_agent, url=url, referrer=referrer)
            consent = Consent.from_compact(payload.get("k"))
            order_id = payload.get("o")
            if order_id is not None and not isinstance(order_id, str):
                raise ValueError("not an order id")
        except Exception:
            raise TokenError("the attribution token is signed but its content is not understood") from None
        return Exported(attribution, context, consent, order_id)
