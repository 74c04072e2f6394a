"""The customer's data in the forms vendors match on: each form named, derived once, stored only where needed.

A vendor never reads ``conversion.customer`` itself: it declares the ``Identifier`` forms it uses
(``Vendor.identifiers``) and reads each with ``FORM.of(conversion)``. That lets checkout keep, for every
order, exactly the forms its vendors declared, in the least revealing shape they accept: a site whose
vendors only take SHA-256 digests stores digests, never an email in clear. When the worker later builds a
vendor's request from the stored order, ``of`` answers from what was stored, and the answer is the same.

Forms that several vendors share live here; a form only one vendor uses lives in that vendor's module,
named ``"<vendor>.<field>"``. A value the site already gave as a SHA-256 digest passes through the
hashed forms (never hashed twice) and yields nothing for the plain ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from . import pii

if TYPE_CHECKING:
    from .conversion import Conversion, Customer


@dataclass(frozen=True, slots=True, eq=False)
class Identifier:
    """One form of the customer's data: its ``name`` (the key an order record stores it under) and how it is
    derived from a validated ``Customer``. ``hashed`` says whether the form hides the value (a digest) or
    carries it in clear."""

    name: str
    derive: Callable[[Customer], str | None] = field(repr=False)
    hashed: bool

    def of(self, conversion: Conversion) -> str | None:
        """This form of the conversion's customer, or None when the customer gave nothing it can come from."""
        return conversion.identifier(self)


def digest(value: str | None) -> str | None:
    """SHA-256 hex of a normalised value; a value that already is a digest passes through, lowercased."""
    if not value:
        return None
    return value.lower() if pii.is_sha256(value) else pii.sha256(value)


def hashed(name: str, normalize: Callable[[Customer], str | None]) -> Identifier:
    """The form ``name``: the customer's value as ``normalize`` writes it, then hashed; a digest the site gave
    passes through (a vendor's own normalisation rules, as its API describes them)."""
    return Identifier(name, lambda customer: digest(normalize(customer)), hashed=True)


def two_letter_code(value: str | None) -> str | None:
    """A two-letter code (a country's ISO 3166-1 code, a state's), trimmed and lowercased (``BR`` → ``br``); None
    for anything else."""
    code = (value or "").strip().lower()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None


def _plain(value: str | None) -> str | None:
    return value if value and not pii.is_sha256(value) else None


def _external(customer: Customer) -> str | None:
    found = customer.external_id or customer.user_id
    return found.strip() or None if found else None


EMAIL = Identifier("email", lambda c: _plain(c.email), hashed=False)
"""The email in clear, trimmed and lowercased (None when the site gave only its digest)."""
EMAIL_SHA256 = Identifier("email_sha256", lambda c: digest(c.email), hashed=True)
"""SHA-256 of the trimmed, lowercased email."""
PHONE = Identifier("phone", lambda c: _plain(c.phone), hashed=False)
"""The phone in clear, E.164 (``+5511912345678``)."""
PHONE_SHA256 = Identifier("phone_sha256", lambda c: digest(c.phone), hashed=True)
"""SHA-256 of the E.164 phone, ``+`` included."""
PHONE_DIGITS_SHA256 = Identifier(
    "phone_digits_sha256", lambda c: digest(c.phone.lstrip("+") if c.phone else None), hashed=True
)
"""SHA-256 of the E.164 phone without its ``+``: the country code and number, digits only."""
FIRST_NAME = Identifier("first_name", lambda c: c.first_name, hashed=False)
LAST_NAME = Identifier("last_name", lambda c: c.last_name, hashed=False)
FULL_NAME = Identifier("full_name", lambda c: c.full_name, hashed=False)
"""``name``, else first and last name joined."""
CITY = Identifier("city", lambda c: c.city, hashed=False)
STATE = Identifier("state", lambda c: c.state, hashed=False)
POSTAL_CODE = Identifier("postal_code", lambda c: c.postal_code, hashed=False)
COUNTRY = Identifier("country", lambda c: c.country, hashed=False)
BIRTHDATE = Identifier("birthdate", lambda c: c.birthdate.isoformat() if c.birthdate else None, hashed=False)
"""``YYYY-MM-DD``."""
GENDER = Identifier("gender", lambda c: c.gender, hashed=False)
EXTERNAL_ID = Identifier("external_id", _external, hashed=False)
"""The site's own customer id (``external_id``, else ``user_id``), trimmed."""
USER_ID = Identifier("user_id", lambda c: c.user_id or c.external_id, hashed=False)
"""The site's login id (``user_id``, else ``external_id``)."""
EXTERNAL_ID_SHA256 = Identifier("external_id_sha256", lambda c: digest(_external(c)), hashed=True)


def derive_all(forms: Iterable[Identifier], customer: Customer) -> dict[str, str]:
    """Each form of ``customer`` that yields a value, by name: what an order record keeps."""
    found: dict[str, str] = {}
    for form in forms:
        value = form.derive(customer)
        if value:
            found[form.name] = value
    return found


def union(groups: Iterable[Iterable[Identifier]]) -> tuple[Identifier, ...]:
    """The forms of several vendors, each once. Two different forms under one name are a configuration error:
    the order record could not tell their values apart."""
    seen: dict[str, Identifier] = {}
    for group in groups:
        for form in group:
            known = seen.setdefault(form.name, form)
            if known is not form:
                raise ConfigurationError(f"two identifier forms are both named {form.name!r}: give each its own name")
    return tuple(seen.values())


def revealing(stored: Mapping[str, str], forms: Iterable[Identifier]) -> list[str]:
    """The names among ``stored`` that hold a value in clear (not a digest), by the forms' own declaration."""
    plain = {form.name for form in forms if not form.hashed}
    return sorted(name for name in stored if name in plain)
