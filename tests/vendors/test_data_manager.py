"""``GoogleAds`` on the Data Manager API (its default): the golden request from the reference's example, Google's
current normal form of emails (SHA-256 values computed with coreutils' sha256sum), one click id, consent, batching
per conversion action, and every kind of answer: fast-fail refusals naming ``events[i]``, retries, the one token
refresh, and Google's later verdict read from ``requestStatus:retrieve``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from attribution.capture.consent import Consent
from attribution.capture.models import Channel, Touch
from attribution.errors import ConfigurationError
from attribution.orders.conversion import Conversion, Customer, LineItem, RequestContext
from attribution.vendors.base import Delivered, Failed, Resend, Retry
from attribution.vendors.google_data_manager import email_form

from .google_fakes import data_manager
from .google_tokens import ACCESS_TOKEN, TokenEndpoint, service_account_key
from .samples import UA, attribution, order, purchase, queued, touch

GCLID = "Cj0KCQjw-example-gclid_AbC"
#: sha256sum of "cloudysanfrancisco@gmail.com", "+18005550100" and "user.name+nyc@example.com".
GMAIL_HASH = "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4"
PHONE_HASH = "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30"
OTHER_HASH = "f109a2a632fbcea5fc82049f50beed3d8621bf9034399f437fb622222acccdac"
AT = datetime(2026, 11, 20, 14, 3, 11, 250000, tzinfo=UTC)
GRANTED_DATA_DENIED_PERSONALIZATION = Consent.of({"ad_measurement": True, "ad_personalization": False})


def references_example() -> Conversion:
    """The reference's request example: a gclid, the landing device, 99.97 USD, an email and a phone, one item."""
    landing = Touch(at=AT - timedelta(days=1), params={"gclid": GCLID}, path="/landing", channel=Channel.PAID_SEARCH)
    attr = attribution(landing, now=AT)
    return purchase(
        attr,
        Customer(email="Cloudy.SanFrancisco+shopping@gmail.com", phone="(800) 555-0100", country="US"),
        order=order(
            id="ORD-7821",
            time=AT,
            value=Decimal("99.97"),
            items=[LineItem(id="sku-1", quantity=1, price=Decimal("49.99"))],
        ),
        context=RequestContext(ip="203.0.113.9", user_agent=UA),
        consent=GRANTED_DATA_DENIED_PERSONALIZATION,
    )


async def wire(vendor: Any, payloads: list[dict[str, Any]]) -> httpx2.Request:
    """authorize → build_request, as the worker does: the request as it would leave, token included."""
    tokens = TokenEndpoint()

    def handler(request: httpx2.Request) -> httpx2.Response:
        status, body = tokens.answer(
            request.method,
            request.headers.get("content-type", ""),
            request.headers.get("authorization"),
            request.read(),
        )
        return httpx2.Response(status, json=body)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
        await vendor.authorize(client)
    return vendor.build_request(payloads)  # type: ignore[no-any-return]


async def test_golden_request_is_the_references_example() -> None:
    vendor = data_manager(login_customer_id="987-654-3210", conversion_actions={"purchase": "111111111"}, **ENHANCED)
    conversion = references_example()
    assert vendor.check(conversion) is None
    delivery = queued(vendor, conversion)
    assert (delivery.dedup_key, delivery.batch_key) == ("purchase:ORD-7821", "111111111")
    request = await wire(vendor, [delivery.payload])

    assert request.method == "POST"
    assert str(request.url) == "https://datamanager.googleapis.com/v1/events:ingest"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}1"
    assert request.headers["content-type"] == "application/json"
    assert "developer-token" not in request.headers
    assert "login-customer-id" not in request.headers  # the manager travels in the body
    # The reference's example, but for what this library deliberately does otherwise: the destination is
    # referenced by its conversion action's id (a batch names its own destination); consent travels on the event
    # (the visitor's own); no sessionAttributes (not captured); validateOnly only when true.
    assert json.loads(request.content) == {
        "destinations": [
            {
                "reference": "111111111",
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
                "loginAccount": {"accountType": "GOOGLE_ADS", "accountId": "9876543210"},
                "productDestinationId": "111111111",
            }
        ],
        "events": [
            {
                "destinationReferences": ["111111111"],
                "transactionId": "ORD-7821",
                "eventTimestamp": "2026-11-20T14:03:11.250Z",
                "eventSource": "WEB",
                "adIdentifiers": {
                    "gclid": GCLID,
                    "landingPageDeviceInfo": {"userAgent": UA, "ipAddress": "203.0.113.9"},
                },
                "conversionValue": 99.97,
                "currency": "USD",
                "userData": {"userIdentifiers": [{"emailAddress": GMAIL_HASH}, {"phoneNumber": PHONE_HASH}]},
                "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_DENIED"},
                "cartData": {"items": [{"itemId": "sku-1", "quantity": "1", "unitPrice": 49.99}]},
            }
        ],
        "encoding": "HEX",
    }


ENHANCED: dict[str, Any] = {"enhanced_conversions": True}


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("Cloudy.SanFrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"),
        (" cloudy.sanfrancisco@GoogleMail.com ", "cloudysanfrancisco@googlemail.com"),
        ("user.name+NYC@Example.com", "user.name+nyc@example.com"),  # other domains keep dots and +tags
        ("John Doe@example.com", "johndoe@example.com"),  # all whitespace goes
    ],
)
def test_emails_take_googles_current_normal_form(given: str, normal: str) -> None:
    assert email_form(given) == normal


def test_hashes_are_of_the_normal_form_and_a_digest_passes_through() -> None:
    vendor = data_manager(**ENHANCED)
    identifiers = vendor.payload(references_example())["userData"]["userIdentifiers"]
    assert identifiers == [{"emailAddress": GMAIL_HASH}, {"phoneNumber": PHONE_HASH}]
    other = purchase(attribution(), Customer(email="user.name+NYC@Example.com"))
    assert vendor.payload(other)["userData"] == {"userIdentifiers": [{"emailAddress": OTHER_HASH}]}
    given = purchase(attribution(), Customer(email=GMAIL_HASH.upper()))
    assert vendor.payload(given)["userData"] == {"userIdentifiers": [{"emailAddress": GMAIL_HASH}]}
    # The Google Ads API's older rule (dots only) is a form of its own: both may be stored side by side.
    assert {form.name for form in vendor.identifiers} == {"google.email_sha256", "phone_sha256"}


def test_one_click_id_and_a_braid_never_beside_user_data() -> None:
    vendor = data_manager(**ENHANCED)
    customer = Customer(email="cloudysanfrancisco@gmail.com")
    braids = purchase(attribution(touch(timedelta(hours=3), Channel.PAID_SEARCH, gbraid="GB", wbraid="WB")), customer)
    event = vendor.payload(braids)
    assert event["adIdentifiers"] == {
        "wbraid": "WB",
        "landingPageDeviceInfo": {"userAgent": UA, "ipAddress": "203.0.113.7"},
    }
    assert "userData" not in event
    assert "encoding" not in json.loads(vendor.build_request([event]).content)
    leads_only = purchase(attribution(touch(timedelta(hours=3), Channel.ORGANIC_SEARCH)), customer)
    event = vendor.payload(leads_only)
    assert "adIdentifiers" not in event  # no click: no landing after an ad either
    assert event["userData"] == {"userIdentifiers": [{"emailAddress": GMAIL_HASH}]}
    without_ip = data_manager(send_ip=False).payload(references_example())
    assert without_ip["adIdentifiers"]["landingPageDeviceInfo"] == {"userAgent": UA}
    assert data_manager().check(leads_only) == (
        "the visitor did not come from a Google ad (no gclid, gbraid or wbraid within its window)"
    )
    assert vendor.check(purchase(attribution())) == (
        "no gclid, gbraid or wbraid, and no email or phone for enhanced conversions"
    )


def test_consent_follows_the_visitor_and_a_denial_of_ad_user_data_is_not_sent() -> None:
    clicked = attribution(touch(timedelta(hours=1), Channel.PAID_SEARCH, gclid=GCLID))

    def consent_of(consent: Consent, **options: Any) -> Any:
        vendor = data_manager(**options)
        conversion = purchase(clicked, consent=consent)
        return vendor.check(conversion) or vendor.payload(conversion).get("consent")

    assert consent_of(Consent()) is None  # no consent hook: nothing claimed, the account's default applies
    assert consent_of(Consent.of(True)) == {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
    assert consent_of(GRANTED_DATA_DENIED_PERSONALIZATION) == {
        "adUserData": "CONSENT_GRANTED",
        "adPersonalization": "CONSENT_DENIED",
    }
    assert consent_of(Consent(), ad_personalization="DENIED") == {"adPersonalization": "CONSENT_DENIED"}
    assert consent_of(Consent(), ad_user_data="DENIED").startswith(
        "ad user data consent is denied (by the site's ad_user_data='DENIED'): Google would accept the event and "
        "then drop it (PROCESSING_ERROR_REASON_DENIED_CONSENT)"
    )
    # Refused for Google alone: the checkout's consent rule skips it before the adapter is asked; asked anyway,
    # the adapter says why it would not send it.
    refused_for_google = Consent.of({"vendors": {"google_ads": False}})
    assert refused_for_google.refusal("google_ads") is not None
    assert consent_of(refused_for_google).startswith("ad user data consent is denied (by the visitor)")


async def test_batches_go_per_conversion_action_up_to_2000_events() -> None:
    vendor = data_manager(conversion_actions={"purchase": "111", "lead": "222"})
    clicked = attribution(touch(timedelta(hours=1), Channel.PAID_SEARCH, gclid=GCLID))
    lead = Conversion(event="lead", event_id="lead-1", attribution=clicked)
    assert (vendor.batch_key(purchase(clicked)), vendor.batch_key(lead)) == ("111", "222")
    event = vendor.payload(purchase(clicked))
    body = json.loads((await wire(vendor, [event] * 2000)).content)
    assert len(body["events"]) == 2000
    assert [d["productDestinationId"] for d in body["destinations"]] == ["111"]
    with pytest.raises(ValueError, match="1 to 2000"):
        vendor.build_request([event] * 2001)
    mixed = json.loads(vendor.build_request([event, vendor.payload(lead)]).content)
    assert [d["reference"] for d in mixed["destinations"]] == ["111", "222"]
    assert json.loads(data_manager(validate_only=True).build_request([event]).content)["validateOnly"] is True


def test_configuration_errors_say_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match=r"takes no developer token.*api='google_ads'"):
        data_manager(developer_token="DEVTOKEN")
    with pytest.raises(ConfigurationError, match="not both"):
        data_manager(service_account_info=service_account_key().info)
    with pytest.raises(ConfigurationError, match=r"refresh_token missing.*datamanager scope.*service_account_info"):
        data_manager(refresh_token=None)
    with pytest.raises(ConfigurationError, match="api must be"):
        data_manager(api="datamanager")
    with pytest.raises(ConfigurationError, match="needs developer_token"):
        data_manager(api="google_ads")
    key = service_account_key()
    vendor = data_manager(client_id=None, client_secret=None, refresh_token=None, service_account_info=key.info)
    assert key.private_key not in repr(vendor) + repr(vendor.tokens)
    assert key.private_key in vendor.secret_values()


# -- answers -----------------------------------------------------------------------------------------------------


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None, sent: Any = None) -> httpx2.Response:
    request = httpx2.Request(
        "POST", "https://datamanager.test/v1/events:ingest", json=sent or {}, headers={"authorization": "Bearer t"}
    )
    return httpx2.Response(status, json=body, headers=headers, request=request)


def refusal(*violations: tuple[str, str, str], reason: str = "INVALID_ARGUMENT") -> dict[str, Any]:
    return {
        "error": {
            "code": 400,
            "message": "Request contains an invalid argument.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": f, "reason": r, "description": d} for f, r, d in violations],
                },
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "datamanager"},
                {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "rq-9"},
            ],
        }
    }


def test_an_accepted_request_is_delivered_and_to_be_confirmed_by_its_request_id() -> None:
    vendor, payloads = data_manager(), [{"transactionId": "a"}, {"transactionId": "b"}]
    assert (
        vendor.read_batch(answer(200, {"requestId": "rq-1"}), payloads)
        == [Delivered("accepted as request rq-1", confirm="rq-1")] * 2
    )
    validated = data_manager(validate_only=True).read_batch(answer(200, {}), payloads)
    assert validated == [Delivered("validated only: nothing recorded")] * 2


def test_fast_fail_dead_letters_the_named_events_and_sends_the_others_again() -> None:
    vendor, payloads = data_manager(), [{"transactionId": str(i)} for i in range(5)]
    body = refusal(
        ("events[1].currency", "INVALID_CURRENCY_CODE", "Currency code 'XYZ' is not valid."),
        ("events[3]", "INVALID_ARGUMENT", "Request contains an invalid argument."),
        ("events[3].eventTimestamp", "EVENT_TIME_INVALID", "The event time is too old."),
    )
    outcomes = vendor.read_batch(answer(400, body), payloads)
    resend = Resend("sent again: Google refused its request only for events[1], events[3]")
    assert outcomes == [
        resend,
        Failed("events[1].currency: INVALID_CURRENCY_CODE: Currency code 'XYZ' is not valid."),
        resend,
        Failed(
            "events[3]: INVALID_ARGUMENT: Request contains an invalid argument.; "
            "events[3].eventTimestamp: EVENT_TIME_INVALID: The event time is too old."
        ),
        resend,
    ]


@pytest.mark.parametrize(
    "violations",
    [
        [("encoding", "REQUIRED_FIELD_MISSING", "Encoding is required for user data.")],
        [("events[0]", "", "Invalid JSON payload received. Unknown name \"foo\" at 'events[0]': Cannot find field.")],
        [("events[7].currency", "INVALID_CURRENCY_CODE", "out of range")],  # an event the request did not have
        [("events[0].currency", "INVALID_CURRENCY_CODE", "bad"), ("destinations[0]", "INVALID_DESTINATION", "x")],
    ],
)
def test_a_refusal_of_the_request_itself_fails_every_event(violations: list[tuple[str, str, str]]) -> None:
    outcomes = data_manager().read_batch(answer(400, refusal(*violations)), [{}, {}])
    assert len(outcomes) == 2
    assert outcomes[0] == outcomes[1]
    assert isinstance(outcomes[0], Failed)
    assert outcomes[0].reason.startswith("HTTP 400: INVALID_ARGUMENT: ")
    assert outcomes[0].reason.endswith("(request-id rq-9)")


def test_what_google_echoes_of_the_customer_is_masked() -> None:
    email_hash, ip = GMAIL_HASH, "2001:db8::9"
    sent = {"events": [{"userData": {"userIdentifiers": [{"emailAddress": email_hash}]}}, {}]}
    body = refusal(
        ("events[0].userData.userIdentifiers[0].emailAddress", "INVALID_HEX_ENCODING", f"The value {email_hash!r}"),
        ("events[0].adIdentifiers", "INVALID_FORMAT", f"bad address {ip} for john@example.com"),
    )
    sent["events"][0]["adIdentifiers"] = {"landingPageDeviceInfo": {"ipAddress": ip}}
    failed, resend = data_manager().read_batch(answer(400, body, sent=sent), sent["events"])
    assert isinstance(failed, Failed)
    assert isinstance(resend, Resend)
    assert email_hash not in failed.reason
    assert ip not in failed.reason
    assert "john@" not in failed.reason
    assert "INVALID_HEX_ENCODING" in failed.reason


@pytest.mark.parametrize(
    ("status", "headers", "after"),
    [(429, {"retry-after": "30"}, 30.0), (500, None, None), (503, {"retry-after": "7"}, 7.0), (504, None, None)],
)
def test_quota_and_outages_are_retried_with_retry_after(
    status: int, headers: dict[str, str] | None, after: Any
) -> None:
    body = {"error": {"code": status, "status": "UNAVAILABLE", "message": "The service is currently unavailable."}}
    outcomes = data_manager().read_batch(answer(status, body, headers), [{}, {}, {}])
    assert outcomes == [Retry(f"HTTP {status}: UNAVAILABLE: The service is currently unavailable.", after=after)] * 3


def test_retry_info_in_the_body_is_a_delay_too() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "Quota exceeded.",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "42s"}],
        }
    }
    (outcome,) = data_manager().read_batch(answer(429, body), [{}])
    assert outcome == Retry("HTTP 429: RESOURCE_EXHAUSTED: Quota exceeded.", after=42.0)


def test_a_missing_scope_is_permanent_and_says_what_to_check() -> None:
    body = {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "insufficient authentication scopes."}}
    (outcome,) = data_manager().read_batch(answer(403, body), [{}])
    assert isinstance(outcome, Failed)
    assert "is a user of Google Ads account 1234567890" in outcome.reason
    assert "datamanager scope" in outcome.reason


# -- corrections -------------------------------------------------------------------------------------------------


def test_a_restatement_is_the_same_event_with_the_new_value_and_no_retraction_is_promised() -> None:
    vendor = data_manager(**ENHANCED)
    original = references_example()
    corrected = original.model_copy(
        update={"order": original.order.model_copy(update={"value": Decimal("60.00")}), "value": Decimal("60.00")}  # type: ignore[union-attr]
    )
    assert vendor.corrections == frozenset({"restate"})
    restated = vendor.correction(corrected, "restate", AT + timedelta(days=2))
    sent = vendor.payload(original)
    assert restated == {**sent, "conversionValue": 60.0}
    assert vendor.correction_batch_key(corrected, "restate") == "restate:987654321"
    with pytest.raises(ValueError, match="no 'retract' correction"):
        vendor.correction(corrected, "retract", AT)


# -- Google's later verdict --------------------------------------------------------------------------------------


def status_answer(*destinations: dict[str, Any], status: int = 200) -> httpx2.Response:
    request = httpx2.Request("GET", "https://datamanager.test/v1/requestStatus:retrieve?requestId=rq-1")
    return httpx2.Response(status, json={"requestStatusPerDestination": list(destinations)}, request=request)


def destination_status(state: str, total: int, **counts: int) -> dict[str, Any]:
    found: dict[str, Any] = {"requestStatus": state, "eventsIngestionStatus": {"recordCount": str(total)}}
    if counts:
        found["errorInfo"] = {
            "errorCounts": [
                {"recordCount": str(n), "reason": f"PROCESSING_ERROR_REASON_{r}"} for r, n in counts.items()
            ]
        }
    return found


async def test_the_confirmation_asks_google_about_the_request_id() -> None:
    vendor = data_manager()
    request = await wire(vendor, [{}])
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}1"
    question = vendor.build_confirmation("rq/1 2")
    assert question.method == "GET"
    assert str(question.url) == "https://datamanager.googleapis.com/v1/requestStatus:retrieve?requestId=rq%2F1%202"
    assert question.headers["authorization"] == f"Bearer {ACCESS_TOKEN}1"
    assert not question.content
    assert vendor.confirm_after == 1800.0
    assert vendor.confirm_within == 86400.0
    with pytest.raises(NotImplementedError):
        data_manager(api="google_ads", developer_token="d").build_confirmation("rq")


def test_refusals_are_pinned_only_on_the_events_they_can_only_be() -> None:
    vendor = data_manager()
    payloads = [
        {"transactionId": "a", "adIdentifiers": {"gclid": "g1"}, "consent": {"adUserData": "CONSENT_GRANTED"}},
        {"transactionId": "b", "adIdentifiers": {"wbraid": "w1"}, "consent": {"adUserData": "CONSENT_GRANTED"}},
        {"transactionId": "c", "adIdentifiers": {"gclid": "g2"}},
    ]
    processing = vendor.read_confirmation(status_answer(destination_status("PROCESSING", 3)), payloads)
    assert processing == [Retry("Google is still processing the request (PROCESSING)", after=7200.0)] * 3
    assert vendor.read_confirmation(status_answer(destination_status("SUCCESS", 3)), payloads) == [None] * 3
    # Two undecodable gclids: the two events that carry one. One event without granted consent: that one.
    verdict = vendor.read_confirmation(
        status_answer(destination_status("PARTIAL_SUCCESS", 3, INVALID_WBRAID=1, UNKNOWN_CONSENT=1)), payloads
    )
    assert verdict == [
        None,
        Failed("refused by Google after it accepted the request: PROCESSING_ERROR_REASON_INVALID_WBRAID"),
        Failed("refused by Google after it accepted the request: PROCESSING_ERROR_REASON_UNKNOWN_CONSENT"),
    ]
    # One of two gclids undecodable: Google does not say which, so neither is failed; both carry the note.
    ambiguous = vendor.read_confirmation(
        status_answer(destination_status("PARTIAL_SUCCESS", 3, INVALID_GCLID=1)), payloads
    )
    note = Delivered(
        "Google refused some events of the request later, without saying which: "
        "PARTIAL_SUCCESS: INVALID_GCLID 1 of 3 events"
    )
    assert ambiguous == [note, note, note]
    failed = vendor.read_confirmation(status_answer(destination_status("FAILED", 3, EVENT_TOO_OLD=3)), payloads)
    assert (
        failed == [Failed("refused by Google after it accepted the request: FAILED: EVENT_TOO_OLD 3 of 3 events")] * 3
    )
    # A request of more events than the deliveries asked about (some dead-lettered since): nothing is pinned.
    partial = vendor.read_confirmation(
        status_answer(destination_status("PARTIAL_SUCCESS", 4, INVALID_WBRAID=1)), payloads
    )
    assert all(isinstance(outcome, Delivered) for outcome in partial)


def test_a_failed_question_is_asked_again_or_noted() -> None:
    vendor, payloads = data_manager(), [{}, {}]
    busy = vendor.read_confirmation(status_answer(status=503), payloads)
    assert all(isinstance(o, Retry) for o in busy)
    unknown = {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "Request contains an invalid argument.",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_REQUEST_ID"}],
        }
    }
    request = httpx2.Request("GET", "https://datamanager.test/v1/requestStatus:retrieve?requestId=rq-1")
    noted = vendor.read_confirmation(httpx2.Response(400, json=unknown, request=request), payloads)
    assert (
        noted
        == [
            Delivered(
                "not confirmed by Google: HTTP 400: INVALID_ARGUMENT: INVALID_REQUEST_ID: "
                "Request contains an invalid argument."
            )
        ]
        * 2
    )
    garbled = vendor.read_confirmation(httpx2.Response(200, json={"nothing": 1}, request=request), payloads)
    assert garbled == [Retry("Google's request status could not be read", after=7200.0)] * 2
