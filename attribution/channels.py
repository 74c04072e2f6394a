"""Which channel a landing belongs to: click ids first, then utm_medium/utm_source, then the referrer.

The rules follow GA4's default channel grouping in spirit, with one deliberate difference: a lone
``fbclid`` or ``igshid`` counts as organic social, because Meta adds them to organic outbound links as
well as ads; an ad click is told apart by its utm_medium (``paid_social``, ``cpc`` ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .models import Channel

_PAID_SEARCH_IDS: Final = ("gclid", "gbraid", "wbraid", "msclkid")
_PAID_SOCIAL_IDS: Final = (
    "ttclid",
    "twclid",
    "li_fat_id",
    "rdt_cid",
    "sccid",
    "epik",
    "ctwa_clid",
    "cnct_tracking_id",
)
_ORGANIC_SOCIAL_IDS: Final = ("fbclid", "igshid", "ig_sid")

SEARCH_ENGINES: Final = frozenset(
    (
        "google",
        "bing",
        "yahoo",
        "duckduckgo",
        "baidu",
        "yandex",
        "ecosia",
        "ask",
        "naver",
        "seznam",
        "qwant",
        "startpage",
        "brave",
        "aol",
    )
)
SOCIAL_SITES: Final = frozenset(
    (
        "facebook",
        "fb",
        "instagram",
        "t.co",
        "twitter",
        "x.com",
        "linkedin",
        "lnkd.in",
        "pinterest",
        "reddit",
        "tiktok",
        "youtube",
        "youtu.be",
        "whatsapp",
        "wa.me",
        "threads",
        "snapchat",
        "tumblr",
        "vk.com",
        "quora",
        "discord",
        "telegram",
        "t.me",
        "mastodon",
        "bsky",
    )
)
EMAIL_SITES: Final = frozenset(("mail.google.com", "outlook.live.com", "mail.yahoo.com", "mail.proton.me"))

_PAID_MEDIUM = re.compile(r"^(.*cp.|ppc|retargeting|paid.*)$")
_SOCIAL_MEDIUM = frozenset(("social", "social-network", "social-media", "social_media", "sm", "network"))
_DISPLAY_MEDIUM = frozenset(("display", "banner", "expandable", "interstitial", "cpm"))
_EMAIL_MEDIUM = frozenset(("email", "e-mail", "e_mail", "newsletter"))


def _host_matches(host: str, names: frozenset[str]) -> bool:
    """``www.google.co.uk`` matches ``google``; ``t.co`` matches ``t.co`` but ``nyt.com`` does not."""
    labels = host.lower().split(".")
    for name in names:
        if "." in name:
            if host == name or host.endswith("." + name):
                return True
        elif name in labels[:-1]:
            return True
    return False


def is_search_engine(host: str) -> bool:
    return _host_matches(host, SEARCH_ENGINES)


def is_social_site(host: str) -> bool:
    return _host_matches(host, SOCIAL_SITES)


def classify(params: Mapping[str, str], referrer: str | None) -> Channel:
    """The channel of one landing from its captured parameters and referring host."""
    # click ids first: they decide alone, before any look at the source's host
    for key in _PAID_SEARCH_IDS:
        if key in params:
            return Channel.PAID_SEARCH
    if "dclid" in params:
        return Channel.DISPLAY
    for key in _PAID_SOCIAL_IDS:
        if key in params:
            return Channel.PAID_SOCIAL

    medium = params.get("utm_medium", "").strip().lower()
    source = params.get("utm_source", "").strip().lower()
    social_source = bool(source) and (is_social_site(source) or source in SOCIAL_SITES or source in ("fb", "ig"))

    if medium:
        if medium in _EMAIL_MEDIUM:
            return Channel.EMAIL
        if medium == "sms":
            return Channel.SMS
        if medium == "affiliate":
            return Channel.AFFILIATE
        if medium in _DISPLAY_MEDIUM:
            return Channel.DISPLAY
        if _PAID_MEDIUM.match(medium):
            social = social_source or "social" in medium or any(k in params for k in _ORGANIC_SOCIAL_IDS)
            if social:
                return Channel.PAID_SOCIAL
            search = medium in ("cpc", "ppc", "paid_search", "paidsearch") or is_search_engine(source)
            return Channel.PAID_SEARCH if search else Channel.PAID_OTHER
        if medium in _SOCIAL_MEDIUM or "social" in medium:
            return Channel.ORGANIC_SOCIAL
        if medium == "organic":
            return Channel.ORGANIC_SEARCH
        if medium == "referral":
            return Channel.REFERRAL

    if any(k in params for k in _ORGANIC_SOCIAL_IDS) or social_source:
        return Channel.ORGANIC_SOCIAL
    if source and is_search_engine(source):
        return Channel.ORGANIC_SEARCH

    if referrer:
        host = referrer.lower()
        if host in EMAIL_SITES:
            return Channel.EMAIL
        if is_search_engine(host):
            return Channel.ORGANIC_SEARCH
        if is_social_site(host):
            return Channel.ORGANIC_SOCIAL
        return Channel.REFERRAL
    return Channel.OTHER if params else Channel.DIRECT
