"""Whop conversions: ``POST {base_url}/conversions`` with a Bearer key.

Whop takes every event with the visitor's click ids, browser ids and UTMs in ``context`` and the customer
in plain text in ``user``. Its ``event_name`` is a short enum; anything else (a purchase, a view, a custom
event) travels as ``custom`` with ``custom_name``. ``event_id`` is Whop's dedup key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    iso_millis,
    json_number,
    only_one,
    response_json,
    without_empty,
)

if TYPE_CHECKING:
    from ..capture.models import Attribution
    from ..orders.conversion import Conversion

BASE_URL = "https://api.whop.com/api/v1"
SANDBOX_URL = "https://sandbox-api.whop.com/api/v1"

#: Whop's own ``event_name`` values.
WHOP_EVENTS = frozenset({"lead", "submit_application", "contact", "complete_registration", "schedule", "custom"})
ACTION_SOURCES = frozenset(
    {"email", "website", "app", "phone_call", "chat", "physical_store", "system_generated"}
    | {"business_messaging", "other"}
)
_WHOP_CURRENCY_LIST = """
    usd sgd inr aud brl cad dkk eur nok gbp sek chf hkd huf jpy mxn myr pln czk nzd aed eth ape cop
    ron thb bgn idr dop php try krw twd vnd pkr clp uyu ars zar dzd tnd mad kes kwd jod all xcd amd
    bsd bhd bob bam khr crc xof egp etb gmd ghs gtq gyd ils jmd mop mga mur mdl mnt nad ngn mkd omr
    pyg pen qar rwf sar rsd lkr tzs ttd uzs rub btc cny usdt
"""
#: The currencies Whop lists (lowercase). Others are left out of the body, value with them.
WHOP_CURRENCIES = frozenset(_WHOP_CURRENCY_LIST.split())
#: Canonical event → Whop ``event_name`` (or, when not one of Whop's, the ``custom_name``).
DEFAULT_EVENTS: Mapping[str, str] = CANONICAL_EVENTS
#: Captured URL parameters copied into ``context`` under the same name.
CONTEXT_PARAMS = (
    "gclid",
    "ig_sid",
    "ttclid",
    "ad_campaign_id",
    "ad_id",
    "ad_set_id",
)
CONTEXT_UTMS = ("utm_campaign", "utm_content", "utm_id", "utm_medium", "utm_source", "utm_term")


#: Whop's ``user`` fields and the customer form each one takes, in the order the payload lists them.
_USER_FIELDS = (
    # ``user_id``/``member_id`` are Whop's own ids (``user_...``): ours go in ``external_id``.
    ("external_id", identifiers.EXTERNAL_ID),
    ("email", identifiers.EMAIL),
    ("phone", identifiers.PHONE),
    ("first_name", identifiers.FIRST_NAME),
    ("last_name", identifiers.LAST_NAME),
    ("name", identifiers.FULL_NAME),
    ("birthdate", identifiers.BIRTHDATE),
    ("gender", identifiers.GENDER),
    ("city", identifiers.CITY),
    ("state", identifiers.STATE),
    ("postal_code", identifiers.POSTAL_CODE),
    ("country", identifiers.COUNTRY),
)


class Whop(Vendor):
    """Whop conversion API.

    Args:
        api_key: a company API key with the ``event:create`` permission.
        company_id: the ``biz_...`` id the events belong to.
        events: canonical event → Whop event name; leave an event out to not send it. ``"*"`` under
            ``"custom"`` sends custom events under their own ``custom_name``.
        action_source: where events originate (``website`` unless you report e.g. ``system_generated``).
        path, company_field: ``/conversions`` and ``company_id`` today; Whop's newer ``/events`` endpoint
            uses ``account_id``. Both configurable until that endpoint is settled.
    """

    name: ClassVar[str] = "whop"
    identifiers: tuple[Identifier, ...] = tuple(form for _, form in _USER_FIELDS)
    max_batch: int = 1
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        api_key: str | Secret,
        company_id: str,
        events: Mapping[str, str] = DEFAULT_EVENTS,
        action_source: str = "website",
        base_url: str = BASE_URL,
        path: str = "/conversions",
        company_field: str = "company_id",
        retry_ambiguous: bool = True,
    ) -> None:
        if action_source not in ACTION_SOURCES:
            raise ConfigurationError(f"action_source must be one of {sorted(ACTION_SOURCES)}")
        self.api_key = as_secret(api_key)
        self.company_id = company_id
        self.events = dict(events)
        self.action_source = action_source
        self.base_url = base_url.rstrip("/")
        self.path = "/" + path.lstrip("/")
        self.company_field = company_field
        self.retry_ambiguous = retry_ambiguous

    def check(self, conversion: Conversion) -> str | None:
        if event_label(conversion, self.events) is None:
            return f"event {conversion.event.value!r} is not configured for Whop"
        return None

    def payload(self, conversion: Conversion) -> JSON:
        label = event_label(conversion, self.events)
        body: JSON = {self.company_field: self.company_id}
        if label in WHOP_EVENTS and label != "custom":
            body["event_name"] = label
        else:
            body["event_name"] = "custom"
            body["custom_name"] = label
        body["action_source"] = self.action_source
        body["event_id"] = conversion.dedup_id
        body["event_time"] = iso_millis(conversion.event_time)
        currency = (conversion.currency or "").lower()
        if conversion.value is not None and currency in WHOP_CURRENCIES:
            body["currency"] = currency
            body["value"] = json_number(conversion.value)
        body.update(without_empty({"url": conversion.context.url, "referrer_url": conversion.context.referrer}))
        body.update(without_empty({"context": _context(conversion), "user": _user(conversion)}))
        return body

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        payload = only_one(payloads, self.name)
        return httpx2.Request(
            "POST",
            self.base_url + self.path,
            json=payload,
            headers={"Authorization": f"Bearer {self.api_key.value}", "Accept": "application/json"},
        )

    def error_message(self, response: httpx2.Response) -> str:
        # Whop's error shape is not on the conversion page: take the usual ``{"error": {"message"}}``,
        # ``{"message"}`` or ``{"error": "..."}``, else the raw text.
        data = response_json(response)
        if isinstance(data, dict):
            error: Any = data.get("error")
            for found in (error.get("message") if isinstance(error, dict) else error, data.get("message")):
                if isinstance(found, str) and found:
                    return found
        return super().error_message(response)


def _fbclid(attribution: Attribution) -> str | None:
    """The fbclid from the URL, else from the ``_fbc`` cookie (``fb.1.<ms>.<fbclid>``)."""
    fbclid = attribution.get("fbclid")
    if fbclid is None and (fbc := attribution.fbc) is not None:
        parts = fbc.split(".")
        fbclid = parts[3] if len(parts) >= 4 and parts[0] == "fb" else None
    return fbclid


def _context(conversion: Conversion) -> JSON:
    attribution = conversion.attribution
    fields: dict[str, str | None] = {
        "fbclid": _fbclid(attribution),
        "fbp": attribution.get("fbp"),
        "ga": attribution.get("ga"),
        "ttp": attribution.get("ttp"),
    }
    fields.update({key: attribution.get(key) for key in CONTEXT_PARAMS})
    utm = attribution.utm
    fields.update({key: utm.get(key) for key in CONTEXT_UTMS})
    fields["ip_address"] = conversion.context.ip
    fields["user_agent"] = conversion.context.user_agent
    return {key: value for key in _CONTEXT_ORDER if (value := fields[key])}  # sorted by name, blanks left out


#: Every key of ``context``, in the (sorted) order the payload lists them.
_CONTEXT_ORDER = tuple(
    sorted({"fbclid", "fbp", "ga", "ttp", *CONTEXT_PARAMS, *CONTEXT_UTMS, "ip_address", "user_agent"})
)


def _user(conversion: Conversion) -> JSON:
    fields = {"anonymous_id": conversion.attribution.get("wuid")}
    fields.update((key, form.of(conversion)) for key, form in _USER_FIELDS)
    return without_empty(fields)
