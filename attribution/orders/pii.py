"""Normalise and hash personal data the way conversion APIs match it.

Emails are trimmed and lowercased; phones become E.164 (``+14155550100``) through ``phonenumbers``, the
maintained port of Google's libphonenumber, with a default region for numbers typed without a country
code. Hashes are SHA-256 hex of the normalised form. A value that already is a SHA-256 hex digest passes
through (lowercased), so a site that only keeps hashes can still send them.

Errors raised here never repeat the value: it is personal data and would end up in logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from contextvars import ContextVar

import phonenumbers

from ..errors import InvalidConversionError

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


_HASHED: ContextVar[tuple[dict[str, str], dict[str, bool]] | None] = ContextVar("attribution_hashed", default=None)
"""Inside ``hashing_once``: each value's digest, and whether each value is a digest."""


def is_sha256(value: str) -> bool:
    """True when ``value`` is a SHA-256 hex digest (64 hex characters)."""
    remembered = _HASHED.get()
    if remembered is None:
        return _SHA256_HEX.fullmatch(value) is not None
    verdicts = remembered[1]
    verdict = verdicts.get(value)
    if verdict is None:
        verdict = verdicts[value] = _SHA256_HEX.fullmatch(value) is not None
    return verdict


def sha256(value: str) -> str:
    """SHA-256 hex of ``value`` as UTF-8."""
    remembered = _HASHED.get()
    if remembered is None:
        return hashlib.sha256(value.encode("utf-8")).hexdigest()
    digests = remembered[0]
    digest = digests.get(value)
    if digest is None:
        digest = digests[value] = hashlib.sha256(value.encode("utf-8")).hexdigest()
    return digest


@contextlib.contextmanager
def hashing_once() -> Iterator[None]:
    """Inside, ``sha256`` hashes each value once (and ``is_sha256`` looks at it once): for the vendors of one
    checkout, which hash the same email and phone. What was hashed is forgotten on the way out."""
    token = _HASHED.set(({}, {}))
    try:
        yield
    finally:
        _HASHED.reset(token)


def normalize_email(value: str) -> str:
    """Trimmed and lowercased; a SHA-256 digest passes through lowercased.

    Raises ``InvalidConversionError`` for something that is neither an address nor a digest: a typo caught
    at checkout is cheaper than a vendor silently matching nobody.
    """
    email = value.strip().lower()
    if is_sha256(email):
        return email
    local, at, domain = email.partition("@")
    shaped = at and local and "." in domain and "@" not in domain and " " not in email
    # printable only (a NUL or a zero-width space, hashed, matches nobody), and within RFC 5321's lengths
    if not shaped or not email.isprintable() or len(local) > 64 or len(email) > 254:
        raise InvalidConversionError("customer email is not an email address (nor a SHA-256 hash of one)")
    return email


def normalize_phone(value: str, default_region: str | None = None) -> str:
    """E.164 (``+14155550100``); a SHA-256 digest passes through lowercased.

    ``default_region`` (ISO 3166-1 alpha-2, e.g. ``"US"``, ``"BR"``) is used for numbers written without
    ``+<country code>``. Numbers are accepted when their length is possible for the region: validity
    rules change with numbering plans faster than any library release.
    """
    phone = value.strip()
    if is_sha256(phone):
        return phone.lower()
    region = default_region.upper() if default_region else None
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        hint = "" if region else "; write it as +<country code> or set phone_region"
        raise InvalidConversionError(f"customer phone is not a phone number{hint}") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidConversionError(
            f"customer phone is not a possible number for region {region or 'given by its +prefix'}"
        )
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164


def hash_email(value: str) -> str:
    """SHA-256 hex of the normalised email (or the digest itself)."""
    email = normalize_email(value)
    return email if is_sha256(email) else sha256(email)


def hash_phone(value: str, default_region: str | None = None) -> str:
    """SHA-256 hex of the E.164 form, ``+`` included (as X's own example hash shows), or the digest itself."""
    phone = normalize_phone(value, default_region)
    return phone if is_sha256(phone) else sha256(phone)
