"""Hosts and the domains cookies are written for: IP hosts, and a host's registrable domain (eTLD+1) from the
Public Suffix List shipped with ``publicsuffixlist`` (no network). One rule for every cookie domain and Meta
subdomain index the library works out, so the ``_fbc`` it writes and the one it sends agree."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from publicsuffixlist import PublicSuffixList


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


@lru_cache(maxsize=256)
def registrable(host: str) -> str | None:
    """The host's registrable domain (``www.example.co.uk`` → ``example.co.uk``), None when the host is itself a
    public suffix (``co.uk``) or a single label (``localhost``)."""
    found: str | None = _suffixes().privatesuffix(host)
    return found
