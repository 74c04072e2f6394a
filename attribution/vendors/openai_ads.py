"""OpenAI Ads (ads in ChatGPT) Conversions API: ``POST {base_url}/v1/events?pid={pixel_id}`` with a Bearer key.

Up to 1,000 events a request per pixel, and OpenAI's page says **if one event fails, the whole batch fails**:
so ``check`` skips at checkout what OpenAI would refuse (older than ``max_age_days``, more than 10 minutes
ahead, a web event without its page, an invalid custom name, an amount the currency cannot hold), and a batch
refused for what an event holds is split until that event stands alone.

``oppref`` is the ad click's reference (the ``oppref`` landing parameter within its window, else the pixel's
``__oppref`` cookie), ``user.obref`` the pixel's ``__obref`` browser id, both byte for byte; personal data
travels as SHA-256 digests of normalised values, never in clear. ``id`` is what the site gives the pixel as
``event_id`` (``attribution.event_id(order)``): OpenAI deduplicates on ``id`` and ``type`` within a pixel.

Not all of this is confirmed on OpenAI's own pages (``docs/vendors.md`` says what is): the host and the
``user`` field names are configurable (``base_url``, ``user_fields``); response bodies and error codes are
undocumented, so answers are read by HTTP status and OpenAI's usual ``{"error": {...}}`` envelope.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx2

from ..errors import ConfigurationError
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
from .openai_ads_user import DEFAULT_USER_FIELDS, SINGLE_VALUE_USER_FIELDS, SOURCES, UserField, forms, user

if TYPE_CHECKING:
    from ..orders.conversion import Conversion

__all__ = ["DEFAULT_USER_FIELDS", "SINGLE_VALUE_USER_FIELDS", "OpenAIAds", "UserField", "minor_units", "source_url"]

BASE_URL = "https://bzr.openai.com"
PATH = "/v1/events"
MAX_BATCH = 1000
MAX_AHEAD = 10 * 60  # seconds: OpenAI refuses events more than 10 minutes in the future
DAY = 86_400
ACTION_SOURCES = frozenset({"web", "mobile_app", "offline", "physical_store", "phone_call", "email", "other"})

#: OpenAI's event types and the ``data.type`` each takes.
DATA_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "order_created": "contents",
        "checkout_started": "contents",
        "items_added": "contents",
        "contents_viewed": "contents",
        "page_viewed": "contents",
        "lead_created": "customer_action",
        "registration_completed": "customer_action",
        "appointment_scheduled": "customer_action",
        "app_installed": "customer_action",
        "app_opened": "customer_action",
        "subscription_created": "plan_enrollment",
        "trial_started": "plan_enrollment",
    }
)

#: Canonical event → OpenAI type. A value that is not one of OpenAI's types travels as ``type: "custom"`` with
#: that value as ``custom_event_name``; ``"*"`` names a custom event by its own ``custom_name``.
DEFAULT_EVENTS: Mapping[str, str] = MappingProxyType(
    {
        "purchase": "order_created",
        "lead": "lead_created",
        "complete_registration": "registration_completed",
        "schedule": "appointment_scheduled",
        "view_content": "contents_viewed",
        "contact": "contact",
        "submit_application": "submit_application",
        "custom": "*",
    }
)
_CUSTOM_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?")
# -- money in minor units ----------------------------------------------------------------------------------


@functools.cache
def _exponents() -> Mapping[str, int | None]:
    """ISO 4217 minor-unit exponents (JPY 0, USD 2, KWD 3, gold none), read once, on first use."""
    from iso4217 import Currency  # imported lazily: it parses the ISO table, which most processes never need

    return {currency.code: currency.exponent for currency in Currency}


def minor_units(amount: Decimal, currency: str) -> int | None:
    """``amount`` in the currency's smallest unit (``Decimal("129.99")`` USD → ``12999``), or None when the
    currency has no minor unit or the amount has more decimals than it allows: never rounded silently."""
    exponent = _exponents().get(currency.upper())
    if exponent is None:
        return None
    scaled = amount.scaleb(exponent)
    return int(scaled) if scaled == scaled.to_integral_value() else None


def source_url(url: str | None) -> str | None:
    """The page as OpenAI takes it: an http(s) URL without its query and fragment."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class OpenAIAds(Vendor):
    """OpenAI Ads Conversions API for one pixel.

    Args:
        api_key: the Conversions API key from Ads Manager's conversions tab (Bearer) — not the Advertiser API key.
        pixel_id: sent as ``?pid=``; also the batch key.
        events: canonical event → OpenAI type; a value that is not an OpenAI type travels as a custom event of
            that name (``"*"``: the event's own ``custom_name``).
        action_source: ``web`` (needs the page URL), ``mobile_app``, ``offline``, ``physical_store``,
            ``phone_call``, ``email`` or ``other``.
        validate_only: OpenAI validates the events and saves nothing.
        integration_source: the optional top-level ``integration_source`` naming the sending integration.
        max_age_days: older events are skipped at checkout: OpenAI refuses them, and their batch with them.
        max_batch: events per request, 1 to 1,000.
        base_url: requests go to ``{base_url}/v1/events?pid={pixel_id}``.
        user_fields: which matching data goes under which ``user`` key (``DEFAULT_USER_FIELDS``, the list form;
            ``SINGLE_VALUE_USER_FIELDS``, the mid-2026 page's). Leave a key out to not send it; a geographic
            key ending in ``_sha256`` sends the digest instead of the value.
    """

    name: ClassVar[str] = "openai_ads"
    max_batch: int = MAX_BATCH
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        api_key: str | Secret,
        pixel_id: str,
        events: Mapping[str, str] = DEFAULT_EVENTS,
        action_source: str = "web",
        validate_only: bool = False,
        integration_source: str | None = None,
        max_age_days: int = 7,
        max_batch: int = MAX_BATCH,
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
        user_fields: Mapping[str, UserField] = DEFAULT_USER_FIELDS,
    ) -> None:
        if action_source not in ACTION_SOURCES:
            raise ConfigurationError(f"action_source must be one of {sorted(ACTION_SOURCES)}")
        if not 1 <= max_batch <= MAX_BATCH:
            raise ConfigurationError(f"max_batch must be between 1 and {MAX_BATCH}")
        if not 1 <= max_age_days <= 7:
            raise ConfigurationError("max_age_days must be between 1 and 7: OpenAI refuses older events")
        if integration_source is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", integration_source):
            raise ConfigurationError("integration_source is 1 to 64 letters, digits, '.', '_' or '-'")
        if not pixel_id.strip():
            raise ConfigurationError("pixel_id is the pixel's id from Ads Manager")
        unknown = sorted(set(user_fields) - SOURCES)
        if unknown:
            raise ConfigurationError(f"user_fields knows {sorted(SOURCES)}, not {unknown}")
        wrong = sorted(
            name
            for name in events.values()
            if name != "*" and name not in DATA_TYPES and (not _CUSTOM_NAME.fullmatch(name) or name == "custom")
        )
        if wrong:
            raise ConfigurationError(f"OpenAI custom event names are 1-64 letters, digits, '_' or '-', not {wrong}")
        self.api_key = as_secret(api_key)
        self.pixel_id = pixel_id
        self.events = dict(events)
        self.action_source = action_source
        self.validate_only = validate_only
        self.integration_source = integration_source
        self.max_age = max_age_days * DAY
        self.max_batch = max_batch
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous
        self.user_fields = dict(user_fields)
        self.identifiers = forms(self.user_fields)
        self.clock: Callable[[], float] = time.time
        """Seconds since the epoch, for the age checks at checkout (tests set it)."""

    # -- at checkout ---------------------------------------------------------------------------------

    def _type(self, conversion: Conversion) -> tuple[str, str | None] | None:
        """OpenAI's ``type`` and ``custom_event_name`` for the conversion, or None when it is not mapped."""
        label = event_label(conversion, self.events)
        if label is None:
            return None
        return (label, None) if label in DATA_TYPES else ("custom", label)

    def check(self, conversion: Conversion) -> str | None:
        kind = self._type(conversion)
        if kind is None:
            return f"event {conversion.event.value!r} is not configured for OpenAI Ads"
        custom = kind[1]
        if custom is not None and (not _CUSTOM_NAME.fullmatch(custom) or custom in DATA_TYPES or custom == "custom"):
            return "OpenAI custom event names are 1-64 letters, digits, '_' or '-', starting and ending alphanumeric"
        age = self.clock() - conversion.event_time.timestamp()
        if age > self.max_age:
            return (
                f"the event happened {age / DAY:.1f} days ago: OpenAI refuses events older than "
                f"{self.max_age // DAY} days (and every event sent with them)"
            )
        if age < -MAX_AHEAD:
            return "the event is more than 10 minutes in the future: OpenAI refuses it (and its batch)"
        if self.action_source == "web" and source_url(conversion.context.url) is None:
            return "OpenAI's web events need the page's http(s) URL (the request context has none)"
        if conversion.value is not None and conversion.currency:
            if minor_units(conversion.value, conversion.currency) is None:
                return f"the value has more decimals than {conversion.currency} allows: OpenAI takes minor units"
            if any(minor_units(item.price, conversion.currency) is None for item in conversion.items):
                return f"an item's price has more decimals than {conversion.currency} allows"
        return None

    def batch_key(self, conversion: Conversion) -> str:
        return self.pixel_id

    # -- at send time --------------------------------------------------------------------------------

    def payload(self, conversion: Conversion) -> JSON:
        found = self._type(conversion)
        if found is None:  # ``check`` said the event is mapped: only a changed mapping gets here
            raise ValueError(f"event {conversion.event.value!r} is not configured for OpenAI Ads")
        kind, custom = found
        event: JSON = {
            "id": conversion.event_id,
            "type": kind,
            "timestamp_ms": int(conversion.event_time.timestamp() * 1000),
        }
        if custom is not None:
            event["custom_event_name"] = custom
        attribution = conversion.attribution
        oppref = attribution.click_ids.get("oppref") or attribution.identifiers.get("oppref")
        if oppref:
            event["oppref"] = oppref
        event["action_source"] = self.action_source
        if self.action_source == "web":
            event["source_url"] = source_url(conversion.context.url)
        matching = user(conversion, self.user_fields)
        if matching:
            event["user"] = matching
        visitor = conversion.consent.for_vendor(self.name)
        if visitor.decided and not visitor.ad_personalization:
            event["opt_out"] = True  # kept out of user-level personalisation; still counted
        event["data"] = _data(conversion, DATA_TYPES.get(kind, "custom"))
        return event

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(f"an OpenAI Ads request carries 1 to {self.max_batch} events, not {len(payloads)}")
        body: JSON = {"validate_only": self.validate_only, "events": list(payloads)}
        if self.integration_source is not None:
            body["integration_source"] = self.integration_source
        return httpx2.Request(
            "POST",
            self.base_url + PATH,
            params={"pid": self.pixel_id},
            content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            headers={
                "Authorization": f"Bearer {self.api_key.value}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )

    # -- answers -------------------------------------------------------------------------------------

    def read_response(self, response: httpx2.Response) -> Outcome:
        answer = self.read_batch(response, [{}])
        return answer[0] if not isinstance(answer, Split) else Failed(answer.reason)

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        """2xx delivered (unless it carries an error envelope); a batch refused (400/422) for what an event holds
        split, one refused alone failed; 401/403/404 failed; 429 and 5xx retried, ``Retry-After`` honoured."""
        status, count = response.status_code, len(payloads)
        error = _error(response)
        if 200 <= status < 300 and error is None:
            return [Delivered(answer=_answer(response))] * count
        message = f"HTTP {status}: {self.redact(self.error_message(response), response)}"[:ERROR_LIMIT]
        kind = str(error.get("type", "")) if error is not None else ""
        if status in (408, 429) or status >= 500 or kind in ("rate_limit_error", "server_error"):
            return [Retry(message, after=self.retry_after(response))] * count
        if (status in (400, 422) or 200 <= status < 300) and count > 1 and _about_an_event(response):
            return Split(message)
        return [Failed(message)] * count

    def error_message(self, response: httpx2.Response) -> str:
        """OpenAI's ``{"error": {"message", "type", "param", "code"}}``, or a validation ``detail`` list."""
        error = _error(response)
        if error is not None:
            words = [f"{key} {error[key]}" for key in ("type", "code", "param") if error.get(key)]
            text = f"OpenAI {', '.join(words)}: {error.get('message') or '(no message)'}"
        elif (details := _details(response)) is not None:
            text = "OpenAI validation: " + "; ".join(
                f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg', '')}" for d in details if isinstance(d, dict)
            )
        else:
            text = super().error_message(response)
        # Scrub before cutting, so a key cut in half at the limit cannot survive.
        return text.replace(self.api_key.value, "***") if self.api_key.value else text


def _error(response: httpx2.Response) -> dict[str, Any] | None:
    body = response_json(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _details(response: httpx2.Response) -> list[Any] | None:
    body = response_json(response)
    details = body.get("detail") if isinstance(body, dict) else None
    return details if isinstance(details, list) else None


def _about_an_event(response: httpx2.Response) -> bool:
    """Whether a refusal may be about one event's content. A refusal that names the query (``pid``) or another
    top-level argument would meet every half again: no split. One that names nothing may be either: split,
    which costs requests at worst, never a conversion."""
    error = _error(response)
    if error is not None:
        param = error.get("param")
        return not isinstance(param, str) or not param or param.startswith("events")
    details = _details(response)
    if details:
        places = [d.get("loc") for d in details if isinstance(d, dict)]
        return any(isinstance(loc, list) and "events" in loc for loc in places)
    return True


def _answer(response: httpx2.Response) -> str:
    body = response_json(response)
    return json.dumps(body)[:2000] if body is not None else ""


def _data(conversion: Conversion, shape: str) -> JSON:
    """The ``data`` object of the event's shape, money as integers in the currency's smallest unit."""
    currency = conversion.currency
    amount = minor_units(conversion.value, currency) if conversion.value is not None and currency else None
    data: JSON = {"type": shape}
    if amount is not None:
        data["amount"], data["currency"] = amount, currency
    if shape == "contents" and currency:
        contents = [
            without_empty(
                {
                    "id": item.id,
                    "name": item.name,
                    "content_type": "product",
                    "quantity": item.quantity,
                    "amount": minor_units(item.price, currency),  # the unit price
                    "currency": currency,
                }
            )
            for item in conversion.items
        ]
        if contents:
            data["contents"] = contents
    return data
