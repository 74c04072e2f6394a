"""The click ids and campaign parameters marketers expect, and the ad platforms' cookies as browser ids,
captured through real HTTP with a browser's User-Agent."""

from __future__ import annotations

from tests.support.helpers import client


def test_a_landing_keeps_the_extra_click_ids_and_campaign_parameters_with_their_channel() -> None:
    site = client()
    url = "/show?gad_source=1&gclsrc=aw.ds&qclid=q-77&irclickid=ir-9&_kx=kx.abc&yclid=7357&mc_cid=mc-1"
    shown = site.get(url).json()
    assert shown["click_ids"] == {"yclid": "7357", "qclid": "q-77", "irclickid": "ir-9", "_kx": "kx.abc"}
    assert shown["last"]["params"]["gad_source"] == "1"
    assert shown["last"]["params"]["gclsrc"] == "aw.ds"
    assert shown["last"]["params"]["mc_cid"] == "mc-1"
    assert shown["channel"] == "paid_search"  # gad_source and yclid are Google's and Yandex's ad clicks


def test_an_affiliate_click_and_an_ai_assistant_link_get_their_own_channels() -> None:
    assert client().get("/show?irclickid=ir-1").json()["channel"] == "affiliate"
    assert client().get("/show?utm_source=chatgpt.com").json()["channel"] == "ai_assistant"


def test_ad_platform_cookies_are_read_as_browser_ids() -> None:
    cookies = {
        "_gcl_aw": "GCL.1746400000.Cj0KCQgclid",
        "_gcl_gb": "GCL.1746400000.0AAAAAgbraid",
        "_uetmsclkid": "_uet2a1b3c4d5e6f",
        "_scid": "5f1e2d3c-snap",
        "_epik": "dj0yJnU9pinterest",
        "session": "unrelated",
    }
    site = client()
    site.cookies.update(cookies)
    identifiers = site.get("/show?utm_source=newsletter").json()["identifiers"]
    assert identifiers == {
        "gcl_aw": "GCL.1746400000.Cj0KCQgclid",
        "gcl_gb": "GCL.1746400000.0AAAAAgbraid",
        "uetmsclkid": "_uet2a1b3c4d5e6f",
        "scid": "5f1e2d3c-snap",
        "epik": "dj0yJnU9pinterest",
    }


def test_the_linkedin_reddit_and_microsoft_tags_cookies_are_read_as_browser_ids() -> None:
    """The Insight Tag's ``li_fat_id``, the Reddit pixel's ``_rdt_uuid`` / ``_rdt_cid`` and UET's ``_uetvid``,
    each as its tag writes it, on a visit with no parameter at all (a returning visitor)."""
    cookies = {
        "li_fat_id": "3f1c9a4e-5b7d-4e2a-9c1f-0d8e7b6a5c4d",
        "_rdt_uuid": "1769457089327.4df2ebdc-15ff-4b34-9ae8-d6e2096a5dc9",
        "_rdt_cid": "t2_rdtCookieClick0123",
        "_uetvid": "683d4bb0faf011f09ddaef7abf1922b0",
        "_uetmsclkid": "_uet0f7e5c3a9b2d4e6f8a1b2c3d4e5f6a7b",
    }
    site = client()
    site.cookies.update(cookies)
    shown = site.get("/show").json()
    assert shown["identifiers"] == {
        "li_fat_id_cookie": "3f1c9a4e-5b7d-4e2a-9c1f-0d8e7b6a5c4d",
        "rdt_uuid": "1769457089327.4df2ebdc-15ff-4b34-9ae8-d6e2096a5dc9",
        "rdt_cid_cookie": "t2_rdtCookieClick0123",
        "uetvid": "683d4bb0faf011f09ddaef7abf1922b0",
        "uetmsclkid": "_uet0f7e5c3a9b2d4e6f8a1b2c3d4e5f6a7b",
    }
    assert shown["click_ids"] == {}  # a tag's copy is not a click of this landing: no window starts


def test_a_lone_li_fat_id_cookie_is_captured_and_the_url_click_id_keeps_its_own_name() -> None:
    site = client()
    site.cookies.set("li_fat_id", "cookie-uuid-0001")  # the only cookie: the single-cookie fast path
    assert site.get("/show").json()["identifiers"] == {"li_fat_id_cookie": "cookie-uuid-0001"}
    shown = site.get("/show?li_fat_id=url-uuid-0002&rdt_cid=t2_urlclick").json()
    assert shown["click_ids"] == {"li_fat_id": "url-uuid-0002", "rdt_cid": "t2_urlclick"}
    assert shown["identifiers"]["li_fat_id_cookie"] == "cookie-uuid-0001"
