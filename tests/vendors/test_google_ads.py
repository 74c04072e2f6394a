"""Google Ads click conversions: the golden request from Google's own example, the click-id rule, dates with
offsets, Google's email/phone normalisation against SHA-256 values computed outside this code base, and the
classification of every kind of answer, partial failures row by row included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from attribution import GoogleAds as PublicGoogleAds
from attribution.capture.models import Attribution, Channel, Touch
from attribution.capture.params import DEFAULT_CLICK_ID_WINDOWS
from attribution.errors import ConfigurationError
from attribution.orders.conversion import Conversion, Customer, Order
from attribution.vendors.base import Delivered, Failed, Retry
from attribution.vendors.google_ads import GoogleAds
from attribution.vendors.google_ads_api import choose_click_id, conversion_date_time, google_email

from .google_fakes import ACCESS_TOKEN, CREDENTIALS, TokenEndpoint, google_ads, partial_failure, row_error
from .samples import NOW, attribution, purchase, queued, response, touch

GCLID = "Cj0KCQiA-example-gclid_AbC"
#: SHA-256 of "johndoe@gmail.com" and "+16502531234", computed with coreutils' sha256sum.
GMAIL_HASH = "06a240d11cc201676da976f7b49341181fd180da37cbe40a77432c0a366c80c3"
PHONE_HASH = "e101d1333c2310c83a1f96c4e0c12aa18b151ee0baaa2db3998ee3797d74b685"


async def send(vendor: GoogleAds, payloads: list[dict[str, Any]], answer: httpx2.Response) -> httpx2.Request:
    """What the worker does: authorize, build, send, and hand back what went on the wire."""
    seen: list[httpx2.Request] = []
    tokens = TokenEndpoint()

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/token":
            return tokens(request)
        seen.append(request)
        return answer

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
        await vendor.authorize(client)
        await client.send(vendor.build_request(payloads))
    (wire,) = seen
    return wire


def googles_example() -> Conversion:
    """upload_offline_conversion.py: a gclid, '2019-01-01 12:32:45-08:00', a value in USD, an order id."""
    at = datetime(2019, 1, 1, 12, 32, 45, tzinfo=timezone(timedelta(hours=-8)))
    landing = Touch(at=at - timedelta(days=1), params={"gclid": GCLID}, channel=Channel.PAID_SEARCH)
    attr = Attribution(first=landing, history=[landing]).with_windows(DEFAULT_CLICK_ID_WINDOWS, now=at)
    return Conversion(order=Order(id="ORD-2019-1", value=Decimal("123.45"), currency="USD", time=at), attribution=attr)


async def test_golden_request_matches_googles_example() -> None:
    vendor = google_ads(login_customer_id="111-222-3333", ad_user_data="GRANTED")
    assert PublicGoogleAds is GoogleAds
    conversion = googles_example()
    assert vendor.check(conversion) is None
    prepared = queued(vendor, conversion)
    assert (prepared.vendor, prepared.dedup_key, prepared.batch_key) == (
        "google_ads",
        "purchase:ORD-2019-1",
        "1234567890",
    )
    wire = await send(vendor, [prepared.payload], httpx2.Response(200, json={"results": [{"gclid": GCLID}]}))

    assert wire.method == "POST"
    assert str(wire.url) == "https://googleads.googleapis.com/v26/customers/1234567890:uploadClickConversions"
    assert wire.headers["authorization"] == f"Bearer {ACCESS_TOKEN}1"
    assert wire.headers["developer-token"] == CREDENTIALS["developer_token"]
    assert wire.headers["login-customer-id"] == "1112223333"
    assert wire.headers["content-type"] == "application/json"
    assert json.loads(wire.content) == {
        "conversions": [
            {
                "gclid": GCLID,
                "conversionAction": "customers/1234567890/conversionActions/987654321",
                "conversionDateTime": "2019-01-01 12:32:45-08:00",
                "conversionValue": 123.45,
                "currencyCode": "USD",
                "orderId": "ORD-2019-1",
                "consent": {"adUserData": "GRANTED"},
            }
        ],
        "partialFailure": True,
    }


def test_action_given_as_resource_name_and_configuration_errors() -> None:
    vendor = google_ads(conversion_actions={"purchase": "customers/1234567890/conversionActions/55"})
    assert vendor.conversion_actions == {"purchase": "55"}
    with pytest.raises(ConfigurationError, match="10-digit"):
        google_ads(customer_id="123-456")
    with pytest.raises(ConfigurationError, match="10-digit"):
        google_ads(login_customer_id="mcc")
    with pytest.raises(ConfigurationError, match="conversion action ids"):
        google_ads(conversion_actions={"purchase": "Purchases (web)"})
    with pytest.raises(ConfigurationError, match="ad_user_data"):
        google_ads(ad_user_data="yes")


def test_dry_run_request_has_no_token_and_masks_the_developer_token() -> None:
    vendor = google_ads()
    request = vendor.build_request([vendor.payload(googles_example())])
    assert "authorization" not in request.headers
    masked = vendor.masked_headers(request)
    assert masked["developer-token"] == "***"
    assert CREDENTIALS["developer_token"] not in json.dumps(masked)
    assert all(secret not in repr(vendor) + repr(vendor.tokens) for secret in CREDENTIALS.values())


# -- which click id, and when Google applies -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("click_ids", "expected"),
    [
        ({"gclid": "g", "wbraid": "w", "gbraid": "b"}, ("gclid", "g")),
        ({"wbraid": "w", "gbraid": "b"}, ("wbraid", "w")),
        ({"gbraid": "b", "ttclid": "t"}, ("gbraid", "b")),
        ({"gclid": "", "gbraid": "b"}, ("gbraid", "b")),
        ({"fbclid": "f"}, None),
    ],
)
def test_exactly_one_click_id_is_chosen(click_ids: dict[str, str], expected: tuple[str, str] | None) -> None:
    assert choose_click_id(click_ids) == expected


def test_payload_carries_one_click_id_and_braids_never_carry_user_identifiers() -> None:
    vendor = google_ads(enhanced_conversions=True)
    customer = Customer(email="John.Doe@GMail.com", phone="+1 650-253-1234")
    both = purchase(attribution(touch(timedelta(hours=9), Channel.PAID_SEARCH, gbraid="GB", wbraid="WB")), customer)
    payload = vendor.payload(both)
    assert [k for k in ("gclid", "gbraid", "wbraid") if k in payload] == ["wbraid"]
    assert "userIdentifiers" not in payload  # a braid beside user identifiers is VALUE_MUST_BE_UNSET
    with_gclid = purchase(
        attribution(touch(timedelta(hours=9), Channel.PAID_SEARCH, gclid=GCLID, gbraid="GB")), customer
    )
    payload = vendor.payload(with_gclid)
    assert payload["gclid"] == GCLID
    assert "gbraid" not in payload
    assert payload["userIdentifiers"] == [{"hashedEmail": GMAIL_HASH}, {"hashedPhoneNumber": PHONE_HASH}]


def test_without_a_click_id_only_enhanced_conversions_apply() -> None:
    customer = Customer(email="johndoe@gmail.com")
    organic = purchase(attribution(touch(timedelta(hours=1), Channel.ORGANIC_SEARCH)), customer)
    assert google_ads().check(organic) == (
        "the visitor did not come from a Google ad (no gclid, gbraid or wbraid within its window)"
    )
    vendor = google_ads(enhanced_conversions=True)
    prepared = queued(vendor, organic)
    assert prepared.payload["userIdentifiers"] == [{"hashedEmail": GMAIL_HASH}]
    assert not {"gclid", "gbraid", "wbraid"} & set(prepared.payload)
    anonymous = purchase(attribution())
    assert vendor.check(anonymous) == "no gclid, gbraid or wbraid, and no email or phone for enhanced conversions"


def test_expired_gclid_is_not_sent() -> None:
    old = purchase(attribution(touch(timedelta(days=91), Channel.PAID_SEARCH, gclid=GCLID)))
    assert google_ads().check(old) is not None
    fresh = purchase(attribution(touch(timedelta(days=89), Channel.PAID_SEARCH, gclid=GCLID)))
    assert google_ads().payload(fresh)["gclid"] == GCLID


def test_unmapped_event_is_skipped_and_a_lead_without_value_sends_none() -> None:
    lead = Conversion(event="lead", event_id="lead-77", attribution=attribution(touch(timedelta(hours=1), gclid=GCLID)))
    assert google_ads().check(lead) == "event 'lead' has no Google Ads conversion action configured"
    prepared = queued(google_ads(conversion_actions={"lead": "42"}), lead)
    assert prepared.payload["orderId"] == "lead-77"
    assert "conversionValue" not in prepared.payload
    assert "currencyCode" not in prepared.payload
    assert prepared.payload["conversionAction"] == "customers/1234567890/conversionActions/42"


# -- dates and hashing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        (datetime(2019, 1, 1, 12, 32, 45, tzinfo=timezone(timedelta(hours=-8))), None, "2019-01-01 12:32:45-08:00"),
        (datetime(2025, 5, 5, 21, 20, 0, 603000, tzinfo=UTC), None, "2025-05-05 21:20:00+00:00"),
        (
            datetime(2025, 5, 5, 21, 20, tzinfo=UTC),
            timezone(timedelta(hours=5, minutes=30)),
            "2025-05-06 02:50:00+05:30",
        ),
        (
            datetime(2025, 5, 5, 21, 20, tzinfo=UTC),
            timezone(timedelta(hours=-3, minutes=-30)),
            "2025-05-05 17:50:00-03:30",
        ),
        (
            datetime(2025, 5, 5, 21, 20, tzinfo=timezone(timedelta(hours=5, minutes=45))),
            None,
            "2025-05-05 21:20:00+05:45",
        ),
        (
            datetime(2025, 5, 5, 21, 20, tzinfo=timezone(timedelta(minutes=20, seconds=30))),
            None,
            "2025-05-05 20:59:30+00:00",
        ),
    ],
)
def test_conversion_date_time_has_its_offset(moment: datetime, zone: timezone | None, expected: str) -> None:
    assert conversion_date_time(moment, zone) == expected


def test_conversion_date_time_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        conversion_date_time(datetime(2025, 5, 5, 21, 20))


def test_timezone_option_reaches_the_payload() -> None:
    vendor = google_ads(timezone=timezone(timedelta(hours=-3)))
    payload = vendor.payload(purchase(attribution(touch(timedelta(hours=1), gclid=GCLID))))
    assert payload["conversionDateTime"] == "2025-05-05 18:20:00-03:00"  # NOW is 21:20 UTC


@pytest.mark.parametrize(
    ("email", "normalised"),
    [
        ("  John.Doe@GMail.com ", "johndoe@gmail.com"),
        ("john.doe@googlemail.com", "johndoe@googlemail.com"),
        ("John.Doe@Example.com", "john.doe@example.com"),
        ("j.doe+ads@gmail.com", "jdoe+ads@gmail.com"),  # Google's documented rule removes dots only
    ],
)
def test_google_email_normalisation(email: str, normalised: str) -> None:
    assert google_email(email) == normalised


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        (Customer(email="John.Doe@GMail.com"), [{"hashedEmail": GMAIL_HASH}]),
        (
            Customer(email="John.Doe@Example.com"),
            [{"hashedEmail": "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f"}],
        ),
        (
            Customer(email="j.doe+ads@gmail.com"),
            [{"hashedEmail": "75fe8ca34505558370f688dcd5941f857da4d868b67f577a575052594fc8b7d9"}],
        ),
        (Customer(phone="(650) 253-1234", phone_region="US"), [{"hashedPhoneNumber": PHONE_HASH}]),
        (Customer(email=GMAIL_HASH.upper()), [{"hashedEmail": GMAIL_HASH}]),  # a site keeping only hashes
    ],
)
def test_user_identifiers_are_hashed_as_google_normalises(customer: Customer, expected: list[dict[str, str]]) -> None:
    conversion = purchase(attribution(touch(timedelta(hours=1), Channel.PAID_SEARCH, gclid=GCLID)), customer)
    assert google_ads(enhanced_conversions=True).payload(conversion)["userIdentifiers"] == expected
    assert "userIdentifiers" not in google_ads().payload(conversion)


# -- batching and answers ----------------------------------------------------------------------------------


def test_up_to_2000_conversions_per_request() -> None:
    assert GoogleAds.max_batch == 2000
    vendor = google_ads()
    payloads = [
        vendor.payload(
            purchase(
                attribution(touch(timedelta(hours=1), gclid=f"{GCLID}{i}")),
                order=Order(id=f"ORD-{i}", value=Decimal("10"), currency="USD", time=NOW),
            )
        )
        for i in range(2000)
    ]
    body = json.loads(vendor.build_request(payloads).content)
    assert len(body["conversions"]) == 2000
    assert body["partialFailure"] is True
    with pytest.raises(ValueError, match="1 to 2000"):
        vendor.build_request([*payloads, payloads[0]])
    with pytest.raises(ValueError, match="1 to 2000"):
        vendor.build_request([])


def test_partial_failure_gives_each_row_its_own_outcome() -> None:
    vendor = google_ads()
    payloads: list[dict[str, Any]] = [{"orderId": f"ORD-{i}"} for i in range(6)]
    body = partial_failure(
        results=[
            {"gclid": "g0", "conversionAction": "customers/1234567890/conversionActions/987654321"},
            {},
            {},
            {},
            {},
            {},
        ],
        errors=[
            row_error(1, "conversionUploadError", "ORDER_ID_ALREADY_IN_USE", "Order ID already used."),
            row_error(2, "conversionUploadError", "TOO_RECENT_EVENT", "The click is too recent."),
            row_error(3, "conversionUploadError", "UNPARSEABLE_GCLID", "The gclid could not be decoded."),
            row_error(4, "internalError", "TRANSIENT_ERROR", "Try again."),
            row_error(5, "conversionUploadError", "CLICK_CONVERSION_ALREADY_EXISTS", "Already exists."),
            row_error(5, "conversionUploadError", "EXPIRED_EVENT", "The click is too old."),
        ],
    )
    outcomes = vendor.read_batch(response(200, body), payloads)
    assert outcomes == [
        Delivered('{"gclid":"g0","conversionAction":"customers/1234567890/conversionActions/987654321"}'),
        Delivered("already recorded (ORDER_ID_ALREADY_IN_USE)"),
        Retry("conversionUploadError.TOO_RECENT_EVENT: The click is too recent.", after=6 * 3600.0),
        Failed("conversionUploadError.UNPARSEABLE_GCLID: The gclid could not be decoded."),
        Retry("internalError.TRANSIENT_ERROR: Try again."),
        Failed("conversionUploadError.EXPIRED_EVENT: The click is too old."),
    ]
    # One outcome per request (a worker without read_batch): the worst row decides.
    assert vendor.read_response(response(200, body)) == outcomes[3]


def test_a_row_error_quoting_what_was_sent_is_kept_redacted() -> None:
    body = partial_failure(
        results=[{}, {}],
        errors=[
            row_error(0, "fieldError", "INVALID_VALUE", "Email 'ana.souza@example.com' is not hashed."),
            row_error(1, "internalError", "TRANSIENT_ERROR", "Retry for +55 11 91234-5678."),
        ],
    )
    failed, retried = google_ads().read_batch(response(200, body), [{"orderId": "A"}, {"orderId": "B"}])
    assert isinstance(failed, Failed)
    assert isinstance(retried, Retry)
    assert failed.reason == "fieldError.INVALID_VALUE: Email '***@***' is not hashed."
    assert retried.reason == "internalError.TRANSIENT_ERROR: Retry for ***."


def test_rows_without_result_or_error_are_retried_and_duplicates_inside_a_request_too() -> None:
    body = partial_failure(
        results=[{}, {}],
        errors=[row_error(0, "conversionUploadError", "DUPLICATE_ORDER_ID", "Duplicate order id in request.")],
    )
    outcomes = google_ads().read_batch(response(200, body), [{}, {}])
    assert outcomes == [
        Retry("conversionUploadError.DUPLICATE_ORDER_ID: Duplicate order id in request."),
        Retry("Google answered neither a result nor an error for this row"),
    ]
    assert google_ads(validate_only=True).read_batch(response(200, {}), [{}]) == [Delivered("{}")]


def google_error(status: int, name: str, family: str, code: str, message: str, **extra: Any) -> dict[str, Any]:
    failure = {"errors": [{"errorCode": {family: code}, "message": message, **extra}], "requestId": "rq-1"}
    details: list[dict[str, Any]] = [
        {"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure", **failure}
    ]
    return {
        "error": {
            "code": status,
            "message": "Request contains an invalid argument.",
            "status": name,
            "details": details,
        }
    }


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (
            400,
            google_error(400, "INVALID_ARGUMENT", "requestError", "INVALID_CUSTOMER_ID", "Invalid customer ID."),
            {"request-id": "rq-1"},
            Failed(
                "HTTP 400: INVALID_ARGUMENT: requestError.INVALID_CUSTOMER_ID: Invalid customer ID. (request-id rq-1)"
            ),
        ),
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": 'Invalid JSON payload received. Unknown name "foo"',
                    "status": "INVALID_ARGUMENT",
                }
            },
            None,
            Failed('HTTP 400: INVALID_ARGUMENT: Invalid JSON payload received. Unknown name "foo"'),
        ),
        (
            403,
            google_error(
                403, "PERMISSION_DENIED", "authorizationError", "DEVELOPER_TOKEN_NOT_APPROVED", "Not approved."
            ),
            None,
            Failed("HTTP 403: PERMISSION_DENIED: authorizationError.DEVELOPER_TOKEN_NOT_APPROVED: Not approved."),
        ),
        (
            429,
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "quotaError",
                "RESOURCE_EXHAUSTED",
                "Too many requests.",
                details={"quotaErrorDetails": {"rateScope": "DEVELOPER", "retryDelay": "30s"}},
            ),
            None,
            Retry("HTTP 429: RESOURCE_EXHAUSTED: quotaError.RESOURCE_EXHAUSTED: Too many requests.", after=30.0),
        ),
        (
            429,
            {
                "error": {
                    "code": 429,
                    "status": "RESOURCE_EXHAUSTED",
                    "message": "Quota exceeded.",
                    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}],
                }
            },
            None,
            Retry("HTTP 429: RESOURCE_EXHAUSTED: Quota exceeded.", after=2.5),
        ),
        (
            429,
            google_error(429, "RESOURCE_EXHAUSTED", "quotaError", "RESOURCE_EXHAUSTED", "Too many requests."),
            {"Retry-After": "7"},
            Retry("HTTP 429: RESOURCE_EXHAUSTED: quotaError.RESOURCE_EXHAUSTED: Too many requests.", after=7.0),
        ),
        (
            429,
            google_error(429, "RESOURCE_EXHAUSTED", "quotaError", "RESOURCE_EXHAUSTED", "Too many requests."),
            None,
            Retry("HTTP 429: RESOURCE_EXHAUSTED: quotaError.RESOURCE_EXHAUSTED: Too many requests."),
        ),
        (
            500,
            google_error(500, "INTERNAL", "internalError", "INTERNAL_ERROR", "An internal error has occurred."),
            None,
            Retry("HTTP 500: INTERNAL: internalError.INTERNAL_ERROR: An internal error has occurred."),
        ),
        (503, None, None, Retry("HTTP 503: Service Unavailable")),
        (504, None, None, Retry("HTTP 504: Gateway Timeout")),
        (404, None, None, Failed("HTTP 404: Not Found")),
    ],
)
def test_http_level_classification(status: int, body: Any, headers: dict[str, str] | None, expected: object) -> None:
    vendor = google_ads()
    assert vendor.read_response(response(status, body, headers)) == expected
    assert vendor.read_batch(response(status, body, headers), [{}, {}]) == [expected, expected]
