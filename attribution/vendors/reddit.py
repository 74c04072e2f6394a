"""Reddit Conversions API v3: ``POST {base_url}/api/v3/pixels/{pixel_id}/conversion_events``, Bearer token.

Up to 1,000 events a request for one pixel, under ``{"data": {"events": [...]}}``. Reddit refuses a request
whole (HTTP 400) for what one event holds, so a refused batch is split until the event at fault stands alone.
Events older than 7 days are skipped at checkout: Reddit does not take them.

``click_id`` is the ``rdt_cid`` of the ad's landing URL (else the pixel's own copy in ``_rdt_cid``), raw;
``user.uuid`` the pixel's ``_rdt_uuid`` cookie. Emails follow Reddit's own canonical form before SHA-256
(lowercase, the ``+alias`` and every non-alphanumeric character of the name dropped, for every domain), phones
are E.164 with ``+``, the external id and the IP address are hashed, the user agent is not.
``metadata.conversion_id`` is the id the site gives the pixel as ``conversionId``
(``attribution.event_id(order)``): Reddit counts a conversion seen by both, or sent twice, once.

Every request names the library in its ``User-Agent``: Reddit throttles generic ones.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

import httpx2

from .._version import package_version
from ..errors import ConfigurationError
from ..orders import pii
from ..orders.identifiers import EXTERNAL_ID_SHA256, PHONE_SHA256, Identifier
from .base import (
    ERROR_LIMIT,
    JSON,
    Delivered,
    Failed,
    Outcome,
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

BASE_URL = "https://ads-api.reddit.com"
MAX_BATCH = 1000
MAX_AGE = 7 * 86_400
#: Reddit's ``tracking_type`` values; any other event name is sent as a CUSTOM event of that name.
TRACKING_TYPES = frozenset(
    {"PAGE_VISIT", "VIEW_CONTENT", "SEARCH", "ADD_TO_CART", "ADD_TO_WISHLIST", "PURCHASE", "LEAD", "SIGN_UP"}
)
#: Canonical event → Reddit tracking type. ``contact``, ``schedule`` and ``submit_application`` have no Reddit
#: equivalent and are not sent unless mapped; ``"*"`` sends custom events as CUSTOM under their own name.
DEFAULT_EVENTS: Mapping[str, str] = MappingProxyType(
    {
        "purchase": "PURCHASE",
        "lead": "LEAD",
        "complete_registration": "SIGN_UP",
        "view_content": "VIEW_CONTENT",
        "custom": "*",
    }
)
USER_AGENT = f"asgi-attribution/{package_version()} (+https://pypi.org/project/asgi-attribution/)"
_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]")
_RATE_LIMIT_RESET = re.compile(r"(?:^|;)\s*t=(\d+(?:\.\d+)?)")


def reddit_email(email: str | None) -> str | None:
    """SHA-256 of Reddit's canonical email: lowercased, everything from the first ``+`` to the ``@`` dropped,
    every character of the name that is not ``a-z`` or ``0-9`` removed (dots too, whatever the domain).
    ``Al.ice$+Apple@Example.Com`` → ``alice@example.com``. A digest the site gave passes through."""
    if not email:
        return None
    address = email.strip().lower()
    if pii.is_sha256(address):
        return address
    name, _, domain = address.rpartition("@")
    name = _NOT_ALPHANUMERIC.sub("", name.split("+", 1)[0])
    return pii.sha256(f"{name}@{domain}")


REDDIT_EMAIL = Identifier("reddit.email_sha256", lambda customer: reddit_email(customer.email), hashed=True)
"""SHA-256 of the email in Reddit's canonical form (``reddit_email``)."""


class Reddit(Vendor):
    """Reddit Conversions API v3 for one pixel.

    Args:
        access_token: a Conversion Access Token (Events Manager → Conversions API); it does not expire.
        pixel_id: the pixel id from Events Manager (``a2_...``, ``t2_...``), the path parameter and batch key.
        events: canonical event (or a custom event's ``custom_name``) → Reddit tracking type; a value that is
            not one of Reddit's types is sent as a CUSTOM event of that name; ``"*"`` under ``"custom"`` sends
            custom events under their own ``custom_name``. Leave an event out to not send it.
        test_id: from Events Manager → Events Testing; such requests carry one event each.
        hash_ip: send ``user.ip_address`` as a SHA-256 (True, as Reddit's own integration does) or plain.
        max_batch: events per request, 1 to 1,000.
        clock: seconds since the epoch, for the 7-day limit at checkout (tests).
    """

    name: ClassVar[str] = "reddit"
    identifiers: tuple[Identifier, ...] = (REDDIT_EMAIL, PHONE_SHA256, EXTERNAL_ID_SHA256)
    max_batch: int = MAX_BATCH
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        access_token: str | Secret,
        pixel_id: str,
        events: Mapping[str, str] = DEFAULT_EVENTS,
        test_id: str | None = None,
        max_batch: int = MAX_BATCH,
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
        hash_ip: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ConfigurationError(f"max_batch must be between 1 and {MAX_BATCH}")
        if not pixel_id or "/" in pixel_id or pixel_id != pixel_id.strip():
            raise ConfigurationError("pixel_id is the pixel id from Reddit's Events Manager (a2_..., t2_...)")
        for label in events.values():
            if label != "*" and not 1 <= len(label) <= 64:
                raise ConfigurationError("a Reddit event name is 1 to 64 characters long")
        self.access_token = as_secret(access_token)
        self.pixel_id = pixel_id
        self.events = dict(events)
        self.test_id = test_id
        self.max_batch = max_batch
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous
        self.hash_ip = hash_ip
        self.clock = clock

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/v3/pixels/{self.pixel_id}/conversion_events"

    def check(self, conversion: Conversion) -> str | None:
        label = event_label(conversion, self.events)
        if label is None:
            return f"event {conversion.event.value!r} is not configured for Reddit"
        if label not in TRACKING_TYPES and not 1 <= len(label) <= 64:
            return "Reddit's custom event names are 1 to 64 characters long"
        age = self.clock() - conversion.event_time.timestamp()
        if age > MAX_AGE:
            return f"the event happened {age / 86_400:.1f} days ago: Reddit takes events at most 7 days old"
        if not _matchable(conversion):
            return (
                "Reddit needs an rdt_cid, the _rdt_uuid cookie, an email, a phone, an external id, or IP and user agent"
            )
        return None

    def batch_key(self, conversion: Conversion) -> str:
        # A test id makes each request carry one event: each such delivery gets a batch of its own.
        return self.pixel_id if self.test_id is None else f"{self.pixel_id}:{conversion.dedup_id}"

    def payload(self, conversion: Conversion) -> JSON:
        label = event_label(conversion, self.events) or ""
        kind: JSON = (
            {"tracking_type": label}
            if label in TRACKING_TYPES
            else {"tracking_type": "CUSTOM", "custom_event_name": label}
        )
        attribution, context = conversion.attribution, conversion.context
        return without_empty(
            {
                "event_at": int(conversion.event_time.timestamp() * 1000),
                "action_source": "WEBSITE",
                "type": kind,
                "click_id": attribution.click_ids.get("rdt_cid") or attribution.get("rdt_cid_cookie"),
                "event_source_url": context.url,
                "referrer_url": context.referrer,
                "metadata": _metadata(conversion),
                "user": self._user(conversion),
            }
        )

    def _user(self, conversion: Conversion) -> JSON:
        context = conversion.context
        ip = context.ip
        user = without_empty(
            {
                "email": REDDIT_EMAIL.of(conversion),
                "phone_number": PHONE_SHA256.of(conversion),
                "external_id": EXTERNAL_ID_SHA256.of(conversion),
                "ip_address": pii.sha256(ip) if ip and self.hash_ip else ip,
                "user_agent": context.user_agent,
                "uuid": conversion.attribution.get("rdt_uuid"),
            }
        )
        visitor = conversion.consent.for_vendor(self.name)
        if visitor.decided and not visitor.ad_personalization:
            user["data_processing_options"] = {"modes": ["LDU"]}
        return user

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(f"a Reddit request carries 1 to {self.max_batch} events, not {len(payloads)}")
        data: JSON = {"events": list(payloads)}
        if self.test_id is not None:
            data = {"test_id": self.test_id, **data}
        return httpx2.Request(
            "POST",
            self.url,
            content=json.dumps({"data": data}, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            headers={
                "Authorization": f"Bearer {self.access_token.value}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )

    # -- answers -------------------------------------------------------------------------------------

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        """A 400 refuses the whole request for what an event holds: several events are split to find it, a
        single one fails. 401, 403 and 404 (token, pixel) fail every event; 408, 429 and 5xx are retried."""
        status = response.status_code
        if 200 <= status < 300:
            return [Delivered(answer=response_text(response)[:2000])] * len(payloads)
        outcome = self.read_response(response)
        if status == 400 and len(payloads) > 1:
            return Split(outcome.reason if isinstance(outcome, Failed) else "HTTP 400")
        return [outcome] * len(payloads)

    def error_message(self, response: httpx2.Response) -> str:
        """Reddit's ``{"error": {"code", "message", "fields": [{"field", "message"}]}}``."""
        data = response_json(response)
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return super().error_message(response)
        text = str(error["message"])
        fields = error.get("fields")
        if isinstance(fields, list):
            found = [f"{item.get('field')}: {item.get('message')}" for item in fields if isinstance(item, dict)]
            if found:
                text += " (" + "; ".join(found) + ")"
        return text[: 4 * ERROR_LIMIT]

    def retry_after(self, response: httpx2.Response) -> float | None:
        """``Retry-After``, else the reset of Reddit's rate-limit header (``RateLimit: "policy";r=0;t=<s>``)."""
        asked = super().retry_after(response)
        if asked is not None:
            return asked
        found = _RATE_LIMIT_RESET.search(response.headers.get("ratelimit", ""))
        return float(found.group(1)) if found else None


def _matchable(conversion: Conversion) -> bool:
    attribution, context = conversion.attribution, conversion.context
    return any(
        (
            attribution.click_ids.get("rdt_cid"),
            attribution.get("rdt_cid_cookie"),
            attribution.get("rdt_uuid"),
            *(form.of(conversion) for form in Reddit.identifiers),
            context.ip and context.user_agent,
        )
    )


def _metadata(conversion: Conversion) -> JSON:
    items = conversion.items
    order = conversion.order
    products = [
        without_empty(
            {
                "id": item.id,
                "name": item.name,
                "category": item.category,
                "quantity": item.quantity,
                "item_price": json_number(item.price),
            }
        )
        for item in items
    ]
    return without_empty(
        {
            "conversion_id": conversion.event_id,
            "order_id": order.id[:100] if order is not None else None,
            "currency": conversion.currency,
            "value": json_number(conversion.value) if conversion.value is not None else None,
            "item_count": sum(item.quantity for item in items) or None,
            "products": products,
        }
    )
