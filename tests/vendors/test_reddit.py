"""Reddit Conversions API v3: Reddit's own hashing examples, the documented request shape, when it fires, the
answers classified, and requests against a strict fake Reddit on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import httpx2
import pytest

from attribution.capture.consent import Consent
from attribution.errors import ConfigurationError
from attribution.orders.conversion import Customer, EventName, RequestContext
from attribution.vendors.base import JSON, Delivered, Failed, Outcome, Retry, Split
from attribution.vendors.reddit import USER_AGENT, Reddit, reddit_email
from tests.support.servers import Serve

from .fake_reddit import FakeReddit
from .samples import NOW, UA, attribution, order, purchase, queued, response, send, touch

TOKEN = "rdt-conversion-access-token-0123"
PIXEL = "a2_fakepixel01"
RDT_CID = "t2_1a2b3c_rdtclick"
RDT_UUID = "1746400000000.4df2ebdc-15ff-4b34-9ae8-d6e2096a5dc9"


def reddit(**options: Any) -> Reddit:
    options.setdefault("access_token", TOKEN)
    options.setdefault("pixel_id", PIXEL)
    options.setdefault("clock", lambda: NOW.timestamp() + 60)
    return Reddit(**options)


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def visitor() -> Any:
    landing = touch(timedelta(days=2), rdt_cid=RDT_CID, utm_source="reddit", utm_medium="paid_social")
    return attribution(landing, identifiers={"rdt_uuid": RDT_UUID})


# -- Reddit's own examples ("Manual Advanced Matching"), digests computed apart with sha256sum ------------


def test_reddits_email_example_drops_the_alias_and_every_non_alphanumeric_of_the_name() -> None:
    expected = "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976"  # sha256("alice@example.com")
    assert reddit_email("Al.ice$+Apple@Example.Com") == expected
    assert reddit_email("alice@example.com") == expected
    # through a Customer, as a checkout gives it: the address is valid, only Reddit's form drops its dots
    delivery = queued(reddit(), purchase(visitor(), Customer(email="Al.ice$+Apple@Example.Com")))
    assert delivery.payload["user"]["email"] == expected
    assert reddit_email(expected.upper()) == expected  # a digest the site gave passes through


def test_reddits_phone_and_external_id_examples() -> None:
    customer = Customer(phone="+1 (555) 444-1234 ext. 789", external_id="customer12345")
    delivery = queued(reddit(), purchase(visitor(), customer))
    user = delivery.payload["user"]
    assert user["phone_number"] == "e5b124c58580eb16bd959b8d0cac12b12c952e2ceae0203d416cff94f10b994a"
    assert user["external_id"] == "a4cc2fc5adf58a029291c1514d273989113a1d05e1d753c1d0c3a848af7109cc"


def test_golden_request_in_the_v3_shape() -> None:
    vendor = reddit()
    conversion = purchase(visitor(), Customer(email="Jane.Doe+shop@Example.com", phone="+14155550100"))
    assert vendor.check(conversion) is None
    delivery = queued(vendor, conversion)
    assert (delivery.vendor, delivery.dedup_key, delivery.batch_key) == ("reddit", "purchase:ORD-7821", PIXEL)
    answer = {"data": {"message": "Successfully processed 1 conversion events."}}
    wire, outcome = send(vendor, [delivery.payload], lambda r: httpx2.Response(200, json=answer))
    assert wire.method == "POST"
    assert str(wire.url) == f"https://ads-api.reddit.com/api/v3/pixels/{PIXEL}/conversion_events"
    assert wire.headers["authorization"] == f"Bearer {TOKEN}"
    assert wire.headers["content-type"] == "application/json"
    assert wire.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("asgi-attribution/")
    assert json.loads(wire.content) == {
        "data": {
            "events": [
                {
                    "event_at": 1746480000000,
                    "action_source": "WEBSITE",
                    "type": {"tracking_type": "PURCHASE"},
                    "click_id": RDT_CID,
                    "event_source_url": "https://shop.example.com/checkout",
                    "metadata": {
                        "conversion_id": "ORD-7821",
                        "order_id": "ORD-7821",
                        "currency": "USD",
                        "value": 99.97,
                        "item_count": 2,
                        "products": [
                            {
                                "id": "sku-1",
                                "name": "Blanket",
                                "category": "Pet supplies",
                                "quantity": 1,
                                "item_price": 49.99,
                            },
                            {
                                "id": "sku-2",
                                "name": "Bowl",
                                "category": "Pet supplies",
                                "quantity": 1,
                                "item_price": 49.98,
                            },
                        ],
                    },
                    "user": {
                        "email": sha("janedoe@example.com"),
                        "phone_number": sha("+14155550100"),
                        "ip_address": sha("203.0.113.7"),
                        "user_agent": UA,
                        "uuid": RDT_UUID,
                    },
                }
            ]
        }
    }
    assert outcome == Delivered(answer=json.dumps(answer, separators=(",", ":")))


def test_event_at_is_milliseconds_and_the_ip_may_go_plain() -> None:
    delivery = queued(reddit(hash_ip=False), purchase(visitor()))
    assert delivery.payload["event_at"] == int(NOW.timestamp()) * 1000
    assert delivery.payload["user"]["ip_address"] == "203.0.113.7"


def test_events_map_to_tracking_types_and_custom_names() -> None:
    def kind(vendor: Reddit, **overrides: Any) -> Any:
        conversion = purchase(visitor(), **overrides)
        return vendor.check(conversion) or queued(vendor, conversion).payload["type"]

    assert kind(reddit(), event=EventName.COMPLETE_REGISTRATION, order=None) == {"tracking_type": "SIGN_UP"}
    assert kind(reddit(), event=EventName.LEAD, order=None) == {"tracking_type": "LEAD"}
    assert kind(reddit(), event=EventName.CUSTOM, custom_name="TrialStarted", order=None) == {
        "tracking_type": "CUSTOM",
        "custom_event_name": "TrialStarted",
    }
    assert kind(reddit(), event=EventName.CONTACT, order=None) == "event 'contact' is not configured for Reddit"
    # a value that is not one of Reddit's types is a custom event of that name
    mapped = reddit(events={"contact": "ContactFormSent", "purchase": "PURCHASE"})
    assert kind(mapped, event=EventName.CONTACT, order=None) == {
        "tracking_type": "CUSTOM",
        "custom_event_name": "ContactFormSent",
    }
    with pytest.raises(ConfigurationError, match="1 to 64"):
        reddit(events={"lead": "x" * 65})


def test_it_fires_only_within_seven_days_and_with_a_match_key() -> None:
    stale = purchase(visitor(), order=order(time=NOW - timedelta(days=7, minutes=5)))
    assert reddit().check(stale) == "the event happened 7.0 days ago: Reddit takes events at most 7 days old"
    nobody = purchase(attribution(touch(timedelta(hours=1), utm_source="news")), context=RequestContext())
    reason = "Reddit needs an rdt_cid, the _rdt_uuid cookie, an email, a phone, an external id, or IP and user agent"
    assert reddit().check(nobody) == reason
    # IP and user agent together are a match key; the pixel's cookies too
    assert reddit().check(purchase(attribution(touch(timedelta(hours=1), utm_source="news")))) is None
    cookie_only = attribution(identifiers={"rdt_cid_cookie": "t2_fromcookie"})
    assert reddit().check(purchase(cookie_only, context=RequestContext())) is None


def test_the_click_id_comes_from_the_url_else_from_the_pixels_cookie() -> None:
    both = attribution(touch(timedelta(days=1), rdt_cid=RDT_CID), identifiers={"rdt_cid_cookie": "t2_cookie"})
    assert queued(reddit(), purchase(both)).payload["click_id"] == RDT_CID
    expired = attribution(touch(timedelta(days=29), rdt_cid="t2_old"), identifiers={"rdt_cid_cookie": "t2_cookie"})
    assert queued(reddit(), purchase(expired)).payload["click_id"] == "t2_cookie"


def test_limited_data_use_only_when_a_consent_hook_refused_personalisation_for_reddit() -> None:
    def options(consent: Consent) -> Any:
        return queued(reddit(), purchase(visitor(), consent=consent)).payload["user"].get("data_processing_options")

    assert options(Consent()) is None  # no hook: nothing claimed
    assert options(Consent.of(True)) is None
    assert options(Consent.of({"ad_personalization": "denied"})) == {"modes": ["LDU"]}
    assert options(Consent.of({"vendors": {"reddit": {"ad_personalization": False}}})) == {"modes": ["LDU"]}
    assert options(Consent.of({"vendors": {"tiktok": {"ad_personalization": False}}})) is None


def test_a_test_id_travels_in_the_body_and_each_test_event_alone() -> None:
    vendor = reddit(test_id="t2_testing")
    delivery = queued(vendor, purchase(visitor()))
    assert delivery.batch_key == f"{PIXEL}:purchase:ORD-7821"
    wire, _ = send(vendor, [delivery.payload])
    assert json.loads(wire.content)["data"]["test_id"] == "t2_testing"


def test_the_token_is_masked_and_never_in_repr() -> None:
    vendor = reddit()
    request = vendor.build_request([{"event_at": 1}])
    assert vendor.masked_headers(request)["authorization"] == "***"
    assert TOKEN not in repr(vendor)
    for bad in (0, 1001):
        with pytest.raises(ConfigurationError, match="max_batch"):
            reddit(max_batch=bad)


# -- answers ---------------------------------------------------------------------------------------------


def read(status: int, body: Any = None, count: int = 1, headers: dict[str, str] | None = None) -> Any:
    return reddit().read_batch(response(status, body, headers=headers), [{}] * count)


def test_a_400_fails_one_event_with_reddits_words_and_splits_a_batch() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "invalid schema",
            "fields": [{"field": "data.events[1].event_at", "message": "must be within the last 7 days"}],
        }
    }
    (alone,) = read(400, body)
    assert alone == Failed("HTTP 400: invalid schema (data.events[1].event_at: must be within the last 7 days)")
    assert read(400, body, count=3) == Split(alone.reason)


@pytest.mark.parametrize("status", [401, 403, 404])
def test_credential_and_pixel_refusals_fail_every_event_without_splitting(status: int) -> None:
    outcomes = read(status, {"error": {"code": status, "message": "no"}}, count=3)
    assert outcomes == [Failed(f"HTTP {status}: no")] * 3


def test_throttling_waits_for_retry_after_or_reddits_rate_limit_reset_and_5xx_is_retried() -> None:
    limited = {"ratelimit": '"ads-conversion-events-rps";r=0;t=7', "ratelimit-policy": '"x";q=1000;w=1'}
    assert read(429, {"error": {"code": 429, "message": "slow down"}}, headers=limited) == [
        Retry("HTTP 429: slow down", after=7.0)
    ]
    assert read(429, None, headers={"retry-after": "3", **limited})[0].after == 3.0
    assert isinstance(read(503)[0], Retry)
    assert read(503, count=2) == [read(503)[0]] * 2


# -- against the strict fake on loopback ------------------------------------------------------------------


@pytest.fixture
def fake(serve: Serve) -> Any:
    server = FakeReddit(token=TOKEN, pixel_id=PIXEL)
    return server, serve(server.app())


async def deliver(vendor: Reddit, payloads: list[JSON]) -> list[Outcome]:
    """What the worker does with one claimed batch: send, read per event, send halves apart on Split."""
    async with httpx2.AsyncClient() as client:
        await vendor.authorize(client)
        answer = await client.send(vendor.build_request(payloads))
    outcomes = vendor.read_batch(answer, payloads)
    if isinstance(outcomes, Split):
        half = len(payloads) // 2
        return [*await deliver(vendor, payloads[:half]), *await deliver(vendor, payloads[half:])]
    return list(outcomes)


def live(url: str) -> Reddit:
    return Reddit(access_token=TOKEN, pixel_id=PIXEL, base_url=url)


def fresh(n: int) -> JSON:
    from datetime import UTC, datetime

    conversion = purchase(visitor(), Customer(email="a@b.co"), order=order(id=f"R-{n}", time=datetime.now(UTC)))
    return queued(live("http://unused"), conversion).payload


async def test_a_batch_lands_and_a_resend_is_counted_once(fake: Any) -> None:
    server, url = fake
    payloads = [fresh(n) for n in range(4)]
    ok = Delivered(answer='{"data":{"message":"Successfully processed 4 conversion events."}}')
    assert await deliver(live(url), payloads) == [ok] * 4
    await deliver(live(url), payloads[:2])
    assert len(server.received) == 6
    assert sorted(key[1] for key in server.counted) == ["R-0", "R-1", "R-2", "R-3"]
    assert server.user_agents[0] == USER_AGENT  # a generic agent would have been throttled


async def test_a_bad_event_is_isolated_and_its_neighbours_land(fake: Any) -> None:
    server, url = fake
    payloads = [fresh(n) for n in range(4)]
    payloads[1] = {**payloads[1], "event_at": payloads[1]["event_at"] // 1000}  # seconds: 56 years ago
    outcomes = await deliver(live(url), payloads)
    assert [type(o) for o in outcomes] == [Delivered, Failed, Delivered, Delivered]
    assert "data.events[0].event_at: must be within the last 7 days (is it in seconds?)" in outcomes[1].reason
    assert sorted(key[1] for key in server.counted) == ["R-0", "R-2", "R-3"]


async def test_the_fake_refuses_a_wrong_token_a_foreign_pixel_and_a_generic_user_agent(fake: Any) -> None:
    server, url = fake
    payload = fresh(0)
    (wrong,) = await deliver(Reddit(access_token="nope", pixel_id=PIXEL, base_url=url), [payload])
    assert wrong == Failed("HTTP 401: Unauthorized: the access token is missing or invalid")
    (foreign,) = await deliver(Reddit(access_token=TOKEN, pixel_id="a2_someoneelse", base_url=url), [payload])
    assert isinstance(foreign, Failed)
    assert "HTTP 403" in foreign.reason
    async with httpx2.AsyncClient() as client:
        request = live(url).build_request([payload])
        request.headers["user-agent"] = "python-httpx2/2.16"
        assert (await client.send(request)).status_code == 429
    assert server.received == []
