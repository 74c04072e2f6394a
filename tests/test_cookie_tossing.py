"""Cookie tossing: a value another host put in the browser never hides or replaces the visitor's own.

A page on a subdomain (or any host that shares the registrable domain) can set ``attribution=...`` for the
whole domain with a longer ``Path``; browsers then send it first. The middleware reads every value, the
``__Host-`` cookie first, and takes the first genuine one; on a Secure, host-only site the cookie is named
``__Host-attribution``, which no other host can set, and a value is genuine only under the name it was
signed for.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from attribution.capture.cookie import CookieCodec
from attribution.capture.models import Attribution
from attribution.capture.settings import Settings
from attribution.errors import ConfigurationError
from tests.helpers import COOKIE, NAVIGATION, SECRET, client, make_app, set_cookie_headers

VISITOR = "/show?gclid=Cj0-visitor&utm_source=google&utm_medium=cpc"
ATTACKER = "/show?irclickid=ATTACKER&utm_source=affiliate&utm_medium=affiliate"


def landed(path: str, **options: Any) -> str:
    """The cookie value a browser gets for landing on ``path`` (the attacker can get one for themselves)."""
    c = client(**options)
    (header,) = set_cookie_headers(c.get(path))
    return header.split(";", 1)[0].split("=", 1)[1]


def seen(cookie_header: str, **options: Any) -> tuple[dict[str, Any], list[str]]:
    """What a page reads with exactly this Cookie header, and the Set-Cookie headers of its answer."""
    c = client(**options)
    response = c.get("/show", headers={"cookie": cookie_header})
    return response.json(), set_cookie_headers(response)


def test_the_cookie_is_named_host_prefixed_where_secure_and_host_only() -> None:
    (header,) = set_cookie_headers(client().get(VISITOR))
    assert header.startswith(f"{COOKIE}=")
    assert "; Path=/;" in header
    assert "; Secure" in header
    assert "Domain=" not in header


@pytest.mark.parametrize(
    ("options", "base_url"),
    [
        ({"domain": ".example.com"}, "https://shop.example.com"),
        ({}, "http://localhost:8000"),
        ({"secure": False}, "https://shop.example.com"),
    ],
    ids=["domain", "plain-http-localhost", "secure-off"],
)
def test_the_plain_name_where_a_host_prefixed_cookie_is_impossible(options: dict[str, Any], base_url: str) -> None:
    (header,) = set_cookie_headers(client(base_url=base_url, **options).get(VISITOR))
    assert header.startswith("attribution=")


@pytest.mark.parametrize("tossed", ["garbage", "eyJ2IjoyfQ.forged.signature", '""'])
def test_an_invalid_value_sent_first_does_not_hide_the_visitors_own(tossed: str) -> None:
    own = landed(VISITOR)
    body, written = seen(f"attribution={tossed}; {COOKIE}={own}")
    assert body["click_ids"] == {"gclid": "Cj0-visitor"}
    assert not any(h.startswith(f"{COOKIE}=") for h in written)  # the visitor's own cookie is left as it is
    # the same on a site whose cookie keeps the plain name (domain=): the second value is tried too
    plain_own = landed(VISITOR, domain=".example.com")
    body, _ = seen(f"attribution={tossed}; attribution={plain_own}", domain=".example.com")
    assert body["click_ids"] == {"gclid": "Cj0-visitor"}


def test_a_genuine_cookie_the_attacker_got_for_themselves_cannot_replace_the_visitors_own() -> None:
    own, theirs = landed(VISITOR), landed(ATTACKER)
    # tossed from a subdomain under the plain name with Path=/show: the browser sends it first
    body, _ = seen(f"attribution={theirs}; {COOKIE}={own}")
    assert body["click_ids"] == {"gclid": "Cj0-visitor"}
    assert body["utm"]["utm_source"] == "google"


def test_a_tossed_genuine_value_is_not_adopted_by_a_visitor_without_a_cookie() -> None:
    theirs = landed(ATTACKER)
    body, written = seen(f"attribution={theirs}")
    assert body["click_ids"] == {}  # signed for the __Host- name: under the plain name it is nothing
    assert not any(h.startswith(f"{COOKIE}=") for h in written)


def test_a_cookie_of_the_previous_release_is_read_once_and_moved_to_the_host_prefixed_name() -> None:
    codec = CookieCodec(Settings.build(secret_key=SECRET))
    old = landed(VISITOR, base_url="http://localhost")  # the plain name's signature, as releases before wrote
    assert codec.read(old) is not None
    assert codec.read(old, host=True) is None
    c = TestClient(make_app(), base_url="https://shop.example.com", headers=NAVIGATION)
    c.cookies.set("attribution", old, domain="shop.example.com")
    response = c.get("/show")
    assert response.json()["click_ids"] == {"gclid": "Cj0-visitor"}
    moved, deleted = set_cookie_headers(response)
    assert moved.startswith(f"{COOKIE}=")
    assert "; Secure" in moved
    assert deleted.startswith('attribution=""; Path=/; Max-Age=0')
    assert list(c.cookies.keys()) == [COOKIE]
    again = c.get("/show")
    assert again.json()["click_ids"] == {"gclid": "Cj0-visitor"}
    assert set_cookie_headers(again) == []  # moved once


def test_a_page_that_never_reads_the_attribution_moves_nothing() -> None:
    old = landed(VISITOR, base_url="http://localhost")
    c = TestClient(make_app(), base_url="https://shop.example.com", headers=NAVIGATION)
    c.cookies.set("attribution", old, domain="shop.example.com")
    assert set_cookie_headers(c.get("/plain")) == []


def test_when_both_names_hold_a_genuine_value_the_host_prefixed_one_wins() -> None:
    own = landed(VISITOR)
    old = landed(ATTACKER, base_url="http://localhost")  # genuine under the plain name
    body, _ = seen(f"attribution={old}; {COOKIE}={own}")
    assert body["click_ids"] == {"gclid": "Cj0-visitor"}


def test_a_cookie_name_with_a_prefix_of_its_own_is_refused() -> None:
    for name in ("__Host-attribution", "__secure-attr"):
        with pytest.raises(ConfigurationError, match="without a prefix"):
            Settings.build(secret_key=SECRET, cookie_name=name)


def test_consent_withdrawn_deletes_both_names() -> None:
    consent = {"given": True}
    own = landed(VISITOR)
    old = landed(VISITOR, base_url="http://localhost")
    c = client(consent=lambda scope: consent["given"])
    consent["given"] = False
    response = c.get("/show", headers={"cookie": f"attribution={old}; {COOKIE}={own}"})
    assert response.json()["click_ids"] == {}
    headers = set_cookie_headers(response)
    assert any(h.startswith(f'{COOKIE}=""') and "Max-Age=0" in h for h in headers)
    assert any(h.startswith('attribution=""') and "Max-Age=0" in h for h in headers)


def test_codec_values_signed_for_one_name_do_not_verify_for_the_other() -> None:
    codec = CookieCodec(Settings.build(secret_key=SECRET))
    value = codec.encode(Attribution(), host=True)
    assert codec.read(value, host=True) is not None
    assert codec.read(value) is None
    assert codec.read(value, host=True) is not None  # the cache keeps the two apart both ways
