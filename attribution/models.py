"""The visitor's stored attribution: touches, first and last touch, and browser identifiers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .params import CLICK_IDS, DEFAULT_CLICK_ID_WINDOWS, UTM_PARAMS


class Channel(StrEnum):
    """Where a touch came from, in the spirit of GA4's default channel grouping."""

    PAID_SEARCH = "paid_search"
    PAID_SOCIAL = "paid_social"
    DISPLAY = "display"
    PAID_OTHER = "paid_other"
    ORGANIC_SEARCH = "organic_search"
    ORGANIC_SOCIAL = "organic_social"
    EMAIL = "email"
    SMS = "sms"
    AFFILIATE = "affiliate"
    REFERRAL = "referral"
    AI_ASSISTANT = "ai_assistant"
    DIRECT = "direct"
    OTHER = "other"


class Touch(BaseModel):
    """One landing: when, what the URL carried, where the visitor came from."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    params: dict[str, str] = Field(default_factory=dict)
    path: str = "/"
    referrer: str | None = None
    """The referring host (``www.google.com``), never the full referring URL."""
    channel: Channel = Channel.DIRECT
    via: Literal["server", "browser"] = "server"
    """``server`` when the middleware saw the landing, ``browser`` when the snippet reported it."""


class Attribution(BaseModel):
    """First touch, recent history (last touch at the end) and browser identifiers of one visitor.

    Reads honour each click id's window: an expired ``gclid`` is simply not returned.
    """

    first: Touch | None = None
    history: list[Touch] = Field(default_factory=list)
    """The most recent touches, oldest first; the last touch is ``history[-1]``."""
    identifiers: dict[str, str] = Field(default_factory=dict)
    """Browser ids from first-party cookies: ``fbp``, ``fbc``, ``ga`` (GA4 client id), ``ttp``, ``dp_pid``,
    ``wuid``, ``rdtrk``."""

    _windows: Mapping[str, timedelta] | None = PrivateAttr(default=None)
    _now: datetime | None = PrivateAttr(default=None)

    def with_windows(self, windows: Mapping[str, timedelta], now: datetime | None = None) -> Attribution:
        """Use these click-id windows (and, for tests and replays, this clock) for every read."""
        self._windows = windows
        self._now = now
        return self

    def __eq__(self, other: object) -> bool:
        # Equality is about what is stored, not about the windows or clock a read uses.
        if not isinstance(other, Attribution):
            return NotImplemented
        return (self.first, self.history, self.identifiers) == (other.first, other.history, other.identifiers)

    __hash__ = None  # type: ignore[assignment]  # mutable model: not hashable

    # -- touches ---------------------------------------------------------------------------------------

    @property
    def last(self) -> Touch | None:
        return self.history[-1] if self.history else self.first

    @property
    def touches(self) -> list[Touch]:
        """Every stored touch, newest first, the first touch included once."""
        newest_first = self.history[::-1]
        first = self.first
        # the first touch is either history[0] (until the history overflows) or kept apart from it
        if first is not None and not (self.history and (self.history[0] is first or self.history[0] == first)):
            newest_first.append(first)
        return newest_first

    @property
    def is_empty(self) -> bool:
        return self.first is None and not self.history and not self.identifiers

    @property
    def channel(self) -> Channel:
        """The channel of the last touch, or ``direct`` for a visitor with none."""
        last = self.last
        return last.channel if last is not None else Channel.DIRECT

    # -- reads -----------------------------------------------------------------------------------------

    def _unexpired(self) -> dict[str, str]:
        """The newest unexpired value of every captured parameter, in one pass over the touches."""
        windows = self._windows or DEFAULT_CLICK_ID_WINDOWS
        now = self._now or datetime.now(UTC)
        found: dict[str, str] = {}
        for touch in self.touches:
            age = now - touch.at
            for key, value in touch.params.items():
                if key not in found:
                    window = windows.get(key)
                    if window is None or age <= window:
                        found[key] = value
        return found

    def get(self, key: str, default: str | None = None) -> str | None:
        """The newest unexpired value of a captured parameter or browser identifier.

        ``attribution.get("gclid")``, ``attribution.get("utm_source")``, ``attribution.get("fbp")``.
        """
        value = self._unexpired().get(key)
        if value is not None:
            return value
        if key == "fbc":
            return self.fbc or default
        return self.identifiers.get(key, default)

    @property
    def utm(self) -> dict[str, str]:
        """The UTM parameters of the newest touch that carried any."""
        for touch in self.touches:
            utm = {k: v for k, v in touch.params.items() if k in UTM_PARAMS}
            if utm:
                return utm
        return {}

    @property
    def click_ids(self) -> dict[str, str]:
        """Every unexpired click id, newest value of each."""
        unexpired = self._unexpired()
        return {key: unexpired[key] for key in CLICK_IDS if key in unexpired}

    @property
    def fbc(self) -> str | None:
        """Meta's ``fbc``, unless the click it records is older than the ``fbclid`` window."""
        fbc = self.identifiers.get("fbc")
        if fbc is None:
            return None
        parts = fbc.split(".")
        window = (self._windows or DEFAULT_CLICK_ID_WINDOWS).get("fbclid")
        if window is not None and len(parts) >= 4 and parts[2].isdigit():
            clicked = datetime.fromtimestamp(int(parts[2]) / 1000, UTC)
            if (self._now or datetime.now(UTC)) - clicked > window:
                return None
        return fbc

    def public(self) -> dict[str, str]:
        """What a page may see: UTMs, unexpired click ids and channels. No browser identifiers."""
        out = dict(self.utm)
        out.update(self.click_ids)
        last, first = self.last, self.first
        if last is not None:
            out["channel"] = last.channel.value
        if first is not None:
            out["first_channel"] = first.channel.value
        return out
