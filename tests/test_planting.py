"""Only the visitor's own page navigations change the attribution: another page cannot plant a click id.

The attack: a product review (or a page on a sibling subdomain) embeds ``<img src="https://shop/?irclickid=X">``.
The visitor's browser fetches it with the visitor's cookies, and before the fix the middleware captured the
affiliate's click id from it, so the next checkout credited the affiliate. A browser says what each request is
(``Sec-Fetch-Mode`` / ``Sec-Fetch-Dest``); only a top-level navigation's query string is captured. A client that
sends no Sec-Fetch headers at all (older browsers) is still captured.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import BROWSER_UA, client, set_cookie_headers

PAID = "/?gclid=Cj0-visitor-own&utm_source=google&utm_medium=cpc"
PLANTED = "/?irclickid=ATTACKER-AFFILIATE&utm_source=affiliate&utm_medium=affiliate"
#: What Chrome sends for an <img> on a sibling subdomain's page pointing at the shop.
IMAGE = {
    "user-agent": BROWSER_UA,
    "sec-fetch-dest": "image",
    "sec-fetch-mode": "no-cors",
    "sec-fetch-site": "same-site",
    "accept": "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
}
TOP_LEVEL = {
    "user-agent": BROWSER_UA,
    "sec-fetch-dest": "document",
    "sec-fetch-mode": "navigate",
    "sec-fetch-site": "cross-site",
    "accept": "text/html,application/xhtml+xml",
}


@pytest.mark.parametrize(
    "headers",
    [
        IMAGE,
        {**IMAGE, "sec-fetch-dest": "script"},
        {**IMAGE, "sec-fetch-dest": "empty", "sec-fetch-mode": "cors"},  # fetch() from another page
        {**TOP_LEVEL, "sec-fetch-dest": "iframe"},  # a frame navigates, but it is not the visitor's page
        {**IMAGE, "sec-fetch-dest": ""},  # only the mode is sent: no-cors is no navigation either
    ],
    ids=["image", "script", "fetch", "iframe", "mode-only"],
)
def test_a_subresource_request_cannot_plant_a_click_id_over_the_visitors_own(headers: dict[str, str]) -> None:
    c = client()
    landing = c.get(PAID, headers=TOP_LEVEL)
    assert set_cookie_headers(landing)

    planted = c.get(PLANTED, headers=headers)
    assert set_cookie_headers(planted) == []  # nothing written: the cookie keeps the visitor's own landing

    seen = c.get("/show", headers=TOP_LEVEL).json()
    assert seen["click_ids"] == {"gclid": "Cj0-visitor-own"}
    assert seen["utm"]["utm_source"] == "google"
    assert seen["history"] == 1


def test_a_first_visit_through_an_image_records_nothing() -> None:
    c = client()
    response = c.get(PLANTED, headers=IMAGE)
    assert set_cookie_headers(response) == []
    assert c.get("/show", headers=TOP_LEVEL).json()["click_ids"] == {}


def test_the_same_link_followed_as_a_navigation_is_captured() -> None:
    c = client()
    response = c.get(PLANTED, headers=TOP_LEVEL)
    assert set_cookie_headers(response)
    assert c.get("/show", headers=TOP_LEVEL).json()["click_ids"] == {"irclickid": "ATTACKER-AFFILIATE"}


def test_a_client_that_sends_no_sec_fetch_headers_is_still_captured() -> None:
    # Older browsers (and a script with a browser's user agent) say nothing about the request: not refused.
    c = client()
    c.headers.clear()
    response = c.get(PAID, headers={"user-agent": BROWSER_UA})
    assert set_cookie_headers(response)
    assert c.get("/show", headers={"user-agent": BROWSER_UA}).json()["click_ids"] == {"gclid": "Cj0-visitor-own"}


def test_the_debug_header_says_why_a_subresource_was_not_captured() -> None:
    c = client(debug=True)
    response = c.get(PLANTED, headers=IMAGE)
    assert response.headers["attribution-debug"] == "skipped=not-a-page-load"


def test_the_snippets_report_still_records_a_cached_landing() -> None:
    # The snippet's POST is a same-origin cors fetch by design: the collect endpoint decides by its own rules.
    c = client()
    body = {"url": "https://shop.example.com/offer?gclid=Cj0-from-snippet", "referrer": ""}
    headers = {
        "user-agent": BROWSER_UA,
        "origin": "https://shop.example.com",
        "sec-fetch-site": "same-origin",
        "sec-fetch-mode": "cors",
        "sec-fetch-dest": "empty",
        "content-type": "text/plain;charset=UTF-8",
    }
    response = c.post("/_attribution/collect", content=json.dumps(body), headers=headers)
    assert response.status_code == 200
    assert response.json()["recorded"] is True
    assert c.get("/show", headers=TOP_LEVEL).json()["click_ids"] == {"gclid": "Cj0-from-snippet"}
