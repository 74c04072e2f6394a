"""TikTok Events API 2.0: ``POST {base_url}/open_api/v1.3/event/track/`` with an ``Access-Token`` header.

Up to 1,000 web events a request for one pixel (``event_source_id``). TikTok answers business errors as
HTTP 200 with a non-zero ``code`` in a JSON envelope, so the outcome is decided on ``code``, not on the
status: only rate limiting (40100) and TikTok's system, maintenance and overload codes (5xxxx, 6xxxx) are
retried. A batch refused for what an event holds (40002, 40061, 40062) is split so that one bad event
cannot hold back its neighbours.

``ttclid`` and the ``_ttp`` cookie go raw, as the pixel would send them; email, E.164 phone and the
external id are SHA-256 hashed after normalisation. ``event_id`` is the id the site also gives
``ttq.track`` so TikTok counts a conversion seen by both once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2

from ..errors import ConfigurationError
from ..orders.identifiers import EMAIL_SHA256, EXTERNAL_ID_SHA256, PHONE_SHA256, Identifier
from .base import (
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

BASE_URL = "https://business-api.tiktok.com"
MAX_BATCH = 1000
PATH = "/open_api/v1.3/event/track/"

#: Canonical event → TikTok standard event. ``"*"`` under ``custom`` sends custom events by their own name.
DEFAULT_EVENTS: Mapping[str, str] = MappingProxyType(
    {
        "purchase": "CompletePayment",
        "lead": "Lead",
        "complete_registration": "CompleteRegistration",
        "contact": "Contact",
        "submit_application": "SubmitForm",
        "view_content": "ViewContent",
        "custom": "*",
    }
)

OK = 0
PARTIAL_OK = 20001
PARAM_ERROR = 40002
INVALID_BATCH_SIZE = 40061
PII_NOT_HASHED = 40062
REQUEST_TOO_FREQUENT = 40100
#: Codes worth another try besides the 5xxxx/6xxxx classes: rate limit, and an internal RPC validation
#: error that integrations retry as a server error.
RETRYABLE_CODES = frozenset({REQUEST_TOO_FREQUENT, 40700})
#: Codes about what the events hold: a batch answered with one is split to find the event at fault.
EVENT_CODES = frozenset({PARAM_ERROR, INVALID_BATCH_SIZE, PII_NOT_HASHED})


def is_retryable(code: int) -> bool:
    """TikTok's transient codes: rate limits, system errors (5xxxx), maintenance and overload (6xxxx)."""
    return code in RETRYABLE_CODES or 50000 <= code < 70000


class TikTok(Vendor):
    """TikTok Events API 2.0 for one web pixel.

    Args:
        access_token: the Events API access token generated for the pixel in Events Manager.
        pixel_code: the pixel's code (``event_source_id``), also the batch key.
        events: canonical event (or a custom event's ``custom_name``) → TikTok event name; leave an event out
            to not send it.
        test_event_code: from Events Manager → Test Events; such requests carry one event each.
        limited_data_use: sent as ``limited_data_use`` on every event when set; when None, sent only where a
            consent hook answered for the visitor (``Conversion.consent``): true when they refused
            ``ad_personalization``. Without either, the field is left out: nothing is claimed.
        only_attributed: send only conversions of visitors who came from a TikTok ad (a ttclid in its window).
        max_batch: events per request, 1 to 1,000 (the limit integrations use; TikTok's own is unsettled).
    """

    name: ClassVar[str] = "tiktok"
    identifiers: tuple[Identifier, ...] = (EMAIL_SHA256, PHONE_SHA256, EXTERNAL_ID_SHA256)
    max_batch: int = MAX_BATCH
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        access_token: str | Secret,
        pixel_code: str,
        events: Mapping[str, str] = DEFAULT_EVENTS,
        test_event_code: str | None = None,
        limited_data_use: bool | None = None,
        only_attributed: bool = False,
        max_batch: int = MAX_BATCH,
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ConfigurationError(f"max_batch must be between 1 and {MAX_BATCH}")
        self.max_batch = max_batch
        self.access_token = as_secret(access_token)
        self.pixel_code = pixel_code
        self.events = dict(events)
        self.test_event_code = test_event_code
        self.limited_data_use = limited_data_use
        self.only_attributed = only_attributed
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous

    def check(self, conversion: Conversion) -> str | None:
        if event_label(conversion, self.events) is None:
            return f"event {conversion.event.value!r} is not configured for TikTok"
        if self.only_attributed and conversion.attribution.click_ids.get("ttclid") is None:
            return "the visitor did not come from a TikTok ad (no ttclid within its window)"
        if not conversion.context.url:
            return "TikTok web events need the page URL (the request context has none)"
        if not _matchable(conversion):
            return "TikTok needs a ttclid, the _ttp cookie, an email, a phone or an external id"
        return None

    def batch_key(self, conversion: Conversion) -> str:
        # A test event code makes TikTok refuse batches: give each such delivery a batch of its own.
        return self.pixel_code if self.test_event_code is None else f"{self.pixel_code}:{conversion.dedup_id}"

    def payload(self, conversion: Conversion) -> JSON:
        event = without_empty(
            {
                "event": event_label(conversion, self.events),
                "event_time": int(conversion.event_time.timestamp()),
                "event_id": conversion.event_id,
                "user": _user(conversion),
                "page": without_empty({"url": conversion.context.url, "referrer": conversion.context.referrer}),
                "properties": _properties(conversion),
            }
        )
        visitor = conversion.consent.for_vendor(self.name)
        if self.limited_data_use is not None:
            event["limited_data_use"] = self.limited_data_use
        elif visitor.decided:
            event["limited_data_use"] = not visitor.ad_personalization
        return event

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(f"a TikTok request carries 1 to {self.max_batch} events, not {len(payloads)}")
        body: JSON = {"event_source": "web", "event_source_id": self.pixel_code}
        if self.test_event_code is not None:
            body["test_event_code"] = self.test_event_code
        body["data"] = list(payloads)
        return httpx2.Request(
            "POST",
            self.base_url + PATH,
            content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            headers={
                "Access-Token": self.access_token.value,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )

    def masked_headers(self, request: httpx2.Request) -> dict[str, str]:
        return {k: ("***" if k.lower() == "access-token" else v) for k, v in super().masked_headers(request).items()}

    def read_response(self, response: httpx2.Response) -> Outcome:
        outcome = self.read_batch(response, [{}])
        return outcome[0] if not isinstance(outcome, Split) else Failed(outcome.reason)

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        """Decide on the envelope's ``code``; HTTP errors without an envelope follow the usual status rules."""
        envelope = response_json(response)
        code = envelope.get("code") if isinstance(envelope, dict) else None
        if not isinstance(code, int) or isinstance(code, bool):
            if 200 <= response.status_code < 300:
                return [Retry(f"HTTP {response.status_code}: TikTok answered without a result code")] * len(payloads)
            return [Vendor.read_response(self, response)] * len(payloads)
        assert isinstance(envelope, dict)
        message = f"TikTok {code}: {self.redact(_message(envelope), response)}"[:ERROR_LIMIT]
        if code in (OK, PARTIAL_OK):
            return [Delivered(answer=response_text(response)[:2000])] * len(payloads)
        if is_retryable(code):
            return [Retry(message, after=self.retry_after(response))] * len(payloads)
        if len(payloads) > 1 and code in EVENT_CODES:
            return Split(message)
        return [Failed(message)] * len(payloads)


def _message(envelope: Mapping[str, Any]) -> str:
    found = envelope.get("message")
    return found if isinstance(found, str) and found else "(no message)"


def _matchable(conversion: Conversion) -> bool:
    attribution = conversion.attribution
    return any(
        (
            attribution.click_ids.get("ttclid"),
            attribution.get("ttp"),
            *(form.of(conversion) for form in TikTok.identifiers),
        )
    )


def _user(conversion: Conversion) -> JSON:
    attribution = conversion.attribution
    return without_empty(
        {
            "ttclid": attribution.click_ids.get("ttclid"),
            "ttp": attribution.get("ttp"),
            "email": EMAIL_SHA256.of(conversion),
            "phone": PHONE_SHA256.of(conversion),
            "external_id": EXTERNAL_ID_SHA256.of(conversion),
            "ip": conversion.context.ip,
            "user_agent": conversion.context.user_agent,
        }
    )


def _properties(conversion: Conversion) -> JSON:
    contents = [
        without_empty(
            {
                "content_id": item.id,
                "content_name": item.name,
                "content_category": item.category,
                "price": json_number(item.price),
                "quantity": item.quantity,
            }
        )
        for item in conversion.items
    ]
    return without_empty(
        {
            "currency": conversion.currency,
            "value": json_number(conversion.value) if conversion.value is not None else None,
            "content_type": "product" if contents else None,
            "contents": contents,
            "order_id": conversion.order.id if conversion.order is not None else None,
            "description": conversion.custom_name,
        }
    )
