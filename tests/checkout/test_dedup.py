"""One dedup id for pixel and server: the id a thank-you page renders for the Meta, TikTok, X and Google
pixels is the one queued for Meta's ``event_id``, TikTok's ``event_id``, X's ``conversion_id`` and Google's
``orderId`` for the same order."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import httpx2
import pytest
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

import attribution
from attribution import AttributionMiddleware, Conversion, Customer, InvalidConversionError, Order, Tracker
from attribution.templating import install_jinja2
from attribution.vendors import GoogleAds, MetaConversions, TikTok, XAds
from tests.support.delivery_fakes import event_for
from tests.support.helpers import NAVIGATION, SECRET

#: The documented snippets of docs/vendors.md, as a site's thank-you page uses them.
THANKS = """\
<script>
fbq('track', 'Purchase', {value: {{ order.value|float }}, currency: {{ order.currency|tojson }}},
    {eventID: {{ attribution_event_id(order)|tojson }}});
ttq.track('CompletePayment', {value: {{ order.value|float }}, currency: {{ order.currency|tojson }}},
    {event_id: {{ attribution_event_id(order)|tojson }}});
twq('event', 'tw-oka17-ol288', {value: {{ order.value|float }}, currency: {{ order.currency|tojson }},
    conversion_id: {{ attribution_event_id(order)|tojson }}});
gtag('event', 'conversion', {send_to: 'AW-123456789/AbC-D_efG', value: {{ order.value|float }},
    currency: {{ order.currency|tojson }}, transaction_id: {{ attribution_event_id(order)|tojson }}});
</script>
"""
#: An order id with characters that must survive HTML and JavaScript unharmed.
ORDER_ID = "ORD-7821 <\"B\">&'x'"
_JS_STRING = r'"(?:[^"\\]|\\.)*"'


def rendered_ids(html: str) -> dict[str, str]:
    found = {
        key: json.loads(value)
        for key, value in re.findall(rf"(eventID|event_id|conversion_id|transaction_id): ({_JS_STRING})", html)
    }
    assert len(found) == 4, html
    return found


def shop(tracker: Tracker) -> Starlette:
    templates = Jinja2Templates(env=Environment(loader=DictLoader({"thanks.html": THANKS}), autoescape=True))
    install_jinja2(templates)

    async def thanks(request: Request) -> Response:
        order = Order(id=ORDER_ID, value=Decimal("99.97"), currency="USD")
        result = await tracker.checkout(request, order, customer=Customer(email="buyer@example.com"))
        response = templates.TemplateResponse(request, "thanks.html", {"order": order})
        response.headers["x-deliveries"] = json.dumps([i for r in result for i in r.delivery_ids])
        return response

    app = Starlette(routes=[Route("/thanks", thanks, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET)
    return app


async def test_the_page_renders_the_id_the_server_queues_for_every_pixel_vendor(tmp_path: Path) -> None:
    meta = MetaConversions(access_token="EAAB-token", pixel_id="1234567890")
    x = XAds(
        consumer_key="ck", consumer_secret="cs", access_token="at", access_token_secret="as",
        pixel_id="oka17", events={"purchase": "ol288"},
    )  # fmt: skip
    tiktok = TikTok(access_token="tt-token", pixel_code="C4PIXEL0001")
    google = GoogleAds(
        customer_id="123-456-7890", client_id="cid", client_secret="cs",
        refresh_token="rt", conversion_actions={"purchase": "987654"}, enhanced_conversions=True,
    )  # fmt: skip
    vendors = [meta, x, tiktok, google]
    tracker = Tracker(vendors=vendors, outbox=tmp_path / "outbox.sqlite3", run_worker=False)
    await tracker.start()
    try:
        transport = httpx2.ASGITransport(app=shop(tracker))
        async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example.com") as browser:
            page = await browser.post("/thanks", headers=NAVIGATION)
        assert page.status_code == 200
        ids = rendered_ids(page.text)
        queued = [await tracker.outbox.get(i) for i in json.loads(page.headers["x-deliveries"])]
        payloads = {d.vendor: await event_for(tracker, d.id) for d in queued if d is not None}
    finally:
        await tracker.stop()
    assert sorted(payloads) == ["google_ads", "meta", "tiktok", "xads"]
    assert set(ids.values()) == {ORDER_ID}
    assert payloads["meta"]["event_id"] == ids["eventID"]
    assert payloads["tiktok"]["event_id"] == ids["event_id"]
    assert payloads["xads"]["conversion_id"] == ids["conversion_id"]
    assert payloads["google_ads"]["transactionId"] == ids["transaction_id"]
    assert ORDER_ID not in page.text  # escaped for the script: no quote or tag can break out


def test_event_id_is_the_conversions_own() -> None:
    order = Order(id="  A-100 ", value=Decimal("1"), currency="EUR")
    assert attribution.event_id(order) == "A-100"
    assert attribution.event_id(" A-100 ") == "A-100"
    assert attribution.event_id(42) == "42"
    lead = Conversion(event="lead", event_id=" form-9 ")
    assert attribution.event_id(lead) == lead.event_id == "form-9"
    assert attribution.event_id(Conversion(order=order)) == attribution.event_id(order)
    with pytest.raises(InvalidConversionError, match="empty"):
        attribution.event_id("  ")
    with pytest.raises(InvalidConversionError, match="takes an Order"):
        attribution.event_id(None)  # type: ignore[arg-type]


def test_event_id_refuses_what_checkout_would_refuse() -> None:
    """The page renders ``event_id``'s answer for the pixel; an id that checkout refuses must not get that far,
    or the browser reports an event the server never will."""
    for bad in ("x" * 256, "form\n9"):
        with pytest.raises(InvalidConversionError):
            Conversion(event="lead", event_id=bad)
        with pytest.raises(InvalidConversionError):
            attribution.event_id(bad)
    assert attribution.event_id("x" * 255) == Conversion(event="lead", event_id="x" * 255).event_id


def _documented_snippets() -> str:
    """The pixel snippets exactly as docs/vendors.md shows them ("One dedup id for pixel and server")."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "vendors.md").read_text(encoding="utf-8")
    section = text.split("## One dedup id for pixel and server", 1)[1]
    return "<script>\n" + section.split("```html\n", 1)[1].split("```", 1)[0] + "</script>\n"


async def test_the_documented_pinterest_snap_and_openai_snippets_render_the_ids_their_servers_queue(
    tmp_path: Path,
) -> None:
    from attribution import OpenAIAds, PinterestConversions, SnapchatConversions

    vendors = [
        PinterestConversions(access_token="pin-token", ad_account_id="549755885175"),
        SnapchatConversions(access_token="snap-token", pixel_id="7b4f6d1e-snap"),
        OpenAIAds(api_key="oa-key", pixel_id="px_1"),
    ]
    templates = Jinja2Templates(
        env=Environment(loader=DictLoader({"thanks.html": _documented_snippets()}), autoescape=True)
    )
    install_jinja2(templates)
    tracker = Tracker(vendors=vendors, outbox=tmp_path / "outbox.sqlite3", run_worker=False)

    async def thanks(request: Request) -> Response:
        order = Order(id=ORDER_ID, value=Decimal("99.97"), currency="USD")
        result = await tracker.checkout(request, order, customer=Customer(email="buyer@example.com"))
        response = templates.TemplateResponse(request, "thanks.html", {"order": order})
        response.headers["x-deliveries"] = json.dumps([i for r in result for i in r.delivery_ids])
        return response

    app = Starlette(routes=[Route("/thanks", thanks, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET)
    await tracker.start()
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="https://shop.example") as c:
            page = await c.post("/thanks", headers=NAVIGATION)
        payloads = {}
        for delivery_id in json.loads(page.headers["x-deliveries"]):
            delivery = await tracker.outbox.get(delivery_id)
            assert delivery is not None
            payloads[delivery.vendor] = await tracker.event(delivery)
    finally:
        await tracker.stop()
    calls = {
        name: [json.loads(v) for v in re.findall(rf"(?:event_id|client_dedup_id): ({_JS_STRING})", call)]
        for name, call in re.findall(r"(pintrk|snaptr|oaiq)\((.*?)\);", page.text, re.DOTALL)
    }
    assert calls == {"pintrk": [ORDER_ID], "snaptr": [ORDER_ID], "oaiq": [ORDER_ID]}
    assert payloads["pinterest"]["event_id"] == ORDER_ID
    assert payloads["snapchat"]["event_id"] == ORDER_ID
    assert payloads["openai_ads"]["id"] == ORDER_ID
    assert "amount: 9997," in page.text  # the OpenAI pixel's amount in cents, as the server sends it
    assert payloads["openai_ads"]["data"]["amount"] == 9997
    assert ORDER_ID not in page.text
