"""What a vendor is told about where the visitor came from describes one touch: the last non-direct one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.orders.conversion import Conversion, Customer, Order
from attribution.vendors.convertloop import ConvertLoop
from attribution.vendors.rdstation import RDStation
from attribution.vendors.whop import Whop
from attribution.web.middleware import AttributionMiddleware, get_attribution
from tests.support.helpers import NAVIGATION, SECRET

VENDORS = {
    "convertloop": ConvertLoop(app_id="app-1", api_key="cl-key-0123456789"),
    "rdstation": RDStation(api_key="rd-key-0123456789", custom_fields={"channel": "cf_canal"}),
    "whop": Whop(api_key="whop-key-0123456789", company_id="biz_1"),
}


async def order(request: Request) -> JSONResponse:
    conversion = Conversion(
        order=Order(id="ORD-1", value=Decimal("10"), currency="USD"),
        customer=Customer(email="ana@example.com"),
        attribution=get_attribution(request),
    )
    return JSONResponse({name: vendor.payload(conversion) for name, vendor in VENDORS.items()})


async def page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def site() -> TestClient:
    app = Starlette(routes=[Route("/", page), Route("/order", order)])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET)
    return TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION)


def sent(c: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = c.get("/order").json()
    return body


def test_an_organic_referral_after_an_email_is_sent_as_the_referral_alone() -> None:
    c = site()
    c.get("/?utm_source=newsletter&utm_medium=email&utm_campaign=may&gclid=G-1")
    c.get("/", headers={"referer": "https://news.example.org/story"})
    body = sent(c)

    metadata = body["convertloop"]["metadata"]
    assert metadata["channel"] == "referral"
    assert metadata["referrer"] == "news.example.org"
    assert not any(key.startswith("utm_") for key in metadata)
    assert metadata["gclid"] == "G-1"  # click ids come from their own store, within their windows

    rd = body["rdstation"]["payload"]
    assert not any(key.startswith("traffic_") for key in rd)
    assert rd["cf_canal"] == "referral"

    assert not any(key.startswith("utm_") for key in body["whop"]["context"])


def test_the_email_touch_is_sent_whole_when_it_is_the_last() -> None:
    c = site()
    c.get("/", headers={"referer": "https://news.example.org/story"})
    c.get("/?utm_source=newsletter&utm_medium=email&utm_campaign=may")
    body = sent(c)
    metadata = body["convertloop"]["metadata"]
    assert (metadata["channel"], metadata["utm_medium"], metadata["utm_source"]) == ("email", "email", "newsletter")
    assert "referrer" not in metadata
    rd = body["rdstation"]["payload"]
    assert (rd["traffic_source"], rd["traffic_medium"], rd["cf_canal"]) == ("newsletter", "email", "email")
    assert body["whop"]["context"]["utm_medium"] == "email"
