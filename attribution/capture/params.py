"""What the library tracks: query parameters, click ids with their windows, and browser-id cookies.

Everything here is data. Capture rules live in ``capture.py``; channel rules in ``channels.py``.
"""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType
from typing import Final

UTM_PARAMS: Final = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "utm_id",
    "utm_source_platform",
    "utm_creative_format",
    "utm_marketing_tactic",
)

_DAY = timedelta(days=1)

#: How long each click id keeps attributing after the click. Defaults follow the longest click-through
#: window each ad platform offers in its own reporting, so no conversion the platform would still credit
#: is withheld. Pass ``click_id_windows=`` to the middleware to change any of them.
DEFAULT_CLICK_ID_WINDOWS: Final = MappingProxyType(
    {
        "gclid": 90 * _DAY,  # Google Ads: click-through window up to 90 days
        "gbraid": 90 * _DAY,
        "wbraid": 90 * _DAY,
        "dclid": 90 * _DAY,  # Campaign Manager / Display & Video 360
        "fbclid": 28 * _DAY,  # Meta: 28-day click for offline/CAPI matching
        "msclkid": 90 * _DAY,  # Microsoft Advertising: up to 90 days
        "ttclid": 28 * _DAY,  # TikTok: up to 28-day click
        "twclid": 30 * _DAY,  # X: up to 30-day click
        "li_fat_id": 90 * _DAY,  # LinkedIn: up to 90-day click
        "igshid": 7 * _DAY,  # Instagram share id
        "ig_sid": 7 * _DAY,
        "rdt_cid": 28 * _DAY,  # Reddit: up to 28-day click
        "sccid": 28 * _DAY,  # Snapchat: up to 28-day swipe (Snap writes it ``ScCid``: see CASELESS_PARAMS)
        "epik": 30 * _DAY,  # Pinterest: up to 30-day click
        "ctwa_clid": 7 * _DAY,  # Meta Click-to-WhatsApp: 7-day click
        "yclid": 90 * _DAY,  # Yandex Direct
        "qclid": 28 * _DAY,  # Quora Ads: up to 28-day click
        "irclickid": 30 * _DAY,  # impact.com affiliate click
        "_kx": 30 * _DAY,  # Klaviyo: the email recipient's profile exchange id
        "oppref": 30 * _DAY,  # OpenAI Ads (ChatGPT): as long as its pixel keeps the ``__oppref`` cookie
    }
)

CLICK_IDS: Final = tuple(DEFAULT_CLICK_ID_WINDOWS)

#: Connectly's Click-to-WhatsApp landing parameters (``ctwa_clid`` is a click id above as well).
CONNECTLY_PARAMS: Final = ("cnct_tracking_id", "sendout_id", "ctwa_clid", "ad_id", "attribution_source")

#: Ids that belong to one click and are kept with it for its window: a ``sendout_id`` from one landing with
#: the ``ctwa_clid`` of another would credit the wrong campaign.
CLICK_ID_COMPANIONS: Final = MappingProxyType(
    {"ctwa_clid": ("cnct_tracking_id", "sendout_id", "ad_id", "attribution_source")}
)

#: Ad ids that Meta-style URL templates add (``{{campaign.id}}`` ...); Whop's ``context`` takes them.
AD_ID_PARAMS: Final = ("ad_campaign_id", "ad_set_id", "ad_id")

#: Campaign parameters beside the UTMs: Google's ad source and click source, Mailchimp's campaign id.
CAMPAIGN_PARAMS: Final = ("gad_source", "gclsrc", "mc_cid")

#: Parameters matched in any case and kept under the lowercase name: Snap appends its click id to landing
#: URLs as ``ScCid``, and a click id missed for its case is a Snapchat conversion lost.
CASELESS_PARAMS: Final = frozenset(("sccid",))

#: Every query parameter captured by default, in a stable order.
TRACKED_PARAMS: Final = tuple(
    dict.fromkeys((*UTM_PARAMS, *CLICK_IDS, *CONNECTLY_PARAMS, *AD_ID_PARAMS, *CAMPAIGN_PARAMS))
)

#: First-party cookies holding browser ids, mapped to the name they get in ``Attribution.identifiers``.
#: The tags' own copies of LinkedIn's and Reddit's click ids get a ``_cookie`` suffix: their plain names are the
#: click ids of the landing URL, which ``Attribution.get`` reads with their windows.
IDENTIFIER_COOKIES: Final = MappingProxyType(
    {
        "_fbp": "fbp",  # Meta browser id
        "_fbc": "fbc",  # Meta click id, fb.<index>.<ms>.<fbclid>
        "_ga": "ga",  # stored as the GA4 client id: the last two parts of the cookie
        "_ttp": "ttp",  # TikTok browser id
        "dp_pid": "dp_pid",  # ConvertLoop contact id
        "_wuid": "wuid",  # Whop visitor id
        "_rdtrk": "rdtrk",  # RD Station tracking id
        "_gcl_aw": "gcl_aw",  # Google Ads click, GCL.<seconds>.<gclid>
        "_gcl_gb": "gcl_gb",  # Google Ads app/iOS click, GCL.<seconds>.<gbraid>
        "_uetmsclkid": "uetmsclkid",  # Microsoft Ads click, _uet<msclkid>
        "_uetvid": "uetvid",  # Microsoft UET visitor id (the Conversions API's anonymousId)
        "li_fat_id": "li_fat_id_cookie",  # LinkedIn Insight Tag's copy of the li_fat_id click id
        "_rdt_uuid": "rdt_uuid",  # Reddit pixel browser id, <ms>.<uuid>
        "_rdt_cid": "rdt_cid_cookie",  # Reddit pixel's copy of the rdt_cid click id
        "_scid": "scid",  # Snap pixel browser id
        "_epik": "epik",  # Pinterest click id, as its tag keeps it
        "__oppref": "oppref",  # OpenAI Ads click reference, as its pixel keeps it
        "__obref": "obref",  # OpenAI Ads pixel browser id
    }
)

#: Longest value kept for free-text parameters (utm_*): longer ones are cut to this many characters.
MAX_TEXT_LENGTH: Final = 200
#: Longest id kept (click ids, browser ids, Connectly ids). A cut id would silently attribute to nobody,
#: so a longer one is dropped whole instead of truncated.
MAX_ID_LENGTH: Final = 500
