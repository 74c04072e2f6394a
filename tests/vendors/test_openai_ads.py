"""OpenAI Ads Conversions API: the reference's request shape with golden digests, oppref and obref byte for
byte, money in minor units, what OpenAI refuses skipped at checkout, the configurable field set, answers, and
real requests against a strict fake OpenAI on 127.0.0.1 that fails a whole batch for one event."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from attribution.capture.consent import Consent
from attribution.errors import ConfigurationError
from attribution.orders.conversion import Customer, EventName, LineItem
from attribution.vendors.base import JSON, Delivered, Failed, Outcome, Retry, Split
from attribution.vendors.openai_ads import (
    SINGLE_VALUE_USER_FIELDS,
    OpenAIAds,
    UserField,
    minor_units,
    source_url,
)
from tests.support.servers import Serve

from .fake_openai_ads import SINGULAR_USER_FIELDS, FakeOpenAIAds
from .samples import NOW, UA, attribution, order, purchase, queued, response, send, touch

KEY = "sk-conv-openai-ads-key-0123456789"
PIXEL = "px_6f1c2d3e4a5b"
OPPREF = "gAAAAABpX2v1-oppref_click-reference==" + "Q" * 80

#: Golden SHA-256 digests, computed apart from the library with ``printf '%s' VALUE | sha256sum``.
GOLDEN = {
    "buyer.name@example.com": "2ac79f17f084139bed8511045f64c79525689ff8fcff1480d07c75882f2f770f",
    "5511987654321": "029c7290f14c4516673508635f0519db95f7daf42057fd0e4ad1de84c5408a66",
    "CUST-42": "6fd6ebd11fef5dc85e566ceb1db68632fedb601ac5ef53554960d7114c653b94",
    "maryann": "16b3f07f0ec2f9dd127b71dc2e6c791b7d93116a1c3bc99d057eaa7a8a077e73",
    "obriensmith": "16765783f9c8c8a3accf27f1abb877688cb5904c21a4a7afb5f125bcfcb246ba",
    "são paulo": "577abdbf90dadd651458eee7576c6e3684b5c27beabd465cc4bb3c42441b5b38",
}


def openai(**options: Any) -> OpenAIAds:
    options.setdefault("api_key", KEY)
    options.setdefault("pixel_id", PIXEL)
    vendor = OpenAIAds(**options)
    vendor.clock = NOW.timestamp
    return vendor


def customer() -> Customer:
    return Customer(
        email="  Buyer.Name@Example.COM ",
        phone="+55 11 98765-4321",
        first_name="Mary-Ann",
        last_name="O'Brien Smith",
        city="São Paulo",
        state="SP",
        postal_code="01310-100",
        country="br",
        external_id=" CUST-42 ",
    )


def chatgpt_visitor(*, click: timedelta | None = timedelta(days=2), cookie: str | None = "gAAAAAcookie==") -> Any:
    landing = [touch(click, oppref=OPPREF)] if click else []
    identifiers = {"obref": "ob.1761000000.5f1e2d3c"} | ({"oppref": cookie} if cookie else {})
    return attribution(*landing, identifiers=identifiers)


CONTEXT = {"ip": "203.0.113.7", "user_agent": UA, "url": "https://shop.example.com/checkout?step=pay#top"}


def test_golden_request_follows_the_reference_in_the_list_form_with_minor_units() -> None:
    vendor = openai()
    conversion = purchase(chatgpt_visitor(), customer(), context=CONTEXT)
    prepared = queued(vendor, conversion)
    assert (prepared.vendor, prepared.dedup_key, prepared.batch_key) == ("openai_ads", "purchase:ORD-7821", PIXEL)
    wire, _ = send(vendor, [prepared.payload])

    assert wire.method == "POST"
    assert str(wire.url) == f"https://bzr.openai.com/v1/events?pid={PIXEL}"
    assert wire.headers["authorization"] == f"Bearer {KEY}"
    assert wire.headers["content-type"] == "application/json"
    g = GOLDEN
    assert json.loads(wire.content) == {
        "validate_only": False,
        "events": [
            {
                "id": "ORD-7821",
                "type": "order_created",
                "timestamp_ms": 1746480000000,
                "oppref": OPPREF,
                "action_source": "web",
                "source_url": "https://shop.example.com/checkout",
                "user": {
                    "emails_sha256": [g["buyer.name@example.com"]],
                    "phone_numbers_sha256": [g["5511987654321"]],
                    "external_ids_sha256": [g["CUST-42"]],
                    "first_names_sha256": [g["maryann"]],
                    "last_names_sha256": [g["obriensmith"]],
                    "countries": ["BR"],
                    "cities": ["são paulo"],
                    "regions": ["sp"],
                    "postal_codes": ["01310-100"],
                    "obref": "ob.1761000000.5f1e2d3c",
                    "ip_address": "203.0.113.7",
                    "user_agent": UA,
                },
                "data": {
                    "type": "contents",
                    "amount": 9997,
                    "currency": "USD",
                    "contents": [
                        {
                            "id": "sku-1",
                            "name": "Blanket",
                            "content_type": "product",
                            "quantity": 1,
                            "amount": 4999,
                            "currency": "USD",
                        },
                        {
                            "id": "sku-2",
                            "name": "Bowl",
                            "content_type": "product",
                            "quantity": 1,
                            "amount": 4998,
                            "currency": "USD",
                        },
                    ],
                },
            }
        ],
    }


def test_oppref_is_the_click_else_the_pixel_cookie_and_obref_the_cookie() -> None:
    def event(attr: Any) -> JSON:
        return queued(openai(), purchase(attr)).payload

    assert event(chatgpt_visitor())["oppref"] == OPPREF
    assert event(chatgpt_visitor(click=None))["oppref"] == "gAAAAAcookie=="
    assert event(chatgpt_visitor(click=timedelta(days=31)))["oppref"] == "gAAAAAcookie=="  # 30 days are over
    assert "oppref" not in event(chatgpt_visitor(click=None, cookie=None))
    assert event(chatgpt_visitor())["user"]["obref"] == "ob.1761000000.5f1e2d3c"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("129.99", "USD", 12999),
        ("1500", "JPY", 1500),
        ("12.345", "KWD", 12345),
        ("0.5", "EUR", 50),
        ("9.999", "USD", None),  # more decimals than cents: never rounded silently
        ("10.5", "JPY", None),
        ("1", "XAU", None),  # no minor unit at all
    ],
)
def test_minor_units_follow_the_currencys_exponent(amount: str, currency: str, expected: int | None) -> None:
    assert minor_units(Decimal(amount), currency) == expected


def test_an_amount_the_currency_cannot_hold_is_skipped_at_checkout() -> None:
    odd = order(value="9.999", items=[LineItem(id="a", price="9.999")])
    assert openai().check(purchase(attribution(), order=odd)) == (
        "the value has more decimals than USD allows: OpenAI takes minor units"
    )
    yen = order(value="1500", currency="JPY", items=[LineItem(id="a", price="1500")])
    data = queued(openai(), purchase(attribution(), order=yen)).payload["data"]
    assert (data["amount"], data["currency"], data["contents"][0]["amount"]) == (1500, "JPY", 1500)


def test_events_take_their_data_shape_and_other_names_travel_as_custom_events() -> None:
    vendor = openai()
    lead = purchase(attribution(), event=EventName.LEAD, order=None, event_id="lead-1", event_time=NOW)
    assert queued(vendor, lead).payload["data"] == {"type": "customer_action"}
    assert queued(vendor, lead).payload["type"] == "lead_created"
    contact = purchase(attribution(), event=EventName.CONTACT, order=None, event_id="c-1", event_time=NOW)
    event = queued(vendor, contact).payload
    assert (event["type"], event["custom_event_name"], event["data"]) == ("custom", "contact", {"type": "custom"})
    quiz = purchase(
        attribution(), event=EventName.CUSTOM, custom_name="quiz_done", order=None, event_id="q-1", event_time=NOW
    )
    assert queued(vendor, quiz).payload["custom_event_name"] == "quiz_done"
    bad = purchase(
        attribution(), event=EventName.CUSTOM, custom_name="quiz done!", order=None, event_id="q-2", event_time=NOW
    )
    assert vendor.check(bad) == (
        "OpenAI custom event names are 1-64 letters, digits, '_' or '-', starting and ending alphanumeric"
    )
    standard = purchase(
        attribution(), event=EventName.CUSTOM, custom_name="lead_created", order=None, event_id="q-3", event_time=NOW
    )
    assert queued(vendor, standard).payload["type"] == "lead_created"  # a standard name is sent as that type
    with pytest.raises(ConfigurationError, match="custom event names"):
        openai(events={"purchase": "Order Created"})


def test_what_openai_would_refuse_with_its_whole_batch_is_skipped_at_checkout() -> None:
    vendor = openai()
    week_old = purchase(attribution(), order=order(time=NOW - timedelta(days=7, minutes=1)))
    assert vendor.check(week_old) == (
        "the event happened 7.0 days ago: OpenAI refuses events older than 7 days (and every event sent with them)"
    )
    ahead = purchase(attribution(), order=order(time=NOW + timedelta(minutes=11)))
    assert vendor.check(ahead) == "the event is more than 10 minutes in the future: OpenAI refuses it (and its batch)"
    assert vendor.check(purchase(attribution(), order=order(time=NOW + timedelta(minutes=9)))) is None
    no_page = purchase(attribution(), context={"ip": "203.0.113.7"})
    assert vendor.check(no_page) == "OpenAI's web events need the page's http(s) URL (the request context has none)"
    assert openai(action_source="offline").check(no_page) is None
    assert openai(max_age_days=2).check(purchase(attribution(), order=order(time=NOW - timedelta(days=3)))) is not None


def test_source_url_drops_the_query_and_the_fragment() -> None:
    assert source_url("https://shop.example.com/p/1?utm_source=x&email=a@b.co#x") == "https://shop.example.com/p/1"
    assert source_url("ftp://shop.example.com/") is None
    assert source_url(None) is None


def test_a_refused_personalisation_marks_the_event_opt_out() -> None:
    def opt_out(consent: Consent) -> Any:
        return queued(openai(), purchase(attribution(), consent=consent)).payload.get("opt_out")

    assert opt_out(Consent(ad_personalization=False, decided=True)) is True
    assert opt_out(Consent(decided=True)) is None
    assert opt_out(Consent()) is None


def test_the_field_set_is_configurable_for_the_older_single_value_names_and_hashed_geography() -> None:
    single = openai(user_fields=SINGLE_VALUE_USER_FIELDS)
    user = queued(single, purchase(chatgpt_visitor(), customer())).payload["user"]
    assert user == {
        "email_sha256": GOLDEN["buyer.name@example.com"],
        "external_id_sha256": GOLDEN["CUST-42"],
        "country": "BR",
        "city": "são paulo",
        "zip_code": "01310-100",
        "ip_address": "203.0.113.7",
        "user_agent": UA,
    }
    assert "openai_ads.phone_sha256" not in {form.name for form in single.identifiers}  # no phone kept for it
    hashed = openai(user_fields={"email": UserField("emails_sha256"), "city": UserField("cities_sha256")})
    user = queued(hashed, purchase(attribution(), customer())).payload["user"]
    assert user == {"emails_sha256": [GOLDEN["buyer.name@example.com"]], "cities_sha256": [GOLDEN["são paulo"]]}
    assert all(form.hashed for form in hashed.identifiers)
    with pytest.raises(ConfigurationError, match="user_fields"):
        openai(user_fields={"mail": UserField("emails_sha256")})


def test_a_phone_openai_would_refuse_is_left_out() -> None:
    short = Customer(phone="+683 4002")  # Niue: 7 digits with the country code, under OpenAI's 8
    assert "phone_numbers_sha256" not in queued(openai(), purchase(attribution(), short)).payload.get("user", {})


def test_the_request_options_and_the_key_is_masked() -> None:
    vendor = openai(validate_only=True, integration_source="asgi-attribution", base_url="https://api.openai.com/")
    request = vendor.build_request([{"id": "x"}])
    assert str(request.url) == f"https://api.openai.com/v1/events?pid={PIXEL}"
    body = json.loads(request.content)
    assert (body["validate_only"], body["integration_source"]) == (True, "asgi-attribution")
    assert vendor.masked_headers(request)["authorization"] == "***"
    assert KEY not in repr(vendor)
    with pytest.raises(ConfigurationError, match="integration_source"):
        openai(integration_source="has space")
    with pytest.raises(ConfigurationError, match="max_age_days"):
        openai(max_age_days=8)


# -- answers -------------------------------------------------------------------------------------------


def read(status: int, body: Any, count: int = 1, headers: dict[str, str] | None = None) -> Any:
    return openai().read_batch(response(status, body, headers), [{}] * count)


def error(message: str, kind: str = "invalid_request_error", param: str | None = None, code: str | None = None) -> Any:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


STALE = error("events[1].timestamp_ms is more than 7 days in the past.", param="events[1].timestamp_ms")
STALE_TEXT = (
    "HTTP 400: OpenAI type invalid_request_error, param events[1].timestamp_ms: "
    "events[1].timestamp_ms is more than 7 days in the past."
)


def test_a_batch_refused_for_an_event_is_split_and_a_lone_event_fails() -> None:
    assert [type(o) for o in read(200, {"accepted_events": 3}, 3)] == [Delivered] * 3
    assert read(400, STALE, 3) == Split(STALE_TEXT)
    assert read(400, STALE, 1) == [Failed(STALE_TEXT)]
    unnamed = error("Invalid request.")
    assert isinstance(read(400, unnamed, 2), Split)  # it may be one event: halves cost requests, not conversions
    assert read(200, STALE, 2) == Split(STALE_TEXT.replace("HTTP 400", "HTTP 200"))  # an error in a 200 too


def test_a_request_level_refusal_fails_every_event_without_splitting() -> None:
    source = error("integration_source must be 1-64 letters.", param="integration_source")
    outcomes = read(400, source, 2)
    assert [type(o) for o in outcomes] == [Failed, Failed]
    no_pid = {"detail": [{"type": "missing", "loc": ["query", "pid"], "msg": "Field required"}]}
    assert read(422, no_pid, 2) == [Failed("HTTP 422: OpenAI validation: query.pid: Field required")] * 2
    in_body = {
        "detail": [
            {"type": "int_type", "loc": ["body", "events", 3, "timestamp_ms"], "msg": "Input should be an integer"}
        ]
    }
    assert isinstance(read(422, in_body, 4), Split)


def test_credentials_errors_fail_without_the_key_and_outages_are_retried() -> None:
    (failed,) = read(401, error(f"Incorrect API key provided: {KEY}.", code="invalid_api_key"))
    assert isinstance(failed, Failed)
    assert KEY not in failed.reason
    assert failed.reason.startswith("HTTP 401: OpenAI type invalid_request_error, code invalid_api_key")
    assert isinstance(read(404, error("No pixel found.", param="pid"))[0], Failed)
    assert read(429, error("Rate limit reached.", "rate_limit_error"), headers={"retry-after": "7"}) == [
        Retry("HTTP 429: OpenAI type rate_limit_error: Rate limit reached.", after=7.0)
    ]
    backend = error("503: Authentication backend failure", "server_error")
    assert read(503, backend) == [Retry("HTTP 503: OpenAI type server_error: 503: Authentication backend failure")]
    assert isinstance(read(200, backend)[0], Retry)  # an error envelope in a 200 is still an error


# -- against a strict fake OpenAI on loopback -----------------------------------------------------------


@pytest.fixture
def fake(serve: Serve) -> Any:
    fake = FakeOpenAIAds(api_key=KEY, pixel_id=PIXEL, clock=NOW.timestamp)
    return fake, serve(fake.app())


async def deliver(vendor: OpenAIAds, payloads: list[JSON]) -> list[Outcome]:
    async with httpx2.AsyncClient() as client:
        answer = await client.send(vendor.build_request(payloads))
    outcomes = vendor.read_batch(answer, payloads)
    if isinstance(outcomes, Split):
        half = len(payloads) // 2
        return [*await deliver(vendor, payloads[:half]), *await deliver(vendor, payloads[half:])]
    return list(outcomes)


def payloads(vendor: OpenAIAds, count: int, **options: Any) -> list[JSON]:
    orders = (order(id=f"O-{n}", **options) for n in range(count))
    return [queued(vendor, purchase(chatgpt_visitor(), customer(), order=o)).payload for o in orders]


async def test_the_strict_server_takes_the_batch_and_counts_a_resend_once(fake: Any) -> None:
    server, url = fake
    vendor = openai(base_url=url)
    events = payloads(vendor, 3)
    assert await deliver(vendor, events) == [Delivered(answer='{"accepted_events": 3}')] * 3
    assert [type(o) for o in await deliver(vendor, events[:1])] == [Delivered]
    assert sorted(server.accepted) == [("order_created", f"O-{n}") for n in range(3)]
    assert len(server.received) == 4


async def test_an_event_that_aged_in_the_queue_fails_alone_and_its_batch_lands(fake: Any) -> None:
    server, url = fake
    vendor = openai(base_url=url)
    events = payloads(vendor, 4)
    events[1] = {**events[1], "timestamp_ms": events[1]["timestamp_ms"] - 8 * 86_400_000}
    outcomes = await deliver(vendor, events)
    assert [type(o) for o in outcomes] == [Delivered, Failed, Delivered, Delivered]
    assert "timestamp_ms is more than 7 days in the past" in outcomes[1].reason  # type: ignore[union-attr]
    assert sorted(i for _, i in server.accepted) == ["O-0", "O-2", "O-3"]


async def test_validate_only_saves_nothing_and_the_older_names_need_their_own_server(fake: Any) -> None:
    server, url = fake
    events = payloads(openai(base_url=url, validate_only=True), 2)
    assert [type(o) for o in await deliver(openai(base_url=url, validate_only=True), events)] == [Delivered] * 2
    assert (server.validated, server.accepted) == (2, {})
    single = openai(base_url=url, user_fields=SINGLE_VALUE_USER_FIELDS)
    (refused,) = await deliver(single, payloads(single, 1))
    assert isinstance(refused, Failed)
    assert "Unrecognized field events[0].user.city" in refused.reason  # the list form's host knows no "city"
    server.user_fields = SINGULAR_USER_FIELDS  # a host that still takes the mid-2026 names
    assert [type(o) for o in await deliver(single, payloads(single, 1))] == [Delivered]


async def test_throttling_then_delivery_and_a_wrong_key_fails_for_good(fake: Any) -> None:
    server, url = fake
    server.script = [(429, error("Rate limit reached.", "rate_limit_error"), {"retry-after": "3"})]
    vendor = openai(base_url=url)
    events = payloads(vendor, 1)
    assert await deliver(vendor, events) == [
        Retry("HTTP 429: OpenAI type rate_limit_error: Rate limit reached.", after=3.0)
    ]
    assert [type(o) for o in await deliver(vendor, events)] == [Delivered]
    wrong = openai(base_url=url, api_key="sk-advertiser-api-key")
    (failed,) = await deliver(wrong, events)
    assert failed == Failed(
        "HTTP 401: OpenAI type invalid_request_error, code invalid_api_key: Incorrect API key provided."
    )
