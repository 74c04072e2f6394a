"""Pinterest Conversions API (v5 ``events``): the reference's request shape with golden digests, the epik /
_epik fallback, Limited Data Processing from consent, per-event answers, and real requests against a strict
fake Pinterest on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import httpx2
import pytest

from attribution.capture.consent import Consent
from attribution.errors import ConfigurationError
from attribution.orders.conversion import Customer, EventName, LineItem
from attribution.vendors.base import JSON, Delivered, Failed, Outcome, Retry, Split
from attribution.vendors.pinterest import PinterestConversions
from tests.support.servers import Serve

from .fake_pinterest import FakePinterest
from .samples import UA, attribution, order, purchase, queued, response, send, touch

TOKEN = "pina_conversion-token-0123456789"
ACCOUNT = "549755885175"

#: Golden SHA-256 digests, computed apart from the library with ``printf '%s' VALUE | sha256sum``.
GOLDEN = {
    "buyer.name@example.com": "2ac79f17f084139bed8511045f64c79525689ff8fcff1480d07c75882f2f770f",
    "5511987654321": "029c7290f14c4516673508635f0519db95f7daf42057fd0e4ad1de84c5408a66",
    "mary-ann": "ed4bdd3a7368920a4d1f4e692201f7a4aee19278a930c824649af01bbc38c63f",
    "o'brien smith": "a3a50a85d157cab1b8d675e89ac8c4d648cf141259bda4ab246c681f330ab5c8",
    "f": "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111",
    "19900214": "80fb6af0c4310e4790db22c054d0c42a95c39ae4f1e14691ffbf69ce9e612940",
    "sãopaulo": "3eda1428ae1aece064071f8d40f08fe2bc59ffa66c171a163caf15122ec4d7f0",
    "sp": "be18b85f77fc024db379acf19e8a1ce62307ab7bb1bca395389ecfc2dafaf741",
    "01310100": "9a4a139dfbfcd2fc89a3cb4302dad65a35abd8d29a56c09a962b69c5cf3bca40",
    "br": "885036a0da3dff3c3e05bc79bf49382b12bc5098514ed57ce0875aba1aa2c40d",
    "cust-42": "8a3c5a67cad508582b5edf6b8352cea3ffbad7f44812c1a736b4444c0f5746aa",
}


def pinterest(**options: Any) -> PinterestConversions:
    options.setdefault("access_token", TOKEN)
    options.setdefault("ad_account_id", ACCOUNT)
    return PinterestConversions(**options)


def customer() -> Customer:
    return Customer(
        email="  Buyer.Name@Example.COM ",
        phone="+55 11 98765-4321",
        first_name="Mary-Ann",
        last_name="O'Brien Smith",
        gender="F",
        birthdate=date(1990, 2, 14),
        city="São Paulo",
        state="SP",
        postal_code="01310-100",
        country="BR",
        external_id="cust-42",
    )


def pinterest_visitor(*, click: timedelta | None = timedelta(days=3), cookie: str | None = "dj0yJnU9cookie") -> Any:
    landing = [touch(click, epik="dj0yJnU9click-from-the-ad", utm_source="pinterest")] if click else []
    return attribution(*landing, identifiers={"epik": cookie} if cookie else {})


def test_golden_request_follows_the_reference_with_arrays_of_digests_and_decimal_strings() -> None:
    vendor = pinterest()
    conversion = purchase(pinterest_visitor(), customer())
    assert vendor.check(conversion) is None
    prepared = queued(vendor, conversion)
    assert (prepared.vendor, prepared.dedup_key, prepared.batch_key) == ("pinterest", "purchase:ORD-7821", ACCOUNT)
    wire, _ = send(vendor, [prepared.payload])

    assert wire.method == "POST"
    assert str(wire.url) == f"https://api.pinterest.com/v5/ad_accounts/{ACCOUNT}/events"
    assert wire.headers["authorization"] == f"Bearer {TOKEN}"
    assert wire.headers["content-type"] == "application/json"
    g = GOLDEN
    assert json.loads(wire.content) == {
        "data": [
            {
                "event_name": "checkout",
                "action_source": "web",
                "event_time": 1746480000,
                "event_id": "ORD-7821",
                "user_data": {
                    "em": [g["buyer.name@example.com"]],
                    "ph": [g["5511987654321"]],
                    "fn": [g["mary-ann"]],
                    "ln": [g["o'brien smith"]],
                    "ge": [g["f"]],
                    "db": [g["19900214"]],
                    "ct": [g["sãopaulo"]],
                    "st": [g["sp"]],
                    "zp": [g["01310100"]],
                    "country": [g["br"]],
                    "external_id": [g["cust-42"]],
                    "click_id": "dj0yJnU9click-from-the-ad",
                    "client_ip_address": "203.0.113.7",
                    "client_user_agent": UA,
                },
                "event_source_url": "https://shop.example.com/checkout",
                "custom_data": {
                    "value": "99.97",
                    "currency": "USD",
                    "order_id": "ORD-7821",
                    "content_ids": ["sku-1", "sku-2"],
                    "contents": [
                        {
                            "id": "sku-1",
                            "item_name": "Blanket",
                            "item_category": "Pet supplies",
                            "item_price": "49.99",
                            "quantity": 1,
                        },
                        {
                            "id": "sku-2",
                            "item_name": "Bowl",
                            "item_category": "Pet supplies",
                            "item_price": "49.98",
                            "quantity": 1,
                        },
                    ],
                    "num_items": 2,
                },
            }
        ]
    }


def test_the_click_id_is_the_ads_epik_else_the_tags_epik_cookie() -> None:
    vendor = pinterest()

    def click_id(attr: Any) -> Any:
        return queued(vendor, purchase(attr)).payload["user_data"].get("click_id")

    assert click_id(pinterest_visitor()) == "dj0yJnU9click-from-the-ad"
    assert click_id(pinterest_visitor(click=None)) == "dj0yJnU9cookie"
    assert click_id(pinterest_visitor(click=timedelta(days=31))) == "dj0yJnU9cookie"  # the click's 30 days are over
    assert click_id(pinterest_visitor(click=timedelta(days=31), cookie=None)) is None


def test_amounts_are_decimal_strings_never_exponents() -> None:
    big = order(value="100", items=[LineItem(id="gift", price="1E+2")])
    custom = queued(pinterest(), purchase(attribution(), order=big)).payload["custom_data"]
    assert custom["value"] == "100"
    assert custom["contents"][0]["item_price"] == "100"


def test_limited_data_processing_follows_the_visitors_consent_unless_configured() -> None:
    def opt_out(vendor: PinterestConversions, consent: Consent) -> Any:
        return queued(vendor, purchase(attribution(), consent=consent)).payload["custom_data"].get("opt_out_type")

    refused = Consent(ad_personalization=False, decided=True)
    granted = Consent(decided=True)
    assert opt_out(pinterest(), refused) == "LDP"
    assert opt_out(pinterest(), granted) is None
    assert opt_out(pinterest(), Consent()) is None  # no hook: nothing is claimed
    only_pinterest = Consent(decided=True, vendors={"pinterest": {"ad_personalization": False}})
    assert opt_out(pinterest(), only_pinterest) == "LDP"
    assert opt_out(pinterest(limited_data_processing=True), granted) == "LDP"
    assert opt_out(pinterest(limited_data_processing=False), refused) is None


def test_events_map_to_pinterest_names_custom_events_travel_as_custom_and_unmapped_ones_are_skipped() -> None:
    vendor = pinterest()
    lead = purchase(attribution(), event=EventName.LEAD, order=None, event_id="lead-1")
    assert queued(vendor, lead).payload["event_name"] == "lead"
    custom = purchase(attribution(), event=EventName.CUSTOM, custom_name="quiz_done", order=None, event_id="q-1")
    assert queued(vendor, custom).payload["event_name"] == "custom"
    only_purchases = pinterest(events={"purchase": "checkout"})
    assert only_purchases.check(lead) == "event 'lead' is not configured for Pinterest"


def test_a_visitor_pinterest_cannot_match_is_skipped_with_the_reason() -> None:
    vendor = pinterest()
    no_request = purchase(attribution(), context={"url": "https://shop.example.com/"})
    assert (
        vendor.check(no_request) == "Pinterest needs the customer's email, or the visitor's IP address and user agent"
    )
    assert vendor.check(purchase(attribution(), Customer(email="a@b.co"), context={})) is None


def test_test_mode_adds_test_true_and_the_token_is_masked() -> None:
    vendor = pinterest(test=True)
    request = vendor.build_request([{"event_name": "checkout"}])
    assert request.url.params["test"] == "true"
    assert "test" not in pinterest().build_request([{}]).url.params
    assert vendor.masked_headers(request)["authorization"] == "***"
    assert TOKEN not in repr(vendor)


def test_the_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="digits only"):
        pinterest(ad_account_id="act_123")
    with pytest.raises(ConfigurationError, match="action_source"):
        pinterest(action_source="website")
    for bad in (0, 1001):
        with pytest.raises(ConfigurationError, match="max_batch"):
            pinterest(max_batch=bad)
    with pytest.raises(ValueError, match="1 to 10 events, not 11"):
        pinterest(max_batch=10).build_request([{}] * 11)
    assert pinterest(base_url="http://127.0.0.1:9/", api_version="v6").url == (
        f"http://127.0.0.1:9/v6/ad_accounts/{ACCOUNT}/events"
    )


# -- answers -------------------------------------------------------------------------------------------


def read(status: int, body: Any, count: int = 1, headers: dict[str, str] | None = None) -> Any:
    return pinterest().read_batch(response(status, body, headers), [{}] * count)


def per_event(*statuses: str) -> dict[str, Any]:
    events = [
        {"status": s, "error_message": "event_name 'x' is not a supported event name" if s == "failed" else None}
        for s in statuses
    ]
    processed = statuses.count("processed")
    return {"num_events_received": len(statuses), "num_events_processed": processed, "events": events}


def test_each_event_gets_its_own_outcome_from_a_200_or_a_422() -> None:
    outcomes = read(200, per_event("processed", "failed", "processed"), 3)
    assert [type(o) for o in outcomes] == [Delivered, Failed, Delivered]
    assert outcomes[1] == Failed("Pinterest failed the event: event_name 'x' is not a supported event name")
    detailed = {
        "code": 4198,
        "message": "Not all events were successfully processed",
        "details": per_event("failed", "processed"),
    }
    assert [type(o) for o in read(422, detailed, 2)] == [Failed, Delivered]
    top_level = {
        "code": 4198,
        "message": "Not all events were successfully processed",
        **per_event("processed", "failed"),
    }
    assert [type(o) for o in read(422, top_level, 2)] == [Delivered, Failed]


def test_a_422_without_per_event_results_fails_the_request_and_a_bare_200_is_retried() -> None:
    outcomes = read(422, {"code": 4198, "message": "Not all events were successfully processed"}, 2)
    assert outcomes == [Failed("HTTP 422: Pinterest code 4198: Not all events were successfully processed")] * 2
    assert (
        read(200, {"num_events_received": 2}, 2)
        == [Retry("HTTP 200: Pinterest answered without a result per event")] * 2
    )
    assert [type(o) for o in read(200, {"num_events_received": 2, "num_events_processed": 2}, 2)] == [Delivered] * 2


def test_rate_limits_and_outages_are_retried_honouring_retry_after() -> None:
    assert read(429, {"code": 8, "message": "Rate limit exceeded"}, headers={"retry-after": "30"}) == [
        Retry("HTTP 429: Pinterest code 8: Rate limit exceeded", after=30.0)
    ]
    assert read(503, {"code": 4197, "message": "Endpoint ramped down"}) == [
        Retry("HTTP 503: Pinterest code 4197: Endpoint ramped down")
    ]
    assert isinstance(read(500, None)[0], Retry)


def test_a_refused_batch_is_split_and_credential_errors_fail_without_the_token() -> None:
    invalid = {"code": 4196, "message": "Invalid request: Additional properties are not allowed ('x' was unexpected)"}
    assert read(400, invalid, 3) == Split(f"HTTP 400: Pinterest code 4196: {invalid['message']}")
    assert read(400, invalid, 1) == [Failed(f"HTTP 400: Pinterest code 4196: {invalid['message']}")]
    echoed = {"code": 2, "message": f"Authentication failed. Token {TOKEN} is invalid"}
    (failed,) = read(401, echoed)
    assert isinstance(failed, Failed)
    assert failed.reason.startswith("HTTP 401: Pinterest code 2: Authentication failed.")
    assert TOKEN not in failed.reason
    assert (
        read(403, {"code": 29, "message": "You are not permitted to access that resource."}, 2)
        == [Failed("HTTP 403: Pinterest code 29: You are not permitted to access that resource.")] * 2
    )


# -- against a strict fake Pinterest on loopback --------------------------------------------------------


@pytest.fixture
def fake(serve: Serve) -> Any:
    fake = FakePinterest(token=TOKEN, ad_account_id=ACCOUNT)
    return fake, serve(fake.app())


async def deliver(vendor: PinterestConversions, payloads: list[JSON]) -> list[Outcome]:
    """What the worker does with one claimed batch: send, read per event, send halves apart on Split."""
    async with httpx2.AsyncClient() as client:
        answer = await client.send(vendor.build_request(payloads))
    outcomes = vendor.read_batch(answer, payloads)
    if isinstance(outcomes, Split):
        half = len(payloads) // 2
        return [*await deliver(vendor, payloads[:half]), *await deliver(vendor, payloads[half:])]
    return list(outcomes)


def payloads(vendor: PinterestConversions, count: int) -> list[JSON]:
    return [
        queued(vendor, purchase(pinterest_visitor(), customer(), order=order(id=f"P-{n}"))).payload
        for n in range(count)
    ]


async def test_the_strict_server_takes_the_batch_and_counts_a_resend_once(fake: Any) -> None:
    server, url = fake
    vendor = pinterest(base_url=url)
    events = payloads(vendor, 4)
    assert [type(o) for o in await deliver(vendor, events)] == [Delivered] * 4
    assert [type(o) for o in await deliver(vendor, events[:2])] == [Delivered] * 2
    assert sorted(event_id for _, event_id in server.accepted) == ["P-0", "P-1", "P-2", "P-3"]
    assert server.requests == 2


async def test_an_event_pinterest_fails_is_failed_alone_in_one_request(fake: Any) -> None:
    server, url = fake
    vendor = pinterest(base_url=url)
    events = payloads(vendor, 3)
    events[1] = {**events[1], "user_data": {**events[1]["user_data"], "em": ["buyer.name@example.com"]}}
    outcomes = await deliver(vendor, events)
    assert [type(o) for o in outcomes] == [Delivered, Failed, Delivered]
    assert outcomes[1] == Failed("Pinterest failed the event: user_data.em is not a lowercase SHA-256 hash")
    assert server.requests == 1  # Pinterest answers per event: no split needed
    assert sorted(event_id for _, event_id in server.accepted) == ["P-0", "P-2"]


async def test_an_unknown_key_refuses_the_request_and_the_split_finds_the_event(fake: Any) -> None:
    server, url = fake
    vendor = pinterest(base_url=url)
    events = payloads(vendor, 4)
    events[3] = {**events[3], "custom_data": {**events[3]["custom_data"], "category_name": "pets"}}
    outcomes = await deliver(vendor, events)
    assert [type(o) for o in outcomes] == [Delivered, Delivered, Delivered, Failed]
    assert "('category_name' was unexpected)" in outcomes[3].reason  # type: ignore[union-attr]
    assert sorted(event_id for _, event_id in server.accepted) == ["P-0", "P-1", "P-2"]


async def test_test_mode_is_validated_but_not_recorded_and_a_wrong_token_fails(fake: Any) -> None:
    server, url = fake
    events = payloads(pinterest(base_url=url), 2)
    assert [type(o) for o in await deliver(pinterest(base_url=url, test=True), events)] == [Delivered] * 2
    assert (server.tested, server.accepted) == (2, {})
    wrong = pinterest(base_url=url, access_token="pina_revoked")
    assert await deliver(wrong, events) == [Failed("HTTP 401: Pinterest code 2: Authentication failed.")] * 2
    other = pinterest(base_url=url, ad_account_id="111")
    assert (
        await deliver(other, events)
        == [Failed("HTTP 403: Pinterest code 29: You are not permitted to access that resource.")] * 2
    )


async def test_a_200_with_failed_events_is_read_the_same_as_a_422(fake: Any) -> None:
    server, url = fake
    server.partial_status = 200
    vendor = pinterest(base_url=url, events={"purchase": "purchase"})  # not a Pinterest name
    outcomes = await deliver(vendor, payloads(vendor, 2))
    assert outcomes == [Failed("Pinterest failed the event: event_name 'purchase' is not a supported event name")] * 2
