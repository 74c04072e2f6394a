"""The click ids and campaign parameters marketers expect, and the ad platforms' cookies as browser ids,
captured through real HTTP with a browser's User-Agent."""

from __future__ import annotations

from tests.helpers import client


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
