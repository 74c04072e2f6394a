"""Connectly conversion events: ``POST {base_url}/external/v1/businesses/{business_id}/conversion_events``.

Connectly forwards a purchase (or a content view) to Meta's Conversions API for visitors who came from a
Click-to-WhatsApp ad. Such a landing carries ``cnct_tracking_id``, ``sendout_id``, ``ctwa_clid``, ``ad_id``
and ``attribution_source=meta_ctwa``; the first four go back verbatim, all from the same landing. One
event per call; ``payload.order_id`` is Connectly's and Meta's dedup key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2

from ..errors import ConfigurationError
from .base import (
    JSON,
    Secret,
    Vendor,
    as_secret,
    event_label,
    json_number,
    only_one,
    response_json,
    without_empty,
)

if TYPE_CHECKING:
    from ..capture.models import Attribution
    from ..orders.conversion import Conversion

BASE_URL = "https://api.connectly.ai"
CTWA_PARAMS = ("cnct_tracking_id", "sendout_id", "ctwa_clid", "ad_id")
CONNECTLY_EVENTS = frozenset({"Purchase", "ViewContent"})
DEFAULT_EVENTS: Mapping[str, str] = {"purchase": "Purchase", "view_content": "ViewContent"}


def ctwa_landing(attribution: Attribution) -> dict[str, str] | None:
    """The four Click-to-WhatsApp ids of the visitor's newest CTWA click, while it is in its window.

    Taken from one landing, never mixed across landings: a ``sendout_id`` from one ad with the ``ctwa_clid``
    of another would credit the wrong campaign (capture keeps them together with the click).
    """
    ids = _ctwa_ids(attribution)
    if ids is None or not all(ids.get(key) for key in CTWA_PARAMS):
        return None
    return {key: ids[key] for key in CTWA_PARAMS}


def _ctwa_ids(attribution: Attribution) -> dict[str, str] | None:
    click = attribution.click("ctwa_clid")
    return None if click is None else {**click.params, "ctwa_clid": click.value}


class Connectly(Vendor):
    """Connectly's conversion API for Click-to-WhatsApp ads.

    Args:
        api_key: the inbox API key (``X-API-KEY``); never expose it to the browser.
        business_id: the Connectly business id in the path.
        events: canonical event → ``Purchase`` or ``ViewContent`` (the only two Connectly accepts).
        content_type: ``payload.content_type`` for orders with line items.
    """

    name: ClassVar[str] = "connectly"
    max_batch: int = 1
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        api_key: str | Secret,
        business_id: str,
        events: Mapping[str, str] = DEFAULT_EVENTS,
        content_type: str = "product",
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
    ) -> None:
        if bad := sorted(set(events.values()) - CONNECTLY_EVENTS):
            raise ConfigurationError(f"Connectly accepts only Purchase and ViewContent events, not {bad}")
        self.api_key = as_secret(api_key)
        self.business_id = business_id
        self.events = dict(events)
        self.content_type = content_type
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous

    def check(self, conversion: Conversion) -> str | None:
        label = event_label(conversion, self.events)
        if label is None:
            return f"event {conversion.event.value!r} is not configured for Connectly"
        if label == "Purchase" and conversion.value is None:
            return "a Connectly Purchase needs value and currency"
        attribution = conversion.attribution
        ids = _ctwa_ids(attribution)
        if ids is None:
            return "the visitor did not come from a Click-to-WhatsApp ad (no ctwa_clid within its window)"
        if ctwa_landing(attribution) is None:
            missing = [key for key in CTWA_PARAMS if not ids.get(key)]
            return f"the Click-to-WhatsApp landing lacks {', '.join(missing) or 'a complete set of ids'}"
        return None

    def payload(self, conversion: Conversion) -> JSON:
        landing = ctwa_landing(conversion.attribution)
        if landing is None:  # ``check`` refuses such a conversion: payload is never asked for it
            raise ValueError("the conversion has no complete Click-to-WhatsApp landing")
        items = conversion.items
        order = conversion.order
        inner = {
            "currency": conversion.currency,
            "value": json_number(conversion.value) if conversion.value is not None else None,
            "order_id": order.id if order is not None else conversion.event_id,
            "content_type": self.content_type if items else None,
            "content_ids": [item.id for item in items],
            "num_items": sum(item.quantity for item in items) if items else None,
            "contents": [
                {"id": item.id, "quantity": item.quantity, "item_price": json_number(item.price)} for item in items
            ],
            # Unix seconds of the order itself, not of the send: the worker may send hours later.
            "event_time": int(conversion.event_time.timestamp()),
        }
        body: JSON = {
            "cnct_tracking_id": landing["cnct_tracking_id"],
            "event_name": event_label(conversion, self.events),
            "sendout_id": landing["sendout_id"],
            "attribution": {"meta_ctwa": {"ctwa_clid": landing["ctwa_clid"], "ad_id": landing["ad_id"]}},
            "payload": without_empty(inner),
        }
        return body

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        payload = only_one(payloads, self.name)
        return httpx2.Request(
            "POST",
            f"{self.base_url}/external/v1/businesses/{self.business_id}/conversion_events",
            json=payload,
            headers={"X-API-KEY": self.api_key.value, "Accept": "application/json"},
        )

    def error_message(self, response: httpx2.Response) -> str:
        # Connectly answers in Google's RPC style (``INVALID_ARGUMENT``), with Meta's verbatim message
        # when Meta refused the event: ``{"code", "message"}`` or ``{"error": {"status", "message"}}``.
        data = response_json(response)
        if isinstance(data, dict):
            error: Any = data.get("error") if isinstance(data.get("error"), dict) else data
            message, status = error.get("message"), error.get("status") or error.get("code")
            if isinstance(message, str) and message:
                return f"{status}: {message}" if isinstance(status, str) else message
        return super().error_message(response)
