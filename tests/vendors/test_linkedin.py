"""LinkedIn Conversions API: the reference's examples, the request shape (one event, BATCH_CREATE), when it fires,
the answers classified (an element refused by index, a version to update, a token refreshed once), and requests
against a strict fake of the API and its OAuth token endpoint on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from attribution.errors import ConfigurationError, TokenRefreshError
from attribution.orders.conversion import Customer, EventName
from attribution.vendors.base import JSON, Delivered, Failed, Outcome, Retry, Split
from attribution.vendors.linkedin import LinkedIn
from tests.support.servers import Serve

from .fake_linkedin import FakeLinkedIn
from .samples import NOW, attribution, order, purchase, queued, response, send, touch

TOKEN = "AQV-member-token-0123"
RULE = "urn:lla:llaPartnerConversion:12345"
LI_FAT_ID = "df2a9e5c-3c4b-4f8a-9e1d-7b6a5c4d3e2f"
# sha256("jane.doe+news@example.com"), computed apart with sha256sum: LinkedIn keeps dots and +alias
JANE = "dbf1912b4cad4df9823f627874244e64b50a6ac550b9cb33b17df671a26679db"


def linkedin(**options: Any) -> LinkedIn:
    if not {"client_id", "client_secret", "refresh_token"} & set(options):
        options.setdefault("access_token", TOKEN)
    options.setdefault("events", {"purchase": "12345", "lead": "urn:lla:llaPartnerConversion:678"})
    options.setdefault("clock", lambda: NOW.timestamp() + 60)
    return LinkedIn(**options)


def visitor(**identifiers: str) -> Any:
    landing = touch(timedelta(days=10), li_fat_id=LI_FAT_ID, utm_source="linkedin", utm_medium="paid_social")
    return attribution(landing, identifiers=identifiers)


def customer(**fields: Any) -> Customer:
    base: dict[str, Any] = {
        "email": "  Jane.Doe+news@Example.com ",
        "phone": "+14155550100",
        "first_name": "Jane",
        "last_name": "Doe",
        "country": "us",
        "external_id": "crm-778",
    }
    return Customer(**{**base, **fields})


def test_golden_single_event_with_the_versioned_headers() -> None:
    vendor = linkedin()
    delivery = queued(vendor, purchase(visitor(), customer()))
    assert (delivery.vendor, delivery.dedup_key, delivery.batch_key) == ("linkedin", "purchase:ORD-7821", "")
    wire, outcome = send(vendor, [delivery.payload], lambda r: httpx2.Response(201))
    assert wire.method == "POST"
    assert str(wire.url) == "https://api.linkedin.com/rest/conversionEvents"
    assert wire.headers["authorization"] == f"Bearer {TOKEN}"
    assert wire.headers["linkedin-version"] == "202604"
    assert wire.headers["x-restli-protocol-version"] == "2.0.0"
    assert "x-restli-method" not in wire.headers
    assert json.loads(wire.content) == {
        "conversion": RULE,
        "conversionHappenedAt": 1746480000000,
        "conversionValue": {"currencyCode": "USD", "amount": "99.97"},
        "eventId": "ORD-7821",
        "user": {
            "userIds": [
                {"idType": "SHA256_EMAIL", "idValue": JANE},
                {"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": LI_FAT_ID},
            ],
            "userInfo": {"firstName": "Jane", "lastName": "Doe", "countryCode": "US"},
            "externalIds": ["crm-778"],
        },
    }
    assert outcome == Delivered(answer="HTTP 201")


def test_several_events_travel_as_one_batch_create() -> None:
    vendor = linkedin()
    payloads = [queued(vendor, purchase(visitor(), customer(), order=order(id=f"L-{n}"))).payload for n in range(3)]
    answer = {"elements": [{"status": 201}] * 3}
    wire, _ = send(vendor, payloads, lambda r: httpx2.Response(200, json=answer))
    assert wire.headers["x-restli-method"] == "BATCH_CREATE"
    assert [e["eventId"] for e in json.loads(wire.content)["elements"]] == ["L-0", "L-1", "L-2"]
    outcomes = vendor.read_batch(response(200, answer), payloads)
    assert outcomes == [Delivered(answer='{"status":201}')] * 3


def test_no_phone_ip_or_user_agent_and_a_name_only_with_its_pair() -> None:
    payload = queued(linkedin(), purchase(visitor(), customer(first_name=None))).payload
    assert "userInfo" not in payload["user"]
    text = json.dumps(payload)
    assert "4155550100" not in text
    assert "203.0.113.7" not in text
    assert "Mozilla" not in text
    quiet = linkedin(send_names=False)
    assert "userInfo" not in queued(quiet, purchase(visitor(), customer())).payload["user"]
    assert {form.name for form in quiet.identifiers} == {"email_sha256", "external_id"}
    loud = linkedin(send_ip=True)
    ids = queued(loud, purchase(visitor(), customer())).payload["user"]["userIds"]
    assert {"idType": "PLAINTEXT_IP_ADDRESS", "idValue": "203.0.113.7"} in ids


def test_the_insight_tags_cookie_stands_in_for_the_url_click_id() -> None:
    cookie = attribution(identifiers={"li_fat_id_cookie": "cookie-uuid"})
    ids = queued(linkedin(), purchase(cookie)).payload["user"]["userIds"]
    assert ids == [{"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": "cookie-uuid"}]
    ids = queued(linkedin(), purchase(visitor(li_fat_id_cookie="cookie-uuid"))).payload["user"]["userIds"]
    assert ids[-1]["idValue"] == LI_FAT_ID


def test_it_fires_for_a_mapped_rule_within_ninety_days_with_something_to_match() -> None:
    assert linkedin().check(purchase(visitor(), event=EventName.CONTACT, order=None)) == (
        "event 'contact' has no LinkedIn conversion rule configured"
    )
    stale = purchase(visitor(), order=order(time=NOW - timedelta(days=91)))
    assert linkedin().check(stale) == "the event happened 91 days ago: LinkedIn takes events at most 90 days old"
    organic = attribution(touch(timedelta(hours=2), utm_source="newsletter"))
    reason = "LinkedIn needs an li_fat_id (URL or Insight Tag cookie), an email, or a first and last name"
    assert linkedin().check(purchase(organic, Customer(first_name="Jane"))) == reason
    assert linkedin().check(purchase(organic, Customer(first_name="Jane", last_name="Doe"))) is None
    lead = purchase(visitor(), event=EventName.LEAD, order=None)
    assert queued(linkedin(), lead).payload["conversion"] == "urn:lla:llaPartnerConversion:678"
    assert "conversionValue" not in queued(linkedin(), lead).payload
    custom = purchase(visitor(), event=EventName.CUSTOM, custom_name="demo_booked", order=None)
    assert queued(linkedin(events={"demo_booked": "999"}), custom).payload["conversion"].endswith(":999")


def test_amounts_are_decimal_strings_and_a_long_event_id_is_left_out() -> None:
    hundred = purchase(visitor(), order=order(value=Decimal("1E+2"), items=[]))
    assert queued(linkedin(), hundred).payload["conversionValue"] == {"currencyCode": "USD", "amount": "100"}
    long_id = purchase(visitor(), order=order(id="X" * 65))
    assert "eventId" not in queued(linkedin(), long_id).payload


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="either access_token"):
        LinkedIn(events={"purchase": "1"})
    with pytest.raises(ConfigurationError, match="either access_token"):
        LinkedIn(access_token="t", client_id="c", client_secret="s", refresh_token="r", events={"purchase": "1"})
    with pytest.raises(ConfigurationError, match="either access_token"):
        LinkedIn(client_id="c", client_secret="s", events={"purchase": "1"})
    with pytest.raises(ConfigurationError, match="conversion rule"):
        LinkedIn(access_token="t", events={})
    with pytest.raises(ConfigurationError, match="conversion rule ids"):
        LinkedIn(access_token="t", events={"purchase": "urn:li:sponsoredAccount:1"})
    with pytest.raises(ConfigurationError, match="YYYYMM"):
        LinkedIn(access_token="t", events={"purchase": "1"}, api_version="2026-04")
    with pytest.raises(ConfigurationError, match="max_batch"):
        LinkedIn(access_token="t", events={"purchase": "1"}, max_batch=5001)
    vendor = linkedin()
    assert vendor.masked_headers(vendor.build_request([{}]))["authorization"] == "***"
    assert TOKEN not in repr(vendor)


# -- answers ---------------------------------------------------------------------------------------------

SCHEMA_422 = {
    "status": 422,
    "message": "Index: 1, ERROR :: /conversionValue/amount :: field is required but not found and has no default "
    "value\nERROR :: /user/userInfo/firstName :: field is required but not found and has no default value\n",
}


def test_a_422_fails_the_indexed_element_and_sends_the_others_again() -> None:
    outcomes = linkedin().read_batch(response(422, SCHEMA_422), [{}, {}, {}])
    again = Retry("LinkedIn refused the batch for another element: sent again", after=0.0)
    assert outcomes == [
        again,
        Failed(
            "HTTP 422: Index: 1, ERROR :: /conversionValue/amount :: field is required but not found and has no "
            "default value ERROR :: /user/userInfo/firstName :: field is required but not found and has no default "
            "value"
        ),
        again,
    ]
    (alone,) = linkedin().read_batch(response(422, {"status": 422, "message": "ERROR :: /user :: missing"}), [{}])
    assert alone == Failed("HTTP 422: ERROR :: /user :: missing")
    unindexed = linkedin().read_batch(response(422, {"status": 422, "message": "ERROR :: /user :: x"}), [{}, {}])
    assert isinstance(unindexed, Split)


def test_a_rule_of_another_method_is_named_by_its_index() -> None:
    body = {
        "status": 400,
        "message": "Incorrect conversions information provided. Conversion's method should be CONVERSIONS_API, "
        "indices [0] (0-indexed)",
    }
    first, second = linkedin().read_batch(response(400, body), [{}, {}])
    assert isinstance(first, Failed)
    assert "method should be CONVERSIONS_API" in first.reason
    assert isinstance(second, Retry)
    assert (
        linkedin().read_batch(response(400, {"status": 400, "message": "Unable to parse"}), [{}, {}])
        == [Failed("HTTP 400: Unable to parse")] * 2
    )


def test_an_inactive_version_a_token_a_throttle_and_an_outage() -> None:
    def read(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Outcome:
        (outcome,) = linkedin().read_batch(response(status, body, headers), [{}])
        return outcome

    old = read(426, {"status": 426, "code": "NONEXISTENT_VERSION", "message": "Requested version 202604 is not active"})
    assert isinstance(old, Failed)
    assert old.reason.endswith("LinkedIn-Version 202604 is no longer active: set api_version to a newer YYYYMM")
    token = read(401, {"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN", "message": "Invalid"})
    assert token == Failed(
        "HTTP 401: INVALID_ACCESS_TOKEN: Invalid; give a new access_token (a member token lasts 60 days)"
    )
    assert read(429, {"status": 429, "code": "TOO_MANY_REQUESTS", "message": "slow"}, {"retry-after": "12"}) == Retry(
        "HTTP 429: TOO_MANY_REQUESTS: slow", after=12.0
    )
    assert isinstance(read(503), Retry)
    assert isinstance(read(403, {"status": 403, "code": "ACCESS_DENIED", "message": "no role"}), Failed)
    long = read(426, {"status": 426, "message": "inactive " * 100})
    assert isinstance(long, Failed)
    assert len(long.reason) <= 500
    assert long.reason.endswith("set api_version to a newer YYYYMM")  # what to do survives the cut


def test_a_batch_answer_gives_each_element_its_own_status() -> None:
    answer = {"elements": [{"status": 201}, {"status": 500, "message": "internal"}, {"status": 400, "message": "bad"}]}
    outcomes = linkedin().read_batch(response(200, answer), [{}, {}, {}])
    assert outcomes == [
        Delivered(answer='{"status":201}'),
        Retry("element status 500: internal"),
        Failed("element status 400: bad"),
    ]


# -- against the strict fake on loopback ------------------------------------------------------------------


@pytest.fixture
def fake(serve: Serve) -> Any:
    server = FakeLinkedIn()
    return server, serve(server.app())


def refreshing(url: str, **options: Any) -> LinkedIn:
    return LinkedIn(
        client_id="86li-client-id",
        client_secret="li-client-secret-0123",
        refresh_token=options.pop("refresh_token", "AQX-li-refresh-token-0123"),
        events={"purchase": "12345", "lead": "777"},
        base_url=url,
        token_url=f"{url}/oauth/v2/accessToken",
        **options,
    )


async def deliver(vendor: LinkedIn, payloads: list[JSON], client: httpx2.AsyncClient) -> list[Outcome]:
    await vendor.authorize(client)
    answer = await client.send(vendor.build_request(payloads))
    outcomes = vendor.read_batch(answer, payloads)
    if isinstance(outcomes, Split):
        half = len(payloads) // 2
        return [*await deliver(vendor, payloads[:half], client), *await deliver(vendor, payloads[half:], client)]
    return list(outcomes)


def event(n: int, event_name: EventName = EventName.PURCHASE) -> JSON:
    now = datetime.now(UTC)
    overrides: dict[str, Any] = {"order": order(id=f"L-{n}", time=now)}
    if event_name is not EventName.PURCHASE:
        overrides = {"event": event_name, "order": None, "event_id": f"L-{n}", "event_time": now}
    vendor = LinkedIn(access_token=TOKEN, events={"purchase": "12345", "lead": "777"})
    return queued(vendor, purchase(visitor(), customer(), **overrides)).payload


async def test_one_event_and_a_batch_land(fake: Any) -> None:
    server, url = fake
    vendor = LinkedIn(access_token=TOKEN, events={"purchase": "12345"}, base_url=url)
    async with httpx2.AsyncClient() as client:
        assert await deliver(vendor, [event(0)], client) == [Delivered(answer="HTTP 201")]
        batch = await deliver(vendor, [event(1), event(2)], client)
    assert batch == [Delivered(answer='{"status":201}')] * 2
    assert [e["eventId"] for e in server.received] == ["L-0", "L-1", "L-2"]


async def test_a_bad_element_is_failed_by_its_index_and_its_neighbours_land_when_sent_again(fake: Any) -> None:
    server, url = fake
    vendor = LinkedIn(access_token=TOKEN, events={"purchase": "12345"}, base_url=url)
    payloads = [event(n) for n in range(3)]
    payloads[1] = {**payloads[1], "conversionValue": {"currencyCode": "USD", "amount": 99.97}}  # a number
    async with httpx2.AsyncClient() as client:
        first = await deliver(vendor, payloads, client)
        assert [type(o) for o in first] == [Retry, Failed, Retry]
        assert "/conversionValue/amount :: 99.97 cannot be coerced to String" in first[1].reason
        assert server.received == []
        again = await deliver(vendor, [payloads[0], payloads[2]], client)
    assert [type(o) for o in again] == [Delivered, Delivered]
    assert [e["eventId"] for e in server.received] == ["L-0", "L-2"]


async def test_a_rule_that_is_not_a_conversions_api_rule_and_an_old_version(fake: Any) -> None:
    _, url = fake
    async with httpx2.AsyncClient() as client:
        vendor = LinkedIn(access_token=TOKEN, events={"purchase": "12345", "lead": "777"}, base_url=url)
        outcomes = await deliver(vendor, [event(0), event(1, EventName.LEAD)], client)
        assert isinstance(outcomes[0], Retry)
        assert isinstance(outcomes[1], Failed)
        assert "Conversion's method should be CONVERSIONS_API, indices [1]" in outcomes[1].reason
        old = LinkedIn(access_token=TOKEN, events={"purchase": "12345"}, base_url=url, api_version="202401")
        (outcome,) = await deliver(old, [event(0)], client)
    assert isinstance(outcome, Failed)
    assert "NONEXISTENT_VERSION" in outcome.reason
    assert "set api_version to a newer YYYYMM" in outcome.reason


async def test_the_refresh_token_is_exchanged_once_and_again_once_after_a_401(fake: Any) -> None:
    server, url = fake
    vendor = refreshing(url)
    async with httpx2.AsyncClient() as client:
        assert await deliver(vendor, [event(0)], client) == [Delivered(answer="HTTP 201")]
        assert await deliver(vendor, [event(1)], client) == [Delivered(answer="HTTP 201")]
        assert server.issued == 1  # cached: the token lives 60 days
        server.expire_tokens()
        (refused,) = await deliver(vendor, [event(2)], client)
        assert refused == Retry(
            "HTTP 401: INVALID_ACCESS_TOKEN: Invalid access token; the access token is refreshed and the request "
            "sent again",
            after=0.0,
        )
        assert await deliver(vendor, [event(2)], client) == [Delivered(answer="HTTP 201")]
        assert server.issued == 2
        # a member who lost the account role: the fresh token is refused as well, and that is final
        server.expire_tokens()
        server.revoked.add(f"AQV-refreshed-{server.issued + 1}")
        (first,) = await deliver(vendor, [event(3)], client)
        (second,) = await deliver(vendor, [event(3)], client)
    assert isinstance(first, Retry)
    assert isinstance(second, Failed)
    assert "REVOKED_ACCESS_TOKEN" in second.reason
    assert second.reason.endswith("refused again with a fresh token: check the OAuth client and refresh token")
    assert [e["eventId"] for e in server.received] == ["L-0", "L-1", "L-2"]


async def test_a_revoked_refresh_token_is_a_permanent_refusal(fake: Any) -> None:
    _, url = fake
    vendor = refreshing(url, refresh_token="AQX-revoked")
    async with httpx2.AsyncClient() as client:
        with pytest.raises(TokenRefreshError) as refused:
            await vendor.authorize(client)
    assert refused.value.transient is False
    assert "invalid_grant" in str(refused.value)
    assert "AQX-revoked" not in str(refused.value)
