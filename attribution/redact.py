"""One place that decides what personal data and credentials look like, for logs, errors, the CLI and the demo.

``redact(text)`` masks, in free text: emails, phone numbers, IP addresses (v4 and v6) standing alone, browser
ids of a known shape (Meta's ``fb.1.<ms>.<id>``, Google Analytics' ``GA1.1.<id>.<time>``), the values of
personal fields written ``"name": "..."`` or ``phone=...``, credentials (``Bearer``/``Basic``/``OAuth``
values, ``api_key=`` and similar parameters, the password of a ``scheme://user:password@host`` URL), and any
exact value passed in ``secrets`` (a vendor's credentials, or the personal values of the delivery an error is
about: a name echoed in prose has no shape).
It leaves alone what an operator needs to read: versions (``Chrome/131.0.0.0``), hosts (``//127.0.0.1:9``),
ids, dates, times and amounts. ``redact_json``, ``redact_url`` and ``redact_headers`` apply the same rules to
structured values, field by field.

Importing this module also masks httpx2's and httpcore2's own log records (``HTTP Request: POST <url>``
carries RD Station's ``api_key`` in its query string); see ``install_log_redaction``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

MASK = "***"

#: Fields whose value is a person's data (or points at one person): masked whole in structured values.
PERSONAL_KEYS = frozenset(
    {
        "email", "emails", "phone", "phones", "personal_phone", "mobile_phone", "phone_number", "name",
        "first_name", "last_name", "full_name", "username", "birthdate", "gender", "city", "state",
        "postal_code", "zip", "address", "company_address", "ip", "ip_address", "client_ip_address",
        "external_id", "user_id", "member_id", "membership_id", "anonymous_id", "pid", "client_tracking_id",
        "twclid", "fbc", "fbp", "ga", "ttp", "email_address", "given_name", "family_name",
        "click_id", "sc_click_id", "sc_cookie1", "oppref", "obref", "zip_code", "postal_codes", "cities", "regions",
        # camelCase, as LinkedIn and Microsoft spell them (keys are compared lowercased)
        "firstname", "lastname", "externalid", "externalids", "anonymousid", "clientipaddress", "idvalue", "uuid",
    }
)  # fmt: skip
#: Fields holding SHA-256 digests of personal data: shortened, enough to compare two deliveries by eye.
HASHED_KEYS = frozenset(
    {"hashed_email", "hashed_phone_number", "email_sha256", "phone_sha256", "em", "ph", "emails_sha256"}
    | {"phone_numbers_sha256"}
)
#: Fields, query parameters and headers that carry credentials.
CREDENTIAL_KEYS = frozenset(
    {
        "api_key", "apikey", "api-key", "x-api-key", "key", "token", "access_token", "refresh_token", "id_token",
        "client_secret", "secret", "password", "passwd", "authorization", "proxy-authorization", "cookie",
        "set-cookie", "signature", "sig", "oauth_signature", "oauth_token", "oauth_consumer_key", "developer-token",
        "appsecret_proof",
    }
)  # fmt: skip
#: Personal fields whose values are matched in free text by their key (``"email": "..."``, ``phone=...``).
_TEXT_KEYS = (
    "email|email_?address|phone|personal_phone|mobile_phone|phone_?number|name|first_name|last_name|full_name"
    "|given_?name|family_?name|ip_?address|firstName|lastName|clientIpAddress"
)
_CREDENTIAL_PARAMS = (
    "api_key|apikey|key|token|access_token|refresh_token|client_secret|secret|password|signature|appsecret_proof"
)

_EMAIL = re.compile(r"[\w.+%-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# +<8..15 digits> with separators, or a national form with separators: (11) 99999-8888, 415-555-0100.
# A bare run of digits is left alone: it is far more often an id or a timestamp than a phone. "+digits" may
# follow "/" (a path segment such as /customers/+5511.../); a national form may not (a version, a date).
_PHONE = re.compile(
    r"(?:(?<![\w+.-])\+\d[\d ().-]{6,22}\d|(?<![\w+/.-])\(?\d{2,3}\)?[ .-]?\d{3,5}[ .-]\d{4})(?!\w)(?![.-]\d)"
)
# An address standing alone; after "/" it is a version (Chrome/131.0.0.0) or a URL's host.
_IPV4 = re.compile(r"(?<![\w./:@-])(?:\d{1,3}\.){3}\d{1,3}(?![\w.:/-])")
# Scheme names as headers write them; a token of at least 8 characters, or OAuth's key="value" list. After
# "Token", which is also a word in prose ("Token expired."), only a value with a digit is taken for a token.
_AUTH_SCHEME = re.compile(
    r"\b(Bearer|Basic|OAuth|Token(?=\s+[\w\-.~+/=]*\d))\s+(?:(?:\w+=\"[^\"]*\",?\s*)+|[\w\-.~+/=]{8,})"
)
_CREDENTIAL_PARAM = re.compile(rf"(?<![\w-])((?:{_CREDENTIAL_PARAMS})=)[^&\s\"'<>]+", re.I)
_QUOTED_FIELD = re.compile(
    rf"""(?<![\w-])((?:{_TEXT_KEYS}|{_CREDENTIAL_PARAMS})["']\s*:\s*)(["'])(?:(?!\2).)+\2""", re.I
)
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_FORM_FIELD = re.compile(rf"(?<![\w-])((?:{_TEXT_KEYS})=)[^&\s\"'<>]+", re.I)
# The password of a URL's user info (postgresql://shop:PASSWORD@db/...); the user name stays readable.
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^/\s@]+@")
# Candidates for an IPv6 address (checked by ``ipaddress``): hex groups and colons, an IPv4 tail allowed.
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|\d{1,3}(?:\.\d{1,3}){3})(?![\w:.])")
# Meta's _fbp / _fbc (fb.<index>.<ms>.<random or fbclid>[.<appendix>]) and Google Analytics' _ga.
_BROWSER_ID = re.compile(r"(?<![\w.])(?:fb\.\d\.\d{10,16}\.[\w-]+(?:\.[\w-]{2,8})?|GA\d\.\d\.\d+\.\d+)(?![\w.-])")
_DIGIT = re.compile(r"\d")
_AUTH_WORDS = ("Bearer", "Basic", "OAuth", "Token")


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """``text`` with personal data and credentials masked (see the module's docstring)."""
    return _mask_values(_by_shape(text) if len(text) <= _CACHED_LENGTH else _shapes(text), secrets)


_CACHED_LENGTH = 2048


def _shapes(text: str) -> str:
    """What every text loses: whatever has the shape of personal data or a credential.

    Each pattern runs only when the text holds what every match of it must hold (an ``=``, an ``@``, a digit):
    the worker redacts every answer a vendor gives, most of them a few characters with nothing to mask."""
    if any(word in text for word in _AUTH_WORDS):
        text = _AUTH_SCHEME.sub(lambda m: f"{m[1]} {MASK}", text)
    if "=" in text:
        text = _CREDENTIAL_PARAM.sub(rf"\1{MASK}", text)
    if ":" in text:
        text = _QUOTED_FIELD.sub(rf"\1\2{MASK}\2", text)
    if "=" in text:
        text = _FORM_FIELD.sub(rf"\1{MASK}", text)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(f"{MASK}@{MASK}", text)
    if ":" in text:
        text = _IPV6.sub(_ipv6, text)
    if _DIGIT.search(text):
        text = _BROWSER_ID.sub(MASK, text)
        text = _PHONE.sub(_phone, text)
        text = _IPV4.sub(MASK, text)
    return text


#: ``_shapes`` remembered for short texts: a vendor answers thousands of requests with the same few bodies.
_by_shape = lru_cache(maxsize=512)(_shapes)


#: What must not reach a log line as it is: control characters (a line break starts a forged line, an escape
#: sequence recolours a terminal), Unicode line separators and bidirectional controls.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text: str) -> str:
    """``text`` on one line: every control character written as its escape (``\\n``, ``\\x1b``, ``\\u202e``), so
    a value from a request or a vendor logged inside a line cannot forge another line or hide what follows."""
    if text.isprintable():
        return text
    return _UNPRINTABLE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def _ipv6(match: re.Match[str]) -> str:
    candidate = match[0]
    if not any(c.isalnum() for c in candidate):
        return candidate  # "::" in prose
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return candidate  # a time (12:30:45), a MAC address, a ratio
    return MASK


def _phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match[0])
    return MASK if digits >= 8 else match[0]


def _mask_values(text: str, values: Iterable[str]) -> str:
    """Every occurrence of each value (as written, or percent-encoded), whole words only, ignoring case."""
    # a percent-encoded value can only be there if the text has a "%": most texts have none
    encoded = "%" in text
    variants = {v for value in values if len(value) >= 3 for v in ((value, _quoted(value)) if encoded else (value,))}
    lowered: str | None = None
    for value in sorted(variants, key=len, reverse=True):  # longest first: a name before its parts
        if value.isascii():  # ASCII lowercases alike in str.lower and re.I: a value absent needs no pattern
            if lowered is None:
                lowered = text.lower()
            if value.lower() not in lowered:
                continue
        masked = _value_pattern(value).sub(MASK, text)
        if masked != text:
            text, lowered = masked, None
    return text


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _quoted(value: str) -> str:
    """``value`` percent-encoded; most values (ids, addresses, browser ids) have nothing to encode."""
    return value if _UNRESERVED.fullmatch(value) else _quote(value)


@lru_cache(maxsize=1024)
def _quote(value: str) -> str:
    return quote(value, safe="")


@lru_cache(maxsize=1024)
def _value_pattern(value: str) -> re.Pattern[str]:
    before = r"(?<!\w)" if value[0].isalnum() else ""
    after = r"(?!\w)" if value[-1].isalnum() else ""
    return re.compile(before + re.escape(value) + after, re.I)


def redact_json(value: Any, *, secrets: Iterable[str] = (), _key: str = "", _depth: int = 0) -> Any:
    """A copy of a JSON value with personal fields masked, hashes shortened and free text redacted.

    ``name`` at the top of a document is an event's name (ConvertLoop's body); anywhere deeper it is a person's.
    """
    key = field_key(_key)
    if isinstance(value, dict):
        return {k: redact_json(v, secrets=secrets, _key=k, _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, secrets=secrets, _key=_key, _depth=_depth) for v in value]
    if value is None or value == "" or isinstance(value, bool):
        return value
    if key in CREDENTIAL_KEYS or (key in PERSONAL_KEYS and not (key == "name" and _depth == 1)):
        return MASK
    if key in HASHED_KEYS and isinstance(value, str):
        return value[:8] + "…"
    return redact(value, secrets=secrets) if isinstance(value, str) else value


def personal_values(payload: Any) -> list[str]:
    """The personal values a payload holds (and the words of names), to mask wherever a vendor echoes them."""
    found: set[str] = set()
    _personal(payload, "", 0, found)
    return sorted(found)


def field_key(name: str) -> str:
    """A field's name as the key sets spell it: ``ipAddress`` (Google's REST JSON) reads ``ip_address``."""
    found = _field_keys.get(name)
    if found is None:
        found = _CAMEL.sub(r"_\1", name).lower() if not name.islower() else name
        if len(_field_keys) < _FIELD_KEYS_KEPT:
            _field_keys[name] = found
    return found


#: ``field_key`` remembered: the worker reads the same few dozen field names in every payload it sends.
_field_keys: dict[str, str] = {}
_FIELD_KEYS_KEPT = 4096

#: Personal fields whose values are short common words: masking them would mask half a message.
_COMMON_WORDS = frozenset(("gender", "state", "city"))
#: The fields whose string values ``personal_values`` collects (``name`` at a payload's top aside).
_COLLECTED = PERSONAL_KEYS - _COMMON_WORDS


def _personal(value: Any, key: str, depth: int, found: set[str]) -> None:
    """Add to ``found`` what ``value`` (under ``key``, ``depth`` objects down) holds that is personal. A plain
    recursion rather than generators, a string under an object's key checked in place rather than by a call of
    its own: the worker collects these for every request it sends."""
    if isinstance(value, dict):
        depth += 1
        for k, v in value.items():
            if isinstance(v, str):
                name = field_key(k)
                if name in _COLLECTED and not (depth == 1 and name == "name"):
                    _collect(v, name, found)
            elif isinstance(v, dict | list):
                _personal(v, field_key(k), depth, found)
    elif isinstance(value, list):
        for v in value:
            _personal(v, key, depth, found)
    elif isinstance(value, str) and key in _COLLECTED and not (depth == 1 and key == "name"):
        _collect(value, key, found)


def _collect(value: str, key: str, found: set[str]) -> None:
    found.add(value)
    if "name" in key:
        found.update(word for word in value.split() if len(word) >= 3)
    if "phone" in key:
        found.add(value.lstrip("+"))


def redact_url(url: str, *, secrets: Iterable[str] = ()) -> str:
    """The URL with credential and personal query parameters and a password masked; host and path kept."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    query = "&".join(_param(pair) for pair in parts.query.split("&")) if parts.query else ""
    rebuilt = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return redact(rebuilt, secrets=secrets)


def _param(pair: str) -> str:
    name, eq, _ = pair.partition("=")
    lowered = unquote(name).lower()
    if eq and (lowered in CREDENTIAL_KEYS or lowered in PERSONAL_KEYS or lowered.startswith("oauth_")):
        return f"{name}={MASK}"
    return pair


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]], *, secrets: Iterable[str] = ()
) -> dict[str, str]:
    """Headers with credential headers masked whole and the other values redacted as text."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    secrets = list(secrets)
    return {k: MASK if k.lower() in CREDENTIAL_KEYS else redact(v, secrets=secrets) for k, v in items}


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, arguments and traceback through ``redact`` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_arg(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _arg(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def _arg(value: object) -> object:
    if value is None or isinstance(value, int | float):
        return value
    return redact(str(value))


#: The loggers of the HTTP client the worker sends with: their records may quote a request's URL.
HTTP_LOGGERS = (
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)


def install_log_redaction(names: Iterable[str] = HTTP_LOGGERS) -> None:
    """Attach one ``RedactingFilter`` to each named logger (idempotent).

    A filter on the logger that creates a record runs before the record reaches any handler, the site's own
    included (a JSON log shipper, an error tracker), and whatever level the site sets.
    """
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


install_log_redaction()
