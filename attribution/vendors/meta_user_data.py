"""Meta's customer information parameters: each field normalised as Meta specifies, then SHA-256 hashed.

``fbc``, ``fbp``, the IP address and the user agent are never hashed; a value already given as a SHA-256
digest passes through, never hashed twice.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..orders.identifiers import (
    EMAIL_SHA256,
    EXTERNAL_ID,
    EXTERNAL_ID_SHA256,
    PHONE_DIGITS_SHA256,
    Identifier,
    hashed,
)
from .base import JSON, without_empty

if TYPE_CHECKING:
    from ..capture.models import Attribution
    from ..orders.conversion import Conversion, Customer

_US_STATE_LIST = """alabama:al alaska:ak arizona:az arkansas:ar california:ca colorado:co connecticut:ct
    delaware:de districtofcolumbia:dc florida:fl georgia:ga hawaii:hi idaho:id illinois:il indiana:in iowa:ia
    kansas:ks kentucky:ky louisiana:la maine:me maryland:md massachusetts:ma michigan:mi minnesota:mn
    mississippi:ms missouri:mo montana:mt nebraska:ne nevada:nv newhampshire:nh newjersey:nj newmexico:nm
    newyork:ny northcarolina:nc northdakota:nd ohio:oh oklahoma:ok oregon:or pennsylvania:pa rhodeisland:ri
    southcarolina:sc southdakota:sd tennessee:tn texas:tx utah:ut vermont:vt virginia:va washington:wa
    westvirginia:wv wisconsin:wi wyoming:wy"""
#: US state names (letters only) → their two-letter ANSI code, which Meta wants for US states.
_US_STATES = dict(pair.split(":") for pair in _US_STATE_LIST.split())


def user_data(conversion: Conversion, *, hash_external_id: bool = True) -> JSON:
    """Meta's ``user_data``: customer fields normalised and hashed, browser ids and the request as they are."""
    context = conversion.context
    fields: dict[str, str | None] = {key: form.of(conversion) for key, form in HASHED_FIELDS}
    fields["external_id"] = (EXTERNAL_ID_SHA256 if hash_external_id else EXTERNAL_ID).of(conversion)
    fields.update(
        {
            "client_ip_address": context.ip,
            "client_user_agent": context.user_agent,
            "fbc": fbc(conversion.attribution),
            "fbp": conversion.attribution.get("fbp"),
        }
    )
    return without_empty(fields)


def forms(*, hash_external_id: bool = True) -> tuple[Identifier, ...]:
    """The customer forms ``user_data`` reads."""
    return (*(form for _, form in HASHED_FIELDS), EXTERNAL_ID_SHA256 if hash_external_id else EXTERNAL_ID)


def _meta(key: str, normalize: Callable[[Customer], str | None]) -> Identifier:
    """Meta's ``key``, normalised as Meta specifies and then hashed (a digest given by the site passes through)."""
    return hashed(f"meta.{key}", normalize)


def _country(customer: Customer) -> str:
    return _letters(customer.country or "")


#: Each hashed ``user_data`` key and its form, in the order Meta's payload lists them. Email (trimmed,
#: lowercased) and phone (E.164 digits without the "+") are hashed as every vendor that takes digests does.
HASHED_FIELDS: tuple[tuple[str, Identifier], ...] = (
    ("em", EMAIL_SHA256),
    ("ph", PHONE_DIGITS_SHA256),
    ("fn", _meta("fn", lambda c: _name(c.first_name))),
    ("ln", _meta("ln", lambda c: _name(c.last_name))),
    ("db", _meta("db", lambda c: c.birthdate.strftime("%Y%m%d") if c.birthdate else None)),
    ("ge", _meta("ge", lambda c: {"female": "f", "male": "m"}.get(c.gender or ""))),
    ("ct", _meta("ct", lambda c: _letters(c.city or "") or None)),
    ("st", _meta("st", lambda c: _state(c.state or "", _country(c)))),
    ("zp", _meta("zp", lambda c: _zip(c.postal_code or "", _country(c)))),
    (
        "country",
        _meta("country", lambda c: _country_code(_country(c))),
    ),
)


def _country_code(country: str) -> str | None:
    return country if len(country) == 2 and country.isascii() else None


def _letters(value: str) -> str:
    """Lowercase letters only: no punctuation, spaces or digits (``New York`` → ``newyork``)."""
    return "".join(ch for ch in value.lower() if ch.isalpha()) if value else ""


def _name(value: str | None) -> str | None:
    """Lowercase without punctuation, non-Latin letters kept as they are (``Valéry`` → ``valéry``)."""
    if not value:
        return None
    kept = "".join(ch for ch in unicodedata.normalize("NFC", value.lower()) if unicodedata.category(ch)[0] != "P")
    return " ".join(kept.split()) or None


def _state(value: str, country: str) -> str | None:
    state = _letters(value)
    if country in ("", "us"):
        state = _US_STATES.get(state, state)
    return state or None


def _zip(value: str, country: str) -> str | None:
    """Lowercase, no spaces, the part before a dash; US: the first five digits."""
    code = "".join(value.lower().split()).split("-")[0]
    return (code[:5] if country == "us" else code) or None


def fbc(attribution: Attribution) -> str | None:
    """The ``_fbc`` value as captured (byte for byte), else one built from an unexpired fbclid and its click time."""
    captured = attribution.fbc
    if captured is not None:
        return captured
    click = attribution.click("fbclid")
    if click is None:
        return None
    return f"fb.1.{int(click.at.timestamp() * 1000)}.{click.value}"
