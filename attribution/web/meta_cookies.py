"""Server-set Meta browser cookies (``_fbp``, ``_fbc``), as Meta's parameter builder writes them.

Opt-in (``AttributionMiddleware(meta_cookies=True)`` or a ``MetaCookies``). On a top-level page load
(``GET``/``HEAD``, ``Sec-Fetch-Dest: document`` or HTML accepted, outside the excluded paths) of a visitor
whose consent grants measurement for ``meta``, and who is not a crawler:

* ``_fbp`` is created when the request has no valid one (``fb.{index}.{ms}.{random}.{appendix}``); a
  valid one is never regenerated;
* ``_fbc`` is written when the URL (or, for pages served from a cache, the site's own page in
  ``Referer``) carries an ``fbclid`` and there is no valid ``_fbc`` or the one there records another
  fbclid (``fb.{index}.{ms}.{fbclid}.{appendix}``); the same fbclid keeps the cookie and its time;
* a page the snippet reports to the collect endpoint (served from a cache or a CDN, so the server never
  saw its load) gets both the same way, on the collect answer;
* both are 90-day, first-party, ``SameSite=Lax``, ``Path=/``, Secure as the attribution cookie is, and
  **not** HttpOnly: the browser pixel reads them.

The values written are also what the capture records as ``fbp`` / ``fbc`` for the same request, so a
checkout in the first visit already sends them.

Why five parts (with Meta's appendix) and not the pixel's four. Safari caps cookies written by script at
7 days; one written by the server keeps its 90. Only a cookie the server has written should be left
alone, and the appendix is what tells the two apart: a valid four-part cookie (the pixel's, written by
script) is written once more from the server, same value plus the "no change" appendix, exactly as
the builder does; a five-part one is never re-set, so pages do not carry a ``Set-Cookie`` on every view.
The appendix is the builder's own (format 1, language Python, type, and the version of the builder
release whose rules this module follows, 1.3.2), so our ``_fbc`` for a given fbclid and time is
byte-for-byte the builder's, Meta's pixel keeps it, and the Conversions API takes it unchanged, as Meta's
parameter-builder page asks.

The cookie domain. A list of the site's registrable domains (``MetaCookies(domains=[...])``, what Meta
recommends) wins; otherwise the registrable domain comes from the Public Suffix List, so
``www.example.co.uk`` gets ``example.co.uk`` (the builder's guess, ``co.uk``, is a public suffix that
browsers refuse). IP hosts and single-label hosts (``localhost``) get a host-only cookie and index 0 (the
builder would send ``Domain=[127.0.0.1]``). The ``fbclid`` from ``Referer`` is taken from the site's own
pages only, where the builder takes any referrer's: another site's fbclid is a click on another site's ad.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import parse_qs, urlsplit

from starlette.requests import cookie_parser

from ..capture.domains import is_ip, registrable
from ..errors import ConfigurationError
from .requestinfo import RequestInfo, is_bot
from .state import AttributionState
from .types import Scope

FBP: Final = "_fbp"
FBC: Final = "_fbc"
MAX_AGE: Final = timedelta(days=90)
#: The capi-param-builder release whose cookie rules (and appendix version bytes) this module follows.
BUILDER_VERSION: Final = (1, 3, 2)
_LEGACY_APPENDIXES: Final = frozenset({"AQ", "Ag", "Aw", "BA", "BQ", "Bg"})
_BASE64URL: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
#: What an fbclid is made of; anything else (a dot, a cookie separator) would break the cookie's format.
_FBCLID: Final = re.compile(r"[A-Za-z0-9_-]{1,500}")
_INDEX: Final = re.compile(r"[0-9]{1,3}")
_MILLIS: Final = re.compile(r"[0-9]{1,16}")
#: Longest value read as valid: "fb.", an index, a time, the longest fbclid and an appendix.
_MAX_VALUE: Final = 3 + 4 + 17 + 500 + 9


def appendix(kind: int) -> str:
    """Meta's 8-character appendix: base64url of ``[format 1, language 2 (Python), kind, *version]``."""
    raw = bytes((0x01, 0x02, kind, *BUILDER_VERSION))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


NO_CHANGE: Final = appendix(0x00)
NET_NEW: Final = appendix(0x02)
MODIFIED: Final = appendix(0x03)


@dataclass(frozen=True, slots=True)
class MetaCookies:
    """Options for server-set ``_fbp`` / ``_fbc``.

    Args:
        domains: the site's registrable domains (``["example.co.uk"]``); a host that is one of them or
            under one gets its cookies there. Other hosts use the Public Suffix List.
        max_age: the cookies' lifetime (Meta's: 90 days).
    """

    domains: Sequence[str] = ()
    max_age: timedelta = MAX_AGE
    _domains: tuple[str, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        if isinstance(self.domains, str):
            raise ConfigurationError("meta_cookies domains is a list of domains, not one string")
        cleaned = tuple(d.strip().lstrip(".").lower() for d in self.domains)
        if any(not d or is_ip(d) for d in cleaned):
            raise ConfigurationError("meta_cookies domains are registrable domain names such as 'example.co.uk'")
        if not timedelta(0) < self.max_age <= timedelta(days=400):
            raise ConfigurationError("meta_cookies max_age must be positive and at most 400 days")
        object.__setattr__(self, "_domains", cleaned)

    def cookie_domain(self, host: str) -> str | None:
        """The Domain attribute for this host, None for a host-only cookie (IPs, ``localhost``)."""
        host = host.strip("[]").lower().rstrip(".")
        if not _HOSTNAME.fullmatch(host) or is_ip(host) or "." not in host:
            # A Host header that is no hostname (``a.com;x``) must not write a Domain attribute of its own.
            return None
        for domain in self._domains:
            if host == domain or host.endswith("." + domain):
                return domain
        return registrable(host)

    def updates(self, host: str, cookies: Mapping[str, str], fbclid: str | None, now_ms: int) -> dict[str, str]:
        """The cookies to write (name → value) for a page load; empty when both are fine as they are."""
        domain = self.cookie_domain(host)
        index = domain.count(".") if domain is not None else 0
        found: dict[str, str] = {}
        fbp, fbp_parts = cookies.get(FBP), _valid(cookies.get(FBP))
        if fbp_parts is None:
            found[FBP] = f"fb.{index}.{now_ms}.{secrets.randbelow(2**31)}.{NET_NEW}"
        elif len(fbp_parts) == 4:
            found[FBP] = f"{fbp}.{NO_CHANGE}"
        fbc, fbc_parts = cookies.get(FBC), _valid(cookies.get(FBC))
        if fbclid and (fbc_parts is None or fbc_parts[3] != fbclid):
            found[FBC] = f"fb.{index}.{now_ms}.{fbclid}.{NET_NEW if fbc_parts is None else MODIFIED}"
        elif fbc_parts is not None and len(fbc_parts) == 4:
            found[FBC] = f"{fbc}.{NO_CHANGE}"
        return found

    def set_cookie(self, name: str, value: str, host: str, *, secure: bool) -> str:
        """The Set-Cookie header value: readable by the pixel (no HttpOnly), Lax, 90 days."""
        domain = self.cookie_domain(host)
        return (
            f"{name}={value}; Max-Age={int(self.max_age.total_seconds())}; Path=/"
            f"{f'; Domain={domain}' if domain else ''}; SameSite=Lax{'; Secure' if secure else ''}"
        )


def for_request(
    options: MetaCookies, scope: Scope, info: RequestInfo, state: AttributionState, now: datetime
) -> dict[str, str]:
    """The Meta cookies to write on this request: only on a top-level page load (not a fetch or an image,
    whose responses then stay free of ``Set-Cookie``)."""
    if not info.is_navigation:
        return {}
    return for_page(options, scope, info, state, scope["query_string"].decode("latin-1"), info.referer, now)


def for_page(
    options: MetaCookies,
    scope: Scope,
    info: RequestInfo,
    state: AttributionState,
    query: str,
    referer: str,
    now: datetime,
) -> dict[str, str]:
    """The Meta cookies to write for a page load whose URL has this ``query``: the request's own, or a page
    the browser reports to the collect endpoint (one served from a cache, which the server never saw).
    ``referer`` counts when it is one of the site's own pages. Never for crawlers, nor without consent for
    measurement by ``meta`` (the consent hook's answer, shared with capture and checkout)."""
    if is_bot(info.user_agent):
        return {}
    if not state.consent(scope).for_vendor("meta").ad_measurement:
        return {}
    host = info.hostname
    cookies = cookie_parser(info.cookie) if "_fb" in info.cookie else {}
    return options.updates(host, cookies, fbclid_of(query, referer, host), int(now.timestamp() * 1000))


def fbclid_of(query: str, referer: str, host: str) -> str | None:
    """The fbclid of this page's URL, else of the site's own page in ``Referer``, verbatim."""
    for source in (query, _own_query(referer, host)):
        if source and "fbclid=" in source:
            values = parse_qs(source).get("fbclid")
            if values and _FBCLID.fullmatch(values[0]):
                return values[0]
    return None


def _own_query(referer: str, host: str) -> str:
    if not referer:
        return ""
    try:
        parts = urlsplit(referer)
    except ValueError:
        return ""
    return parts.query if (parts.hostname or "") == host.strip("[]").lower() else ""


def _valid(value: str | None) -> list[str] | None:
    """The parts of a well-formed ``fb.{index}.{ms}.{payload}[.{appendix}]`` value, else None."""
    if not value:
        return None
    if len(value) > _MAX_VALUE:  # a hostile cookie must not come back as a huge Set-Cookie
        return None
    parts = value.split(".")
    if len(parts) not in (4, 5) or parts[0] != "fb" or not _INDEX.fullmatch(parts[1]):
        return None
    # the payload (the pixel's random number, or the fbclid) is echoed in Set-Cookie: its alphabet only
    if not _MILLIS.fullmatch(parts[2]) or not _FBCLID.fullmatch(parts[3]):
        return None
    if len(parts) == 5:
        extra = parts[4]
        if not (extra in _LEGACY_APPENDIXES or (len(extra) == 8 and set(extra) <= _BASE64URL)):
            return None
    return parts


_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
