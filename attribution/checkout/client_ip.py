"""The visitor's IP address, seen through the site's own reverse proxies and no one else's.

``X-Forwarded-For`` is a list anyone can start: a client may send ``X-Forwarded-For: 1.2.3.4`` and every
proxy appends what it saw. Only the entries appended by proxies we trust are facts, so the list is read
from the right. The site names its proxies one of two ways:

* their addresses (CIDRs): entries are skipped while they are one of ours, and the first that is not is the
  client (a peer that is not one of ours is the client itself, whatever it sends);
* their number (``1`` for one proxy in front of the app, as werkzeug's ``ProxyFix(x_for=1)``): the client is
  the entry that many places from the right, the one the outermost proxy appended. Only right when nothing
  reaches the app except through those proxies.

"Trust every hop" (``"*"``) is refused: the leftmost entry is whatever the client wrote.
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


Proxies = tuple[IPNetwork, ...] | int
"""The trusted proxies: their networks, or how many stand in front of the app."""


def parse_networks(trusted: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs or single addresses as networks. ``"*"`` is refused (``ValueError``): trusting every hop makes
    the client's own first entry its address."""
    networks = []
    for entry in trusted:
        if entry.strip() == "*":
            raise ValueError(
                '"*" would trust every hop, so a client could write any address first in X-Forwarded-For; '
                "list the proxies' addresses (CIDRs), or give how many proxies stand in front of the app "
                "(trusted_proxies=1)"
            )
        networks.append(ipaddress.ip_network(entry.strip(), strict=False))
    return tuple(networks)


def parse_proxies(trusted: Iterable[str] | int) -> Proxies:
    """``parse_networks``, or a number of proxies (0 or more; a bool is no number). Raises ``ValueError``."""
    if isinstance(trusted, bool):
        raise ValueError("give the proxies' addresses (CIDRs) or their number, not True or False")
    if isinstance(trusted, int):
        if trusted < 0:
            raise ValueError("the number of proxies in front of the app cannot be negative")
        return trusted
    if isinstance(trusted, str):
        raise ValueError(f"a list of CIDRs, not one string: trusted_proxies=[{trusted!r}]")
    return parse_networks(trusted)


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


def _trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(scope: dict[str, Any] | Any, networks: Proxies = ()) -> str | None:
    """The client's IP for an ASGI HTTP scope (or anything with ``.scope``), given the trusted proxies.

    With no trusted proxies it is the peer address. When the peer is a trusted proxy, ``X-Forwarded-For``
    entries are walked right to left past trusted proxies; an unreadable entry there ends the walk with
    None, since a trusted proxy vouched for something that is not an address. With a number of proxies, it
    is the entry that many places from the right (the peer when there are fewer entries).
    """
    scope = getattr(scope, "scope", scope)
    client = scope.get("client")
    if not networks and client and _canonical_ipv4(client[0]):
        return str(client[0])  # the peer is the client, already in the form parsing it would give
    peer = _address(client[0]) if client else None
    if isinstance(networks, int):
        if networks:
            entries = [f for f in _forwarded(scope) if f.strip()]
            if len(entries) >= networks:
                hop = _address(entries[-networks])
                return str(hop) if hop is not None else None
        return str(peer) if peer is not None else None
    if peer is None or not _trusted(peer, networks):
        return str(peer) if peer is not None else None
    address: IPAddress = peer
    for raw in reversed([f for f in _forwarded(scope) if f.strip()]):
        hop = _address(raw)
        if hop is None:
            return None
        address = hop
        if not _trusted(hop, networks):
            break
    return str(address)


def _forwarded(scope: Any) -> list[str]:
    """Every ``X-Forwarded-For`` entry, the headers joined in order."""
    forwarded: list[str] = []
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-forwarded-for":
            forwarded.extend(value.decode("latin-1").split(","))
    return forwarded
