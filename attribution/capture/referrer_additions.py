"""What the upstream lists lack, reviewed by hand: each entry with its source. And how webmail is told.

``referrers.py`` is generated from Matomo's lists and GA4's source categories and never edited; these are
the few hosts and names neither has (messaging apps' link hosts, country sites, AI assistants, a few search
sites, Google's ad frames), kept small so each can be checked. Hosts are lowercase without ``www.``;
``name.{}`` stands for the site under any public suffix (``pinterest.it``, ``pinterest.com.mx``), and a
host also covers its subdomains, as for every social network and assistant.
"""

from __future__ import annotations

from typing import Final

SOCIAL_HOSTS: Final = frozenset(
    (
        "t.me",  # Telegram's link host (telegram.org/faq, "t.me links")
        "telegram.me",  # Telegram's older link host (same FAQ)
        "messenger.com",  # Facebook Messenger on the web; l.messenger.com is its outbound link shim
        "line.me",  # LINE's link and web host (line.me)
        "wa.me",  # WhatsApp's click-to-chat links (faq.whatsapp.com, "How to use click to chat")
        "whatsapp.com",  # WhatsApp, web.whatsapp.com included
        "fb.com",  # Facebook's short domain, like Matomo's fb.me
        "pinterest.{}",  # Pinterest's country sites (pinterest.it, pinterest.com.mx), as Matomo lists a dozen
        "lnk.bio",  # link-in-bio pages; Snowplow's referer-parser tests count it as social
        "linktr.ee",  # link-in-bio pages, as lnk.bio
    )
)
SOCIAL_NAMES: Final = frozenset(
    # the short names sites put in utm_source (Meta's dynamic {{site_source_name}} gives fb, ig, msg)
    ("fb", "ig", "msg", "tw", "x", "yt", "li", "whatsapp", "wa", "telegram", "threads", "bluesky", "bsky")
)
AI_ASSISTANT_HOSTS: Final = frozenset(
    (
        "character.ai",  # Character.AI (character.ai); Snowplow's referer-parser tests count it as a chatbot
        "poe.com",  # Poe, Quora's assistant app (poe.com)
    )
)
AI_ASSISTANT_NAMES: Final = frozenset(("characterai", "poe"))
SEARCH_HOSTS: Final = frozenset(
    (
        "aolsearch.com",  # AOL's search site; Matomo lists only de.aolsearch.com
        "kagi.com",  # Kagi, a subscription search engine (kagi.com)
        "dalesearch.com",  # a metasearch site; Snowplow's referer-parser tests count it as search
        "pricerunner.{}",  # PriceRunner's product search; Snowplow's referer-parser tests count it as search
    )
)
#: Google's ad frames and ad-click servers: a visit from one is an ad click whose click id did not come along.
DISPLAY_AD_HOSTS: Final = frozenset(
    (
        "doubleclick.net",  # Campaign Manager 360 / Display & Video 360 ad serving (support.google.com/campaignmanager)
        "googlesyndication.com",  # AdSense and Google Display Network ad frames (pagead2., tpc., safeframe.)
        "googleadservices.com",  # Google Ads' click server (www.googleadservices.com/pagead/aclk)
    )
)
SEARCH_AD_HOSTS: Final = frozenset(
    (
        "adsensecustomsearchads.com",  # AdSense for Search: search ads on partner sites (support.google.com/adsense)
        "syndicatedsearch.goog",  # the same ads' newer host (developers.google.com/custom-search-ads)
    )
)

# -- webmail ---------------------------------------------------------------------------------------------------
# A link opened from webmail carries the webmail's host. Providers run their mail on a subdomain of a portal
# (mail.google.com, mail.yahoo.com, webmail1m.orange.fr, email.t-online.de, co106w.col106.mail.live.com) or
# behind a dereferrer domain (deref-gmx.net, deref-web.de), so they are told by the labels left of the
# registrable domain rather than by a list of every host; the hosts were checked against Snowplow's
# referer-parser tests (pull/235) and the providers' own sites.

#: A subdomain label containing one of these is a webmail host: mail, webmail1m, wmail, lightmailer, upcmail.
WEBMAIL_LABEL_PARTS: Final = ("mail",)
#: A subdomain label equal to or starting with one of these: Orange's "messagerie" (French for mail), United
#: Internet's 3c / 3c-bap mail UI (GMX, Web.de, mail.com), Microsoft's Outlook on the web.
WEBMAIL_LABEL_PREFIXES: Final = ("messagerie", "3c-", "outlook")
WEBMAIL_LABELS: Final = frozenset(("3c", "inbox"))
#: A registrable domain starting with this: GMX, Web.de, 1&1 and mail.com send links through deref-<provider>.
WEBMAIL_DOMAIN_PREFIX: Final = "deref-"
#: Webmail hosts no rule above catches, and the Android mail apps, whose links arrive with
#: ``Referer: android-app://<package>``.
WEBMAIL_HOSTS: Final = frozenset(
    (
        "rich-v01.bluewin.ch",  # Swisscom's Bluewin webmail (Snowplow's referer-parser tests)
        "rich-v02.bluewin.ch",  # the same
        "e.mail.ru",  # Mail.ru's webmail (e.mail.ru)
        "com.google.android.gm",  # Gmail for Android
        "com.microsoft.office.outlook",  # Outlook for Android
        "com.yahoo.mobile.client.android.mail",  # Yahoo Mail for Android
    )
)
