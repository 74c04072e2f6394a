"""A vendor's error that echoes what it was sent reaches no screen, log line or ``last_error`` unmasked,
whatever ``read_response`` / ``read_batch`` its adapter has.

A visitor with an IPv6 address and Meta's ``_fbp`` checks out; the in-app worker sends through
``httpx2.MockTransport``. Meta refuses with a Graph 400 quoting the client's address, the ``_fbp`` and the
``appsecret_proof`` it was sent; X refuses quoting the address and the twclid; an adapter written the way a
new vendor might be, whose ``read_batch`` keeps the body as it came, quotes the customer's name, email and phone.
With the root logger at DEBUG, every record and the outbox are searched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.checkout.tracker import Tracker
from attribution.delivery.outbox.base import Status
from attribution.orders import identifiers
from attribution.orders.conversion import Customer, Order
from attribution.vendors import MetaConversions, XAds
from attribution.vendors.base import JSON, Failed, Outcome, Split, Vendor, response_text
from attribution.web.middleware import AttributionMiddleware

from .delivery_fakes import FAST, wait_for_status
from .helpers import NAVIGATION, SECRET

CLIENT_IP = "2001:db8:85a3::8a2e:370:7334"
FBP = "fb.1.1746480000000.1234567890"
NAME, EMAIL, PHONE = "Ana Souza", "ana.souza@example.com", "+5511999998888"
TWCLID = "tw-echo-5521"
APP_SECRET = "meta-app-secret-5f1c9a7e"


class Newcomer(Vendor):
    """A vendor adapter as a new integration might write it: the answer's body kept as it came."""

    name: ClassVar[str] = "newcomer"
    identifiers = (identifiers.FULL_NAME, identifiers.EMAIL, identifiers.PHONE)
    base_url = "https://api.newcomer.test"

    def check(self, conversion: Any) -> str | None:
        return None

    def payload(self, conversion: Any) -> JSON:
        user = {form.name: form.of(conversion) for form in self.identifiers}
        return {"order": conversion.event_id, "user": user}

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        return httpx2.Request("POST", self.base_url + "/events", json=list(payloads))

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        return [Failed(f"HTTP {response.status_code}: {response_text(response)}")] * len(payloads)


def answer(request: httpx2.Request) -> httpx2.Response:
    if request.url.host == "graph.facebook.com":
        event = json.loads(request.content)["data"][0]
        proof = request.url.params["appsecret_proof"]
        message = (
            f"Invalid parameter: client_ip_address {event['user_data']['client_ip_address']} with fbp "
            f"{event['user_data']['fbp']} is not valid for appsecret_proof {proof}"
        )
        return httpx2.Response(
            400,
            json={"error": {"message": message, "type": "OAuthException", "code": 100, "fbtrace_id": "AbCdEf1"}},
        )
    if request.url.host == "ads-api.x.com":
        sent = json.loads(request.content)["conversions"][0]
        twclid = sent["identifiers"][0]["twclid"]
        return httpx2.Response(
            400, json={"errors": [{"code": "INVALID_PARAMETER", "message": f"twclid {twclid} from {CLIENT_IP}"}]}
        )
    user = json.loads(request.content)[0]["user"]
    return httpx2.Response(422, text=f"refused {user['full_name']} <{user['email']}> {user['phone']}")


def with_client_address(app: Any) -> Any:
    """The visitor reaches the site over IPv6 (TestClient's own peer is no address)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        scope["client"] = (CLIENT_IP, 50000)
        await app(scope, receive, send)

    return wrapped


def test_echoes_of_the_visitor_and_the_credentials_are_masked_for_every_adapter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = Tracker(
        vendors=[
            MetaConversions(access_token="meta-token-5f1c9a7e", pixel_id="1234567890123456", app_secret=APP_SECRET),
            XAds(
                consumer_key="ck-1",
                consumer_secret="x-consumer-5f1c9a7e",
                access_token="at-1",
                access_token_secret="x-token-5f1c9a7e",
                pixel_id="o8z6j",
                events={"purchase": "o87ne"},
            ),
            Newcomer(),
        ],
        outbox=tmp_path / "outbox.sqlite3",
        policy=FAST,
        poll_interval=0.02,
        transport=httpx2.MockTransport(answer),
    )

    async def checkout(request: Request) -> JSONResponse:
        order = Order(id="ECHO-1", value="99.90", currency="USD")
        customer = Customer(email=EMAIL, phone=PHONE, name=NAME)
        result = await tracker.checkout(request, order, customer=customer)
        return JSONResponse({r.vendor: r.status for r in result})

    async def home(request: Request) -> JSONResponse:
        return JSONResponse({})

    site = Starlette(routes=[Route("/checkout", checkout, methods=["POST"]), Route("/", home)])
    app = with_client_address(AttributionMiddleware(site, secret_key=SECRET, tracker=tracker))
    caplog.set_level(logging.DEBUG)
    with TestClient(app, base_url="https://shop.example", headers=NAVIGATION) as http:
        http.cookies.set("_fbp", FBP, domain="shop.example")
        http.get(f"/?twclid={TWCLID}")
        assert http.post("/checkout").json() == dict.fromkeys(["meta", "xads", "newcomer"], "queued")
        portal = http.portal
        assert portal is not None
        portal.call(wait_for_status, tracker.outbox, [1, 2, 3], Status.DEAD)
        deliveries = [portal.call(tracker.outbox.get, i) for i in (1, 2, 3)]

    proof = tracker.vendors[0].build_request([{}]).url.params["appsecret_proof"]  # type: ignore[list-item]
    forbidden = (CLIENT_IP, FBP, proof, TWCLID, NAME, "Souza", EMAIL, PHONE, PHONE.lstrip("+"))
    errors = {d.vendor: d.last_error or "" for d in deliveries if d is not None}
    for vendor, error in errors.items():
        assert [v for v in forbidden if v.lower() in error.lower()] == [], (vendor, error)
    # the vendor's own words are still there for the operator
    assert errors["meta"].startswith("HTTP 400: code 100: Invalid parameter: client_ip_address *** with fbp ***")
    assert "(fbtrace_id AbCdEf1)" in errors["meta"]
    assert errors["xads"] == "HTTP 400: INVALID_PARAMETER: twclid *** from ***"
    assert errors["newcomer"] == "HTTP 422: refused *** <***@***> ***"

    # every record but the test client's own lines about its requests to the site (the landing's URL)
    records = [r for r in caplog.records if "https://shop.example/" not in r.getMessage()]
    text = "\n".join(logging.Formatter("%(name)s %(levelname)s %(message)s").format(r) for r in records)
    assert "meta delivery 1: dead: HTTP 400" in text  # the WARNING line the operator reads
    assert [v for v in forbidden if v.lower() in text.lower()] == []
