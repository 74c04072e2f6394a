"""What a referring host or a ``utm_source`` names: a search engine, a social network, an AI assistant, a video
or shopping site, a webmail, or one of Google's ad frames. Both channel rule sets ask here.

The answer is a bit set (``SEARCH | SOCIAL`` for a host two lists name), from the generated lists
(``referrers.py``: Matomo's and GA4's) and the reviewed additions (``referrer_additions.py``), merged once at
import into dicts, so a host costs a few dict lookups and one registrable-domain lookup.

How a host matches:

- exactly (``www.`` aside), or through a ``{}`` pattern: ``google.{}`` for any public suffix
  (``google.co.uk``), ``{}.search.yahoo.com`` for any first label;
- a subdomain of a listed social network, assistant, video, shopping or ad host is that too
  (``l.facebook.com``, ``beta.character.ai``, ``tdsf.doubleclick.net``);
- a subdomain of a search engine's domain is a search engine only when its labels are made of the parts the
  lists use for that engine's own hosts, in any numbering, plus country codes and ``m``:
  ``it.images.search.yahoo.com`` and ``s3-us3.ixquick.com`` are, ``mail.google.com``, ``docs.google.com``
  and ``finance.yahoo.com`` are not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final
from urllib.parse import urlsplit

from . import referrer_additions as extra
from . import referrers as upstream
from .domains import registrable

AI: Final = 1
SOCIAL: Final = 2
SEARCH: Final = 4
VIDEO: Final = 8
SHOPPING: Final = 16
DISPLAY_AD: Final = 32
SEARCH_AD: Final = 64
#: Kinds a subdomain shares with its listed parent. Not SEARCH: mail.google.com is no search engine.
_INHERITED: Final = AI | SOCIAL | VIDEO | SHOPPING | DISPLAY_AD | SEARCH_AD
MAX_HOST_LENGTH: Final = 253  # a DNS name's longest
_GENERIC_LABELS: Final = frozenset(("www", "m", "mobile", "touch", "wap"))
_PARTS: Final = re.compile(r"[^a-z]+")  # "s3-us3" -> "s", "us"
_NOT_NAME: Final = re.compile(r"[^a-z0-9]")


def _merge(into: dict[str, int], values: Iterable[str], kind: int) -> None:
    for value in values:
        into[value] = into.get(value, 0) | kind


def _parts(labels: Iterable[str]) -> list[str]:
    return [part for label in labels for part in _PARTS.split(label) if part]


def _generic(part: str) -> bool:
    return part in _GENERIC_LABELS or len(part) == 2  # a country or language code: it., de., uk.


def _split(host: str) -> tuple[str, str] | None:
    """``(subdomain, registrable domain)``, or None for a host that is itself a public suffix or one label."""
    domain = registrable(host)
    if domain is None:
        return None
    return (host[: -len(domain) - 1] if len(host) > len(domain) else ""), domain


def _engines(hosts: Iterable[str]) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """For every search engine domain (``yahoo.com``, or ``google.{}`` for any suffix), the label parts its
    listed hosts use; and the domains listed bare (``bing.com``), whose country subdomains count as well."""
    parts: dict[str, set[str]] = {}
    bare: set[str] = set()
    for host in hosts:
        wildcard = host.startswith("{}.")
        name = host.removeprefix("{}.")
        if name.endswith(".{}"):
            labels = name[:-3].split(".")
            sub, key = labels[:-1], labels[-1] + ".{}"
        else:
            split = _split(name)
            if split is None:
                continue
            sub, key = (split[0].split(".") if split[0] else []), split[1]
        parts.setdefault(key, set()).update(_parts(sub))
        if not sub and not wildcard:
            bare.add(key)
    return {key: frozenset(found) for key, found in parts.items()}, frozenset(bare)


def _build() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    hosts: dict[str, int] = {}
    _merge(hosts, upstream.AI_ASSISTANT_HOSTS | extra.AI_ASSISTANT_HOSTS, AI)
    _merge(hosts, upstream.SOCIAL_HOSTS | extra.SOCIAL_HOSTS, SOCIAL)
    _merge(hosts, upstream.SEARCH_HOSTS | extra.SEARCH_HOSTS, SEARCH)
    _merge(hosts, extra.DISPLAY_AD_HOSTS, DISPLAY_AD)
    _merge(hosts, extra.SEARCH_AD_HOSTS, SEARCH_AD)
    names: dict[str, int] = {}
    _merge(names, upstream.AI_ASSISTANT_NAMES | extra.AI_ASSISTANT_NAMES, AI)
    _merge(names, upstream.SOCIAL_NAMES | extra.SOCIAL_NAMES, SOCIAL)
    _merge(names, upstream.SEARCH_NAMES, SEARCH)
    ga4: dict[str, int] = {}
    for sources, kind in (
        (upstream.GA4_SEARCH, SEARCH),
        (upstream.GA4_SOCIAL, SOCIAL),
        (upstream.GA4_VIDEO, VIDEO),
        (upstream.GA4_SHOPPING, SHOPPING),
    ):
        _merge(ga4, sources, kind)
        _merge(hosts, (s.removeprefix("www.") for s in sources if "." in s and " " not in s), kind)
        _merge(names, (s for s in sources if "." not in s), kind)
    return hosts, names, ga4


_HOSTS, _NAMES, _GA4 = _build()


@lru_cache(maxsize=1)
def _engine_index() -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    # built on first use, not at import: it needs the Public Suffix List, which takes a while to load
    return _engines(h for h, kinds in _HOSTS.items() if kinds & SEARCH)


def _engine_subdomain(sub: str, keys: tuple[str, str]) -> bool:
    """Whether a subdomain of an engine's domain is one of the engine's own hosts (see the module's docstring)."""
    engine_parts, bare = _engine_index()
    parts = _parts(sub.split("."))
    for key in keys:
        own = engine_parts.get(key)
        if own is None or not all(part in own or _generic(part) for part in parts):
            continue
        if key in bare or any(part in own and not _generic(part) for part in parts):
            return True
    return False


def host_kinds(host: str) -> int:
    """The kinds a referring host (or a host in ``utm_source``) belongs to; 0 for a site no list names."""
    # longer than a DNS name can be: no list names it, and it is not worth a place in the cache
    return _host_kinds(host) if len(host) <= MAX_HOST_LENGTH else 0


@lru_cache(maxsize=4096)
def _host_kinds(host: str) -> int:
    host = host.lower().rstrip(".").removeprefix("www.")
    kinds = _HOSTS.get(host, 0)
    labels = host.split(".")
    for start in range(1, len(labels) - 1):  # l.facebook.com -> facebook.com (never the bare suffix)
        kinds |= _HOSTS.get(".".join(labels[start:]), 0) & _INHERITED
    if len(labels) > 2:
        kinds |= _HOSTS.get("{}." + ".".join(labels[1:]), 0)
    split = _split(host)
    if split is None:
        return kinds
    sub, domain = split
    pattern = domain.split(".", 1)[0] + ".{}"
    if sub:
        kinds |= _HOSTS.get(f"{sub}.{pattern}", 0) | (_HOSTS.get(pattern, 0) & _INHERITED)
        if not kinds & SEARCH and _engine_subdomain(sub, (domain, pattern)):
            kinds |= SEARCH
    else:
        kinds |= _HOSTS.get(pattern, 0)
    return kinds


def _host_in(source: str) -> str | None:
    """The host a ``utm_source`` names, if it names one (``facebook.com``, ``https://t.co/x``)."""
    if "." not in source or " " in source:
        return None
    if "/" in source:
        try:
            return urlsplit(source if "//" in source else "//" + source).hostname
        except ValueError:
            return None
    return source


def name_kinds(source: str) -> int:
    """The kinds a ``utm_source`` name belongs to (``google``, ``fb``, ``google+``); 0 when no list names it."""
    found = _NAMES.get(source)
    return found if found is not None else _NAMES.get(_NOT_NAME.sub("", source), 0)


def source_kinds(source: str) -> int:
    """The kinds of a lowercased ``utm_source``: a host's (``facebook.com``) or a name's (``facebook``)."""
    host = _host_in(source)
    return (host_kinds(host) if host else 0) or name_kinds(source)


def ga4_kinds(source: str) -> int:
    """The kind GA4's source categories give a lowercased source (a name or a host), falling back on the other
    lists for a source GA4's list does not name. AI assistants, webmail and ad frames are no kind of GA4's."""
    found = _GA4.get(source.removeprefix("www."))
    if found is not None:
        return found
    return source_kinds(source) & (SEARCH | SOCIAL | VIDEO | SHOPPING)


def is_webmail(host: str) -> bool:
    """Whether a referring host is a webmail (see ``referrer_additions``)."""
    return len(host) <= MAX_HOST_LENGTH and _is_webmail(host)


@lru_cache(maxsize=1024)
def _is_webmail(host: str) -> bool:
    if host in extra.WEBMAIL_HOSTS:
        return True
    split = _split(host)
    if split is None:
        return False
    sub, domain = split
    if domain.startswith(extra.WEBMAIL_DOMAIN_PREFIX):
        return True
    for label in sub.split(".") if sub else ():
        if (
            label in extra.WEBMAIL_LABELS
            or label.startswith(extra.WEBMAIL_LABEL_PREFIXES)
            or any(part in label for part in extra.WEBMAIL_LABEL_PARTS)
        ):
            return True
    return False
