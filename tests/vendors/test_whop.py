"""Whop: golden request from Whop's own example, event and currency rules, response classification."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from attribution.orders.conversion import Conversion, Customer, EventName, RequestContext
from attribution.vendors.base import Delivered, Failed, Retry, Secret
from attribution.vendors.whop import Whop

from .samples import NOW, UA, attribution, order, purchase, queued, response, send, touch

KEY = "apik_test_0123456789"


def whop(**options: object) -> Whop:
    options.setdefault("api_key", KEY)
    return Whop(company_id="biz_xxxxxxxxxxxxxx", **options)  # type: ignore[arg-type]


def lead_like_whops_example() -> Conversion:
    """Whop's documented example, field by field, as a conversion this library would build."""
    landing = touch(
        timedelta(hours=2),
        fbclid="IwAR2fbclid",
        gclid="Cj0KCQgclid",
        ig_sid="igsid123",
        ttclid="E.C.P.ttclid",
        ad_campaign_id="2385001",
        ad_id="2385003",
        ad_set_id="2385002",
        utm_campaign="spring",
        utm_content="video-a",
        utm_id="cmp-42",
        utm_medium="paid_social",
        utm_source="facebook",
        utm_term="pets",
    )
    attr = attribution(
        landing,
        identifiers={
            "fbp": "fb.1.1746400000000.123456789",
            "ga": "1234567890.1746400000",
            "ttp": "ttp-abc",
            "wuid": "wuid-77",
        },
    )
    return Conversion(
        event=EventName.LEAD,
        event_id="evnt_xxxxxxxxxxxxx",
        value=Decimal("6.9"),
        currency="USD",
        event_time=datetime(2023, 12, 1, 5, 0, 0, 401000, tzinfo=UTC),
        customer=Customer(
            email="  Jane.Doe@Example.com ",
            phone="+1 415 555 0100",
            first_name="Jane",
            last_name="Doe",
            city="San Francisco",
            state="CA",
            postal_code="94105",
            country="US",
            external_id="cus_991",
            birthdate=date(1990, 1, 15),
            gender="female",
        ),
        attribution=attr,
        context=RequestContext(
            ip="203.0.113.7",
            user_agent=UA,
            url="https://shop.example.com/apply",
            referrer="https://www.facebook.com/",
        ),
    )


def test_golden_request_matches_whops_example() -> None:
    vendor = whop(action_source="email")
    conversion = lead_like_whops_example()
    assert vendor.check(conversion) is None
    prepared = queued(vendor, conversion)
    assert prepared.vendor == "whop"
    assert prepared.dedup_key == "lead:evnt_xxxxxxxxxxxxx"
    assert prepared.batch_key == ""
    wire, outcome = send(vendor, [prepared.payload])

    assert wire.method == "POST"
    assert str(wire.url) == "https://api.whop.com/api/v1/conversions"
    assert wire.headers["authorization"] == f"Bearer {KEY}"
    assert wire.headers["content-type"] == "application/json"
    assert json.loads(wire.content) == {
        "company_id": "biz_xxxxxxxxxxxxxx",
        "event_name": "lead",
        "action_source": "email",
        "context": {
            "fbclid": "IwAR2fbclid",
            "fbp": "fb.1.1746400000000.123456789",
            "ga": "1234567890.1746400000",
            "gclid": "Cj0KCQgclid",
            "ig_sid": "igsid123",
            "ttclid": "E.C.P.ttclid",
            "ttp": "ttp-abc",
            "ip_address": "203.0.113.7",
            "user_agent": UA,
            "ad_campaign_id": "2385001",
            "ad_id": "2385003",
            "ad_set_id": "2385002",
            "utm_campaign": "spring",
            "utm_content": "video-a",
            "utm_id": "cmp-42",
            "utm_medium": "paid_social",
            "utm_source": "facebook",
            "utm_term": "pets",
        },
        "currency": "usd",
        "event_id": "lead:evnt_xxxxxxxxxxxxx",
        "event_time": "2023-12-01T05:00:00.401Z",
        "referrer_url": "https://www.facebook.com/",
        "url": "https://shop.example.com/apply",
        "user": {
            "anonymous_id": "wuid-77",
            "external_id": "cus_991",
            "birthdate": "1990-01-15",
            "city": "San Francisco",
            "country": "US",
            "email": "jane.doe@example.com",
            "first_name": "Jane",
            "gender": "female",
            "last_name": "Doe",
            "name": "Jane Doe",
            "phone": "+14155550100",
            "postal_code": "94105",
            "state": "CA",
        },
        "value": 6.9,
    }
    assert outcome == Delivered(answer='{"ok":true}')


def test_purchase_travels_as_custom_with_its_name_and_real_order_time() -> None:
    conversion = purchase(attribution(), order=order(time=NOW - timedelta(days=1)))
    prepared = queued(whop(), conversion)
    body = prepared.payload
    assert body["event_name"] == "custom"
    assert body["custom_name"] == "purchase"
    assert body["event_id"] == "purchase:ORD-7821"
    assert body["event_time"] == "2025-05-04T21:20:00.000Z"
    assert body["value"] == 99.97
    assert body["currency"] == "usd"
    # A visitor with nothing captured sends no empty context, and an empty customer no user.
    assert body["context"] == {"ip_address": "203.0.113.7", "user_agent": UA}
    assert "user" not in body


def test_custom_event_uses_its_own_name() -> None:
    conversion = Conversion(event="custom", custom_name="webinar_signup", event_id="w-1")
    body = whop().payload(conversion)
    assert (body["event_name"], body["custom_name"], body["event_id"]) == (
        "custom",
        "webinar_signup",
        "custom:w-1",
    )


def test_dedup_key_is_stable_across_builds() -> None:
    first = queued(whop(), purchase(attribution()))
    again = queued(whop(), purchase(attribution()))
    assert first.dedup_key == again.dedup_key == first.payload["event_id"]


def test_unlisted_currency_is_left_out_with_its_value() -> None:
    conversion = purchase(attribution(), order=order(currency="ISK", value=Decimal("1000"), items=[]))
    body = whop().payload(conversion)
    assert "currency" not in body
    assert "value" not in body


def test_unmapped_event_is_skipped_with_a_reason() -> None:
    vendor = whop(events={"lead": "lead"})
    conversion = purchase(attribution())
    assert vendor.check(conversion) == "event 'purchase' is not configured for Whop"


def test_fbclid_recovered_from_fbc_cookie_when_the_url_param_is_gone() -> None:
    clicked_ms = int((NOW - timedelta(days=3)).timestamp() * 1000)
    attr = attribution(identifiers={"fbc": f"fb.1.{clicked_ms}.IwAR-from-cookie"})
    assert whop().payload(purchase(attr))["context"]["fbclid"] == "IwAR-from-cookie"


def test_hashed_customer_email_is_not_sent_as_plain_text() -> None:
    customer = Customer(email="a" * 64)
    body = whop().payload(purchase(attribution(), customer))
    assert "user" not in body


def test_path_company_field_and_base_url_are_configurable() -> None:
    vendor = whop(base_url="http://127.0.0.1:9/api/v1/", path="events", company_field="account_id")
    prepared = queued(vendor, purchase(attribution()))
    assert prepared.payload["account_id"] == "biz_xxxxxxxxxxxxxx"
    assert "company_id" not in prepared.payload
    assert str(vendor.build_request([prepared.payload]).url) == "http://127.0.0.1:9/api/v1/events"


def test_credentials_never_in_repr_or_payload() -> None:
    vendor = whop(api_key=Secret(KEY))
    prepared = queued(vendor, purchase(attribution()))
    assert KEY not in repr(vendor)
    assert KEY not in json.dumps(prepared.payload)
    assert vendor.masked_headers(vendor.build_request([prepared.payload]))["authorization"] == "***"


def test_bad_action_source_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="action_source"):
        whop(action_source="web")


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (200, {"id": "conv_123"}, None, Delivered('{"id":"conv_123"}')),
        (
            400,
            {"error": {"message": "event_name is invalid"}},
            None,
            Failed("HTTP 400: event_name is invalid"),
        ),
        (401, {"message": "Unauthorized"}, None, Failed("HTTP 401: Unauthorized")),
        (404, {"error": "Company not found"}, None, Failed("HTTP 404: Company not found")),
        (422, None, None, Failed("HTTP 422: Unprocessable Content")),
        (408, None, None, Retry("HTTP 408: Request Timeout")),
        (429, {"message": "slow down"}, {"Retry-After": "7"}, Retry("HTTP 429: slow down", after=7.0)),
        (429, {"message": "slow down"}, None, Retry("HTTP 429: slow down")),
        (500, None, None, Retry("HTTP 500: Internal Server Error")),
        (504, None, None, Retry("HTTP 504: Gateway Timeout")),
    ],
)
def test_response_classification(status: int, body: object, headers: dict[str, str] | None, expected: object) -> None:
    assert whop().read_response(response(status, body, headers)) == expected


def test_failure_never_echoes_the_key() -> None:
    outcome = whop().read_response(response(401, text="bad token"))
    assert isinstance(outcome, Failed)
    assert KEY not in outcome.reason
