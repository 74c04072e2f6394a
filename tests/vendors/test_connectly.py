"""Connectly: golden request from Connectly's example, Click-to-WhatsApp gating, one event per call."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx2
import pytest

from attribution.capture.models import Channel
from attribution.orders.conversion import Conversion, EventName
from attribution.vendors.base import Delivered, Failed, Retry
from attribution.vendors.connectly import Connectly, ctwa_landing

from .samples import CTWA, NOW, attribution, order, purchase, queued, response, send, touch

KEY = "cnct-key-00aa11bb22"


def connectly(**options: object) -> Connectly:
    options.setdefault("api_key", KEY)
    return Connectly(business_id="biz-3141", **options)  # type: ignore[arg-type]


def ctwa_visitor(ago: timedelta = timedelta(hours=3)) -> Conversion:
    return purchase(attribution(touch(ago, Channel.PAID_SOCIAL, referrer="l.wl.co", **CTWA)))


def test_golden_request_matches_connectlys_example() -> None:
    vendor = connectly()
    conversion = ctwa_visitor()
    assert vendor.check(conversion) is None
    prepared = queued(vendor, conversion)
    assert prepared.dedup_key == "purchase:ORD-7821"
    wire, outcome = send(vendor, [prepared.payload], lambda r: httpx2.Response(200, json={"events_received": 1}))

    assert wire.method == "POST"
    assert str(wire.url) == "https://api.connectly.ai/external/v1/businesses/biz-3141/conversion_events"
    assert wire.headers["x-api-key"] == KEY
    assert wire.headers["content-type"] == "application/json"
    assert json.loads(wire.content) == {
        "cnct_tracking_id": "trk_8f3a",
        "event_name": "Purchase",
        "sendout_id": "so_1207",
        "attribution": {"meta_ctwa": {"ctwa_clid": "ARAkLk3xCTWAclid", "ad_id": "120210000000001"}},
        "payload": {
            "currency": "USD",
            "value": 99.97,
            "order_id": "ORD-7821",
            "content_type": "product",
            "content_ids": ["sku-1", "sku-2"],
            "num_items": 2,
            "contents": [
                {"id": "sku-1", "quantity": 1, "item_price": 49.99},
                {"id": "sku-2", "quantity": 1, "item_price": 49.98},
            ],
            "event_time": 1746480000,
        },
    }
    assert outcome == Delivered('{"events_received":1}')


def test_event_time_is_the_order_time_in_unix_seconds() -> None:
    attr = attribution(touch(timedelta(days=2), **CTWA))
    conversion = purchase(attr, order=order(time=NOW - timedelta(days=1, seconds=0.75)))
    assert connectly().payload(conversion)["payload"]["event_time"] == 1746480000 - 86401


def test_quantities_count_in_num_items() -> None:
    conversion = ctwa_visitor()
    items = [item.model_copy(update={"quantity": 3}) for item in conversion.items]
    bigger = purchase(conversion.attribution, order=order(items=items))
    assert connectly().payload(bigger)["payload"]["num_items"] == 6


def test_view_content_without_an_order() -> None:
    attr = attribution(touch(timedelta(minutes=5), **CTWA))
    conversion = Conversion(event=EventName.VIEW_CONTENT, event_id="view-9", attribution=attr, event_time=NOW)
    prepared = queued(connectly(), conversion)
    assert prepared.payload["event_name"] == "ViewContent"
    assert prepared.payload["payload"] == {"order_id": "view-9", "event_time": 1746480000}


def test_visitor_without_ctwa_click_does_not_apply() -> None:
    gclid_only = purchase(attribution(touch(timedelta(hours=1), Channel.PAID_SEARCH, gclid="Cj0K")))
    reason = connectly().check(gclid_only)
    assert reason == "the visitor did not come from a Click-to-WhatsApp ad (no ctwa_clid within its window)"


def test_expired_ctwa_click_does_not_apply() -> None:
    assert connectly().check(ctwa_visitor(ago=timedelta(days=8))) is not None
    assert connectly().check(ctwa_visitor(ago=timedelta(days=6))) is None


def test_incomplete_landing_names_what_is_missing() -> None:
    partial = {k: v for k, v in CTWA.items() if k not in ("sendout_id", "ad_id")}
    conversion = purchase(attribution(touch(timedelta(hours=1), **partial)))
    assert connectly().check(conversion) == "the Click-to-WhatsApp landing lacks sendout_id, ad_id"


def test_ids_come_from_one_landing_never_mixed() -> None:
    old = touch(timedelta(days=2), **CTWA)
    # A later landing with a new click but without its sendout id must not borrow the old one's.
    newer = touch(timedelta(hours=1), ctwa_clid="NEWclid", cnct_tracking_id="trk_new", ad_id="999")
    attr = attribution(old, newer)
    assert ctwa_landing(attr) is None
    assert connectly().check(purchase(attr)) == "the Click-to-WhatsApp landing lacks sendout_id"


def test_only_purchase_and_view_content_can_be_configured() -> None:
    with pytest.raises(ValueError, match="Purchase and ViewContent"):
        connectly(events={"lead": "Lead"})
    lead = Conversion(event=EventName.LEAD, attribution=ctwa_visitor().attribution)
    assert connectly().check(lead) == "event 'lead' is not configured for Connectly"


def test_a_lead_mapped_to_purchase_needs_a_value() -> None:
    vendor = connectly(events={"lead": "Purchase"})
    lead = Conversion(event=EventName.LEAD, attribution=ctwa_visitor().attribution)
    assert vendor.check(lead) == "a Connectly Purchase needs value and currency"


def test_one_event_per_call() -> None:
    assert Connectly.max_batch == 1
    payload = connectly().payload(ctwa_visitor())
    with pytest.raises(ValueError, match="connectly takes one conversion per request, not 2"):
        connectly().build_request([payload, payload])


def test_key_is_masked_and_kept_out_of_payload_and_repr() -> None:
    vendor = connectly()
    prepared = queued(vendor, ctwa_visitor())
    assert KEY not in json.dumps(prepared.payload)
    assert KEY not in repr(vendor)
    assert vendor.masked_headers(vendor.build_request([prepared.payload]))["x-api-key"] == "***"


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (200, {"events_received": 1}, None, Delivered('{"events_received":1}')),
        (
            400,
            {"code": 3, "message": "payload.currency is required for Purchase"},
            None,
            Failed("HTTP 400: payload.currency is required for Purchase"),
        ),
        (
            400,
            {"error": {"status": "INVALID_ARGUMENT", "message": "Meta: Invalid parameter"}},
            None,
            Failed("HTTP 400: INVALID_ARGUMENT: Meta: Invalid parameter"),
        ),
        (
            401,
            {"error": {"status": "UNAUTHENTICATED", "message": "bad key"}},
            None,
            Failed("HTTP 401: UNAUTHENTICATED: bad key"),
        ),
        (404, {"code": 5, "message": "business not found"}, None, Failed("HTTP 404: business not found")),
        (422, None, None, Failed("HTTP 422: Unprocessable Content")),
        (429, None, {"Retry-After": "Mon, 05 May 2125 21:20:00 GMT"}, "retry-with-delay"),
        (429, None, None, Retry("HTTP 429: Too Many Requests")),
        (502, None, None, Retry("HTTP 502: Bad Gateway")),
        (408, None, None, Retry("HTTP 408: Request Timeout")),
    ],
)
def test_response_classification(status: int, body: object, headers: dict[str, str] | None, expected: object) -> None:
    outcome = connectly().read_response(response(status, body, headers))
    if expected == "retry-with-delay":  # an HTTP date far ahead: a positive delay, measured from now
        assert isinstance(outcome, Retry)
        assert outcome.after is not None
        assert outcome.after > 3_000_000_000
    else:
        assert outcome == expected
