"""``attribution.redact``: personal data and credentials masked, what an operator reads kept.

Each vendor is sent a real prepared payload through ``httpx2.MockTransport`` and answers with a body that
echoes it back, as vendors' validation errors and acknowledgements do; the reason the worker records must
hold none of the customer's data and none of the vendor's credentials.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from attribution.delivery.outbox.base import Finish, Status
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from attribution.orders.conversion import Customer
from attribution.redact import PERSONAL_KEYS, personal_values, redact, redact_headers, redact_json, redact_url
from attribution.vendors import Connectly, ConvertLoop, LinkedIn, MicrosoftAds, RDStation, Reddit, Vendor, Whop, XAds
from attribution.vendors.base import Delivered, Failed, Retry
from examples.demo.app import create_app as create_demo
from examples.demo.config import load_config
from tests.support.delivery_fakes import claim_one
from tests.support.helpers import NAVIGATION

from .vendors.samples import CTWA, NOW, UA, attribution, purchase, queued, send, touch

EMAIL = "ana.souza@example.com"
PHONE = "+5511999998888"
CUSTOMER = Customer(email=EMAIL, phone=PHONE, first_name="Ana", last_name="Souza", external_id="cust-981")
PERSONAL = (EMAIL, "ana.souza%40example.com", PHONE, "5511999998888", "99999-8888", "Ana", "Souza")
KEYS = ("whop-key-5f1c9a7e", "rd-key-5f1c9a7e", "cnct-key-5f1c9a7e", "cl-key-5f1c9a7e", "x-secret-5f1c9a7e")
KEYS += ("li-token-5f1c9a7e", "rdt-token-5f1c9a7e", "uet-token-5f1c9a7e")

USER_AGENTS = (
    UA,
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.2903.86",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 "
    "Mobile Safari/537.36",
)


def vendors() -> list[Vendor]:
    return [
        Whop(api_key=KEYS[0], company_id="biz_9Jk2"),
        RDStation(api_key=KEYS[1]),
        Connectly(api_key=KEYS[2], business_id="b-31"),
        ConvertLoop(app_id="app-77", api_key=KEYS[3]),
        XAds(
            consumer_key="ck-5f1c9a7e",
            consumer_secret=KEYS[4],
            access_token="at-5f1c9a7e",
            access_token_secret="ats-5f1c9a7e",
            pixel_id="o8z6j",
            events={"purchase": "o87ne"},
        ),
        LinkedIn(access_token=KEYS[5], events={"purchase": "12345"}, clock=lambda: NOW.timestamp()),
        Reddit(access_token=KEYS[6], pixel_id="a2_px", clock=lambda: NOW.timestamp()),
        MicrosoftAds(api_token=KEYS[7], tag_id="343123456", clock=lambda: NOW.timestamp()),
    ]


def echo(vendor: str, sent: dict[str, Any]) -> tuple[int, Any]:
    """The error each vendor answers when it refuses a field, quoting what it was sent."""
    if vendor == "whop":
        user = sent["user"]
        return 422, {
            "error": {
                "type": "invalid_request_error",
                "message": f"user.phone '{user['phone']}' for {user['name']} <{user['email']}> is not valid "
                f"(event {sent['event_id']} at {sent['event_time']}, value {sent['value']})",
                "param": "user.phone",
            }
        }
    if vendor == "rdstation":
        inner = sent["payload"]
        return 400, {
            "errors": [
                {
                    "error_type": "INVALID_FORMAT",
                    "error_message": f"{inner['personal_phone']} is not a phone of {inner['name']}",
                    "path": "body.payload.personal_phone",
                },
                {"error_type": "TAKEN", "error_message": f"{inner['email']} is already a contact"},
            ]
        }
    if vendor == "connectly":
        return 400, {
            "error": {
                "status": "INVALID_ARGUMENT",
                "message": f"Meta: Invalid parameter for order {sent['payload']['order_id']}: the WhatsApp "
                "user (11) 99999-8888 (ana.souza@example.com) has no thread with ad 120210000000001",
            }
        }
    if vendor == "convertloop":
        person = sent["person"]
        return 422, {
            "errors": {
                "person": {
                    "email": [f"{person['email']} is not deliverable"],
                    "first_name": [f"{person['first_name']} {person['last_name']} is a duplicate"],
                    "phone": [f"{person['phone']} is taken"],
                }
            }
        }
    if vendor == "linkedin":
        info = sent["user"]["userInfo"]
        return 422, {
            "status": 422,
            "message": f"ERROR :: /user/userInfo :: {info['firstName']} {info['lastName']} ({EMAIL}) does not match "
            f"the member of token {KEYS[5]}\n",
        }
    if vendor == "reddit":
        event = sent["data"]["events"][0]
        return 400, {
            "error": {
                "code": 400,
                "message": f"invalid user for conversion {event['metadata']['conversion_id']} (Bearer {KEYS[6]})",
                "fields": [{"field": "data.events[0].user.email", "message": f"{EMAIL} / {PHONE} is not hashed"}],
            }
        }
    if vendor == "microsoft_ads":
        user = sent["data"][0]["userData"]
        return 400, {
            "error": {
                "code": "InvalidEvents",
                "message": f"token {KEYS[7]} refused",
                "details": [
                    {
                        "index": 0,
                        "propertyName": "userData.clientIpAddress",
                        "errorMessage": f"{user['clientIpAddress']} of {EMAIL} (+55 11 99999-8888) is not allowed",
                        "isWarning": False,
                    }
                ],
            }
        }
    conversion = sent["conversions"][0]
    return 400, {
        "errors": [
            {
                "code": "INVALID_PARAMETER",
                "message": f"conversion {conversion['conversion_id']} at {conversion['conversion_time']}: "
                f"user_agent {conversion['identifiers'][-1]['user_agent']} rejected for {EMAIL}, {PHONE}",
            }
        ]
    }


@pytest.mark.parametrize("vendor", vendors(), ids=lambda v: v.name)
def test_what_each_vendor_echoes_back_is_recorded_without_personal_data_or_credentials(vendor: Vendor) -> None:
    attr = attribution(touch(timedelta(hours=1), twclid="tw-81", li_fat_id="li-81", **CTWA))
    prepared = queued(vendor, purchase(attr, CUSTOMER))

    def answer(request: httpx2.Request) -> httpx2.Response:
        sent = json.loads(request.content)
        status, body = echo(vendor.name, sent)
        return httpx2.Response(status, json=body)

    wire, outcome = send(vendor, [prepared.payload], answer)
    assert isinstance(outcome, Failed | Retry)
    reason = outcome.reason
    assert reason.startswith("HTTP 4")
    for value in (*PERSONAL, *KEYS):
        assert value.lower() not in reason.lower(), (value, reason)
    assert "***" in reason
    # what the operator needs stays readable
    if vendor.name == "whop":
        assert f"event {prepared.payload['event_id']} at" in reason
        assert "2025-05-05T21:20:00.000Z" in reason
        assert "99.97" in reason
    if vendor.name == "rdstation":
        assert "INVALID_FORMAT" in reason
        assert "(body.payload.personal_phone)" in reason
    if vendor.name == "connectly":
        assert "order ORD-7821" in reason
    if vendor.name == "convertloop":
        assert "is not deliverable" in reason
        assert "{" not in reason  # readable text, not a Python repr
    if vendor.name == "xads":
        assert "Chrome/127.0.0.0" in reason
        assert "ORD-7821" in reason
    if vendor.name == "linkedin":
        assert "ERROR :: /user/userInfo ::" in reason
    if vendor.name == "reddit":
        assert "conversion ORD-7821" in reason
        assert "data.events[0].user.email" in reason
    if vendor.name == "microsoft_ads":
        assert "userData.clientIpAddress" in reason
        assert "203.0.113.7" not in reason
    assert all(secret not in str(wire.url) or vendor.name == "rdstation" for secret in KEYS)
    assert all(secret not in vendor.masked_url(wire) for secret in KEYS)
    assert all(secret not in " ".join(vendor.masked_headers(wire).values()) for secret in KEYS)


def test_an_acknowledgement_echoing_the_customer_is_kept_for_the_operator_and_masked_on_display() -> None:
    vendor = Whop(api_key=KEYS[0], company_id="biz_9Jk2")
    prepared = queued(vendor, purchase(attribution(), CUSTOMER))
    body = {"id": "conv_7Xy2", "created_at": "2025-05-05T21:20:01Z", **prepared.payload}
    _, outcome = send(vendor, [prepared.payload], lambda r: httpx2.Response(200, json=body))
    assert isinstance(outcome, Delivered)
    assert EMAIL in outcome.answer  # stored as the vendor answered; `attribution show` masks it
    shown = redact(outcome.answer, secrets=personal_values(prepared.payload))
    assert all(value not in shown for value in PERSONAL)
    assert '"id":"conv_7Xy2"' in shown
    assert "Chrome/127.0.0.0" in shown


@pytest.mark.parametrize("agent", USER_AGENTS)
def test_user_agents_are_left_as_they_are(agent: str) -> None:
    assert redact(agent) == agent
    assert redact_json({"context": {"user_agent": agent}}) == {"context": {"user_agent": agent}}


@pytest.mark.parametrize(
    "text",
    [
        "POST http://127.0.0.1:9/whop/conversions",
        "https://ads-api.x.com/12/measurement/conversions/o8z6j",
        "connect to 10.0.0.12:5432 failed",
        "order ORD-7821 of 2025-05-05 21:20:00 for 1,299.90 BRL (99.97 USD), 3 items, event 1746480000",
        "uuid 5408c5a3-4711-4f2e-8d0b-13407a3e30f3, pixel 1234567890123456, at 21:20:01, ratio 3:2:1",
        "ad 120210000000001 in campaign 23851234567890123, sendout so_1207, version 12, HTTP/1.1 503",
        "name can't be blank; email: is invalid; Token expired; Basic plan",
        "GET /orders/123456789012/items/2025-05-05",
    ],
)
def test_hosts_ids_dates_amounts_and_field_names_stay_readable(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail ana.souza@example.com now", "mail ***@*** now"),
        # browser ids by their shape: Meta's _fbp and _fbc (with the builder's appendix), Google Analytics' _ga
        (
            "fbp fb.1.1746480000000.1234567890, fbc fb.1.1746480000000.IwAR-x_Y.AQIBAAEA, ga GA1.1.12345.1746480000",
            "fbp ***, fbc ***, ga ***",
        ),
        # IPv6 addresses, compressed, bracketed or with an IPv4 tail; a time, a MAC address or "::" are not one
        (
            "client 2001:db8:85a3::8a2e:370:7334 [::1] ::ffff:198.51.100.7 at 12:30:45 mac aa:bb:cc:dd:ee:ff a :: b",
            "client *** [***] *** at 12:30:45 mac aa:bb:cc:dd:ee:ff a :: b",
        ),
        # the password of a URL's user info; the user name and host stay readable
        ("postgresql://shop:s3cr%40t@db.example.com:5432/orders", "postgresql://shop:***@db.example.com:5432/orders"),
        ("call +55 11 99999-8888, +1 (415) 555-0100 or +5511999998888.", "call ***, *** or ***."),
        ("call (11) 99999-8888 or 415-555-0100 or 415.555.0100", "call *** or *** or ***"),
        ("from 198.51.100.7 via Chrome/131.0.0.0", "from *** via Chrome/131.0.0.0"),
        (
            '{"name": "Ana Souza", "email": "x", "event_name": "Purchase"}',
            '{"name": "***", "email": "***", "event_name": "Purchase"}',
        ),
        ("GET /c?api_key=abc123&name=Ana&utm_source=google", "GET /c?api_key=***&name=***&utm_source=google"),
        ("Authorization: Bearer apik_0123456789", "Authorization: Bearer ***"),
        ("Authorization: Token 9944b09199c62bcf", "Authorization: Token ***"),
        ("OAUTH_TOKEN_EXPIRED: Token expired.", "OAUTH_TOKEN_EXPIRED: Token expired."),
        ('OAuth oauth_consumer_key="ck", oauth_signature="s%3D"', "OAuth ***"),
        ("Ana Souza refused", "*** refused"),
        # a path segment holding a phone (the debug line logs the path): "/" before "+" is no version
        ("GET /customers/+5511999998888/orders", "GET /customers/***/orders"),
        ("GET /p/+1-202-555-0143", "GET /p/***"),
    ],
)
def test_personal_data_and_credentials_in_free_text(text: str, expected: str) -> None:
    assert redact(text, secrets=["Ana Souza", "Ana", "Souza"]) == expected


def test_known_values_are_masked_as_whole_words_in_any_case() -> None:
    assert (
        redact("key RD-KEY-5f1c9a7e; Banana for ANA", secrets=["rd-key-5f1c9a7e", "Ana"]) == "key ***; Banana for ***"
    )
    assert redact("short ab", secrets=["ab"]) == "short ab"  # too short to mask without masking everything


def test_structured_payloads_mask_people_and_keep_the_rest() -> None:
    vendor = Whop(api_key=KEYS[0], company_id="biz_9Jk2")
    prepared = queued(vendor, purchase(attribution(touch(timedelta(hours=1))), CUSTOMER))
    masked = redact_json(prepared.payload)
    assert masked["user"]["email"] == masked["user"]["phone"] == masked["user"]["first_name"] == "***"
    assert masked["context"]["ip_address"] == "***"
    assert masked["context"]["user_agent"] == UA
    assert masked["event_time"] == prepared.payload["event_time"]
    assert masked["value"] == 99.97
    assert masked["company_id"] == "biz_9Jk2"
    hashed = redact_json({"identifiers": [{"hashed_email": "a" * 64}], "name": "purchase", "person": {"name": "Ana"}})
    assert hashed == {"identifiers": [{"hashed_email": "aaaaaaaa…"}], "name": "purchase", "person": {"name": "***"}}
    assert set(personal_values(prepared.payload)) >= {EMAIL, PHONE, "5511999998888", "Ana", "Souza", "Ana Souza"}


def test_urls_and_headers() -> None:
    url = "https://api.rd.services/platform/conversions?api_key=rd-key-5f1c9a7e&utm_source=google"
    assert redact_url(url) == "https://api.rd.services/platform/conversions?api_key=***&utm_source=google"
    assert redact_url("https://u:pw@h.example/p?Email=a%40b.co&x=1") == "https://***@h.example/p?Email=***&x=1"
    meta = "https://graph.facebook.com/v25.0/123/events?access_token=EAAB9x&appsecret_proof=6f1e2d"
    assert redact_url(meta) == "https://graph.facebook.com/v25.0/123/events?access_token=***&appsecret_proof=***"
    headers = {"Authorization": "Bearer t", "X-API-KEY": "k", "User-Agent": UA, "Host": "api.connectly.ai"}
    assert redact_headers(headers) == {
        "Authorization": "***",
        "X-API-KEY": "***",
        "User-Agent": UA,
        "Host": "api.connectly.ai",
    }


def test_the_http_clients_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    vendor = RDStation(api_key=KEYS[1])
    prepared = queued(vendor, purchase(attribution(), CUSTOMER))
    with caplog.at_level(logging.DEBUG):
        send(vendor, [prepared.payload])
    lines = [record.getMessage() for record in caplog.records if record.name == "httpx2"]
    assert lines == ['HTTP Request: POST https://api.rd.services/platform/conversions?api_key=*** "HTTP/1.1 200 OK"']


def test_the_demo_deliveries_page_masks_what_a_vendor_echoed(tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite3"
    app = create_demo(load_config({"DEMO_OUTBOX": str(path)}))
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION) as client:
        fields = {"product": "mug", "order_id": "demo-echo", "email": EMAIL, "phone": PHONE, "name": "Ana Souza"}
        assert client.post("/checkout?utm_source=x", data=fields).status_code == 200

    async def refuse_rd() -> None:
        box = SQLiteOutbox(path)
        (rd,) = await box.list(vendor="rdstation")
        await box.retry(ids=[rd.id], now=time.time())
        claimed = await claim_one(box, "w-test", "rdstation", 1, now=time.time() + 1, lease=60)
        assert [d.id for d in claimed] == [rd.id]
        error = f"HTTP 400: Ana Souza <{EMAIL}> already has {PHONE}; see https://api.rd.services/platform"
        await box.finish("w-test", [Finish(rd.id, Status.DEAD, time.time(), error=error)])
        await box.close()

    # The demo's worker stopped with the app's lifespan above: nothing claims the delivery back meanwhile.
    asyncio.run(refuse_rd())
    page = TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION).get("/deliveries").text
    assert "HTTP 400: *** &lt;***@***&gt; already has ***; see https://api.rd.services/platform" in page
    assert all(value not in page for value in (EMAIL, PHONE, "Souza"))


def test_googles_camel_case_fields_are_masked_like_their_snake_case_twins() -> None:
    """Google's REST JSON writes ``ipAddress`` and ``emailAddress``: shown and echoed, they are masked all the same."""
    event = {
        "transactionId": "ORD-1",
        "adIdentifiers": {"gclid": "Cj0K", "landingPageDeviceInfo": {"ipAddress": "2001:db8::7", "userAgent": UA}},
        "userData": {"userIdentifiers": [{"emailAddress": "a" * 64}, {"phoneNumber": "b" * 64}]},
        "hashedEmail": "c" * 64,
    }
    masked = redact_json(event)
    assert masked["adIdentifiers"]["landingPageDeviceInfo"] == {"ipAddress": "***", "userAgent": UA}
    assert masked["userData"] == {"userIdentifiers": [{"emailAddress": "***"}, {"phoneNumber": "***"}]}
    assert masked["hashedEmail"] == "cccccccc…"
    assert masked["transactionId"] == "ORD-1"
    assert set(personal_values(event)) == {"2001:db8::7", "a" * 64, "b" * 64}
    echoed = '{"ipAddress": "2001:db8::7", "emailAddress": "x@y.z", "givenName": "Ana"} at ipAddress=2001:db8::7'
    assert redact(echoed) == '{"ipAddress": "***", "emailAddress": "***", "givenName": "***"} at ipAddress=***'


def _reference_personal_values(payload: Any) -> list[str]:
    """``personal_values`` as first written, the plainest walk: the faster one must find exactly what this finds."""
    import re

    camel = re.compile(r"(?<=[a-z0-9])([A-Z])")

    def key_of(name: str) -> str:
        return camel.sub(r"_\1", name).lower() if not name.islower() else name

    found: set[str] = set()

    def walk(value: Any, key: str, depth: int) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, str | dict | list):
                    walk(v, key_of(k), depth + 1)
        elif isinstance(value, list):
            for v in value:
                walk(v, key, depth)
        elif (
            isinstance(value, str)
            and key in PERSONAL_KEYS
            and not (key == "name" and depth == 1)
            and key not in ("gender", "state", "city")
        ):
            found.add(value)
            if "name" in key:
                found.update(word for word in value.split() if len(word) >= 3)
            if "phone" in key:
                found.add(value.lstrip("+"))

    walk(payload, "", 0)
    return sorted(found)


def test_personal_values_finds_what_the_plain_walk_finds_in_every_vendors_payloads() -> None:
    from attribution.orders.identifiers import derive_all
    from tests.vendors.test_contract import SAMPLES, everything

    shapes: list[Any] = [
        {"name": "Purchase", "user": {"name": "Ana Maria Souza", "firstName": "Ana", "phoneNumber": "+5511912345678"}},
        [{"name": "top"}, [{"ipAddress": "198.51.100.7", "emails": ["a@b.co", ["c@d.co"]], "city": "Rio"}]],
        {"data": [{"user_data": {"externalIds": ["x-1", "x-2"], "clientIpAddress": "2001:db8::1", "zip": 1}}]},
        {"Name": "Title Case Name", "STATE": "SP", "gender": "f", "full_name": "Bo Li", "n": None, "v": 4.5},
        "a plain string",
    ]
    for name, make in sorted(SAMPLES.items()):
        vendor, conversion = make(), everything()
        payload = vendor.payload(conversion.with_identifiers(derive_all(vendor.identifiers, conversion.customer)))
        shapes += [payload, [payload, payload]]
        assert personal_values(payload) == _reference_personal_values(payload), name
    for shape in shapes:
        assert personal_values(shape) == _reference_personal_values(shape)
    assert personal_values(shapes[0]) == sorted({"Ana Maria Souza", "Ana", "Maria", "Souza", "+5511912345678",
                                                 "5511912345678"})  # fmt: skip
