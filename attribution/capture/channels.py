"""Which channel a landing belongs to: click ids first, then utm_medium/utm_source, then the referrer.

Search engines, social networks and AI assistants come from Matomo's maintained lists (generated into
``referrers.py``), so ``chatgpt.com`` or ``perplexity.ai`` as a referrer or ``utm_source`` is
``ai_assistant``, not a plain referral.

The rules follow GA4's default channel grouping in spirit, with one deliberate difference: a lone
``fbclid`` or ``igshid`` counts as organic social, because Meta adds them to organic outbound links as
well as ads; an ad click is told apart by its utm_medium (``paid_social``, ``cpc`` ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .models import Channel
from .referrers import (
    AI_ASSISTANT_HOSTS,
    AI_ASSISTANT_NAMES,
    SEARCH_HOSTS,
    SEARCH_NAMES,
    SOCIAL_HOSTS,
    SOCIAL_NAMES,
)

# frozensets: ``not ids.isdisjoint(params)`` asks "any of these?" in one C call over the few params
# ``oppref``: an ad in ChatGPT's answer to the visitor's own question, bought on that intent as a search ad
# is (and what a tagged ChatGPT click, ``utm_source=chatgpt.com&utm_medium=cpc``, already counts as)
_PAID_SEARCH_IDS: Final = frozenset(("gclid", "gbraid", "wbraid", "msclkid", "yclid", "gad_source", "oppref"))
_PAID_SOCIAL_IDS: Final = frozenset(
    (
        "ttclid",
        "twclid",
        "li_fat_id",
        "rdt_cid",
        "sccid",
        "epik",
        "qclid",
        "ctwa_clid",
        "cnct_tracking_id",
    )
)
_ORGANIC_SOCIAL_IDS: Final = frozenset(("fbclid", "igshid", "ig_sid"))
_EMAIL_IDS: Final = frozenset(("mc_cid", "_kx"))  # Mailchimp campaign, Klaviyo profile exchange

#: What Matomo's list lacks: messaging apps and the short names sites put in ``utm_source``.
EXTRA_SOCIAL_HOSTS: Final = frozenset(("whatsapp.com", "wa.me", "web.whatsapp.com", "fb.com", "quora.com"))
EXTRA_SOCIAL_NAMES: Final = frozenset(("fb", "ig", "tw", "yt", "li", "whatsapp", "quora"))
EMAIL_SITES: Final = frozenset(("mail.google.com", "outlook.live.com", "mail.yahoo.com", "mail.proton.me"))

_PAID_MEDIUM = re.compile(r"^(.*cp.|ppc|retargeting|paid.*)$")
_SOCIAL_MEDIUM = frozenset(("social", "social-network", "social-media", "social_media", "sm", "network"))
_DISPLAY_MEDIUM = frozenset(("display", "banner", "expandable", "interstitial", "cpm"))
_EMAIL_MEDIUM = frozenset(("email", "e-mail", "e_mail", "newsletter"))
_NOT_NAME = re.compile(r"[^a-z0-9]")


def _listed(host: str, hosts: frozenset[str], *, parents: bool) -> bool:
    """``host`` is in ``hosts``, directly, as ``name.{}`` (any TLD, ``co.uk`` too) or ``{}.domain`` (any
    country subdomain); with ``parents``, a subdomain of a listed host counts (``l.facebook.com``)."""
    host = host.lower().removeprefix("www.")
    if host in hosts:
        return True
    labels = host.split(".")
    count = len(labels)
    if any(k >= 1 and ".".join(labels[:k]) + ".{}" in hosts for k in (count - 1, count - 2)):
        return True
    if count >= 3 and "{}." + ".".join(labels[1:]) in hosts:
        return True
    return parents and any(".".join(labels[i:]) in hosts for i in range(1, count - 1))


def is_search_engine(host: str) -> bool:
    return _listed(host, SEARCH_HOSTS, parents=False)


def is_social_site(host: str) -> bool:
    return _listed(host, SOCIAL_HOSTS, parents=True) or _listed(host, EXTRA_SOCIAL_HOSTS, parents=True)


def is_ai_assistant(host: str) -> bool:
    return _listed(host, AI_ASSISTANT_HOSTS, parents=True)


def _host_kind(host: str) -> Channel | None:
    """What a host is, for a referrer and a ``utm_source`` alike: an assistant or a network that Matomo also
    lists as an engine (``chatgpt.com``, ``facebook.com``) counts as that first."""
    if is_ai_assistant(host):
        return Channel.AI_ASSISTANT
    if is_social_site(host):
        return Channel.ORGANIC_SOCIAL
    if is_search_engine(host):
        return Channel.ORGANIC_SEARCH
    return None


def _source_kind(source: str) -> Channel | None:
    """What a ``utm_source`` names: a host (``chatgpt.com``) or a name (``google``, ``fb``)."""
    if "." in source and (kind := _host_kind(source)) is not None:
        return kind
    name = _NOT_NAME.sub("", source)
    if name in AI_ASSISTANT_NAMES:
        return Channel.AI_ASSISTANT
    if name in SOCIAL_NAMES or name in EXTRA_SOCIAL_NAMES:
        return Channel.ORGANIC_SOCIAL
    if name in SEARCH_NAMES:
        return Channel.ORGANIC_SEARCH
    return None


def classify(params: Mapping[str, str], referrer: str | None) -> Channel:
    """The channel of one landing from its captured parameters and referring host."""
    if not _PAID_SEARCH_IDS.isdisjoint(params):
        return Channel.PAID_SEARCH
    if "dclid" in params:
        return Channel.DISPLAY
    if not _PAID_SOCIAL_IDS.isdisjoint(params):
        return Channel.PAID_SOCIAL
    if "irclickid" in params:
        return Channel.AFFILIATE

    medium = params.get("utm_medium", "").strip().lower()
    source = params.get("utm_source", "").strip().lower()
    # what utm_source names is looked up (host lists, name sets) only where a rule below needs it

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
            if "social" in medium or not _ORGANIC_SOCIAL_IDS.isdisjoint(params):
                return Channel.PAID_SOCIAL
            kind = _source_kind(source) if source else None
            if kind is Channel.ORGANIC_SOCIAL:
                return Channel.PAID_SOCIAL
            search = medium in ("cpc", "ppc", "paid_search", "paidsearch") or kind is Channel.ORGANIC_SEARCH
            return Channel.PAID_SEARCH if search else Channel.PAID_OTHER
        if medium in _SOCIAL_MEDIUM or "social" in medium:
            return Channel.ORGANIC_SOCIAL
        if medium == "organic":
            return Channel.ORGANIC_SEARCH
        if medium == "referral":
            kind = _source_kind(source) if source else None
            return Channel.AI_ASSISTANT if kind is Channel.AI_ASSISTANT else Channel.REFERRAL

    if not _ORGANIC_SOCIAL_IDS.isdisjoint(params):
        return Channel.ORGANIC_SOCIAL
    if not _EMAIL_IDS.isdisjoint(params):
        return Channel.EMAIL
    kind = _source_kind(source) if source else None
    if kind is not None:
        return kind

    if referrer:
        host = referrer.lower()
        if host in EMAIL_SITES:
            return Channel.EMAIL
        return _host_kind(host) or Channel.REFERRAL
    return Channel.OTHER if params else Channel.DIRECT
