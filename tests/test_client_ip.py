"""Client IP behind proxies: only hops appended by trusted proxies are believed."""

from __future__ import annotations

from typing import Any

import pytest

from attribution.checkout.client_ip import client_ip, parse_networks


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 1234) if peer else None,
        "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded],
    }


PROXIES = parse_networks(["10.0.0.0/8", "2001:db8::/32"])


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() -> None:
    assert client_ip(scope("203.0.113.9", "1.2.3.4")) == "203.0.113.9"


def test_an_untrusted_peer_cannot_claim_another_address() -> None:
    assert client_ip(scope("203.0.113.9", "1.2.3.4"), PROXIES) == "203.0.113.9"


def test_walks_right_to_left_past_trusted_proxies() -> None:
    assert client_ip(scope("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.1"), PROXIES) == "198.51.100.7"


def test_a_spoofed_leftmost_entry_is_ignored_and_headers_are_joined() -> None:
    assert client_ip(scope("10.0.0.2", "6.6.6.6", "198.51.100.7"), PROXIES) == "198.51.100.7"


def test_all_hops_trusted_gives_the_leftmost() -> None:
    assert client_ip(scope("10.0.0.2", "10.1.1.1, 10.0.0.1"), PROXIES) == "10.1.1.1"
    assert client_ip(scope("10.0.0.2"), PROXIES) == "10.0.0.2"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("198.51.100.7:5555", "198.51.100.7"),
        ("[2001:db9::1]:443", "2001:db9::1"),
        ("2001:db9::1", "2001:db9::1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("unknown", None),
    ],
)
def test_entry_forms(entry: str, expected: str | None) -> None:
    assert client_ip(scope("10.0.0.2", entry), PROXIES) == expected


def test_ipv6_proxies_work() -> None:
    assert client_ip(scope("2001:db8::5", "198.51.100.7"), PROXIES) == "198.51.100.7"


def test_no_client_in_scope() -> None:
    assert client_ip(scope(None, "1.2.3.4"), PROXIES) is None


def test_a_bad_network_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_networks(["10.0.0.300/8"])
