"""The compact form the cookie stores, and the only form capture works on.

    {"v": 1, "f": T | 0 | null, "h": [T, ...], "i": {"fbp": "...", ...}}
    T = [unix seconds, path, referrer host or "", channel, "s" | "b", {param: value}]

``"f": 0`` means "the first touch is ``h[0]``". Capture reads and writes this form directly, so a landing
costs a few dict and list operations; pydantic models (``Attribution``, ``Touch``) are built only when the
app reads the attribution.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from .models import Attribution, Channel, Touch
from .params import CLICK_IDS

VERSION: Final = 1
Wire = dict[str, Any]
WireTouch = list[Any]

_CHANNELS: Final = frozenset(c.value for c in Channel)
_CORE_PARAMS: Final = frozenset(
    (
        *CLICK_IDS,
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "cnct_tracking_id",
        "sendout_id",
        "ad_id",
        "attribution_source",
    )
)


def empty() -> Wire:
    return {"v": VERSION, "f": None, "h": [], "i": {}}


def first_of(wire: Wire) -> WireTouch | None:
    first = wire["f"]
    if first == 0 and not isinstance(first, bool):
        return wire["h"][0] if wire["h"] else None
    return first  # type: ignore[no-any-return]


def pack(first: WireTouch | None, history: list[WireTouch], identifiers: dict[str, str]) -> Wire:
    """A wire dict; the first touch is stored as ``0`` when it is ``history[0]``."""
    f: Any = 0 if first is not None and history and (first is history[0] or first == history[0]) else first
    return {"v": VERSION, "f": f, "h": history, "i": identifiers}


def _valid_touch(t: Any) -> bool:
    if not isinstance(t, list) or len(t) != 6:
        return False
    at, path, referrer, channel, via, params = t
    return (
        type(at) is int
        and isinstance(path, str)
        and isinstance(referrer, str)
        and channel in _CHANNELS
        and via in ("s", "b")
        and isinstance(params, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    )


def is_valid(data: Any) -> bool:
    """True for a payload of the current format, down to every field's type."""
    if not isinstance(data, dict) or data.get("v") != VERSION or data.keys() != {"v", "f", "h", "i"}:
        return False
    history, first, ids = data["h"], data["f"], data["i"]
    if not isinstance(history, list) or not all(_valid_touch(t) for t in history):
        return False
    if not (first is None or (first == 0 and type(first) is int and history) or _valid_touch(first)):
        return False
    return isinstance(ids, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in ids.items())


def touch_to_wire(t: Touch) -> WireTouch:
    return [int(t.at.timestamp()), t.path, t.referrer or "", t.channel.value, t.via[0], dict(t.params)]


def touch_from_wire(t: WireTouch) -> Touch:
    at, path, referrer, channel, via, params = t
    return Touch.model_construct(  # validated by is_valid already
        at=datetime.fromtimestamp(at, UTC),
        path=path,
        referrer=referrer or None,
        channel=Channel(channel),
        via="browser" if via == "b" else "server",
        params=dict(params),
    )


def to_wire(attr: Attribution) -> Wire:
    first = touch_to_wire(attr.first) if attr.first is not None else None
    history = [touch_to_wire(t) for t in attr.history]
    if first is not None and history and history[0] == first:
        first = history[0]
    return pack(first, history, dict(attr.identifiers))


def from_wire(wire: Wire) -> Attribution:
    """The models for a payload that ``is_valid`` accepted."""
    history = [touch_from_wire(t) for t in wire["h"]]
    raw_first = first_of(wire)
    first = None
    if raw_first is not None:
        first = history[0] if wire["f"] == 0 else touch_from_wire(raw_first)
    return Attribution.model_construct(first=first, history=history, identifiers=dict(wire["i"]))


def _core(t: WireTouch) -> WireTouch:
    return [*t[:5], {k: v for k, v in t[5].items() if k in _CORE_PARAMS}]


def shrinking(wire: Wire) -> Iterator[Wire]:
    """Ever smaller versions of a payload: middle touches dropped oldest first, then the non-core
    parameters of the first and last touch, then the first touch, and at last every touch."""
    yield wire
    first, history, ids = first_of(wire), list(wire["h"]), wire["i"]
    head = 1 if wire["f"] == 0 else 0  # the first touch is stored as h[0]: keep it there
    while len(history) - head > 1:
        del history[head]
        yield pack(first, list(history), ids)
    last = history[-1] if history else first
    if last is not None:
        yield pack(_core(first) if first is not None else None, [_core(last)], ids)
        yield pack(None, [_core(last)], ids)
    yield pack(None, [], ids)
    yield empty()
