"""Microsoft Advertising's UET Conversions API: golden values, the documented request shape, the ``_uet`` prefix
of the tag's cookie, when it fires, the answers classified, and requests against a strict fake on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from attribution.capture.consent import Consent
from attribution.errors import ConfigurationError
from attribution.orders.conversion import Customer, EventName
from attribution.vendors.base import JSON, Delivered, Failed, Outcome, Retry, Split
from attribution.vendors.microsoft_ads import MicrosoftAds, microsoft_email
from tests.support.servers import Serve

from .fake_microsoft import FakeMicrosoft
from .samples import NOW, UA, attribution, order, purchase, queued, response, send, touch

TOKEN = "uet-capi-token-0123456789"
TAG = "343123456"
MSCLKID = "0f7e5c3a9b2d4e6f8a1b2c3d4e5f6a7b"
UETVID = "683d4bb0faf011f09ddaef7abf1922b0"
# digests computed apart, with sha256sum
JANEDOE = "c4d25e9c90ff23e9145397bc6fbd5385ca5fbe78211222ccbecd0b369ebb19a6"  # janedoe@example.com
JANE_PLAIN = "edcd734b50394ce7a26ff7fe1408eeac189753375b54286c93049c72767a7b40"  # jane.doe+ads@example.com
PHONE = "c59475d96e9f01d7d18d06cfad84dd02333207f02c0c2c5663ef2782cda0390e"  # +14255551234
CUST = "8a3c5a67cad508582b5edf6b8352cea3ffbad7f44812c1a736b4444c0f5746aa"  # cust-42


def microsoft(**options: Any) -> MicrosoftAds:
    options.setdefault("api_token", TOKEN)
    options.setdefault("tag_id", TAG)
    options.setdefault("clock", lambda: NOW.timestamp() + 60)
    return MicrosoftAds(**options)


def visitor(**identifiers: str) -> Any:
    landing = touch(timedelta(days=3), msclkid=MSCLKID, utm_source="bing", utm_medium="cpc")
    return attribution(landing, identifiers={"uetvid": UETVID, **identifiers})


def customer() -> Customer:
    # PostHog's example phone ("Normalize to E.164 (+14255551234)")
    return Customer(
        email=" Jane.Doe+ads@Example.com ", phone="(425) 555-1234", phone_region="US", external_id="cust-42"
    )


def test_golden_email_phone_and_external_id() -> None:
    assert microsoft_email("Jane.Doe+ads@Example.com") == JANEDOE
    user = queued(microsoft(), purchase(visitor(), customer())).payload["userData"]
    assert (user["em"], user["ph"], user["externalId"]) == (JANEDOE, PHONE, CUST)
    plain = queued(microsoft(canonical_email=False, hash_external_id=False), purchase(visitor(), customer()))
    assert (plain.payload["userData"]["em"], plain.payload["userData"]["externalId"]) == (JANE_PLAIN, "cust-42")
    assert microsoft_email(JANEDOE.upper()) == JANEDOE  # a digest the site gave passes through


def test_golden_request_in_the_documented_shape() -> None:
    vendor = microsoft()
    conversion = purchase(visitor(), customer())
    delivery = queued(vendor, conversion)
    assert (delivery.vendor, delivery.dedup_key, delivery.batch_key) == ("microsoft_ads", "purchase:ORD-7821", TAG)
    wire, outcome = send(vendor, [delivery.payload], lambda r: httpx2.Response(200, json={"eventsReceived": 1}))
    assert str(wire.url) == f"https://capi.uet.microsoft.com/v1/{TAG}/events"
    assert wire.headers["authorization"] == f"Bearer {TOKEN}"
    assert wire.headers["content-type"] == "application/json"
    assert json.loads(wire.content) == {
        "data": [
            {
                "eventType": "custom",
                "eventName": "purchase",
                "eventTime": 1746480000,
                "eventId": "ORD-7821",
                "eventSourceUrl": "https://shop.example.com/checkout",
                "userData": {
                    "msclkid": MSCLKID,
                    "em": JANEDOE,
                    "ph": PHONE,
                    "externalId": CUST,
                    "anonymousId": UETVID,
                    "clientIpAddress": "203.0.113.7",
                    "clientUserAgent": UA,
                },
                "customData": {
                    "value": 99.97,
                    "currency": "USD",
                    "transactionId": "ORD-7821",
                    "pageType": "purchase",
                    "itemIds": ["sku-1", "sku-2"],
                    "items": [
                        {"id": "sku-1", "name": "Blanket", "quantity": 1, "price": 49.99},
                        {"id": "sku-2", "name": "Bowl", "quantity": 1, "price": 49.98},
                    ],
                },
            }
        ],
        "dataProvider": "asgi-attribution",
    }
    assert outcome == Delivered(answer='{"eventsReceived":1}')


def test_the_tags_cookie_gives_the_click_id_without_its_uet_prefix_and_the_url_wins() -> None:
    cookie_only = attribution(identifiers={"uetmsclkid": "_uet" + "a" * 32})
    assert queued(microsoft(), purchase(cookie_only)).payload["userData"]["msclkid"] == "a" * 32
    both = visitor(uetmsclkid="_uet" + "b" * 32)
    assert queued(microsoft(), purchase(both)).payload["userData"]["msclkid"] == MSCLKID
    expired = attribution(touch(timedelta(days=91), msclkid="c" * 32), identifiers={"uetmsclkid": "_uet" + "d" * 32})
    assert queued(microsoft(), purchase(expired)).payload["userData"]["msclkid"] == "d" * 32


def test_it_fires_within_seven_days_with_a_click_id_an_email_or_a_phone() -> None:
    stale = purchase(visitor(), order=order(time=NOW - timedelta(days=8)))
    reason = "the event happened 8.0 days ago: Microsoft's Conversions API takes events at most 7 days old"
    assert microsoft().check(stale) == reason
    organic = attribution(touch(timedelta(hours=1), utm_source="newsletter"), identifiers={"uetvid": UETVID})
    assert (
        microsoft().check(purchase(organic))
        == "Microsoft Advertising needs an msclkid (URL or _uetmsclkid cookie), an email or a phone"
    )
    assert microsoft().check(purchase(organic, Customer(phone="+14255551234"))) is None
    lead = purchase(visitor(), event=EventName.LEAD, order=None)
    assert queued(microsoft(), lead).payload["eventName"] == "lead"
    assert "customData" not in queued(microsoft(), lead).payload  # no value, no order
    assert microsoft(events={"purchase": "purchase"}).check(lead) == (
        "event 'lead' is not configured for Microsoft Advertising"
    )
    custom = purchase(visitor(), event=EventName.CUSTOM, custom_name="trial_started", order=None)
    assert queued(microsoft(), custom).payload["eventName"] == "trial_started"


def test_ad_storage_consent_is_granted_only_when_a_consent_hook_answered() -> None:
    def consent(given: Consent) -> Any:
        return queued(microsoft(), purchase(visitor(), consent=given)).payload.get("adStorageConsent")

    assert consent(Consent()) is None
    assert consent(Consent.of(True)) == "G"
    assert consent(Consent.of({"ad_personalization": "denied"})) == "G"  # storage for measurement was allowed


def test_configuration_is_checked_and_the_token_masked() -> None:
    with pytest.raises(ConfigurationError, match="tag_id"):
        microsoft(tag_id="UET-343")
    for bad in (0, 1001):
        with pytest.raises(ConfigurationError, match="max_batch"):
            microsoft(max_batch=bad)
    vendor = microsoft()
    assert vendor.masked_headers(vendor.build_request([{}]))["authorization"] == "***"
    assert TOKEN not in repr(vendor)
    assert "dataProvider" not in json.loads(microsoft(data_provider="").build_request([{}]).content)


# -- answers ---------------------------------------------------------------------------------------------


def invalid(*details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": "InvalidEvents", "message": "One or more events failed validation.", "details": details}}


def test_a_400_naming_events_fails_them_and_sends_their_neighbours_again() -> None:
    body = invalid(
        {"index": 1, "propertyName": "eventTime", "errorMessage": "older than 7 days", "isWarning": False},
        {"index": 2, "propertyName": "pageTitle", "errorMessage": "long title", "isWarning": True},
    )
    outcomes = microsoft().read_batch(response(400, body), [{}, {}, {}])
    assert outcomes == [
        Retry("Microsoft refused the batch for another event: sent again", after=0.0),
        Failed("HTTP 400: InvalidEvents: One or more events failed validation. (eventTime: older than 7 days)"),
        Retry("Microsoft refused the batch for another event: sent again", after=0.0),
    ]
    (alone,) = microsoft().read_batch(response(400, body), [{}])
    assert isinstance(alone, Failed)
    unplaced = microsoft().read_batch(response(400, {"error": {"code": "InvalidRequest", "message": "bad"}}), [{}, {}])
    assert unplaced == Split("HTTP 400: InvalidRequest: bad")


def test_token_provisioning_throttling_and_outages() -> None:
    def read(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Outcome:
        (outcome,) = microsoft().read_batch(response(status, body, headers), [{}])
        return outcome

    assert read(401, {"error": {"code": "Unauthorized", "message": "bad token"}}) == Failed(
        "HTTP 401: Unauthorized: bad token"
    )
    forbidden = read(403, {"error": {"code": "Forbidden", "message": "not enabled"}})
    assert isinstance(forbidden, Failed)
    assert "Microsoft enables the Conversions API per account" in forbidden.reason
    assert read(429, None, {"retry-after": "30"}) == Retry("HTTP 429: Too Many Requests", after=30.0)
    assert isinstance(read(500), Retry)
    assert isinstance(read(408), Retry)


# -- against the strict fake on loopback ------------------------------------------------------------------


@pytest.fixture
def fake(serve: Serve) -> Any:
    server = FakeMicrosoft(tag_id=TAG, token=TOKEN)
    return server, serve(server.app())


async def deliver(vendor: MicrosoftAds, payloads: list[JSON]) -> list[Outcome]:
    """One claimed batch as the worker sends it: halves apart on Split; the rest as read."""
    async with httpx2.AsyncClient() as client:
        answer = await client.send(vendor.build_request(payloads))
    outcomes = vendor.read_batch(answer, payloads)
    if isinstance(outcomes, Split):
        half = len(payloads) // 2
        return [*await deliver(vendor, payloads[:half]), *await deliver(vendor, payloads[half:])]
    return list(outcomes)


def fresh(n: int, at: datetime | None = None) -> JSON:
    """An event checked out at ``at`` (now by default) and built for sending now."""
    when = at or datetime.now(UTC)
    conversion = purchase(visitor(), customer(), order=order(id=f"M-{n}", time=when))
    return queued(MicrosoftAds(api_token=TOKEN, tag_id=TAG, clock=lambda: when.timestamp() + 60), conversion).payload


async def test_a_batch_lands_with_the_data_provider(fake: Any) -> None:
    server, url = fake
    vendor = MicrosoftAds(api_token=TOKEN, tag_id=TAG, base_url=url)
    assert await deliver(vendor, [fresh(n) for n in range(3)]) == [Delivered(answer='{"eventsReceived":3}')] * 3
    assert server.providers == ["asgi-attribution"]
    assert [event["eventId"] for event in server.received] == ["M-0", "M-1", "M-2"]


async def test_a_stale_event_fails_and_its_neighbours_land_when_sent_again(fake: Any) -> None:
    server, url = fake
    vendor = MicrosoftAds(api_token=TOKEN, tag_id=TAG, base_url=url)
    payloads = [fresh(0), fresh(1, datetime.now(UTC) - timedelta(days=8)), fresh(2)]
    first = await deliver(vendor, payloads)
    assert [type(o) for o in first] == [Retry, Failed, Retry]
    assert "eventTime: eventTime is older than 7 days." in first[1].reason
    assert server.received == []  # all or nothing
    again = await deliver(vendor, [payloads[0], payloads[2]])
    assert again == [Delivered(answer='{"eventsReceived":2}')] * 2
    assert [event["eventId"] for event in server.received] == ["M-0", "M-2"]


async def test_the_fake_refuses_what_the_reference_refuses(fake: Any) -> None:
    server, url = fake
    vendor = MicrosoftAds(api_token=TOKEN, tag_id=TAG, base_url=url)
    good = fresh(0)
    cases = [
        (
            {**good, "userData": {**good["userData"], "msclkid": "_uet" + MSCLKID}},
            "msclkid is not a Microsoft click id",
        ),
        ({**good, "eventTime": good["eventTime"] * 1000}, "milliseconds given?"),
        ({**good, "userData": {**good["userData"], "em": "jane@example.com"}}, "em must be a lowercase hex"),
        ({**good, "userData": {"clientUserAgent": UA}}, "userData needs at least one identifier"),
        ({**good, "customData": {"revenue": 5}}, "customData.revenue: Unknown property."),
    ]
    for bad, said in cases:
        (outcome,) = await deliver(vendor, [bad])
        assert isinstance(outcome, Failed), said
        assert said in outcome.reason
    server.enabled = False
    (refused,) = await deliver(vendor, [good])
    assert isinstance(refused, Failed)
    assert "not enabled for this account" in refused.reason
    (wrong,) = await deliver(MicrosoftAds(api_token="nope", tag_id=TAG, base_url=url), [good])
    assert isinstance(wrong, Failed)
    assert wrong.reason.startswith("HTTP 401: Unauthorized")
    assert server.received == []
