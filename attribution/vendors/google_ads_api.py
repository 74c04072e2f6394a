"""The Google Ads API, ``GoogleAds(api="google_ads")``: click conversions and their adjustments over REST.

Private to ``google_ads`` (``GoogleAds`` is the only public name).

- ``POST {base}/{version}/customers/{id}:uploadClickConversions``: up to 2,000 conversions a request, always with
  ``partialFailure: true``, so an HTTP 200 may still carry per-row errors, located by the row's index. Google
  deduplicates by ``orderId`` per conversion action and by click id + action + ``conversionDateTime``: both
  travel unchanged on every retry, and a re-sent row answered "already recorded" counts as delivered. Each
  conversion carries exactly one click id (a gbraid or wbraid beside a gclid or user identifiers is
  ``VALUE_MUST_BE_UNSET``, both braids ``GBRAID_WBRAID_BOTH_SET``; a gclid beside user identifiers wins).
- ``POST {base}/{version}/customers/{id}:uploadConversionAdjustments``: ``RESTATEMENT`` (a new value) and
  ``RETRACTION`` of a conversion uploaded before, found by its ``orderId``. Google keys a restatement on its
  ``adjustmentDateTime`` (the same time again is ``RESTATEMENT_ALREADY_EXISTS``, a later one restates again), so
  the time the correction was made travels unchanged on every retry.

Auth: an OAuth access token for the ``adwords`` scope plus the ``developer-token`` header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..orders import pii
from ..orders.identifiers import Identifier, digest
from .base import ERROR_LIMIT, JSON, Delivered, Failed, Outcome, Retry, json_number, without_empty

BASE_URL = "https://googleads.googleapis.com"
API_VERSION = "v26"
SCOPE = "https://www.googleapis.com/auth/adwords"
MAX_ROWS = 2000
#: Click ids in the order one is chosen: a gclid first (Google lets it win over user identifiers), then
#: wbraid (iOS clicks that lead to *web* conversions, which a site's are), then gbraid (app conversions).
CLICK_ID_ORDER = ("gclid", "wbraid", "gbraid")
#: Row errors meaning Google already holds this conversion or adjustment: our own replay of a row it recorded.
ALREADY_RECORDED = frozenset(
    {"CLICK_CONVERSION_ALREADY_EXISTS", "ORDER_ID_ALREADY_IN_USE", "RESTATEMENT_ALREADY_EXISTS"}
)
#: Too young: the click or the action (6 hours), or for an adjustment the conversion itself (24 hours).
TOO_RECENT = frozenset({"TOO_RECENT_EVENT", "TOO_RECENT_CONVERSION_ACTION", "TOO_RECENT_CONVERSION"})
TOO_RECENT_DELAY = 6 * 3600.0
#: Two rows of one request collide; sent again (apart) the row gets a definitive answer.
IN_REQUEST_DUPLICATE = frozenset(
    {"DUPLICATE_CLICK_CONVERSION_IN_REQUEST", "DUPLICATE_ORDER_ID", "DUPLICATE_ADJUSTMENT_IN_REQUEST"}
)
#: Error families Google asks to retry (``internalError.TRANSIENT_ERROR``, ``quotaError.RESOURCE_EXHAUSTED``).
TRANSIENT_FAMILIES = frozenset({"internalError", "quotaError"})
ADJUSTMENT_TYPES = {"restate": "RESTATEMENT", "retract": "RETRACTION"}
#: The rows of each upload, as ``location.fieldPathElements[].fieldName`` names them.
_ROW_FIELDS = frozenset({"conversions", "conversion_adjustments", "conversionAdjustments"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")

if TYPE_CHECKING:
    from ..capture.consent import Consent
    from ..orders.conversion import Customer


def choose_click_id(click_ids: Mapping[str, str]) -> tuple[str, str] | None:
    """The one click id a conversion carries: gclid, else wbraid, else gbraid."""
    return next(((key, click_ids[key]) for key in CLICK_ID_ORDER if click_ids.get(key)), None)


def conversion_date_time(moment: datetime, timezone: tzinfo | None = None) -> str:
    """``2019-01-01 12:32:45-08:00``: Google's ``yyyy-mm-dd hh:mm:ss+|-hh:mm``, whole seconds."""
    if timezone is not None:
        moment = moment.astimezone(timezone)
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("conversionDateTime needs an aware datetime")
    if offset % timedelta(minutes=1):  # historic offsets with seconds: Google's format has no room for them
        moment, offset = moment.astimezone(UTC), timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    hours, rest = divmod(abs(minutes), 60)
    # isoformat pads a year to four digits, strftime does not: the same text from year 1000 on
    local = moment.isoformat(" ", "seconds")[:19] if moment.year >= 1000 else moment.strftime("%Y-%m-%d %H:%M:%S")
    return local + f"{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"


def google_email(email: str) -> str:
    """The Google Ads API's normalisation on top of trim and lowercase: no dots before ``@gmail.com`` /
    ``@googlemail.com`` (the Data Manager API's newer rule also drops a ``+tag``: ``google_data_manager``)."""
    local, _, domain = email.strip().lower().partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}@{domain}"


def _email_sha256(customer: Customer) -> str | None:
    """SHA-256 of the email in the Google Ads API's documented form (``google_email``); a digest the site gave
    passes through. An address with nothing left before the ``@`` once normalised is not sent."""
    email = customer.email
    if not email or pii.is_sha256(email):
        return digest(email)
    normal = google_email(email)
    return digest(normal) if normal.partition("@")[0] else None


EMAIL_SHA256 = Identifier("google.ads_api_email_sha256", _email_sha256, hashed=True)
"""SHA-256 of the email in the Google Ads API's documented form (gmail: no dots), as ``api="google_ads"`` sends it."""


def click_conversion(
    *,
    action: str,
    click: tuple[str, str] | None,
    at: str,
    value: Decimal | None,
    currency: str | None,
    order_id: str,
    user_identifiers: list[JSON],
    consent: dict[str, str],
) -> JSON:
    """One ``ClickConversion``. A braid beside user identifiers is refused (``VALUE_MUST_BE_UNSET``); a gclid
    beside them wins, so they travel only without a click id or with a gclid."""
    payload: JSON = {click[0]: click[1]} if click else {}
    if click is not None and click[0] != "gclid":
        user_identifiers = []
    payload.update(
        without_empty(
            {
                "conversionAction": action,
                "conversionDateTime": at,
                "conversionValue": json_number(value) if value is not None else None,
                "currencyCode": currency,
                "orderId": order_id,
                "userIdentifiers": user_identifiers,
                "consent": consent,
            }
        )
    )
    return payload


def adjustment(*, action: str, kind: str, order_id: str, at: str, value: Decimal | None, currency: str | None) -> JSON:
    """One ``ConversionAdjustment`` of the conversion uploaded with ``order_id``: a ``RESTATEMENT`` carries the
    new value (Google refuses a value on a ``RETRACTION``)."""
    payload: JSON = {
        "conversionAction": action,
        "adjustmentType": ADJUSTMENT_TYPES[kind],
        "adjustmentDateTime": at,
        "orderId": order_id,
    }
    if kind == "restate":
        payload["restatementValue"] = without_empty(
            {"adjustedValue": json_number(value) if value is not None else 0.0, "currencyCode": currency}
        )
    return payload


def consent(ad_user_data: str | None, ad_personalization: str | None, visitor: Consent) -> dict[str, str]:
    """The configured consent fields, else the visitor's own ad user data answer (only when the site's hook gave
    one). Google documents ``adPersonalization`` for other upload services: sent only when configured."""
    fields = without_empty({"adUserData": ad_user_data, "adPersonalization": ad_personalization})
    if visitor.decided:
        fields.setdefault("adUserData", "GRANTED" if visitor.ad_measurement else "DENIED")
    return fields


def upload_body(payloads: Sequence[JSON], validate_only: bool) -> tuple[str, JSON]:
    """The method and body for a batch: adjustments (they carry ``adjustmentType``) or click conversions."""
    adjusting = "adjustmentType" in payloads[0]
    if any(("adjustmentType" in payload) != adjusting for payload in payloads):
        raise ValueError("click conversions and adjustments travel in requests of their own")
    method, rows = (
        ("uploadConversionAdjustments", "conversionAdjustments")
        if adjusting
        else (
            "uploadClickConversions",
            "conversions",
        )
    )
    body: JSON = {rows: list(payloads), "partialFailure": True}
    if validate_only:
        body["validateOnly"] = True
    return method, body


def error_status(data: Any) -> JSON:
    """The ``google.rpc.Status`` of an error answer (``{"error": {...}}``), or an empty dict."""
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def errors(status: Any) -> Iterator[tuple[str, str, str, int | None]]:
    """``(family, CODE, message, row index)`` of every ``GoogleAdsFailure`` error in a ``google.rpc.Status``."""
    details = status.get("details") if isinstance(status, dict) else None
    for detail in details if isinstance(details, list) else []:
        found = detail.get("errors") if isinstance(detail, dict) else None
        for error in found if isinstance(found, list) else []:
            if not isinstance(error, dict):
                continue
            code = error.get("errorCode")
            family, value = next(iter(code.items())) if isinstance(code, dict) and code else ("unknown", "UNKNOWN")
            yield str(family), str(value), str(error.get("message") or "")[:300], _row_index(error)


def retry_delay(status: JSON) -> float | None:
    """The ``retryDelay`` of a ``RetryInfo`` or of a quota error's details, in seconds."""
    details: list[Any] = list(status.get("details") or []) if status else []
    for detail in list(details):
        for error in (detail.get("errors") or []) if isinstance(detail, dict) else []:
            quota = (error.get("details") or {}).get("quotaErrorDetails") if isinstance(error, dict) else None
            details.append(quota)
    for detail in details:
        match = _DURATION.fullmatch(str(detail.get("retryDelay", ""))) if isinstance(detail, dict) else None
        if match:
            return float(match.group(1))
    return None


def rows(
    data: Any, payloads: Sequence[JSON] | None, redact: Callable[[str], str], validate_only: bool
) -> list[Outcome]:
    """One outcome per row of a 200 (row errors mapped by index); ``payloads`` None: as many as Google answered."""
    data = data if isinstance(data, dict) else {}
    results: Any = data.get("results")
    results = results if isinstance(results, list) else []
    count = len(payloads) if payloads is not None else max(1, len(results))
    by_row: dict[int, list[tuple[str, str, str]]] = {}
    unplaced: list[tuple[str, str, str]] = []
    for family, code, message, index in errors(data.get("partialFailureError")):
        (by_row.setdefault(index, []) if index is not None and 0 <= index < count else unplaced).append(
            (family, code, message)
        )
    outcomes: list[Outcome] = []
    for index in range(count):
        result = results[index] if index < len(results) and isinstance(results[index], dict) else {}
        found = by_row.get(index) or ([] if result else unplaced)
        kind = payloads[index].get("adjustmentType") if payloads is not None else None
        if found:
            outcomes.append(_row_outcome(found, redact, retraction=kind == "RETRACTION"))
        elif result or validate_only:
            outcomes.append(Delivered(json.dumps(result, separators=(",", ":"))[:500]))
        else:
            outcomes.append(Retry("Google answered neither a result nor an error for this row"))
    return outcomes


def _row_index(error: JSON) -> int | None:
    location = error.get("location")
    elements = location.get("fieldPathElements") if isinstance(location, dict) else None
    for element in elements if isinstance(elements, list) else []:
        if isinstance(element, dict) and element.get("fieldName") in _ROW_FIELDS:
            index = element.get("index")
            return index if isinstance(index, int) else None
    return None


def _row_outcome(found: list[tuple[str, str, str]], redact: Callable[[str], str], *, retraction: bool) -> Outcome:
    """A row's outcome from its errors: any permanent one fails it; else retry; else it is already recorded.
    Google's messages may quote what was sent: ``redact`` masks it before the text is kept or logged."""
    failed, retried, recorded, after = [], [], [], None
    for family, code, message in found:
        text = f"{family}.{code}: {message}"
        if code in ALREADY_RECORDED or (retraction and code == "CONVERSION_ALREADY_RETRACTED"):
            recorded.append(f"already recorded ({code})")
        elif code in TOO_RECENT:
            retried.append(text)
            after = TOO_RECENT_DELAY
        elif code in IN_REQUEST_DUPLICATE or family in TRANSIENT_FAMILIES:
            retried.append(text)
        else:
            failed.append(text)
    if failed:
        return Failed(redact("; ".join(failed))[:ERROR_LIMIT])
    if retried:
        return Retry(redact("; ".join(retried))[:ERROR_LIMIT], after=after)
    return Delivered("; ".join(recorded))
