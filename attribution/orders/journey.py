"""An order's journey as reports read it: each touch's time, channel, source, medium, campaign and landing path.

The journey is the visitor's stored touches as they stood at checkout, oldest first: the first touch, then the
later touches in time order, none twice. It is kept with the order long after the customer's data is purged,
so it holds nothing personal: no click id, browser id, referrer path or query string.

Source and medium follow the names marketers know from analytics tools: the touch's own ``utm_source`` and
``utm_medium`` when it has them; else the referring host (``google.com``) as source, with ``organic`` for a
search engine and ``referral`` otherwise; else, for an ad click that brought only its click id, the platform
(``google`` / ``cpc`` for a ``gclid``). A touch with nothing to name is ``(direct)`` / ``(none)``, and a missing
campaign is ``(not set)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final

from ..capture.models import Attribution, Channel, Touch

DIRECT_SOURCE: Final = "(direct)"
NO_MEDIUM: Final = "(none)"
NOT_SET: Final = "(not set)"

#: The platform an ad click id names, for a touch that brought the click id without UTMs.
CLICK_SOURCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "gclid": "google",
        "gbraid": "google",
        "wbraid": "google",
        "dclid": "google",
        "msclkid": "bing",
        "fbclid": "facebook",
        "igshid": "instagram",
        "ig_sid": "instagram",
        "ttclid": "tiktok",
        "twclid": "x",
        "li_fat_id": "linkedin",
        "rdt_cid": "reddit",
        "sccid": "snapchat",
        "epik": "pinterest",
        "yclid": "yandex",
        "qclid": "quora",
        "ctwa_clid": "whatsapp",
        "oppref": "chatgpt",
        "irclickid": "impact",
    }
)
#: The medium of a click-id-only touch, by its channel (the channel says whether the click was an ad).
_CLICK_MEDIUM: Final[Mapping[str, str]] = MappingProxyType(
    {
        Channel.PAID_SEARCH: "cpc",
        Channel.PAID_SOCIAL: "cpc",
        Channel.PAID_OTHER: "cpc",
        Channel.DISPLAY: "display",
        Channel.ORGANIC_SOCIAL: "social",
        Channel.AFFILIATE: "affiliate",
    }
)


@dataclass(frozen=True, slots=True)
class JourneyTouch:
    """One touch of an order's journey."""

    at: datetime
    channel: str
    source: str
    medium: str
    campaign: str
    landing: str

    @property
    def source_medium(self) -> str:
        return f"{self.source} / {self.medium}"


def journey(attribution: Attribution) -> tuple[JourneyTouch, ...]:
    """The attribution's touches, oldest first, named for reports."""
    return tuple(journey_touch(touch) for touch in reversed(attribution.touches))


def journey_touch(touch: Touch) -> JourneyTouch:
    params = touch.params
    source, medium = params.get("utm_source"), params.get("utm_medium")
    if not source:
        source, medium = _unnamed(touch)
    return JourneyTouch(
        at=touch.at,
        channel=touch.channel.value,
        source=source,
        medium=medium or NOT_SET,
        campaign=params.get("utm_campaign") or NOT_SET,
        landing=touch.path,
    )


def _unnamed(touch: Touch) -> tuple[str, str]:
    """Source and medium of a touch without ``utm_source``: its referrer, else the ad platform of its click id."""
    if touch.referrer:
        host = touch.referrer.lower().removeprefix("www.")
        return host, "organic" if touch.channel is Channel.ORGANIC_SEARCH else "referral"
    for key, platform in CLICK_SOURCES.items():
        if key in touch.params:
            return platform, _CLICK_MEDIUM.get(touch.channel, "referral")
    return DIRECT_SOURCE, NO_MEDIUM
