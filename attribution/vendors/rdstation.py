"""RD Station Marketing conversions: ``POST {base_url}/platform/conversions?api_key=<KEY>``.

A conversion creates or updates the contact (matched by email, which is required) and records one
conversion named by ``conversion_identifier``. That identifier is a *name*, not a dedup key: RD records
every call, so a request that timed out after RD processed it is recorded twice when retried. Hence
``has_dedup_key = False`` and ``retry_ambiguous`` is the operator's choice (at-least-once by default).

The key travels in the query string (RD's design): ``masked_url``, error messages and the HTTP client's
log lines mask it (``attribution.redact``), in case a proxy echoes the URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

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
    body_excerpt,
    event_label,
    only_one,
    response_json,
    without_empty,
)

if TYPE_CHECKING:
    from ..orders.conversion import Conversion

BASE_URL = "https://api.rd.services"

#: Canonical event → ``conversion_identifier``; custom events use their own ``custom_name`` (``"*"``).
DEFAULT_EVENTS: Mapping[str, str] = CANONICAL_EVENTS
#: RD's traffic fields, filled from the UTMs of the visitor's source touch (``Attribution.source``).
TRAFFIC_FIELDS = {
    "traffic_source": "utm_source",
    "traffic_medium": "utm_medium",
    "traffic_campaign": "utm_campaign",
    "traffic_value": "utm_term",
}


def tracking_id(rdtrk: str | None) -> str | None:
    """The id inside RD's ``_rdtrk`` cookie, which RD's script writes as (URL-encoded) ``{"id":"<uuid>"}``.

    A value that is not that JSON shape is passed through as it is.
    """
    if not rdtrk:
        return None
    try:
        data = json.loads(unquote(rdtrk))
    except ValueError:
        return rdtrk
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str) and found else rdtrk


class RDStation(Vendor):
    """RD Station Marketing conversion event, authenticated with a conversions-only API key.

    Args:
        api_key: the key from RD's integrations page (it can only send conversions).
        events: canonical event → ``conversion_identifier``; leave an event out to not send it.
        custom_fields: ``cf_`` fields to fill, ``{source: "cf_field"}``; the source is any captured
            parameter or identifier (``"utm_content"``, ``"gclid"``) or ``order_id``, ``value``,
            ``currency``, ``channel``. The fields must already exist in the RD account.
        tags, available_for_mailing, legal_bases: sent as given on every conversion.
        phone_field: ``personal_phone`` (RD's main phone) or ``mobile_phone``.
    """

    name: ClassVar[str] = "rdstation"
    identifiers: tuple[Identifier, ...] = (
        identifiers.EMAIL,
        identifiers.FULL_NAME,
        identifiers.PHONE,
        identifiers.CITY,
        identifiers.STATE,
        identifiers.COUNTRY,
    )
    max_batch: int = 1
    has_dedup_key: ClassVar[bool] = False

    def __init__(
        self,
        *,
        api_key: str | Secret,
        events: Mapping[str, str] = DEFAULT_EVENTS,
        custom_fields: Mapping[str, str] | None = None,
        tags: Sequence[str] = (),
        available_for_mailing: bool | None = None,
        legal_bases: Sequence[Mapping[str, str]] = (),
        phone_field: str = "personal_phone",
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
    ) -> None:
        fields = dict(custom_fields or {})
        if bad := [f for f in fields.values() if not f.startswith("cf_")]:
            raise ConfigurationError(f"RD custom fields start with 'cf_': {bad}")
        if phone_field not in ("personal_phone", "mobile_phone"):
            raise ConfigurationError("phone_field is 'personal_phone' or 'mobile_phone'")
        self.api_key = as_secret(api_key)
        self.events = dict(events)
        self.custom_fields = fields
        self.tags = list(tags)
        self.available_for_mailing = available_for_mailing
        self.legal_bases = [dict(b) for b in legal_bases]
        self.phone_field = phone_field
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous

    def check(self, conversion: Conversion) -> str | None:
        if event_label(conversion, self.events) is None:
            return f"event {conversion.event.value!r} is not configured for RD Station"
        if identifiers.EMAIL.of(conversion) is None:
            return "RD Station needs the customer's email (in clear text)"
        return None

    def payload(self, conversion: Conversion) -> JSON:
        attribution = conversion.attribution
        source = attribution.source  # UTMs and channel of one touch, never mixed
        utm = source.utm if source is not None else {}
        payload: JSON = {
            "conversion_identifier": event_label(conversion, self.events),
            "email": identifiers.EMAIL.of(conversion),
            "name": identifiers.FULL_NAME.of(conversion),
            self.phone_field: identifiers.PHONE.of(conversion),
            "city": identifiers.CITY.of(conversion),
            "state": identifiers.STATE.of(conversion),
            "country": identifiers.COUNTRY.of(conversion),
            **{field: utm.get(param) for field, param in TRAFFIC_FIELDS.items()},
            "client_tracking_id": tracking_id(attribution.get("rdtrk")),
            **{field: self._custom_value(conversion, source) for source, field in self.custom_fields.items()},
            "tags": self.tags,
            "available_for_mailing": self.available_for_mailing,
            "legal_bases": self.legal_bases,
        }
        return {"event_type": "CONVERSION", "event_family": "CDP", "payload": without_empty(payload)}

    @staticmethod
    def _custom_value(conversion: Conversion, source: str) -> str | None:
        own = {
            "order_id": conversion.order.id if conversion.order else None,
            "value": str(conversion.value) if conversion.value is not None else None,
            "currency": conversion.currency,
            "channel": touch.channel.value if (touch := conversion.attribution.source) is not None else None,
        }
        return own[source] if source in own else conversion.attribution.get(source)

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        payload = only_one(payloads, self.name)
        return httpx2.Request(
            "POST",
            f"{self.base_url}/platform/conversions",
            params={"api_key": self.api_key.value},
            json=payload,
            headers={"Accept": "application/json"},
        )

    def error_message(self, response: httpx2.Response) -> str:
        """RD's ``{"errors": [{"error_type", "error_message", "path"}]}`` (a dict of lists on older APIs)."""
        data = response_json(response)
        errors: Any = data.get("errors") if isinstance(data, dict) else None
        if isinstance(errors, dict):
            errors = [
                {**(e if isinstance(e, dict) else {"error_message": e}), "path": k}
                for k, v in errors.items()
                for e in (v if isinstance(v, list) else [v])
            ]
        if isinstance(errors, list) and errors:
            parts = []
            for error in errors:
                if isinstance(error, dict):
                    text = ": ".join(str(error[k]) for k in ("error_type", "error_message") if error.get(k))
                    parts.append(f"{text} ({error['path']})" if error.get("path") else text)
            message = "; ".join(p for p in parts if p)
        else:
            message = ""
        # Another shape (a proxy's page, a new error format): the body itself, which read_response redacts.
        return message or body_excerpt(response)
