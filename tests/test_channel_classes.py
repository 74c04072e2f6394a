"""The channel of each class of landing the corpora found wrong, with examples from them, through real HTTP: a
Chrome page load with the Referer a browser sends, or a landing URL's utm parameters, read back from what the
app sees (``get_attribution(request).channel``)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from attribution import Channel, ConfigurationError, GA4Channel
from tests.helpers import COOKIE, client


def landed(query: str = "", referer: str | None = None, **options: Any) -> str:
    """The channel the app reads after a new visitor's landing on ``/show?query`` from ``referer``."""
    site = client(**options)
    headers = {"sec-fetch-mode": "navigate", "sec-fetch-site": "none"}
    if referer is not None:
        headers |= {"referer": referer, "sec-fetch-site": "cross-site"}
    shown = site.get("/show" + (f"?{query}" if query else ""), headers=headers).json()
    return str(shown["channel"])


# -- 1. webmail -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "referer",
    [
        "https://deref-gmx.net/mail/client/I_fLA6cRr54/dereferrer/?redirectUrl=https%3A%2F%2Fshop.example.com",
        "https://deref-web.de/",
        "http://webmail1m.orange.fr/webmail/fr_FR/read.html",
        "http://co106w.col106.mail.live.com/default.aspx?rru=inbox",
        "http://36ohk6dgmcd1n-c.c.yom.mail.yahoo.net/om/api/1.0/openmail.app.invoke/36ohk6dgmcd1n/11/1.0.35/us/en-US",
        "https://email.t-online.de/",
        "https://messagerie.orange.fr/",
        "https://3c-bap.web.de/",
        "https://lightmailer.gmx.net/",
        "https://mail.google.com/",
        "https://outlook.live.com/",
        "https://outlook.office.com/",
        "https://mail.proton.me/",
        "https://rich-v01.bluewin.ch/",
        "android-app://com.google.android.gm/",
    ],
)
def test_a_link_opened_in_webmail_is_email(referer: str) -> None:
    assert landed(referer=referer) == "email"


@pytest.mark.parametrize(
    ("referer", "channel"),
    [
        ("https://go.mail.ru/", "organic_search"),  # Mail.ru's search: "mail" is the domain, not a mail host
        ("https://my.mail.ru/", "organic_social"),
        ("https://www.gmx.net/", "referral"),  # the portal's news, not its mail
        ("https://mailchi.mp/", "referral"),  # a campaign's web page, not an inbox
    ],
)
def test_a_mail_provider_s_other_sites_are_not_webmail(referer: str, channel: str) -> None:
    assert landed(referer=referer) == channel


def test_a_referring_host_longer_than_any_dns_name_is_a_plain_referral() -> None:
    host = ("webmail" + "x" * 50 + ".") * 5 + "example.com"  # 300 characters: labels say mail, the length says no
    assert len(host) > 253
    assert landed(referer=f"https://{host}/") == "referral"
    assert landed(referer=f"https://{host[-120:].lstrip('x.')}/") == "email"


# -- 2 and 3. every host of an engine, and its subdomains -------------------------------------------------------------


@pytest.mark.parametrize(
    "referer",
    [
        "https://images.yandex.ru/",
        "https://uk.search-results.com/",  # Ask
        "https://www.dogpile.com/",  # InfoSpace
        "https://www.so.com/",  # 360 Search
        "https://meta.ua/",
        "https://it.images.search.yahoo.com/images/view",
        "https://m.search.naver.com/",
        "https://lens.google.com/",
        "https://s3-us3.ixquick.com/do/search",
        "https://www.google.com.br/",
        "https://news.google.com/",
        "https://www.aolsearch.com/",
    ],
)
def test_search_engines_and_their_own_subdomains_are_organic_search(referer: str) -> None:
    assert landed(referer=referer) == "organic_search"


@pytest.mark.parametrize(
    ("referer", "channel"),
    [
        ("https://mail.google.com/", "email"),
        ("https://docs.google.com/", "referral"),
        ("https://support.google.com/", "referral"),
        ("https://finance.yahoo.com/", "referral"),
        ("https://www.avg.com/", "referral"),  # listed for search.avg.com only
        ("https://www.cnn.com/", "referral"),  # a written exclusion of the generator
        ("https://translate.google.com/", "referral"),
    ],
)
def test_an_engines_other_services_are_not_search(referer: str, channel: str) -> None:
    assert landed(referer=referer) == channel


# -- 4. what no upstream list has -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("referer", "channel"),
    [
        ("https://t.me/", "organic_social"),
        ("https://l.messenger.com/", "organic_social"),
        ("https://line.me/", "organic_social"),
        ("https://lm.facebook.com/", "organic_social"),
        ("https://www.pinterest.it/", "organic_social"),
        ("https://www.pinterest.com.mx/", "organic_social"),
        ("https://character.ai/", "ai_assistant"),
        ("https://beta.character.ai/", "ai_assistant"),
        ("https://poe.com/", "ai_assistant"),
        ("https://pagead2.googlesyndication.com/", "display"),
        ("https://syndicatedsearch.goog/", "paid_search"),
    ],
)
def test_the_reviewed_additions(referer: str, channel: str) -> None:
    assert landed(referer=referer) == channel


# -- 5. utm_source names, and source / medium combinations ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "channel"),
    [
        ("utm_source=facebook", "organic_social"),
        ("utm_source=fb", "organic_social"),
        ("utm_source=ig", "organic_social"),
        ("utm_source=messenger", "organic_social"),
        ("utm_source=blogger", "organic_social"),
        ("utm_source=social", "organic_social"),
        ("utm_source=pinterest.it", "organic_social"),
        ("utm_source=www.facebook.com", "organic_social"),
        ("utm_source=msn", "organic_search"),
        ("utm_source=Bing", "organic_search"),
        ("utm_source=facebook&utm_medium=organic", "organic_social"),
        ("utm_source=facebook&utm_medium=referral", "organic_social"),
        ("utm_source=facebook&utm_medium=cpc", "paid_social"),
        ("utm_source=facebook&utm_medium=cpm", "paid_social"),  # a paid medium with a social source, as GA4
        ("utm_source=partner&utm_medium=cpm", "display"),
        ("utm_source=partner&utm_medium=cpc", "paid_other"),  # cpc from no search engine: GA4's Paid Other
        ("utm_source=partner&utm_medium=paid_search", "paid_search"),
        ("utm_source=youtube&utm_medium=cpv", "paid_social"),
        ("utm_source=google&utm_medium=cpc&utm_campaign=pmax_cross-network", "paid_other"),
        ("utm_source=google&utm_medium=display", "display"),
        ("utm_source=impact&utm_medium=affiliate", "affiliate"),
        ("utm_source=attentive&utm_medium=sms", "sms"),
        ("utm_source=sms", "sms"),
        ("utm_source=onesignal&utm_medium=push", "push"),
        ("utm_source=app&utm_medium=mobile-notification", "push"),
        ("utm_source=firebase", "push"),
        ("utm_source=spotify&utm_medium=audio", "paid_other"),
        ("utm_source=email", "email"),
        ("utm_medium=e+mail", "email"),
        ("utm_source=(direct)&utm_medium=(none)", "direct"),
        ("utm_source=newsletter", "other"),
    ],
)
def test_utm_source_names_and_media(query: str, channel: str) -> None:
    assert landed(query) == channel


# -- channel_rules="ga4" ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "referer", "channel"),
    [
        ("gclid=Cj0KCQ-test", "https://www.google.com/", "Paid Search"),
        ("utm_source=google&utm_medium=cpc&utm_campaign=shopping_spring", None, "Paid Shopping"),
        ("utm_source=google&utm_medium=cpc&utm_campaign=pmax_cross-network", None, "Cross-network"),
        ("utm_source=youtube&utm_medium=cpv", None, "Paid Video"),
        ("utm_source=facebook&utm_medium=paid", None, "Paid Social"),
        ("utm_source=partner&utm_medium=cpc", None, "Paid Other"),
        ("utm_source=amazon", None, "Organic Shopping"),
        ("", "https://www.youtube.com/", "Organic Video"),
        ("", "https://l.facebook.com/", "Organic Social"),
        ("", "https://www.bing.com/", "Organic Search"),
        ("", "https://mail.google.com/", "Referral"),  # GA4 has no webmail rule
        ("", "https://chatgpt.com/", "Referral"),  # nor an AI one
        ("utm_source=chatgpt.com", None, "Unassigned"),
        ("ttclid=E.C.P.test", None, "Direct"),  # GA4 reads only Google's click ids
        ("utm_source=newsletter&utm_medium=email", None, "Email"),
        ("utm_source=spotify&utm_medium=audio", None, "Audio"),
        ("utm_source=onesignal&utm_medium=push", None, "Mobile Push Notifications"),
        ("utm_source=impact&utm_medium=affiliate", None, "Affiliates"),
        ("utm_medium=sms", None, "SMS"),
    ],
)
def test_ga4_rules_give_ga4s_channel_names(query: str, referer: str | None, channel: str) -> None:
    assert landed(query, referer, channel_rules="ga4") == channel


def test_under_ga4_rules_a_visitor_with_no_touch_is_ga4s_direct() -> None:
    site = client(channel_rules="ga4")
    assert site.get("/show").json()["channel"] == "Direct"
    assert client().get("/show").json()["channel"] == "direct"


def test_the_ga4_channel_is_stored_and_read_back_as_ga4s_enum() -> None:
    site = client(channel_rules="ga4")
    first = site.get("/show?utm_source=google&utm_medium=cpc&utm_campaign=shopping_spring").json()
    assert first["last"]["channel"] == "Paid Shopping"
    again = site.get("/show").json()  # a later page: the cookie only
    assert again["channel"] == "Paid Shopping"
    assert again["first"]["channel"] == "Paid Shopping"


def test_the_channel_is_worked_out_on_the_landing_and_kept_when_the_rules_change() -> None:
    default = client()
    default.get("/show?utm_source=google&utm_medium=cpc")
    cookie = default.cookies.get(COOKIE)
    assert cookie is not None
    ga4 = client(channel_rules="ga4")
    ga4.cookies.set(COOKIE, cookie, domain="shop.example.com")
    assert ga4.get("/show").json()["channel"] == "paid_search"  # an old touch keeps its stored channel
    assert ga4.get("/show?utm_source=bing&utm_medium=cpc").json()["channel"] == "Paid Search"
    back = client()
    back.cookies.set(COOKIE, ga4.cookies.get(COOKIE) or "", domain="shop.example.com")
    history = back.get("/show").json()
    assert history["channel"] == "Paid Search"  # the default rules' site reads GA4's names too
    assert history["first"]["channel"] == "paid_search"


def test_the_models_and_the_lazy_reads_agree_on_ga4_channels() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from attribution.web.middleware import AttributionMiddleware, get_attribution
    from tests.helpers import NAVIGATION, SECRET

    async def both(request: Request) -> JSONResponse:
        lazy = request.scope["attribution"]
        quick = lazy.channel  # from the cookie's compact form
        model = get_attribution(request)
        return JSONResponse({"lazy": quick, "model": model.channel, "kind": type(model.channel).__name__})

    app = Starlette(routes=[Route("/", both)])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, channel_rules="ga4")
    site = TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION)
    assert site.get("/").json() == {"lazy": "Direct", "model": "Direct", "kind": "GA4Channel"}
    assert site.get("/?utm_source=fb&utm_medium=paid").json() == {
        "lazy": "Paid Social",
        "model": "Paid Social",
        "kind": "GA4Channel",
    }
    assert GA4Channel("Paid Social") is GA4Channel.PAID_SOCIAL
    assert Channel("paid_social") is Channel.PAID_SOCIAL


def test_channel_rules_must_be_one_of_the_two() -> None:
    with pytest.raises(ConfigurationError, match=r"channel_rules must be 'default'.*or 'ga4'"):
        client(channel_rules="GA4").get("/show")
