"""The demo's Report page in headless Chromium: refused without the staff sign-in, then, after three visitors
bought through three ads, revenue by channel under last and first touch, the charts and the delivery table.
Screenshots of both are saved under pytest's temporary folder and their paths printed, for a reviewer to look
at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.demo.app import create_app
from examples.demo.config import load_config
from tests.browser.conftest import CHROME_UA, LiveServer, Tab

pytestmark = pytest.mark.browser

#: What Chromium's console says of a page answered 401, the refusal itself: the only error either page may show.
REFUSED = ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    outbox = tmp_path_factory.mktemp("report-demo") / "outbox.sqlite3"
    with LiveServer(create_app(load_config({"DEMO_OUTBOX": str(outbox)})), lifespan="on") as server:
        yield server


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def buy(browser: Any, demo: LiveServer, *links: str) -> None:
    """A new visitor follows the home page's ad links one after the other and buys what the last lands on."""
    context = browser.new_context(user_agent=CHROME_UA)
    try:
        page = context.new_page()
        for link in links:
            page.goto(demo.url() + "/")
            page.click(f"#link-{link}")
            page.wait_for_url("**/product/**")
        page.click("#buy")
        page.click("#place-order")
        page.wait_for_selector("#order-id")
    finally:
        context.close()


def test_the_report_is_refused_until_staff_signs_in(demo: LiveServer, tab: Tab, shots: Path) -> None:
    page = tab.page
    response = page.goto(demo.url() + "/report/")
    assert response is not None
    assert response.status == 401
    assert page.text_content("#refused") == "Staff only"
    assert page.locator("#revenue").count() == 0
    path = shots / "report-refused.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot of the refused report page: {path}")
    assert tab.errors == REFUSED


def test_after_three_orders_the_report_shows_revenue_by_channel_under_two_models(
    demo: LiveServer, browser: Any, tab: Tab, shots: Path
) -> None:
    buy(browser, demo, "google")  # a mug, 24.90, paid search
    buy(browser, demo, "google", "email")  # a T-shirt, 39.00: paid search first, the newsletter last
    buy(browser, demo, "meta")  # a mug, 24.90, paid social
    page = tab.page
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(demo.url() + "/")
    page.click("#nav-report")
    page.click("#staff-sign-in")
    page.wait_for_url(demo.url() + "/report/")
    rows = page.eval_on_selector_all("#revenue tr.row", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    # channel, currency, then orders, revenue and share under last touch, and the same under first touch
    assert rows == [
        ["email", "USD", "1.00", "39.00", "43.9%", "0.00", "0.00", "0.0%"],
        ["paid_search", "USD", "1.00", "24.90", "28.0%", "2.00", "63.90", "72.0%"],
        ["paid_social", "USD", "1.00", "24.90", "28.0%", "1.00", "24.90", "28.0%"],
    ]
    assert page.locator("#chart-USD svg").count() == 1
    assert "last touch" in (page.text_content("#chart-USD") or "")
    assert "first touch" in (page.text_content("#chart-USD") or "")
    vendors = page.eval_on_selector_all("#deliveries tr.vendor", "rows => rows.map(r => r.dataset.vendor)")
    assert "google_ads" in vendors
    assert "meta" in vendors
    google = page.text_content("#deliveries tr[data-vendor=google_ads]") or ""
    assert "1: the visitor did not come from a Google ad" in google  # the Meta visitor came without a gclid
    path = shots / "report-page.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot of the report page: {path}")
    page.select_option("select[name=by]", "source_medium")
    page.select_option("select[name=model]", "linear")
    page.click("button[type=submit]")
    page.wait_for_url("**/report/?*by=source_medium*")
    keys = page.eval_on_selector_all("#revenue tr.row", "rows => rows.map(r => r.dataset.key)")
    assert "google / cpc" in keys
    assert "newsletter / email" in keys
    assert tab.errors == REFUSED  # the report page itself, with no script or outside request, logs nothing
