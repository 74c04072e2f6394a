"""The ``Retry-After`` header, read once for every vendor and for the worker.

It lives apart from the retry policy so that vendor adapters, which read their own rate-limit signals, can
use it without depending on the delivery side.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC


def parse_retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date. None when absent or unreadable.

    The one reader of the header: every vendor's ``retry_after`` starts here (X, Meta and Google then read
    their own rate-limit signals when it is absent).
    """
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isascii() and raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
