"""Corrections of a conversion Google already holds, on the Google Ads API (``api="google_ads"``):
``uploadConversionAdjustments`` RESTATEMENT and RETRACTION by order id, golden bodies, and the whole life of one
order against the strict fake (restated, restated again, replayed, retracted, refused after the retraction)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from attribution.delivery.sending import Sender
from attribution.orders.conversion import Conversion
from attribution.vendors.base import Delivered, Failed, Retry

from .google_fakes import CREDENTIALS, google_ads, partial_failure, row_error
from .google_server import FakeGoogle
from .samples import NOW, attribution, order, purchase, response, touch

ACTION = "customers/1234567890/conversionActions/987654321"


def clicked(value: str = "99.97") -> Conversion:
    return purchase(
        attribution(touch(timedelta(hours=30), gclid="Cj0KCQ-adjust")),
        order=order(id="ORD-7821", value=Decimal(value)),
    )


def test_golden_restatement_and_retraction() -> None:
    vendor = google_ads()
    assert vendor.corrections == frozenset({"restate", "retract"})
    at = NOW + timedelta(days=2, hours=3)
    restated = vendor.correction(clicked("60.00"), "restate", at)
    assert restated == {
        "conversionAction": ACTION,
        "adjustmentType": "RESTATEMENT",
        "adjustmentDateTime": "2025-05-08 00:20:00+00:00",
        "orderId": "ORD-7821",
        "restatementValue": {"adjustedValue": 60.0, "currencyCode": "USD"},
    }
    retracted = vendor.correction(clicked(), "retract", at)
    assert retracted == {
        "conversionAction": ACTION,
        "adjustmentType": "RETRACTION",
        "adjustmentDateTime": "2025-05-08 00:20:00+00:00",
        "orderId": "ORD-7821",
    }
    assert vendor.correction_batch_key(clicked(), "retract") == "retract:1234567890"
    request = vendor.build_request([restated])
    assert str(request.url) == "https://googleads.googleapis.com/v26/customers/1234567890:uploadConversionAdjustments"
    assert request.headers["developer-token"] == CREDENTIALS["developer_token"]
    assert json.loads(request.content) == {"conversionAdjustments": [restated], "partialFailure": True}
    with pytest.raises(ValueError, match="requests of their own"):
        vendor.build_request([restated, vendor.payload(clicked())])


def test_an_adjustment_is_dated_after_its_conversion_and_the_same_on_every_attempt() -> None:
    vendor = google_ads()
    early = vendor.correction(clicked(), "retract", NOW - timedelta(minutes=5))  # a clock behind the order's
    assert early["adjustmentDateTime"] == "2025-05-05 21:20:01+00:00"
    at = datetime(2025, 5, 6, 9, 0, tzinfo=UTC)
    assert vendor.correction(clicked(), "restate", at) == vendor.correction(clicked(), "restate", at)


def test_adjustment_rows_a_replay_is_delivered_a_young_conversion_waits() -> None:
    vendor = google_ads()
    rows = [vendor.correction(clicked(), kind, NOW + timedelta(days=1)) for kind in ("restate", "retract", "restate")]
    errors = [
        {**row_error(0, "conversionAdjustmentUploadError", "RESTATEMENT_ALREADY_EXISTS", "exists"), "location": _at(0)},
        {**row_error(1, "conversionAdjustmentUploadError", "CONVERSION_ALREADY_RETRACTED", "gone"), "location": _at(1)},
        {**row_error(2, "conversionAdjustmentUploadError", "TOO_RECENT_CONVERSION", "young"), "location": _at(2)},
    ]
    outcomes = vendor.read_batch(response(200, partial_failure([{}, {}, {}], errors)), rows)
    assert outcomes == [
        Delivered("already recorded (RESTATEMENT_ALREADY_EXISTS)"),
        Delivered("already recorded (CONVERSION_ALREADY_RETRACTED)"),
        Retry("conversionAdjustmentUploadError.TOO_RECENT_CONVERSION: young", after=6 * 3600.0),
    ]


def _at(index: int) -> dict[str, Any]:
    return {"fieldPathElements": [{"fieldName": "conversion_adjustments", "index": index}]}


async def test_one_orders_life_against_the_strict_fake() -> None:
    fake, vendor = FakeGoogle(), google_ads(base_url="http://google.test", token_url="http://google.test/token")
    conversion = clicked()
    later = NOW + timedelta(days=2)
    transport = httpx2.ASGITransport(app=fake.app())
    async with httpx2.AsyncClient(transport=transport) as client:
        send = Sender(client)

        async def one(payload: dict[str, Any]) -> Any:
            (outcome,) = await send(vendor, [payload])
            return outcome

        assert isinstance(await one(vendor.payload(conversion)), Delivered)
        assert isinstance(await one(vendor.correction(clicked("80.00"), "restate", later)), Delivered)
        assert await one(vendor.correction(clicked("80.00"), "restate", later)) == Delivered(
            "already recorded (RESTATEMENT_ALREADY_EXISTS)"
        )
        stale = await one(vendor.correction(clicked("70.00"), "restate", later - timedelta(hours=1)))
        assert stale == Failed(
            "conversionAdjustmentUploadError.MORE_RECENT_RESTATEMENT_FOUND: MORE_RECENT_RESTATEMENT_FOUND"
        )
        assert isinstance(await one(vendor.correction(conversion, "retract", later + timedelta(hours=1))), Delivered)
        assert await one(vendor.correction(conversion, "retract", later + timedelta(hours=1))) == Delivered(
            "already recorded (CONVERSION_ALREADY_RETRACTED)"
        )
        after = await one(vendor.correction(clicked("10.00"), "restate", later + timedelta(hours=2)))
        assert after == Failed(
            "conversionAdjustmentUploadError.CONVERSION_ALREADY_RETRACTED: CONVERSION_ALREADY_RETRACTED"
        )
        unknown = purchase(attribution(touch(timedelta(hours=30), gclid="g")), order=order(id="ORD-NEVER"))
        missing = await one(vendor.correction(unknown, "retract", later))
        assert missing == Failed("conversionAdjustmentUploadError.CONVERSION_NOT_FOUND: CONVERSION_NOT_FOUND")
    adjustments = fake.adjusted[(ACTION, "ORD-7821")]
    assert [(a["adjustmentType"], a.get("restatementValue")) for a in adjustments] == [
        ("RESTATEMENT", {"adjustedValue": 80.0, "currencyCode": "USD"}),
        ("RETRACTION", None),
    ]
