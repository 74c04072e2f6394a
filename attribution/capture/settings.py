"""The middleware's configuration, validated and derived once at start-up."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Final, Literal, Required, TypedDict, Unpack
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from .consent import Consent
from .keys import check_keys
from .models import Channel, GA4Channel
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
#: RFC 6265's cookie-name token: anything else (a space, ";", "=") would break or extend the Set-Cookie line.
_NAME_PUNCTUATION: Final = "!#$%&'*+-.^_`|~"
_COOKIE_NAME: Final = re.compile(f"[A-Za-z0-9{re.escape(_NAME_PUNCTUATION)}]+")
_DOMAIN: Final = re.compile(r"\.?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
#: ``channel_rules``: the library's own channel rules, or GA4's Default Channel Group with GA4's names.
CHANNEL_RULES: Final = ("default", "ga4")
ChannelRules = Literal["default", "ga4"]
DEFAULT_EXCLUDED_PATHS: Final = ("/static/", "/assets/", "/favicon.ico", "/robots.txt", "/sitemap.xml")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

#: ``hook(scope)`` answers ``True``/``False``, a ``Consent`` or a mapping of its fields (``attribution.consent``).
ConsentHook = Callable[[Any], bool | Consent | Mapping[str, Any]]


class CaptureOptions(TypedDict, total=False):
    """The capture options, declared here once: ``AttributionMiddleware(app, **options)`` takes them as they are
    and ``Settings.build`` validates them; each default is in ``DEFAULTS``. Every one is keyword-only and typed,
    so a type checker catches a misspelt or mistyped option at the call site."""

    secret_key: Required[str | Sequence[str]]
    """Signing key, or a list of keys newest first (the first signs, all verify)."""
    cookie_name: str
    """The cookie's name, without a prefix (it becomes ``__Host-<name>`` wherever Secure and host-only)."""
    max_age: timedelta | int
    """How long the cookie lives (a timedelta or seconds), at most 400 days (Chrome's cap)."""
    domain: str | None
    """Share the cookie with subdomains (``.example.com``); None keeps it host-only."""
    secure: bool | None
    """None: Secure on every origin except plain-HTTP localhost / 127.0.0.1 / ::1."""
    history_size: int
    """Touches kept besides the first, 1 to 20."""
    extra_params: Sequence[str]
    """More query parameters to capture."""
    click_id_windows: Mapping[str, timedelta | int] | None
    """Per click id, how long it attributes (a timedelta or days)."""
    excluded_paths: Sequence[str]
    """Path prefixes never captured (static assets)."""
    ignored_referrers: Sequence[str]
    """Hosts whose referrals are not touches (payment pages, sign-in providers)."""
    consent: ConsentHook | None
    """``callable(scope)`` answering ``True``/``False``, a ``Consent`` or a mapping of its purposes
    (``attribution.consent``); without consent for measurement nothing is captured and the cookie is cleared."""
    capture_bots: bool
    """Capture crawlers too."""
    endpoint_prefix: str
    """Where the snippet and the collect endpoint are served."""
    allowed_origins: Sequence[str]
    """Extra origins (``https://shop.example.com``) allowed to post to the collect endpoint."""
    channel_rules: ChannelRules
    """How a landing's channel is named: ``default`` (``Channel``) or ``ga4`` (GA4's Default Channel Group,
    ``GA4Channel``)."""


#: Each capture option's default (every option but ``secret_key`` has one).
DEFAULTS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "cookie_name": "attribution",
        "max_age": DEFAULT_COOKIE_AGE,
        "domain": None,
        "secure": None,
        "history_size": 5,
        "extra_params": (),
        "click_id_windows": None,
        "excluded_paths": DEFAULT_EXCLUDED_PATHS,
        "ignored_referrers": DEFAULT_IGNORED_REFERRERS,
        "consent": None,
        "capture_bots": False,
        "endpoint_prefix": "/_attribution/",
        "allowed_origins": (),
        "channel_rules": "default",
    }
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the middleware and the collect endpoint need, derived from the ``CaptureOptions`` once."""

    secret_keys: tuple[str, ...]
    """Newest first: the first key signs, every key verifies."""
    cookie_name: str
    max_age: timedelta
    domain: str | None
    secure: bool | None
    """None: Secure on every origin except plain-HTTP localhost / 127.0.0.1 / ::1."""
    history_size: int
    tracked_params: frozenset[str]
    click_id_windows: Mapping[str, timedelta]
    excluded_paths: tuple[str, ...]
    ignored_referrers: tuple[str, ...]
    consent: ConsentHook | None
    capture_bots: bool
    endpoint_prefix: str
    allowed_origins: frozenset[str]
    """Extra origins (``https://shop.example.com``) allowed to post to the collect endpoint."""
    channel_rules: ChannelRules
    """How a landing's channel is named: ``default`` (``Channel``) or ``ga4`` (``GA4Channel``)."""
    direct_channel: Channel | GA4Channel
    """What ``channel`` reads for a visitor with no touch, in the vocabulary of ``channel_rules``."""

    @classmethod
    def build(cls, **options: Unpack[CaptureOptions]) -> Settings:
        """The settings of these options, each checked: ``ConfigurationError`` says what is wrong and how to
        write it; an option that does not exist is a ``TypeError``, as for any other keyword argument."""
        unknown = sorted(options.keys() - CaptureOptions.__annotations__.keys())
        if unknown:
            raise TypeError(
                f"unexpected capture option {unknown[0]!r}; the options: {', '.join(CaptureOptions.__annotations__)}"
            )
        if "secret_key" not in options:
            raise ConfigurationError("secret_key is required: secrets.token_urlsafe(32), kept out of the code")
        o: dict[str, Any] = {**DEFAULTS, **options}
        secret_key = o["secret_key"]
        cookie_name = o["cookie_name"]
        max_age = o["max_age"]
        domain = o["domain"]
        secure = o["secure"]
        history_size = o["history_size"]
        extra_params = o["extra_params"]
        click_id_windows = o["click_id_windows"]
        excluded_paths = o["excluded_paths"]
        ignored_referrers = o["ignored_referrers"]
        consent = o["consent"]
        capture_bots = o["capture_bots"]
        endpoint_prefix = o["endpoint_prefix"]
        allowed_origins = o["allowed_origins"]
        channel_rules = o["channel_rules"]
        if isinstance(secret_key, str | bytes):
            keys: tuple[Any, ...] = (secret_key,)
        elif isinstance(secret_key, Sequence):
            keys = tuple(secret_key)
        else:  # ``...`` copied from an example, None from a missing setting: say so, not a TypeError later
            keys = ()
        keys = check_keys(keys)  # a placeholder, a published example's key or a trivial one: refused
        age = max_age if isinstance(max_age, timedelta) else timedelta(seconds=max_age)
        if not timedelta(0) < age <= MAX_COOKIE_AGE:
            raise ConfigurationError("max_age must be positive and at most 400 days (Chrome's cookie cap)")
        if not 1 <= history_size <= 20:
            raise ConfigurationError("history_size must be between 1 and 20 touches")
        if len(endpoint_prefix) < 3 or not endpoint_prefix.startswith("/") or not endpoint_prefix.endswith("/"):
            # "/" alone would route every page of the site to the collect endpoint
            raise ConfigurationError("endpoint_prefix must start and end with '/', like '/_attribution/'")
        if not _COOKIE_NAME.fullmatch(cookie_name):
            raise ConfigurationError(f"cookie_name must be a cookie name (letters, digits, {_NAME_PUNCTUATION!r})")
        if cookie_name.lower().startswith(("__host-", "__secure-")):
            raise ConfigurationError(
                "cookie_name is given without a prefix: the cookie is named __Host-<cookie_name> by itself wherever "
                "it is Secure and host-only"
            )
        if domain is not None and not _DOMAIN.fullmatch(domain):
            raise ConfigurationError("domain must be a host name such as '.example.com'")
        lists = {
            "extra_params": extra_params,
            "excluded_paths": excluded_paths,
            "ignored_referrers": ignored_referrers,
            "allowed_origins": allowed_origins,
        }
        for name, given in lists.items():
            if isinstance(given, str | bytes):  # a list of its characters to Python: "/" would exclude every path
                raise ConfigurationError(f"{name} takes a list of strings, not one string: {name}=[{given!r}]")
        if consent is not None and not callable(consent):
            # not caught here, every request would call it, fail, and be treated as a refusal
            raise ConfigurationError(
                "consent must be a function of the request's scope answering True/False, a Consent or a "
                f"mapping of its purposes, not a {type(consent).__name__}: consent=lambda scope: ..."
            )
        if channel_rules not in CHANNEL_RULES:
            raise ConfigurationError(
                f"channel_rules must be 'default' (the library's channels) or 'ga4' (GA4's Default Channel Group), "
                f"not {channel_rules!r}"
            )
        tracked = frozenset((*TRACKED_PARAMS, *extra_params))
        windows: dict[str, timedelta] = dict(DEFAULT_CLICK_ID_WINDOWS)
        for key, value in (click_id_windows or {}).items():
            if key not in tracked:
                raise ConfigurationError(
                    f"click_id_windows names {key!r}, which is not captured: a known click id or one of extra_params"
                )
            window = value if isinstance(value, timedelta) else timedelta(days=value)
            if window <= timedelta(0):
                raise ConfigurationError(f"click_id_windows[{key!r}] must be a positive number of days or timedelta")
            windows[key] = window
        return cls(
            secret_keys=keys,
            cookie_name=cookie_name,
            max_age=age,
            domain=domain.lstrip(".").lower() if domain else None,
            secure=secure,
            history_size=history_size,
            tracked_params=tracked,
            click_id_windows=windows,
            excluded_paths=tuple(excluded_paths),
            ignored_referrers=tuple(h.lower() for h in ignored_referrers),
            consent=consent,
            capture_bots=capture_bots,
            endpoint_prefix=endpoint_prefix,
            allowed_origins=frozenset(_origin(o) for o in allowed_origins),
            channel_rules=channel_rules,
            direct_channel=GA4Channel.DIRECT if channel_rules == "ga4" else Channel.DIRECT,
        )


def origin_of(scheme: str, netloc: str) -> str:
    """``scheme://host[:port]`` lowercased, without the scheme's default port, as browsers write Origin."""
    scheme, netloc = scheme.lower(), netloc.lower().rsplit("@", 1)[-1]
    host, sep, port = netloc.rpartition(":")
    if sep and "]" not in port and port == str(_DEFAULT_PORTS.get(scheme)):
        netloc = host
    return f"{scheme}://{netloc}"


def _origin(value: str) -> str:
    """An allowed origin written as browsers send Origin (``https://shop.example.com:443/`` →
    ``https://shop.example.com``); anything that is no origin is refused, since it could never match."""
    parts = urlsplit(value.strip()) if isinstance(value, str) else None
    if (
        parts is None
        or parts.scheme.lower() not in _DEFAULT_PORTS
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ConfigurationError(
            f"allowed_origins takes origins, scheme and host (and port): 'https://shop.example.com', not {value!r}"
        )
    return origin_of(parts.scheme, parts.netloc)
