"""The demo shop in headless Chromium: landing links, checkout, the masked requests, the outbox, and the two
landings only the snippet sees (a cached page and an SPA navigation)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from examples.demo.config import CREDENTIALS, PLACEHOLDER_SECRETS
from tests.support.browser import LiveServer, Tab

pytestmark = pytest.mark.browser

COLLECT = "/_attribution/collect"


def is_collect(response: Any) -> bool:
    return bool(response.url.endswith(COLLECT))


def panel(tab: Tab, part: str) -> str:
    return (tab.page.text_content(f"#panel-{part}") or "").strip()


def test_a_landing_link_then_checkout_shows_every_vendor_with_its_masked_request(demo: LiveServer, tab: Tab) -> None:
    page = tab.page
    page.goto(demo.url() + "/")
    assert panel(tab, "empty").startswith("Nothing captured yet")
    page.click("#link-ctwa")
    page.wait_for_url("**/product/mug?*")
    assert panel(tab, "channel") == "paid_social"
    assert "ctwa_clidARAkdemo-ctwa" in panel(tab, "click-ids").replace("\n", "").replace(" ", "")
    assert "cnct_tracking_id" in panel(tab, "last")

    page.click("#buy")
    page.wait_for_url("**/checkout?product=mug")
    assert page.get_attribute("#checkout-form input[name=utm_source]", "value") == "whatsapp"
    page.click("#place-order")
    page.wait_for_selector("#order-id")

    statuses = {name: page.get_attribute(f"#vendor-{name}", "data-status") for name in CREDENTIALS}
    # A Click-to-WhatsApp landing carries no Google click id: Google Ads skips, every other vendor queues.
    queued = [name for name in CREDENTIALS if name != "google_ads"]
    assert statuses == {**dict.fromkeys(queued, "queued"), "google_ads": "skipped"}
    requests = page.locator("pre.request").all_text_contents()
    assert len(requests) == len(queued)
    assert all(text.startswith("POST https://") for text in requests)
    connectly = page.text_content("#vendor-connectly") or ""
    assert "x-api-key: ***" in connectly
    assert '"ctwa_clid": "ARAkdemo-ctwa"' in connectly
    html = page.content()
    assert [secret for secret in PLACEHOLDER_SECRETS if secret in html] == []

    page.click("#to-deliveries")
    page.wait_for_url("**/deliveries")
    deadline = time.monotonic() + 5
    while True:  # the in-app worker records the dry runs within a moment
        rows = page.eval_on_selector_all("tr.delivery", "rows => rows.map(r => [r.dataset.vendor, r.dataset.status])")
        if sum(status == "dry_run" for _, status in rows) >= len(queued) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
        page.reload()
    assert {vendor for vendor, status in rows if status == "dry_run"} >= set(queued)
    assert tab.errors == []


def test_a_google_ads_click_and_then_an_organic_referral_from_another_host(demo: LiveServer, tab: Tab) -> None:
    page = tab.page
    page.goto(demo.url() + "/")
    page.click("#link-google")
    page.wait_for_url("**/product/mug?*")
    assert panel(tab, "channel") == "paid_search"
    assert "Cj0KCQiA-demo-gclid" in panel(tab, "click-ids")

    page.goto(demo.url() + "/")
    page.click("#link-referral")  # a page on http://localhost:<port>, linking back to 127.0.0.1
    page.wait_for_url(f"http://localhost:{demo.port}/_demo/referrer")
    page.click("#referral-link")
    page.wait_for_url(f"{demo.url()}/product/mug")
    assert panel(tab, "channel") == "referral"
    assert "localhost" in panel(tab, "last")
    assert panel(tab, "first-channel") == "paid_search"  # the first touch stays


def test_the_cached_page_and_the_spa_navigation_are_captured_by_the_snippet(demo: LiveServer, tab: Tab) -> None:
    page = tab.page
    with page.expect_response(is_collect) as report:
        response = page.goto(demo.url() + "/cached/offer?utm_source=partner&utm_medium=affiliate&utm_campaign=edge")
    assert response is not None
    assert response.headers["x-cache"] == "HIT"
    assert report.value.json()["recorded"] is True
    page.click("#back-home")
    page.wait_for_url(demo.url() + "/")
    assert panel(tab, "channel") == "affiliate"
    last = panel(tab, "last")
    assert "/cached/offer" in last
    assert "browser" in last

    page.goto(demo.url() + "/app")
    with page.expect_response(is_collect) as report:
        page.click("#spa-offer")
    assert report.value.json()["recorded"] is True
    assert page.url.endswith("/app/offer?utm_source=instagram&utm_medium=social&utm_campaign=spa_launch")
    page.goto(demo.url() + "/deliveries")
    assert panel(tab, "channel") == "organic_social"
    last = panel(tab, "last")
    assert "/app/offer" in last
    assert "spa_launch" in last
    assert tab.errors == []


def test_the_panel_follows_an_spa_navigation_and_start_over_empties_it(demo: LiveServer, tab: Tab) -> None:
    page = tab.page
    page.goto(demo.url() + "/app")
    assert panel(tab, "empty").startswith("Nothing captured yet")
    page.evaluate("window.__samePage = true")  # gone if anything below reloads the page
    with page.expect_response(lambda r: r.url.endswith("/_demo/panel")):
        page.click("#spa-offer")
    page.wait_for_selector("#panel-channel")
    assert page.evaluate("window.__samePage") is True
    assert panel(tab, "channel") == "organic_social"
    assert "spa_launch" in panel(tab, "last")
    assert tab.cookie(demo.url()) is not None

    page.click("#start-over")
    page.wait_for_url(demo.url() + "/")
    assert panel(tab, "empty").startswith("Nothing captured yet")
    assert tab.cookie(demo.url()) is None

    # a new visitor again: the same SPA link is a landing once more, and the panel shows it
    page.goto(demo.url() + "/app")
    with page.expect_response(lambda r: r.url.endswith("/_demo/panel")):
        page.click("#spa-offer")
    page.wait_for_selector("#panel-channel")
    assert panel(tab, "channel") == "organic_social"
    assert tab.errors == []


# Each text node's line boxes per word: a word (a vendor's name, a status, a header) drawn on two lines was
# cut in the middle, as `overflow-wrap: anywhere` does to a table squeezed by its longest URL. A line may
# still end after a hyphen (demo-|a1641460), as typography allows, so words are counted between hyphens.
SPLIT_WORDS = """selector => [...document.querySelectorAll(selector)].flatMap(cell => {
  const split = [];
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const match of node.data.matchAll(/[^\\s-]+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
      if (tops.size > 1) split.push(match[0]);
    }
  }
  return split;
})"""


def test_the_result_and_deliveries_tables_never_cut_a_word_in_two(demo: LiveServer, tab: Tab) -> None:
    page = tab.page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(demo.url() + "/product/mug?gclid=Cj0KCQiA-demo-gclid&utm_source=google&utm_medium=cpc")
    page.click("#buy")
    page.click("#place-order")
    page.wait_for_selector("#order-id")
    cells = "#summary th, #summary td:not(.url)"
    assert page.locator("#summary td").count() > 0
    assert page.evaluate(SPLIT_WORDS, cells) == []
    page.goto(demo.url() + "/deliveries")
    assert page.locator("tr.delivery").count() > 0
    assert page.evaluate(SPLIT_WORDS, "main th, main td:not(.url)") == []
    assert tab.errors == []
