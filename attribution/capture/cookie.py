"""The signed cookie: signing, key rotation, a size budget, its two names, and the Set-Cookie header.

The payload is ``wire.py``'s compact form as JSON, base64url-encoded (zlib-compressed first when it is
large and that helps, marked by a leading ``.``) and signed with itsdangerous' ``TimestampSigner``
(HMAC-SHA1 over value and time).

Wherever the cookie is Secure and host-only (no ``domain``), it is named ``__Host-<cookie_name>``: browsers
accept that name only from the host itself, Secure, with ``Path=/`` and no ``Domain``, so a subdomain cannot
set one beside it ("cookie tossing"). Elsewhere (plain-HTTP localhost, ``secure=False``, a ``domain``) it
keeps the plain name. Each name has its own signing salt, so a value is genuine only under the name it was
written for: a ``__Host-`` value an attacker got for themselves, tossed under the plain name, verifies as
nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import zlib
from collections.abc import Callable, Iterable
from itertools import islice
from time import time as _now
from typing import Any, Final

from itsdangerous import BadSignature, TimestampSigner
from itsdangerous.encoding import int_to_bytes
from itsdangerous.signer import HMACAlgorithm

from . import wire
from .lru import ByteLRU
from .models import Attribution
from .settings import Settings

log = logging.getLogger("attribution.cookie")

#: Budget for ``name=value``. Browsers keep cookies up to 4096 bytes of name, value and attributes;
#: the attributes we add take well under 200.
MAX_NAME_VALUE_BYTES: Final = 3800
#: Most bytes of JSON a cookie may decode to. The reader stops there (no zip bombs), so the writer never
#: produces more: repetitive values compress so well that a 1.7 KB cookie could otherwise hold 77 KB.
MAX_DECODED_BYTES: Final = 64 * 1024
_SALT: Final = "attribution.cookie.v1"
#: The ``__Host-`` name's salt: a value signed for one name never verifies under the other.
_HOST_SALT: Final = "attribution.cookie.v1:__Host-"
HOST_PREFIX: Final = "__Host-"
_COMPRESS_FROM: Final = 600  # bytes of JSON; below this zlib rarely pays for itself
#: What the verified-cookie cache may hold, and the most one entry may weigh (a larger one is re-verified).
CACHE_BYTES: Final = 4 * 1024 * 1024
_CACHE_ENTRY_BYTES: Final = 48 * 1024


_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    """``base64.urlsafe_b64encode(data).rstrip(b"=")``, without its two layers of Python calls."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


class _PreKeyedHMAC(HMACAlgorithm):
    """HMAC-SHA1 from a keyed object made once per key and copied per call: the key's two hash blocks
    are not recomputed on every sign and verify (cheaper than even ``hmac.digest``'s one-shot call)."""

    def __init__(self) -> None:
        super().__init__(hashlib.sha1)
        self._keyed: dict[bytes, hmac.HMAC] = {}

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        keyed = self._keyed.get(key)
        if keyed is None:
            keyed = self._keyed[key] = hmac.new(key, digestmod=hashlib.sha1)
        mac = keyed.copy()
        mac.update(value)
        return mac.digest()


class _Signer(TimestampSigner):
    """itsdangerous' TimestampSigner, deriving each key once instead of on every sign and verify."""

    def __init__(self, keys: list[str], salt: str = _SALT) -> None:
        super().__init__(keys, salt=salt, algorithm=_PreKeyedHMAC())
        self._derived: dict[bytes, bytes] = {}
        self._sep = self.sep.encode() if isinstance(self.sep, str) else self.sep
        self._stamp: tuple[int, bytes] = (-1, b"")  # the last second signed at, and its encoding
        self._signing = hmac.new(self.derive_key(), digestmod=hashlib.sha1)  # the newest key's, keyed once

    def sign(self, value: str | bytes) -> bytes:
        """``TimestampSigner.sign``, byte for byte, without its layers of helpers: the time's encoding is
        kept for the second it stands for, the key derived once and its HMAC keyed once."""
        value = value.encode() if isinstance(value, str) else value
        now = self.get_timestamp()
        at, stamp = self._stamp
        if at != now:
            stamp = _b64(int_to_bytes(now))
            self._stamp = (now, stamp)
        signed = value + self._sep + stamp
        mac = self._signing.copy()
        mac.update(signed)
        return signed + self._sep + _b64(mac.digest())

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_key if secret_key is None else secret_key
        key = key.encode() if isinstance(key, str) else key
        derived = self._derived.get(key)
        if derived is None:
            derived = self._derived[key] = super().derive_key(key)
        return derived


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # json.dumps makes one per call
# JSONEncoder.encode builds its C encoder anew on every call (a third of the encoding); the payloads capture
# writes are built here, plain and acyclic, so theirs is made once, without the circular-reference check.
_c_make_encoder: Callable[..., Callable[[Any, int], Iterable[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
_WIRE_ENCODER: Final = (
    _c_make_encoder(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    if _c_make_encoder is not None
    else None
)


def _json(data: Any) -> bytes:
    return _ENCODER.encode(data).encode()


def _wire_json(data: wire.Wire) -> bytes:
    """``_json`` for a payload built by ``wire``: the same text, from the encoder made once."""
    if _WIRE_ENCODER is None:  # pragma: no cover - CPython always has the C encoder
        return _json(data)
    return "".join(_WIRE_ENCODER(data, 0)).encode()


def _dump(data: Any) -> bytes:
    return _pack(_json(data))


def _pack(raw: bytes) -> bytes:
    if len(raw) >= _COMPRESS_FROM:
        packed = zlib.compress(raw, 6)
        if len(packed) < len(raw):
            return b"." + _b64(packed)
    return _b64(raw)


def _load(payload: bytes) -> bytes:
    """The JSON text of a payload, at most ``MAX_DECODED_BYTES`` of it."""
    compressed = payload.startswith(b".")
    data = payload[1:] if compressed else payload
    raw = base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    if compressed:
        raw = zlib.decompressobj().decompress(raw, MAX_DECODED_BYTES)  # bounded: no zip bombs
    return raw


class CookieCodec:
    """Encodes and decodes the attribution cookie; never raises on what a browser sends.

    Verified, parsed payloads are kept in an LRU cache keyed by the cookie value, so a returning visitor's
    requests verify and parse once per process, not once per request. The cache is bounded by bytes
    (``CACHE_BYTES``), so distinct large cookies cannot grow the process; it holds the signing time, so a
    cached value still expires on time.

    Methods that sign or verify take ``host``: whether the value is (to be) the ``__Host-`` cookie's.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.cookie_name
        self.host_name = HOST_PREFIX + settings.cookie_name
        # itsdangerous signs with the LAST key and verifies with all; our setting lists the newest first.
        keys = list(reversed(settings.secret_keys))
        self._signer = _Signer(keys)
        self._host_signer = _Signer(keys, _HOST_SALT)
        self._max_age = int(settings.max_age.total_seconds())
        self._attributes = f"; Path=/; Max-Age={self._max_age}; HttpOnly; SameSite=Lax"
        if settings.domain:
            self._attributes += f"; Domain={settings.domain}"
        # one cache for both names: a plain-name value is cached under its value with a leading "=", which no
        # signed value has, so a value verified for one name is never taken from the cache for the other
        self._verified: ByteLRU[str, tuple[float, wire.Wire | None]] = ByteLRU(CACHE_BYTES, _CACHE_ENTRY_BYTES)

    def writes_host(self, secure: bool) -> bool:
        """Whether a cookie written with this Secure flag is the ``__Host-`` one: Secure and host-only."""
        return secure and not self.settings.domain

    def sign(self, data: Any, *, host: bool = False) -> str:
        """Sign any JSON-serialisable payload as a cookie value (``to_wire`` output, normally)."""
        return self._signer_for(host).sign(_dump(data)).decode("ascii")

    def _signer_for(self, host: bool) -> _Signer:
        return self._host_signer if host else self._signer

    def verified_payload(self, raw: str, *, host: bool = False) -> Any:
        """The decoded JSON of a genuine, unexpired cookie value, uncached and unchecked (diagnostics).
        Raises BadSignature (and its subclasses) or a decoding error otherwise."""
        payload = self._signer_for(host).unsign(raw, max_age=self._max_age)
        return json.loads(_load(payload))

    def read(self, raw: str | None, *, host: bool = False) -> wire.Wire | None:
        """The payload of a genuine, unexpired cookie (of the current format, or the previous one read
        forward); None for anything else (a debug line is logged, without the value). The payload is
        shared: never mutate it."""
        if not raw:
            return None
        if len(raw) > MAX_NAME_VALUE_BYTES:
            log.debug("attribution cookie ignored: %d bytes is over the size limit", len(raw))
            return None
        key = raw if host else "=" + raw
        hit = self._verified.get(key)
        if hit is not None and _now() - hit[0] <= self._max_age:
            return hit[1]
        try:
            payload, signed_at = self._signer_for(host).unsign(raw, max_age=self._max_age, return_timestamp=True)
            text = _load(payload)
            data = json.loads(text)
        except BadSignature as exc:
            log.debug("attribution cookie ignored: %s", type(exc).__name__)
            return None
        except Exception as exc:
            log.debug("attribution cookie ignored: unreadable payload (%s)", type(exc).__name__)
            return None
        parsed = wire.parse(data, self.settings.click_id_windows)
        if parsed is None:
            log.debug("attribution cookie ignored: signed, but not in a format this version reads")
        # what the entry keeps alive: the value, and the parsed payload at about twice its JSON's size
        self._verified.put(key, (signed_at.timestamp(), parsed), len(raw) + 2 * len(text))
        return parsed

    def valid_until(self, raw: str | None, *, host: bool = False) -> float | None:
        """When a cookie value ``read`` verified and still holds stops being valid (its signing time plus
        ``max_age``, in epoch seconds); None when it is not a valid value held in the cache."""
        hit = self._verified.get(raw if host else "=" + raw) if raw else None
        if hit is None or hit[1] is None:
            return None
        return hit[0] + self._max_age

    def decode(self, raw: str | None, *, host: bool = False) -> Attribution:
        """The attribution in a cookie value; empty for a missing, tampered, expired, malformed,
        oversized or old-format cookie."""
        data = self.read(raw, host=host)
        attr = (
            wire.from_wire(data)
            if data is not None
            else Attribution.model_construct(first=None, history=[], identifiers={}, clicks={})
        )
        return attr.with_windows(self.settings.click_id_windows, direct=self.settings.direct_channel)

    def encode(self, attr: Attribution, *, host: bool = False) -> str:
        """The signed cookie value for an attribution (see ``encode_wire``)."""
        return self.encode_wire(wire.to_wire(attr), host=host)

    def encode_wire(self, data: wire.Wire, *, host: bool = False) -> str:
        """The signed cookie value, shrunk until it fits the size budget and decodes within
        ``MAX_DECODED_BYTES`` (oldest middle touches go first), so every cookie written reads back."""
        signer = self._signer_for(host)
        budget = MAX_NAME_VALUE_BYTES - len(self.host_name if host else self.name) - 1
        raw = _wire_json(wire.compact(data, self.settings.click_id_windows))
        if len(raw) <= MAX_DECODED_BYTES:  # nearly always: the payload as it is, without the shrinking loop
            value = signer.sign(_pack(raw)).decode("ascii")
            if len(value) <= budget:
                return value
        for candidate in islice(wire.shrinking(data), 1, None):  # the payload itself was tried above
            raw = _wire_json(wire.compact(candidate, self.settings.click_id_windows))
            if len(raw) > MAX_DECODED_BYTES:
                continue
            value = signer.sign(_pack(raw)).decode("ascii")
            if len(value) <= budget:
                return value
        raise AssertionError("unreachable: an attribution with no touches always fits")  # pragma: no cover

    def set_cookie(self, value: str, *, secure: bool) -> str:
        """The Set-Cookie header value for a new cookie, under the name this Secure flag writes; ``value``
        must be signed for it (``encode_wire(..., host=writes_host(secure))``)."""
        name = self.host_name if self.writes_host(secure) else self.name
        return f"{name}={value}{self._attributes}{'; Secure' if secure else ''}"

    def clear_cookie(self, *, secure: bool, host: bool | None = None) -> str:
        """The Set-Cookie header value that deletes the cookie (consent withdrawn, or the other name's once
        its value moved): the name this Secure flag writes, or the one ``host`` says."""
        host = self.writes_host(secure) if host is None else host
        attributes = self._attributes.replace(f"Max-Age={self._max_age}", "Max-Age=0")
        if host:  # a __Host- cookie is only ever Secure, host-only
            return f'{self.host_name}=""{attributes.split("; Domain=")[0]}; Secure'
        return f'{self.name}=""{attributes}{"; Secure" if secure else ""}'


def cookie_values(header: str, name: str) -> list[tuple[str, bool]]:
    """Every value of the cookie ``name`` and of ``__Host-<name>`` in a Cookie header, as ``(value, host)``:
    the ``__Host-`` ones first (no other host can have set them), then the others in the header's order
    (the browser's: the longest path first, then the oldest). Empty values are left out.

    Every value is returned, not the first: a value another subdomain tossed in with a longer path comes
    first in the header, and must not hide the visitor's own.
    """
    found: list[tuple[str, bool]] = []
    plain: list[tuple[str, bool]] = []
    marker = name + "="
    start = 0
    prefix = len(HOST_PREFIX)
    while True:
        at = header.find(marker, start)
        if at < 0:
            break
        start = at + 1
        if at == 0 or header[at - 1] in "; ":
            into = plain
        elif (
            at >= prefix
            and header.startswith(HOST_PREFIX, at - prefix)
            and (at == prefix or header[at - prefix - 1] in "; ")
        ):
            into = found
        else:
            continue
        end = header.find(";", at)
        value = header[at + len(marker) : end if end >= 0 else None].strip().strip('"')
        if value:
            into.append((value, into is found))
    return found + plain if plain else found
