"""The demo shop: capture on every page, a checkout that queues one delivery per vendor, and the outbox.

    make demo            # or: python -m examples.demo, then open http://127.0.0.1:8000/

See examples/demo/README.md for the environment variables.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.templating import Jinja2Templates

from attribution import (
    AttributionMiddleware,
    CheckoutResult,
    Customer,
    Delivery,
    InvalidConversionError,
    LineItem,
    Order,
    Tracker,
    Vendor,
    get_attribution,
    redact,
    redact_json,
    script_tag,
)
from attribution.reports import ReportApp
from attribution.templating import install_jinja2
from examples.browser_app import EdgeCache

from .config import DemoConfig, load_config
from .summary import captured_values, fed_fields, status_label, when

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
install_jinja2(TEMPLATES)
TEMPLATES.env.filters["when"] = when

PRODUCTS: dict[str, dict[str, Any]] = {
    "mug": {"name": "Attribution mug", "price": Decimal("24.90"), "blurb": "Holds coffee and UTM parameters."},
    "tshirt": {"name": "First-touch T-shirt", "price": Decimal("39.00"), "blurb": "Organic cotton, paid search."},
}
CURRENCY = "USD"


def landing_links(request: Request) -> list[dict[str, str]]:
    """Sample ad and campaign links, each landing on the mug's page."""
    other = "localhost" if request.url.hostname != "localhost" else "127.0.0.1"
    port = f":{request.url.port}" if request.url.port else ""
    return [
        {
            "id": "google",
            "label": "Google Ads (gclid)",
            "href": "/product/mug?gclid=Cj0KCQiA-demo-gclid&utm_source=google&utm_medium=cpc&utm_campaign=spring_sale",
        },
        {
            "id": "meta",
            "label": "Meta ad (fbclid + UTM)",
            "href": "/product/mug?fbclid=IwAR-demo-fbclid&utm_source=facebook&utm_medium=paid_social"
            "&utm_campaign=retargeting&utm_content=carousel",
        },
        {
            "id": "x",
            "label": "X ad (twclid)",
            "href": "/product/mug?twclid=26ldemo-twclid&utm_source=x&utm_medium=paid_social&utm_campaign=launch",
        },
        {
            "id": "tiktok",
            "label": "TikTok ad (ttclid)",
            "href": "/product/mug?ttclid=E.C.P.demo-ttclid&utm_source=tiktok&utm_medium=paid_social",
        },
        {
            "id": "linkedin",
            "label": "LinkedIn ad (li_fat_id)",
            "href": "/product/mug?li_fat_id=7d3e2c1b-demo-li-fat-id&utm_source=linkedin&utm_medium=paid_social",
        },
        {
            "id": "reddit",
            "label": "Reddit ad (rdt_cid)",
            "href": "/product/mug?rdt_cid=t2_demo-rdt-cid&utm_source=reddit&utm_medium=paid_social",
        },
        {
            "id": "microsoft",
            "label": "Microsoft Advertising (msclkid)",
            "href": "/product/mug?msclkid=0f7e5c3a9b2d4e6f8a1b2c3d4e5f6a7b&utm_source=bing&utm_medium=cpc",
        },
        {
            "id": "pinterest",
            "label": "Pinterest ad (epik)",
            "href": "/product/mug?epik=dj0yJnU9demo-epik&utm_source=pinterest&utm_medium=paid_social",
        },
        {
            "id": "snapchat",
            "label": "Snapchat ad (ScCid)",
            "href": "/product/mug?ScCid=4f6d1e2a-demo-sccid&utm_source=snapchat&utm_medium=paid_social",
        },
        {
            "id": "chatgpt",
            "label": "ChatGPT ad (oppref)",
            "href": "/product/mug?oppref=gAAAAABdemo-oppref-reference%3D%3D",
        },
        {
            "id": "ctwa",
            "label": "Connectly Click-to-WhatsApp",
            "href": "/product/mug?cnct_tracking_id=cnct-trk-001&sendout_id=sendout-42&ctwa_clid=ARAkdemo-ctwa"
            "&ad_id=120210000000001&attribution_source=meta_ctwa&utm_source=whatsapp&utm_medium=paid_social",
        },
        {
            "id": "email",
            "label": "Email campaign",
            "href": "/product/tshirt?utm_source=newsletter&utm_medium=email&utm_campaign=november_digest",
        },
        {
            "id": "referral",
            "label": f"Organic referral (through a page on {other}, another host of this server)",
            "href": f"http://{other}{port}/_demo/referrer",
        },
    ]


def _config(request: Request) -> DemoConfig:
    config: DemoConfig = request.app.state.config
    return config


def _tracker(request: Request) -> Tracker:
    tracker: Tracker = request.app.state.tracker
    return tracker


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("config", _config(request))
    context.setdefault("label", lambda status: status_label(status, dry_run=_config(request).dry_run))
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


async def home(request: Request) -> HTMLResponse:
    return render(request, "home.html", links=landing_links(request), products=PRODUCTS)


async def referrer(request: Request) -> HTMLResponse:
    """A page on the other host name of this server: following its link sends a cross-host Referer."""
    back = "localhost" if request.url.hostname != "localhost" else "127.0.0.1"
    port = f":{request.url.port}" if request.url.port else ""
    return render(request, "referrer.html", target=f"http://{back}{port}/product/mug")


async def product(request: Request) -> Response:
    slug = request.path_params["slug"]
    if slug not in PRODUCTS:
        return render(request, "not_found.html", status_code=404)
    return render(request, "product.html", slug=slug, product=PRODUCTS[slug])


async def checkout_form(request: Request) -> Response:
    slug = request.query_params.get("product", "mug")
    if slug not in PRODUCTS:
        return render(request, "not_found.html", status_code=404)
    order_id = "demo-" + secrets.token_hex(4)
    return render(request, "checkout.html", slug=slug, product=PRODUCTS[slug], order_id=order_id, form={})


def describe(vendor: Vendor, payload: dict[str, Any]) -> dict[str, Any]:
    """The request a vendor would send for a stored payload, credentials masked."""
    built = vendor.build_request([payload])
    body = built.content.decode("utf-8", "replace")
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return {
        "method": built.method,
        "url": vendor.masked_url(built),
        "headers": vendor.masked_headers(built),
        "body": body,
    }


async def result_rows(tracker: Tracker, result: CheckoutResult, captured: dict[str, str]) -> list[dict[str, Any]]:
    """Per vendor: what came of the checkout, the requests it queued, and which captured values they carry."""
    vendors = {v.name: v for v in tracker.vendors}
    rows = []
    for item in result:
        requests = []
        for delivery_id in item.delivery_ids:
            delivery = await tracker.outbox.get(delivery_id)
            event = await tracker.event(delivery) if delivery is not None else None
            if delivery is not None and event is not None:
                requests.append(
                    {"id": delivery_id, "status": str(delivery.status), **describe(vendors[item.vendor], event)}
                )
        fed = sorted({pair for req in requests for pair in fed_fields(req["body"], captured)})
        rows.append(
            {"vendor": item.vendor, "status": item.status, "reason": item.reason, "requests": requests, "fed": fed}
        )
    return rows


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form body, parsed without python-multipart (which ``request.form()`` needs)."""
    body = (await request.body())[:65536].decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


async def checkout(request: Request) -> Response:
    form = await form_fields(request)
    slug = form.get("product", "mug")
    if slug not in PRODUCTS:
        return render(request, "not_found.html", status_code=404)
    item = PRODUCTS[slug]
    raw_quantity = form.get("quantity", "1")
    quantity = max(1, min(10, int(raw_quantity))) if raw_quantity.isdigit() else 1
    try:
        order = Order(
            id=form.get("order_id") or "demo-" + secrets.token_hex(4),
            value=item["price"] * quantity,
            currency=CURRENCY,
            items=[LineItem(id=slug, name=item["name"], quantity=quantity, price=item["price"])],
        )
        customer = Customer(
            email=form.get("email") or None,
            phone=form.get("phone") or None,
            name=form.get("name") or None,
            phone_region=form.get("region") or None,
        )
        result = await _tracker(request).checkout(request, order, customer=customer)
        attr = get_attribution(request)
        request.app.state.channels[order.id] = attr.channel.value  # for the deliveries page
    except InvalidConversionError as exc:
        return render(
            request,
            "checkout.html",
            status_code=400,
            slug=slug,
            product=item,
            order_id=form.get("order_id", ""),
            form=form,
            error=str(exc),
        )
    hidden = {k: v for k, v in form.items() if k not in ("email", "phone", "name", "region", "product", "order_id")}
    captured = captured_values(attr)
    rows = await result_rows(_tracker(request), result, captured)
    return render(request, "result.html", order=order, rows=rows, hidden=hidden, result=result, captured=captured)


def masked_error(d: Delivery) -> Delivery:
    """Vendors' error texts may quote what was sent: every value the delivery carried is masked (a name echoed in
    prose has no shape ``redact`` could know it by), and then emails, phones and credentials by their shape."""
    if not d.last_error:
        return d
    return dataclasses.replace(d, last_error=redact(d.last_error, secrets=d.personal_values()))


async def deliveries(request: Request) -> HTMLResponse:
    rows = [masked_error(d) for d in await _tracker(request).outbox.list(limit=100)]
    counts = await _tracker(request).outbox.counts()
    channels = request.app.state.channels
    return render(request, "deliveries.html", rows=rows, counts=sorted(counts.items()), channels=channels)


async def delivery(request: Request) -> HTMLResponse:
    tracker = _tracker(request)
    found = await tracker.outbox.get(request.path_params["delivery_id"])
    vendor = next((v for v in tracker.vendors if found is not None and v.name == found.vendor), None)
    event = await tracker.event(found) if found is not None else None
    if found is None or vendor is None or event is None:
        return render(request, "not_found.html", status_code=404)
    channel = request.app.state.channels.get(found.order_id)
    # anyone can open /deliveries/1, /deliveries/2, ...: personal data masked as `attribution show` masks it
    masked = describe(vendor, redact_json(event))
    return render(request, "delivery.html", d=masked_error(found), request_sent=masked, channel=channel)


async def start_over(request: Request) -> Response:
    """Forget this visitor: the attribution cookie is cleared, as a new browser would arrive."""
    middleware: AttributionMiddleware = request.app.state.middleware
    # the middleware's own expiring Set-Cookie: same name, path, domain and Secure as the cookie it set
    capturer = middleware.capturer
    cleared = capturer.codec.clear_cookie(secure=capturer.secure(request.scope))
    return RedirectResponse("/", status_code=303, headers={"set-cookie": cleared})


async def panel(request: Request) -> HTMLResponse:
    """The attribution panel alone: the page fetches it again when the snippet reports an SPA navigation."""
    return render(request, "_panel.html")


async def spa(request: Request) -> HTMLResponse:
    return render(request, "spa.html")


STAFF_COOKIE = "demo_staff"


def staff_only(token: str) -> Any:
    """The report page's ``authorize``: yes for a browser that signed in as staff, else a 401 page that offers to.
    A real site asks its own login (``request.user.is_staff``, a session, an SSO header)."""

    def authorize(request: Request) -> bool | Response:
        if secrets.compare_digest(request.cookies.get(STAFF_COOKIE, ""), token):
            return True
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Staff only</title>'
            '<link rel="icon" href="data:,"></head><body>'
            '<h1 id="refused">Staff only</h1><p>The report shows the shop\'s revenue: sign in first.</p>'
            '<form method="post" action="/_demo/staff"><button id="staff-sign-in">Sign in as staff (demo)</button>'
            '</form><p><a href="/">Back to the shop</a></p></body></html>',
            status_code=401,
        )

    return authorize


async def staff_sign_in(request: Request) -> Response:
    """The demo's whole login: a cookie with this server's staff token. Never do this in a real shop."""
    response = RedirectResponse("/report/", status_code=303)
    response.set_cookie(STAFF_COOKIE, request.app.state.staff_token, httponly=True, samesite="strict")
    return response


async def staff_sign_out(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(STAFF_COOKIE)
    return response


def cached_page() -> str:
    """The HTML an edge cache would serve: one copy for every visitor, so no attribution panel in it."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Cached offer</title>'
        f'<link rel="icon" href="data:,">{script_tag()}</head><body><h1>Cached offer</h1>'
        "<p>This page is answered by a stand-in for a CDN in front of the app (see <code>x-cache: HIT</code>):"
        " the app and its middleware never see this request. The snippet reports the landing to "
        "<code>/_attribution/collect</code>, which stores it in the same cookie.</p>"
        '<p><a id="back-home" href="/">Back to the shop</a> (its panel shows what the snippet recorded)</p>'
        "</body></html>"
    )


def create_app(config: DemoConfig | None = None) -> EdgeCache:
    """The whole demo: the edge cache in front of the middleware (with the tracker) in front of the shop."""
    config = config or load_config()
    tracker = Tracker(
        vendors=config.vendors,
        outbox=config.outbox,
        secret_key=config.secret_key,
        dry_run=config.dry_run,
        poll_interval=0.5,
    )
    staff_token = secrets.token_urlsafe(24)
    report = ReportApp(tracker, authorize=staff_only(staff_token), title="Demo shop: attribution report")
    shop = Starlette(
        routes=[
            Route("/", home),
            Mount("/report", report),
            Route("/_demo/staff", staff_sign_in, methods=["POST"]),
            Route("/_demo/staff-out", staff_sign_out, methods=["POST"]),
            Route("/_demo/referrer", referrer),
            Route("/product/{slug}", product),
            Route("/checkout", checkout_form, methods=["GET"]),
            Route("/checkout", checkout, methods=["POST"]),
            Route("/deliveries", deliveries),
            Route("/deliveries/{delivery_id:int}", delivery),
            Route("/_demo/start-over", start_over, methods=["POST"]),
            Route("/_demo/panel", panel),
            Route("/app", spa),
            Route("/app/{rest:path}", spa),
        ]
    )
    shop.state.config = config
    shop.state.staff_token = staff_token
    shop.state.tracker = tracker
    shop.state.channels = {}  # order id -> the visitor's channel at checkout, while this server runs
    captured = AttributionMiddleware(shop, secret_key=config.secret_key, tracker=tracker)
    shop.state.middleware = captured
    return EdgeCache(captured, {"/cached/offer": cached_page()})


#: The demo as configured by the environment (``uvicorn examples.demo.app:app`` works too).
config = load_config()
app = create_app(config)
