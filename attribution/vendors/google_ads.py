"""Google Ads offline click conversions: ``POST {base_url}/{version}/customers/{id}:uploadClickConversions``.

Up to 2,000 conversions a request, always with ``partialFailure: true``: an HTTP 200 may still carry
per-row errors, located by the row's index, which ``read_batch`` turns into one outcome per delivery.
Google deduplicates by ``orderId`` per conversion action and by click id + action + ``conversionDateTime``,
so both travel unchanged on every retry, and a re-sent row answered "already recorded" counts as delivered.

Each conversion carries exactly one click id (Google: gbraid or wbraid beside a gclid or user identifiers
is ``VALUE_MUST_BE_UNSET``, both braids ``GBRAID_WBRAID_BOTH_SET``; a gclid beside user identifiers takes
precedence). Auth: OAuth 2.0 access token refreshed in ``authorize``, plus the ``developer-token`` header.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2

from ..errors import ConfigurationError
from ..orders import pii
from ..orders.identifiers import PHONE_SHA256, Identifier, digest
from .base import (
    ERROR_LIMIT,
    JSON,
    Delivered,
    Failed,
    Outcome,
    Retry,
    Secret,
    Vendor,
    as_secret,
    event_label,
    json_number,
    response_json,
    without_empty,
)
from .oauth2 import GOOGLE_TOKEN_URL, RefreshTokenGrant

if TYPE_CHECKING:
    from ..orders.conversion import Conversion, Customer

BASE_URL = "https://googleads.googleapis.com"
#: Click ids in the order one is chosen: a gclid first (Google lets it win over user identifiers), then
#: wbraid (iOS clicks that lead to *web* conversions, which a site's are), then gbraid (app conversions).
CLICK_ID_ORDER = ("gclid", "wbraid", "gbraid")
CONSENT_VALUES = frozenset({"GRANTED", "DENIED"})
#: Row errors meaning Google already holds this conversion: our own replay of a row it recorded.
ALREADY_RECORDED = frozenset({"CLICK_CONVERSION_ALREADY_EXISTS", "ORDER_ID_ALREADY_IN_USE"})
#: The click or the conversion action is younger than 6 hours: Google asks to come back after that.
TOO_RECENT = frozenset({"TOO_RECENT_EVENT", "TOO_RECENT_CONVERSION_ACTION"})
TOO_RECENT_DELAY = 6 * 3600.0
#: Two rows of one request collide; sent again (apart) the row gets a definitive answer.
IN_REQUEST_DUPLICATE = frozenset({"DUPLICATE_CLICK_CONVERSION_IN_REQUEST", "DUPLICATE_ORDER_ID"})
#: Error families Google asks to retry (``internalError.TRANSIENT_ERROR``, ``quotaError.RESOURCE_EXHAUSTED``).
TRANSIENT_FAMILIES = frozenset({"internalError", "quotaError"})

_CUSTOMER_ID = re.compile(r"\d{10}")
_ACTION = re.compile(r"(?:customers/\d{10}/conversionActions/)?(\d+)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")


class GoogleAds(Vendor):
    """Google Ads API ``ConversionUploadService.UploadClickConversions`` over REST.

    Args:
        customer_id: the conversion customer (10 digits; hyphens are dropped).
        developer_token, client_id, client_secret, refresh_token: the API developer token and an OAuth
            client with a refresh token for the ``https://www.googleapis.com/auth/adwords`` scope.
        conversion_actions: canonical event (or a custom event's ``custom_name``) → conversion action id
            (or its resource name). Events without one are not sent.
        login_customer_id: the manager account, when calling through one.
        enhanced_conversions: send hashed email and phone as ``userIdentifiers`` (enhanced conversions for
            leads: the account must have accepted the customer data terms), which also lets a conversion
            without a click id through.
        ad_user_data, ad_personalization: ``"GRANTED"`` / ``"DENIED"`` for the ``consent`` field, or None
            to leave it out; ``ad_user_data=None`` sends the visitor's own answer when the site's consent
            hook gave one. Google documents ``adPersonalization`` for other upload services only.
        timezone: the offset ``conversionDateTime`` is written in; None keeps the conversion time's own.
        api_version: the version in the path. validate_only: ask Google to check without recording.
        token_url: the OAuth token endpoint. clock: monotonic seconds, for the token's expiry.
    """

    name: ClassVar[str] = "google_ads"
    identifiers: tuple[Identifier, ...] = ()
    max_batch: int = 2000
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        customer_id: str,
        developer_token: str | Secret,
        client_id: str | Secret,
        client_secret: str | Secret,
        refresh_token: str | Secret,
        conversion_actions: Mapping[str, str],
        login_customer_id: str | None = None,
        enhanced_conversions: bool = False,
        ad_user_data: str | None = None,
        ad_personalization: str | None = None,
        timezone: tzinfo | None = None,
        api_version: str = "v25",
        validate_only: bool = False,
        base_url: str = BASE_URL,
        token_url: str = GOOGLE_TOKEN_URL,
        retry_ambiguous: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.customer_id = _customer_id(customer_id, "customer_id")
        self.login_customer_id = _customer_id(login_customer_id, "login_customer_id") if login_customer_id else None
        self.developer_token = as_secret(developer_token)
        self.conversion_actions = {event: self._action(action) for event, action in conversion_actions.items()}
        for name, value in (("ad_user_data", ad_user_data), ("ad_personalization", ad_personalization)):
            if value is not None and value not in CONSENT_VALUES:
                raise ConfigurationError(f"{name} must be 'GRANTED', 'DENIED' or None")
        self.consent = without_empty({"adUserData": ad_user_data, "adPersonalization": ad_personalization})
        self.enhanced_conversions = enhanced_conversions
        self.identifiers = (GOOGLE_EMAIL_SHA256, PHONE_SHA256) if enhanced_conversions else ()
        self.timezone = timezone
        self.api_version = api_version
        self.validate_only = validate_only
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous
        self.tokens = RefreshTokenGrant(
            token_url=token_url,
            client_id=as_secret(client_id),
            client_secret=as_secret(client_secret),
            refresh_token=as_secret(refresh_token),
            clock=clock,
        )

    def _action(self, action: str) -> str:
        match = _ACTION.fullmatch(action.strip())
        if match is None:
            raise ConfigurationError("conversion_actions values must be conversion action ids (digits)")
        return f"customers/{self.customer_id}/conversionActions/{match.group(1)}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/{self.api_version}/customers/{self.customer_id}:uploadClickConversions"

    def check(self, conversion: Conversion) -> str | None:
        if event_label(conversion, self.conversion_actions) is None:
            return f"event {conversion.event.value!r} has no Google Ads conversion action configured"
        if choose_click_id(conversion.attribution.click_ids) is not None:
            return None
        if not self.enhanced_conversions:
            return "the visitor did not come from a Google ad (no gclid, gbraid or wbraid within its window)"
        if not user_identifiers(conversion):
            return "no gclid, gbraid or wbraid, and no email or phone for enhanced conversions"
        return None

    def batch_key(self, conversion: Conversion) -> str:
        return self.customer_id

    def payload(self, conversion: Conversion) -> JSON:
        action = event_label(conversion, self.conversion_actions)
        click = choose_click_id(conversion.attribution.click_ids)
        # A braid beside user identifiers is refused (VALUE_MUST_BE_UNSET); a gclid beside them wins.
        identifiers = user_identifiers(conversion) if self.enhanced_conversions else []
        payload: JSON = {click[0]: click[1]} if click else {}
        if click is not None and click[0] != "gclid":
            identifiers = []
        payload.update(
            without_empty(
                {
                    "conversionAction": action,
                    "conversionDateTime": conversion_date_time(conversion.event_time, self.timezone),
                    "conversionValue": json_number(conversion.value) if conversion.value is not None else None,
                    "currencyCode": conversion.currency,
                    "orderId": conversion.event_id,
                    "userIdentifiers": identifiers,
                    "consent": self._consent(conversion),
                }
            )
        )
        return payload

    def _consent(self, conversion: Conversion) -> dict[str, str]:
        """The configured consent field, else the visitor's own answer (only when the site's hook gave one).
        Only ``adUserData``: Google documents ``adPersonalization`` for other upload services."""
        fields = dict(self.consent)
        visitor = conversion.consent.for_vendor(self.name)
        if visitor.decided:
            fields.setdefault("adUserData", "GRANTED" if visitor.ad_measurement else "DENIED")
        return fields

    async def authorize(self, client: httpx2.AsyncClient) -> None:
        await self.tokens.ensure(client)

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(f"a Google Ads request carries 1 to {self.max_batch} conversions, not {len(payloads)}")
        body: JSON = {"conversions": list(payloads), "partialFailure": True}
        if self.validate_only:
            body["validateOnly"] = True
        headers = {
            "developer-token": self.developer_token.value,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if self.login_customer_id:
            headers["login-customer-id"] = self.login_customer_id
        # Without ``authorize`` (a dry run) there is no token yet: the request shows none.
        if (token := self.tokens.access_token) is not None:
            headers["Authorization"] = f"Bearer {token}"
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return httpx2.Request("POST", self.url, content=content, headers=headers)

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome]:
        """Per-row outcomes of a 200 (row errors mapped by index); one outcome for all otherwise."""
        if not 200 <= response.status_code < 300:
            return [self.read_response(response)] * len(payloads)
        self.tokens.accepted()
        return self._rows(response, len(payloads))

    def read_response(self, response: httpx2.Response) -> Outcome:
        """An HTTP-level answer. A 200 is summed up (``read_batch`` gives each row its own outcome)."""
        status = response.status_code
        if 200 <= status < 300:
            self.tokens.accepted()
            rows = self._rows(response, None)
            # Summed up for a caller that reads one outcome per request: the worst row decides.
            return min(rows, key=lambda row: (Failed, Retry, Delivered).index(type(row)))
        message = f"HTTP {status}: {self.redact(self.error_message(response), response)}"[:ERROR_LIMIT]
        errors = list(_errors(_error_status(response)))
        if status == 401:
            # A new access token helps only when the token is what Google refused (not the developer token).
            if errors and not any(code.startswith("OAUTH_TOKEN") for _, code, _, _ in errors):
                return Failed(message)
            if self.tokens.rejected(_bearer(response)):
                return Retry(f"{message}; the access token is refreshed and the request sent again", after=0.0)
            return Failed(f"{message}; refused again with a fresh token: check the OAuth client and refresh token")
        families = {family for family, _, _, _ in errors}
        if status in (408, 429) or status >= 500 or families & TRANSIENT_FAMILIES:
            return Retry(message, after=self.retry_after(response))
        return Failed(message)

    def _rows(self, response: httpx2.Response, count: int | None) -> list[Outcome]:
        data = response_json(response)
        data = data if isinstance(data, dict) else {}
        results: Any = data.get("results")
        results = results if isinstance(results, list) else []
        count = count if count is not None else max(1, len(results))
        by_row: dict[int, list[tuple[str, str, str]]] = {}
        unplaced: list[tuple[str, str, str]] = []
        for family, code, message, index in _errors(data.get("partialFailureError")):
            (by_row.setdefault(index, []) if index is not None and 0 <= index < count else unplaced).append(
                (family, code, message)
            )
        outcomes: list[Outcome] = []
        for index in range(count):
            result = results[index] if index < len(results) and isinstance(results[index], dict) else {}
            errors = by_row.get(index) or ([] if result else unplaced)
            if errors:
                outcomes.append(_row_outcome(errors, lambda text: self.redact(text, response)))
            elif result or self.validate_only:
                outcomes.append(Delivered(json.dumps(result, separators=(",", ":"))[:500]))
            else:
                outcomes.append(Retry("Google answered neither a result nor an error for this row"))
        return outcomes

    def retry_after(self, response: httpx2.Response) -> float | None:
        """``Retry-After``, else the ``retryDelay`` of a ``RetryInfo`` or of Google's quota error details."""
        asked = super().retry_after(response)
        if asked is not None:
            return asked
        status = _error_status(response)
        details: list[Any] = list(status.get("details") or []) if status else []
        for detail in details:
            for error in (detail.get("errors") or []) if isinstance(detail, dict) else []:
                quota = (error.get("details") or {}).get("quotaErrorDetails") if isinstance(error, dict) else None
                details.append(quota)
        for detail in details:
            match = _DURATION.fullmatch(str(detail.get("retryDelay", ""))) if isinstance(detail, dict) else None
            if match:
                return float(match.group(1))
        return None

    def error_message(self, response: httpx2.Response) -> str:
        """``STATUS: family.CODE: message; ...`` from Google's error body, with its ``request-id``."""
        status = _error_status(response)
        if not status:
            return super().error_message(response)
        found = [f"{family}.{code}: {message}" for family, code, message, _ in _errors(status)]
        text = "; ".join(found) or str(status.get("message") or "")
        request_id = response.headers.get("request-id")
        suffix = f" (request-id {request_id})" if request_id else ""
        return f"{status.get('status') or status.get('code')}: {text}" + suffix

    def masked_headers(self, request: httpx2.Request) -> dict[str, str]:
        headers = super().masked_headers(request)
        return {k: ("***" if k.lower() == "developer-token" else v) for k, v in headers.items()}


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
    """Google's normalisation on top of trim and lowercase: no dots before ``@gmail.com``/``@googlemail.com``."""
    local, _, domain = email.strip().lower().partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}@{domain}"


def _google_email_sha256(customer: Customer) -> str | None:
    email = customer.email
    if not email or pii.is_sha256(email):
        return digest(email)
    return digest(google_email(email))


GOOGLE_EMAIL_SHA256 = Identifier("google.email_sha256", _google_email_sha256, hashed=True)
"""SHA-256 of the email in Google's normal form (``google_email``)."""


def user_identifiers(conversion: Conversion) -> list[JSON]:
    """``[{hashedEmail}, {hashedPhoneNumber}]``: SHA-256 hex of Google's normal forms, one per entry."""
    identifiers: list[JSON] = []
    if hashed_email := GOOGLE_EMAIL_SHA256.of(conversion):
        identifiers.append({"hashedEmail": hashed_email})
    if hashed_phone := PHONE_SHA256.of(conversion):  # SHA-256 of E.164, ``+`` included, as Google shows it
        identifiers.append({"hashedPhoneNumber": hashed_phone})
    return identifiers


def _customer_id(value: str, name: str) -> str:
    digits = value.strip().replace("-", "")
    if not _CUSTOMER_ID.fullmatch(digits):
        raise ConfigurationError(f"{name} must be a 10-digit Google Ads customer id such as 123-456-7890")
    return digits


def _bearer(response: httpx2.Response) -> str | None:
    try:
        header = response.request.headers.get("authorization", "")
    except RuntimeError:  # a response built without its request
        return None
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else None


def _error_status(response: httpx2.Response) -> JSON:
    """The ``google.rpc.Status`` of an error answer (``{"error": {...}}``), or an empty dict."""
    data = response_json(response)
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _errors(status: Any) -> Iterator[tuple[str, str, str, int | None]]:
    """``(family, CODE, message, row index)`` of every ``GoogleAdsFailure`` error in a ``google.rpc.Status``."""
    details = status.get("details") if isinstance(status, dict) else None
    for detail in details if isinstance(details, list) else []:
        errors = detail.get("errors") if isinstance(detail, dict) else None
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, dict):
                continue
            code = error.get("errorCode")
            family, value = next(iter(code.items())) if isinstance(code, dict) and code else ("unknown", "UNKNOWN")
            yield str(family), str(value), str(error.get("message") or "")[:300], _row_index(error)


def _row_index(error: JSON) -> int | None:
    location = error.get("location")
    elements = location.get("fieldPathElements") if isinstance(location, dict) else None
    for element in elements if isinstance(elements, list) else []:
        if isinstance(element, dict) and element.get("fieldName") == "conversions":
            index = element.get("index")
            return index if isinstance(index, int) else None
    return None


def _row_outcome(errors: list[tuple[str, str, str]], redact: Callable[[str], str]) -> Outcome:
    """A row's outcome from its errors: any permanent one fails it; else retry; else it is already recorded.
    Google's messages may quote what was sent: ``redact`` masks it before the text is kept or logged."""
    failed, retried, recorded, after = [], [], [], None
    for family, code, message in errors:
        text = f"{family}.{code}: {message}"
        if code in ALREADY_RECORDED:
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
