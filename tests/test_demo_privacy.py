"""The demo's delivery pages, which anyone can open at sequential ids, show no customer's personal data."""

from __future__ import annotations

import html
from pathlib import Path

from starlette.testclient import TestClient

from attribution.delivery.outbox.base import Status
from examples.demo.app import create_app as create_demo
from examples.demo.config import load_config
from tests.helpers import NAVIGATION
from tests.test_examples import wait_for_rows

EMAIL, PHONE, NAME = "ana.souza@example.com", "+5511999998888", "Ana Souza"


def test_a_delivery_page_masks_the_email_phone_and_name_of_the_order(tmp_path: Path) -> None:
    app = create_demo(load_config({"DEMO_OUTBOX": str(tmp_path / "demo.sqlite3")}))
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        client.get("/product/mug?gclid=Cj0-privacy&utm_source=google&utm_medium=cpc")
        form = {"product": "mug", "order_id": "priv-1", "email": EMAIL, "phone": PHONE, "name": NAME}
        assert client.post("/checkout", data=form).status_code == 200
        rows = wait_for_rows(client, app.app, 3, status=Status.DRY_RUN)
        pages = {r.vendor: client.get(f"/deliveries/{r.id}") for r in rows}
        listing = client.get("/deliveries")
    assert {"whop", "rdstation", "xads"} <= set(pages)
    leaks = {
        vendor: [v for v in (EMAIL, PHONE, PHONE.lstrip("+"), "Souza") if v in html.unescape(page.text)]
        for vendor, page in pages.items()
    }
    assert leaks == {vendor: [] for vendor in pages}
    assert all("Personal data is masked here" in page.text for page in pages.values())
    whop = html.unescape(pages["whop"].text)
    assert '"email": "***"' in whop  # the field is there, its value masked
    assert "POST https://api.whop.com/api/v1/conversions" in whop
    assert EMAIL not in html.unescape(listing.text)
