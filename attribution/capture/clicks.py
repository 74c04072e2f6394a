"""The click-id store's rules: which ids travel with a click, and the store that a run of landings implies.

A click id is a fact about the visitor for its whole window: the newest value of each id is kept with the
time of its click (a repeat of the same click keeps the first time, as Meta's ``_fbc`` does), apart from the
touches. Capture applies this one landing at a time (``capture.apply_wire``); ``clicks_from`` derives it from
touches, for payloads that stored none and for models built from touches alone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from .params import CLICK_ID_COMPANIONS

_T = TypeVar("_T")


def companions(key: str, params: Mapping[str, str]) -> dict[str, str]:
    """The ids in a landing's parameters that are kept with click id ``key``."""
    names = CLICK_ID_COMPANIONS.get(key)
    return {name: params[name] for name in names if name in params} if names else {}


def clicks_from(
    landings: Iterable[tuple[_T, Mapping[str, str]]], keys: Collection[str]
) -> dict[str, tuple[str, _T, dict[str, str]]]:
    """The click-id store for landings given oldest first: the newest value of each id in ``keys``, with
    the time of the landing that first brought that value (a repeat of the same click keeps its time)."""
    found: dict[str, tuple[str, _T, dict[str, str]]] = {}
    for at, params in landings:
        for key, value in params.items():
            if key in keys:
                held = found.get(key)
                if held is None or held[0] != value:
                    found[key] = (value, at, companions(key, params))
    return found


def clicks_after(
    stored: dict[str, list[Any]], params: Mapping[str, str], now: int, windows: Mapping[str, timedelta]
) -> dict[str, list[Any]]:
    """The store (``{id: [value, seconds]`` or ``[value, seconds, companions]}``) after a landing at ``now``:
    ids past their window dropped, each new value kept with its own click time. Never mutates ``stored``."""
    clicks = {key: c for key, c in stored.items() if key in windows and now - c[1] <= windows[key].total_seconds()}
    for key, value in params.items():
        if key in windows:
            held = clicks.get(key)
            if held is None or held[0] != value:
                extra = companions(key, params)
                clicks[key] = [value, now, extra] if extra else [value, now]
    return clicks


def fbc_click_ms(fbc: str) -> int | None:
    """The click time, in ms, that a Meta ``fbc`` value (``fb.<index>.<ms>.<fbclid>``) records; None when it
    records none a number can be made of (the cookie is the browser's: anything may be in it)."""
    parts = fbc.split(".")
    if len(parts) < 4 or not (parts[2].isascii() and parts[2].isdigit()) or len(parts[2]) > 16:
        return None
    return int(parts[2])
