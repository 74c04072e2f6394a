"""Signing keys: refuse, at start-up, a key anyone could guess.

The cookie and the checkout tokens are only as genuine as their HMAC key. A key copied from an example, a
placeholder never replaced, or a key a few characters repeated lets anyone sign their own attribution (a
cookie crediting an affiliate, a webhook token for an order they never placed). ``check_keys`` refuses, with
a ``ConfigurationError`` that says how to make a real one:

* fewer than 16 characters;
* a placeholder (``change-me``, ``replace-me``, ``your-secret``, ``placeholder``, ``insecure``, ...) or a key
  published in this project's examples, however it is spaced or cased;
* one short pattern repeated (``0000000000000000``, ``change-me-change-me``, ``abcabcabc...``);
* too little left once runs of consecutive or repeated characters (``0123456789``, ``abcdef``, ``aaaa``)
  count as one character each: fewer than 12 characters, or fewer than 8 distinct ones.

``secrets.token_urlsafe(32)`` (43 random characters) passes, whatever it draws.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..errors import ConfigurationError

MIN_LENGTH: Final = 16
HOW: Final = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"

#: Words that mark a value someone was meant to replace (compared without case, spaces or punctuation).
PLACEHOLDERS: Final = (
    "changeme",
    "changethis",
    "password",
    "supersecret",
    "replaceme",
    "replacethis",
    "yoursecret",
    "yourkey",
    "placeholder",
    "insecure",
    "notsecret",
    "notasecret",
    "donotuse",
    "dontuse",
    "xxxxxx",
)
#: Keys this project's examples and demo printed (in this release or an earlier one): public, so forgeable.
PUBLISHED: Final = frozenset(
    {
        "browser-example-secret-key-0123456789",
        "demo-secret-key-change-me-0123456789",
        "django-example-attribution-secret",
        "django-example-secret-change-me",
        "fastapi-example-secret-change-me",
        "litestar-example-secret-change-me",
        "postgres-example-secret-change-me",
        "quart-example-secret-change-me",
        "starlette-example-secret-change-me",
        "tracking-example-token-key-change-me",
        "webhook-example-secret-change-me",
        "whsec-example-change-me",
    }
)
_MIN_COLLAPSED: Final = 12
_MIN_DISTINCT: Final = 8


def _normal(key: str) -> str:
    return "".join(c for c in key.lower() if c.isalnum())


_PUBLISHED_NORMAL: Final = frozenset(_normal(k) for k in PUBLISHED)


def weakness(key: str) -> str | None:
    """Why ``key`` is too weak to sign with, or None when it is fine."""
    if len(key) < MIN_LENGTH:
        return f"shorter than {MIN_LENGTH} characters"
    normal = _normal(key)
    if normal in _PUBLISHED_NORMAL:
        return "a key published in this project's examples"
    if any(word in normal for word in PLACEHOLDERS):
        return "a placeholder"
    if _period(key) <= len(key) // 2:
        return "a short pattern repeated"
    collapsed = _collapsed(key)
    if len(collapsed) < _MIN_COLLAPSED or len(set(collapsed)) < _MIN_DISTINCT:
        return "mostly runs of consecutive or repeated characters"
    return None


def check_keys(keys: Iterable[object], *, option: str = "secret_key") -> tuple[str, ...]:
    """The keys, each a string strong enough to sign with; a ``ConfigurationError`` naming ``option`` (never
    the key) otherwise."""
    found = tuple(keys)
    if not found or not all(isinstance(k, str) and len(k) >= MIN_LENGTH for k in found):
        raise ConfigurationError(
            f"{option} must be a string of at least {MIN_LENGTH} characters (or a list of them, newest first); {HOW}"
        )
    for position, key in enumerate(found):
        assert isinstance(key, str)
        why = weakness(key)
        if why is not None:
            which = f"{option}[{position}]" if len(found) > 1 else option
            raise ConfigurationError(f"{which} is too weak to sign with ({why}): anyone could forge with it; {HOW}")
    return found  # type: ignore[return-value]


def _period(key: str) -> int:
    """The length of the shortest pattern whose repetition spells ``key`` (a prefix of it may end it)."""
    # the prefix function of Knuth-Morris-Pratt: the longest proper prefix that is also a suffix
    border = [0] * len(key)
    k = 0
    for i in range(1, len(key)):
        while k and key[i] != key[k]:
            k = border[k - 1]
        if key[i] == key[k]:
            k += 1
        border[i] = k
    return len(key) - border[-1]


def _collapsed(key: str) -> list[str]:
    """``key`` with each run of three or more consecutive (up or down) or repeated characters as one."""
    out: list[str] = []
    i = 0
    while i < len(key):
        j = i + 1
        if j < len(key):
            step = ord(key[j]) - ord(key[i])
            if step in (-1, 0, 1):
                while j + 1 < len(key) and ord(key[j + 1]) - ord(key[j]) == step:
                    j += 1
                if j - i + 1 >= 3:
                    out.append(key[i : j + 1])
                    i = j + 1
                    continue
        out.append(key[i])
        i += 1
    return out
