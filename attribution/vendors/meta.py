"""Meta Conversions API: ``POST {base_url}/{api_version}/{pixel_id}/events?access_token=...``.

Up to 1,000 events a request, all or nothing: one invalid or stale event fails the whole request. So
``check`` skips events Meta would refuse for their age, and ``read_batch`` answers ``Split`` when Meta
refuses a batch for what one event holds, so the halves travel apart and only the bad event dies.

``event_id`` is the id the site gives its browser pixel as ``eventID`` (``attribution.event_id(order)``):
Meta counts a conversion sent by both once. Customer data is normalised per field as Meta specifies and
SHA-256 hashed; ``fbc``, ``fbp``, the IP address and the user agent travel as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2

from ..errors import ConfigurationError
from .base import (
    JSON,
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
from .meta_user_data import forms as user_data_forms
from .meta_user_data import user_data

if TYPE_CHECKING:
    from ..orders.conversion import Conversion

BASE_URL = "https://graph.facebook.com"
API_VERSION = "v27.0"
ACTION_SOURCES = frozenset(
    {"email", "website", "app", "phone_call", "chat", "physical_store", "system_generated"}
    | {"business_messaging", "other"}
)
#: Canonical event → Meta standard event; custom events travel under their own ``custom_name``.
DEFAULT_EVENTS: Mapping[str, str] = MappingProxyType(
    {
        "purchase": "Purchase",
        "lead": "Lead",
        "complete_registration": "CompleteRegistration",
        "contact": "Contact",
        "schedule": "Schedule",
        "submit_application": "SubmitApplication",
        "view_content": "ViewContent",
        "custom": "*",
    }
)
DAY = 86_400
#: Graph error codes worth another try: unknown error (1) and service unavailable (2) ...
TRANSIENT_CODES = frozenset({1, 2})
#: ... and the rate limits (app, user, page, application, custom, business use case), after a pause.
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
#: ``error_subcode`` 33: the pixel does not exist or the token may not use it — no event is at fault.
_NO_SUCH_OBJECT = 33
#: Words of code-100 messages about the request itself rather than an event.
_REQUEST_LEVEL = ("appsecret_proof", "access token", "unsupported post request")


class MetaConversions(Vendor):
    """Meta (Facebook, Instagram) Conversions API.

    Args:
        access_token: a system-user access token of the business that owns the pixel.
        pixel_id: the pixel (dataset) id; also the batch key.
        events: canonical event (or a custom event's ``custom_name``) → Meta event name; ``"*"`` under
            ``"custom"`` sends custom events under their own name. Leave an event out to not send it.
        api_version: the Graph API version in the path.
        action_source: where the events happen; ``website`` events need the page URL and user agent.
        test_event_code: from Events Manager → Test Events. Such events still count: remove it in production.
        limited_data_use: None sends no ``data_processing_options`` (``["LDU"]`` for visitors who refused
            ``ad_personalization``, ``Conversion.consent``); False sends ``[]``; True sends ``["LDU"]`` with
            ``ldu_country`` (1 = US, 0 = let Meta geolocate) and ``ldu_state`` (1000 = California, 0 =
            geolocate).
        hash_external_id: hash ``external_id`` (Meta recommends it; the pixel must send it the same way).
        app_secret: adds ``appsecret_proof`` when the app requires it.
        max_age_days: older events are skipped at checkout: Meta refuses them, and their batch with them.
            Meta's limit: 7 days, 62 for ``physical_store`` (the default follows ``action_source``).
        throttle_pause: seconds to pause after a rate-limit error that names no delay.
        clock: seconds since the epoch (tests).
    """

    name: ClassVar[str] = "meta"
    max_batch: int = 1000
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        access_token: str | Secret,
        pixel_id: str,
        events: Mapping[str, str] = DEFAULT_EVENTS,
        api_version: str = API_VERSION,
        action_source: str = "website",
        test_event_code: str | None = None,
        limited_data_use: bool | None = None,
        ldu_country: int = 0,
        ldu_state: int = 0,
        hash_external_id: bool = True,
        app_secret: str | Secret | None = None,
        max_age_days: int | None = None,
        throttle_pause: float = 60.0,
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if action_source not in ACTION_SOURCES:
            raise ConfigurationError(f"action_source must be one of {sorted(ACTION_SOURCES)}")
        if ldu_country not in (0, 1) or ldu_state not in (0, 1000):
            raise ConfigurationError("ldu_country is 1 (US) or 0 (geolocate); ldu_state 1000 (California) or 0")
        if not pixel_id.isdigit():
            raise ConfigurationError("pixel_id is the numeric pixel (dataset) id from Events Manager")
        self.access_token = as_secret(access_token)
        self.app_secret = as_secret(app_secret) if app_secret is not None else None
        self.pixel_id = pixel_id
        self.events = dict(events)
        self.api_version = api_version.strip("/")
        self.action_source = action_source
        self.test_event_code = test_event_code
        self.limited_data_use = limited_data_use
        self.ldu = (ldu_country, ldu_state)
        self.hash_external_id = hash_external_id
        self.identifiers = user_data_forms(hash_external_id=hash_external_id)
        if max_age_days is None:
            max_age_days = 62 if action_source == "physical_store" else 7
        self.max_age = max_age_days * DAY
        self.throttle_pause = throttle_pause
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous
        self.clock = clock

    @property
    def url(self) -> str:
        return f"{self.base_url}/{self.api_version}/{self.pixel_id}/events"

    def check(self, conversion: Conversion) -> str | None:
        if event_label(conversion, self.events) is None:
            return f"event {conversion.event.value!r} is not configured for Meta"
        age = self.clock() - conversion.event_time.timestamp()
        if age > self.max_age:
            return (
                f"the event happened {age / DAY:.1f} days ago: Meta refuses events older than "
                f"{self.max_age // DAY} days (and every event sent with them)"
            )
        context = conversion.context
        if self.action_source == "website" and not (context.url and context.user_agent):
            return "Meta's website events need the page URL and the browser's user agent (no request context)"
        # a website event always has the user agent; any other needs one customer detail
        if self.action_source != "website" and not user_data(conversion, hash_external_id=self.hash_external_id):
            return "Meta needs at least one customer detail (email, phone, fbc, fbp, IP, external id ...)"
        return None

    def batch_key(self, conversion: Conversion) -> str:
        return self.pixel_id

    def payload(self, conversion: Conversion) -> JSON:
        event: JSON = {
            "event_name": event_label(conversion, self.events),
            "event_time": int(conversion.event_time.timestamp()),
            "event_id": conversion.event_id,
            "action_source": self.action_source,
        }
        event.update(
            without_empty(
                {
                    "event_source_url": conversion.context.url,
                    "referrer_url": conversion.context.referrer,
                    "user_data": user_data(conversion, hash_external_id=self.hash_external_id),
                    "custom_data": _custom_data(conversion),
                }
            )
        )
        ldu = self.limited_data_use  # configured, else LDU when the visitor refused personalisation for Meta
        if ldu is None and not conversion.consent.for_vendor(self.name).ad_personalization:
            ldu = True
        if ldu is not None:
            event["data_processing_options"] = ["LDU"] if ldu else []
            if ldu:
                event["data_processing_options_country"], event["data_processing_options_state"] = self.ldu
        return event

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(f"a Meta request carries 1 to {self.max_batch} events, not {len(payloads)}")
        body: JSON = {"data": list(payloads)}
        if self.test_event_code:
            body["test_event_code"] = self.test_event_code
        params = {"access_token": self.access_token.value}
        if self.app_secret is not None:
            key = self.app_secret.value.encode()
            params["appsecret_proof"] = hmac.new(key, self.access_token.value.encode(), hashlib.sha256).hexdigest()
        return httpx2.Request(
            "POST",
            self.url,
            params=params,
            content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    def masked_url(self, request: httpx2.Request) -> str:
        # built by hand: copy_set_param would percent-encode the stars
        url = request.url.copy_remove_param("access_token").copy_remove_param("appsecret_proof")
        proof = "&appsecret_proof=***" if "appsecret_proof" in request.url.params else ""
        return f"{url}?access_token=***{proof}"

    # -- answers -------------------------------------------------------------------------------------

    def read_response(self, response: httpx2.Response) -> Outcome:
        """2xx delivered; Graph errors by code: 1, 2 and ``is_transient`` retried, rate limits retried
        after a pause, 5xx retried; anything else (bad token, permissions, invalid event) failed."""
        error = _graph_error(response)
        if error is None or 200 <= response.status_code < 300:
            return super().read_response(response)
        message = f"HTTP {response.status_code}: {self.error_message(response)}"
        code = error.get("code")
        if code in THROTTLE_CODES:
            asked = self.retry_after(response)
            return Retry(message, after=self.throttle_pause if asked is None else asked)
        if code in TRANSIENT_CODES or error.get("is_transient") is True or response.status_code >= 500:
            return Retry(message, after=self.retry_after(response))
        return Failed(message)

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        """A batch refused for what an event holds (``code 100``, invalid parameter) is split, so the event at
        fault is found and its neighbours go through; a request-level refusal answers for every event."""
        outcome = self.read_response(response)
        if isinstance(outcome, Failed) and len(payloads) > 1 and _event_level(_graph_error(response)):
            return Split(outcome.reason)
        return [outcome] * len(payloads)

    def retry_after(self, response: httpx2.Response) -> float | None:
        """Retry-After, else the longest ``estimated_time_to_regain_access`` (minutes) Meta's usage headers give."""
        asked = super().retry_after(response)
        if asked is not None:
            return asked
        minutes = [0.0]
        for header in ("x-business-use-case-usage", "x-ad-account-usage", "x-app-usage"):
            for entry in _usage_entries(response.headers.get(header)):
                found = entry.get("estimated_time_to_regain_access")
                if isinstance(found, int | float) and not isinstance(found, bool):
                    minutes.append(float(found))
        return max(minutes) * 60 or None

    def error_message(self, response: httpx2.Response) -> str:
        """Meta's ``{"error": {"code", "error_subcode", "message", "error_user_title", "error_user_msg"}}``."""
        error = _graph_error(response)
        if error is None:
            text = super().error_message(response)
        else:
            code = "/".join(str(error[k]) for k in ("code", "error_subcode") if error.get(k) is not None)
            texts = [error.get(k) for k in ("message", "error_user_title", "error_user_msg")]
            text = f"code {code}: " + " — ".join(t for t in texts if isinstance(t, str) and t)
            if trace := error.get("fbtrace_id"):
                text += f" (fbtrace_id {trace})"
        # Scrub before cutting, so a token cut in half at the limit cannot survive.
        for secret in (self.access_token, self.app_secret):
            if secret is not None and secret.value:
                text = text.replace(secret.value, "***")
        return text[:500]


def _custom_data(conversion: Conversion) -> JSON:
    items = conversion.items
    return without_empty(
        {
            "value": json_number(conversion.value) if conversion.value is not None else None,
            "currency": conversion.currency,
            "order_id": conversion.order.id if conversion.order is not None else None,
            "content_type": "product" if items else None,
            "content_ids": [item.id for item in items],
            "contents": [{"id": i.id, "quantity": i.quantity, "item_price": json_number(i.price)} for i in items],
            "num_items": sum(item.quantity for item in items) or None,
        }
    )


def _graph_error(response: httpx2.Response) -> dict[str, Any] | None:
    data = response_json(response)
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else None


def _event_level(error: Mapping[str, Any] | None) -> bool:
    """Whether a refusal is about an event's content (``100``, invalid parameter), not the token, the app
    secret proof or the pixel, which every half of the batch would meet again."""
    if error is None or error.get("code") != 100 or error.get("error_subcode") == _NO_SUCH_OBJECT:
        return False
    message = str(error.get("message", "")).lower()
    return not any(words in message for words in _REQUEST_LEVEL)


def _usage_entries(header: str | None) -> list[Mapping[str, Any]]:
    """The objects of a usage header: one object, or ``{"<business id>": [objects]}``."""
    try:
        usage: Any = json.loads(header) if header else None
    except ValueError:
        return []
    if not isinstance(usage, dict):
        return []
    entries = [e for v in usage.values() if isinstance(v, list) for e in v if isinstance(e, dict)]
    return [usage, *entries]
