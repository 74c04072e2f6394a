"""The visitor's stored attribution: touches, first and last touch, and browser identifiers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from .clicks import clicks_from, fbc_click_ms
from .params import CLICK_IDS, DEFAULT_CLICK_ID_WINDOWS, UTM_PARAMS

_UTM = frozenset(UTM_PARAMS)
_M = TypeVar("_M", bound=BaseModel)
_set = object.__setattr__
_MISSING: Any = object()
_UNREAD: Any = object()
# keys of what read_once remembers besides get's, which go by the parameter's name (never a tuple)
_SOURCE, _UTM_READ, _CLICK_IDS, _FBC = (("source",), ("utm",), ("click_ids",), ("fbc",))


def trusted(cls: type[_M], fields: dict[str, Any]) -> _M:
    """A model from complete, already-checked field values (every field given, in declaration order).

    What ``model_construct`` makes for these models (no aliases, no extra fields), without its per-field
    work: a page that reads six touches pays about a fifth. A test checks both give the same instance.
    """
    m = cls.__new__(cls)
    _set(m, "__dict__", fields)
    _set(m, "__pydantic_fields_set__", set(fields))
    _set(m, "__pydantic_extra__", None)
    private = _private_defaults.get(cls)
    if private is None:
        attributes = cls.__private_attributes__
        private = _private_defaults[cls] = {k: a.get_default() for k, a in attributes.items()} if attributes else {}
    _set(m, "__pydantic_private__", dict(private) if private else None)
    return m


_private_defaults: dict[type[BaseModel], dict[str, Any]] = {}


class Channel(StrEnum):
    """Where a touch came from: the library's own channel rules, in the spirit of GA4's default channel grouping
    (where they differ on purpose, docs/capture.md says why)."""

    PAID_SEARCH = "paid_search"
    PAID_SOCIAL = "paid_social"
    DISPLAY = "display"
    PAID_OTHER = "paid_other"
    ORGANIC_SEARCH = "organic_search"
    ORGANIC_SOCIAL = "organic_social"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    AFFILIATE = "affiliate"
    REFERRAL = "referral"
    AI_ASSISTANT = "ai_assistant"
    DIRECT = "direct"
    OTHER = "other"


class GA4Channel(StrEnum):
    """GA4's Default Channel Group, with GA4's own names: what a site with ``channel_rules="ga4"`` records."""

    DIRECT = "Direct"
    CROSS_NETWORK = "Cross-network"
    PAID_SHOPPING = "Paid Shopping"
    PAID_SEARCH = "Paid Search"
    PAID_SOCIAL = "Paid Social"
    PAID_VIDEO = "Paid Video"
    DISPLAY = "Display"
    PAID_OTHER = "Paid Other"
    ORGANIC_SHOPPING = "Organic Shopping"
    ORGANIC_SOCIAL = "Organic Social"
    ORGANIC_VIDEO = "Organic Video"
    ORGANIC_SEARCH = "Organic Search"
    REFERRAL = "Referral"
    EMAIL = "Email"
    AFFILIATES = "Affiliates"
    AUDIO = "Audio"
    SMS = "SMS"
    MOBILE_PUSH_NOTIFICATIONS = "Mobile Push Notifications"
    UNASSIGNED = "Unassigned"


#: Every channel a stored touch may name, by its value: both vocabularies (their values never collide).
CHANNELS: Final[dict[str, Channel | GA4Channel]] = {c.value: c for c in (*Channel, *GA4Channel)}


class Touch(BaseModel):
    """One landing: when, what the URL carried, where the visitor came from."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    params: dict[str, str] = Field(default_factory=dict)
    path: str = "/"
    referrer: str | None = None
    """The referring host (``www.google.com``), never the full referring URL."""
    channel: Channel | GA4Channel = Channel.DIRECT
    """Worked out once, on the landing, by the site's channel rules at the time (``channel_rules``)."""
    via: Literal["server", "browser"] = "server"
    """``server`` when the middleware saw the landing, ``browser`` when the snippet reported it."""

    @property
    def utm(self) -> dict[str, str]:
        """This touch's UTM parameters."""
        return {k: v for k, v in self.params.items() if k in _UTM}


class Click(BaseModel):
    """One click id: its newest value, when that click landed, and the ids that came with it."""

    model_config = ConfigDict(frozen=True)

    value: str
    at: datetime
    params: dict[str, str] = Field(default_factory=dict)
    """Ids of the same landing that belong to this click (``CLICK_ID_COMPANIONS``: Connectly's with
    ``ctwa_clid``)."""


class Attribution(BaseModel):
    """First touch, recent history (last touch at the end), click ids and browser identifiers of one visitor.

    Click ids live in ``clicks``, one per id, for their whole window however many touches came after; reads
    honour each window: an expired ``gclid`` is simply not returned. Where the visitor came from (UTMs,
    channel, referrer) is read from one touch, ``source``.
    """

    first: Touch | None = None
    history: list[Touch] = Field(default_factory=list)
    """The most recent touches, oldest first; the last touch is ``history[-1]``."""
    identifiers: dict[str, str] = Field(default_factory=dict)
    """Browser ids from first-party cookies (``attribution.capture.params.IDENTIFIER_COOKIES``): ``fbp``, ``fbc``,
    ``ga`` (GA4 client id), ``ttp``, ``dp_pid``, ``wuid``, ``rdtrk``, ``uetvid``, ``rdt_uuid``, and the tags' own
    copies of click ids (``uetmsclkid``, ``li_fat_id_cookie``, ``rdt_cid_cookie``, ...)."""
    clicks: dict[str, Click] = Field(default_factory=dict)
    """The newest value of each click id with its click time, kept until its window ends. When an
    ``Attribution`` is built from touches alone, this is derived from them."""

    _windows: Mapping[str, timedelta] | None = PrivateAttr(default=None)
    _now: datetime | None = PrivateAttr(default=None)
    _reads: dict[Any, Any] | None = PrivateAttr(default=None)
    _direct: Channel | GA4Channel | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _derive_clicks(self) -> Self:
        if "clicks" not in self.model_fields_set and (self.first is not None or self.history):
            found = clicks_from(((t.at, t.params) for t in reversed(self.touches)), CLICK_IDS)
            self.clicks = {k: Click(value=v, at=at, params=p) for k, (v, at, p) in found.items()}
        return self

    def with_windows(
        self,
        windows: Mapping[str, timedelta],
        now: datetime | None = None,
        *,
        direct: Channel | GA4Channel | None = None,
    ) -> Attribution:
        """Use these click-id windows (and, for tests and replays, this clock) for every read; ``direct`` is what
        ``channel`` says for a visitor with no touch (``GA4Channel.DIRECT`` under ``channel_rules="ga4"``)."""
        private = self.__pydantic_private__
        if private is None:  # pragma: no cover - pydantic always sets it for a model with private attributes
            self._windows, self._now = windows, now
            if direct is not None:
                self._direct = direct
        else:  # straight into the private dict: pydantic's __setattr__ costs a microsecond each
            private["_windows"], private["_now"] = windows, now
            if direct is not None:
                private["_direct"] = direct
        return self

    def __eq__(self, other: object) -> bool:
        # Equality is about what is stored, not about the windows or clock a read uses.
        if not isinstance(other, Attribution):
            return NotImplemented
        mine = (self.first, self.history, self.identifiers, self.clicks)
        return mine == (other.first, other.history, other.identifiers, other.clicks)

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
        # (times compared first: a model's own == costs microseconds, and they nearly always differ)
        head = self.history[0] if self.history else None
        if first is not None and not (head is first or (head is not None and head.at == first.at and head == first)):
            newest_first.append(first)
        return newest_first

    @property
    def is_empty(self) -> bool:
        return self.first is None and not self.history and not self.identifiers and not self.clicks

    @property
    def source(self) -> Touch | None:
        """The one touch that says where the visitor came from: the last non-direct touch (capture never
        records a direct visit, so this is the last touch unless one was added by hand).

        Its UTMs, channel and referrer are reported together, never mixed across touches (``utm`` and
        ``channel`` read it); click ids come from ``clicks``, each for its own window.
        """
        found: Touch | None = self._read(_SOURCE, self._source)
        return found

    def _source(self) -> Touch | None:
        # ``touches`` without building it: the first touch last, and never looked at twice in effect (when it
        # is also history[0], that one answered the same already)
        for touch in (*reversed(self.history), self.first):
            if touch is not None and (touch.params or touch.referrer or touch.channel is not Channel.DIRECT):
                return touch
        return None

    @property
    def channel(self) -> Channel | GA4Channel:
        """The channel of ``source``, or direct for a visitor with none (``Direct`` under GA4's rules)."""
        source = self.source
        if source is not None:
            return source.channel
        private = self.__pydantic_private__
        direct: Channel | GA4Channel | None = private.get("_direct") if private is not None else None
        return direct or Channel.DIRECT

    # -- reads -----------------------------------------------------------------------------------------

    @property
    def click_id_windows(self) -> Mapping[str, timedelta]:
        """How long each click id attributes, as reads here honour it (the site's ``click_id_windows``)."""
        return (self.__pydantic_private__ or {}).get("_windows") or DEFAULT_CLICK_ID_WINDOWS

    def _now_and_windows(self) -> tuple[datetime, Mapping[str, timedelta]]:
        private = self.__pydantic_private__ or {}  # the dict itself: pydantic's __getattr__ costs microseconds
        return private.get("_now") or datetime.now(UTC), private.get("_windows") or DEFAULT_CLICK_ID_WINDOWS

    def pinned(self, now: datetime | None = None) -> Attribution:
        """This attribution read at one moment (its own clock if it has one, else ``now``, else the time now):
        for the many reads of one conversion, which then agree with one another and skip the clock."""
        copy = self.model_copy()
        private = copy.__pydantic_private__ or {}
        if private.get("_reads") is not None:
            private["_reads"] = None
        return copy.with_windows(self.click_id_windows, private.get("_now") or now or datetime.now(UTC))

    @contextlib.contextmanager
    def read_once(self) -> Iterator[None]:
        """Inside, each read of this pinned attribution (``get``, ``click_ids``, ``source``, ``utm``, ``fbc``) is
        worked out once and remembered: for the vendors of one checkout, which ask for the same ids many times.
        Nothing may change the attribution meanwhile. One without a clock of its own (not pinned) reads as always.
        """
        private = self.__pydantic_private__
        if private is None or private.get("_now") is None or private.get("_reads") is not None:
            yield
            return
        private["_reads"] = {}
        try:
            yield
        finally:
            private["_reads"] = None

    def _read(self, key: Any, compute: Callable[..., Any], *args: Any) -> Any:
        """``compute(*args)``, remembered under ``key`` inside ``read_once``."""
        private = self.__pydantic_private__
        reads = private.get("_reads") if private is not None else None
        if reads is None:
            return compute(*args)
        found = reads.get(key, _UNREAD)
        if found is _UNREAD:
            found = reads[key] = compute(*args)
        return found

    def click(self, key: str) -> Click | None:
        """Click id ``key`` with its click time and companion ids, unless its window has ended."""
        click = self.clicks.get(key)
        if click is None:
            return None
        now, windows = self._now_and_windows()
        window = windows.get(key)
        return click if window is None or now - click.at <= window else None

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of a captured parameter or browser identifier, or ``default``.

        A click id comes from ``clicks`` (unexpired); a UTM parameter from ``source``; any other parameter
        from the newest touch that carried it. ``attribution.get("gclid")``, ``attribution.get("fbp")``.
        """
        private = self.__pydantic_private__
        reads = private.get("_reads") if private is not None else None
        if reads is None:
            found = self._get(key)
        else:
            found = reads.get(key, _UNREAD)
            if found is _UNREAD:
                found = reads[key] = self._get(key)
        return default if found is _MISSING else found

    def _get(self, key: str) -> Any:
        """``get(key)``, with ``_MISSING`` for the default."""
        if key in self.clicks or key in self.click_id_windows:
            click = self.click(key)
            return click.value if click is not None else _MISSING
        if key in _UTM:
            source = self.source
            return source.params.get(key, _MISSING) if source is not None else _MISSING
        for touch in reversed(self.history):  # newest first, as ``touches``
            value = touch.params.get(key)
            if value is not None:
                return value
        # the first touch last: when it is also history[0], that one answered the same already
        value = self.first.params.get(key) if self.first is not None else None
        if value is not None:
            return value
        if key == "fbc":
            return self.fbc or _MISSING
        return self.identifiers.get(key, _MISSING)

    @property
    def utm(self) -> dict[str, str]:
        """The UTM parameters of ``source`` (empty when that touch carried none, as an organic referral)."""
        return dict(self._read(_UTM_READ, _utm_of, self.source))

    @property
    def click_ids(self) -> dict[str, str]:
        """Every unexpired click id, newest value of each."""
        return dict(self._read(_CLICK_IDS, self._click_ids))

    def _click_ids(self) -> dict[str, str]:
        now, windows = self._now_and_windows()
        found: dict[str, str] = {}
        for key, click in self.clicks.items():
            window = windows.get(key)
            if window is None or now - click.at <= window:
                found[key] = click.value
        return found

    @property
    def fbc(self) -> str | None:
        """Meta's ``fbc``, unless the click it records is older than the ``fbclid`` window."""
        found: str | None = self._read(_FBC, self._fbc)
        return found

    def _fbc(self) -> str | None:
        fbc = self.identifiers.get("fbc")
        if fbc is None:
            return None
        now, windows = self._now_and_windows()
        window = windows.get("fbclid")
        clicked_ms = fbc_click_ms(fbc)
        if window is None or clicked_ms is None:
            return fbc
        # in milliseconds, not datetimes: the cookie is the browser's, and any number may be in it
        expired = int(now.timestamp() * 1000) - clicked_ms > int(window.total_seconds() * 1000)
        return None if expired else fbc

    def public(self) -> dict[str, str]:
        """What a page may see: UTMs, unexpired click ids and channels. No browser identifiers."""
        source, first = self.source, self.first
        out = source.utm if source is not None else {}
        out.update(self.click_ids)
        if source is not None:
            out["channel"] = source.channel.value
        if first is not None:
            out["first_channel"] = first.channel.value
        return out


def _utm_of(source: Touch | None) -> dict[str, str]:
    return source.utm if source is not None else {}
