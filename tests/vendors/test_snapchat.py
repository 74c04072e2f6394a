"""Snap Conversions API v3: the reference's request shape with golden digests, the ScCid click and _scid cookie,
Limited Data Use from consent, Snap's answers, and real requests against a strict fake Snap on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import httpx2
import pytest

from attribution.capture.consent import Consent
from attribution.errors import ConfigurationError
from attribution.orders.conversion import Customer, EventName
from attribution.vendors.base import JSON, Delivered, Failed, Outcome, Retry, Split
from attribution.vendors.snapchat import SnapchatConversions
from tests.support.servers import Serve

from .fake_snapchat import FakeSnapchat
from .samples import NOW, UA, attribution, order, purchase, queued, response, send, touch

TOKEN = "snap-long-lived-token-0123456789"
PIXEL = "7b4f6d1e-9a2c-4c1b-8f3e-5d6a7b8c9d0e"

#: Golden SHA-256 digests, computed apart from the library with ``printf '%s' VALUE | sha256sum``.
GOLDEN = {
    "buyer.name@example.com": "2ac79f17f084139bed8511045f64c79525689ff8fcff1480d07c75882f2f770f",
    "5511987654321": "029c7290f14c4516673508635f0519db95f7daf42057fd0e4ad1de84c5408a66",
    "mary-ann": "ed4bdd3a7368920a4d1f4e692201f7a4aee19278a930c824649af01bbc38c63f",
    "o'briensmith": "a593519d11c757fa8522c2c5c8789381c7cca3f966931b8b9f01c18c514066a7",
    "sãopaulo": "3eda1428ae1aece064071f8d40f08fe2bc59ffa66c171a163caf15122ec4d7f0",
    "sp": "be18b85f77fc024db379acf19e8a1ce62307ab7bb1bca395389ecfc2dafaf741",
    "01310-100": "92e857e593196b87f8f7b369c2f9098096d371d8b9db5c5b34c0e4a426bae9b5",
    "br": "885036a0da3dff3c3e05bc79bf49382b12bc5098514ed57ce0875aba1aa2c40d",
    "cust-42": "8a3c5a67cad508582b5edf6b8352cea3ffbad7f44812c1a736b4444c0f5746aa",
}


def snapchat(**options: Any) -> SnapchatConversions:
    options.setdefault("access_token", TOKEN)
    options.setdefault("pixel_id", PIXEL)
    vendor = SnapchatConversions(**options)
    vendor.clock = NOW.timestamp
    return vendor


def customer() -> Customer:
    return Customer(
        email="  Buyer.Name@Example.COM ",
        phone="+55 11 98765-4321",
        first_name="Mary-Ann",
        last_name="O'Brien Smith",
        gender="f",
        birthdate=date(1990, 2, 14),
        city="São Paulo",
        state="SP",
        postal_code="01310-100",
        country="BR",
        external_id="CUST-42",
    )


def snap_visitor() -> Any:
    landing = touch(timedelta(days=5), sccid="4f6d1e2a-snap-click", utm_source="snapchat")
    return attribution(landing, identifiers={"scid": "d3a1c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"})


def test_golden_request_follows_the_reference_with_raw_snap_ids_and_hashed_personal_data() -> None:
    vendor = snapchat()
    conversion = purchase(snap_visitor(), customer())
    prepared = queued(vendor, conversion)
    assert (prepared.vendor, prepared.dedup_key, prepared.batch_key) == ("snapchat", "purchase:ORD-7821", PIXEL)
    wire, _ = send(vendor, [prepared.payload])

    assert wire.method == "POST"
    assert wire.url.copy_remove_param("access_token") == f"https://tr.snapchat.com/v3/{PIXEL}/events"
    assert wire.url.params["access_token"] == TOKEN
    assert "authorization" not in wire.headers
    g = GOLDEN
    assert json.loads(wire.content) == {
        "data": [
            {
                "event_name": "PURCHASE",
                "event_time": 1746480000,
                "action_source": "WEB",
                "event_id": "ORD-7821",
                "event_source_url": "https://shop.example.com/checkout",
                "user_data": {
                    "em": [g["buyer.name@example.com"]],
                    "ph": [g["5511987654321"]],
                    "fn": [g["mary-ann"]],
                    "ln": [g["o'briensmith"]],
                    "ct": [g["sãopaulo"]],
                    "st": [g["sp"]],
                    "zp": [g["01310-100"]],
                    "country": [g["br"]],
                    "external_id": [g["cust-42"]],
                    "client_ip_address": "203.0.113.7",
                    "client_user_agent": UA,
                    "sc_click_id": "4f6d1e2a-snap-click",
                    "sc_cookie1": "d3a1c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
                },
                "custom_data": {
                    "value": 99.97,
                    "currency": "USD",
                    "order_id": "ORD-7821",
                    "content_ids": ["sku-1", "sku-2"],
                    "num_items": 2,
                },
            }
        ]
    }


def test_an_expired_snap_click_is_not_sent_but_the_pixel_cookie_is() -> None:
    old = attribution(touch(timedelta(days=29), sccid="old-click"), identifiers={"scid": "cookie-1"})
    user = queued(snapchat(), purchase(old)).payload["user_data"]
    assert "sc_click_id" not in user  # 28-day window
    assert user["sc_cookie1"] == "cookie-1"


def test_limited_data_use_follows_the_visitors_consent_unless_configured() -> None:
    def options(vendor: SnapchatConversions, consent: Consent) -> Any:
        return queued(vendor, purchase(attribution(), consent=consent)).payload.get("data_processing_options")

    refused = Consent(ad_personalization=False, decided=True)
    assert options(snapchat(), refused) == ["LDU"]
    assert options(snapchat(), Consent(decided=True)) is None
    assert options(snapchat(), Consent()) is None
    assert options(snapchat(limited_data_use=True), Consent()) == ["LDU"]
    assert options(snapchat(limited_data_use=False), refused) is None


def test_snap_has_no_lead_event_so_only_mapped_events_are_sent() -> None:
    lead = purchase(attribution(), event=EventName.LEAD, order=None, event_id="lead-1")
    assert snapchat().check(lead) == "event 'lead' is not configured for Snapchat (Snap has no lead event)"
    mapped = snapchat(events={"purchase": "PURCHASE", "lead": "SIGN_UP", "custom": "CUSTOM_EVENT_1"})
    assert queued(mapped, lead).payload["event_name"] == "SIGN_UP"
    quiz = purchase(attribution(), event=EventName.CUSTOM, custom_name="quiz", order=None, event_id="q-1")
    assert mapped.check(quiz) == "event 'custom' is not configured for Snapchat (Snap has no lead event)"
    slot = snapchat(events={"quiz": "CUSTOM_EVENT_2"})
    assert queued(slot, quiz).payload["event_name"] == "CUSTOM_EVENT_2"
    with pytest.raises(ConfigurationError, match="upper case"):
        snapchat(events={"purchase": "Purchase"})


def test_what_snaps_validator_refuses_is_skipped_at_checkout_with_the_reason() -> None:
    vendor = snapchat()
    lead_as_purchase = purchase(attribution(), event=EventName.LEAD, order=None, event_id="x-1")
    assert snapchat(events={"lead": "PURCHASE"}).check(lead_as_purchase) == (
        "Snap refuses a PURCHASE without a value and a currency"
    )
    no_page = purchase(attribution(), context={"ip": "203.0.113.7", "user_agent": UA})
    assert vendor.check(no_page) == "Snap's web events need the page URL (the request context has none)"
    nobody = purchase(attribution(), context={"url": "https://shop.example.com/"})
    assert vendor.check(nobody) == (
        "Snap needs the customer's email or phone, or the visitor's IP address and user agent"
    )
    assert (
        vendor.check(purchase(attribution(), Customer(phone="+5511987654321"), context={"url": "https://s.co/"}))
        is None
    )
    old = purchase(attribution(), order=order(time=NOW - timedelta(days=38)))
    assert vendor.check(old) == "the event happened 38.0 days ago: Snap refuses events older than 37 days"


def test_the_token_is_masked_in_the_url_and_never_in_repr() -> None:
    vendor = snapchat(validate_only=True)
    request = vendor.build_request([{}])
    assert request.url.path == f"/v3/{PIXEL}/events/validate"
    assert vendor.masked_url(request) == f"https://tr.snapchat.com/v3/{PIXEL}/events/validate?access_token=***"
    assert TOKEN not in repr(vendor)
    for bad in (0, 2001):
        with pytest.raises(ConfigurationError, match="max_batch"):
            snapchat(max_batch=bad)


# -- answers -------------------------------------------------------------------------------------------


def read(status: int, body: Any, count: int = 1, headers: dict[str, str] | None = None) -> Any:
    return snapchat().read_batch(response(status, body, headers), [{}] * count)


INVALID = {
    "status": "INVALID",
    "reason": "Invalid event: PURCHASE events need custom_data.value",
    "event": 1,
    "errors": {"codes": ["MISSING_PRICE"], "error_msgs": ["PURCHASE events need custom_data.value"]},
}
INVALID_TEXT = (
    "HTTP 400: Snap INVALID: Invalid event: PURCHASE events need custom_data.value "
    "(MISSING_PRICE; PURCHASE events need custom_data.value)"
)


def test_valid_is_delivered_invalid_splits_a_batch_and_fails_a_lone_event() -> None:
    assert [type(o) for o in read(200, {"status": "VALID", "reason": "3 events received"}, 3)] == [Delivered] * 3
    assert read(400, INVALID, 3) == Split(INVALID_TEXT)
    assert read(400, INVALID, 1) == [Failed(INVALID_TEXT)]
    # the same verdict inside an HTTP 200 is read the same way
    assert read(200, INVALID, 1) == [Failed(INVALID_TEXT.replace("HTTP 400", "HTTP 200"))]
    assert read(200, {"unexpected": True}, 2) == [Retry("HTTP 200: Snap answered without a status")] * 2


def test_throttling_and_outages_are_retried_and_token_errors_fail_without_the_token() -> None:
    assert read(429, {"status": "INVALID", "reason": "Too many requests"}, headers={"retry-after": "12"}) == [
        Retry("HTTP 429: Snap INVALID: Too many requests", after=12.0)
    ]
    assert isinstance(read(503, None)[0], Retry)
    (failed,) = read(401, {"status": "INVALID", "reason": f"Unauthorized: access_token={TOKEN} is invalid"})
    assert isinstance(failed, Failed)
    assert TOKEN not in failed.reason
    assert failed.reason.startswith("HTTP 401: Snap INVALID: Unauthorized")


def test_a_validate_answer_gives_each_event_its_own_outcome() -> None:
    logs = [
        {"event": 0, "status": "VALID", "warnings": []},
        {"event": 1, "status": "INVALID", "errors": {"codes": ["UNHASHED_PII"], "error_msgs": ["em must be hashed"]}},
    ]
    outcomes = read(400, {"status": "INVALID", "test_event": True, "reason": "", "event_logs": logs}, 2)
    assert [type(o) for o in outcomes] == [Delivered, Failed]
    assert outcomes[1] == Failed("Snap validation: UNHASHED_PII; em must be hashed")


# -- against a strict fake Snap on loopback -------------------------------------------------------------


@pytest.fixture
def fake(serve: Serve) -> Any:
    fake = FakeSnapchat(token=TOKEN, pixel_id=PIXEL, clock=NOW.timestamp)
    return fake, serve(fake.app())


async def deliver(vendor: SnapchatConversions, payloads: list[JSON]) -> list[Outcome]:
    async with httpx2.AsyncClient() as client:
        answer = await client.send(vendor.build_request(payloads))
    outcomes = vendor.read_batch(answer, payloads)
    if isinstance(outcomes, Split):
        half = len(payloads) // 2
        return [*await deliver(vendor, payloads[:half]), *await deliver(vendor, payloads[half:])]
    return list(outcomes)


def payloads(vendor: SnapchatConversions, count: int) -> list[JSON]:
    orders = (order(id=f"S-{n}") for n in range(count))
    return [queued(vendor, purchase(snap_visitor(), customer(), order=o)).payload for o in orders]


async def test_the_strict_server_takes_the_batch_and_counts_a_resend_once(fake: Any) -> None:
    server, url = fake
    vendor = snapchat(base_url=url)
    events = payloads(vendor, 3)
    assert [type(o) for o in await deliver(vendor, events)] == [Delivered] * 3
    assert [type(o) for o in await deliver(vendor, events[:1])] == [Delivered]
    assert sorted(server.accepted) == ["S-0", "S-1", "S-2"]
    assert len(server.received) == 4


async def test_one_unhashed_event_is_isolated_and_its_neighbours_land(fake: Any) -> None:
    server, url = fake
    vendor = snapchat(base_url=url)
    events = payloads(vendor, 4)
    events[2] = {**events[2], "user_data": {**events[2]["user_data"], "em": ["buyer.name@example.com"]}}
    outcomes = await deliver(vendor, events)
    assert [type(o) for o in outcomes] == [Delivered, Delivered, Failed, Delivered]
    assert outcomes[2] == Failed(
        "HTTP 400: Snap INVALID: Invalid event: user_data.em must be SHA-256 hashed "
        "(UNHASHED_PII; user_data.em must be SHA-256 hashed)"
    )
    assert "buyer.name@example.com" not in outcomes[2].reason  # type: ignore[union-attr]
    assert sorted(server.accepted) == ["S-0", "S-1", "S-3"]


async def test_validate_only_is_checked_per_event_and_records_nothing(fake: Any) -> None:
    server, url = fake
    vendor = snapchat(base_url=url, validate_only=True)
    events = payloads(vendor, 2)
    events[1] = {**events[1], "event_name": "LEAD"}
    outcomes = await deliver(vendor, events)
    assert [type(o) for o in outcomes] == [Delivered, Failed]
    assert outcomes[1] == Failed("Snap validation: INVALID_EVENT_NAME; event_name 'LEAD' is not a Snap event")
    assert (len(server.validated), server.accepted) == (2, {})


async def test_throttling_then_delivery_and_a_wrong_token_or_pixel_fails(fake: Any) -> None:
    server, url = fake
    server.script = [(429, {"status": "INVALID", "reason": "Too many requests"}, {"retry-after": "2"})]
    vendor = snapchat(base_url=url)
    events = payloads(vendor, 1)
    assert await deliver(vendor, events) == [Retry("HTTP 429: Snap INVALID: Too many requests", after=2.0)]
    assert [type(o) for o in await deliver(vendor, events)] == [Delivered]
    wrong = snapchat(base_url=url, access_token="revoked")
    assert await deliver(wrong, events) == [Failed("HTTP 401: Snap INVALID: Unauthorized: the access token is invalid")]
    other = snapchat(base_url=url, pixel_id="another-pixel")
    assert await deliver(other, events) == [
        Failed("HTTP 403: Snap INVALID: The token may not send events for this pixel")
    ]
