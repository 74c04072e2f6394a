"""Google Ads offline click conversions and enhanced conversions for leads: ``GoogleAds``, the only public name.

Two transports, one adapter; each builds its payloads in a private module:

- ``api="data_manager"`` (the default): Google's Data Manager API, ``POST {base}/v1/events:ingest``
  (``google_data_manager``). No developer token; an OAuth client with a refresh token for the ``datamanager``
  scope, or a service account's key. One bad event refuses the whole request, naming it: that event dies, the
  others are sent again at once (``Resend``). Google's verdict on the rest comes later (``requestStatus``), which
  the worker fetches through ``build_confirmation`` / ``read_confirmation``.
- ``api="google_ads"``: the Google Ads API's ``uploadClickConversions`` (``google_ads_api``), with a developer
  token, for accounts Google allow-listed for it before June 2026: it takes no new offline-conversion adopters.

Both carry exactly one click id (gclid, else wbraid, else gbraid), the order id as Google's dedup key
(``transactionId`` / ``orderId``: ``attribution.event_id(order)``), and with ``enhanced_conversions`` the hashed
email and phone, each in the normal form its API documents.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import httpx2

from ..errors import ConfigurationError
from ..orders.identifiers import PHONE_SHA256
from . import google_ads_api as ads_api
from . import google_data_manager as dm
from .base import (
    ERROR_LIMIT,
    JSON,
    Delivered,
    Failed,
    Outcome,
    Resend,
    Retry,
    Secret,
    Vendor,
    as_secret,
    event_label,
    response_json,
    without_empty,
)
from .oauth2 import ServiceAccountGrant, google_grant

if TYPE_CHECKING:
    from ..orders.conversion import Conversion

__all__ = ["GoogleAds"]

APIS = ("data_manager", "google_ads")
CONSENT_VALUES = frozenset({"GRANTED", "DENIED"})
_ACTION = re.compile(r"(?:customers/\d{10}/conversionActions/)?(\d+)", re.ASCII)
_CUSTOMER_ID = re.compile(r"\d{10}", re.ASCII)


class GoogleAds(Vendor):
    """Google Ads conversions, through the Data Manager API by default.

    Args:
        customer_id: the conversion customer, the Ads account that owns the conversion actions (10 digits,
            hyphens dropped): the Data Manager API's ``operatingAccount``.
        conversion_actions: canonical event (or a custom event's ``custom_name``) → conversion action id (or its
            resource name); the action must be of type ``UPLOAD_CLICKS``. Events without one are not sent.
        client_id, client_secret, refresh_token: an OAuth client and a refresh token made for the API's scope
            (``https://www.googleapis.com/auth/datamanager``; for ``api="google_ads"`` ``.../adwords``). Or:
        service_account_info: the service account's JSON key file as a dict, exchanged with the JWT bearer grant
            at ``token_url`` (else the key's ``token_uri``). Add the account's email as a user of the Ads account.
        login_customer_id: the manager account, when the credentials' user reaches the account through one.
        api: ``"data_manager"`` or ``"google_ads"`` (the Google Ads API, which then requires ``developer_token``).
        enhanced_conversions: send the hashed email and phone (enhanced conversions for leads: the account must
            have accepted the customer data terms), which also lets a conversion without a click id through.
        ad_user_data, ad_personalization: ``"GRANTED"`` / ``"DENIED"`` for every event, or None to send the
            visitor's own answers when the site's consent hook gave them. With the Data Manager API an event whose
            ad user data is denied is not sent (Google would accept it and then drop it).
        validate_only: ask Google to check requests without recording them.
        send_ip: send the checkout request's IP beside the user agent as the landing page's device (Data Manager
            API). Google Ads does not use IP matching for the EEA, the UK and Switzerland: a site serving only
            them may turn it off.
        timezone, api_version: ``api="google_ads"`` only: the offset ``conversionDateTime`` is written in (None:
            the conversion time's own) and the version in the path.
        base_url, token_url: the API's and the token endpoint's (for tests and proxies).
        clock: monotonic seconds, for the token's expiry.
    """

    name: ClassVar[str] = "google_ads"
    max_batch: int = 2000
    has_dedup_key: ClassVar[bool] = True
    confirm_after: ClassVar[float | None] = dm.CONFIRM_AFTER
    confirm_within: ClassVar[float | None] = dm.CONFIRM_WITHIN

    def __init__(
        self,
        *,
        customer_id: str,
        conversion_actions: Mapping[str, str],
        client_id: str | Secret | None = None,
        client_secret: str | Secret | None = None,
        refresh_token: str | Secret | None = None,
        service_account_info: Mapping[str, Any] | None = None,
        login_customer_id: str | None = None,
        api: str = "data_manager",
        developer_token: str | Secret | None = None,
        enhanced_conversions: bool = False,
        ad_user_data: str | None = None,
        ad_personalization: str | None = None,
        validate_only: bool = False,
        base_url: str | None = None,
        token_url: str | None = None,
        send_ip: bool = True,
        timezone: tzinfo | None = None,
        api_version: str = ads_api.API_VERSION,
        retry_ambiguous: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if api not in APIS:
            raise ConfigurationError("api must be 'data_manager' (the default) or 'google_ads'")
        self.api = api
        self.customer_id = _customer_id(customer_id, "customer_id")
        self.login_customer_id = _customer_id(login_customer_id, "login_customer_id") if login_customer_id else None
        self.conversion_actions = {event: _action_id(action) for event, action in conversion_actions.items()}
        for name, value in (("ad_user_data", ad_user_data), ("ad_personalization", ad_personalization)):
            if value is not None and value not in CONSENT_VALUES:
                raise ConfigurationError(f"{name} must be 'GRANTED', 'DENIED' or None")
        self.ad_user_data, self.ad_personalization = ad_user_data, ad_personalization
        self.enhanced_conversions = enhanced_conversions
        self.validate_only = validate_only
        self.send_ip = send_ip
        self.timezone = timezone
        self.api_version = api_version
        self.retry_ambiguous = retry_ambiguous
        if api == "google_ads":
            if developer_token is None:
                raise ConfigurationError("api='google_ads' needs developer_token (the Google Ads API's)")
            self.developer_token: Secret | None = as_secret(developer_token)
            email = ads_api.EMAIL_SHA256
            self.corrections = frozenset(ads_api.ADJUSTMENT_TYPES)
        else:
            if developer_token is not None:
                raise ConfigurationError(
                    "the Data Manager API (GoogleAds' default) takes no developer token: remove developer_token and "
                    "use a refresh token made for the https://www.googleapis.com/auth/datamanager scope or a service "
                    "account, or pass api='google_ads' to keep the Google Ads API"
                )
            self.developer_token = None
            email = dm.EMAIL_SHA256
            # Google documents restating a value through the same call; it documents no retraction.
            self.corrections = frozenset({"restate"})
        self.identifiers = (email, PHONE_SHA256) if enhanced_conversions else ()
        default_base = dm.BASE_URL if api == "data_manager" else ads_api.BASE_URL
        self.base_url = (base_url or default_base).rstrip("/")
        self.tokens = google_grant(
            client_id,
            client_secret,
            refresh_token,
            service_account_info,
            scope=dm.SCOPE if api == "data_manager" else ads_api.SCOPE,
            token_url=token_url,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"GoogleAds(api={self.api!r}, customer_id={self.customer_id!r}, base_url={self.base_url!r})"

    @property
    def url(self) -> str:
        """Where conversions go."""
        if self.api == "data_manager":
            return self.base_url + dm.INGEST_PATH
        return f"{self.base_url}/{self.api_version}/customers/{self.customer_id}:uploadClickConversions"

    # -- at checkout ---------------------------------------------------------------------------------------------

    def check(self, conversion: Conversion) -> str | None:
        if event_label(conversion, self.conversion_actions) is None:
            return f"event {conversion.event.value!r} has no Google Ads conversion action configured"
        if self.api == "data_manager" and self._dm_consent(conversion).get("adUserData") == "CONSENT_DENIED":
            whose = "the site's ad_user_data='DENIED'" if self.ad_user_data else "the visitor"
            return (
                f"ad user data consent is denied (by {whose}): Google would accept the event and then drop it "
                "(PROCESSING_ERROR_REASON_DENIED_CONSENT), so it is not sent"
            )
        if ads_api.choose_click_id(conversion.attribution.click_ids) is not None:
            return None
        if not self.enhanced_conversions:
            return "the visitor did not come from a Google ad (no gclid, gbraid or wbraid within its window)"
        if not self._user_identifiers(conversion):
            return "no gclid, gbraid or wbraid, and no email or phone for enhanced conversions"
        return None

    def batch_key(self, conversion: Conversion) -> str:
        """Data Manager: the conversion action (one destination per request); Google Ads API: the customer."""
        if self.api == "data_manager":
            return self._action(conversion)
        return self.customer_id

    # -- at send time --------------------------------------------------------------------------------------------

    def payload(self, conversion: Conversion) -> JSON:
        click = ads_api.choose_click_id(conversion.attribution.click_ids)
        identifiers = self._user_identifiers(conversion) if self.enhanced_conversions else []
        if self.api == "data_manager":
            context = conversion.context
            device = without_empty({"userAgent": context.user_agent, "ipAddress": context.ip if self.send_ip else None})
            return dm.event(
                action=self._action(conversion),
                transaction_id=conversion.event_id,
                at=conversion.event_time,
                click=click,
                device=device,
                value=conversion.value,
                currency=conversion.currency,
                items=conversion.items,
                user_identifiers=identifiers,
                consent=self._dm_consent(conversion),
            )
        return ads_api.click_conversion(
            action=self._resource(conversion),
            click=click,
            at=ads_api.conversion_date_time(conversion.event_time, self.timezone),
            value=conversion.value,
            currency=conversion.currency,
            order_id=conversion.event_id,
            user_identifiers=identifiers,
            consent=self._ads_consent(conversion),
        )

    def correction(self, conversion: Conversion, kind: str, at: datetime) -> JSON:
        """Data Manager, ``"restate"``: the same event (same ``transactionId``, destination and identifiers) with the
        corrected value; Google overwrites value and currency of the conversion it holds. Google Ads API:
        an ``uploadConversionAdjustments`` ``RESTATEMENT`` or ``RETRACTION`` by ``orderId``, dated ``at`` (at least a
        second after the conversion, which Google requires)."""
        if kind not in self.corrections:
            raise ValueError(f"GoogleAds(api={self.api!r}) takes no {kind!r} correction")
        if self.api == "data_manager":
            return self.payload(conversion)
        moment = max(at, conversion.event_time + timedelta(seconds=1))
        return ads_api.adjustment(
            action=self._resource(conversion),
            kind=kind,
            order_id=conversion.event_id,
            at=ads_api.conversion_date_time(moment, self.timezone),
            value=conversion.value,
            currency=conversion.currency,
        )

    async def authorize(self, client: httpx2.AsyncClient) -> None:
        await self.tokens.ensure(client)

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(f"a Google Ads request carries 1 to {self.max_batch} events, not {len(payloads)}")
        if self.api == "data_manager":
            url = self.url
            body = dm.ingest_body(
                self._events(payloads),
                customer_id=self.customer_id,
                login_customer_id=self.login_customer_id,
                validate_only=self.validate_only,
            )
            headers = {}
        else:
            method, body = ads_api.upload_body(payloads, self.validate_only)
            url = f"{self.base_url}/{self.api_version}/customers/{self.customer_id}:{method}"
            assert self.developer_token is not None
            headers = {"developer-token": self.developer_token.value}
            if self.login_customer_id:
                headers["login-customer-id"] = self.login_customer_id
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return httpx2.Request("POST", url, content=content, headers=self._headers(headers))

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        headers = {**extra, "Content-Type": "application/json", "Accept": "application/json"}
        # Without ``authorize`` (a dry run) there is no token yet: the request shows none.
        if (token := self.tokens.access_token) is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome]:
        """Per-event outcomes: Data Manager's fast-fail refusal dead-letters the events it names and sends the others
        again; Google Ads API row errors are mapped by index. Any other answer is one outcome for all."""
        status = response.status_code
        if 200 <= status < 300:
            self.tokens.accepted()
            if self.api == "google_ads":
                return ads_api.rows(response_json(response), payloads, self._redactor(response), self.validate_only)
            return [self._accepted(response)] * len(payloads)
        if self.api == "data_manager" and status == 400:
            named = dm.fast_fail_outcomes(response_json(response), len(payloads), self._redactor(response))
            if named is not None:
                return named
        return [self.read_response(response)] * len(payloads)

    def _accepted(self, response: httpx2.Response) -> Delivered:
        """A 200 from ``events:ingest``: queued as a whole; Google's verdict on each event comes later."""
        data = response_json(response)
        request_id = data.get("requestId") if isinstance(data, dict) else None
        if not isinstance(request_id, str) or not request_id:
            note = "validated only: nothing recorded" if self.validate_only else "accepted without a requestId"
            return Delivered(note)
        return Delivered(f"accepted as request {request_id}", confirm=request_id)

    def read_response(self, response: httpx2.Response) -> Outcome:
        """An HTTP-level answer: 401 fetches a new token once; 408, 429, 5xx (and the Google Ads API's transient
        error families) are retried, honouring ``Retry-After``; any other 4xx fails with Google's own words."""
        status = response.status_code
        if 200 <= status < 300:
            self.tokens.accepted()
            if self.api == "data_manager":
                return self._accepted(response)
            found = ads_api.rows(response_json(response), None, self._redactor(response), self.validate_only)
            # Summed up for a caller that reads one outcome per request: the worst row decides.
            return min(found, key=lambda row: (Failed, Retry, Resend, Delivered).index(type(row)))
        message = f"HTTP {status}: {self.redact(self.error_message(response), response)}"[:ERROR_LIMIT]
        found_errors = list(ads_api.errors(ads_api.error_status(response_json(response))))
        if status == 401:
            # A new access token helps only when the token is what Google refused (not the developer token).
            if found_errors and not any(code.startswith("OAUTH_TOKEN") for _, code, _, _ in found_errors):
                return Failed(message)
            if self.tokens.rejected(_bearer(response)):
                return Retry(f"{message}; the access token is refreshed and the request sent again", after=0.0)
            service = isinstance(self.tokens, ServiceAccountGrant)
            what = "service account" if service else "OAuth client and refresh token"
            return Failed(f"{message}; refused again with a fresh token: check the {what}")
        families = {family for family, _, _, _ in found_errors}
        if status in (408, 429) or status >= 500 or families & ads_api.TRANSIENT_FAMILIES:
            return Retry(message, after=self.retry_after(response))
        if status == 403 and self.api == "data_manager":
            return Failed(
                f"{message}; check that the credentials' user (or service account) is a user of Google Ads account "
                f"{self.customer_id}, that the Data Manager API is enabled in its Cloud project, and that the refresh "
                "token was made for the datamanager scope"
            )
        return Failed(message)

    # -- Google's later verdict (Data Manager API) --------------------------------------------------------------

    def build_confirmation(self, reference: str) -> httpx2.Request:
        """``GET {base}/v1/requestStatus:retrieve?requestId=...`` for a request Google accepted."""
        if self.api != "data_manager":
            raise NotImplementedError("the Google Ads API's answer is final: nothing to confirm")
        url = f"{self.base_url}{dm.STATUS_PATH}?requestId={quote(reference, safe='')}"
        headers = {k: v for k, v in self._headers({}).items() if k != "Content-Type"}
        return httpx2.Request("GET", url, headers=headers)

    def read_confirmation(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome | None]:
        """Google's verdict per event: refusals pinned on the events they can only be (``later_refusals``) fail
        them; a request still processing is asked about again; refusals Google counts without saying whose are
        noted on the others, which stay delivered."""
        count = len(payloads)
        if not 200 <= response.status_code < 300:
            outcome = self.read_response(response)
            if isinstance(outcome, Failed):  # the question is refused for good: the delivery stands, noted
                return [Delivered(f"not confirmed by Google: {outcome.reason}"[:ERROR_LIMIT])] * count
            return [outcome] * count
        self.tokens.accepted()
        return dm.verdicts(response_json(response), self._events(payloads))

    # -- the pieces ----------------------------------------------------------------------------------------------

    def _action(self, conversion: Conversion) -> str:
        action = event_label(conversion, self.conversion_actions)
        if action is None:  # check() said the event applies: only a mapping changed since checkout gets here
            raise ValueError(f"event {conversion.event.value!r} has no Google Ads conversion action configured")
        return action

    def _resource(self, conversion: Conversion) -> str:
        return f"customers/{self.customer_id}/conversionActions/{self._action(conversion)}"

    def _user_identifiers(self, conversion: Conversion) -> list[JSON]:
        """The hashed email and phone (E.164, ``+`` included), one per entry, in this API's field names."""
        if not self.identifiers:
            return []
        email, phone = (
            ("hashedEmail", "hashedPhoneNumber") if self.api == "google_ads" else ("emailAddress", "phoneNumber")
        )
        found: list[JSON] = []
        for form, field in zip(self.identifiers, (email, phone), strict=True):
            if value := form.of(conversion):
                found.append({field: value})
        return found

    def _dm_consent(self, conversion: Conversion) -> dict[str, str]:
        return dm.consent(self.ad_user_data, self.ad_personalization, conversion.consent.for_vendor(self.name))

    def _ads_consent(self, conversion: Conversion) -> dict[str, str]:
        return ads_api.consent(self.ad_user_data, self.ad_personalization, conversion.consent.for_vendor(self.name))

    @staticmethod
    def _events(payloads: Sequence[JSON]) -> list[JSON]:
        """Data Manager events; a row an earlier release queued for the Google Ads API is turned into one."""
        return [dm.from_ads_api(p) if "conversionAction" in p else dict(p) for p in payloads]

    def _redactor(self, response: httpx2.Response) -> Callable[[str], str]:
        return lambda text: self.redact(text, response)

    # -- errors, credentials -------------------------------------------------------------------------------------

    def retry_after(self, response: httpx2.Response) -> float | None:
        """``Retry-After``, else the ``retryDelay`` of a ``RetryInfo`` or of Google's quota error details."""
        asked = super().retry_after(response)
        return asked if asked is not None else ads_api.retry_delay(ads_api.error_status(response_json(response)))

    def error_message(self, response: httpx2.Response) -> str:
        """``STATUS: reason: message; field: ...`` from Google's error body, with Google's request id."""
        status = ads_api.error_status(response_json(response))
        if not status:
            return super().error_message(response)
        found = [f"{family}.{code}: {message}" for family, code, message, _ in ads_api.errors(status)]
        found += [": ".join(p for p in violation if p) for violation in dm.violations(status)]
        reason = dm.error_reason(status)
        text = "; ".join(found) or str(status.get("message") or "")
        request_id = response.headers.get("request-id") or dm.request_id(status)
        return (
            f"{status.get('status') or status.get('code')}: "
            + (f"{reason}: " if reason and reason not in text else "")
            + text
            + (f" (request-id {request_id})" if request_id else "")
        )

    def secret_values(self) -> list[str]:
        return [*super().secret_values(), *self.tokens.secret_values()]

    def masked_headers(self, request: httpx2.Request) -> dict[str, str]:
        headers = super().masked_headers(request)
        return {k: ("***" if k.lower() == "developer-token" else v) for k, v in headers.items()}


def _customer_id(value: str, name: str) -> str:
    digits = value.strip().replace("-", "")
    if not _CUSTOMER_ID.fullmatch(digits):
        raise ConfigurationError(f"{name} must be a 10-digit Google Ads customer id such as 123-456-7890")
    return digits


def _action_id(action: str) -> str:
    """A conversion action id from its id or resource name (``customers/1234567890/conversionActions/55``)."""
    match = _ACTION.fullmatch(action.strip())
    if match is None:
        raise ConfigurationError("conversion_actions values must be conversion action ids (digits)")
    return match.group(1)


def _bearer(response: httpx2.Response) -> str | None:
    try:
        header = response.request.headers.get("authorization", "")
    except RuntimeError:  # a response built without its request
        return None
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
