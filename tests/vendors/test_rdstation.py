"""RD Station: golden request from RD's example, traffic fields from the last campaign touch, key masking."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx2
import pytest

from attribution.capture.models import Channel
from attribution.orders.conversion import Conversion, Customer, EventName
from attribution.vendors.base import Delivered, Failed, Retry
from attribution.vendors.rdstation import RDStation, tracking_id

from .samples import attribution, purchase, queued, response, send, touch

KEY = "rd-conv-key-5f1c9a7e"


def rd(**options: object) -> RDStation:
    options.setdefault("api_key", KEY)
    return RDStation(**options)  # type: ignore[arg-type]


def test_golden_request_matches_rds_example() -> None:
    vendor = rd(events={"lead": "Conversão exemplo"})
    conversion = Conversion(event=EventName.LEAD, event_id="form-1", customer=Customer(email="conversao@exemplo.com"))
    assert vendor.check(conversion) is None
    prepared = queued(vendor, conversion)
    wire, outcome = send(
        vendor,
        [prepared.payload],
        lambda r: httpx2.Response(200, json={"event_uuid": "5408c5a3-4711-4f2e-8d0b-13407a3e30f3"}),
    )

    assert wire.method == "POST"
    assert str(wire.url) == f"https://api.rd.services/platform/conversions?api_key={KEY}"
    assert wire.headers["content-type"] == "application/json"
    assert "authorization" not in wire.headers
    assert json.loads(wire.content) == {
        "event_type": "CONVERSION",
        "event_family": "CDP",
        "payload": {"conversion_identifier": "Conversão exemplo", "email": "conversao@exemplo.com"},
    }
    assert outcome == Delivered('{"event_uuid":"5408c5a3-4711-4f2e-8d0b-13407a3e30f3"}')


def test_full_payload_from_captured_attribution() -> None:
    older = touch(timedelta(days=9), utm_source="google", utm_medium="cpc", utm_campaign="brand", utm_term="shoes")
    newest = touch(
        timedelta(hours=1),
        Channel.EMAIL,
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="may",
        utm_content="hero",
    )
    direct = touch(timedelta(minutes=5), Channel.DIRECT)
    attr = attribution(older, newest, direct, identifiers={"rdtrk": "%7B%22id%22%3A%22a1b2c3d4-rd%22%7D"})
    vendor = rd(
        custom_fields={"utm_content": "cf_utm_content", "order_id": "cf_pedido", "value": "cf_valor"},
        tags=["site", "checkout"],
        available_for_mailing=True,
        legal_bases=[{"category": "communications", "type": "consent", "status": "granted"}],
        phone_field="mobile_phone",
    )
    customer = Customer(
        email="Ana@Exemplo.com.br",
        phone="11 91234-5678",
        country="BR",
        first_name="Ana",
        last_name="Lima",
        city="São Paulo",
        state="SP",
    )
    prepared = queued(vendor, purchase(attr, customer))
    assert prepared.dedup_key == "purchase:ORD-7821"
    assert prepared.payload == {
        "event_type": "CONVERSION",
        "event_family": "CDP",
        "payload": {
            "conversion_identifier": "purchase",
            "email": "ana@exemplo.com.br",
            "name": "Ana Lima",
            "mobile_phone": "+5511912345678",
            "city": "São Paulo",
            "state": "SP",
            "country": "BR",
            # the newest touch that carried UTMs, not the later direct visit, nor the older campaign
            "traffic_source": "newsletter",
            "traffic_medium": "email",
            "traffic_campaign": "may",
            "client_tracking_id": "a1b2c3d4-rd",
            "cf_utm_content": "hero",
            "cf_pedido": "ORD-7821",
            "cf_valor": "99.97",
            "tags": ["site", "checkout"],
            "available_for_mailing": True,
            "legal_bases": [{"category": "communications", "type": "consent", "status": "granted"}],
        },
    }


def test_without_email_rd_does_not_apply() -> None:
    conversion = purchase(attribution(), Customer(phone="+14155550100"))
    assert rd().check(conversion) == "RD Station needs the customer's email (in clear text)"
    hashed = purchase(attribution(), Customer(email="b" * 64))
    assert rd().check(hashed) == "RD Station needs the customer's email (in clear text)"


def test_custom_event_is_its_own_conversion_identifier() -> None:
    conversion = Conversion(event="custom", custom_name="Webinar maio", customer=Customer(email="x@y.com"))
    assert rd().payload(conversion)["payload"]["conversion_identifier"] == "Webinar maio"


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        ("%7B%22id%22%3A%22a1b2%22%7D", "a1b2"),
        ('{"id":"a1b2"}', "a1b2"),
        ("plain-id-123", "plain-id-123"),
        ("%7B%22other%22%3A1%7D", "%7B%22other%22%3A1%7D"),
        (None, None),
    ],
)
def test_tracking_id_from_rdtrk_cookie(cookie: str | None, expected: str | None) -> None:
    assert tracking_id(cookie) == expected


def test_no_dedup_key_so_ambiguous_retries_are_a_choice() -> None:
    assert RDStation.has_dedup_key is False
    assert rd().retry_ambiguous is True
    assert rd(retry_ambiguous=False).retry_ambiguous is False


def test_key_is_masked_in_url_repr_and_errors() -> None:
    vendor = rd()
    request = vendor.build_request([{"event_type": "CONVERSION"}])
    assert vendor.masked_url(request) == "https://api.rd.services/platform/conversions?api_key=***"
    assert KEY not in repr(vendor)
    echoed = response(401, text=f"invalid api_key {KEY} for https://api.rd.services/platform/conversions?api_key={KEY}")
    outcome = vendor.read_response(echoed)
    assert isinstance(outcome, Failed)
    assert KEY not in outcome.reason
    assert "***" in outcome.reason


def test_key_cut_at_the_length_limit_does_not_survive() -> None:
    vendor = rd()
    text = "x" * 495 + KEY  # the base class would cut to 500 characters: half a key
    outcome = vendor.read_response(response(400, text=text))
    assert isinstance(outcome, Failed)
    assert KEY[:5] not in outcome.reason


def test_bad_custom_field_name_is_refused() -> None:
    with pytest.raises(ValueError, match="cf_"):
        rd(custom_fields={"utm_content": "utm_content"})


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (200, {"event_uuid": "u-1"}, None, Delivered('{"event_uuid":"u-1"}')),
        (
            400,
            {
                "errors": [
                    {
                        "error_type": "CANNOT_BE_NULL",
                        "error_message": "Cannot be null.",
                        "path": "body.payload.email",
                    }
                ]
            },
            None,
            Failed("HTTP 400: CANNOT_BE_NULL: Cannot be null. (body.payload.email)"),
        ),
        (
            400,
            {"errors": {"email": [{"error_type": "INVALID_FORMAT", "error_message": "Email is invalid"}]}},
            None,
            Failed("HTTP 400: INVALID_FORMAT: Email is invalid (email)"),
        ),
        (
            401,
            {"errors": [{"error_type": "UNAUTHORIZED", "error_message": "Invalid token."}]},
            None,
            Failed("HTTP 401: UNAUTHORIZED: Invalid token."),
        ),
        (404, None, None, Failed("HTTP 404: Not Found")),
        (
            422,
            {"errors": [{"error_type": "INVALID", "error_message": "bad"}]},
            None,
            Failed("HTTP 422: INVALID: bad"),
        ),
        (429, None, {"Retry-After": "60"}, Retry("HTTP 429: Too Many Requests", after=60.0)),
        (429, None, None, Retry("HTTP 429: Too Many Requests")),
        (503, None, None, Retry("HTTP 503: Service Unavailable")),
        (504, None, None, Retry("HTTP 504: Gateway Timeout")),
    ],
)
def test_response_classification(status: int, body: object, headers: dict[str, str] | None, expected: object) -> None:
    assert rd().read_response(response(status, body, headers)) == expected
