"""GA4's Default Channel Group, with GA4's own names: the rules a site gets with ``channel_rules="ga4"``.

As Google publishes them (support.google.com/analytics/answer/9756891), evaluated in GA4's order on the
source, medium and campaign GA4 would give the landing:

- Google Ads' click ids (``gclid``, ``gbraid``, ``wbraid``: auto-tagging) are ``google`` / ``cpc``;
- else the campaign's ``utm_source`` / ``utm_medium`` / ``utm_campaign``, ``(not set)`` where missing;
- else the referring host: ``organic`` from a search engine, ``referral`` from anywhere else;
- else ``(direct)`` / ``(none)``.

"Matches a list of search (social, video, shopping) sites" is GA4's published source categories list, and for
a source that list does not name, the same lists the default rules use (Matomo's, the reviewed additions). GA4
has no channel for AI assistants or webmail: a visit from one is a Referral, as GA4 reports it, and a click id
GA4 does not read (``ttclid``, ``msclkid``) changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .models import GA4Channel
from .source_kinds import SEARCH, SHOPPING, SOCIAL, VIDEO, ga4_kinds, host_kinds

#: GA4's paid media: ``^(.*cp.*|ppc|retargeting|paid.*)$``.
PAID_MEDIUM: Final = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
#: GA4's shopping campaign names: ``^(.*(([^a-df-z]|^)shop|shopping).*)$``.
SHOPPING_CAMPAIGN: Final = re.compile(r"^(.*(([^a-df-z]|^)shop|shopping).*)$")
DISPLAY_MEDIA: Final = frozenset(("display", "banner", "expandable", "interstitial", "cpm"))
SOCIAL_MEDIA: Final = frozenset(("social", "social-network", "social-media", "sm", "social network", "social media"))
EMAIL_NAMES: Final = frozenset(("email", "e-mail", "e_mail", "e mail"))
REFERRAL_MEDIA: Final = frozenset(("referral", "app", "link"))
_GOOGLE_ADS_IDS: Final = frozenset(("gclid", "gbraid", "wbraid"))
_CAMPAIGN_PARAMS: Final = frozenset(("utm_source", "utm_medium", "utm_campaign", "utm_id"))
NOT_SET: Final = "(not set)"


def is_push(medium: str) -> bool:
    """GA4's Mobile Push Notifications medium: ends with "push", or contains "mobile" or "notification"."""
    return medium.endswith("push") or "mobile" in medium or "notification" in medium


def source_medium(params: Mapping[str, str], referrer: str | None) -> tuple[str, str, str]:
    """The (source, medium, campaign) GA4 gives a landing, lowercased."""
    campaign = params.get("utm_campaign", "").strip().lower() or NOT_SET
    if not _GOOGLE_ADS_IDS.isdisjoint(params):
        return "google", "cpc", campaign
    if not _CAMPAIGN_PARAMS.isdisjoint(params):
        source = params.get("utm_source", "").strip().lower() or NOT_SET
        return source, params.get("utm_medium", "").strip().lower() or NOT_SET, campaign
    if referrer:
        host = referrer.lower().removeprefix("www.")
        return host, ("organic" if host_kinds(host) & SEARCH else "referral"), campaign
    return "(direct)", "(none)", campaign


def channel_of(source: str, medium: str, campaign: str) -> GA4Channel:
    """GA4's Default Channel Group of one source / medium / campaign, rule by rule in GA4's order."""
    if source == "(direct)" and medium in ("(none)", NOT_SET):
        return GA4Channel.DIRECT
    if "cross-network" in campaign:
        return GA4Channel.CROSS_NETWORK
    kinds = ga4_kinds(source) if source != NOT_SET else 0
    shopping = bool(kinds & SHOPPING) or bool(SHOPPING_CAMPAIGN.match(campaign))
    if PAID_MEDIUM.match(medium):
        if shopping:
            return GA4Channel.PAID_SHOPPING
        if kinds & SEARCH:
            return GA4Channel.PAID_SEARCH
        if kinds & SOCIAL:
            return GA4Channel.PAID_SOCIAL
        if kinds & VIDEO:
            return GA4Channel.PAID_VIDEO
    if medium in DISPLAY_MEDIA:
        return GA4Channel.DISPLAY
    if PAID_MEDIUM.match(medium):
        return GA4Channel.PAID_OTHER
    if shopping:
        return GA4Channel.ORGANIC_SHOPPING
    if kinds & SOCIAL or medium in SOCIAL_MEDIA:
        return GA4Channel.ORGANIC_SOCIAL
    if kinds & VIDEO or "video" in medium:
        return GA4Channel.ORGANIC_VIDEO
    if kinds & SEARCH or medium == "organic":
        return GA4Channel.ORGANIC_SEARCH
    if medium in REFERRAL_MEDIA:
        return GA4Channel.REFERRAL
    if source in EMAIL_NAMES or medium in EMAIL_NAMES:
        return GA4Channel.EMAIL
    if medium == "affiliate":
        return GA4Channel.AFFILIATES
    if medium == "audio":
        return GA4Channel.AUDIO
    if source == "sms" or medium == "sms":
        return GA4Channel.SMS
    if is_push(medium) or source == "firebase":
        return GA4Channel.MOBILE_PUSH_NOTIFICATIONS
    return GA4Channel.UNASSIGNED


def classify(params: Mapping[str, str], referrer: str | None) -> GA4Channel:
    """The GA4 channel of one landing from its captured parameters and referring host."""
    return channel_of(*source_medium(params, referrer))
