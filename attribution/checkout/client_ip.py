"""The visitor's IP address, seen through the site's own reverse proxies and no one else's.

``X-Forwarded-For`` is a list anyone can start: a client may send ``X-Forwarded-For: 1.2.3.4`` and every
proxy appends what it saw. Only the entries appended by proxies we trust are facts, so the list is read
from the right, skipping trusted proxies, and the first address that is not one of ours is the client.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
"""An IPv4 address written exactly as ``str(ipaddress.ip_address(...))`` writes it back."""


def parse_networks(trusted: Iterable[str]) -> tuple[IPNetwork, ...] | None:
    """CIDRs or single addresses as networks; None stands for ``"*"`` (trust every hop: only when the app
    is reachable through the proxy alone)."""
    networks = []
    for entry in trusted:
        if entry.strip() == "*":
            return None
        networks.append(ipaddress.ip_network(entry.strip(), strict=False))
    return tuple(networks)


def _address(raw: str) -> IPAddress | None:
    """An address from a header entry: ``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:443``, ``::1``."""
    raw = raw.strip().strip('"')
    if raw.startswith("["):
        raw = raw[1 : raw.find("]")] if "]" in raw else raw
    elif raw.count(":") == 1:
        raw = raw.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _canonical_ipv4(value: Any) -> bool:
    return isinstance(value, str) and _CANONICAL_IPV4.fullmatch(value) is not None


def _trusted(address: IPAddress, networks: tuple[IPNetwork, ...] | None) -> bool:
    return networks is None or any(address in network for network in networks)


def client_ip(scope: dict[str, Any] | Any, networks: tuple[IPNetwork, ...] | None = ()) -> str | None:
    """The client's IP for an ASGI HTTP scope (or anything with ``.scope``), given the trusted proxies.

    With no trusted proxies it is the peer address. When the peer is a trusted proxy, ``X-Forwarded-For``
    entries are walked right to left past trusted proxies; an unreadable entry there ends the walk with
    None, since a trusted proxy vouched for something that is not an address.
    """
    scope = getattr(scope, "scope", scope)
    client = scope.get("client")
    if not networks and networks is not None and client and _canonical_ipv4(client[0]):
        return str(client[0])  # the peer is the client, already in the form parsing it would give
    peer = _address(client[0]) if client else None
    if peer is None or not _trusted(peer, networks):
        return str(peer) if peer is not None else None
    forwarded: list[str] = []
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-forwarded-for":
            forwarded.extend(value.decode("latin-1").split(","))
    address: IPAddress = peer
    for raw in reversed([f for f in forwarded if f.strip()]):
        hop = _address(raw)
        if hop is None:
            return None
        address = hop
        if not _trusted(hop, networks):
            break
    return str(address)
