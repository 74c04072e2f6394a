"""Snap Conversions API v3: ``POST {base_url}/v3/{pixel_id}/events?access_token=...``.

Up to 2,000 web events a request per pixel. Snap answers one status per request: ``VALID``, or ``INVALID`` with
the index of the offending event, and (as far as its SDK shows) accepts none of a batch it refuses. So a refused
batch is split until the bad event stands alone and fails, and its neighbours land. ``validate_only`` posts to
``/events/validate``: Snap checks each event, answers for each, and records nothing.

``sc_click_id`` is the ad click's ``ScCid`` (captured as ``sccid``), ``sc_cookie1`` the pixel's ``_scid`` cookie,
both raw; personal data SHA-256 hashed after Snap's normalisation; the IP address and user agent raw.
``event_id`` is what the site gives the pixel as ``client_dedup_id`` (``attribution.event_id(order)``). The
token travels in the query string, as Snap requires: ``masked_url`` hides it, and error texts are scrubbed.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2

from ..errors import ConfigurationError
from ..orders.identifiers import EMAIL_SHA256, PHONE_DIGITS_SHA256, Identifier, hashed, two_letter_code
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
    without_empty,
)

if TYPE_CHECKING:
    from ..orders.conversion import Conversion, Customer

BASE_URL = "https://tr.snapchat.com"
API_VERSION = "v3"
MAX_BATCH = 2000
#: Snap's validator refuses an event older than this (and its batch with it); reporting ignores it anyway.
MAX_AGE_DAYS = 37
DAY = 86_400
ACTION_SOURCES = frozenset({"WEB", "OFFLINE"})
#: Snap has no lead event and no free-form names: ``lead``, ``contact``, ``submit_application`` and custom
#: events go only where a site maps them (``events={..., "lead": "SIGN_UP", "custom": "CUSTOM_EVENT_1"}``).
DEFAULT_EVENTS: Mapping[str, str] = MappingProxyType(
    {
        "purchase": "PURCHASE",
        "complete_registration": "SIGN_UP",
        "view_content": "VIEW_CONTENT",
        "schedule": "RESERVE",
    }
)
_NAMES = re.compile(r"[A-Z][A-Z0-9_]*")


def _squeezed(value: str | None) -> str | None:
    """Lowercase with spaces removed, as Snap's best practices and Segment's destination normalise."""
    if not value:
        return None
    return "".join(unicodedata.normalize("NFC", value.lower()).split()) or None


def _form(key: str, normalize: Callable[[Customer], str | None]) -> Identifier:
    """Snap's ``key``: normalised as Snap asks, then hashed (a site's digest passes through)."""
    return hashed(f"snapchat.{key}", normalize)


def _external(customer: Customer) -> str | None:
    return _squeezed(customer.external_id or customer.user_id)


#: Each hashed ``user_data`` key and the form it carries; email and phone (E.164 digits without ``+``: Snap's
#: "country code, no 00, no leading 0 of the national number") are the shared forms.
USER_FIELDS: tuple[tuple[str, Identifier], ...] = (
    ("em", EMAIL_SHA256),
    ("ph", PHONE_DIGITS_SHA256),
    ("fn", _form("fn", lambda c: _squeezed(c.first_name))),
    ("ln", _form("ln", lambda c: _squeezed(c.last_name))),
    ("ct", _form("ct", lambda c: _squeezed(c.city))),
    ("st", _form("st", lambda c: two_letter_code(c.state))),
    ("zp", _form("zp", lambda c: _squeezed(c.postal_code))),
    ("country", _form("country", lambda c: two_letter_code(c.country))),
    ("external_id", _form("external_id", _external)),
)


class SnapchatConversions(Vendor):
    """Snap Conversions API v3 for one Snap Pixel.

    Args:
        access_token: the long-lived Conversions API token from Ads Manager (sent as ``?access_token=``).
        pixel_id: the Snap Pixel id (a UUID); the path parameter and the batch key.
        events: canonical event → Snap ``event_name`` (upper case, Snap's list or ``CUSTOM_EVENT_1`` … ``_5``).
        action_source: ``WEB`` (``event_source_url`` from the request) or ``OFFLINE``.
        validate_only: post to ``/events/validate``: Snap checks the events, nothing is recorded.
        limited_data_use: True sends ``data_processing_options: ["LDU"]`` on every event, False never; None
            (default) on the events of visitors whose consent refused ``ad_personalization``.
        max_batch: events per request, 1 to 2,000.
        api_version: the version in the path (``v3``).
        base_url: requests go to ``{base_url}/{api_version}/{pixel_id}/events`` (``/events/validate``).
    """

    name: ClassVar[str] = "snapchat"
    identifiers: tuple[Identifier, ...] = tuple(form for _, form in USER_FIELDS)
    max_batch: int = MAX_BATCH
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        access_token: str | Secret,
        pixel_id: str,
        events: Mapping[str, str] = DEFAULT_EVENTS,
        action_source: str = "WEB",
        validate_only: bool = False,
        limited_data_use: bool | None = None,
        max_batch: int = MAX_BATCH,
        api_version: str = API_VERSION,
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
    ) -> None:
        if action_source not in ACTION_SOURCES:
            raise ConfigurationError(f"action_source must be one of {sorted(ACTION_SOURCES)}")
        if not 1 <= max_batch <= MAX_BATCH:
            raise ConfigurationError(f"max_batch must be between 1 and {MAX_BATCH}")
        if not pixel_id.strip() or "/" in pixel_id:
            raise ConfigurationError("pixel_id is the Snap Pixel's id from Events Manager (a UUID)")
        wrong = sorted(name for name in events.values() if not _NAMES.fullmatch(name))
        if wrong:  # Snap takes its own upper-case names only: a custom name would fail every event
            raise ConfigurationError(f"Snap event names are upper case (PURCHASE, CUSTOM_EVENT_1 ...), not {wrong}")
        self.access_token = as_secret(access_token)
        self.pixel_id = pixel_id
        self.events = dict(events)
        self.action_source = action_source
        self.validate_only = validate_only
        self.limited_data_use = limited_data_use
        self.max_batch = max_batch
        self.api_version = api_version.strip("/")
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous
        self.clock: Callable[[], float] = time.time
        """Seconds since the epoch, for the age check at checkout (tests set it)."""

    @property
    def url(self) -> str:
        suffix = "/validate" if self.validate_only else ""
        return f"{self.base_url}/{self.api_version}/{self.pixel_id}/events{suffix}"

    def check(self, conversion: Conversion) -> str | None:
        label = event_label(conversion, self.events)
        if label is None:
            return f"event {conversion.event.value!r} is not configured for Snapchat (Snap has no lead event)"
        context = conversion.context
        if self.action_source == "WEB" and not context.url:
            return "Snap's web events need the page URL (the request context has none)"
        matchable = EMAIL_SHA256.of(conversion) or PHONE_DIGITS_SHA256.of(conversion)
        if not (matchable or (context.ip and context.user_agent)):
            return "Snap needs the customer's email or phone, or the visitor's IP address and user agent"
        if label == "PURCHASE" and (conversion.value is None or not conversion.currency):
            return "Snap refuses a PURCHASE without a value and a currency"
        age = self.clock() - conversion.event_time.timestamp()
        if age > MAX_AGE_DAYS * DAY:
            return f"the event happened {age / DAY:.1f} days ago: Snap refuses events older than {MAX_AGE_DAYS} days"
        return None

    def batch_key(self, conversion: Conversion) -> str:
        return self.pixel_id

    def payload(self, conversion: Conversion) -> JSON:
        event: JSON = {
            "event_name": event_label(conversion, self.events),
            "event_time": int(conversion.event_time.timestamp()),
            "action_source": self.action_source,
            "event_id": conversion.event_id,
        }
        if self.action_source == "WEB":
            event["event_source_url"] = conversion.context.url
        event["user_data"] = _user_data(conversion)
        custom = _custom_data(conversion)
        if custom:
            event["custom_data"] = custom
        ldu = self.limited_data_use
        if ldu is None:  # the visitor's own answer, only where a consent hook gave one
            visitor = conversion.consent.for_vendor(self.name)
            ldu = visitor.decided and not visitor.ad_personalization
        if ldu:
            event["data_processing_options"] = ["LDU"]
        return event

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(f"a Snap request carries 1 to {self.max_batch} events, not {len(payloads)}")
        return httpx2.Request(
            "POST",
            self.url,
            params={"access_token": self.access_token.value},
            content=json.dumps({"data": list(payloads)}, ensure_ascii=False, separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    def masked_url(self, request: httpx2.Request) -> str:
        # built by hand: copy_set_param would percent-encode the stars
        return f"{request.url.copy_remove_param('access_token')}?access_token=***"

    # -- answers -------------------------------------------------------------------------------------

    def read_response(self, response: httpx2.Response) -> Outcome:
        answer = self.read_batch(response, [{}])
        return answer[0] if not isinstance(answer, Split) else Failed(answer.reason)

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        """``VALID`` delivered (``/validate``: each event by its log); ``INVALID`` (400, or inside a 2xx) splits
        a batch and fails a lone event; 429 and 5xx retried (``Retry-After`` honoured); 401/403 failed."""
        status, count = response.status_code, len(payloads)
        if status in (408, 429) or status >= 500:  # whatever the body says: Snap was busy or down
            return [Vendor.read_response(self, response)] * count
        body = response_json(response)
        verdict = body.get("status") if isinstance(body, dict) else None
        logs = body.get("event_logs") if isinstance(body, dict) else None
        if isinstance(logs, list) and len(logs) == count and status in (200, 400):
            return [self._logged(entry, response) for entry in logs]
        if 200 <= status < 300 and verdict == "VALID":
            return [Delivered(answer=json.dumps(body)[:2000])] * count
        if 200 <= status < 300 and verdict != "INVALID":
            # Snap deduplicates on event_id, so sending again cannot count an event twice.
            return [Retry(f"HTTP {status}: Snap answered without a status")] * count
        if status == 400 or verdict == "INVALID":
            # Split rather than trusting the index Snap names: the halves go out within this one attempt, so
            # the good events spend none of their attempts, and a misread index could never fail one of them.
            message = self._message(response)
            return Split(message) if count > 1 else [Failed(message)]
        return [Vendor.read_response(self, response)] * count

    def _logged(self, entry: Any, response: httpx2.Response) -> Outcome:
        """One event of a ``/validate`` answer."""
        if isinstance(entry, dict) and entry.get("status") == "VALID":
            return Delivered(answer=json.dumps(entry)[:2000])
        errors = entry.get("errors") if isinstance(entry, dict) else None
        text = _error_text(errors) or "(no message)"
        return Failed(f"Snap validation: {self.redact(text, response)}"[:ERROR_LIMIT])

    def _message(self, response: httpx2.Response) -> str:
        return f"HTTP {response.status_code}: {self.redact(self.error_message(response), response)}"[:ERROR_LIMIT]

    def error_message(self, response: httpx2.Response) -> str:
        """Snap's ``{"status", "reason", "errors": {"codes", "error_msgs"}}``."""
        body = response_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("reason"), str):
            return super().error_message(response)
        details = _error_text(body.get("errors"))
        return f"Snap {body.get('status', 'INVALID')}: {body['reason']}" + (f" ({details})" if details else "")


def _error_text(errors: Any) -> str:
    if not isinstance(errors, dict):
        return ""
    parts = [errors.get("codes"), errors.get("error_msgs")]
    return "; ".join(", ".join(map(str, part)) for part in parts if isinstance(part, list) and part)


def _user_data(conversion: Conversion) -> JSON:
    attribution, context = conversion.attribution, conversion.context
    fields: dict[str, Any] = {}
    for key, form in USER_FIELDS:
        value = form.of(conversion)
        if value:
            fields[key] = [value]
    fields["client_ip_address"] = context.ip
    fields["client_user_agent"] = context.user_agent
    fields["sc_click_id"] = attribution.click_ids.get("sccid")
    fields["sc_cookie1"] = attribution.identifiers.get("scid")
    return without_empty(fields)


def _custom_data(conversion: Conversion) -> JSON:
    items = conversion.items
    return without_empty(
        {
            "value": json_number(conversion.value) if conversion.value is not None else None,
            "currency": conversion.currency,
            "order_id": conversion.order.id if conversion.order is not None else None,
            "content_ids": [item.id for item in items],
            "num_items": sum(item.quantity for item in items) or None,
        }
    )
