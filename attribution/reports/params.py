"""Report parameters as people type them, on the command line and in the report page's address: ``30d``,
``12h``, ``2w`` for a period; ``2026-12-01T00:00:00Z`` (or a date, ``2026-12-01``, meaning its midnight in UTC)
for a moment. A moment without a time zone is refused rather than guessed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from ..errors import ConfigurationError

_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PERIOD: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")


def parse_period(text: str, *, name: str = "period") -> timedelta:
    """``30d``, ``12h``, ``45m``, ``90s``, ``2w``: a positive period."""
    match = _PERIOD.fullmatch(text)
    if not match or float(match[1]) <= 0:
        raise ConfigurationError(f"{name} {text[:40]!r}: use a number and a unit, e.g. 30d, 12h, 2w")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def parse_moment(text: str, *, name: str = "moment") -> datetime:
    """An ISO 8601 moment with its time zone (``Z`` or ``+02:00``), or a date (its midnight in UTC)."""
    raw = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            return datetime.fromisoformat(raw).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigurationError(f"{name} {text[:40]!r}: use e.g. 2026-12-01T00:00:00Z or 2026-12-01") from None
    if moment.tzinfo is None:
        raise ConfigurationError(f"{name} {text[:40]!r} has no time zone: add Z (UTC) or an offset such as +02:00")
    return moment


def parse_since(text: str) -> timedelta | datetime:
    """A period back from now (``30d``) or a moment (``2026-11-01T00:00:00Z``)."""
    if _PERIOD.fullmatch(text):
        return parse_period(text, name="since")
    return parse_moment(text, name="since")
