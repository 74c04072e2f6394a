"""The middleware's configuration, validated and derived once at start-up."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from .consent import Consent
from .errors import ConfigurationError
from .params import DEFAULT_CLICK_ID_WINDOWS, TRACKED_PARAMS

MAX_COOKIE_AGE: Final = timedelta(days=400)  # Chrome caps every cookie's lifetime here
DEFAULT_COOKIE_AGE: Final = timedelta(days=90)

#: Hosts whose referrals are never a new touch: payment pages and sign-in providers the visitor returns
#: from mid-checkout. Without this, every PayPal checkout would become the order's "last touch".
DEFAULT_IGNORED_REFERRERS: Final = (
    "paypal.com",
    "stripe.com",
    "checkout.stripe.com",
    "mercadopago.com",
    "mercadopago.com.br",
    "pagseguro.uol.com.br",
    "adyen.com",
    "klarna.com",
    "accounts.google.com",
    "appleid.apple.com",
    "login.microsoftonline.com",
    "whop.com",
)
DEFAULT_EXCLUDED_PATHS: Final = ("/static/", "/assets/", "/favicon.ico", "/robots.txt", "/sitemap.xml")

#: ``hook(scope)`` answers ``True``/``False``, a ``Consent`` or a mapping of its fields (``attribution.consent``).
ConsentHook = Callable[[Any], bool | Consent | Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the middleware and the collect endpoint need, derived from the keyword arguments."""

    secret_keys: tuple[str, ...]
    """Newest first: the first key signs, every key verifies."""
    cookie_name: str = "attribution"
    max_age: timedelta = DEFAULT_COOKIE_AGE
    domain: str | None = None
    secure: bool | None = None
    """None: Secure on every origin except plain-HTTP localhost / 127.0.0.1 / ::1."""
    history_size: int = 5
    tracked_params: frozenset[str] = frozenset(TRACKED_PARAMS)
    click_id_windows: Mapping[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_CLICK_ID_WINDOWS))
    excluded_paths: tuple[str, ...] = DEFAULT_EXCLUDED_PATHS
    ignored_referrers: tuple[str, ...] = DEFAULT_IGNORED_REFERRERS
    consent: ConsentHook | None = None
    capture_bots: bool = False
    endpoint_prefix: str = "/_attribution/"
    allowed_origins: frozenset[str] = frozenset()
    """Extra origins (``https://shop.example.com``) allowed to post to the collect endpoint."""

    @classmethod
    def build(
        cls,
        *,
        secret_key: str | Sequence[str],
        cookie_name: str = "attribution",
        max_age: timedelta | int = DEFAULT_COOKIE_AGE,
        domain: str | None = None,
        secure: bool | None = None,
        history_size: int = 5,
        extra_params: Sequence[str] = (),
        click_id_windows: Mapping[str, timedelta | int] | None = None,
        excluded_paths: Sequence[str] = DEFAULT_EXCLUDED_PATHS,
        ignored_referrers: Sequence[str] = DEFAULT_IGNORED_REFERRERS,
        consent: ConsentHook | None = None,
        capture_bots: bool = False,
        endpoint_prefix: str = "/_attribution/",
        allowed_origins: Sequence[str] = (),
    ) -> Settings:
        if isinstance(secret_key, str | bytes):
            keys: tuple[Any, ...] = (secret_key,)
        elif isinstance(secret_key, Sequence):
            keys = tuple(secret_key)
        else:  # ``...`` copied from an example, None from a missing setting: say so, not a TypeError later
            keys = ()
        if not keys or any(not isinstance(k, str) or len(k) < 16 for k in keys):
            raise ConfigurationError(
                "secret_key must be a string of at least 16 characters (or a list of them, newest first); "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        age = max_age if isinstance(max_age, timedelta) else timedelta(seconds=max_age)
        if not timedelta(0) < age <= MAX_COOKIE_AGE:
            raise ConfigurationError("max_age must be positive and at most 400 days (Chrome's cookie cap)")
        if not 1 <= history_size <= 20:
            raise ConfigurationError("history_size must be between 1 and 20 touches")
        if not endpoint_prefix.startswith("/") or not endpoint_prefix.endswith("/"):
            raise ConfigurationError("endpoint_prefix must start and end with '/', like '/_attribution/'")
        windows: dict[str, timedelta] = dict(DEFAULT_CLICK_ID_WINDOWS)
        for key, value in (click_id_windows or {}).items():
            windows[key] = value if isinstance(value, timedelta) else timedelta(days=value)
        return cls(
            secret_keys=keys,
            cookie_name=cookie_name,
            max_age=age,
            domain=domain.lstrip(".").lower() if domain else None,
            secure=secure,
            history_size=history_size,
            tracked_params=frozenset((*TRACKED_PARAMS, *extra_params)),
            click_id_windows=windows,
            excluded_paths=tuple(excluded_paths),
            ignored_referrers=tuple(h.lower() for h in ignored_referrers),
            consent=consent,
            capture_bots=capture_bots,
            endpoint_prefix=endpoint_prefix,
            allowed_origins=frozenset(o.rstrip("/").lower() for o in allowed_origins),
        )
