"""With the root logger at DEBUG, a whole flow logs no credential and no personal data.

A visitor lands, checks out with an email, a phone and a name; the in-app worker sends to all five vendors
through ``httpx2.MockTransport``: Whop refuses with a 400 quoting the customer, ConvertLoop fails with 500s
quoting them too, X times out, RD Station (whose key travels in the query string) and Connectly accept. Every
record any logger emits, formatted in full (arguments and tracebacks included), is searched. A second flow does
the same for LinkedIn (OAuth refresh), Reddit and Microsoft Advertising, and searches ``last_error`` and every
attempt's recorded detail too.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from urllib.parse import quote

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.checkout.tracker import Tracker
from attribution.delivery.outbox.base import Status
from attribution.orders.conversion import Customer, Order
from attribution.vendors import Connectly, ConvertLoop, RDStation, Whop, XAds
from attribution.web.middleware import AttributionMiddleware
from tests.support.delivery_fakes import FAST, wait_for_status
from tests.support.helpers import NAVIGATION, SECRET

EMAIL = "ana.souza@example.com"
PHONE = "+5511999998888"
NAME = "Ana Souza"
KEYS = {
    "whop": "whop-key-7c1d2e3f",
    "rdstation": "rd-key-7c1d2e3f",
    "connectly": "cnct-key-7c1d2e3f",
    "convertloop": "cl-key-7c1d2e3f",
    "x_consumer": "x-consumer-7c1d2e3f",
    "x_token": "x-token-7c1d2e3f",
}
FORBIDDEN = (EMAIL, quote(EMAIL, safe=""), PHONE, PHONE.lstrip("+"), "Souza", *KEYS.values())
LANDING = (
    "/?utm_source=google&utm_medium=cpc&twclid=tw-5521&cnct_tracking_id=trk_1&sendout_id=so_1"
    "&ctwa_clid=ARAkclid&ad_id=120210000000001&attribution_source=meta_ctwa"
)


def answer(request: httpx2.Request) -> httpx2.Response:
    """Each vendor as described in the module docstring; refusals quote the customer."""
    host_path = request.url.path
    if host_path.endswith("/conversions") and request.url.host == "api.whop.com":
        user = json.loads(request.content)["user"]
        return httpx2.Response(400, json={"error": {"message": f"{user['name']} <{user['email']}> {user['phone']}"}})
    if request.url.host == "api.convertloop.co":
        person = json.loads(request.content)["person"]
        return httpx2.Response(500, text=f"Internal error for {person['email']} ({person['first_name']} Souza)")
    if request.url.host == "ads-api.x.com":
        raise httpx2.ReadTimeout("timed out", request=request)
    return httpx2.Response(200, json={"event_uuid": "5408c5a3-4711-4f2e-8d0b-13407a3e30f3"})


def make_site(tracker: Tracker) -> Starlette:
    async def checkout(request: Request) -> JSONResponse:
        order = Order(id="LOG-1", value="99.90", currency="USD")
        customer = Customer(email=EMAIL, phone=PHONE, first_name="Ana", last_name="Souza")
        result = await tracker.checkout(request, order, customer=customer)
        return JSONResponse({r.vendor: r.status for r in result})

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("welcome")

    app = Starlette(routes=[Route("/", home), Route("/checkout", checkout, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, tracker=tracker)
    return app


def test_no_credential_or_personal_data_in_any_log_record(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tracker = Tracker(
        vendors=[
            Whop(api_key=KEYS["whop"], company_id="biz_1"),
            RDStation(api_key=KEYS["rdstation"]),
            Connectly(api_key=KEYS["connectly"], business_id="b-1"),
            ConvertLoop(app_id="app-1", api_key=KEYS["convertloop"]),
            XAds(
                consumer_key="ck-1",
                consumer_secret=KEYS["x_consumer"],
                access_token="at-1",
                access_token_secret=KEYS["x_token"],
                pixel_id="o8z6j",
                events={"purchase": "o87ne"},
            ),
        ],
        outbox=tmp_path / "outbox.sqlite3",
        secret_key="log-privacy-token-secret-0123456789",
        policy=FAST,
        poll_interval=0.02,
        transport=httpx2.MockTransport(answer),
    )
    caplog.set_level(logging.DEBUG)  # the root logger, and so every logger without its own level
    with TestClient(make_site(tracker), base_url="https://shop.example", headers=NAVIGATION) as http:
        http.get(LANDING)
        queued = http.post("/checkout").json()
        assert queued == dict.fromkeys(["whop", "rdstation", "connectly", "convertloop", "xads"], "queued")
        box = tracker.outbox
        portal = http.portal
        assert portal is not None
        portal.call(wait_for_status, box, [1, 4, 5], Status.DEAD)  # whop, convertloop, xads: out of attempts
        portal.call(wait_for_status, box, [2, 3], Status.DELIVERED)  # rdstation, connectly

    formatter = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    text = "\n".join(formatter.format(record) for record in caplog.records)
    leaks = [value for value in FORBIDDEN if value.lower() in text.lower()]
    assert leaks == [], text
    # the flow really logged what the operator needs, so the search above searched something
    assert "HTTP Request: POST https://api.rd.services/platform/conversions?api_key=*** " in text
    # One line per attempt outcome, the vendor's words redacted.
    assert re.search(r"whop delivery \d+: dead: HTTP 400: \*\*\* <\*\*\*@\*\*\*> \*\*\*", text)
    assert re.search(
        r"convertloop delivery \d+: retry at .*: HTTP 500: Internal error for \*\*\*@\*\*\* \(\*\*\* \*\*\*\)", text
    )
    assert re.search(r"xads delivery \d+: retry at .*: ReadTimeout", text)


NEW_KEYS = {
    "li_client_secret": "li-secret-7c1d2e3f",
    "li_refresh": "li-refresh-7c1d2e3f",
    "li_access": "li-access-7c1d2e3f",
    "reddit": "rdt-token-7c1d2e3f",
    "microsoft": "uet-token-7c1d2e3f",
}


def refusing(request: httpx2.Request) -> httpx2.Response:
    """LinkedIn's token endpoint hands out a token; then each platform refuses, quoting the credential it was sent
    and the customer (LinkedIn for good, Reddit with 500s until out of attempts, Microsoft with a 401)."""
    if request.url.path == "/oauth/v2/accessToken":
        return httpx2.Response(200, json={"access_token": NEW_KEYS["li_access"], "expires_in": 5183999})
    bearer = request.headers.get("authorization", "")
    if request.url.host == "api.linkedin.com":
        info = json.loads(request.content)["user"]["userInfo"]
        message = f"ERROR :: /user :: {info['firstName']} {info['lastName']} <{EMAIL}> {PHONE} ({bearer})"
        return httpx2.Response(422, json={"status": 422, "message": message})
    if request.url.host == "ads-api.reddit.com":
        return httpx2.Response(500, json={"error": {"code": 500, "message": f"{bearer} failed for {EMAIL} {PHONE}"}})
    return httpx2.Response(401, json={"error": {"code": "Unauthorized", "message": f"{bearer} is not for {EMAIL}"}})


def test_linkedin_reddit_and_microsoft_log_no_credential_or_personal_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from attribution.vendors import LinkedIn, MicrosoftAds, Reddit

    tracker = Tracker(
        vendors=[
            LinkedIn(
                client_id="li-client",
                client_secret=NEW_KEYS["li_client_secret"],
                refresh_token=NEW_KEYS["li_refresh"],
                events={"purchase": "12345"},
            ),
            Reddit(access_token=NEW_KEYS["reddit"], pixel_id="a2_px"),
            MicrosoftAds(api_token=NEW_KEYS["microsoft"], tag_id="343123456"),
        ],
        outbox=tmp_path / "outbox.sqlite3",
        policy=FAST,
        poll_interval=0.02,
        transport=httpx2.MockTransport(refusing),
    )
    caplog.set_level(logging.DEBUG)
    landing = "/?li_fat_id=li-5521&rdt_cid=t2_5521&msclkid=0f7e5c3a9b2d4e6f8a1b2c3d4e5f6a7b&utm_source=ads"
    with TestClient(make_site(tracker), base_url="https://shop.example", headers=NAVIGATION) as http:
        http.get(landing)
        queued = http.post("/checkout").json()
        assert queued == dict.fromkeys(["linkedin", "reddit", "microsoft_ads"], "queued")
        portal = http.portal
        assert portal is not None
        portal.call(wait_for_status, tracker.outbox, [1, 2, 3], Status.DEAD)
        rows = [portal.call(tracker.outbox.get, i) for i in (1, 2, 3)]

    forbidden = (EMAIL, quote(EMAIL, safe=""), PHONE, PHONE.lstrip("+"), "Souza", *NEW_KEYS.values())
    formatter = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    text = "\n".join(formatter.format(record) for record in caplog.records)
    recorded = "\n".join(f"{r.last_error}\n" + "\n".join(h.detail for h in r.history) for r in rows if r is not None)
    for where in (text, recorded):
        leaks = [value for value in forbidden if value.lower() in where.lower()]
        assert leaks == [], where
    # the flow really logged and recorded what the operator needs
    assert re.search(r"linkedin delivery \d+: dead: HTTP 422: ERROR :: /user :: \*\*\*", text)
    assert re.search(r"reddit delivery \d+: retry at .*: HTTP 500: Bearer \*\*\* failed for \*\*\*@\*\*\*", text)
    assert "HTTP 401: Unauthorized: Bearer *** is not for ***@***" in recorded
