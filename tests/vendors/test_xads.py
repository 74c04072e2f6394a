"""X Ads: golden request from X's example, identifiers, batching, rate-limit delays, and the OAuth 1.0a
signature checked by an independent implementation (oauthlib's server side), not by re-running authlib."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from oauthlib.oauth1 import RequestValidator, ResourceEndpoint
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA1

from attribution.capture.models import Attribution, Channel, Touch
from attribution.capture.params import DEFAULT_CLICK_ID_WINDOWS
from attribution.orders.conversion import Conversion, Customer, LineItem, Order, RequestContext
from attribution.vendors.base import Delivered, Failed, Retry
from attribution.vendors.xads import XAds

from .samples import NOW, UA, attribution, purchase, queued, response, send, touch

CREDENTIALS = {
    "consumer_key": "xvz1evFS4wEEPTGEFPHBog",
    "consumer_secret": "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
    "access_token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
    "access_token_secret": "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
}
TWCLID = "23opevjt88psuo13lu8d020qkn"
#: X's example hashed_phone_number: SHA-256 of "+11234567890", so X hashes E.164 with its "+".
X_PHONE_HASH = "1fa6b8d986d9b9cd01bf36951815158bbde9f520c0567c835dfe34783d0a4231"


def xads(**options: Any) -> XAds:
    settings: dict[str, Any] = {**CREDENTIALS, "pixel_id": "oka17", "events": {"purchase": "ol288"}}
    settings.update(options)
    return XAds(**settings)


def xs_example() -> Conversion:
    """X's documented example as a conversion: the email is given already hashed, as a site keeping only
    hashes would; the phone in clear text, to check our E.164 hashing reproduces X's own hash."""
    at = datetime(2022, 2, 18, 1, 14, 0, 603000, tzinfo=UTC)
    landing = Touch(at=at - timedelta(hours=1), params={"twclid": TWCLID}, channel=Channel.PAID_SOCIAL)
    attr = Attribution(first=landing, history=[landing]).with_windows(DEFAULT_CLICK_ID_WINDOWS, now=at)
    return Conversion(
        order=Order(
            id="23294827",
            value=Decimal("20.00"),
            currency="USD",
            items=[LineItem(id="1", name="Blankets", category="Pet supplies", price=Decimal("100.99"), quantity=1)],
            time=at,
        ),
        customer=Customer(
            email="d360d510a224510f373931ce2d6215a799f5a9c1cef221b0149b6b6b50cced62", phone="+1 123-456-7890"
        ),
        attribution=attr,
        context=RequestContext(ip="1.0.0.0", user_agent=UA),
    )


def test_golden_request_matches_xs_example() -> None:
    vendor = xads()
    conversion = xs_example()
    assert vendor.check(conversion) is None
    prepared = queued(vendor, conversion)
    assert prepared.batch_key == "oka17"
    assert prepared.dedup_key == "purchase:23294827"
    wire, outcome = send(vendor, [prepared.payload])

    assert wire.method == "POST"
    assert str(wire.url) == "https://ads-api.x.com/12/measurement/conversions/oka17"
    assert wire.headers["authorization"].startswith("OAuth ")
    assert wire.headers["content-type"] == "application/json"
    # X's example, with three deliberate differences: value as a JSON number (X types it double but quotes
    # it in the example), number_items counted from the contents (the example says 3 beside one item of
    # num_items 1), and price_currency, description and content_group_id as this order knows them.
    assert json.loads(wire.content) == {
        "conversions": [
            {
                "conversion_time": "2022-02-18T01:14:00.603Z",
                "event_id": "ol288",
                "identifiers": [
                    {"twclid": "23opevjt88psuo13lu8d020qkn"},
                    {"hashed_email": "d360d510a224510f373931ce2d6215a799f5a9c1cef221b0149b6b6b50cced62"},
                    {"hashed_phone_number": X_PHONE_HASH},
                    {"ip_address": "1.0.0.0", "user_agent": UA},
                ],
                "value": 20.0,
                "price_currency": "USD",
                "number_items": 1,
                "conversion_id": "23294827",
                "contents": [
                    {
                        "content_id": "1",
                        "content_name": "Blankets",
                        "content_type": "Pet supplies",
                        "content_price": 100.99,
                        "num_items": 1,
                    }
                ],
            }
        ]
    }
    assert outcome == Delivered('{"ok":true}')


# -- the OAuth 1.0a signature, verified by oauthlib's server-side endpoint ---------------------------------


class Validator(RequestValidator):  # type: ignore[misc]
    """A resource server that knows exactly one app and one user: ours."""

    def __init__(self, consumer_secret: str = CREDENTIALS["consumer_secret"]) -> None:
        super().__init__()
        self.consumer_secret = consumer_secret
        self.nonces: set[tuple[str, str]] = set()

    allowed_signature_methods = (SIGNATURE_HMAC_SHA1,)
    dummy_client = "dummy-client"
    dummy_access_token = "dummy-token"

    # Format checks are about a server's own token alphabet; the signature is what this test is about.
    def check_client_key(self, client_key: str) -> bool:
        return True

    def check_access_token(self, token: str) -> bool:
        return True

    def check_nonce(self, nonce: str) -> bool:
        return True

    def validate_timestamp_and_nonce(
        self, client_key: str, timestamp: str, nonce: str, request: Any, **kw: Any
    ) -> bool:
        if (timestamp, nonce) in self.nonces:
            return False
        self.nonces.add((timestamp, nonce))
        return True

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return client_key == CREDENTIALS["consumer_key"]

    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        return token == CREDENTIALS["access_token"]

    def validate_realms(self, *args: Any, **kw: Any) -> bool:
        return True

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self.consumer_secret if client_key == CREDENTIALS["consumer_key"] else "dummy"

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        return CREDENTIALS["access_token_secret"] if token == CREDENTIALS["access_token"] else "dummy"


def verify(wire: httpx2.Request, *, url: str | None = None, validator: Validator | None = None) -> bool:
    endpoint = ResourceEndpoint(validator or Validator())
    valid, _ = endpoint.validate_protected_resource_request(
        url or str(wire.url),
        http_method=wire.method,
        body=wire.content.decode(),
        headers=dict(wire.headers),
    )
    return bool(valid)


def test_signature_verifies_with_oauthlib() -> None:
    wire, _ = send(xads(), [xads().payload(xs_example())])
    assert verify(wire)


def test_signature_fails_for_another_url_or_secret() -> None:
    wire, _ = send(xads(), [xads().payload(xs_example())])
    assert not verify(wire, url="https://ads-api.x.com/12/measurement/conversions/other")
    assert not verify(wire, validator=Validator(consumer_secret="not-the-secret"))


def test_every_request_gets_a_fresh_nonce() -> None:
    validator = Validator()
    payload = xads().payload(xs_example())
    first, _ = send(xads(), [payload])
    second, _ = send(xads(), [payload])
    assert verify(first, validator=validator)
    assert verify(second, validator=validator)  # a replayed nonce would be refused
    assert not verify(first, validator=validator)


def test_body_survives_signing_byte_for_byte() -> None:
    payloads = [xads().payload(xs_example())]
    expected = json.dumps({"conversions": payloads}, ensure_ascii=False, separators=(",", ":")).encode()
    wire, _ = send(xads(), payloads)
    assert wire.content == expected
    assert wire.headers["content-length"] == str(len(expected))
    assert "oauth_body_hash" not in wire.headers["authorization"]


def test_credentials_never_in_payload_or_repr() -> None:
    vendor = xads()
    prepared = queued(vendor, xs_example())
    dumped = json.dumps(prepared.payload) + repr(vendor)
    assert not any(secret in dumped for secret in CREDENTIALS.values())
    assert vendor.masked_headers(vendor.build_request([prepared.payload]))["authorization"] == "***"


# -- identifiers and when X applies ------------------------------------------------------------------------


def test_twclid_alone_is_enough_and_brings_ip_and_user_agent() -> None:
    conversion = purchase(attribution(touch(timedelta(days=2), twclid=TWCLID)))
    prepared = queued(xads(), conversion)
    assert prepared.payload["identifiers"] == [
        {"twclid": TWCLID},
        {"ip_address": "203.0.113.7", "user_agent": UA},
    ]
    assert prepared.payload["conversion_time"] == "2025-05-05T21:20:00.000Z"


def test_email_is_trimmed_lowercased_and_hashed() -> None:
    conversion = purchase(attribution(), Customer(email="  John.Smith@Example.COM "))
    identifiers = xads().payload(conversion)["identifiers"]
    # sha256("john.smith@example.com"), computed outside this code base
    assert identifiers[0] == {"hashed_email": "8e621e3d0368631d263d07a351fa8d34fba0d17c15fbcdec11a5f58008d022a0"}


def test_ip_and_user_agent_alone_are_not_enough() -> None:
    conversion = purchase(attribution(touch(timedelta(hours=1), Channel.PAID_SEARCH, gclid="Cj0K")))
    reason = xads().check(conversion)
    assert reason == "X needs a twclid, an email or a phone (IP address and user agent only count beside one)"


def test_ipv6_address_is_left_out() -> None:
    conversion = purchase(
        attribution(touch(timedelta(hours=1), twclid=TWCLID)),
        context=RequestContext(ip="2001:db8::1", user_agent=UA),
    )
    assert xads().payload(conversion)["identifiers"] == [{"twclid": TWCLID}, {"user_agent": UA}]


def test_expired_twclid_is_not_sent() -> None:
    old = purchase(attribution(touch(timedelta(days=31), twclid=TWCLID)), Customer(email="a@b.co"))
    identifiers = xads().payload(old)["identifiers"]
    assert all("twclid" not in identifier for identifier in identifiers)


def test_only_attributed_sends_only_x_clicks() -> None:
    vendor = xads(only_attributed=True)
    with_email = purchase(
        attribution(touch(timedelta(hours=1), Channel.PAID_SEARCH, gclid="Cj0K")), Customer(email="a@b.co")
    )
    assert vendor.check(with_email) == "the visitor did not come from an X ad (no twclid within its window)"
    from_x = purchase(attribution(touch(timedelta(hours=1), twclid=TWCLID)))
    assert vendor.check(from_x) is None


def test_event_without_a_tag_is_skipped() -> None:
    lead = Conversion(event="lead", customer=Customer(email="a@b.co"))
    assert xads().check(lead) == "event 'lead' has no X event tag id configured"
    custom = Conversion(event="custom", custom_name="trial_start", event_id="t1", customer=Customer(email="a@b.co"))
    prepared = queued(xads(events={"trial_start": "tw9x1"}), custom)
    assert prepared.payload["event_id"] == "tw9x1"
    assert prepared.payload["conversion_id"] == "t1"
    assert prepared.payload["description"] == "trial_start"


# -- batching --------------------------------------------------------------------------------------------


def test_up_to_500_conversions_per_request() -> None:
    assert XAds.max_batch == 500
    vendor = xads()
    payloads = [
        vendor.payload(purchase(attribution(), Customer(email=f"buyer{i}@example.com"), order=_order(i)))
        for i in range(500)
    ]
    assert len({p["conversion_id"] for p in payloads}) == 500
    wire, _ = send(vendor, payloads)
    assert len(json.loads(wire.content)["conversions"]) == 500
    assert verify(wire)
    with pytest.raises(ValueError, match="1 to 500"):
        vendor.build_request([*payloads, payloads[0]])
    with pytest.raises(ValueError, match="1 to 500"):
        vendor.build_request([])


def _order(i: int) -> Order:
    return Order(id=f"ORD-{i}", value=Decimal("10"), currency="USD", time=NOW)


# -- responses -------------------------------------------------------------------------------------------

RESET = 1_746_480_000  # the test clock's "now", in epoch seconds


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (
            200,
            {
                "request": {"params": {"account_id": "18ce552mlaq"}},
                "data": {"conversions_processed": 1, "debug_id": "ff02"},
            },
            None,
            Delivered(
                '{"request":{"params":{"account_id":"18ce552mlaq"}},"data":{"conversions_processed":1,"debug_id":"ff02"}}'
            ),
        ),
        (
            400,
            {"errors": [{"code": "INVALID_PARAMETER", "message": "Invalid event_id", "parameter": "event_id"}]},
            None,
            Failed("HTTP 400: INVALID_PARAMETER: Invalid event_id"),
        ),
        (
            401,
            {"errors": [{"code": "UNAUTHORIZED_ACCESS", "message": "This request is not properly authenticated"}]},
            None,
            Failed("HTTP 401: UNAUTHORIZED_ACCESS: This request is not properly authenticated"),
        ),
        (
            404,
            {"errors": [{"code": "NOT_FOUND", "message": "Pixel not found"}]},
            None,
            Failed("HTTP 404: NOT_FOUND: Pixel not found"),
        ),
        (422, None, None, Failed("HTTP 422: Unprocessable Content")),
        (
            429,
            {"errors": [{"code": "TOO_MANY_REQUESTS", "message": "Rate limit exceeded"}]},
            {"x-rate-limit-reset": str(RESET + 90)},
            Retry("HTTP 429: TOO_MANY_REQUESTS: Rate limit exceeded", after=90.0),
        ),
        (
            429,
            None,
            {"x-rate-limit-reset": str(RESET + 30), "x-account-rate-limit-reset": str(RESET + 300)},
            Retry("HTTP 429: Too Many Requests", after=300.0),
        ),
        (
            429,
            None,
            {"Retry-After": "5", "x-rate-limit-reset": str(RESET + 900)},
            Retry("HTTP 429: Too Many Requests", after=5.0),
        ),
        (429, None, {"x-rate-limit-reset": str(RESET - 10)}, Retry("HTTP 429: Too Many Requests", after=0.0)),
        (429, None, None, Retry("HTTP 429: Too Many Requests")),
        (503, None, {"x-rate-limit-reset": str(RESET + 900)}, Retry("HTTP 503: Service Unavailable")),
        (500, None, None, Retry("HTTP 500: Internal Server Error")),
        (408, None, None, Retry("HTTP 408: Request Timeout")),
    ],
)
def test_response_classification(status: int, body: object, headers: dict[str, str] | None, expected: object) -> None:
    vendor = xads(clock=lambda: float(RESET))
    assert vendor.read_response(response(status, body, headers)) == expected
