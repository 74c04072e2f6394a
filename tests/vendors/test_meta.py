"""Meta Conversions API: the golden request after Meta's documented example, per-field normalisation and
hashing against SHA-256 values computed outside this code base, error classification, and batch isolation
through ``read_batch`` / ``Split``."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from attribution.errors import ConfigurationError
from attribution.orders.conversion import Conversion, Customer, Order, RequestContext
from attribution.vendors.base import JSON, Delivered, Failed, Outcome, Retry, Split
from attribution.vendors.meta import MetaConversions

from .samples import NOW, UA, attribution, purchase, queued, response, send, touch

TOKEN = "EAAB-token-123"
PIXEL = "1234567890123456"
CLOCK = NOW.timestamp() + 60  # a minute after the order
FBC = "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890"
FBP = "fb.1.1558571054389.1098115397"
#: Meta's own example ``ph`` hash: SHA-256 of "12345678901", a US number written with its country code.
META_EXAMPLE_PHONE_HASH = "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4"
#: sha256("john.smith@example.com"), computed outside this code base.
EMAIL_HASH = "8e621e3d0368631d263d07a351fa8d34fba0d17c15fbcdec11a5f58008d022a0"


def meta(**options: Any) -> MetaConversions:
    settings: dict[str, Any] = {"access_token": TOKEN, "pixel_id": PIXEL, "clock": lambda: CLOCK}
    settings.update(options)
    return MetaConversions(**settings)


def metas_example() -> Conversion:
    """Meta's using-the-API example as a conversion: a website Purchase with email, phone, fbc and fbp."""
    attr = attribution(identifiers={"fbc": FBC, "fbp": FBP}, now=NOW)
    # the example's fbc is from 2019: read it with a click window that reaches back that far
    attr = attr.with_windows({"fbclid": timedelta(days=3650)}, now=NOW)
    return purchase(
        attr,
        Customer(email=" John.Smith@Example.com ", phone="+1 (234) 567-8901"),
        context=RequestContext(ip="123.123.123.123", user_agent=UA, url="http://jaspers-market.com/product/123"),
    )


def test_golden_request_after_metas_example() -> None:
    vendor = meta()
    conversion = metas_example()
    assert vendor.check(conversion) is None
    prepared = queued(vendor, conversion)
    assert prepared.dedup_key == "purchase:ORD-7821"
    assert prepared.batch_key == PIXEL
    wire, outcome = send(vendor, [prepared.payload], lambda r: httpx2.Response(200, json=_received(1)))

    assert wire.method == "POST"
    assert str(wire.url) == f"https://graph.facebook.com/v27.0/{PIXEL}/events?access_token={TOKEN}"
    assert wire.headers["content-type"] == "application/json"
    assert "authorization" not in wire.headers
    # Meta's example with this order's values; em/ph as single strings (Meta takes a string or a list).
    assert json.loads(wire.content) == {
        "data": [
            {
                "event_name": "Purchase",
                "event_time": 1746480000,
                "event_id": "ORD-7821",
                "action_source": "website",
                "event_source_url": "http://jaspers-market.com/product/123",
                "user_data": {
                    "em": EMAIL_HASH,
                    "ph": META_EXAMPLE_PHONE_HASH,
                    "client_ip_address": "123.123.123.123",
                    "client_user_agent": UA,
                    "fbc": FBC,
                    "fbp": FBP,
                },
                "custom_data": {
                    "value": 99.97,
                    "currency": "USD",
                    "order_id": "ORD-7821",
                    "content_type": "product",
                    "content_ids": ["sku-1", "sku-2"],
                    "contents": [
                        {"id": "sku-1", "quantity": 1, "item_price": 49.99},
                        {"id": "sku-2", "quantity": 1, "item_price": 49.98},
                    ],
                    "num_items": 2,
                },
            }
        ]
    }
    assert isinstance(outcome, Delivered)
    assert json.loads(outcome.answer)["events_received"] == 1


def _received(n: int) -> JSON:
    return {"events_received": n, "messages": [], "fbtrace_id": "AbCdEf123"}


# -- normalisation and hashing -----------------------------------------------------------------------------

# Expected hashes are SHA-256 of the normalised value, computed with a separate tool (not this code).
HASHES = {
    "john": "96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a",
    "smith": "6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd",
    "valéry": "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c",
    "jean luc": "a840f80e929f88163152c2dc5f35721a9534ece0ca77bfe8973ed4498a1633a6",
    "jeanluc": "7fef38066db9900f992fa9926eea8cc648f44c2af50c4d511c415422196c8ef5",
    "menlopark": "0007a3d64c01e23d5075203c5977c14e4f7e01a3fc570686fcc50b5e1dd42685",
    "newyork": "350c754ba4d38897693aa077ef43072a859d23f613443133fecbbd90a3512ca5",
    "ca": "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126",
    "ny": "1b06e2003f8420d6fa42badd8f77ec0f706b976b7a48b13c567dc5a559681683",
    "94025": "b9a9cf3cd3723a2e91b7c23ecf68456e872b6e5d86e5cab7f3d45a7302da32c7",
    "m11ae": "1dc694c2070e697769fb959b50671d76cafd430d8ca191fbdd0affcaea344ac5",
    "us": "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
    "19900214": "80fb6af0c4310e4790db22c054d0c42a95c39ae4f1e14691ffbf69ce9e612940",
    "f": "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111",
    "14155550100": "5e7ec4c79ccac6e420876e65ad0e6b4b2ccf73ec3dccb50297bf2890a1ec73b9",
    "cust-42": "8a3c5a67cad508582b5edf6b8352cea3ffbad7f44812c1a736b4444c0f5746aa",
}


def user_data(customer: Customer, vendor: MetaConversions | None = None) -> JSON:
    data: JSON = (vendor or meta()).payload(purchase(attribution(), customer))["user_data"]
    return data


def test_every_field_normalised_as_meta_says_then_hashed() -> None:
    customer = Customer(
        email="John.Smith@Example.com",
        phone="(415) 555-0100",
        phone_region="US",
        first_name="  John ",
        last_name="Smith.",
        city="Menlo Park",
        state="California",
        postal_code="94025-1234",
        country="US",
        birthdate=date(1990, 2, 14),
        gender="F",
        external_id=" cust-42 ",
    )
    assert user_data(customer) == {
        "em": EMAIL_HASH,
        "ph": HASHES["14155550100"],  # digits with the country code, no "+"
        "fn": HASHES["john"],
        "ln": HASHES["smith"],
        "ct": HASHES["menlopark"],
        "st": HASHES["ca"],  # a US state as its two-letter code
        "zp": HASHES["94025"],  # US: the five digits before the dash
        "country": HASHES["us"],
        "db": HASHES["19900214"],
        "ge": HASHES["f"],
        "external_id": HASHES["cust-42"],
        "client_ip_address": "203.0.113.7",
        "client_user_agent": UA,
    }


@pytest.mark.parametrize(
    ("customer", "key", "expected"),
    [
        (Customer(first_name="Valéry"), "fn", HASHES["valéry"]),  # non-Latin letters kept, as UTF-8
        (Customer(first_name="Jean-Luc"), "fn", HASHES["jeanluc"]),  # punctuation dropped, no space invented
        (Customer(first_name="Jean  Luc"), "fn", HASHES["jean luc"]),
        (Customer(city="New York", country="US"), "ct", HASHES["newyork"]),
        (Customer(state="NY", country="US"), "st", HASHES["ny"]),
        (Customer(state="New York", country="us"), "st", HASHES["ny"]),
        (Customer(postal_code="M1 1AE", country="GB"), "zp", HASHES["m11ae"]),
    ],
)
def test_field_normalisation(customer: Customer, key: str, expected: str) -> None:
    assert user_data(customer)[key] == expected


def test_values_already_hashed_pass_through_and_are_never_hashed_twice() -> None:
    data = user_data(Customer(email=EMAIL_HASH.upper(), external_id=HASHES["cust-42"]))
    assert data["em"] == EMAIL_HASH
    assert data["external_id"] == HASHES["cust-42"]


def test_external_id_can_travel_unhashed() -> None:
    assert user_data(Customer(external_id="cust-42"), meta(hash_external_id=False))["external_id"] == "cust-42"


def test_a_country_that_is_not_a_two_letter_code_is_left_out() -> None:
    assert "country" not in user_data(Customer(country="United States"))


def test_fbc_fbp_ip_and_user_agent_travel_unhashed_and_byte_for_byte() -> None:
    fbc = "fb.2.1746470000000.IwAR2xYz_MixedCase-123.AQICAQMC"  # 5th part: a parameter builder's appendix
    data = user_data_of(attribution(touch(timedelta(hours=2)), identifiers={"fbc": fbc, "fbp": FBP}))
    assert data["fbc"] == fbc
    assert data["fbp"] == FBP
    assert data["client_ip_address"] == "203.0.113.7"
    assert data["client_user_agent"] == UA


def user_data_of(attr: Any) -> JSON:
    data: JSON = meta().payload(purchase(attr))["user_data"]
    return data


def test_fbc_built_from_the_landings_fbclid_when_the_cookie_is_missing() -> None:
    attr = attribution(touch(timedelta(hours=3), fbclid="IwAR0Case_Sensitive"))
    clicked_ms = int((NOW - timedelta(hours=3)).timestamp() * 1000)
    assert user_data_of(attr)["fbc"] == f"fb.1.{clicked_ms}.IwAR0Case_Sensitive"


def test_an_fbc_older_than_the_click_window_is_not_sent() -> None:
    old_ms = int((NOW - timedelta(days=40)).timestamp() * 1000)
    data = user_data_of(attribution(identifiers={"fbc": f"fb.1.{old_ms}.IwAROld", "fbp": FBP}))
    assert "fbc" not in data
    assert data["fbp"] == FBP


# -- when Meta applies ---------------------------------------------------------------------------------


def test_an_event_older_than_seven_days_is_skipped_with_a_reason() -> None:
    vendor = meta(clock=lambda: NOW.timestamp() + 7 * 86400 + 3600)
    reason = vendor.check(metas_example())
    assert (
        reason
        == "the event happened 7.0 days ago: Meta refuses events older than 7 days (and every event sent with them)"
    )
    assert meta(clock=lambda: NOW.timestamp() + 7 * 86400 - 60).check(metas_example()) is None
    in_store = meta(action_source="physical_store", clock=lambda: NOW.timestamp() + 61 * 86400)
    assert in_store.check(metas_example()) is None  # Meta takes store events for 62 days
    assert "older than 62 days" in (
        meta(action_source="physical_store", clock=lambda: NOW.timestamp() + 63 * 86400).check(metas_example()) or ""
    )


def test_website_events_need_the_page_url_and_user_agent() -> None:
    webhook = purchase(attribution(), Customer(email="a@b.co"), context=RequestContext())
    assert meta().check(webhook) == (
        "Meta's website events need the page URL and the browser's user agent (no request context)"
    )
    prepared = queued(meta(action_source="system_generated"), webhook)
    assert prepared.payload["action_source"] == "system_generated"
    assert "event_source_url" not in prepared.payload


def test_an_event_without_any_customer_detail_is_skipped() -> None:
    nobody = purchase(attribution(), context=RequestContext())
    reason = meta(action_source="system_generated").check(nobody)
    assert reason == "Meta needs at least one customer detail (email, phone, fbc, fbp, IP, external id ...)"


def test_events_map_to_meta_standard_names_and_unmapped_ones_are_skipped() -> None:
    lead = Conversion(event="lead", event_id="form-9", customer=Customer(email="a@b.co"), event_time=NOW)
    vendor = meta(action_source="system_generated")
    prepared = queued(vendor, lead)
    assert (prepared.payload["event_name"], prepared.payload["event_id"]) == ("Lead", "form-9")
    assert "custom_data" not in prepared.payload
    trial = Conversion(event="custom", custom_name="StartTrial", event_id="t1", customer=Customer(email="a@b.co"))
    assert vendor.payload(trial)["event_name"] == "StartTrial"
    assert meta(events={"purchase": "Purchase"}).check(lead) == "event 'lead' is not configured for Meta"


def test_limited_data_use_and_test_event_code() -> None:
    conversion = metas_example()
    assert "data_processing_options" not in meta().payload(conversion)
    assert meta(limited_data_use=False).payload(conversion)["data_processing_options"] == []
    payload = meta(limited_data_use=True, ldu_country=1, ldu_state=1000).payload(conversion)
    assert payload["data_processing_options"] == ["LDU"]
    assert (payload["data_processing_options_country"], payload["data_processing_options_state"]) == (1, 1000)
    wire, _ = send(meta(test_event_code="TEST4039"), [payload])
    assert json.loads(wire.content)["test_event_code"] == "TEST4039"
    wire, _ = send(meta(), [payload])
    assert "test_event_code" not in json.loads(wire.content)


def test_version_base_url_and_settings_are_checked() -> None:
    vendor = meta(api_version="v24.0", base_url="http://127.0.0.1:9/graph/")
    assert vendor.url == f"http://127.0.0.1:9/graph/v24.0/{PIXEL}/events"
    with pytest.raises(ConfigurationError, match="action_source"):
        meta(action_source="fax")
    with pytest.raises(ConfigurationError, match="pixel_id"):
        meta(pixel_id="my-pixel")
    with pytest.raises(ConfigurationError, match="ldu_state"):
        meta(limited_data_use=True, ldu_state=6)


# -- credentials -----------------------------------------------------------------------------------------


def test_token_only_at_send_time_and_masked_everywhere_an_operator_looks() -> None:
    vendor = meta(app_secret="app-secret")
    prepared = queued(vendor, metas_example())
    assert TOKEN not in json.dumps(prepared.payload) + repr(vendor)
    request = vendor.build_request([prepared.payload])
    # HMAC-SHA256 of the token keyed with the app secret, computed with a separate tool
    assert request.url.params["appsecret_proof"] == "8bfe5fd75e66715e30a31fbaca1ff867ecb3d6ceba1eee80f6317542c86743e6"
    masked = vendor.masked_url(request)
    assert masked == f"https://graph.facebook.com/v27.0/{PIXEL}/events?access_token=***&appsecret_proof=***"
    assert TOKEN not in json.dumps(vendor.masked_headers(request)) + request.content.decode()


def test_error_messages_never_repeat_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"error": {"message": f"Malformed access token {TOKEN}", "type": "OAuthException", "code": 190}}
    outcome = meta().read_response(response(400, body))
    assert outcome == Failed("HTTP 400: code 190: Malformed access token ***")
    assert TOKEN not in caplog.text


# -- responses -------------------------------------------------------------------------------------------


def graph_error(code: int, subcode: int | None = None, **extra: Any) -> JSON:
    error: JSON = {"message": "An error", "type": "OAuthException", "code": code, "fbtrace_id": "Ax1"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": {**error, **extra}}


#: Meta's business-use-case usage header: this many minutes until calls are allowed again.
USAGE = '{"123": [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": 5}]}'


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (200, _received(2), None, "delivered"),
        (500, graph_error(1), None, Retry("HTTP 500: code 1: An error (fbtrace_id Ax1)")),
        (503, graph_error(2), None, Retry("HTTP 503: code 2: An error (fbtrace_id Ax1)")),
        (400, graph_error(100, is_transient=True), None, Retry("HTTP 400: code 100: An error (fbtrace_id Ax1)")),
        # rate limits: a pause of Meta's choosing, else the configured one
        (400, graph_error(4), None, Retry("HTTP 400: code 4: An error (fbtrace_id Ax1)", after=60.0)),
        (400, graph_error(17), {"Retry-After": "30"}, Retry("HTTP 400: code 17: An error (fbtrace_id Ax1)", 30.0)),
        (400, graph_error(341), None, Retry("HTTP 400: code 341: An error (fbtrace_id Ax1)", after=60.0)),
        (400, graph_error(613), None, Retry("HTTP 400: code 613: An error (fbtrace_id Ax1)", after=60.0)),
        (
            400,
            graph_error(80004),
            {"X-Business-Use-Case-Usage": USAGE},
            Retry("HTTP 400: code 80004: An error (fbtrace_id Ax1)", after=300.0),
        ),
        # permanent: token, permissions, an invalid parameter
        (400, graph_error(190, 463), None, Failed("HTTP 400: code 190/463: An error (fbtrace_id Ax1)")),
        (403, graph_error(10), None, Failed("HTTP 403: code 10: An error (fbtrace_id Ax1)")),
        (403, graph_error(200), None, Failed("HTTP 403: code 200: An error (fbtrace_id Ax1)")),
        (
            400,
            graph_error(100, 2804003, error_user_title="Event Timestamp Too Old", error_user_msg="event_time too old"),
            None,
            Failed(
                "HTTP 400: code 100/2804003: An error — Event Timestamp Too Old — event_time too old (fbtrace_id Ax1)"
            ),
        ),
        # without a Graph error body: by HTTP status
        (502, None, None, Retry("HTTP 502: Bad Gateway")),
        (404, None, None, Failed("HTTP 404: Not Found")),
    ],
)
def test_error_codes_are_classified(
    status: int, body: JSON | None, headers: dict[str, str] | None, expected: Outcome | str
) -> None:
    outcome = meta().read_response(response(status, body, headers))
    if expected == "delivered":
        assert isinstance(outcome, Delivered)
        assert json.loads(outcome.answer)["events_received"] == 2
    else:
        assert outcome == expected


def test_read_batch_splits_only_event_level_refusals_of_several_events() -> None:
    vendor = meta()
    two: list[JSON] = [{"event_id": "a"}, {"event_id": "b"}]
    invalid = response(400, graph_error(100, 2804003))
    assert vendor.read_batch(invalid, two) == Split("HTTP 400: code 100/2804003: An error (fbtrace_id Ax1)")
    assert vendor.read_batch(invalid, two[:1]) == [Failed("HTTP 400: code 100/2804003: An error (fbtrace_id Ax1)")]
    # the token or the pixel is wrong: every event fails alike, splitting would only multiply requests
    token = response(400, graph_error(190))
    assert vendor.read_batch(token, two) == [Failed("HTTP 400: code 190: An error (fbtrace_id Ax1)")] * 2
    no_pixel = response(400, graph_error(100, 33))
    assert vendor.read_batch(no_pixel, two) == [Failed("HTTP 400: code 100/33: An error (fbtrace_id Ax1)")] * 2
    busy = response(503, graph_error(2))
    assert vendor.read_batch(busy, two) == [Retry("HTTP 503: code 2: An error (fbtrace_id Ax1)")] * 2
    ok = vendor.read_batch(response(200, _received(2)), two)
    assert not isinstance(ok, Split)
    assert [type(o) for o in ok] == [Delivered, Delivered]


def isolate(vendor: MetaConversions, payloads: Sequence[JSON], client: httpx2.Client) -> dict[str, Outcome]:
    """What the worker does with ``read_batch``: send, and on ``Split`` send each half apart."""
    answer = vendor.read_batch(client.send(vendor.build_request(payloads)), payloads)
    if isinstance(answer, Split):
        assert len(payloads) > 1
        middle = len(payloads) // 2
        return {**isolate(vendor, payloads[:middle], client), **isolate(vendor, payloads[middle:], client)}
    return {p["event_id"]: outcome for p, outcome in zip(payloads, answer, strict=True)}


def test_one_stale_event_in_a_batch_of_a_thousand_dies_alone() -> None:
    vendor = meta()
    payloads = [
        vendor.payload(purchase(attribution(), Customer(email=f"b{i}@example.com"), order=_order(i)))
        for i in range(1000)
    ]
    payloads[613] = {**payloads[613], "event_time": payloads[613]["event_time"] - 8 * 86400}
    seen: list[int] = []

    def like_meta(request: httpx2.Request) -> httpx2.Response:
        data = json.loads(request.content)["data"]
        seen.append(len(data))
        if any(e["event_time"] < CLOCK - 7 * 86400 for e in data):
            return httpx2.Response(400, json=graph_error(100, 2804003), request=request)
        return httpx2.Response(200, json=_received(len(data)), request=request)

    with httpx2.Client(transport=httpx2.MockTransport(like_meta)) as client:
        outcomes = isolate(vendor, payloads, client)
    assert len(outcomes) == 1000
    assert isinstance(outcomes["ORD-613"], Failed)
    assert all(isinstance(o, Delivered) for k, o in outcomes.items() if k != "ORD-613")
    assert seen[0] == 1000
    assert len(seen) == 21  # the whole batch, then both halves at each of the ten levels down to one event


def test_up_to_a_thousand_events_per_request() -> None:
    assert MetaConversions.max_batch == 1000
    vendor = meta()
    one = vendor.payload(metas_example())
    wire, _ = send(vendor, [one] * 1000)
    assert len(json.loads(wire.content)["data"]) == 1000
    with pytest.raises(ValueError, match="1 to 1000"):
        vendor.build_request([one] * 1001)
    with pytest.raises(ValueError, match="1 to 1000"):
        vendor.build_request([])


def _order(i: int) -> Order:
    return Order(id=f"ORD-{i}", value=Decimal("10"), currency="USD", time=NOW)
