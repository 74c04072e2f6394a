"""``GoogleAds`` end to end on loopback: the public Tracker queues conversions in a real SQLite outbox, the real
Worker sends them to the strict fake Data Manager API and token endpoint under uvicorn (``fake_datamanager``), and
the outbox shows what came of each: a batch with one bad event, retries, Google's dedup and restatements, consent,
a service account's login, Google's later verdict, and no credential or personal value in the outbox or the logs.
The fake's own strictness is checked first, so that what it accepts means something."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest

from attribution import Customer, GoogleAds, Tracker
from attribution.capture.consent import Consent
from attribution.capture.models import Attribution, Channel, Touch
from attribution.capture.params import DEFAULT_CLICK_ID_WINDOWS
from attribution.delivery.outbox.base import Status
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from attribution.delivery.sending import Sender
from attribution.delivery.worker import Worker
from attribution.orders.conversion import Conversion, Order, RequestContext
from attribution.orders.identifiers import derive_all
from attribution.vendors.base import Delivered, Failed, Retry
from tests.support.delivery_fakes import FAST, FakeClock, drain, previous_release_outbox
from tests.support.servers import Serve

from .fake_datamanager import CONVERSION_ACTION, MANAGER_ACCOUNT, OPERATING_ACCOUNT, FakeDataManager
from .google_tokens import ADWORDS_ONLY_REFRESH_TOKEN, USER, ServiceAccountKey, service_account_key
from .samples import UA

EMAIL = "Maria.Silva+shop@Gmail.com"
IP = "198.51.100.23"


@dataclass
class Live:
    url: str
    fake: FakeDataManager
    key: ServiceAccountKey


@pytest.fixture
def live(serve: Serve) -> Live:
    """The strict fake under uvicorn on 127.0.0.1, knowing one service account."""
    key = service_account_key()
    fake = FakeDataManager()
    fake.tokens.service_accounts[key.email] = key
    return Live(serve(fake.app()), fake, key)


def vendor_for(live: Live, **options: Any) -> GoogleAds:
    settings: dict[str, Any] = {
        **USER,
        "customer_id": "123-456-7890",
        "conversion_actions": {"purchase": CONVERSION_ACTION},
        "base_url": live.url,
        "token_url": f"{live.url}/token",
        "enhanced_conversions": True,
    }
    settings.update(options)
    return GoogleAds(**settings)


def conversion(order_id: str, *, gclid: str | None = "Cj0KCQ-good", consent: Consent | None = None) -> Conversion:
    """A purchase made now by a visitor who clicked a Google ad two days ago (or came without a click)."""
    now = datetime.now(UTC)
    params = {"gclid": gclid} if gclid else {}
    landing = Touch(at=now - timedelta(days=2), params=params, path="/landing", channel=Channel.PAID_SEARCH)
    attribution = Attribution(first=landing, history=[landing]).with_windows(DEFAULT_CLICK_ID_WINDOWS, now=now)
    return Conversion(
        order=Order(id=order_id, value=Decimal("49.90"), currency="BRL", time=now),
        customer=Customer(email=EMAIL, phone="+55 11 91234-5678"),
        attribution=attribution,
        context=RequestContext(ip=IP, user_agent=UA),
        consent=consent or Consent(),
    )


async def deliver(tracker: Tracker, vendor: GoogleAds, conversions: list[Conversion]) -> dict[str, Any]:
    """Checkout for each conversion, then the real worker until nothing is due: each delivery by order id."""
    for item in conversions:
        result = await tracker.record(item)
        assert result["google_ads"].status == "queued", result["google_ads"].reason
    clock = FakeClock(time.time())
    worker = Worker(tracker.outbox, [vendor], policy=FAST, clock=clock)
    await drain(worker, clock)
    await worker.stop()
    rows = await tracker.outbox.list(limit=100)
    return {row.order_id: await tracker.outbox.get(row.id) for row in rows}


# -- the whole worker path -----------------------------------------------------------------------------------------


async def test_a_batch_with_one_bad_event_dead_letters_it_and_delivers_the_rest_without_penalty(
    live: Live, tmp_path: Path
) -> None:
    live.fake.refuse_numeric_transaction_id = True  # as one live integration saw Google refuse "2"
    vendor = vendor_for(live)
    tracker = Tracker(vendors=[vendor], outbox=tmp_path / "outbox.sqlite3", run_worker=False)
    async with tracker.lifespan():
        found = await deliver(tracker, vendor, [conversion("ORD-1"), conversion("1002"), conversion("ORD-3")])
    good, bad, other = found["ORD-1"], found["1002"], found["ORD-3"]
    assert bad.status is Status.DEAD
    assert bad.last_error == "events[1]: INVALID_ARGUMENT: Request contains an invalid argument."
    for delivery in (good, other):
        assert delivery.status is Status.DELIVERED
        assert delivery.attempts == 1  # the refused request did not count against it
        assert [a.result for a in delivery.history] == ["delivered"]
        assert delivery.answer == "accepted as request dm-request-1"
    assert live.fake.calls == 2
    assert sorted(key[2] for key in live.fake.conversions) == ["ORD-1", "ORD-3"]
    (accepted,) = live.fake.requests
    assert [e["transactionId"] for e in accepted.events] == ["ORD-1", "ORD-3"]


async def test_quota_and_outages_are_retried_as_google_asks(live: Live, tmp_path: Path) -> None:
    live.fake.outage = [(503, {"retry-after": "0"}), (429, {"retry-after": "2"}), (500, {})]
    vendor = vendor_for(live)
    tracker = Tracker(vendors=[vendor], outbox=tmp_path / "outbox.sqlite3", run_worker=False)
    async with tracker.lifespan():
        found = await deliver(tracker, vendor, [conversion("ORD-1"), conversion("ORD-2")])
    details = []
    for delivery in found.values():
        assert delivery.status is Status.DELIVERED
        results = [a.result for a in delivery.history]
        assert results[-1] == "delivered"
        assert set(results[:-1]) <= {"retry"}
        for attempt, after in zip(delivery.history, delivery.history[1:], strict=False):
            details.append(attempt.detail)
            if attempt.detail.startswith("HTTP 429"):
                assert after.at - attempt.at >= 2.0  # Retry-After honoured
    assert {detail.split(":")[0] for detail in details} == {"HTTP 503", "HTTP 429", "HTTP 500"}
    assert live.fake.calls == 3 + len(live.fake.requests)
    assert len(live.fake.conversions) == 2


async def test_an_expired_token_is_fetched_again_once(live: Live, tmp_path: Path) -> None:
    vendor = vendor_for(live)
    tracker = Tracker(vendors=[vendor], outbox=tmp_path / "outbox.sqlite3", run_worker=False)
    async with tracker.lifespan():
        await deliver(tracker, vendor, [conversion("ORD-1")])
        live.fake.expire_tokens()  # an hour later, Google no longer takes the cached token
        found = await deliver(tracker, vendor, [conversion("ORD-2")])
    assert found["ORD-2"].status is Status.DELIVERED
    assert [a.result for a in found["ORD-2"].history] == ["retry", "delivered"]
    assert found["ORD-2"].history[0].detail.startswith("HTTP 401: UNAUTHENTICATED")
    assert live.fake.tokens.grants == ["refresh_token", "refresh_token"]


async def test_google_counts_an_order_once_and_a_restatement_overwrites_its_value(live: Live, tmp_path: Path) -> None:
    vendor = vendor_for(live)
    order = conversion("ORD-1")
    for name in ("first", "again"):  # the same order queued twice in one outbox is one delivery
        tracker = Tracker(vendors=[vendor], outbox=tmp_path / f"{name}.sqlite3", run_worker=False)
        async with tracker.lifespan():
            await tracker.record(order)
            duplicate = await tracker.record(order)
            assert duplicate["google_ads"].status == "duplicate"
            await deliver(tracker, vendor, [])
    key = (OPERATING_ACCOUNT, CONVERSION_ACTION, "ORD-1")
    assert list(live.fake.conversions) == [key]  # a second outbox sending it again: the same conversion
    assert live.fake.restatements == [key]
    corrected = order.model_copy(
        update={"order": order.order.model_copy(update={"value": Decimal("19.90")}), "value": Decimal("19.90")}  # type: ignore[union-attr]
    )
    stored = corrected.with_identifiers(derive_all(vendor.identifiers, order.customer))
    restatement = vendor.correction(stored, "restate", datetime.now(UTC))
    async with httpx2.AsyncClient() as client:
        (outcome,) = await Sender(client)(vendor, [restatement])
    assert isinstance(outcome, Delivered)
    held = live.fake.conversions[key]
    assert (held["conversionValue"], held["currency"]) == (19.9, "BRL")
    assert held["adIdentifiers"]["gclid"] == "Cj0KCQ-good"


async def test_consent_is_sent_as_the_visitor_gave_it_and_a_denial_is_not_sent(live: Live, tmp_path: Path) -> None:
    vendor = vendor_for(live)
    tracker = Tracker(vendors=[vendor], outbox=tmp_path / "outbox.sqlite3", run_worker=False)
    async with tracker.lifespan():
        partly = conversion("ORD-1", consent=Consent.of({"ad_personalization": "denied"}))
        found = await deliver(tracker, vendor, [partly])
        denied = vendor_for(live, ad_user_data="DENIED")
        skipped = await Tracker(vendors=[denied], outbox=tmp_path / "other.sqlite3", run_worker=False).record(
            conversion("ORD-2")
        )
    assert found["ORD-1"].status is Status.DELIVERED
    held = live.fake.conversions[(OPERATING_ACCOUNT, CONVERSION_ACTION, "ORD-1")]
    assert held["consent"] == {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_DENIED"}
    assert skipped["google_ads"].status == "skipped"
    assert "Google would accept the event and then drop it" in str(skipped["google_ads"].reason)


async def test_a_service_account_logs_in_with_a_signed_assertion(live: Live, tmp_path: Path) -> None:
    vendor = vendor_for(
        live, client_id=None, client_secret=None, refresh_token=None, service_account_info=live.key.info
    )
    tracker = Tracker(vendors=[vendor], outbox=tmp_path / "outbox.sqlite3", run_worker=False)
    async with tracker.lifespan():
        found = await deliver(tracker, vendor, [conversion("ORD-1"), conversion("ORD-2")])
    assert {d.status for d in found.values()} == {Status.DELIVERED}
    assert live.fake.tokens.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    (assertion,) = live.fake.tokens.assertions
    assert assertion["claims"]["iss"] == live.key.email
    stored = (tmp_path / "outbox.sqlite3").read_bytes()
    assert live.key.private_key.splitlines()[1].encode() not in stored


async def test_a_refresh_token_without_the_datamanager_scope_fails_with_what_to_do(live: Live, tmp_path: Path) -> None:
    vendor = vendor_for(live, refresh_token=ADWORDS_ONLY_REFRESH_TOKEN)
    tracker = Tracker(vendors=[vendor], outbox=tmp_path / "outbox.sqlite3", run_worker=False)
    async with tracker.lifespan():
        found = await deliver(tracker, vendor, [conversion("ORD-1")])
    assert found["ORD-1"].status is Status.DEAD
    assert found["ORD-1"].last_error.startswith(
        "HTTP 403: PERMISSION_DENIED: ACCESS_TOKEN_SCOPE_INSUFFICIENT: Request had insufficient authentication scopes."
    )
    assert "made for the datamanager scope" in found["ORD-1"].last_error


async def test_googles_later_verdict_fails_the_event_it_refused(live: Live) -> None:
    vendor = vendor_for(live)
    events = [
        conversion("ORD-1", gclid=None),
        conversion("ORD-2", gclid="UNDECODABLE-click"),
        conversion("ORD-3", gclid=None),
    ]
    payloads = [vendor.payload(item) for item in events]
    async with httpx2.AsyncClient() as client:
        outcomes = await Sender(client)(vendor, payloads)
        assert {o.confirm for o in outcomes if isinstance(o, Delivered)} == {"dm-request-1"}
        await vendor.authorize(client)
        early = vendor.read_confirmation(await client.send(vendor.build_confirmation("dm-request-1")), payloads)
        live.fake.process()
        late = vendor.read_confirmation(await client.send(vendor.build_confirmation("dm-request-1")), payloads)
    assert all(isinstance(o, Retry) and o.after == 7200.0 for o in early)
    assert late == [
        None,
        Failed("refused by Google after it accepted the request: PROCESSING_ERROR_REASON_INVALID_GCLID"),
        None,
    ]


async def test_nothing_secret_or_personal_reaches_the_outbox_or_the_logs(
    live: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    live.fake.refuse_numeric_transaction_id = True
    live.fake.outage = [(503, {"retry-after": "0"})]
    vendor = vendor_for(live, login_customer_id=MANAGER_ACCOUNT)
    tracker = Tracker(vendors=[vendor], outbox=tmp_path / "outbox.sqlite3", run_worker=False)
    async with tracker.lifespan():
        found = await deliver(tracker, vendor, [conversion("ORD-1"), conversion("2")])
    assert found["ORD-1"].status is Status.DELIVERED
    assert found["2"].status is Status.DEAD
    access_tokens = list(live.fake.tokens.issued)
    secrets = [USER["client_secret"], USER["refresh_token"], *access_tokens]
    personal = [EMAIL, EMAIL.lower(), "5511912345678", IP]
    stored = (tmp_path / "outbox.sqlite3").read_bytes().decode("utf-8", "replace")
    for value in secrets:
        assert value not in stored
        assert value not in caplog.text
    for value in personal:
        assert value not in caplog.text
        assert value not in str(found["2"].last_error)


async def test_a_conversion_queued_for_the_google_ads_api_by_an_earlier_release_is_sent(
    live: Live, tmp_path: Path
) -> None:
    """Upgrading with deliveries still waiting: rows built for uploadClickConversions go out as the same events."""
    earlier = GoogleAds(
        api="google_ads", developer_token="dev", **USER, customer_id="1234567890",
        conversion_actions={"purchase": CONVERSION_ACTION}, enhanced_conversions=True, ad_user_data="GRANTED",
    )  # fmt: skip
    queued = conversion("ORD-OLD")
    legacy = earlier.payload(queued)
    assert "conversionAction" in legacy
    path = previous_release_outbox(
        tmp_path / "outbox.sqlite3", [("google_ads", "purchase:ORD-OLD", legacy, "1234567890")], now=time.time()
    )
    outbox = SQLiteOutbox(path)
    await outbox.open()
    try:
        clock = FakeClock(time.time())
        worker = Worker(outbox, [vendor_for(live)], policy=FAST, clock=clock)
        await drain(worker, clock)
        await worker.stop()
        (delivery,) = await outbox.list()
    finally:
        await outbox.close()
    assert delivery.status is Status.DELIVERED
    held = live.fake.conversions[(OPERATING_ACCOUNT, CONVERSION_ACTION, "ORD-OLD")]
    assert held["adIdentifiers"] == {"gclid": "Cj0KCQ-good"}
    assert held["eventTimestamp"] == queued.event_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (held["conversionValue"], held["currency"], held["consent"]) == (
        49.9,
        "BRL",
        {"adUserData": "CONSENT_GRANTED"},
    )
    assert held["userData"]["userIdentifiers"][0] == {"emailAddress": legacy["userIdentifiers"][0]["hashedEmail"]}


# -- the fake refuses what Google refuses ---------------------------------------------------------------------------


def good_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "transactionId": "ORD-1",
        "eventTimestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "eventSource": "WEB",
        "adIdentifiers": {"gclid": "Cj0K"},
        "userData": {"userIdentifiers": [{"emailAddress": "a" * 64}]},
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def body(*events: dict[str, Any], **changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "destinations": [
            {
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": OPERATING_ACCOUNT},
                "productDestinationId": CONVERSION_ACTION,
            }
        ],
        "events": list(events) or [good_event()],
        "encoding": "HEX",
    }
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


@pytest.mark.parametrize(
    ("request_body", "status", "expected"),
    [
        (body(good_event(eventId="x")), 400, "Unknown name \"eventId\" at 'events[0]'"),
        (body(partialFailure=True), 400, "Unknown name \"partialFailure\" at ''"),
        (body(good_event(conversionValue="12,50")), 400, "Invalid value at 'events[0].conversionValue'"),
        (body(encoding=None), 400, "encoding: REQUIRED_FIELD_MISSING"),
        (body(encoding="BASE64"), 400, "events[0].userData.userIdentifiers[0].emailAddress: INVALID_SHA256_FORMAT"),
        (
            body(good_event(userData={"userIdentifiers": [{"emailAddress": "maria@example.com"}]})),
            400,
            "events[0].userData.userIdentifiers[0].emailAddress: INVALID_HEX_ENCODING",
        ),
        (body(good_event(eventTimestamp="2026-11-20 14:03:11+00:00")), 400, "eventTimestamp: INVALID_FORMAT"),
        (body(good_event(eventTimestamp="2020-01-01T00:00:00Z")), 400, "eventTimestamp: EVENT_TIME_INVALID"),
        (body(good_event(eventSource=None)), 400, "events[0].eventSource: REQUIRED_FIELD_MISSING"),
        (body(good_event(adIdentifiers={"gclid": "g", "wbraid": "w"})), 400, "adIdentifiers: INVALID_EVENT"),
        (body(good_event(adIdentifiers={"gbraid": "b"})), 400, "A braid cannot be sent with user data"),
        (body(good_event(adIdentifiers=None, userData=None)), 400, "events[0]: NO_IDENTIFIERS_PROVIDED"),
        (body(good_event(currency="XYZ")), 400, "events[0].currency: INVALID_CURRENCY_CODE"),
        (body(good_event(consent={"adUserData": "GRANTED"})), 400, "consent.adUserData: INVALID_ENUM_VALUE"),
        (body(good_event(transactionId=None)), 400, "transactionId: REQUIRED_FIELD_MISSING"),
        (body(*[good_event()] * 2001), 400, "events: TOO_MANY_EVENTS"),
    ],
)
async def test_the_fake_refuses_a_bad_request_whole(request_body: dict[str, Any], status: int, expected: str) -> None:
    fake = FakeDataManager()
    response = await _post(fake, request_body)
    assert response.status_code == status
    outcome = GoogleAds(**USER, customer_id="1234567890", conversion_actions={"purchase": "1"}).read_response(response)
    assert isinstance(outcome, Failed)
    assert expected in outcome.reason, outcome.reason
    assert fake.conversions == {}
    assert fake.requests == []


async def test_the_fake_refuses_the_destination_and_the_credentials_as_google_does() -> None:
    wrong_action = body()
    wrong_action["destinations"][0]["productDestinationId"] = "1"
    not_a_manager = body()
    not_a_manager["destinations"][0]["loginAccount"] = {"accountType": "GOOGLE_ADS", "accountId": "5555555555"}
    fake = FakeDataManager()
    assert (await _post(fake, wrong_action)).json()["error"]["details"][1]["reason"] == "INVALID_CONVERSION_ACTION_ID"
    assert (await _post(fake, not_a_manager)).status_code == 403
    assert (await _post(fake, body(), token=None)).status_code == 401
    scoped = await _post(fake, body(), refresh_token=ADWORDS_ONLY_REFRESH_TOKEN)
    assert scoped.status_code == 403
    assert fake.conversions == {}


async def test_the_fake_takes_base64_hashes_and_ignores_a_developer_token() -> None:
    import base64
    import hashlib

    fake = FakeDataManager()
    digest = base64.b64encode(hashlib.sha256(b"maria@example.com").digest()).decode()
    event = good_event(userData={"userIdentifiers": [{"emailAddress": digest}]})
    response = await _post(fake, body(event, encoding="BASE64"), headers={"developer-token": "ignored"})
    assert response.status_code == 200
    assert response.json() == {"requestId": "dm-request-1"}
    assert fake.conversions[(OPERATING_ACCOUNT, CONVERSION_ACTION, "ORD-1")]["userData"] == event["userData"]


async def _post(
    fake: FakeDataManager,
    request_body: dict[str, Any],
    *,
    token: str | None = "get",
    refresh_token: str = USER["refresh_token"],
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake.app()), base_url="http://fake") as client:
        sent = dict(headers or {})
        if token is not None:
            grant = {**{k: USER[k] for k in ("client_id", "client_secret")}, "refresh_token": refresh_token}
            access = (await client.post("/token", data={"grant_type": "refresh_token", **grant})).json()
            sent["authorization"] = f"Bearer {access['access_token']}"
        return await client.post("/v1/events:ingest", content=json.dumps(request_body), headers={
            "content-type": "application/json", **sent
        })  # fmt: skip
