"""What a page reads most (``utm``, ``channel``, the public values behind hidden fields), straight from the
cookie's compact form.

A template that shows a UTM or renders hidden fields on every page would otherwise build a pydantic model
per stored touch to read one of them. These give exactly what ``Attribution.utm``, ``.channel`` and
``.public()`` give for the models of the same payload (a test holds them to it), from a payload that
``wire.parse`` returned: there the first touch is stored as ``0`` exactly when it equals ``h[0]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Final

from .models import CHANNELS, Channel, GA4Channel
from .params import DEFAULT_CLICK_ID_WINDOWS, UTM_PARAMS
from .wire import Wire, WireTouch, datetime_of

_UTM: Final = frozenset(UTM_PARAMS)
_CHANNELS: Final = CHANNELS
_DIRECT: Final = Channel.DIRECT.value


def _touches(data: Wire) -> Iterator[WireTouch]:
    """``Attribution.touches``: newest first, a first touch kept apart from the history last."""
    yield from reversed(data["h"])
    first = data["f"]
    if first is not None and first != 0:
        yield first


def source(data: Wire) -> WireTouch | None:
    """``Attribution.source``: the newest touch that says where the visitor came from."""
    for touch in _touches(data):
        if touch[5] or touch[2] or touch[3] != _DIRECT:
            return touch
    return None


def _utm(touch: WireTouch | None) -> dict[str, str]:
    return {k: v for k, v in touch[5].items() if k in _UTM} if touch is not None else {}


def utm(data: Wire) -> dict[str, str]:
    """``Attribution.utm``."""
    return _utm(source(data))


def channel(data: Wire, direct: Channel | GA4Channel = Channel.DIRECT) -> Channel | GA4Channel:
    """``Attribution.channel``; ``direct`` for a visitor with no touch (the site's rules say how it is named)."""
    touch = source(data)
    return _CHANNELS[touch[3]] if touch is not None else direct


def click_ids(data: Wire, windows: Mapping[str, timedelta], now: datetime) -> dict[str, str]:
    """``Attribution.click_ids``: every click id whose window has not ended, compared as the models do."""
    windows = windows or DEFAULT_CLICK_ID_WINDOWS
    found: dict[str, str] = {}
    for key, click in data["c"].items():
        window = windows.get(key)
        if window is None or now - datetime_of(click[1]) <= window:
            found[key] = click[0]
    return found


def public(data: Wire, windows: Mapping[str, timedelta], now: datetime) -> dict[str, str]:
    """``Attribution.public()``: UTMs, unexpired click ids and channels; no browser identifiers."""
    touch = source(data)
    out = _utm(touch)
    out.update(click_ids(data, windows, now))
    if touch is not None:
        out["channel"] = touch[3]
    first = data["f"]
    if first == 0:
        first = data["h"][0] if data["h"] else None
    if first is not None:
        out["first_channel"] = first[3]
    return out
