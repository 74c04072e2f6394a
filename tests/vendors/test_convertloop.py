"""ConvertLoop: golden event log, Basic auth, who it applies to, the occurrence-time key."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from attribution.capture.models import Channel
from attribution.orders.conversion import Conversion, Customer, EventName
from attribution.vendors.base import Delivered, Failed, Retry
from attribution.vendors.convertloop import ConvertLoop

from .samples import NOW, attribution, purchase, queued, response, send, touch

APP_ID = "app-123"
KEY = "cl-secret-key-456"


def convertloop(**options: object) -> ConvertLoop:
    options.setdefault("api_key", KEY)
    return ConvertLoop(app_id=APP_ID, **options)  # type: ignore[arg-type]


def captured_visitor() -> Conversion:
    landing = touch(
        timedelta(hours=4),
        Channel.PAID_SEARCH,
        referrer="www.google.com",
        gclid="Cj0KCQ",
        utm_source="google",
        utm_medium="cpc",
        utm_campaign="brand",
    )
    attr = attribution(landing, identifiers={"dp_pid": "pid-3f2a9c", "ga": "111.222"})
    customer = Customer(
        email="Ana@Example.com", first_name="Ana", last_name="Lima", phone="+5511912345678", user_id="u-42"
    )
    return purchase(attr, customer)


def test_golden_event_log() -> None:
    vendor = convertloop(add_to_segments=["Buyers"])
    conversion = captured_visitor()
    assert vendor.check(conversion) is None
    prepared = queued(vendor, conversion)
    assert prepared.dedup_key == "purchase:ORD-7821"
    wire, outcome = send(vendor, [prepared.payload])

    assert wire.method == "POST"
    assert str(wire.url) == "https://api.convertloop.co/v1/event_logs"
    assert wire.headers["authorization"] == "Basic " + base64.b64encode(b"app-123:cl-secret-key-456").decode()
    assert wire.headers["content-type"] == "application/json"
    assert json.loads(wire.content) == {
        "name": "purchase",
        "ocurred_at": "2025-05-05T21:20:00Z",
        "person": {
            "pid": "pid-3f2a9c",
            "user_id": "u-42",
            "email": "ana@example.com",
            "first_name": "Ana",
            "last_name": "Lima",
            "phone": "+5511912345678",
            "add_to_segments": ["Buyers"],
        },
        "metadata": {
            "order_id": "ORD-7821",
            "value": 99.97,
            "currency": "USD",
            "num_items": 2,
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": "brand",
            "gclid": "Cj0KCQ",
            "channel": "paid_search",
            "referrer": "www.google.com",
        },
    }
    assert outcome == Delivered('{"ok":true}')


@pytest.mark.parametrize("key", ["ocurred_at", "occured_at", "occurred_at"])
def test_occurrence_time_key_is_configurable(key: str) -> None:
    body = convertloop(occurred_at_key=key).payload(captured_visitor())
    assert body[key] == "2025-05-05T21:20:00Z"
    assert [k for k in body if k.endswith("_at")] == [key]


def test_unknown_occurrence_key_is_refused() -> None:
    with pytest.raises(ValueError, match="occurred_at_key"):
        convertloop(occurred_at_key="time")


@pytest.mark.parametrize(
    ("identifiers", "customer", "expected_person"),
    [
        ({"dp_pid": "p1"}, Customer(), {"pid": "p1"}),
        ({}, Customer(email="a@b.co"), {"email": "a@b.co"}),
        ({}, Customer(external_id="cust-9"), {"user_id": "cust-9"}),
    ],
)
def test_any_one_identity_is_enough(
    identifiers: dict[str, str], customer: Customer, expected_person: dict[str, str]
) -> None:
    conversion = Conversion(
        event=EventName.LEAD,
        event_id="l1",
        event_time=NOW,
        customer=customer,
        attribution=attribution(identifiers=identifiers),
    )
    assert convertloop().check(conversion) is None
    body = convertloop().payload(conversion)
    assert body == {"name": "lead", "ocurred_at": "2025-05-05T21:20:00Z", "person": expected_person}


def test_without_pid_email_or_user_id_it_does_not_apply() -> None:
    anonymous = purchase(attribution(touch(timedelta(hours=1), gclid="Cj0")), Customer(phone="+14155550100"))
    assert (
        convertloop().check(anonymous) == "ConvertLoop needs a pid (dp_pid cookie), an email in clear text or a user id"
    )


def test_no_dedup_key() -> None:
    assert ConvertLoop.has_dedup_key is False
    assert convertloop(retry_ambiguous=False).retry_ambiguous is False


def test_secret_stays_out_of_payload_and_repr() -> None:
    vendor = convertloop()
    prepared = queued(vendor, captured_visitor())
    assert KEY not in json.dumps(prepared.payload)
    assert KEY not in repr(vendor)
    assert vendor.masked_headers(vendor.build_request([prepared.payload]))["authorization"] == "***"


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (200, {"success": True}, None, Delivered('{"success":true}')),
        (400, {"error": "name can't be blank"}, None, Failed("HTTP 400: name can't be blank")),
        (401, {"message": "Invalid credentials"}, None, Failed("HTTP 401: Invalid credentials")),
        (404, None, None, Failed("HTTP 404: Not Found")),
        (422, {"errors": {"email": ["is invalid"]}}, None, Failed("HTTP 422: email: is invalid")),
        (429, None, {"Retry-After": "12"}, Retry("HTTP 429: Too Many Requests", after=12.0)),
        (429, None, None, Retry("HTTP 429: Too Many Requests")),
        (500, {"error": "Internal Server Error"}, None, Retry("HTTP 500: Internal Server Error")),
        (408, None, None, Retry("HTTP 408: Request Timeout")),
    ],
)
def test_response_classification(status: int, body: object, headers: dict[str, str] | None, expected: object) -> None:
    assert convertloop().read_response(response(status, body, headers)) == expected
