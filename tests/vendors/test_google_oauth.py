"""Google Ads OAuth: the refresh request as Google's token endpoint expects it, the cached token, one refresh on
a 401, and refusals that name the error but never a credential (logs at DEBUG included)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx2
import pytest

from attribution.capture.models import Channel
from attribution.delivery.outbox.base import NewDelivery, NewOrder, Outbox, Status
from attribution.delivery.worker import Worker
from attribution.errors import TokenRefreshError
from attribution.orders.record import record_of
from attribution.vendors.base import Failed, Retry
from attribution.vendors.google_ads import GoogleAds
from tests.support.delivery_fakes import FAST, FakeClock, drain

from .google_fakes import ACCESS_TOKEN, CREDENTIALS, TokenEndpoint, google_ads
from .samples import attribution, purchase, touch

UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials.",
        "status": "UNAUTHENTICATED",
        "details": [
            {
                "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                "errors": [{"errorCode": {"authenticationError": "OAUTH_TOKEN_EXPIRED"}, "message": "Token expired."}],
            }
        ],
    }
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Google:
    """A mock transport: the strict token endpoint, and an Ads API answering what the test queues."""

    def __init__(self, tokens: TokenEndpoint | None = None) -> None:
        self.tokens = tokens or TokenEndpoint()
        self.token_requests: list[httpx2.Request] = []
        self.answers: list[httpx2.Response] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/token":
            self.token_requests.append(request)
            return self.tokens(request)
        return self.answers.pop(0) if self.answers else httpx2.Response(200, json={"results": [{"gclid": "g"}]})

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))


async def attempt(vendor: GoogleAds, client: httpx2.AsyncClient) -> Any:
    """authorize → build_request → send → read_batch, as the worker does for one payload."""
    await vendor.authorize(client)
    response = await client.send(vendor.build_request([{"gclid": "g"}]))
    (outcome,) = vendor.read_batch(response, [{"gclid": "g"}])
    return outcome


async def test_refresh_request_is_exactly_the_refresh_grant_with_credentials_in_the_body() -> None:
    google, vendor = Google(), google_ads()
    async with google.client() as client:
        await vendor.authorize(client)
        request = vendor.build_request([{"gclid": "g"}])
    (sent,) = google.token_requests
    assert sent.method == "POST"
    assert str(sent.url) == "https://oauth2.test/token"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in sent.headers
    assert sorted(parse_qsl(sent.content.decode(), strict_parsing=True)) == sorted(
        [
            ("grant_type", "refresh_token"),
            ("refresh_token", CREDENTIALS["refresh_token"]),
            ("client_id", CREDENTIALS["client_id"]),
            ("client_secret", CREDENTIALS["client_secret"]),
        ]
    )
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}1"


async def test_token_is_cached_until_shortly_before_it_expires() -> None:
    clock, google = Clock(), Google()
    vendor = google_ads(clock=clock)
    async with google.client() as client:
        await vendor.authorize(client)
        await vendor.authorize(client)
        clock.now += 3599 - vendor.tokens.leeway - 1
        await vendor.authorize(client)
        assert google.tokens.issued == 1
        clock.now += 2
        await vendor.authorize(client)
    assert google.tokens.issued == 2
    assert vendor.build_request([{}]).headers["authorization"] == f"Bearer {ACCESS_TOKEN}2"


async def test_concurrent_sends_share_one_refresh() -> None:
    google, vendor = Google(), google_ads()
    async with google.client() as client:
        await asyncio.gather(*(vendor.authorize(client) for _ in range(8)))
    assert google.tokens.issued == 1


async def test_a_401_refreshes_once_and_a_second_refusal_fails() -> None:
    google, vendor = Google(), google_ads()
    google.answers = [httpx2.Response(401, json=UNAUTHENTICATED), httpx2.Response(401, json=UNAUTHENTICATED)]
    async with google.client() as client:
        first = await attempt(vendor, client)
        assert first == Retry(
            "HTTP 401: UNAUTHENTICATED: authenticationError.OAUTH_TOKEN_EXPIRED: Token expired.; "
            "the access token is refreshed and the request sent again",
            after=0.0,
        )
        assert vendor.tokens.access_token is None
        second = await attempt(vendor, client)
    assert google.tokens.issued == 2
    assert isinstance(second, Failed)
    assert second.reason.endswith("refused again with a fresh token: check the OAuth client and refresh token")


async def test_a_success_after_a_refresh_earns_another_refresh_later() -> None:
    google, vendor = Google(), google_ads()
    google.answers = [
        httpx2.Response(401, json=UNAUTHENTICATED),
        httpx2.Response(200, json={"results": [{"gclid": "g"}]}),
        httpx2.Response(401, json=UNAUTHENTICATED),
    ]
    async with google.client() as client:
        outcomes = [type(await attempt(vendor, client)).__name__ for _ in range(4)]
    assert outcomes == ["Retry", "Delivered", "Retry", "Delivered"]
    assert google.tokens.issued == 3


async def test_a_401_for_a_token_already_replaced_keeps_the_new_one() -> None:
    google, vendor = Google(), google_ads()
    async with google.client() as client:
        await vendor.authorize(client)
        stale = vendor.build_request([{}])
        vendor.tokens.rejected(f"{ACCESS_TOKEN}1")
        await vendor.authorize(client)
        refusal = httpx2.Response(401, json=UNAUTHENTICATED, request=stale)
        assert isinstance(vendor.read_response(refusal), Retry)
    assert vendor.tokens.access_token == f"{ACCESS_TOKEN}2"


@pytest.mark.parametrize(
    ("override", "message", "transient"),
    [
        (
            {"refresh_token": "1//revoked"},
            "the OAuth token endpoint answered HTTP 400: invalid_grant: Token has been expired or revoked.; "
            "check the client id and secret, or create a new refresh token",
            False,
        ),
        (
            {"client_secret": "GOCSPX-wrong"},
            "the OAuth token endpoint answered HTTP 401: invalid_client: Unauthorized; "
            "check the client id and secret, or create a new refresh token",
            False,
        ),
    ],
)
async def test_token_endpoint_refusals_name_the_error_not_the_credentials(
    override: dict[str, str], message: str, transient: bool
) -> None:
    vendor = google_ads(**override)
    async with Google().client() as client:
        with pytest.raises(TokenRefreshError) as caught:
            await vendor.authorize(client)
    assert str(caught.value) == message
    assert caught.value.transient is transient
    assert caught.value.__cause__ is None
    assert not any(secret in str(caught.value) for secret in (*CREDENTIALS.values(), *override.values()))


async def test_token_endpoint_outage_is_transient() -> None:
    vendor = google_ads()

    def down(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/token":
            return httpx2.Response(503, text="unavailable")
        raise AssertionError("no API call without a token")

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(down)) as client:
        with pytest.raises(TokenRefreshError, match="HTTP 503 without a token") as caught:
            await vendor.authorize(client)
    assert caught.value.transient

    def unreachable(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(unreachable)) as client:
        with pytest.raises(TokenRefreshError, match=r"could not reach the OAuth token endpoint \(ConnectError\)"):
            await vendor.authorize(client)


async def test_credentials_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    google = Google()
    google.answers = [httpx2.Response(401, json=UNAUTHENTICATED), httpx2.Response(401, json=UNAUTHENTICATED)]
    vendor = google_ads()
    async with google.client() as client:
        for _ in range(2):
            outcome = await attempt(vendor, client)
            logging.getLogger("attribution").info("outcome %s for %r", outcome, vendor)
    with pytest.raises(TokenRefreshError) as caught:
        async with Google().client() as client:
            await google_ads(refresh_token="1//revoked").authorize(client)
    logging.getLogger("attribution").warning("refresh failed: %s", caught.value)
    assert caplog.records  # httpx2 and our own lines were captured
    secrets = [*CREDENTIALS.values(), f"{ACCESS_TOKEN}1", f"{ACCESS_TOKEN}2", "1//revoked"]
    assert not any(secret in caplog.text for secret in secrets)


async def test_a_401_about_the_developer_token_fails_without_a_refresh() -> None:
    google, vendor = Google(), google_ads()
    refusal = {
        "error": {
            "code": 401,
            "status": "UNAUTHENTICATED",
            "message": "Request had invalid authentication credentials.",
            "details": [
                {"errors": [{"errorCode": {"authenticationError": "DEVELOPER_TOKEN_INVALID"}, "message": "x"}]}
            ],
        }
    }
    google.answers = [httpx2.Response(401, json=refusal)]
    async with google.client() as client:
        outcome = await attempt(vendor, client)
    assert outcome == Failed("HTTP 401: UNAUTHENTICATED: authenticationError.DEVELOPER_TOKEN_INVALID: x")
    assert vendor.tokens.access_token == f"{ACCESS_TOKEN}1"


async def test_a_token_endpoint_outage_leaves_the_delivery_to_retry_not_dead(outbox: Outbox) -> None:
    """A 503 or an unreachable token endpoint passes on its own: the worker retries rather than kill the
    conversion, and sends it once the endpoint answers again."""
    google, clock = Google(), FakeClock()
    outages = [httpx2.Response(503, text="unavailable"), None]

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/token" and outages:
            answer = outages.pop(0)
            if answer is None:
                raise httpx2.ConnectError("connection refused", request=request)
            return answer
        return google(request)

    vendor = google_ads()
    conversion = purchase(attribution(touch(timedelta(hours=1), Channel.PAID_SEARCH, gclid="Cj0-outage")))
    assert vendor.check(conversion) is None
    delivery = NewDelivery("google_ads", conversion.dedup_id, vendor.batch_key(conversion))
    [queued] = await outbox.enqueue([NewOrder(record_of(conversion, vendor.identifiers), (delivery,))], now=clock())
    worker = Worker(outbox, [vendor], transport=httpx2.MockTransport(handler), policy=FAST, clock=clock)
    await worker.run_until_idle()
    waiting = await outbox.get(queued.id)
    assert waiting is not None
    assert waiting.status == Status.PENDING
    assert waiting.last_error == "the OAuth token endpoint answered HTTP 503 without a token"
    await drain(worker, clock)
    sent = await outbox.get(queued.id)
    assert sent is not None
    assert sent.status == Status.DELIVERED
    assert [a.result for a in sent.history] == ["retry", "retry", "delivered"]
