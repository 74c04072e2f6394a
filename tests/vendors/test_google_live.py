"""Google Ads end to end on loopback: the public Tracker queues conversions in a real SQLite outbox, and a loop
that does what the worker does for batched, token-refreshing vendors (authorize → build_request → send over
HTTP → read_batch, one outcome per delivery) delivers them to the strict fake Google under uvicorn.

The worker in this code base still reads one outcome per request; the loop below is the contract it adopts
(``Vendor.authorize`` and ``Vendor.read_batch``). The fake's strictness is checked on its own as well."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from attribution import Customer, GoogleAds, Tracker
from attribution.capture.models import Channel
from attribution.delivery.outbox.base import Finish, Outbox, Status
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from attribution.delivery.preparing import event_of
from attribution.errors import TokenRefreshError
from attribution.vendors.base import Delivered, Failed, Outcome, Retry
from tests.support.servers import Serve

from .google_fakes import ACCESS_TOKEN, CREDENTIALS
from .google_server import FakeGoogle
from .samples import attribution, order, purchase, touch

NOW = 1_746_480_000.0


@dataclass
class LiveGoogle:
    url: str
    fake: FakeGoogle


@pytest.fixture
def live(serve: Serve) -> LiveGoogle:
    """The strict fake under uvicorn on 127.0.0.1."""
    fake = FakeGoogle()
    return LiveGoogle(serve(fake.app()), fake)


def vendor_for(url: str, **options: Any) -> GoogleAds:
    return GoogleAds(
        api="google_ads",
        **CREDENTIALS,
        customer_id="123-456-7890",
        conversion_actions={"purchase": "987654321"},
        base_url=url,
        token_url=f"{url}/token",
        enhanced_conversions=True,
        ad_user_data="GRANTED",
        **options,
    )


async def deliver_round(outbox: Outbox, vendor: GoogleAds, client: httpx2.AsyncClient, now: float) -> list[Outcome]:
    """One worker round for one vendor: claim, authorize, send one batch, record each delivery's outcome."""
    claimed = (await outbox.claim("loop", limits={vendor.name: vendor.max_batch}, now=now, lease=60)).get(vendor.name)
    if not claimed:
        return []
    payloads = [event_of(vendor, d) for d in claimed]  # as the worker builds them, from the order records
    outcomes: list[Outcome]
    try:
        await vendor.authorize(client)
    except TokenRefreshError as exc:
        outcomes = [Retry(str(exc)) if exc.transient else Failed(str(exc))] * len(claimed)
    else:
        response = await client.send(vendor.build_request(payloads))
        outcomes = list(vendor.read_batch(response, payloads))
    finishes = []
    for delivery, outcome in zip(claimed, outcomes, strict=True):
        if isinstance(outcome, Delivered):
            finishes.append(Finish(delivery.id, Status.DELIVERED, now, answer=outcome.answer))
        elif isinstance(outcome, Failed):
            finishes.append(Finish(delivery.id, Status.DEAD, now, error=outcome.reason))
        else:
            next_at = now + (outcome.after if outcome.after is not None else 1.0)
            finishes.append(Finish(delivery.id, Status.PENDING, now, next_attempt_at=next_at, error=outcome.reason))
    await outbox.finish("loop", finishes)
    return outcomes


def conversions() -> dict[str, Any]:
    paid = Channel.PAID_SEARCH
    return {
        "gclid": purchase(
            attribution(touch(timedelta(days=2), paid, gclid="Cj0KgoodClick")),
            Customer(email="John.Doe@GMail.com"),
            order=order(id="ORD-A"),
        ),
        "wbraid": purchase(
            attribution(touch(timedelta(days=1), paid, wbraid="WBraidValue", gbraid="GBraidValue")),
            Customer(email="ana@example.com"),
            order=order(id="ORD-B"),
        ),
        "too_recent": purchase(
            attribution(touch(timedelta(hours=1), paid, gclid="TOO_RECENT-1")), order=order(id="ORD-C")
        ),
        "unparseable": purchase(
            attribution(touch(timedelta(hours=9), paid, gclid="UNPARSEABLE")), order=order(id="ORD-D")
        ),
        "leads_only": purchase(attribution(), Customer(phone="+1 650 253 1234"), order=order(id="ORD-E")),
    }


async def test_deliveries_through_the_tracker_to_the_strict_fake_on_loopback(live: LiveGoogle, tmp_path: Path) -> None:
    vendor = vendor_for(live.url)
    tracker = Tracker(vendors=[vendor], outbox=tmp_path / "outbox.sqlite3", run_worker=False, clock=lambda: NOW)
    async with tracker.lifespan(), httpx2.AsyncClient() as client:
        ids = {}
        for name, conversion in conversions().items():
            result = await tracker.record(conversion)
            assert result["google_ads"].status == "queued", result["google_ads"].reason
            ids[name] = result["google_ads"].delivery_ids[0]
        outcomes = await deliver_round(tracker.outbox, vendor, client, NOW)
        assert len(outcomes) == 5
        status = {name: await tracker.outbox.get(i) for name, i in ids.items()}

    assert {name: d.status for name, d in status.items() if d is not None} == {
        "gclid": Status.DELIVERED,
        "wbraid": Status.DELIVERED,
        "too_recent": Status.PENDING,
        "unparseable": Status.DEAD,
        "leads_only": Status.DELIVERED,
    }
    too_recent, unparseable = status["too_recent"], status["unparseable"]
    assert too_recent is not None
    assert too_recent.next_attempt_at == NOW + 6 * 3600
    assert too_recent.last_error == "conversionUploadError.TOO_RECENT_EVENT: TOO_RECENT_EVENT"
    assert unparseable is not None
    assert unparseable.last_error == "conversionUploadError.UNPARSEABLE_GCLID: UNPARSEABLE_GCLID"
    assert live.fake.issued == 1
    action = "customers/1234567890/conversionActions/987654321"
    recorded = live.fake.recorded
    assert sorted(order_id for _, order_id in recorded) == ["ORD-A", "ORD-B", "ORD-E"]
    assert recorded[(action, "ORD-B")]["wbraid"] == "WBraidValue"
    assert "userIdentifiers" not in recorded[(action, "ORD-B")]
    assert recorded[(action, "ORD-A")]["userIdentifiers"] == [
        {"hashedEmail": "06a240d11cc201676da976f7b49341181fd180da37cbe40a77432c0a366c80c3"}
    ]
    assert recorded[(action, "ORD-E")]["consent"] == {"adUserData": "GRANTED"}
    stored = (tmp_path / "outbox.sqlite3").read_bytes()
    assert not any(secret.encode() in stored for secret in CREDENTIALS.values())


async def test_an_expired_token_is_refreshed_and_a_replayed_order_counts_as_delivered(
    live: LiveGoogle, tmp_path: Path
) -> None:
    vendor = vendor_for(live.url)
    first, replay = SQLiteOutbox(tmp_path / "first.sqlite3"), SQLiteOutbox(tmp_path / "replay.sqlite3")
    conversion = conversions()["gclid"]
    async with httpx2.AsyncClient() as client:
        for outbox in (first, replay):
            tracker = Tracker(vendors=[vendor], outbox=outbox, run_worker=False, clock=lambda: NOW)
            async with tracker.lifespan():
                await tracker.record(conversion)
                if outbox is first:
                    assert await deliver_round(outbox, vendor, client, NOW) == [Delivered(_echo(conversion, vendor))]
                    live.fake.expire_tokens()  # an hour later, Google no longer takes the cached token
                    continue
                (refused,) = await deliver_round(outbox, vendor, client, NOW)
                assert isinstance(refused, Retry)
                assert refused.after == 0.0
                assert refused.reason.startswith("HTTP 401: UNAUTHENTICATED: authenticationError.OAUTH_TOKEN_EXPIRED")
                assert await deliver_round(outbox, vendor, client, NOW) == [
                    Delivered("already recorded (ORDER_ID_ALREADY_IN_USE)")
                ]
                (delivery,) = await outbox.list()
                assert delivery.status is Status.DELIVERED
    assert live.fake.issued == 2
    assert vendor.tokens.access_token == f"{ACCESS_TOKEN}2"


def _echo(conversion: Any, vendor: GoogleAds) -> str:
    """The result row Google answers for an accepted conversion: the ids it matched on."""
    payload = vendor.payload(conversion)
    keys = ("gclid", "conversionAction", "conversionDateTime", "userIdentifiers")
    return json.dumps({k: payload[k] for k in keys}, separators=(",", ":"))


# -- the fake refuses what Google refuses ------------------------------------------------------------------


def good_row() -> dict[str, Any]:
    return {
        "gclid": "Cj0Kgood",
        "conversionAction": "customers/1234567890/conversionActions/987654321",
        "conversionDateTime": "2019-01-01 12:32:45-08:00",
        "orderId": "ORD-1",
    }


@pytest.mark.parametrize(
    ("change", "expected", "kind"),
    [
        ({"partialFailure": False}, "partialFailureError.PARTIAL_FAILURE_MODE_REQUIRED", Failed),
        ({"conversions": [good_row()] * 2001}, "conversionUploadError.TOO_MANY_CONVERSIONS_IN_REQUEST", Failed),
        ({"conversions": [{**good_row(), "event_id": "x"}]}, "Invalid JSON payload received. Unknown name", Failed),
        ({"headers": {"developer-token": None}}, "requestError.DEVELOPER_TOKEN_PARAMETER_MISSING", Failed),
        ({"headers": {"developer-token": "other"}}, "authenticationError.DEVELOPER_TOKEN_INVALID", Failed),
        # No access token: fetch one and send again.
        ({"headers": {"authorization": None}}, "authenticationError.OAUTH_TOKEN_HEADER_INVALID", Retry),
    ],
)
async def test_the_fake_refuses_bad_requests_as_a_whole(change: dict[str, Any], expected: str, kind: type) -> None:
    fake = FakeGoogle()
    body: dict[str, Any] = {"conversions": [good_row()], "partialFailure": True}
    body.update({k: v for k, v in change.items() if k != "headers"})
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake.app()), base_url="http://fake") as client:
        token = (await client.post("/token", data=_grant())).json()["access_token"]
        headers = {"authorization": f"Bearer {token}", "developer-token": CREDENTIALS["developer_token"]}
        for name, value in change.get("headers", {}).items():
            headers.pop(name) if value is None else headers.update({name: value})
        response = await client.post("/v26/customers/1234567890:uploadClickConversions", json=body, headers=headers)
    outcome = vendor_for("http://fake").read_response(response)
    assert isinstance(outcome, kind)
    assert expected in outcome.reason
    assert fake.recorded == {}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"gclid": None, "gbraid": "b", "wbraid": "w"}, "conversionUploadError.GBRAID_WBRAID_BOTH_SET"),
        ({"gbraid": "b"}, "fieldError.VALUE_MUST_BE_UNSET"),
        (
            {"gclid": None, "wbraid": "w", "userIdentifiers": [{"hashedEmail": "0" * 64}]},
            "fieldError.VALUE_MUST_BE_UNSET",
        ),
        ({"gclid": None}, "fieldError.REQUIRED"),
        ({"conversionDateTime": "2019-01-01T12:32:45Z"}, "dateError.INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET"),
        ({"conversionAction": "customers/1234567890/conversionActions/1"}, "NO_CONVERSION_ACTION_FOUND"),
        ({"userIdentifiers": [{"hashedEmail": "John@Example.com"}]}, "conversionUploadError.INVALID_USER_IDENTIFIER"),
        ({"userIdentifiers": [{"hashedEmail": "A" * 64}]}, "conversionUploadError.INVALID_USER_IDENTIFIER"),
        (
            {"userIdentifiers": [{"hashedEmail": "0" * 64, "hashedPhoneNumber": "1" * 64}]},
            "conversionUploadError.INVALID_USER_IDENTIFIER",
        ),
    ],
)
async def test_the_fake_refuses_bad_rows_in_a_200(row: dict[str, Any], expected: str) -> None:
    fake = FakeGoogle()
    bad = {k: v for k, v in {**good_row(), **row, "orderId": "ORD-2"}.items() if v is not None}
    body = {"conversions": [good_row(), bad], "partialFailure": True}
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake.app()), base_url="http://fake") as client:
        token = (await client.post("/token", data=_grant())).json()["access_token"]
        headers = {"authorization": f"Bearer {token}", "developer-token": CREDENTIALS["developer_token"]}
        response = await client.post("/v26/customers/1234567890:uploadClickConversions", json=body, headers=headers)
    assert response.status_code == 200
    ok, refused = vendor_for("http://fake").read_batch(response, body["conversions"])
    assert isinstance(ok, Delivered)
    assert isinstance(refused, Failed)
    assert expected in refused.reason
    assert [order for _, order in fake.recorded] == ["ORD-1"]


def _grant() -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": CREDENTIALS["refresh_token"],
        "client_id": CREDENTIALS["client_id"],
        "client_secret": CREDENTIALS["client_secret"],
    }
