"""Why a request was or was not captured, for the ``debug=True`` switch (or ``ATTRIBUTION_DEBUG=1``).

Each answer is a short token list, sent as the ``Attribution-Debug`` response header and logged as one
line on the ``attribution`` logger at INFO with the method and the redacted path: ``captured``,
``unchanged`` (nothing new), or ``skipped=<reason>``, then ``; cookie=<problem>`` when the request's
attribution cookie was refused. Never the cookie's content, the query string or any captured value.
"""

from __future__ import annotations

import logging
import os
from typing import Final

from itsdangerous import BadSignature, SignatureExpired

from ..capture.cookie import MAX_NAME_VALUE_BYTES, CookieCodec
from ..redact import printable, redact
from .requestinfo import RequestInfo

log = logging.getLogger("attribution")

ENV_VAR: Final = "ATTRIBUTION_DEBUG"
HEADER: Final = "attribution-debug"

CAPTURED: Final = "captured"
UNCHANGED: Final = "unchanged"
BOT: Final = "skipped=bot"
CONSENT_REFUSED: Final = "skipped=consent-refused"
EXCLUDED_PATH: Final = "skipped=excluded-path"
NO_TRACKED_PARAMETER: Final = "skipped=no-tracked-parameter"
INTERNAL_REFERRER: Final = "skipped=internal-referrer"
NOT_A_PAGE_LOAD: Final = "skipped=not-a-page-load"


def from_environment() -> bool:
    """True when ``ATTRIBUTION_DEBUG`` is set to 1, true, yes or on."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def no_landing(info: RequestInfo, *, page_load: bool, has_query: bool, external_referrer: bool) -> str:
    """Why a request held nothing to capture (no tracked parameter, no external referrer, no browser id)."""
    if not page_load and (has_query or info.referer):
        return NOT_A_PAGE_LOAD
    if has_query and not info.may_be_navigation:
        return NOT_A_PAGE_LOAD  # the browser says it is an image, a script, a fetch or a frame
    if info.referer and not external_referrer:
        return INTERNAL_REFERRER
    if info.referer and not info.is_navigation and not has_query:
        return NOT_A_PAGE_LOAD  # an external referrer counts only on a page load, not on a fetch
    return NO_TRACKED_PARAMETER


def cookie_problem(codec: CookieCodec, raw: str | None, *, host: bool = False) -> str | None:
    """Why the request's attribution cookie was refused, or None when there is none or it was read.

    ``bad-signature`` covers both a tampered cookie and one signed with a key no longer in ``secret_key``:
    a signature cannot tell them apart.
    """
    if raw is None or codec.read(raw, host=host) is not None:
        return None
    if len(raw) > MAX_NAME_VALUE_BYTES:
        return "too-large"
    try:
        codec.verified_payload(raw, host=host)
    except SignatureExpired:
        return "expired"
    except BadSignature:
        return "bad-signature"
    except Exception:
        return "unreadable"
    return "old-format"


def report(method: str, path: str, outcome: str, cookie: str | None) -> str:
    """The header value, logged once as well (method and path only, the path redacted: no query string, no
    captured value; control characters escaped, so ``%0A`` in a path cannot forge a log line)."""
    note = outcome if cookie is None else f"{outcome}; cookie={cookie}"
    log.info("attribution debug: %s %s: %s", printable(method), printable(redact(path[:200])), note)
    return note
