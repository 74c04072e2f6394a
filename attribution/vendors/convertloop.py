"""ConvertLoop event logs: ``POST {base_url}/event_logs`` with HTTP Basic ``app_id:api_key``.

An event log names the event, identifies the ``person`` (``pid`` from ConvertLoop's ``dp_pid`` cookie,
``user_id`` or ``email``: at least one) and carries ``metadata``. Identifying the person inside the event
makes a separate ``/people`` call unnecessary.

ConvertLoop documents no dedup key, so a retried request may log the event twice (``has_dedup_key =
False``). Its own material spells the occurrence-time key three ways (``occured_at``, ``ocurred_at``,
``occurred_at``); which one the server reads is unconfirmed, so it is configurable.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2

from ..errors import ConfigurationError
from ..orders import identifiers
from ..orders.identifiers import Identifier
from .base import (
    CANONICAL_EVENTS,
    JSON,
    Secret,
    Vendor,
    as_secret,
    event_label,
    json_number,
    only_one,
    readable,
    response_json,
    without_empty,
)

if TYPE_CHECKING:
    from ..orders.conversion import Conversion

BASE_URL = "https://api.convertloop.co/v1"
OCCURRED_AT_KEYS = ("ocurred_at", "occured_at", "occurred_at")

#: Canonical event → ConvertLoop event name; custom events use their own ``custom_name`` (``"*"``).
DEFAULT_EVENTS: Mapping[str, str] = CANONICAL_EVENTS


def _iso_seconds(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    if moment.year >= 1000:  # isoformat pads a year to four digits, strftime does not: the same text from here on
        return moment.isoformat(timespec="seconds")[:-6] + "Z"  # without "+00:00"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ConvertLoop(Vendor):
    """ConvertLoop's REST API, one event log per request.

    Args:
        app_id, api_key: from ConvertLoop's Settings → Account (HTTP Basic user and password).
        events: canonical event → event name; leave an event out to not send it.
        occurred_at_key: the occurrence-time key (default ``ocurred_at``, as in ConvertLoop's reference
            prose and its Ruby and PHP clients).
        add_to_segments: segments every converting person joins.
    """

    name: ClassVar[str] = "convertloop"
    identifiers: tuple[Identifier, ...] = (
        identifiers.USER_ID,
        identifiers.EMAIL,
        identifiers.FIRST_NAME,
        identifiers.LAST_NAME,
        identifiers.PHONE,
    )
    max_batch: int = 1
    has_dedup_key: ClassVar[bool] = False

    def __init__(
        self,
        *,
        app_id: str,
        api_key: str | Secret,
        events: Mapping[str, str] = DEFAULT_EVENTS,
        occurred_at_key: str = "ocurred_at",
        add_to_segments: Sequence[str] = (),
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
    ) -> None:
        if occurred_at_key not in OCCURRED_AT_KEYS:
            raise ConfigurationError(f"occurred_at_key is one of {OCCURRED_AT_KEYS}")
        self.app_id = app_id
        self.api_key = as_secret(api_key)
        self.events = dict(events)
        self.occurred_at_key = occurred_at_key
        self.add_to_segments = list(add_to_segments)
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous

    def check(self, conversion: Conversion) -> str | None:
        if event_label(conversion, self.events) is None:
            return f"event {conversion.event.value!r} is not configured for ConvertLoop"
        if not _identity(conversion):
            return "ConvertLoop needs a pid (dp_pid cookie), an email in clear text or a user id"
        return None

    def payload(self, conversion: Conversion) -> JSON:
        person = {
            **_identity(conversion),
            "first_name": identifiers.FIRST_NAME.of(conversion),
            "last_name": identifiers.LAST_NAME.of(conversion),
            "phone": identifiers.PHONE.of(conversion),
            "add_to_segments": self.add_to_segments,
        }
        body: JSON = {
            "name": event_label(conversion, self.events),
            self.occurred_at_key: _iso_seconds(conversion.event_time),
            "person": without_empty(person),
            "metadata": _metadata(conversion),
        }
        return without_empty(body)

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        payload = only_one(payloads, self.name)
        user_pass = f"{self.app_id}:{self.api_key.value}".encode()
        return httpx2.Request(
            "POST",
            f"{self.base_url}/event_logs",
            json=payload,
            headers={
                "Authorization": "Basic " + base64.b64encode(user_pass).decode(),
                "Accept": "application/json",
            },
        )

    def error_message(self, response: httpx2.Response) -> str:
        # Undocumented error shape; Rails APIs answer ``{"error": "..."}``, ``{"message": "..."}`` or
        # ``{"errors": {...}}``.
        data = response_json(response)
        if isinstance(data, dict):
            for key in ("error", "message", "errors"):
                found: Any = data.get(key)
                if isinstance(found, str) and found:
                    return found
                if isinstance(found, dict | list) and found:
                    return readable(found)
        return super().error_message(response)


def _identity(conversion: Conversion) -> dict[str, str]:
    return without_empty(
        {
            "pid": conversion.attribution.get("dp_pid"),
            "user_id": identifiers.USER_ID.of(conversion),
            "email": identifiers.EMAIL.of(conversion),
        }
    )


def _metadata(conversion: Conversion) -> JSON:
    """Flat event attributes: the order, where the visitor came from (one touch) and the click ids."""
    order = conversion.order
    attribution = conversion.attribution
    source = attribution.source
    return without_empty(
        {
            "order_id": order.id if order is not None else None,
            "value": json_number(conversion.value) if conversion.value is not None else None,
            "currency": conversion.currency,
            "num_items": order.num_items if order is not None and order.items else None,
            **(source.utm if source is not None else {}),
            **attribution.click_ids,
            "channel": source.channel.value if source is not None else None,
            "referrer": source.referrer if source is not None else None,
        }
    )
