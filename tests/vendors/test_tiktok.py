"""TikTok Events API 2.0: the documented request shape, hashing, the result codes, batch isolation, and
real requests against a strict fake TikTok on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import httpx2
import pytest

from attribution.orders.conversion import Customer, EventName, RequestContext
from attribution.vendors.base import JSON, Delivered, Failed, Outcome, Retry, Split
from attribution.vendors.tiktok import TikTok
from tests.support.servers import Serve

from .fake_tiktok import FakeTikTok
from .samples import NOW, UA, attribution, order, purchase, queued, response, send, touch

TOKEN = "tt-access-token-0123456789"
PIXEL = "COQDA8RC77U2TMR44LI0"


def tiktok(**options: Any) -> TikTok:
    options.setdefault("access_token", TOKEN)
    options.setdefault("pixel_code", PIXEL)
    return TikTok(**options)


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def tiktok_visitor() -> Any:
    landing = touch(timedelta(days=2), ttclid="E.C.P.Cq4BkL9ttclid", utm_source="tiktok", utm_medium="paid_social")
    return attribution(landing, identifiers={"ttp": "2F7h37YkS1j57AYSKTI7IHhJPYH"})


def customer() -> Customer:
    return Customer(email="  Jane.Doe@Example.com ", phone="(415) 555-0100", phone_region="US", external_id="cus_991")


def test_golden_request_has_the_2_0_shape_with_raw_click_ids_and_hashed_personal_data() -> None:
    vendor = tiktok()
    conversion = purchase(tiktok_visitor(), customer())
    assert vendor.check(conversion) is None
    prepared = queued(vendor, conversion)
    assert (prepared.vendor, prepared.dedup_key, prepared.batch_key) == ("tiktok", "purchase:ORD-7821", PIXEL)
    wire, outcome = send(vendor, [prepared.payload], lambda r: httpx2.Response(200, json={"code": 0}))

    assert wire.method == "POST"
    assert str(wire.url) == "https://business-api.tiktok.com/open_api/v1.3/event/track/"
    assert wire.headers["access-token"] == TOKEN
    assert wire.headers["content-type"] == "application/json"
    assert json.loads(wire.content) == {
        "event_source": "web",
        "event_source_id": PIXEL,
        "data": [
            {
                "event": "CompletePayment",
                "event_time": int(NOW.timestamp()),
                "event_id": "ORD-7821",
                "user": {
                    "ttclid": "E.C.P.Cq4BkL9ttclid",
                    "ttp": "2F7h37YkS1j57AYSKTI7IHhJPYH",
                    "email": sha("jane.doe@example.com"),
                    "phone": sha("+14155550100"),
                    "external_id": sha("cus_991"),
                    "ip": "203.0.113.7",
                    "user_agent": UA,
                },
                "page": {"url": "https://shop.example.com/checkout"},
                "properties": {
                    "currency": "USD",
                    "value": 99.97,
                    "content_type": "product",
                    "contents": [
                        {
                            "content_id": "sku-1",
                            "content_name": "Blanket",
                            "content_category": "Pet supplies",
                            "price": 49.99,
                            "quantity": 1,
                        },
                        {
                            "content_id": "sku-2",
                            "content_name": "Bowl",
                            "content_category": "Pet supplies",
                            "price": 49.98,
                            "quantity": 1,
                        },
                    ],
                    "order_id": "ORD-7821",
                },
            }
        ],
    }
    assert outcome == Delivered(answer='{"code":0}')


def test_event_time_is_whole_unix_seconds_not_milliseconds() -> None:
    prepared = queued(tiktok(), purchase(tiktok_visitor()))
    assert prepared.payload["event_time"] == 1746480000


def test_a_hashed_email_from_the_site_passes_through_and_the_event_id_is_stable_across_prepares() -> None:
    digest = sha("jane.doe@example.com")
    conversion = purchase(attribution(), Customer(email=digest.upper()))
    first, second = queued(tiktok(), conversion), queued(tiktok(), conversion)
    assert first.payload["user"]["email"] == digest
    assert first.payload["event_id"] == second.payload["event_id"] == "ORD-7821"


def test_events_map_to_tiktok_names_and_unmapped_ones_are_skipped_with_a_reason() -> None:
    lead = purchase(tiktok_visitor(), event=EventName.LEAD, order=None, event_id="form-9")
    assert tiktok().payload(lead)["event"] == "Lead"
    vendor = tiktok(events={"purchase": "Purchase"})
    assert vendor.check(lead) == "event 'lead' is not configured for TikTok"
    custom = purchase(tiktok_visitor(), event=EventName.CUSTOM, custom_name="TrialStarted", order=None)
    assert tiktok().payload(custom)["event"] == "TrialStarted"


def test_a_visitor_tiktok_cannot_match_is_skipped_with_the_reason() -> None:
    nobody = purchase(attribution(touch(timedelta(hours=1), utm_source="newsletter")))
    assert tiktok().check(nobody) == "TikTok needs a ttclid, the _ttp cookie, an email, a phone or an external id"
    assert tiktok().check(purchase(attribution(), Customer(email="a@b.co"))) is None


def test_only_attributed_needs_a_ttclid_within_its_window() -> None:
    vendor = tiktok(only_attributed=True)
    assert vendor.check(purchase(tiktok_visitor())) is None
    stale = attribution(touch(timedelta(days=29), ttclid="E.C.P.old"), now=NOW)
    reason = vendor.check(purchase(stale, Customer(email="a@b.co")))
    assert reason == "the visitor did not come from a TikTok ad (no ttclid within its window)"


def test_a_conversion_without_a_page_url_is_skipped_rather_than_refused() -> None:
    conversion = purchase(tiktok_visitor(), context=RequestContext(ip="203.0.113.7"))
    assert tiktok().check(conversion) == "TikTok web events need the page URL (the request context has none)"


def test_a_test_event_code_is_sent_and_each_such_event_travels_alone() -> None:
    vendor = tiktok(test_event_code="TEST123", limited_data_use=True)
    prepared = queued(vendor, purchase(tiktok_visitor()))
    assert prepared.batch_key == f"{PIXEL}:purchase:ORD-7821"
    assert prepared.payload["limited_data_use"] is True
    wire, _ = send(vendor, [prepared.payload])
    assert json.loads(wire.content)["test_event_code"] == "TEST123"


def test_the_access_token_is_masked_and_never_in_repr() -> None:
    vendor = tiktok()
    request = vendor.build_request([{"event": "x"}])
    assert vendor.masked_headers(request)["access-token"] == "***"
    assert TOKEN not in repr(vendor)


def read(body: Any, status: int = 200, count: int = 1) -> Any:
    return tiktok().read_batch(response(status, body), [{}] * count)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (0, Delivered),
        (20001, Delivered),
        (40100, Retry),
        (40700, Retry),
        (50000, Retry),
        (50002, Retry),
        (51003, Retry),
        (60001, Retry),
        (61000, Retry),
        (40001, Failed),
        (40002, Failed),
        (40062, Failed),
        (40102, Failed),
        (40105, Failed),
    ],
)
def test_the_outcome_follows_the_envelope_code_even_on_http_200(code: int, kind: type) -> None:
    (outcome,) = read({"code": code, "message": "the vendor's words", "request_id": "r1", "data": {}})
    assert isinstance(outcome, kind)
    if not isinstance(outcome, Delivered):
        assert outcome.reason == f"TikTok {code}: the vendor's words"


def test_http_errors_without_an_envelope_follow_the_status_and_a_bare_200_is_retried() -> None:
    assert isinstance(read(None, status=503)[0], Retry)
    assert isinstance(read(None, status=429)[0], Retry)
    assert isinstance(read(None, status=403)[0], Failed)
    (bare,) = tiktok().read_batch(response(200, text="<html>proxy</html>"), [{}])
    assert bare == Retry("HTTP 200: TikTok answered without a result code")


def test_a_refused_batch_is_split_to_isolate_the_bad_event_and_a_lone_event_fails() -> None:
    for code in (40002, 40061, 40062):
        body = {"code": code, "message": "bad"}
        assert read(body, count=3) == Split(f"TikTok {code}: bad")
        assert read(body, count=1) == [Failed(f"TikTok {code}: bad")]
    assert read({"code": 40001, "message": "no access"}, count=3) == [Failed("TikTok 40001: no access")] * 3


# -- against a strict fake TikTok on loopback ------------------------------------------------------------


@pytest.fixture
def fake(serve: Serve) -> Any:
    fake = FakeTikTok(token=TOKEN, pixel_code=PIXEL)
    return fake, serve(fake.app())


async def deliver(vendor: TikTok, payloads: list[JSON]) -> list[Outcome]:
    """What the worker does with one claimed batch: authorize, send, read per row, send halves apart on Split."""
    async with httpx2.AsyncClient() as client:
        await vendor.authorize(client)
        answer = await client.send(vendor.build_request(payloads))
    outcomes = vendor.read_batch(answer, payloads)
    if isinstance(outcomes, Split):
        half = len(payloads) // 2
        return [*await deliver(vendor, payloads[:half]), *await deliver(vendor, payloads[half:])]
    return list(outcomes)


async def test_a_batch_is_accepted_by_the_strict_server_and_a_resend_is_deduplicated(fake: Any) -> None:
    server, url = fake
    vendor = tiktok(base_url=url)
    payloads = [vendor.payload(purchase(tiktok_visitor(), customer(), order=order(id=f"ORD-{n}"))) for n in range(5)]
    assert await deliver(vendor, payloads) == [Delivered(answer=_ok())] * 5
    assert await deliver(vendor, payloads[:2]) == [Delivered(answer=_ok())] * 2
    assert sorted(server.accepted) == [f"ORD-{n}" for n in range(5)]


async def test_one_unhashed_event_is_isolated_and_its_neighbours_land(fake: Any) -> None:
    server, url = fake
    vendor = tiktok(base_url=url)
    payloads = [vendor.payload(purchase(tiktok_visitor(), customer(), order=order(id=f"ORD-{n}"))) for n in range(4)]
    payloads[2] = {**payloads[2], "user": {**payloads[2]["user"], "email": "jane.doe@example.com"}}
    outcomes = await deliver(vendor, payloads)
    assert [type(o) for o in outcomes] == [Delivered, Delivered, Failed, Delivered]
    assert outcomes[2] == Failed("TikTok 40062: email must be hashed with SHA-256")
    assert sorted(server.accepted) == ["ORD-0", "ORD-1", "ORD-3"]


async def test_rate_limit_then_success_and_a_wrong_token_fails_for_good(fake: Any) -> None:
    server, url = fake
    server.script = [40100]
    vendor = tiktok(base_url=url)
    payload = vendor.payload(purchase(tiktok_visitor()))
    assert await deliver(vendor, [payload]) == [Retry("TikTok 40100: scripted answer")]
    assert await deliver(vendor, [payload]) == [Delivered(answer=_ok())]
    wrong = tiktok(base_url=url, access_token="not-the-token")
    assert await deliver(wrong, [payload]) == [Failed("TikTok 40105: Access token is invalid")]


def _ok() -> str:
    return '{"code":0,"message":"OK","request_id":"20261122000000","data":{}}'


def test_the_batch_size_is_configurable_within_tiktoks_limit() -> None:
    from attribution.errors import ConfigurationError

    small = tiktok(max_batch=50)
    assert small.max_batch == 50
    assert tiktok().max_batch == 1000
    with pytest.raises(ValueError, match="1 to 50 events, not 51"):
        small.build_request([{"event": "x"}] * 51)
    for bad in (0, 1001):
        with pytest.raises(ConfigurationError, match="max_batch"):
            tiktok(max_batch=bad)
