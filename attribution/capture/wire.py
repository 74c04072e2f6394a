"""The compact form the cookie stores, and the only form capture works on.

    {"v": 2, "f": T | 0 | null, "h": [T, ...], "i": {"fbp": "...", ...}, "c": {"gclid": C, ...}}
    T = [unix seconds, path, referrer host or "", channel, "s" | "b", {param: value}]
    C = [value, unix seconds of the click] or [value, seconds, {param: value}]

``"f": 0`` means "the first touch is ``h[0]``". ``"c"`` keeps the newest value of each click id with its
own click time, whatever the history size, until its window ends; the optional third element holds the
ids that came with that click on the same landing (``CLICK_ID_COMPANIONS``). Stored, ``"c"`` leaves out
what the kept touches already say (``compact``), and reading derives it back (``parse``); version 1,
which had no ``"c"``, is read forward the same way. Capture reads and writes this form directly, so a
landing costs a few dict and list operations; pydantic models are built only when the app reads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from typing import Any, Final

from .clicks import clicks_from, companions
from .models import CHANNELS, Attribution, Click, Touch, trusted
from .params import CLICK_IDS

VERSION: Final = 2
Wire = dict[str, Any]
WireTouch = list[Any]
WireClick = list[Any]

#: The last second ``datetime`` can hold (9999-12-31): a signed payload's times beyond it read as invalid.
MAX_TIME: Final = 253_402_300_799

_CHANNELS: Final = CHANNELS  # both vocabularies: a site may switch its channel_rules
_KEYS_V1: Final = frozenset(("v", "f", "h", "i"))
_KEYS: Final = frozenset(("v", "f", "h", "i", "c"))
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
    return {"v": VERSION, "f": None, "h": [], "i": {}, "c": {}}


def first_of(wire: Wire) -> WireTouch | None:
    first = wire["f"]
    if first == 0 and not isinstance(first, bool):
        return wire["h"][0] if wire["h"] else None
    return first  # type: ignore[no-any-return]


def pack(
    first: WireTouch | None, history: list[WireTouch], identifiers: dict[str, str], clicks: dict[str, WireClick]
) -> Wire:
    """A wire dict; the first touch is stored as ``0`` when it is ``history[0]``."""
    f: Any = 0 if first is not None and history and (first is history[0] or first == history[0]) else first
    return {"v": VERSION, "f": f, "h": history, "i": identifiers, "c": clicks}


def _time(at: Any) -> bool:
    return type(at) is int and 0 <= at <= MAX_TIME


def _strings(d: Any) -> bool:
    return isinstance(d, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in d.items())


def _valid_touch(t: Any) -> bool:
    if not isinstance(t, list) or len(t) != 6:
        return False
    at, path, referrer, channel, via, params = t
    return (
        _time(at)
        and isinstance(path, str)
        and isinstance(referrer, str)
        and isinstance(channel, str)
        and channel in _CHANNELS
        and via in ("s", "b")
        and _strings(params)
    )


def _valid_click(c: Any) -> bool:
    return (
        isinstance(c, list)
        and len(c) in (2, 3)
        and isinstance(c[0], str)
        and _time(c[1])
        and (len(c) == 2 or _strings(c[2]))
    )


def _valid_touches(data: dict[str, Any]) -> bool:
    history, first = data["h"], data["f"]
    if not isinstance(history, list) or not all(_valid_touch(t) for t in history):
        return False
    return first is None or (first == 0 and type(first) is int and bool(history)) or _valid_touch(first)


def parse(data: Any, click_keys: Collection[str] = CLICK_IDS) -> Wire | None:
    """The full payload for what a cookie or token held, checked down to every field's type and range,
    or None. Never raises, whatever ``data`` holds.

    Click ids that the touches already say (see ``compact``) are derived from them; a version 1 payload,
    which has no store, is read forward the same way, so existing visitors keep their click ids.
    """
    if not isinstance(data, dict):
        return None
    version, keys = data.get("v"), data.keys()
    if type(version) is not int or not ((version == VERSION and keys == _KEYS) or (version == 1 and keys == _KEYS_V1)):
        return None
    if not (_valid_touches(data) and _strings(data["i"])):
        return None
    stored = data.get("c", {})
    if not (isinstance(stored, dict) and all(isinstance(k, str) and _valid_click(c) for k, c in stored.items())):
        return None
    return pack(first_of(data), data["h"], data["i"], {**_derived(data, click_keys), **stored})


def compact(data: Wire, click_keys: Collection[str] = CLICK_IDS) -> Wire:
    """The payload as stored: click ids whose value and time a kept touch already says are left out of
    ``"c"`` (``parse`` derives them back), so a click id is not paid for twice."""
    stored = data["c"]
    if not stored:
        return data
    first, history = first_of(data), data["h"]
    newest_first = history[::-1] + ([first] if first is not None and data["f"] != 0 else [])
    kept = {k: c for k, c in stored.items() if k not in click_keys or not _said_by(newest_first, k, c)}
    return data if len(kept) == len(stored) else {**data, "c": kept}


def _said_by(newest_first: list[WireTouch], key: str, entry: WireClick) -> bool:
    """Whether ``_derived`` gives exactly ``entry`` for ``key``: the newest value's time is that of the
    oldest touch in its latest unbroken run (per key, without building the whole derivation)."""
    found: WireTouch | None = None
    for touch in newest_first:
        value = touch[5].get(key)
        if value is None:
            continue
        if value != entry[0]:
            if found is None:
                return False
            break
        found = touch
    if found is None or found[0] != entry[1]:
        return False
    return companions(key, found[5]) == (entry[2] if len(entry) == 3 else {})


def _derived(data: Wire, click_keys: Collection[str]) -> dict[str, WireClick]:
    first, history = first_of(data), data["h"]
    oldest_first = ([first] if first is not None and data["f"] != 0 else []) + list(history)
    found = clicks_from(((t[0], t[5]) for t in oldest_first), click_keys)
    return {k: _click_entry(*c) for k, c in found.items()}


def _click_entry(value: str, at: int, params: dict[str, str]) -> WireClick:
    return [value, at, params] if params else [value, at]


def touch_to_wire(t: Touch) -> WireTouch:
    return [int(t.at.timestamp()), t.path, t.referrer or "", t.channel.value, t.via[0], dict(t.params)]


_times: dict[int, datetime] = {}
_TIMES_KEPT: Final = 4096  # ~0.5 MB at most; datetimes are immutable, so shared safely


def datetime_of(at: int) -> datetime:
    """``datetime.fromtimestamp(at, UTC)``, remembered: a returning visitor's touches are read on every page."""
    found = _times.get(at)
    if found is None:
        if len(_times) >= _TIMES_KEPT:
            _times.clear()
        found = _times[at] = datetime.fromtimestamp(at, UTC)
    return found


def touch_from_wire(t: WireTouch, *, copy: bool = True) -> Touch:
    at, path, referrer, channel, via, params = t
    fields = {  # checked by parse already
        "at": datetime_of(at),
        "params": dict(params) if copy else params,
        "path": path,
        "referrer": referrer or None,
        "channel": _CHANNELS[channel],
        "via": "browser" if via == "b" else "server",
    }
    return trusted(Touch, fields)


def to_wire(attr: Attribution) -> Wire:
    first = touch_to_wire(attr.first) if attr.first is not None else None
    history = [touch_to_wire(t) for t in attr.history]
    if first is not None and history and history[0] == first:
        first = history[0]
    clicks = {k: _click_entry(c.value, int(c.at.timestamp()), dict(c.params)) for k, c in attr.clicks.items()}
    return pack(first, history, dict(attr.identifiers), clicks)


def from_wire(wire: Wire, *, copy: bool = True) -> Attribution:
    """The models for a payload that ``parse`` returned. ``copy=False`` for a payload that is this call's own (an order
    record just decoded from its JSON text, which the worker does for every delivery it sends): the models take its
    lists and dicts as they are, where a cookie's payload, which may share them, is copied."""
    history = [touch_from_wire(t, copy=copy) for t in wire["h"]]
    raw_first = first_of(wire)
    first = None
    if raw_first is not None:
        first = history[0] if wire["f"] == 0 else touch_from_wire(raw_first, copy=copy)
    clicks = {
        key: trusted(
            Click,
            {"value": c[0], "at": datetime_of(c[1]), "params": (dict(c[2]) if copy else c[2]) if len(c) == 3 else {}},
        )
        for key, c in wire["c"].items()
    }
    identifiers = dict(wire["i"]) if copy else wire["i"]
    return trusted(Attribution, {"first": first, "history": history, "identifiers": identifiers, "clicks": clicks})


def _core(t: WireTouch) -> WireTouch:
    return [*t[:5], {k: v for k, v in t[5].items() if k in _CORE_PARAMS}]


def shrinking(wire: Wire) -> Iterator[Wire]:
    """Ever smaller versions of a payload: browser ids dropped longest first, then middle touches oldest
    first, then the non-core parameters of the first and last touch, then the first touch, then every
    touch, then click ids oldest click first.

    Browser ids go first: the browser sends its id cookies again on every request (checkout captures them
    from its own request), while a landing's touch or click id is said once. A dozen huge id cookies, which
    any page on the domain can set, must not push a paid click out of the cookie. Click ids outlive the
    touches: they are what vendors credit."""
    yield wire
    first, history, ids, clicks = first_of(wire), list(wire["h"]), dict(wire["i"]), wire["c"]
    for key in sorted(ids, key=lambda k: len(ids[k]), reverse=True):
        del ids[key]
        yield pack(first, list(history), dict(ids), clicks)
    head = 1 if wire["f"] == 0 else 0  # the first touch is stored as h[0]: keep it there
    while len(history) - head > 1:
        del history[head]
        yield pack(first, list(history), ids, clicks)
    last = history[-1] if history else first
    if last is not None:
        yield pack(_core(first) if first is not None else None, [_core(last)], ids, clicks)
        yield pack(None, [_core(last)], ids, clicks)
    yield pack(None, [], ids, clicks)
    remaining = dict(sorted(clicks.items(), key=lambda item: item[1][1]))
    while remaining:
        del remaining[next(iter(remaining))]
        yield pack(None, [], ids, dict(remaining))
    yield empty()
