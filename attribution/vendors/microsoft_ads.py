"""Microsoft Advertising's UET Conversions API: ``POST {base_url}/v1/{tag_id}/events``, Bearer token of the tag.

Microsoft enables the Conversions API per account (the UET tag's "Use Conversions API" option appears once it
has); the token is generated for one UET tag and is neither the Microsoft Advertising OAuth token nor the
developer token. Up to 1,000 events a request under ``{"data": [...]}``, refused whole when one is invalid
(``continueOnValidationError`` is left false): a 400 whose ``details`` index the bad events fails those and
sends their neighbours again; one that names none is split. Events older than 7 days are skipped at checkout.

``userData.msclkid`` is the click id of the ad's landing URL, else the UET tag's ``_uetmsclkid`` cookie with its
``_uet`` prefix removed, raw; ``anonymousId`` the tag's ``_uetvid`` visitor id; ``em`` and ``ph`` SHA-256 (the
email canonical: ``+alias`` and dots of the name dropped); IP and user agent raw. ``eventId`` is the id the site
gives the UET tag as ``event_id`` (``attribution.event_id(order)``): Microsoft counts an event seen by both once.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2

from ..errors import ConfigurationError
from ..orders import pii
from ..orders.identifiers import EMAIL_SHA256, EXTERNAL_ID, EXTERNAL_ID_SHA256, PHONE_SHA256, Identifier
from .base import (
    CANONICAL_EVENTS,
    ERROR_LIMIT,
    JSON,
    Delivered,
    Failed,
    Outcome,
    Retry,
    Secret,
    Split,
    Vendor,
    as_secret,
    event_label,
    json_number,
    response_json,
    response_text,
    without_empty,
)

if TYPE_CHECKING:
    from ..orders.conversion import Conversion

BASE_URL = "https://capi.uet.microsoft.com"
MAX_BATCH = 1000
MAX_AGE = 7 * 86_400
DATA_PROVIDER = "asgi-attribution"
_UET_PREFIX = "_uet"
_TAG_ID = re.compile(r"\d{4,16}")


def microsoft_email(email: str | None) -> str | None:
    """SHA-256 of the email trimmed and lowercased, the ``+alias`` and the dots of its name dropped
    (``Jane.Doe+ads@Example.com`` → ``janedoe@example.com``). A digest the site gave passes through."""
    if not email:
        return None
    address = email.strip().lower()
    if pii.is_sha256(address):
        return address
    name, _, domain = address.rpartition("@")
    return pii.sha256(f"{name.split('+', 1)[0].replace('.', '')}@{domain}")


MICROSOFT_EMAIL = Identifier("microsoft.email_sha256", lambda customer: microsoft_email(customer.email), hashed=True)
"""SHA-256 of the email in the canonical form integrations citing Microsoft use (``microsoft_email``)."""


def msclkid_of(conversion: Conversion) -> str | None:
    """The ``msclkid`` of the landing URL within its window, else the UET cookie's copy without ``_uet``."""
    attribution = conversion.attribution
    found = attribution.click_ids.get("msclkid")
    if found:
        return found
    cookie = attribution.get("uetmsclkid")
    if not cookie:
        return None
    return cookie.removeprefix(_UET_PREFIX) or None


class MicrosoftAds(Vendor):
    """Microsoft Advertising UET Conversions API for one UET tag.

    Args:
        api_token: the UET tag's Conversions API token (UET tag → Set up tagging → Use Conversions API).
        tag_id: the UET tag id (digits): the path parameter and the batch key.
        events: canonical event (or a custom event's ``custom_name``) → ``eventName``, the action the
            conversion goal matches on; ``"*"`` under ``"custom"`` sends custom events under their own name.
        data_provider: the body's ``dataProvider``.
        max_batch: events per request, 1 to 1,000.
        canonical_email: drop the ``+alias`` and the dots of the address's name before hashing, as Stape's
            and walkerOS's integrations do citing Microsoft (False: trimmed and lowercased only).
        hash_external_id: send ``userData.externalId`` (``external_id``, else ``user_id``) as a SHA-256 (True)
            or as it is, the form the UET tag's ID-sync pixel was given.
        clock: seconds since the epoch, for the 7-day limit at checkout (tests).
    """

    name: ClassVar[str] = "microsoft_ads"
    max_batch: int = MAX_BATCH
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        api_token: str | Secret,
        tag_id: str,
        events: Mapping[str, str] = CANONICAL_EVENTS,
        data_provider: str = DATA_PROVIDER,
        max_batch: int = MAX_BATCH,
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
        canonical_email: bool = True,
        hash_external_id: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ConfigurationError(f"max_batch must be between 1 and {MAX_BATCH}")
        if not _TAG_ID.fullmatch(tag_id):
            raise ConfigurationError("tag_id is the UET tag id: its digits, as Microsoft Advertising shows it")
        self.api_token = as_secret(api_token)
        self.tag_id = tag_id
        self.events = dict(events)
        self.data_provider = data_provider
        self.max_batch = max_batch
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous
        self.canonical_email = canonical_email
        self.hash_external_id = hash_external_id
        self.email_form = MICROSOFT_EMAIL if canonical_email else EMAIL_SHA256
        self.external_id_form = EXTERNAL_ID_SHA256 if hash_external_id else EXTERNAL_ID
        self.identifiers: tuple[Identifier, ...] = (self.email_form, PHONE_SHA256, self.external_id_form)
        self.clock = clock

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/{self.tag_id}/events"

    def check(self, conversion: Conversion) -> str | None:
        if event_label(conversion, self.events) is None:
            return f"event {conversion.event.value!r} is not configured for Microsoft Advertising"
        age = self.clock() - conversion.event_time.timestamp()
        if age > MAX_AGE:
            return (
                f"the event happened {age / 86_400:.1f} days ago: Microsoft's Conversions API takes events at most "
                "7 days old"
            )
        if not (msclkid_of(conversion) or self.email_form.of(conversion) or PHONE_SHA256.of(conversion)):
            return "Microsoft Advertising needs an msclkid (URL or _uetmsclkid cookie), an email or a phone"
        return None

    def batch_key(self, conversion: Conversion) -> str:
        return self.tag_id

    def payload(self, conversion: Conversion) -> JSON:
        context = conversion.context
        event: JSON = {
            "eventType": "custom",
            "eventName": event_label(conversion, self.events),
            "eventTime": int(conversion.event_time.timestamp()),
            "eventId": conversion.event_id,
        }
        event.update(without_empty({"eventSourceUrl": context.url, "referrerUrl": context.referrer}))
        if conversion.consent.for_vendor(self.name).decided:
            event["adStorageConsent"] = "G"  # a refused measurement never gets here: the checkout skipped it
        event["userData"] = self._user_data(conversion)
        custom = _custom_data(conversion)
        if custom:
            event["customData"] = custom
        return event

    def _user_data(self, conversion: Conversion) -> JSON:
        context = conversion.context
        return without_empty(
            {
                "msclkid": msclkid_of(conversion),
                "em": self.email_form.of(conversion),
                "ph": PHONE_SHA256.of(conversion),
                "externalId": self.external_id_form.of(conversion),
                "anonymousId": conversion.attribution.get("uetvid"),
                "clientIpAddress": context.ip,
                "clientUserAgent": context.user_agent,
            }
        )

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(
                f"a Microsoft Advertising request carries 1 to {self.max_batch} events, not {len(payloads)}"
            )
        body: JSON = {"data": list(payloads)}
        if self.data_provider:
            body["dataProvider"] = self.data_provider
        return httpx2.Request(
            "POST",
            self.url,
            content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            headers={
                "Authorization": f"Bearer {self.api_token.value}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )

    # -- answers -------------------------------------------------------------------------------------

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        """2xx delivered. A 400 whose ``details`` index events fails those and sends the rest again at once;
        one naming no event fails a single event and splits a batch. Others as ``read_response``."""
        n = len(payloads)
        if 200 <= response.status_code < 300:
            return [Delivered(answer=response_text(response)[:2000])] * n
        outcome = self.read_response(response)
        if response.status_code == 403 and isinstance(outcome, Failed):
            hint = "; Microsoft enables the Conversions API per account: ask for it, then generate the tag's token"
            outcome = Failed(outcome.reason[: ERROR_LIMIT - len(hint)] + hint)
        if response.status_code != 400 or n == 1:
            return [outcome] * n
        by_index = _details_by_index(response, n)
        if not by_index:
            return Split(outcome.reason if isinstance(outcome, Failed) else f"HTTP {response.status_code}")
        code, message = _error_head(response)
        outcomes: list[Outcome] = []
        for index in range(n):
            details = by_index.get(index)
            if details is None:
                outcomes.append(Retry("Microsoft refused the batch for another event: sent again", after=0.0))
            else:
                text = f"HTTP 400: {code}: {message} ({'; '.join(details)})"
                outcomes.append(Failed(self.redact(text, response)[:ERROR_LIMIT]))
        return outcomes

    def error_message(self, response: httpx2.Response) -> str:
        """Microsoft's ``{"error": {"code", "message", "details": [{"index", "propertyName", "errorMessage"}]}}``."""
        error = _error(response)
        if error is None:
            return super().error_message(response)
        code, message = _error_head(response)
        details = [_detail(d) for d in error.get("details") or [] if isinstance(d, dict) and not d.get("isWarning")]
        text = f"{code}: {message}"
        if details:
            text += " (" + "; ".join(details) + ")"
        return text[: 4 * ERROR_LIMIT]


def _custom_data(conversion: Conversion) -> JSON:
    items = conversion.items
    order = conversion.order
    return without_empty(
        {
            "value": json_number(conversion.value) if conversion.value is not None else None,
            "currency": conversion.currency,
            "transactionId": order.id if order is not None else None,
            "pageType": "purchase" if conversion.event._value_ == "purchase" else None,
            "itemIds": [item.id for item in items],
            "items": [
                without_empty({"id": i.id, "name": i.name, "quantity": i.quantity, "price": json_number(i.price)})
                for i in items
            ],
        }
    )


def _error(response: httpx2.Response) -> dict[str, Any] | None:
    data = response_json(response)
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else None


def _error_head(response: httpx2.Response) -> tuple[str, str]:
    error = _error(response) or {}
    return str(error.get("code") or "error"), str(error.get("message") or "(no message)")


def _detail(detail: Mapping[str, Any]) -> str:
    where = detail.get("propertyName")
    text = str(detail.get("errorMessage") or detail.get("errorCode") or "invalid")
    return f"{where}: {text}" if where else text


def _details_by_index(response: httpx2.Response, count: int) -> dict[int, list[str]]:
    """The rejecting (not warning) details of a 400, by the index of the event they name."""
    error = _error(response) or {}
    found: dict[int, list[str]] = {}
    for detail in error.get("details") or []:
        if not isinstance(detail, dict) or detail.get("isWarning"):
            continue
        index = detail.get("index")
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count:
            found.setdefault(index, []).append(_detail(detail))
    return found
