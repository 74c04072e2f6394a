"""The vendor's own words survive in ``last_error``: redacted, readable, whatever shape the body has."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from attribution.orders.conversion import Customer
from attribution.vendors import ConvertLoop, RDStation, Vendor, Whop
from attribution.vendors.base import Failed, Retry

from .samples import attribution, purchase, queued, send

EMAIL = "ana.souza@example.com"
KEY = "rd-key-5f1c9a7e"


def reason_for(vendor: Vendor, status: int, **body: Any) -> str:
    """The reason recorded when ``vendor`` answers a real request for Ana's purchase with this body."""
    customer = Customer(email=EMAIL, phone="+5511999998888", first_name="Ana", last_name="Souza")
    prepared = queued(vendor, purchase(attribution(), customer))
    _, outcome = send(vendor, [prepared.payload], lambda r: httpx2.Response(status, **body))
    assert isinstance(outcome, Failed | Retry)
    return outcome.reason


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # RD's newer APIs: a list of objects with other keys than error_type/error_message
        (
            {"json": {"errors": [{"code": "INVALID_EMAIL", "detail": f"{EMAIL} is invalid", "field": "email"}]}},
            'HTTP 400: {"errors":[{"code":"INVALID_EMAIL","detail":"***@*** is invalid","field":"email"}]}',
        ),
        ({"json": {"errors": ["Invalid payload"]}}, 'HTTP 400: {"errors":["Invalid payload"]}'),
        (
            {"json": {"message": "Conversion identifier is too long"}},
            'HTTP 400: {"message":"Conversion identifier is too long"}',
        ),
        (
            {
                "text": f"<html><head><title>400 Bad Request</title></head><body><h1>Bad Request</h1>"
                f"<p>POST /platform/conversions?api_key={KEY} refused</p></body></html>",
                "headers": {"content-type": "text/html"},
            },
            "HTTP 400: 400 Bad Request Bad Request POST /platform/conversions?api_key=*** refused",
        ),
        ({"text": "   "}, "HTTP 400: Bad Request"),
    ],
)
def test_rd_station_keeps_a_readable_excerpt_when_the_error_shape_is_unexpected(
    body: dict[str, Any], expected: str
) -> None:
    assert reason_for(RDStation(api_key=KEY), 400, **body) == expected


def test_convertloop_errors_read_as_text_not_as_a_python_repr() -> None:
    errors = {"errors": {"email": [f"{EMAIL} is invalid"], "person": {"pid": ["can't be blank"]}}}
    reason = reason_for(ConvertLoop(app_id="app-1", api_key="cl-key-5f1c9a7e"), 422, json=errors)
    assert reason == "HTTP 422: email: ***@*** is invalid; person: pid: can't be blank"


def test_text_is_redacted_before_it_is_cut() -> None:
    # Cut first, the text would end in "ana.souza@exa", which no longer looks like an address.
    reason = reason_for(Whop(api_key="whop-key-5f1c9a7e", company_id="biz_1"), 400, text="error " * 81 + EMAIL)
    assert len(reason) == 500
    assert reason.endswith("error ***@")
    assert "ana" not in reason
    long_key = reason_for(RDStation(api_key=KEY), 400, text="y" * 488 + KEY)
    assert KEY[:5] not in long_key


def test_tiktok_and_google_ads_echoes_of_the_customer_are_masked_in_the_reason() -> None:
    from attribution.vendors import GoogleAds, TikTok

    tiktok = TikTok(access_token="tt-token-7c1d", pixel_code="COQDA8RC77U2TMR44LI0")
    echoed = reason_for(tiktok, 200, json={"code": 40002, "message": f"user.email {EMAIL} is not hashed"})
    assert echoed == "TikTok 40002: user.email ***@*** is not hashed"

    google = GoogleAds(
        api="google_ads",
        customer_id="1234567890",
        developer_token="dev-token-1f2e",
        client_id="client.apps.googleusercontent.com",
        client_secret="client-secret-9a8b",
        refresh_token="refresh-token-3c4d",
        conversion_actions={"purchase": "987654321"},
        enhanced_conversions=True,
    )
    row_error = {
        "errorCode": {"conversionUploadError": "INVALID_USER_IDENTIFIER"},
        "message": f"identifier for {EMAIL} is not usable",
        "location": {"fieldPathElements": [{"fieldName": "conversions", "index": 0}]},
    }
    partial = {
        "results": [{}],
        "partialFailureError": {
            "code": 3,
            "message": "partial failure",
            "details": [
                {"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure", "errors": [row_error]}
            ],
        },
    }
    reason = reason_for(google, 200, json=partial)
    assert EMAIL not in reason
    assert "***@***" in reason
    refused = reason_for(
        google, 400, json={"error": {"code": 400, "message": f"bad value {EMAIL}", "status": "INVALID_ARGUMENT"}}
    )
    assert EMAIL not in refused
