"""The browser snippet: where ``attribution.js`` lives, its version, and the one ``<script>`` tag a site adds.

The tag carries everything the script needs (the collect endpoint, the tracked parameter names), so the
script itself is a static file with no build step and no configuration of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final

from ..capture.params import CASELESS_PARAMS, TRACKED_PARAMS
from ..capture.settings import Settings
from ..errors import ConfigurationError

SCRIPT_NAME: Final = "attribution.js"
COLLECT_NAME: Final = "collect"
DEFAULT_PREFIX: Final = "/_attribution/"
#: Data attribute marking forms whose hidden fields the script fills; its value, if any, prefixes names.
FORM_ATTRIBUTE: Final = "data-attribution"


@dataclass(frozen=True, slots=True)
class Snippet:
    """The script's bytes and the content hash that names its version."""

    body: bytes
    version: str
    """First 16 hex digits of the SHA-256 of ``body``: the ``?v=`` of the tag and the ETag."""

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def script_file() -> Traversable:
    """Where the script lives: package data beside this module, in a wheel and in a checkout alike."""
    return resources.files(__package__ or "attribution.web") / "static" / SCRIPT_NAME


@cache
def load_snippet() -> Snippet:
    """The packaged script, read once per process. Raises ``ConfigurationError`` when it is missing."""
    found = script_file()
    if not found.is_file():
        raise ConfigurationError(f"{SCRIPT_NAME} is missing from the installed package; reinstall asgi-attribution")
    body = found.read_bytes()
    return Snippet(body=body, version=hashlib.sha256(body).hexdigest()[:16])


class SafeHTML(str):
    """A string already escaped for HTML.

    It implements ``__html__``, the protocol Jinja2 and MarkupSafe honour, so templates insert it as is
    without this module depending on either.
    """

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


def script_tag(
    *,
    prefix: str = DEFAULT_PREFIX,
    nonce: str | None = None,
    params: Iterable[str] | None = None,
    settings: Settings | None = None,
) -> SafeHTML:
    """The ``<script>`` tag that loads the snippet: put it in every page's ``<head>``, before the app's
    own scripts (so a router that tidies the URL cannot remove the parameters before the snippet sees
    them).

    Args:
        prefix: the middleware's ``endpoint_prefix``.
        nonce: the page's CSP nonce, if the site's Content-Security-Policy uses one.
        params: the query parameters that make a URL a landing (default: every tracked parameter).
        settings: the middleware's settings (``middleware.settings``); when given, its prefix and tracked
            parameters win over ``prefix`` and ``params``.

    The ``src`` carries the script's content hash, so browsers and CDNs may cache it for a year and a new
    release is fetched at once.
    """
    if settings is not None:
        prefix = settings.endpoint_prefix
        names: Iterable[str] = sorted(settings.tracked_params)
    else:
        names = TRACKED_PARAMS if params is None else params
    listed = list(names)
    attributes = {
        "src": f"{prefix}{SCRIPT_NAME}?v={load_snippet().version}",
        "data-endpoint": f"{prefix}{COLLECT_NAME}",
        "data-params": ",".join(listed),
    }
    caseless = [name for name in listed if name in CASELESS_PARAMS]
    if caseless:  # the server matches these in any case (``ScCid``): so must the script
        attributes["data-caseless"] = ",".join(caseless)
    if nonce:
        attributes["nonce"] = nonce
    rendered = " ".join(f'{name}="{escape(value, quote=True)}"' for name, value in attributes.items())
    # defer: runs once the document is parsed (so decorated forms exist), before DOMContentLoaded, and
    # never blocks rendering; document.currentScript still works for a deferred classic script.
    return SafeHTML(f"<script {rendered} defer></script>")
