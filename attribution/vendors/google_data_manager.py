"""Google's Data Manager API, ``GoogleAds``'s default transport: the request, and what its answers mean.

Private to ``google_ads`` (``GoogleAds`` is the only public name). One call, ``POST {base}/v1/events:ingest``:

- the destination (the operating account, the manager as login account, the conversion action's id as
  ``productDestinationId``) is in the body, named by a ``reference`` each event lists in ``destinationReferences``,
  so a batch of payloads says by itself where it goes;
- the events: ``transactionId`` (Google's dedup and restatement key per conversion action), an RFC 3339
  ``eventTimestamp``, ``eventSource: WEB``, one click id, value and currency, the cart, ``userData`` hashed in
  the request's ``encoding`` (hex), consent as ``CONSENT_GRANTED`` / ``CONSENT_DENIED``;
- **fast-fail**: one bad event refuses the whole request with a 400 whose ``fieldViolations[].field`` names
  ``events[i]``; ``fast_fail`` sorts them by event;
- a 200 ``{"requestId"}`` means only "queued": what processing refuses later (an undecodable click id, denied
  consent) is counted per reason by ``GET /v1/requestStatus:retrieve?requestId=...``; ``later_refusals`` maps
  those counts back to the events where they can only be theirs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..orders import pii
from ..orders.identifiers import Identifier, digest
from .base import ERROR_LIMIT, JSON, Delivered, Failed, Outcome, Resend, Retry, iso_millis, json_number, without_empty

if TYPE_CHECKING:
    from ..capture.consent import Consent
    from ..orders.conversion import Customer, LineItem

BASE_URL = "https://datamanager.googleapis.com"
INGEST_PATH = "/v1/events:ingest"
STATUS_PATH = "/v1/requestStatus:retrieve"
SCOPE = "https://www.googleapis.com/auth/datamanager"
#: Events per request (the proto and the limits page; the enum's text and one sample say 10,000).
MAX_EVENTS = 2000
#: Google processes an accepted request "after a while": integrations ask ~30 minutes later, for up to a day.
CONFIRM_AFTER = 30 * 60.0
CONFIRM_WITHIN = 24 * 3600.0
#: What to wait before asking again about a request still ``PROCESSING``.
CONFIRM_AGAIN = 2 * 3600.0
CONSENT = {"GRANTED": "CONSENT_GRANTED", "DENIED": "CONSENT_DENIED"}
#: Where Google Ads does not use IP matching (the EEA, the UK and Switzerland): the IP is left out for them.
NO_IP_MATCHING = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
        "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "GB", "CH",
    }
)  # fmt: skip
#: Processing refusals, by the click id or the consent that alone can cause them (see ``later_refusals``).
CLICK_REFUSALS = {
    "PROCESSING_ERROR_REASON_INVALID_GCLID": "gclid",
    "PROCESSING_ERROR_REASON_INVALID_GBRAID": "gbraid",
    "PROCESSING_ERROR_REASON_INVALID_WBRAID": "wbraid",
}
CONSENT_REFUSALS = frozenset(
    {
        "PROCESSING_ERROR_REASON_DENIED_CONSENT",
        "PROCESSING_ERROR_REASON_NO_CONSENT",
        "PROCESSING_ERROR_REASON_UNKNOWN_CONSENT",
    }
)
#: Processing notes that are no refusal of ours: Google already holds this very conversion (our own resend).
ALREADY_HELD = frozenset(
    {"PROCESSING_ERROR_REASON_DUPLICATE_TRANSACTION_ID", "PROCESSING_ERROR_REASON_DUPLICATE_GCLID"}
)

_EVENT_FIELD = re.compile(r"events\[(\d+)\]")
_GMAIL = frozenset({"gmail.com", "googlemail.com"})


def email_form(email: str) -> str:
    """Google's normal form of an email before hashing ("Format user data", ``format.py``): no whitespace,
    lowercase, and for ``gmail.com`` / ``googlemail.com`` no dots and no ``+tag`` in the local part."""
    email = "".join(email.split()).lower()
    local, at, domain = email.rpartition("@")
    if at and domain in _GMAIL:
        local = local.partition("+")[0].replace(".", "")
    return f"{local}{at}{domain}" if at else email


def _email_sha256(customer: Customer) -> str | None:
    """SHA-256 of the email in Google's current normal form (``email_form``); a digest the site gave passes through.
    "+shop@gmail.com" has no address left once the tag goes: Google's own formatter refuses it, so nothing is sent."""
    email = customer.email
    if not email or pii.is_sha256(email):
        return digest(email)
    normal = email_form(email)
    return digest(normal) if normal.partition("@")[0] else None


EMAIL_SHA256 = Identifier("google.email_sha256", _email_sha256, hashed=True)
"""SHA-256 of the email in Google's current normal form (gmail: no dots, no ``+tag``), as the Data Manager API
and Google's own ``format.py`` write it."""


def event(
    *,
    action: str,
    transaction_id: str,
    at: datetime,
    click: tuple[str, str] | None,
    device: JSON,
    value: Decimal | None,
    currency: str | None,
    items: Sequence[LineItem],
    user_identifiers: list[JSON],
    consent: dict[str, str],
) -> JSON:
    """One ``Event`` for the conversion action ``action``: a web conversion, with the click id and the landing
    device (user agent, IP) only beside a click, user data only without a braid (one click id; a braid beside
    ``userData`` is unsettled, and was refused by the Google Ads API)."""
    ads: JSON = {}
    if click is not None:
        ads[click[0]] = click[1]
        if click[0] != "gclid":
            user_identifiers = []
        if device:
            ads["landingPageDeviceInfo"] = device
    cart = [{"itemId": item.id, "quantity": str(item.quantity), "unitPrice": json_number(item.price)} for item in items]
    return without_empty(
        {
            "destinationReferences": [action],
            "transactionId": transaction_id,
            "eventTimestamp": iso_millis(at),
            "eventSource": "WEB",
            "adIdentifiers": ads,
            "conversionValue": json_number(value) if value is not None else None,
            "currency": currency,
            "userData": {"userIdentifiers": user_identifiers} if user_identifiers else None,
            "consent": consent,
            "cartData": {"items": cart} if cart else None,
        }
    )


def from_ads_api(row: JSON) -> JSON:
    """A click conversion queued for the Google Ads API (before the Data Manager API became ``GoogleAds``'s
    default) as the same event for the Data Manager API, so that an outbox written by an earlier release is sent,
    not refused: the action id from the resource name, the time as RFC 3339, the hashes under their new names (the
    email's in the Google Ads API's normal form: still a SHA-256 of the customer's address), consent renamed."""
    click = next(((key, str(row[key])) for key in ("gclid", "wbraid", "gbraid") if row.get(key)), None)
    hashed = {"hashedEmail": "emailAddress", "hashedPhoneNumber": "phoneNumber"}
    identifiers = [
        {hashed[key]: value}
        for entry in row.get("userIdentifiers") or ()
        for key, value in entry.items()
        if key in hashed
    ]
    value = row.get("conversionValue")
    return event(
        action=str(row["conversionAction"]).rpartition("/")[2],
        transaction_id=str(row["orderId"]),
        at=datetime.strptime(str(row["conversionDateTime"]), "%Y-%m-%d %H:%M:%S%z"),
        click=click,
        device={},
        value=Decimal(str(value)) if value is not None else None,
        currency=row.get("currencyCode"),
        items=(),
        user_identifiers=identifiers,
        consent={key: CONSENT[word] for key, word in (row.get("consent") or {}).items() if word in CONSENT},
    )


def consent(ad_user_data: str | None, ad_personalization: str | None, visitor: Consent) -> dict[str, str]:
    """``CONSENT_GRANTED`` / ``CONSENT_DENIED`` per purpose: the site's setting (``"GRANTED"``/``"DENIED"``),
    else the visitor's answer when the site's consent hook gave one; nothing claimed when neither is known (the
    account's default applies)."""
    fields = {"adUserData": ad_user_data, "adPersonalization": ad_personalization}
    if visitor.decided:
        fields["adUserData"] = fields["adUserData"] or ("GRANTED" if visitor.ad_measurement else "DENIED")
        fields["adPersonalization"] = fields["adPersonalization"] or (
            "GRANTED" if visitor.ad_personalization else "DENIED"
        )
    return {key: CONSENT[value] for key, value in fields.items() if value}


def destination(customer_id: str, action: str, login_customer_id: str | None) -> JSON:
    """One destination: the conversion action ``action`` of the operating account, referenced by its id."""
    found: JSON = {
        "reference": action,
        "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": customer_id},
        "productDestinationId": action,
    }
    if login_customer_id:
        found["loginAccount"] = {"accountType": "GOOGLE_ADS", "accountId": login_customer_id}
    return found


def ingest_body(
    events: Sequence[JSON], *, customer_id: str, login_customer_id: str | None, validate_only: bool
) -> JSON:
    """The ``IngestEventsRequest`` for events that each name their conversion action in
    ``destinationReferences``: one destination per action, in the order the events first name them."""
    actions: dict[str, None] = {}
    for event in events:
        for reference in event.get("destinationReferences") or ():
            actions.setdefault(reference)
    body: JSON = {
        "destinations": [destination(customer_id, action, login_customer_id) for action in actions],
        "events": list(events),
    }
    if any("userData" in event for event in events):
        body["encoding"] = "HEX"  # every hash is SHA-256 hex; required whenever userData is sent
    if validate_only:
        body["validateOnly"] = True
    return body


def error_status(data: Any) -> JSON:
    """The ``google.rpc.Status`` of an error answer (``{"error": {...}}``), or an empty dict."""
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _details(status: JSON, kind: str) -> Iterator[JSON]:
    details = status.get("details")
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith(kind):
            yield detail


def violations(status: JSON) -> list[tuple[str, str, str]]:
    """``(field, reason, description)`` of every ``BadRequest`` field violation."""
    found = []
    for detail in _details(status, "google.rpc.BadRequest"):
        entries = detail.get("fieldViolations")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                found.append(
                    (
                        str(entry.get("field") or ""),
                        str(entry.get("reason") or ""),
                        str(entry.get("description") or "")[:300],
                    )
                )
    return found


def error_reason(status: JSON) -> str:
    """``ErrorInfo.reason`` (``INVALID_CURRENCY_CODE``, ``RESOURCE_EXHAUSTED``...), or ""."""
    return next((str(d.get("reason") or "") for d in _details(status, "google.rpc.ErrorInfo")), "")


def request_id(status: JSON) -> str:
    """Google's id of a refused request (``RequestInfo.requestId``), for the operator to quote to Google."""
    return next((str(d.get("requestId") or "") for d in _details(status, "google.rpc.RequestInfo")), "")


def fast_fail(status: JSON, count: int) -> dict[int, list[str]] | None:
    """The events of a refused request that Google names, each with what it said about them; None when the
    refusal is the request's own (a violation outside ``events[i]``, a malformed body, or an index out of range),
    which every event shares.

    A violation Google's JSON front end raised ("Invalid JSON payload received...") is the request's too even when
    it points at ``events[0]``: a field this library sent wrongly is wrong in every event.
    """
    found = violations(status)
    if not found:
        return None
    by_event: dict[int, list[str]] = {}
    for where, reason, description in found:
        match = _EVENT_FIELD.match(where)
        if match is None or description.startswith("Invalid JSON payload") or int(match.group(1)) >= count:
            return None
        by_event.setdefault(int(match.group(1)), []).append(
            ": ".join(part for part in (where, reason, description) if part)
        )
    return by_event


def fast_fail_outcomes(data: Any, count: int, redact: Callable[[str], str]) -> list[Outcome] | None:
    """A fast-fail refusal as one outcome per event: ``Failed`` with Google's words for each event it names,
    ``Resend`` for the others (refused only for sharing the request). None: the refusal is the request's own."""
    named = fast_fail(error_status(data), count)
    if named is None:
        return None
    listed = ", ".join(f"events[{i}]" for i in sorted(named))
    resend = Resend(f"sent again: Google refused its request only for {listed}")
    return [Failed(redact("; ".join(named[i]))[:ERROR_LIMIT]) if i in named else resend for i in range(count)]


def verdicts(data: Any, payloads: Sequence[JSON]) -> list[Outcome | None]:
    """``requestStatus:retrieve``'s answer as ``Vendor.read_confirmation``'s verdicts: a request still processing
    is asked about again; refusals pinned on the events they can only be (``later_refusals``) fail them; refusals
    Google counts without saying whose are noted on the others, which stay delivered."""
    verdict = later_refusals(data, payloads)
    if verdict is None:
        return [Retry("Google's request status could not be read", after=CONFIRM_AGAIN)] * len(payloads)
    overall, reasons, unexplained = verdict
    if overall in ("PROCESSING", "REQUEST_STATUS_UNKNOWN"):
        return [Retry(f"Google is still processing the request ({overall})", after=CONFIRM_AGAIN)] * len(payloads)
    note = Delivered(f"Google refused some events of the request later, without saying which: {summary(data)}")
    return [
        Failed(f"refused by Google after it accepted the request: {reason}"[:ERROR_LIMIT])
        if reason is not None
        else note
        if unexplained
        else None
        for reason in reasons
    ]


def later_refusals(data: Any, payloads: Sequence[JSON]) -> tuple[str, list[str | None], bool] | None:
    """What ``requestStatus:retrieve`` says about the events of one accepted request: its overall status
    (``SUCCESS``, ``PROCESSING``, ``PARTIAL_SUCCESS``, ``FAILED``), per payload the refusal that is surely its own
    (else None), and whether some refusals could not be pinned on any event. None when the answer is not one
    Google gives.

    Google counts refusals per reason without saying which event. ``FAILED`` refused every event. Otherwise a
    count is pinned on events only when it cannot be anyone else's: the payloads are the whole request (Google's
    own count of its events says so) and exactly that many of them carry what the reason is about (an undecodable
    ``gclid`` among the events with a gclid; denied consent among those not sent with ``CONSENT_GRANTED``).
    Any other count stays the request's note (``summary``).
    """
    statuses = data.get("requestStatusPerDestination") if isinstance(data, dict) else None
    if not isinstance(statuses, list) or not statuses or not all(isinstance(e, dict) for e in statuses):
        return None
    order = ("SUCCESS", "PARTIAL_SUCCESS", "FAILED", "REQUEST_STATUS_UNKNOWN", "PROCESSING")
    states = [str(entry.get("requestStatus") or "REQUEST_STATUS_UNKNOWN") for entry in statuses]
    if any(state not in order for state in states):
        return None
    overall = max(states, key=order.index)  # still processing anywhere: ask again; else the worst
    outcome: list[str | None] = [None] * len(payloads)
    if overall == "FAILED":
        return overall, [summary(data)] * len(payloads), False
    if overall != "PARTIAL_SUCCESS":
        return overall, outcome, False
    counts: dict[str, int] = {}
    for entry in statuses:  # each destination counts the same events again: the largest count stands
        for reason, number in _counts(entry).items():
            counts[reason] = max(counts.get(reason, 0), number)
    whole = all(_recorded(entry) in (None, len(payloads)) for entry in statuses)
    unexplained = False
    for reason, number in counts.items():
        if reason in ALREADY_HELD:
            continue
        concerned = [i for i, payload in enumerate(payloads) if _concerns(reason, payload)]
        if whole and number == len(concerned):
            for index in concerned:
                outcome[index] = outcome[index] or reason
        else:
            unexplained = True
    return overall, outcome, unexplained


def _recorded(entry: JSON) -> int | None:
    """Google's count of the events the request carried (``eventsIngestionStatus.recordCount``)."""
    status = entry.get("eventsIngestionStatus")
    try:
        return int(status["recordCount"]) if isinstance(status, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def summary(data: Any) -> str:
    """The counts of ``requestStatus:retrieve`` as one line: ``PARTIAL_SUCCESS: INVALID_GCLID 2 of 5 events``."""
    statuses = data.get("requestStatusPerDestination") if isinstance(data, dict) else None
    parts = []
    for entry in statuses if isinstance(statuses, list) else []:
        if not isinstance(entry, dict):
            continue
        counts = ", ".join(
            f"{reason.removeprefix('PROCESSING_ERROR_REASON_')} {n}" for reason, n in _counts(entry).items()
        )
        total = (entry.get("eventsIngestionStatus") or {}).get("recordCount", "?")
        parts.append(f"{entry.get('requestStatus')}: {counts or 'no refusal'} of {total} events")
    return "; ".join(parts)


def _counts(entry: Any) -> dict[str, int]:
    info = entry.get("errorInfo") if isinstance(entry, dict) else None
    counts = info.get("errorCounts") if isinstance(info, dict) else None
    found: dict[str, int] = {}
    for count in counts if isinstance(counts, list) else []:
        if isinstance(count, dict):
            try:
                found[str(count.get("reason"))] = found.get(str(count.get("reason")), 0) + int(count["recordCount"])
            except (KeyError, TypeError, ValueError):
                continue
    return found


def _concerns(reason: str, payload: Mapping[str, Any]) -> bool:
    """Whether an event carries what a processing refusal is about (the click id, the consent sent)."""
    click = CLICK_REFUSALS.get(reason)
    if click is not None:
        return bool((payload.get("adIdentifiers") or {}).get(click))
    if reason in CONSENT_REFUSALS:
        return (payload.get("consent") or {}).get("adUserData") != "CONSENT_GRANTED"
    return True
