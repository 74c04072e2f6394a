"""The few facts about an HTTP request that capture needs, read from the ASGI scope in one pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import crawleruseragents

_LOCAL_HOSTS = frozenset(("localhost", "127.0.0.1", "::1", "[::1]"))
#: header name → RequestInfo field
_FIELDS = {
    b"host": "host",
    b"cookie": "cookie",
    b"referer": "referer",
    b"user-agent": "user_agent",
    b"accept": "accept",
    b"sec-fetch-dest": "sec_fetch_dest",
    b"sec-fetch-mode": "sec_fetch_mode",
    b"origin": "origin",
    b"sec-fetch-site": "sec_fetch_site",
    b"content-type": "content_type",
}


@dataclass(slots=True)
class RequestInfo:
    """Headers capture looks at, decoded once. Missing headers are empty strings."""

    host: str = ""
    cookie: str = ""
    referer: str = ""
    user_agent: str = ""
    accept: str = ""
    sec_fetch_dest: str = ""
    sec_fetch_mode: str = ""
    origin: str = ""
    sec_fetch_site: str = ""
    content_type: str = ""

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any]) -> RequestInfo:
        info = cls()
        for name, value in scope["headers"]:
            field = _FIELDS.get(name)
            if field is None:
                continue
            # latin-1 never fails: ASGI headers are bytes, and a header is no place for a crash
            text = value.decode("latin-1")
            if field == "cookie" and info.cookie:  # HTTP/2 may split the Cookie header
                text = f"{info.cookie}; {text}"
            setattr(info, field, text)
        if not info.host and scope.get("server"):
            host, port = scope["server"]
            info.host = f"{host}:{port}" if port not in (80, 443, None) else str(host)
        return info

    @property
    def hostname(self) -> str:
        """The Host header without its port, lowercased (``[::1]`` keeps its brackets)."""
        host = self.host.lower()
        if host.startswith("["):
            return host[: host.find("]") + 1]
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host

    @property
    def is_navigation(self) -> bool:
        """A top-level page load: the browser says so (``Sec-Fetch-Mode: navigate`` of a ``document``), or, from
        an older client that sends no Sec-Fetch headers, HTML is accepted."""
        if self.sec_fetch_dest or self.sec_fetch_mode:
            return self.fetch_says_navigation
        return "text/html" in self.accept

    @property
    def may_be_navigation(self) -> bool:
        """Whether the request may be the visitor's own page navigation, so its query string may be captured.

        A browser that sends ``Sec-Fetch-Mode`` / ``Sec-Fetch-Dest`` says what the request is, and only a
        top-level navigation counts: an ``<img>``, a script, a fetch or a frame that another page (a product
        review, a sibling subdomain) points at ``/?irclickid=...`` would otherwise plant attribution. A client
        that sends neither (older browsers, scripts with a browser's user agent) is not refused: it says
        nothing either way.
        """
        if self.sec_fetch_dest or self.sec_fetch_mode:
            return self.fetch_says_navigation
        return True

    @property
    def fetch_says_navigation(self) -> bool:
        """Sec-Fetch-Mode (when sent) is ``navigate`` and Sec-Fetch-Dest (when sent) is ``document``."""
        mode = self.sec_fetch_mode.strip().lower()
        dest = self.sec_fetch_dest.strip().lower()
        return mode in ("", "navigate") and dest in ("", "document")


def wants_secure(scheme: str, hostname: str) -> bool:
    """Secure everywhere except plain-HTTP localhost, where browsers would drop a Secure cookie."""
    return scheme in ("https", "wss") or hostname not in _LOCAL_HOSTS


#: The longest user agent the crawler list is run on whole. Every example in the list is under 300
#: characters and matches within its first 211; a longer agent is looked at by its head and tail only.
UA_CHECKED_LENGTH: Final = 512
_UA_HEAD: Final = 384


def is_bot(user_agent: str) -> bool:
    """Crawlers, per the maintained crawler-user-agents list; an absent user agent counts as one too.

    The list is a few hundred patterns (~0.3 ms a check), hence the cache and the rule that it is only
    consulted when there is something to do (a capture, Meta's cookies on a page load, a collect answer).
    Its cost and the cache's size do not grow with the user agent: one longer than ``UA_CHECKED_LENGTH``
    is checked by its first 384 and last 128 characters (patterns match near the start, and a few anchor
    at the end).
    """
    if len(user_agent) > UA_CHECKED_LENGTH:
        user_agent = user_agent[:_UA_HEAD] + user_agent[_UA_HEAD - UA_CHECKED_LENGTH :]
    return _is_bot(user_agent)


@lru_cache(maxsize=4096)  # keys of at most 512 characters: about 2.5 MB at most
def _is_bot(user_agent: str) -> bool:
    return not user_agent.strip() or crawleruseragents.is_crawler(user_agent)
