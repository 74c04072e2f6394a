"""Holds: how long a delivery waits before it is sent, so an order cancelled in the meantime is never reported.

A shop with many cancellations (cash on delivery, trials, marketplaces) holds its purchases for a day: the
delivery is written at checkout, shows as ``held`` with its release time, and just before sending the worker
asks the site's ``still_valid(order_id, event)`` whether the order still stands. ``Tracker(hold=...)`` takes
a delay per event, and per vendor where one vendor needs another delay::

    hold={"purchase": timedelta(hours=24)}                              # every vendor
    hold={"purchase": timedelta(hours=24), "meta": {"purchase": timedelta(0)}}   # Meta at once
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from ..errors import ConfigurationError

HoldSetting = Mapping[str, "timedelta | Mapping[str, timedelta]"]


@dataclass(frozen=True, slots=True)
class Holds:
    """The delay, in seconds, before a delivery of ``event`` to ``vendor`` may be sent."""

    events: Mapping[str, float] = field(default_factory=dict)
    vendors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def delay(self, vendor: str, event: str) -> float:
        own = self.vendors.get(vendor)
        if own is not None and event in own:
            return own[event]
        return self.events.get(event, 0.0)

    def __bool__(self) -> bool:
        return any(self.events.values()) or any(any(v.values()) for v in self.vendors.values())


def parse_holds(setting: HoldSetting | None, vendor_names: Collection[str]) -> Holds:
    """``Tracker(hold=...)`` checked: an event maps to a ``timedelta``; a vendor's name to its own event map."""
    if not setting:
        return Holds()
    if not isinstance(setting, Mapping):
        raise ConfigurationError("hold must be a mapping such as {'purchase': timedelta(hours=24)}")
    events: dict[str, float] = {}
    vendors: dict[str, dict[str, float]] = {}
    for key, value in setting.items():
        if key in vendor_names:
            if not isinstance(value, Mapping):
                raise ConfigurationError(
                    f"hold[{key!r}] names a vendor: give it its own events, such as {{'purchase': timedelta(0)}}"
                )
            vendors[key] = {event: _seconds(f"hold[{key!r}][{event!r}]", delay) for event, delay in value.items()}
        elif isinstance(value, Mapping):
            raise ConfigurationError(f"hold[{key!r}] is a mapping but {key!r} is not one of the tracker's vendors")
        else:
            events[key] = _seconds(f"hold[{key!r}]", value)
    return Holds(events, vendors)


def _seconds(where: str, delay: object) -> float:
    if not isinstance(delay, timedelta):
        raise ConfigurationError(f"{where} must be a timedelta, such as timedelta(hours=24)")
    seconds = delay.total_seconds()
    if seconds < 0 or seconds > timedelta(days=30).total_seconds():
        raise ConfigurationError(f"{where} must be between 0 and 30 days")
    return seconds
