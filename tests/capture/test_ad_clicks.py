"""Snapchat's ``ScCid`` in any case and OpenAI Ads' ``oppref`` click with its ``__oppref`` / ``__obref``
cookies, captured through real requests as a browser sends them after an ad click."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from attribution.web.snippet import script_tag
from tests.support.helpers import BROWSER_UA, NAVIGATION, client

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: A top-level navigation from an ad on another site, as Chrome sends it.
AD_CLICK = {**NAVIGATION, "sec-fetch-mode": "navigate", "sec-fetch-site": "cross-site", "sec-fetch-user": "?1"}
#: The form of the click references ChatGPT ads carry: a Fernet token, base64url with ``=`` padding.
OPPREF = "gAAAAABpX2v1c2VyLWNsaWNrLXJlZmVyZW5jZS1vZi10aGUtYWQtdW5pdA-_Zm9yLXRlc3Rz" + "x" * 120 + "=="


def visitor(now: dict[str, datetime], **options: Any) -> TestClient:
    return client(clock=lambda: now["t"], **options)


@pytest.mark.parametrize("name", ["ScCid", "sccid", "SCCID", "scCID"])
def test_snapchats_click_id_is_captured_whatever_the_case_snap_writes_it_in(name: str) -> None:
    shown = client().get(f"/show?{name}=a1b2c3-snap-click&utm_source=snapchat", headers=AD_CLICK).json()
    assert shown["click_ids"] == {"sccid": "a1b2c3-snap-click"}
    assert shown["last"]["params"] == {"utm_source": "snapchat", "sccid": "a1b2c3-snap-click"}
    assert shown["channel"] == "paid_social"


def test_the_first_spelling_of_the_snap_click_id_wins_and_other_parameters_keep_their_case() -> None:
    shown = client().get("/show?ScCid=first&sccid=second&UTM_SOURCE=snap&GCLID=g", headers=AD_CLICK).json()
    assert shown["click_ids"] == {"sccid": "first"}
    assert shown["last"]["params"] == {"sccid": "first"}  # only ScCid is caseless: GCLID is not Google's id


def test_the_snap_click_keeps_attributing_for_28_days() -> None:
    now = {"t": T0}
    site = visitor(now)
    site.get("/show?ScCid=snap-28", headers=AD_CLICK)
    now["t"] = T0 + timedelta(days=27, hours=23)
    assert site.get("/show").json()["click_ids"] == {"sccid": "snap-28"}
    now["t"] = T0 + timedelta(days=28, minutes=1)
    assert site.get("/show").json()["click_ids"] == {}


def test_an_openai_ad_click_keeps_its_reference_verbatim_for_30_days_as_a_paid_search_click() -> None:
    now = {"t": T0}
    site = visitor(now)
    encoded = OPPREF.replace("=", "%3D")
    shown = site.get(f"/show?oppref={encoded}", headers={**AD_CLICK, "referer": "https://chatgpt.com/"}).json()
    assert shown["click_ids"] == {"oppref": OPPREF}  # never re-encoded: OpenAI matches it byte for byte
    assert shown["channel"] == "paid_search"  # an ad, even though chatgpt.com referred it
    now["t"] = T0 + timedelta(days=29, hours=23)
    assert site.get("/show").json()["click_ids"] == {"oppref": OPPREF}
    now["t"] = T0 + timedelta(days=30, minutes=1)
    assert site.get("/show").json()["click_ids"] == {}


def test_the_oppref_window_is_configurable_like_every_click_id() -> None:
    now = {"t": T0}
    site = visitor(now, click_id_windows={"oppref": timedelta(days=7)})
    site.get(f"/show?oppref={OPPREF}", headers=AD_CLICK)
    now["t"] = T0 + timedelta(days=7, minutes=1)
    assert site.get("/show").json()["click_ids"] == {}


def test_a_plain_chatgpt_referral_stays_an_ai_assistant_visit() -> None:
    shown = client().get("/show", headers={**AD_CLICK, "referer": "https://chatgpt.com/c/abc"}).json()
    assert shown["click_ids"] == {}
    assert shown["channel"] == "ai_assistant"
    tagged = client().get("/show?utm_source=chatgpt.com", headers=AD_CLICK).json()
    assert tagged["channel"] == "ai_assistant"


def test_the_openai_pixel_cookies_are_browser_ids_and_the_click_and_cookie_are_told_apart() -> None:
    site = client()
    site.cookies.update({"__oppref": "gAAAAAcookie-reference==", "__obref": "ob.1761000000.5f1e2d3c", "other": "x"})
    shown = site.get(f"/show?oppref={OPPREF}", headers=AD_CLICK).json()
    assert shown["identifiers"] == {"oppref": "gAAAAAcookie-reference==", "obref": "ob.1761000000.5f1e2d3c"}
    assert shown["click_ids"] == {"oppref": OPPREF}

    plain = client()
    plain.cookies.update({"__oppref": "gAAAAAcookie-only=="})
    shown = plain.get("/show?utm_source=newsletter&utm_medium=email", headers=NAVIGATION).json()
    assert shown["identifiers"] == {"oppref": "gAAAAAcookie-only=="}
    assert shown["click_ids"] == {}


def test_a_crawler_following_the_ad_link_records_nothing() -> None:
    answer = client().get(f"/show?ScCid=bot&oppref={OPPREF}", headers={"user-agent": "curl/8.5.0"})
    assert answer.json()["click_ids"] == {}


# -- pages the server never sees: the snippet reports them ----------------------------------------------


def _tag_attributes() -> dict[str, str]:
    return dict(re.findall(r'([a-z-]+)="([^"]*)"', str(script_tag())))


def test_the_snippet_is_told_which_parameters_count_in_any_case() -> None:
    attributes = _tag_attributes()
    assert attributes["data-caseless"] == "sccid"
    assert "oppref" in attributes["data-params"].split(",")
    assert "data-caseless" not in str(script_tag(params=["utm_source", "gclid"]))


def test_a_scc_id_landing_reported_by_the_snippet_is_captured() -> None:
    site = client()
    report = {"url": "https://shop.example.com/cached?ScCid=snap-cached", "referrer": "https://www.snapchat.com/"}
    headers = {
        "user-agent": BROWSER_UA,
        "origin": "https://shop.example.com",
        "sec-fetch-site": "same-origin",
        "sec-fetch-mode": "cors",
        "sec-fetch-dest": "empty",
        "content-type": "text/plain;charset=UTF-8",
    }
    answer = site.post("/_attribution/collect", content=json.dumps(report).encode(), headers=headers).json()
    assert answer["recorded"] is True
    assert answer["attribution"]["sccid"] == "snap-cached"
    assert site.get("/show").json()["click_ids"] == {"sccid": "snap-cached"}
