"""A signing key anyone could guess is refused when the middleware or the tracker is built.

The cookie and the checkout tokens are only as genuine as their key: a placeholder never replaced, a key copied
from an example, or a few characters repeated lets anyone sign their own attribution.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from attribution.checkout.tracker import Tracker
from attribution.errors import ConfigurationError
from attribution.web.middleware import AttributionMiddleware
from tests.helpers import SECRET, make_app

WEAK = [
    "change-me-change-me",
    "0000000000000000",
    "abcabcabcabcabcabc",  # a short pattern repeated
    "CHANGEME-please-0001",  # a placeholder, however it is cased and spaced
    "your_secret_key_here!",
    "demo-secret-key-change-me-0123456789",  # the demo's published key
    "django-example-attribution-secret",  # an example's published key
    "0123456789abcdef",  # one run of consecutive characters
    "aaaaaaaabbbbbbbbcccc",
]


@pytest.mark.parametrize("key", WEAK)
def test_the_middleware_refuses_a_weak_key_and_says_how_to_make_one(key: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        AttributionMiddleware(make_app(), secret_key=key)
    message = str(refused.value)
    assert message.startswith("secret_key is too weak to sign with")
    assert "secrets.token_urlsafe(32)" in message
    assert key not in message  # the key itself is never repeated back


@pytest.mark.parametrize("key", WEAK)
def test_the_tracker_refuses_a_weak_token_key(key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="too weak to sign with"):
        Tracker(vendors=[], outbox=tmp_path / "outbox.sqlite3", secret_key=key)


def test_every_key_of_a_rotation_list_is_checked_and_named_by_position() -> None:
    with pytest.raises(ConfigurationError, match=r"secret_key\[1\] is too weak"):
        AttributionMiddleware(make_app(), secret_key=[SECRET, "0000000000000000"])


def test_random_keys_as_the_error_says_to_make_them_pass(tmp_path: Path) -> None:
    for _ in range(500):
        AttributionMiddleware(make_app(), secret_key=secrets.token_urlsafe(32))
    for _ in range(500):
        keys = [secrets.token_urlsafe(32), secrets.token_hex(16)]
        Tracker(vendors=[], outbox=tmp_path / "outbox.sqlite3", secret_key=keys)
