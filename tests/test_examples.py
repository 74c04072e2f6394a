"""Every example runs: real HTTP requests through each ASGI app, a tmp_path outbox, dry run only."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from attribution.delivery.outbox.base import Delivery, Status
from examples import fastapi_app, starlette_app, webhook_app
from examples.demo.app import create_app as create_demo
from examples.demo.config import CREDENTIALS, PLACEHOLDER_SECRETS, load_config
from tests.delivery_fakes import dry_run_body
from tests.helpers import NAVIGATION

ROOT = Path(__file__).resolve().parent.parent


def wait_for_rows(client: TestClient, app: Any, count: int, *, status: Status, timeout: float = 5.0) -> list[Delivery]:
    """The outbox rows once ``count`` of them have reached ``status`` (the in-app worker runs meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        rows: list[Delivery] = client.portal.call(app.tracker.outbox.list)  # type: ignore[union-attr]
        if sum(r.status == status for r in rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


# -- starlette_app ----------------------------------------------------------------------------------------


def test_starlette_example_shows_the_captured_landing_on_later_requests() -> None:
    with TestClient(starlette_app.create_app(), base_url="http://127.0.0.1", headers=NAVIGATION) as client:
        first = client.get("/?utm_source=google&utm_medium=cpc&utm_campaign=nov&gclid=G-1")
        assert first.json()["utm"] == {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "nov"}
        assert "attribution" in client.cookies
        later = client.get("/").json()
    assert later["channel"] == "paid_search"
    assert later["click_ids"] == {"gclid": "G-1"}
    assert later["landing"] == "/"


def test_starlette_example_without_a_landing_is_direct() -> None:
    with TestClient(starlette_app.create_app(), base_url="http://127.0.0.1", headers=NAVIGATION) as client:
        body = client.get("/").json()
    assert body == {"channel": "direct", "first_channel": None, "utm": {}, "click_ids": {}, "landing": None}


# -- fastapi_app ------------------------------------------------------------------------------------------


def test_fastapi_example_checkout_queues_the_applicable_vendors_and_the_worker_dry_runs_them(tmp_path: Path) -> None:
    app = fastapi_app.create_app(outbox=tmp_path / "outbox.sqlite3")
    with TestClient(app, base_url="http://127.0.0.1", headers=NAVIGATION) as client:
        landed = client.get("/?utm_source=google&utm_medium=cpc&gclid=Cj0-fastapi").json()
        assert landed["channel"] == "paid_search"
        order = {"order_id": "fa-1", "sku": "mug", "price": "12.50", "quantity": 2, "email": "ana@example.com"}
        answer = client.post("/checkout", json=order)
        assert answer.status_code == 200
        assert answer.json()["vendors"] == {
            "whop": {"status": "queued", "reason": None},
            "rdstation": {"status": "queued", "reason": None},
        }
        rows = wait_for_rows(client, app, 2, status=Status.DRY_RUN)
        # The same order again: nothing new is queued.
        again = client.post("/checkout", json=order).json()["vendors"]
        assert {v["status"] for v in again.values()} == {"duplicate"}
    assert sorted((r.vendor, r.status) for r in rows) == [("rdstation", Status.DRY_RUN), ("whop", Status.DRY_RUN)]
    assert {r.order_id for r in rows} == {"fa-1"}
    whop = dry_run_body(next(r for r in rows if r.vendor == "whop"))
    assert whop["value"] == 25.0
    assert whop["context"]["utm_source"] == "google"
    assert (tmp_path / "outbox.sqlite3").exists()


def test_fastapi_example_without_an_email_skips_rd_station_and_says_why(tmp_path: Path) -> None:
    with TestClient(fastapi_app.create_app(outbox=tmp_path / "o.sqlite3"), headers=NAVIGATION) as client:
        body = client.post("/checkout", json={"order_id": "fa-2", "sku": "mug", "price": "5"}).json()
    assert body["vendors"]["rdstation"] == {
        "status": "skipped",
        "reason": "RD Station needs the customer's email (in clear text)",
    }


# -- django_app -------------------------------------------------------------------------------------------


async def test_django_example_template_reads_the_attribution_escaped() -> None:
    from examples.django_app.asgi import create_application

    transport = httpx2.ASGITransport(app=create_application())
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=NAVIGATION) as client:
        landing = await client.get(
            "/landing/",
            params={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "<b>x</b>", "gclid": "Dj-1"},
        )
        assert landing.status_code == 200
        page = (await client.get("/")).text
    assert '<strong id="channel">paid_search</strong>' in page
    assert "<th>gclid</th><td>Dj-1</td>" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<b>x</b>" not in page
    assert '<span id="first-path">/landing/</span>' in page


# -- webhook_app ------------------------------------------------------------------------------------------


def webhook(provider: webhook_app.FakeProvider, payment_id: str, email: str) -> tuple[bytes, dict[str, str]]:
    raw, signature = provider.succeeded(payment_id, email)
    return raw, {"x-signature": signature, "content-type": "application/json"}


def test_webhook_example_fires_conversions_from_a_cookieless_webhook_with_the_exported_attribution(
    tmp_path: Path,
) -> None:
    provider = webhook_app.FakeProvider()
    app = webhook_app.create_app(outbox=tmp_path / "outbox.sqlite3", provider=provider)
    with TestClient(app, base_url="http://127.0.0.1", headers=NAVIGATION) as browser:
        browser.get("/?utm_source=facebook&utm_medium=paid_social&fbclid=IwAR-hook")
        payment_id = browser.post("/checkout", json={"order_id": "wh-1", "amount": "49.90", "currency": "BRL"}).json()[
            "payment_id"
        ]
        token = provider.payments[payment_id]["metadata"]["attribution"]
        assert isinstance(token, str)
        assert len(token) > 20

        # The provider's server calls without the visitor's cookie.
        browser.cookies.clear()
        raw, headers = webhook(provider, payment_id, "buyer@example.com")
        assert "cookie" not in browser.build_request("POST", "/webhooks/payment").headers
        forged = browser.post("/webhooks/payment", content=raw, headers={**headers, "x-signature": "0" * 64})
        assert forged.status_code == 400
        fired = browser.post("/webhooks/payment", content=raw, headers=headers)
        assert fired.status_code == 200
        assert fired.json() == {"whop": "queued", "rdstation": "queued"}
        assert browser.post("/webhooks/payment", content=raw, headers=headers).json() == {
            "whop": "duplicate",
            "rdstation": "duplicate",
        }
        rows = wait_for_rows(browser, app, 2, status=Status.DRY_RUN)
    assert sorted((r.vendor, r.status) for r in rows) == [("rdstation", Status.DRY_RUN), ("whop", Status.DRY_RUN)]
    whop = dry_run_body(next(r for r in rows if r.vendor == "whop"))
    # The attribution and the context came from the browser's checkout, not from the webhook request.
    assert whop["context"]["utm_source"] == "facebook"
    assert "IwAR-hook" in json.dumps(whop)
    assert whop["url"] == "http://127.0.0.1/checkout"
    assert whop["user"]["email"] == "buyer@example.com"


def test_webhook_example_happy_path_as_the_docs_run_it_over_http(tmp_path: Path) -> None:
    """The curl session of docs/examples.md: land, check out, fetch the webhook the stand-in provider would send
    (the token inside), post it with its signature."""
    app = webhook_app.create_app(outbox=tmp_path / "outbox.sqlite3")
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        client.get("/?utm_source=facebook&utm_medium=paid_social&fbclid=IwAR-readme")
        payment_id = client.post("/checkout", json={"order_id": "wh-9", "amount": "49.90", "currency": "BRL"}).json()[
            "payment_id"
        ]
        client.cookies.clear()
        sent = client.get(f"/_provider/payments/{payment_id}/webhook", params={"email": "buyer@example.com"})
        event = json.loads(sent.content)
        fired = client.post(
            "/webhooks/payment",
            content=sent.content,
            headers={"x-signature": sent.headers["x-signature"], "content-type": "application/json"},
        )
        missing = client.get("/_provider/payments/pay_nope/webhook")
    assert event["type"] == "payment.succeeded"
    assert event["data"]["metadata"]["order_id"] == "wh-9"
    assert len(event["data"]["metadata"]["attribution"]) > 20
    assert fired.status_code == 200
    assert fired.json() == {"whop": "queued", "rdstation": "queued"}
    assert missing.status_code == 404


def test_webhook_example_refuses_a_tampered_token(tmp_path: Path) -> None:
    provider = webhook_app.FakeProvider()
    app = webhook_app.create_app(outbox=tmp_path / "outbox.sqlite3", provider=provider)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        payment_id = client.post("/checkout", json={"order_id": "wh-2", "amount": "10", "currency": "USD"}).json()[
            "payment_id"
        ]
        provider.payments[payment_id]["metadata"]["attribution"] += "x"
        raw, headers = webhook(provider, payment_id, "buyer@example.com")
        answer = client.post("/webhooks/payment", content=raw, headers=headers)
        rows = client.portal.call(app.tracker.outbox.list)
    assert answer.status_code == 422
    assert answer.json()["error"] == "TokenError"
    assert rows == []


# -- the demo ---------------------------------------------------------------------------------------------


def test_demo_config_dry_runs_every_vendor_without_credentials_and_sends_only_configured_ones_with_them() -> None:
    none = load_config({})
    assert none.dry_run is True
    assert [v.name for v in none.vendors] == list(CREDENTIALS)
    some = load_config({"RDSTATION_API_KEY": "rd-real", "WHOP_API_KEY": "whop-real"})  # Whop lacks its company id
    assert some.dry_run is False
    assert [v.name for v in some.vendors] == ["rdstation"]
    assert some.left_out == [
        "whop",
        "connectly",
        "convertloop",
        "xads",
        "meta",
        "google_ads",
        "tiktok",
        "linkedin",
        "reddit",
        "microsoft_ads",
        "pinterest",
        "snapchat",
        "openai_ads",
    ]
    forced = load_config({"RDSTATION_API_KEY": "rd-real", "DEMO_DRY_RUN": "1"})
    assert forced.dry_run is True
    assert [v.name for v in forced.vendors] == list(CREDENTIALS)


def page_text(response: Any) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text))


def test_demo_checkout_shows_each_vendor_and_its_masked_request(tmp_path: Path) -> None:
    app = create_demo(load_config({"DEMO_OUTBOX": str(tmp_path / "demo.sqlite3")}))
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        home = client.get("/")
        href = html.unescape(re.search(r'id="link-ctwa" href="([^"]+)"', home.text).group(1))  # type: ignore[union-attr]
        product = client.get(href)
        assert '<strong id="panel-channel">paid_social</strong>' in product.text
        assert "<th>ctwa_clid</th><td>ARAkdemo-ctwa</td>" in product.text
        form = client.get("/checkout?product=mug")
        order_id = re.search(r'name="order_id" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        assert '<input type="hidden" name="utm_source" value="whatsapp">' in form.text
        fields = {"product": "mug", "order_id": order_id, "email": "ana@example.com", "phone": "+5511912345678"}
        result = client.post("/checkout", data={**fields, "name": "Ana", "utm_source": "whatsapp"})
        assert result.status_code == 200
        statuses = dict(re.findall(r'id="vendor-(\w+)" data-status="(\w+)"', result.text))
        # A Click-to-WhatsApp landing carries no Google click id: Google Ads says so and skips.
        assert statuses == {**dict.fromkeys(CREDENTIALS, "queued"), "google_ads": "skipped"}
        text = page_text(result)
        # RD's key travels in the query string: masked there
        assert re.search(r"POST https://api\.rd\.services/platform/conversions\?api_key=\*\*\*\s", text)
        assert "x-api-key: ***" in text
        assert '"ctwa_clid": "ARAkdemo-ctwa"' in text
        assert not [secret for secret in PLACEHOLDER_SECRETS if secret in result.text]
        sent = [name for name in CREDENTIALS if name != "google_ads"]
        rows = wait_for_rows(client, app.app, len(sent), status=Status.DRY_RUN)
        deliveries = client.get("/deliveries")
        # An X visitor, then the same order again: X is skipped (no twclid), the rest are duplicates.
        again = client.post("/checkout", data={**fields, "name": "Ana"})
    assert sorted(r.vendor for r in rows) == sorted(sent)
    assert all(r.status == Status.DRY_RUN and r.answer and r.answer.startswith("POST https://") for r in rows)
    listed = re.findall(r'data-vendor="(\w+)" data-status="(\w+)"', deliveries.text)
    assert sorted(listed) == sorted((name, "dry_run") for name in sent)
    assert 'id="duplicate"' in again.text


def test_demo_skips_vendors_that_do_not_apply_and_says_why(tmp_path: Path) -> None:
    app = create_demo(load_config({"DEMO_OUTBOX": str(tmp_path / "demo.sqlite3")}))
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        client.get("/product/tshirt?utm_source=newsletter&utm_medium=email&utm_campaign=<i>nov</i>")
        result = client.post("/checkout", data={"product": "tshirt", "order_id": "demo-skip", "email": "a@b.co"})
        bad = client.post("/checkout", data={"product": "tshirt", "order_id": "demo-bad", "phone": "12"})
    statuses = dict(re.findall(r'id="vendor-(\w+)" data-status="(\w+)"', result.text))
    assert statuses == {
        "whop": "queued",
        "rdstation": "queued",
        "connectly": "skipped",
        "convertloop": "queued",
        "xads": "queued",  # X matches on the email too
        "meta": "queued",  # Meta matches on the email too
        "google_ads": "skipped",  # no Google click id
        "tiktok": "queued",  # TikTok matches on the email too
        "linkedin": "queued",  # LinkedIn, Reddit and Microsoft too
        "reddit": "queued",
        "microsoft_ads": "queued",
        "pinterest": "queued",  # Pinterest on the email (and IP + user agent)
        "snapchat": "queued",  # Snap on the email (and IP + user agent)
        "openai_ads": "queued",  # OpenAI takes any web purchase within 7 days
    }
    assert "Why: the visitor did not come from a Click-to-WhatsApp ad" in page_text(result)
    assert "&lt;i&gt;nov&lt;/i&gt;" in result.text
    assert "<i>nov</i>" not in result.text
    assert bad.status_code == 400
    assert 'class="error"' in bad.text


@pytest.mark.parametrize(
    ("link", "vendor", "sent"),
    [
        ("pinterest", "pinterest", '"click_id": "dj0yJnU9demo-epik"'),
        ("snapchat", "snapchat", '"sc_click_id": "4f6d1e2a-demo-sccid"'),
        ("chatgpt", "openai_ads", '"oppref": "gAAAAABdemo-oppref-reference=="'),
    ],
)
def test_demo_ad_links_of_the_shopping_platforms_reach_their_dry_run_requests(
    tmp_path: Path, link: str, vendor: str, sent: str
) -> None:
    app = create_demo(load_config({"DEMO_OUTBOX": str(tmp_path / "demo.sqlite3")}))
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        home = client.get("/")
        href = html.unescape(re.search(rf'id="link-{link}" href="([^"]+)"', home.text).group(1))  # type: ignore[union-attr]
        product = client.get(href)
        assert '<strong id="panel-channel">paid_' in product.text  # paid_social, or paid_search for ChatGPT
        result = client.post("/checkout", data={"product": "mug", "order_id": f"demo-{link}", "email": "a@b.co"})
        statuses = dict(re.findall(r'id="vendor-(\w+)" data-status="(\w+)"', result.text))
        assert statuses[vendor] == "queued"
        text = page_text(result)
        assert sent in text
        assert not [secret for secret in PLACEHOLDER_SECRETS if secret in result.text]
    if link == "snapchat":
        assert "v3/7b4f6d1e-9a2c-4c1b-8f3e-5d6a7b8c9d0e/events?access_token=***" in text  # the token in the URL


def test_demo_cached_page_is_served_in_front_of_the_app_with_the_snippet(tmp_path: Path) -> None:
    app = create_demo(load_config({"DEMO_OUTBOX": str(tmp_path / "demo.sqlite3")}))
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        cached = client.get("/cached/offer?utm_source=partner&utm_medium=affiliate")
    assert cached.headers["x-cache"] == "HIT"
    assert "set-cookie" not in cached.headers  # the middleware never saw it: only the snippet can record it
    assert 'src="/_attribution/attribution.js' in cached.text


def test_demo_result_opens_with_a_per_vendor_summary_of_fields_fed_and_skips(tmp_path: Path) -> None:
    app = create_demo(load_config({"DEMO_OUTBOX": str(tmp_path / "demo.sqlite3")}))
    ctwa = (
        "/product/mug?cnct_tracking_id=cnct-trk-9&sendout_id=sendout-9&ctwa_clid=ARAk-summary&ad_id=1202"
        "&attribution_source=meta_ctwa&utm_source=whatsapp&utm_medium=paid_social"
    )
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        client.get(ctwa)
        result = client.post("/checkout", data={"product": "mug", "order_id": "sum-1", "email": "a@b.co"})
        client.cookies.clear()
        client.get("/product/mug?gclid=Cj0-summary-gclid&utm_source=google&utm_medium=cpc")
        skipped = client.post("/checkout", data={"product": "mug", "order_id": "sum-2", "email": "a@b.co"})
    page = result.text
    assert page.index('id="summary"') < page.index('class="request"')  # the summary comes first
    rows = dict(re.findall(r'<tr class="summary" id="summary-(\w+)" data-status="(\w+)">', page))
    assert rows == {**dict.fromkeys(CREDENTIALS, "queued"), "google_ads": "skipped"}
    connectly = page_text_of(page, "summary-connectly")
    assert "ctwa_clid → ctwa_clid" not in connectly  # the body nests it: the path says where
    assert "ctwa_clid → attribution.meta_ctwa.ctwa_clid" in connectly
    assert "cnct_tracking_id → cnct_tracking_id" in connectly
    assert "POST https://api.connectly.ai/" in connectly
    assert "utm_source → payload.traffic_source" in page_text_of(page, "summary-rdstation")
    assert "queued (dry run)" in connectly
    other = page_text_of(skipped.text, "summary-connectly")
    assert "skipped" in other
    assert "did not come from a Click-to-WhatsApp ad" in other
    assert "gclid → context.gclid" in page_text_of(skipped.text, "summary-whop")
    assert "gclid → events[0].adIdentifiers.gclid" in page_text_of(skipped.text, "summary-google_ads")


@pytest.mark.parametrize(
    ("link", "vendor", "fed"),
    [
        ("linkedin", "linkedin", "li_fat_id → user.userIds[1].idValue"),
        ("reddit", "reddit", "rdt_cid → data.events[0].click_id"),
        ("microsoft", "microsoft_ads", "msclkid → data[0].userData.msclkid"),
    ],
)
def test_demo_links_for_linkedin_reddit_and_microsoft_feed_their_click_ids(
    tmp_path: Path, link: str, vendor: str, fed: str
) -> None:
    app = create_demo(load_config({"DEMO_OUTBOX": str(tmp_path / "demo.sqlite3")}))
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        home = client.get("/")
        href = html.unescape(re.search(rf'id="link-{link}" href="([^"]+)"', home.text).group(1))  # type: ignore[union-attr]
        client.get(href)
        result = client.post("/checkout", data={"product": "mug", "order_id": f"{link}-1", "email": "a@b.co"})
    row = page_text_of(result.text, f"summary-{vendor}")
    assert "queued (dry run)" in row
    assert fed in row
    assert not [secret for secret in PLACEHOLDER_SECRETS if secret in result.text]


def page_text_of(page: str, element_id: str) -> str:
    """The text of the table row with this id."""
    start = page.index(f'id="{element_id}"')
    row = page[start : page.index("</tr>", start)]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)))


def test_demo_deliveries_show_time_vendor_status_channel_attempts_and_link_each_row(tmp_path: Path) -> None:
    app = create_demo(load_config({"DEMO_OUTBOX": str(tmp_path / "demo.sqlite3")}))
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        client.get("/product/mug?gclid=Cj0-deliveries&utm_source=google&utm_medium=cpc")
        client.post("/checkout", data={"product": "mug", "order_id": "dl-1", "email": "a@b.co"})
        rows = wait_for_rows(client, app.app, len(CREDENTIALS) - 1, status=Status.DRY_RUN)
        listing = client.get("/deliveries")
        whop = next(r for r in rows if r.vendor == "whop")
        detail = client.get(f"/deliveries/{whop.id}")
        missing = client.get("/deliveries/999999")
    assert len(rows) == len(CREDENTIALS) - 1  # connectly is skipped: no Click-to-WhatsApp ids
    links = re.findall(r'<a class="delivery-link" href="/deliveries/(\d+)">', listing.text)
    assert sorted(int(i) for i in links) == sorted(r.id for r in rows)
    text = page_text(listing)
    assert "sending" not in text
    assert re.findall(r'<td class="status">([^<]+)</td>', listing.text) == ["dry run: built, not sent"] * len(rows)
    assert re.findall(r'<td class="channel">(\w+)</td>', listing.text) == ["paid_search"] * len(rows)
    # the totals: one line per vendor, its count before the status it counts
    counts = re.findall(r'<li class="count"><strong>(\w+)</strong>: (\d+) ([^<]+)</li>', listing.text)
    assert counts == sorted((r.vendor, "1", "dry run: built, not sent") for r in rows)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)
    assert detail.status_code == 200
    assert 'data-status="dry_run">dry run: built, not sent<' in detail.text
    assert "POST https://api.whop.com/api/v1/conversions" in page_text(detail)
    assert "authorization: ***" in page_text(detail)
    assert not [secret for secret in PLACEHOLDER_SECRETS if secret in detail.text]
    assert missing.status_code == 404


def test_demo_dry_run_labels_never_say_sending() -> None:
    from examples.demo.summary import status_label

    assert status_label(Status.SENDING, dry_run=True) == "dry run in progress"
    assert status_label(Status.PENDING, dry_run=True) == "queued for a dry run"
    assert status_label(Status.SENDING, dry_run=False) == "sending"
    assert status_label(Status.DELIVERED, dry_run=False) == "delivered"


def test_demo_start_over_clears_the_cookie_and_the_panel_and_pages_fit_a_phone(tmp_path: Path) -> None:
    app = create_demo(load_config({"DEMO_OUTBOX": str(tmp_path / "demo.sqlite3")}))
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        landed = client.get("/product/mug?utm_source=newsletter&utm_medium=email")
        assert "attribution" in client.cookies
        assert 'id="panel-channel">email<' in client.get("/_demo/panel").text
        cleared = client.post("/_demo/start-over", follow_redirects=False)
        panel = client.get("/_demo/panel").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in landed.text
    assert 'id="start-over"' in landed.text
    assert cleared.status_code == 303
    assert cleared.headers["location"] == "/"
    assert re.match(r'attribution=""; .*Max-Age=0', cleared.headers["set-cookie"])
    assert "attribution" not in client.cookies
    assert 'id="panel-empty"' in panel
    assert "<html" not in panel  # the panel alone, for the page to swap in


def test_demo_prints_the_port_it_listens_on(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.demo", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "DEMO_OUTBOX": str(tmp_path / "demo.sqlite3"), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("asgi-attribution demo: outbox ")
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", proc.stdout.readline())
        assert found
        port = int(found.group(1))
        assert port != 0
        deadline = time.monotonic() + 10
        while True:
            try:
                home = httpx2.get(f"http://127.0.0.1:{port}/", headers=NAVIGATION)
                break
            except httpx2.ConnectError:
                assert time.monotonic() < deadline, "the demo did not answer"
                time.sleep(0.1)
        assert home.status_code == 200
        assert "Demo shop" in home.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
