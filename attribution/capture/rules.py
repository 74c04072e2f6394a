"""Capture rules as pure functions: from a request's parts to a new Attribution. No I/O, no clock.

The middleware (server-side landings) and the collect endpoint (landings the browser reports) both
reduce what they see to a ``Landing`` and call ``apply_wire`` on the cookie's compact form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal
from urllib.parse import unquote_plus, urlsplit

from . import wire
from .channels import RULES
from .clicks import clicks_after, fbc_click_ms
from .domains import is_ip, registrable
from .params import CASELESS_PARAMS, IDENTIFIER_COOKIES, MAX_ID_LENGTH, MAX_TEXT_LENGTH, UTM_PARAMS
from .settings import Settings

# Control characters (C0 and C1), the invisible characters that reorder or hide text (bidirectional overrides
# and isolates such as U+202E, zero-width spaces, line separators, the BOM), and the replacement character
# that stands for bytes that were not UTF-8. ZWJ and ZWNJ stay: scripts and emoji need them.
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufffd]"
)
_FREE_TEXT = frozenset(UTM_PARAMS)
_CASELESS_LENGTHS: Final = frozenset(len(name) for name in CASELESS_PARAMS)
MAX_PATH_LENGTH = 200
MAX_QUERY_FIELDS = 2000


@dataclass(slots=True)  # not frozen: a frozen dataclass costs twice as much to build, on every landing
class Landing:
    """What one request (or one browser report) says about where the visitor came from (read-only)."""

    params: dict[str, str] = field(default_factory=dict)
    path: str = "/"
    referrer: str | None = None
    """External referring host, already checked against the site's own hosts."""
    cookies: dict[str, str] = field(default_factory=dict)
    """Browser ids found in first-party cookies, by identifier name (``fbp``, ``ga``, ...)."""
    host: str = ""
    via: Literal["server", "browser"] = "server"

    @property
    def is_touch(self) -> bool:
        return bool(self.params or self.referrer)


def clean_value(key: str, raw: str) -> str | None:
    """A captured value made safe to store, or None to drop it.

    Free text (utm_*) loses control characters and undecodable bytes and is cut at ``MAX_TEXT_LENGTH``. Ids
    are kept verbatim (never decoded further, lowercased or cut: a changed click id attributes to nobody) or
    dropped whole.
    """
    if key in _FREE_TEXT:
        value = (raw if raw.isprintable() and "\ufffd" not in raw else _CONTROL.sub("", raw)).strip()
        return value[:MAX_TEXT_LENGTH] or None
    value = raw.strip()
    # Ids are opaque tokens: printable ASCII with no spaces; anything else is not an id an ad platform issued.
    if not value or len(value) > MAX_ID_LENGTH or not (value.isascii() and value.isprintable()) or " " in value:
        return None
    return value


def tracked_params(query: str, tracked: frozenset[str]) -> dict[str, str]:
    """The tracked parameters of a query string. The first non-empty, valid value of a key wins.

    Names are matched exactly, except the ``CASELESS_PARAMS`` (``ScCid``), which match in any case and are
    kept under their lowercase name.

    Only the first ``MAX_QUERY_FIELDS`` fields are looked at, and only tracked keys are decoded, so an
    absurd query string costs little.
    """
    found: dict[str, str] = {}
    for field_ in query.split("&", MAX_QUERY_FIELDS)[:MAX_QUERY_FIELDS]:
        key, _, raw = field_.partition("=")
        if not raw:
            continue
        if "%" in key or "+" in key:
            key = unquote_plus(key, errors="replace")
        # ``ScCid``, ``SCCID``: a length test first, so other untracked keys are never lowercased
        if key not in tracked and (
            len(key) not in _CASELESS_LENGTHS or (key := key.lower()) not in CASELESS_PARAMS or key not in tracked
        ):
            continue
        if key not in found:
            if "%" in raw or "+" in raw:  # most values are plain: unquoting them would change nothing
                raw = unquote_plus(raw, errors="replace")
            value = clean_value(key, raw)
            if value is not None:
                found[key] = value
    return found


def _host_of(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def is_own_host(host: str, site_host: str, settings: Settings) -> bool:
    """True for the site's own hosts and the referrers it ignores (payment pages, sign-in providers)."""
    if host == site_host:
        return True
    if settings.domain and (host == settings.domain or host.endswith("." + settings.domain)):
        return True
    return any(host == h or host.endswith("." + h) for h in settings.ignored_referrers)


def external_referrer(referer: str | None, site_host: str, settings: Settings) -> str | None:
    """The referring host when it is outside the site, else None."""
    if not referer:
        return None
    host = _host_of(referer)
    if host is None or is_own_host(host, site_host, settings):
        return None
    return host


def identifiers_from_cookies(cookies: Mapping[str, str]) -> dict[str, str]:
    """Browser ids from first-party cookies; ``_ga`` becomes the GA4 client id (``<random>.<seconds>``)."""
    found: dict[str, str] = {}
    for cookie_name, name in IDENTIFIER_COOKIES.items():
        raw = cookies.get(cookie_name)
        if not raw:
            continue
        value = clean_value(name, raw)
        if value is None:
            continue
        if name == "ga":
            parts = value.split(".")
            if len(parts) < 4:
                continue
            value = ".".join(parts[-2:])
        found[name] = value
    return found


def fbc_subdomain_index(host: str, domain: str | None) -> int:
    """Meta's subdomainIndex: labels of the cookie domain minus one (``example.com`` → 1), 0 for IPs.

    Without a configured domain, the domain is the host's registrable domain, as the server-set ``_fbc``
    uses (``meta_cookies``): ``example.co.uk`` → 2 and ``a.b.example.com`` → 1, where Meta's parameter builder
    would guess ``co.uk`` and ``b.example.com`` by dropping the first label.
    """
    name = (domain or host).strip("[]").lower().rstrip(".")
    if is_ip(name):
        return 0
    if domain is None:
        name = registrable(name) or name
    return name.count(".")


def build_fbc(fbclid: str, clicked: datetime, host: str, domain: str | None) -> str:
    """``fb.<subdomainIndex>.<creation time ms>.<fbclid>``, as Meta specifies the ``_fbc`` value."""
    return f"fb.{fbc_subdomain_index(host, domain)}.{int(clicked.timestamp() * 1000)}.{fbclid}"


def _fbclid_of(fbc: str | None) -> str | None:
    if not fbc:
        return None
    parts = fbc.split(".")
    return parts[3] if len(parts) >= 4 else None


def apply_wire(current: wire.Wire | None, landing: Landing, *, now: datetime, settings: Settings) -> wire.Wire | None:
    """The payload after this landing, or None when nothing changed (so no cookie is written).

    Works on the cookie's compact form and never mutates ``current`` (verified payloads are cached and
    shared between requests).
    """
    current = current if current is not None else _EMPTY
    seconds = int(now.timestamp())
    params, sent = landing.params, landing.cookies
    kept = current["i"]
    identifiers: dict[str, str] = {**kept, **sent} if sent else dict(kept)
    # A browser's _fbc older than the one already kept (built here from a newer click the browser's
    # script has not seen) must not bring the old click back.
    kept_fbc, sent_fbc = kept.get("fbc"), sent.get("fbc")
    if sent_fbc and kept_fbc and (fbc_click_ms(sent_fbc) or 0) < (fbc_click_ms(kept_fbc) or 0):
        identifiers["fbc"] = kept_fbc
    fbclid = params.get("fbclid")
    if fbclid and _fbclid_of(identifiers.get("fbc")) != fbclid:
        identifiers["fbc"] = build_fbc(fbclid, now, landing.host, settings.domain)
    stored = current["c"]
    clicks = clicks_after(stored, params, seconds, settings.click_id_windows) if params or stored else {}

    first, history = wire.first_of(current), current["h"]
    touched = False
    if params or landing.referrer:
        path = landing.path[:MAX_PATH_LENGTH]
        if not path.isprintable():  # %0A or %E2%80%AE in a path: never stored to be shown later
            path = _CONTROL.sub("", path)
        referrer = landing.referrer or ""
        last = history[-1] if history else first
        # the same landing seen again (a reload, back/forward, a duplicate report) is not a new touch
        if last is None or (last[5], last[2], last[1]) != (params, referrer, path):
            channel = RULES[settings.channel_rules](params, landing.referrer).value
            touch = [seconds, path, referrer, channel, landing.via[0], dict(params)]
            history = [*history, touch][-settings.history_size :]
            first = first if first is not None else touch
            touched = True

    # a click id that only expired is no change worth a cookie: reads leave it out already
    if not touched and identifiers == kept and all(stored.get(key) == click for key, click in clicks.items()):
        return None
    return wire.pack(first, history, identifiers, clicks)


_EMPTY: Final = wire.empty()  # read, never mutated: apply_wire copies what it changes
