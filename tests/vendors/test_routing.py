"""Which vendors fire for which visitor, with reasons, on attribution captured by the real middleware."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.capture.models import Channel
from attribution.orders.conversion import Conversion, Customer, EventName, Order, RequestContext
from attribution.vendors import (
    VENDORS,
    Connectly,
    ConvertLoop,
    GoogleAds,
    LinkedIn,
    MetaConversions,
    MicrosoftAds,
    OpenAIAds,
    PinterestConversions,
    RDStation,
    Reddit,
    SnapchatConversions,
    TikTok,
    Vendor,
    Whop,
    XAds,
)
from attribution.web.middleware import AttributionMiddleware, get_attribution
from tests.support.helpers import NAVIGATION, SECRET

from .samples import CTWA, Queued, attribution, purchase, queued, touch

X_CREDENTIALS = {
    "consumer_key": "ck",
    "consumer_secret": "cs",
    "access_token": "at",
    "access_token_secret": "ats",
}


def site_vendors() -> list[Vendor]:
    return [
        Whop(api_key="whop-key", company_id="biz_1"),
        RDStation(api_key="rd-key"),
        Connectly(api_key="cnct-key", business_id="b-1"),
        ConvertLoop(app_id="app", api_key="cl-key"),
        XAds(**X_CREDENTIALS, pixel_id="px1", events={"purchase": "tw-purchase"}),
    ]


def x_only() -> XAds:
    return XAds(**X_CREDENTIALS, pixel_id="px1", events={"purchase": "tw-purchase"}, only_attributed=True)


def route(conversion: Conversion, vendors: list[Vendor]) -> tuple[dict[str, Queued], dict[str, str]]:
    """What a checkout does: ask every vendor, queue where it applies, keep the reason where it does not."""
    fired: dict[str, Queued] = {}
    skipped: dict[str, str] = {}
    for vendor in vendors:
        reason = vendor.check(conversion)
        key = f"{vendor.name}{'-only' if getattr(vendor, 'only_attributed', False) else ''}"
        if reason is None:
            fired[key] = queued(vendor, conversion)
        else:
            skipped[key] = reason
    return fired, skipped


def test_ctwa_visitor_with_email_fires_connectly_and_the_configured_vendors() -> None:
    attr = attribution(touch(timedelta(hours=2), Channel.PAID_SOCIAL, **CTWA), identifiers={"dp_pid": "pid-1"})
    conversion = purchase(attr, Customer(email="maria@example.com"))
    fired, skipped = route(conversion, [*site_vendors(), x_only()])
    assert sorted(fired) == ["connectly", "convertloop", "rdstation", "whop", "xads"]
    assert skipped == {"xads-only": "the visitor did not come from an X ad (no twclid within its window)"}
    assert fired["connectly"].payload["attribution"]["meta_ctwa"]["ctwa_clid"] == CTWA["ctwa_clid"]
    assert fired["whop"].payload["context"]["ad_id"] == CTWA["ad_id"]


def test_gclid_only_visitor_fires_no_connectly_and_no_x_only_with_reasons() -> None:
    conversion = purchase(attribution(touch(timedelta(hours=1), Channel.PAID_SEARCH, gclid="Cj0KCQ")))
    fired, skipped = route(conversion, [*site_vendors(), x_only()])
    assert sorted(fired) == ["whop"]
    assert fired["whop"].payload["context"]["gclid"] == "Cj0KCQ"
    assert skipped == {
        "rdstation": "RD Station needs the customer's email (in clear text)",
        "connectly": "the visitor did not come from a Click-to-WhatsApp ad (no ctwa_clid within its window)",
        "convertloop": "ConvertLoop needs a pid (dp_pid cookie), an email in clear text or a user id",
        "xads": "X needs a twclid, an email or a phone (IP address and user agent only count beside one)",
        "xads-only": "the visitor did not come from an X ad (no twclid within its window)",
    }


def test_registry_names_every_vendor_once() -> None:
    assert {
        "whop": Whop,
        "rdstation": RDStation,
        "connectly": Connectly,
        "convertloop": ConvertLoop,
        "xads": XAds,
        "google_ads": GoogleAds,
        "tiktok": TikTok,
        "meta": MetaConversions,
        "linkedin": LinkedIn,
        "reddit": Reddit,
        "microsoft_ads": MicrosoftAds,
        "pinterest": PinterestConversions,
        "snapchat": SnapchatConversions,
        "openai_ads": OpenAIAds,
    } == VENDORS
    assert all(name == cls.name for name, cls in VENDORS.items())


# -- end to end: the middleware captures a real landing, the checkout routes the conversion --------------


async def checkout(request: Request) -> JSONResponse:
    form = await request.json()
    conversion = Conversion(
        event=EventName.PURCHASE,
        order=Order(id=form["order_id"], value=Decimal(form["value"]), currency=form["currency"]),
        customer=Customer(email=form.get("email"), phone=form.get("phone"), phone_region="BR"),
        attribution=get_attribution(request),
        context=RequestContext(
            ip="198.51.100.23",  # behind a proxy the site takes it from its trusted forwarding header
            user_agent=request.headers.get("user-agent"),
            url=str(request.url),
            referrer=request.headers.get("referer"),
        ),
    )
    fired, skipped = route(conversion, site_vendors())
    return JSONResponse(
        {
            "fired": {name: [prepared.payload] for name, prepared in fired.items()},
            "skipped": skipped,
        }
    )


async def page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def shop() -> TestClient:
    app = Starlette(routes=[Route("/", page), Route("/checkout", checkout, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET)
    return TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION)


def test_captured_ctwa_landing_reaches_connectly_verbatim() -> None:
    browser = shop()
    query = "&".join(f"{k}={v}" for k, v in CTWA.items())
    browser.cookies.set("_wuid", "wuid-abc", domain="shop.example.com")
    browser.cookies.set("dp_pid", "pid-xyz", domain="shop.example.com")
    assert browser.get(f"/?{query}&utm_source=whatsapp&utm_medium=paid_social").status_code == 200

    answer = browser.post(
        "/checkout",
        json={
            "order_id": "A-100",
            "value": "59.90",
            "currency": "BRL",
            "email": "Cliente@Exemplo.com.br",
            "phone": "11 91234-5678",
        },
    ).json()
    assert sorted(answer["fired"]) == ["connectly", "convertloop", "rdstation", "whop", "xads"]
    assert answer["skipped"] == {}

    connectly = answer["fired"]["connectly"][0]
    assert {k: connectly[k] for k in ("cnct_tracking_id", "sendout_id", "attribution")} == {
        "cnct_tracking_id": CTWA["cnct_tracking_id"],
        "sendout_id": CTWA["sendout_id"],
        "attribution": {"meta_ctwa": {"ctwa_clid": CTWA["ctwa_clid"], "ad_id": CTWA["ad_id"]}},
    }
    assert connectly["payload"]["order_id"] == "A-100"
    assert connectly["payload"]["value"] == 59.9

    whop = answer["fired"]["whop"][0]
    assert whop["user"]["anonymous_id"] == "wuid-abc"
    assert whop["user"]["phone"] == "+5511912345678"
    assert whop["context"]["utm_source"] == "whatsapp"
    assert answer["fired"]["convertloop"][0]["person"]["pid"] == "pid-xyz"
    assert answer["fired"]["rdstation"][0]["payload"]["traffic_source"] == "whatsapp"
    x_identifiers = answer["fired"]["xads"][0]["identifiers"]
    assert [sorted(i) for i in x_identifiers] == [
        ["hashed_email"],
        ["hashed_phone_number"],
        ["ip_address", "user_agent"],
    ]
    # nothing secret went into any payload
    dumped = json.dumps(answer)
    assert not any(s in dumped for s in ("whop-key", "rd-key", "cnct-key", "cl-key"))


def test_captured_gclid_landing_fires_whop_only_for_an_anonymous_buyer() -> None:
    browser = shop()
    browser.get("/?gclid=Cj0KCQiA&utm_source=google&utm_medium=cpc")
    answer = browser.post("/checkout", json={"order_id": "A-101", "value": "10", "currency": "USD"}).json()
    assert sorted(answer["fired"]) == ["whop"]
    assert answer["fired"]["whop"][0]["context"]["gclid"] == "Cj0KCQiA"
    assert sorted(answer["skipped"]) == ["connectly", "convertloop", "rdstation", "xads"]
