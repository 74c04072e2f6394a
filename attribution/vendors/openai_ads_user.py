"""The ``user`` object of OpenAI Ads' events: each piece of matching data normalised as OpenAI's material says,
and which ``user`` key it goes under (the field set, configurable while OpenAI's own pages do not settle it).

Personal data travels only as SHA-256 digests (email, phone, external id, names); the geographic fields in
clear by default, as the later material says, or hashed under a key ending in ``_sha256``; the pixel's
``obref``, the IP address and the user agent as they are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from ..orders.identifiers import EMAIL_SHA256, EXTERNAL_ID_SHA256, Identifier, digest, hashed
from .base import JSON

if TYPE_CHECKING:
    from ..orders.conversion import Conversion, Customer

_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_POSTAL = re.compile(r"[^A-Za-z0-9 -]")


class UserField(NamedTuple):
    """Where one piece of matching data goes in ``user``: OpenAI's key, and whether it is a list."""

    key: str
    many: bool = True


# -- the customer's forms, normalised as OpenAI's material says ------------------------------------------


def _phone_digits(customer: Customer) -> str | None:
    """E.164 without ``+``: 8 to 15 digits, country code included (a site's digest passes through)."""
    phone = customer.phone
    if not phone:
        return None
    digits = phone.lstrip("+")
    return digits if not digits.isdigit() or 8 <= len(digits) <= 15 else None


def _name(value: str | None) -> str | None:
    """Lowercase (any script), no whitespace, no ASCII punctuation: ``O'Brien Smith`` → ``obriensmith``."""
    if not value:
        return None
    lowered = unicodedata.normalize("NFC", value.strip().lower())
    return "".join(ch for ch in lowered if not ch.isspace() and ch not in _ASCII_PUNCTUATION) or None


def _country(customer: Customer) -> str | None:
    code = (customer.country or "").strip()
    return code.upper() if len(code) == 2 and code.isascii() and code.isalpha() else None


def _place(value: str | None) -> str | None:
    """A city or region: trimmed, lowercased, at most 128 characters."""
    if not value:
        return None
    return value.strip().lower()[:128] or None


def _postal_code(customer: Customer) -> str | None:
    """Letters, digits, spaces and hyphens, at most 32 characters; case kept (OpenAI states no rule for it)."""
    return _POSTAL.sub("", customer.postal_code or "")[:32].strip() or None


def _plain(name: str, derive: Callable[[Customer], str | None]) -> Identifier:
    return Identifier(f"openai_ads.{name}", derive, hashed=False)


def _hashed(name: str, derive: Callable[[Customer], str | None]) -> Identifier:
    return hashed(f"openai_ads.{name}_sha256", derive)


PHONE_SHA256 = Identifier("openai_ads.phone_sha256", lambda c: digest(_phone_digits(c)), hashed=True)
FIRST_NAME_SHA256 = _hashed("first_name", lambda c: _name(c.first_name))
LAST_NAME_SHA256 = _hashed("last_name", lambda c: _name(c.last_name))
#: The geographic fields, sent in clear by default as the later material says; a ``user_fields`` key ending in
#: ``_sha256`` sends the digest of the same normalised value instead (RudderStack's reading).
_GEO: Mapping[str, Callable[[Customer], str | None]] = MappingProxyType(
    {
        "country": _country,
        "city": lambda c: _place(c.city),
        "region": lambda c: _place(c.state),
        "postal_code": _postal_code,
    }
)
_GEO_FORMS = {name: (_plain(name, derive), _hashed(name, derive)) for name, derive in _GEO.items()}
_PERSONAL: Mapping[str, Identifier] = MappingProxyType(
    {
        "email": EMAIL_SHA256,
        "phone": PHONE_SHA256,
        "external_id": EXTERNAL_ID_SHA256,
        "first_name": FIRST_NAME_SHA256,
        "last_name": LAST_NAME_SHA256,
    }
)
_CONTEXT = ("obref", "ip_address", "user_agent")

#: The ``user`` object of the material from September 2026 on (RudderStack's destination, the toolkit built
#: from OpenAI's pages, every sender since): lists, the first three valid values used.
DEFAULT_USER_FIELDS: Mapping[str, UserField] = MappingProxyType(
    {
        "email": UserField("emails_sha256"),
        "phone": UserField("phone_numbers_sha256"),
        "external_id": UserField("external_ids_sha256"),
        "first_name": UserField("first_names_sha256"),
        "last_name": UserField("last_names_sha256"),
        "country": UserField("countries"),
        "city": UserField("cities"),
        "region": UserField("regions"),
        "postal_code": UserField("postal_codes"),
        "obref": UserField("obref", many=False),
        "ip_address": UserField("ip_address", many=False),
        "user_agent": UserField("user_agent", many=False),
    }
)
#: The ``user`` object of OpenAI's mid-2026 page: single values, no phone (its guide said not to send one).
SINGLE_VALUE_USER_FIELDS: Mapping[str, UserField] = MappingProxyType(
    {
        "email": UserField("email_sha256", many=False),
        "external_id": UserField("external_id_sha256", many=False),
        "country": UserField("country", many=False),
        "city": UserField("city", many=False),
        "postal_code": UserField("zip_code", many=False),
        "ip_address": UserField("ip_address", many=False),
        "user_agent": UserField("user_agent", many=False),
    }
)


def form_for(source: str, field: UserField) -> Identifier | None:
    """The customer form a ``user_fields`` entry reads; None for the request's own data (obref, IP, agent)."""
    if source in _CONTEXT:
        return None
    if source in _PERSONAL:
        return _PERSONAL[source]
    plain, hashed = _GEO_FORMS[source]
    return hashed if field.key.endswith("_sha256") else plain


#: Every source ``user_fields`` may name.
SOURCES = frozenset({*_PERSONAL, *_GEO, *_CONTEXT})


def forms(fields: Mapping[str, UserField]) -> tuple[Identifier, ...]:
    """The customer forms a field set reads: what an order record keeps for OpenAI Ads."""
    return tuple(form for source, field in fields.items() if (form := form_for(source, field)) is not None)


def user(conversion: Conversion, fields: Mapping[str, UserField]) -> JSON:
    """The event's ``user`` object for a field set: each value under OpenAI's key, a list where ``many``."""
    context, identifiers = conversion.context, conversion.attribution.identifiers
    request = {"obref": identifiers.get("obref"), "ip_address": context.ip, "user_agent": context.user_agent}
    found: JSON = {}
    for source, field in fields.items():
        form = form_for(source, field)
        value = form.of(conversion) if form is not None else request.get(source)
        if value:
            found[field.key] = [value] if field.many else value
    return found
