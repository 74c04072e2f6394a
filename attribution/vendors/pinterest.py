"""Pinterest Conversions API: ``POST {base_url}/v5/ad_accounts/{ad_account_id}/events`` with a Bearer token.

Up to 1,000 events a request per ad account. Pinterest answers per event, in request order: a 200 (or a 422
"Not all events were successfully processed") lists each event's ``processed`` / ``failed``, so each delivery
gets its own outcome and a failed event never holds its neighbours back. The event object, ``custom_data`` and
``contents`` are closed schemas (an unknown key is a 400 for the whole request), so only documented keys are
sent, and a multi-event batch refused with a 400 is split to find the event at fault.

``click_id`` is the ``epik`` of the ad click, else the ``_epik`` cookie of Pinterest's tag, raw. Personal data
travels as arrays of SHA-256 digests, each field normalised as Pinterest's API description says; the IP
address and user agent raw. ``event_id`` is the id the site gives its tag (``attribution.event_id(order)``),
so a conversion both report counts once.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2

from ..errors import ConfigurationError
from ..orders.identifiers import (
    EMAIL_SHA256,
    EXTERNAL_ID_SHA256,
    PHONE_DIGITS_SHA256,
    Identifier,
    hashed,
    two_letter_code,
)
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
    response_json,
    without_empty,
)

if TYPE_CHECKING:
    from ..orders.conversion import Conversion, Customer

BASE_URL = "https://api.pinterest.com"
API_VERSION = "v5"
MAX_BATCH = 1000
ACTION_SOURCES = frozenset({"web", "offline", "app_android", "app_ios"})

#: Canonical event → Pinterest ``event_name``. Pinterest names custom events nothing of their own: each travels
#: as ``custom``. ``contact``, ``schedule`` and ``submit_application`` are names Segment sends but Pinterest's
#: 5.23.0 description does not list: map them to ``lead`` or ``custom`` if Pinterest refuses them.
DEFAULT_EVENTS: Mapping[str, str] = MappingProxyType(
    {
        "purchase": "checkout",
        "lead": "lead",
        "complete_registration": "signup",
        "contact": "contact",
        "schedule": "schedule",
        "submit_application": "submit_application",
        "view_content": "view_content",
        "custom": "custom",
    }
)


def _lower(value: str | None) -> str | None:
    return unicodedata.normalize("NFC", value.strip().lower()) if value and value.strip() else None


def _compact(value: str | None) -> str | None:
    """Lowercase without spaces or punctuation, letters of any script kept (``São Paulo`` → ``sãopaulo``)."""
    lowered = _lower(value)
    if lowered is None:
        return None
    return "".join(ch for ch in lowered if ch.isalnum()) or None


def _postal_code(value: str | None) -> str | None:
    """Digits only, as Pinterest asks: a code with letters (``SW1A 1AA``) has no such form and is left out."""
    code = (value or "").strip()
    if not code or any(ch.isalpha() for ch in code):
        return None
    return "".join(ch for ch in code if ch.isdigit()) or None


_GENDERS = {"female": "f", "f": "f", "male": "m", "m": "m", "non-binary": "n", "nonbinary": "n", "n": "n"}


def _form(key: str, normalize: Callable[[Customer], str | None]) -> Identifier:
    """Pinterest's ``key``: normalised as its API description says, then hashed (a site's digest passes)."""
    return hashed(f"pinterest.{key}", normalize)


#: Each hashed ``user_data`` key and the form it carries. Email (trimmed, lowercased) and phone (E.164 digits,
#: no ``+``) are the forms every vendor taking digests shares.
USER_FIELDS: tuple[tuple[str, Identifier], ...] = (
    ("em", EMAIL_SHA256),
    ("ph", PHONE_DIGITS_SHA256),
    ("fn", _form("fn", lambda c: _lower(c.first_name))),
    ("ln", _form("ln", lambda c: _lower(c.last_name))),
    ("ge", _form("ge", lambda c: _GENDERS.get(c.gender or ""))),
    ("db", _form("db", lambda c: c.birthdate.strftime("%Y%m%d") if c.birthdate else None)),
    ("ct", _form("ct", lambda c: _compact(c.city))),
    ("st", _form("st", lambda c: two_letter_code(c.state))),
    ("zp", _form("zp", lambda c: _postal_code(c.postal_code))),
    ("country", _form("country", lambda c: two_letter_code(c.country))),
    ("external_id", EXTERNAL_ID_SHA256),
)


class PinterestConversions(Vendor):
    """Pinterest Conversions API (v5 ``events``) for one ad account.

    Args:
        access_token: the conversion access token generated in Ads Manager (sent as a Bearer token).
        ad_account_id: the ad account's numeric id; the path parameter and the batch key.
        events: canonical event → Pinterest ``event_name``; leave an event out to not send it.
        action_source: ``web`` (``event_source_url`` from the request), ``offline``, ``app_android``, ``app_ios``.
        test: adds ``?test=true``: Pinterest validates the events and answers as usual, but records nothing.
        limited_data_processing: True marks every event ``opt_out_type: "LDP"``, False none; None (default) marks
            the events of visitors whose consent refused ``ad_personalization`` (a consent hook answered).
        max_batch: events per request, 1 to 1,000.
        api_version: the version in the path (``v5``).
        base_url: requests go to ``{base_url}/{api_version}/ad_accounts/{ad_account_id}/events``.
    """

    name: ClassVar[str] = "pinterest"
    identifiers: tuple[Identifier, ...] = tuple(form for _, form in USER_FIELDS)
    max_batch: int = MAX_BATCH
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        access_token: str | Secret,
        ad_account_id: str,
        events: Mapping[str, str] = DEFAULT_EVENTS,
        action_source: str = "web",
        test: bool = False,
        limited_data_processing: bool | None = None,
        max_batch: int = MAX_BATCH,
        api_version: str = API_VERSION,
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
    ) -> None:
        if not (ad_account_id.isascii() and ad_account_id.isdigit() and len(ad_account_id) <= 18):
            raise ConfigurationError("ad_account_id is the ad account's numeric id (digits only, at most 18)")
        if action_source not in ACTION_SOURCES:
            raise ConfigurationError(f"action_source must be one of {sorted(ACTION_SOURCES)}")
        if not 1 <= max_batch <= MAX_BATCH:
            raise ConfigurationError(f"max_batch must be between 1 and {MAX_BATCH}")
        self.access_token = as_secret(access_token)
        self.ad_account_id = ad_account_id
        self.events = dict(events)
        self.action_source = action_source
        self.test = test
        self.limited_data_processing = limited_data_processing
        self.max_batch = max_batch
        self.api_version = api_version.strip("/")
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous

    @property
    def url(self) -> str:
        return f"{self.base_url}/{self.api_version}/ad_accounts/{self.ad_account_id}/events"

    def _event_name(self, conversion: Conversion) -> str | None:
        """Pinterest's ``event_name``: a custom event by its own ``custom_name`` if mapped, else as ``custom``."""
        found = event_label(conversion, self.events)
        if found is None and conversion.event.value == "custom":
            found = self.events.get("custom")
        return found

    def check(self, conversion: Conversion) -> str | None:
        if self._event_name(conversion) is None:
            return f"event {conversion.event.value!r} is not configured for Pinterest"
        context = conversion.context
        if not (EMAIL_SHA256.of(conversion) or (context.ip and context.user_agent)):
            return "Pinterest needs the customer's email, or the visitor's IP address and user agent"
        return None

    def batch_key(self, conversion: Conversion) -> str:
        return self.ad_account_id

    def payload(self, conversion: Conversion) -> JSON:
        event: JSON = {
            "event_name": self._event_name(conversion),
            "action_source": self.action_source,
            "event_time": int(conversion.event_time.timestamp()),
            "event_id": conversion.event_id,
            "user_data": _user_data(conversion),
        }
        if self.action_source == "web" and conversion.context.url:
            event["event_source_url"] = conversion.context.url
        custom = _custom_data(conversion)
        ldp = self.limited_data_processing
        if ldp is None:  # the visitor's own answer, only where a consent hook gave one
            visitor = conversion.consent.for_vendor(self.name)
            ldp = visitor.decided and not visitor.ad_personalization
        if ldp:
            custom["opt_out_type"] = "LDP"
        if custom:
            event["custom_data"] = custom
        return event

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(f"a Pinterest request carries 1 to {self.max_batch} events, not {len(payloads)}")
        return httpx2.Request(
            "POST",
            self.url,
            params={"test": "true"} if self.test else None,
            content=json.dumps({"data": list(payloads)}, ensure_ascii=False, separators=(",", ":")).encode(),
            headers={
                "Authorization": f"Bearer {self.access_token.value}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )

    # -- answers -------------------------------------------------------------------------------------

    def read_response(self, response: httpx2.Response) -> Outcome:
        answer = self.read_batch(response, [{}])
        return answer[0] if not isinstance(answer, Split) else Failed(answer.reason)

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        """Each event by its own ``status`` (200, or 422 with ``details.events``); 429, 503 and other 5xx
        retried; a 400 for several events split (one event's unknown key refuses them all); 401/403 failed."""
        status, count = response.status_code, len(payloads)
        body = response_json(response)
        if 200 <= status < 300 or status == 422:
            results = _event_results(body)
            if results is not None and len(results) == count:
                return [self._outcome(result, response) for result in results]
            if status == 422:  # "not all processed", and no word of which: the request failed as a whole
                return [Failed(self._message(response))] * count
            processed = body.get("num_events_processed") if isinstance(body, dict) else None
            if processed == count:
                return [Delivered(answer=json.dumps(body)[:2000])] * count
            # Pinterest deduplicates on event_id, so sending again cannot count an event twice.
            return [Retry(f"HTTP {status}: Pinterest answered without a result per event")] * count
        if status == 400 and count > 1:
            return Split(self._message(response))
        return [Vendor.read_response(self, response)] * count

    def _outcome(self, result: Any, response: httpx2.Response) -> Outcome:
        if not isinstance(result, dict):
            return Retry("Pinterest answered this event with no status")
        if result.get("status") == "processed":
            return Delivered(answer=json.dumps(result, ensure_ascii=False)[:2000])
        if result.get("status") == "failed":
            # never sent again unchanged: Pinterest would fail it the same way
            reason = result.get("error_message") or "(no message)"
            return Failed(f"Pinterest failed the event: {self.redact(str(reason), response)}"[:ERROR_LIMIT])
        return Retry(f"Pinterest answered this event with status {str(result.get('status'))[:40]!r}")

    def _message(self, response: httpx2.Response) -> str:
        return f"HTTP {response.status_code}: {self.redact(self.error_message(response), response)}"[:ERROR_LIMIT]

    def error_message(self, response: httpx2.Response) -> str:
        """Pinterest's ``{"code", "message"}``."""
        body = response_json(response)
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            code = body.get("code")
            return f"Pinterest code {code}: {body['message']}" if code is not None else body["message"]
        return super().error_message(response)


def _event_results(body: Any) -> list[Any] | None:
    """The per-event list: ``events`` of a 200, ``details.events`` (else ``events``) of a 422."""
    if not isinstance(body, dict):
        return None
    details = body.get("details")
    found = details.get("events") if isinstance(details, dict) else None
    if found is None:
        found = body.get("events")
    return found if isinstance(found, list) else None


def _user_data(conversion: Conversion) -> JSON:
    attribution, context = conversion.attribution, conversion.context
    fields: dict[str, Any] = {}
    for key, form in USER_FIELDS:
        value = form.of(conversion)
        if value:
            fields[key] = [value]
    # the ad click's epik within its window, else the tag's _epik cookie ("epik" answers only the click)
    fields["click_id"] = attribution.click_ids.get("epik") or attribution.identifiers.get("epik")
    fields["client_ip_address"] = context.ip
    fields["client_user_agent"] = context.user_agent
    return without_empty(fields)


def decimal_string(value: Decimal) -> str:
    """A money amount as Pinterest's decimal string: ``Decimal("99.97")`` → ``"99.97"``, never ``"1E+2"``."""
    return format(value, "f")


def _custom_data(conversion: Conversion) -> JSON:
    items = conversion.items
    contents = [
        without_empty(
            {
                "id": item.id,
                "item_name": item.name,
                "item_category": item.category,
                "item_price": decimal_string(item.price),
                "quantity": item.quantity,
            }
        )
        for item in items
    ]
    return without_empty(
        {
            "value": decimal_string(conversion.value) if conversion.value is not None else None,
            "currency": conversion.currency,
            "order_id": conversion.order.id if conversion.order is not None else None,
            "content_ids": [item.id for item in items],
            "contents": contents,
            "num_items": sum(item.quantity for item in items) or None,
        }
    )
