"""Meta's customer information parameters: each field normalised as Meta specifies, then SHA-256 hashed.

``fbc``, ``fbp``, the IP address and the user agent are never hashed; a value already given as a SHA-256
digest passes through, never hashed twice.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from ..checkout import pii
from .base import JSON, without_empty

if TYPE_CHECKING:
    from ..capture.models import Attribution
    from ..checkout.conversion import Conversion, Customer

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
    customer, context = conversion.customer, conversion.context
    external = customer.external_id or customer.user_id
    hashed = {key: _hash(value) for key, value in normalized_customer(customer).items()}
    if external:
        hashed["external_id"] = _hash(external.strip()) if hash_external_id else external.strip()
    return without_empty(
        {
            **hashed,
            "client_ip_address": context.ip,
            "client_user_agent": context.user_agent,
            "fbc": fbc(conversion.attribution),
            "fbp": conversion.attribution.get("fbp"),
        }
    )


def normalized_customer(customer: Customer) -> dict[str, str]:
    """Each customer field in the form Meta hashes it (``em``, ``ph``, ``fn``, ...); unusable ones left out.

    A field already given as a SHA-256 digest (email or phone) passes through.
    """
    country = _letters(customer.country or "")
    fields: dict[str, str | None] = {
        "em": customer.email,
        # digits only, with the country code: the E.164 form without its "+"
        "ph": customer.phone.lstrip("+") if customer.phone else None,
        "fn": _name(customer.first_name),
        "ln": _name(customer.last_name),
        "db": customer.birthdate.strftime("%Y%m%d") if customer.birthdate else None,
        "ge": {"female": "f", "male": "m"}.get(customer.gender or ""),
        "ct": _letters(customer.city or ""),
        "st": _state(customer.state or "", country),
        "zp": _zip(customer.postal_code or "", country),
        "country": country if len(country) == 2 and country.isascii() else None,
    }
    return {key: value for key, value in fields.items() if value}


def _hash(value: str) -> str:
    return value.lower() if pii.is_sha256(value) else pii.sha256(value)


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
