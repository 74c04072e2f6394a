"""Which channel a landing belongs to, by the library's own rules: click ids first, then the campaign's
utm_medium / utm_source / utm_campaign, then the referring host. ``ga4_channels`` holds GA4's rules.

Worked out once, on the landing, and stored with the touch. The rules follow GA4's Default Channel Group in
order and naming spirit (a paid medium with a social source is paid social, a ``utm_source`` alone that names
a search engine is organic search, ``cross-network`` campaigns are paid, ``push`` and ``audio`` media are
recognised), and differ from it on purpose where GA4 cannot see what the landing shows (docs/capture.md has
the table): a lone click id of a platform GA4 does not read (``ttclid``, ``msclkid``) is that platform's paid
channel; a webmail referrer is email, an AI assistant is ``ai_assistant``; a lone ``fbclid`` is organic social
(Meta adds it to organic outbound links too: an ad click is told by its utm_medium); video sites count as
social networks; GA4's shopping and cross-network channels fold into the paid and referral channels.

What a host or a ``utm_source`` names is ``source_kinds``' answer: Matomo's lists, GA4's source categories,
and a short reviewed list of additions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from . import ga4_channels
from .ga4_channels import DISPLAY_MEDIA, EMAIL_NAMES, NOT_SET, PAID_MEDIUM, REFERRAL_MEDIA, SOCIAL_MEDIA, is_push
from .models import Channel, GA4Channel
from .source_kinds import (
    AI,
    DISPLAY_AD,
    SEARCH,
    SEARCH_AD,
    SHOPPING,
    SOCIAL,
    VIDEO,
    host_kinds,
    is_webmail,
    source_kinds,
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

#: GA4's social media, and the spellings sites use besides.
_SOCIAL_MEDIA: Final = SOCIAL_MEDIA | {"social_media", "network"}
_EMAIL_MEDIA: Final = EMAIL_NAMES | {"newsletter"}
_SEARCH_AD_MEDIA: Final = frozenset(("paid_search", "paidsearch", "paid-search", "paid search", "sem"))
_DIRECT_MEDIA: Final = frozenset(("", "(none)", NOT_SET))


def _organic(kinds: int) -> Channel | None:
    """The unpaid channel of a source of these kinds (see ``source_kinds``), None for none."""
    if kinds & AI:
        return Channel.AI_ASSISTANT
    if kinds & (SOCIAL | VIDEO):
        return Channel.ORGANIC_SOCIAL
    if kinds & SEARCH:
        return Channel.ORGANIC_SEARCH
    if kinds & SEARCH_AD:
        return Channel.PAID_SEARCH
    if kinds & DISPLAY_AD:
        return Channel.DISPLAY
    if kinds & SHOPPING:
        return Channel.REFERRAL
    return None


def _paid(medium: str, source: str, params: Mapping[str, str]) -> Channel:
    if "social" in medium or not _ORGANIC_SOCIAL_IDS.isdisjoint(params):
        return Channel.PAID_SOCIAL
    kinds = source_kinds(source) if source else 0
    if kinds & (SOCIAL | VIDEO):
        return Channel.PAID_SOCIAL
    if kinds & SEARCH or medium in _SEARCH_AD_MEDIA:
        return Channel.PAID_SEARCH
    return Channel.DISPLAY if medium in DISPLAY_MEDIA else Channel.PAID_OTHER


def _by_medium(medium: str, source: str, params: Mapping[str, str]) -> Channel | None:
    """The channel a utm_medium decides, None for a medium that leaves it to the source."""
    if PAID_MEDIUM.match(medium):
        return _paid(medium, source, params)
    if medium in DISPLAY_MEDIA:
        return Channel.DISPLAY
    if medium in _EMAIL_MEDIA:
        return Channel.EMAIL
    if medium == "sms":
        return Channel.SMS
    if medium in ("affiliate", "affiliates"):
        return Channel.AFFILIATE
    if medium == "audio":  # GA4's Audio: ads on audio platforms
        return Channel.PAID_OTHER
    if is_push(medium):
        return Channel.PUSH
    if medium in _SOCIAL_MEDIA or "social" in medium:
        return Channel.ORGANIC_SOCIAL
    if medium == "organic":
        kinds = source_kinds(source) if source else 0
        return Channel.ORGANIC_SOCIAL if kinds & (SOCIAL | VIDEO) else Channel.ORGANIC_SEARCH
    if medium in REFERRAL_MEDIA:
        kinds = source_kinds(source) if source else 0
        return _organic(kinds & (AI | SOCIAL | VIDEO | SEARCH)) or Channel.REFERRAL
    return None


def _by_source(source: str) -> Channel | None:
    if source in EMAIL_NAMES:
        return Channel.EMAIL
    if source == "sms":
        return Channel.SMS
    if source == "firebase":  # Firebase Cloud Messaging: GA4's push source
        return Channel.PUSH
    return _organic(source_kinds(source))


def referrer_channel(host: str) -> Channel:
    """The channel of a visit with nothing but a referring host (lowercase)."""
    if is_webmail(host):
        return Channel.EMAIL
    return _organic(host_kinds(host)) or Channel.REFERRAL


def classify(params: Mapping[str, str], referrer: str | None) -> Channel:
    """The channel of one landing from its captured parameters and referring host (the default rules)."""
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
    if source == "(direct)" and medium in _DIRECT_MEDIA:
        return Channel.DIRECT
    if "cross-network" in params.get("utm_campaign", "").lower():  # GA4's Cross-network: a paid campaign
        return Channel.PAID_OTHER
    # what utm_source names is looked up (host lists, name sets) only where a rule needs it
    if medium and (channel := _by_medium(medium, source, params)) is not None:
        return channel
    if not _ORGANIC_SOCIAL_IDS.isdisjoint(params):
        return Channel.ORGANIC_SOCIAL
    if not _EMAIL_IDS.isdisjoint(params):
        return Channel.EMAIL
    if source and (channel := _by_source(source)) is not None:
        return channel
    if referrer:
        return referrer_channel(referrer.lower())
    return Channel.OTHER if params else Channel.DIRECT


#: The rule sets ``channel_rules`` names, by name.
RULES: Final[dict[str, Callable[[Mapping[str, str], str | None], Channel | GA4Channel]]] = {
    "default": classify,
    "ga4": ga4_channels.classify,
}
