"""A strict fake of OpenAI Ads' Conversions API (``POST /v1/events?pid=...``), written from
``vendor-docs/openai-ads-capi.md``.

What OpenAI's page states is enforced: the Bearer key, ``pid``, ``{"validate_only", "events"}`` with up to
1,000 events, each with ``id``, ``type`` and ``timestamp_ms`` (at most 7 days old, 10 minutes ahead),
``custom_event_name`` for custom events, ``source_url`` for web events, a ``data`` object of the type the
event takes with integer minor-unit amounts and a currency; and **one bad event fails the whole batch**.
Unknown keys are refused (so a sender mixing the older singular ``user`` names with the list names fails);
``user_fields`` picks the shape accepted (the later list form by default).

What OpenAI does not document is the project's assumption, stated here once: errors use OpenAI's usual
envelope ``{"error": {"message", "type", "param", "code"}}``, a bad event is answered 400 with ``param``
naming it (``events[3].timestamp_ms``), a bad key 401, a missing ``pid`` 422 naming ``('query', 'pid')``,
and success is ``{"accepted_events": n}``. Accepted events are kept by ``(type, id)``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DATA_TYPES = {
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
    "custom": "custom",
}
ACTION_SOURCES = {"web", "mobile_app", "offline", "physical_store", "phone_call", "email", "other"}
EVENT_FIELDS = {
    "id",
    "type",
    "timestamp_ms",
    "custom_event_name",
    "oppref",
    "source_url",
    "action_source",
    "user",
    "opt_out",
    "data",
}
HASHED_LISTS = {
    "emails_sha256",
    "phone_numbers_sha256",
    "external_ids_sha256",
    "first_names_sha256",
    "last_names_sha256",
}
RAW_LISTS = {"countries", "cities", "regions", "postal_codes"}
RAW_STRINGS = {"obref", "ip_address", "user_agent", "android_advertising_id"}
LIST_USER_FIELDS = frozenset(HASHED_LISTS | RAW_LISTS | RAW_STRINGS)
#: The mid-2026 page's singular names.
SINGULAR_USER_FIELDS = frozenset(
    {"email_sha256", "external_id_sha256", "country", "city", "zip_code", "ip_address", "user_agent", "obref"}
)
DATA_FIELDS = {
    "contents": {"type", "amount", "currency", "contents"},
    "customer_action": {"type", "amount", "currency"},
    "plan_enrollment": {"type", "amount", "currency", "plan_id"},
}
CONTENT_FIELDS = {"id", "name", "content_type", "quantity", "amount", "currency", "group_id", "variant_dict"}
CUSTOM_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?")
SHA256 = re.compile(r"[0-9a-f]{64}")
INTEGRATION_SOURCE = re.compile(r"[A-Za-z0-9._-]{1,64}")
DAY_MS = 86_400_000


class Refused(Exception):
    def __init__(self, message: str, param: str | None = None, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def envelope(status: int, message: str, kind: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class FakeOpenAIAds:
    api_key: str
    pixel_id: str
    user_fields: frozenset[str] = LIST_USER_FIELDS
    clock: Callable[[], float] = time.time
    accepted: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every event of every saved request, repeats included."""
    requests: int = 0
    validated: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    #: Answers to give before validating: (status, body, headers).
    script: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/events", self.events, methods=["POST"])])

    async def events(self, request: Request) -> JSONResponse:
        self.requests += 1
        if self.script:
            status, body, headers = self.script.pop(0)
            return JSONResponse(body, status, headers=headers)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return envelope(401, "Incorrect API key provided.", "invalid_request_error", None, "invalid_api_key")
        pid = request.query_params.get("pid")
        if pid is None:
            return JSONResponse(
                {"detail": [{"type": "missing", "loc": ["query", "pid"], "msg": "Field required"}]}, 422
            )
        if pid != self.pixel_id:
            return envelope(404, f"No pixel found with id '{pid}'.", "invalid_request_error", "pid", "not_found")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return envelope(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        try:
            events = self.validate(body)
        except Refused as refused:
            return envelope(400, refused.message, "invalid_request_error", refused.param, refused.code)
        self.bodies.append(body)
        if body.get("validate_only"):
            self.validated += len(events)
        else:
            for event in events:
                self.received.append(event)
                self.accepted.setdefault((event["type"], event["id"]), event)
        return JSONResponse({"accepted_events": len(events)})

    def validate(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict) or not set(body) <= {"validate_only", "events", "integration_source"}:
            raise Refused("Unrecognized request argument supplied.", None, "unknown_parameter")
        if not isinstance(body.get("validate_only", False), bool):
            raise Refused("validate_only must be a boolean.", "validate_only")
        if "integration_source" in body and not INTEGRATION_SOURCE.fullmatch(str(body["integration_source"])):
            raise Refused("integration_source must be 1-64 letters, digits, '.', '_' or '-'.", "integration_source")
        events = body.get("events")
        if not isinstance(events, list) or not 1 <= len(events) <= 1000:
            raise Refused("events must hold 1 to 1000 events.", "events")
        for index, event in enumerate(events):
            self.validate_event(f"events[{index}]", event)  # one bad event fails them all
        return events

    def validate_event(self, where: str, event: Any) -> None:
        if not isinstance(event, dict):
            raise Refused(f"{where} must be an object.", where)
        extra = sorted(set(event) - EVENT_FIELDS)
        if extra:
            raise Refused(f"Unrecognized field {where}.{extra[0]}.", f"{where}.{extra[0]}", "unknown_parameter")
        if not isinstance(event.get("id"), str) or not event["id"]:
            raise Refused(f"{where}.id is required.", f"{where}.id")
        kind = event.get("type")
        if kind not in DATA_TYPES:
            raise Refused(f"{where}.type {kind!r} is not a supported event.", f"{where}.type")
        stamp = event.get("timestamp_ms")
        if not isinstance(stamp, int) or isinstance(stamp, bool):
            raise Refused(f"{where}.timestamp_ms must be an integer (milliseconds).", f"{where}.timestamp_ms")
        now = int(self.clock() * 1000)
        if stamp < now - 7 * DAY_MS:
            raise Refused(f"{where}.timestamp_ms is more than 7 days in the past.", f"{where}.timestamp_ms")
        if stamp > now + 10 * 60_000:
            raise Refused(f"{where}.timestamp_ms is more than 10 minutes in the future.", f"{where}.timestamp_ms")
        name = event.get("custom_event_name")
        if kind == "custom":
            if not isinstance(name, str) or not CUSTOM_NAME.fullmatch(name) or name in DATA_TYPES:
                raise Refused(f"{where}.custom_event_name is invalid.", f"{where}.custom_event_name")
        elif name is not None:
            raise Refused(f"{where}.custom_event_name is only for custom events.", f"{where}.custom_event_name")
        source = event.get("action_source")
        if source is not None and source not in ACTION_SOURCES:
            raise Refused(f"{where}.action_source is not supported.", f"{where}.action_source")
        if source == "web" and not re.match(r"https?://", str(event.get("source_url", ""))):
            raise Refused(f"{where}.source_url is required for web events.", f"{where}.source_url")
        if "oppref" in event and not isinstance(event["oppref"], str):
            raise Refused(f"{where}.oppref must be a string.", f"{where}.oppref")
        if not isinstance(event.get("opt_out", False), bool):
            raise Refused(f"{where}.opt_out must be a boolean.", f"{where}.opt_out")
        if "user" in event:
            self.validate_user(f"{where}.user", event["user"])
        self.validate_data(f"{where}.data", DATA_TYPES[kind], event.get("data"))

    def validate_user(self, where: str, user: Any) -> None:
        if not isinstance(user, dict):
            raise Refused(f"{where} must be an object.", where)
        extra = sorted(set(user) - self.user_fields)
        if extra:
            raise Refused(f"Unrecognized field {where}.{extra[0]}.", f"{where}.{extra[0]}", "unknown_parameter")
        for key, value in user.items():
            if key in HASHED_LISTS:
                if (
                    not isinstance(value, list)
                    or not value
                    or not all(isinstance(v, str) and SHA256.fullmatch(v) for v in value)
                ):
                    raise Refused(f"{where}.{key} must be a list of SHA-256 hex digests.", f"{where}.{key}")
            elif key in RAW_LISTS:
                if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                    raise Refused(f"{where}.{key} must be a list of strings.", f"{where}.{key}")
            elif key.endswith("_sha256"):
                if not (isinstance(value, str) and SHA256.fullmatch(value)):
                    raise Refused(f"{where}.{key} must be a SHA-256 hex digest.", f"{where}.{key}")
            elif not isinstance(value, str):
                raise Refused(f"{where}.{key} must be a string.", f"{where}.{key}")
        if "ip_address" in user:
            try:
                ipaddress.ip_address(user["ip_address"])
            except ValueError:
                raise Refused(f"{where}.ip_address is not an IP address.", f"{where}.ip_address") from None

    def validate_data(self, where: str, kind: str, data: Any) -> None:
        if not isinstance(data, dict) or data.get("type") != kind:
            raise Refused(f"{where} must be an object of type {kind!r}.", f"{where}.type")
        if kind != "custom":
            extra = sorted(set(data) - DATA_FIELDS[kind])
            if extra:
                raise Refused(f"Unrecognized field {where}.{extra[0]}.", f"{where}.{extra[0]}", "unknown_parameter")
        if "amount" in data:
            if not _integer(data["amount"]) or data["amount"] < 0:
                raise Refused(f"{where}.amount must be an integer in the currency's minor unit.", f"{where}.amount")
            if not re.fullmatch(r"[A-Z]{3}", str(data.get("currency", ""))):
                raise Refused(f"{where}.currency is required with amount (ISO 4217).", f"{where}.currency")
        for index, item in enumerate(data.get("contents", []) if kind == "contents" else []):
            at = f"{where}.contents[{index}]"
            if not isinstance(item, dict):
                raise Refused(f"{at} must be an object.", at)
            extra = sorted(set(item) - CONTENT_FIELDS)
            if extra:
                raise Refused(f"Unrecognized field {at}.{extra[0]}.", f"{at}.{extra[0]}", "unknown_parameter")
            for key in ("quantity", "amount"):
                if key in item and not _integer(item[key]):
                    raise Refused(f"{at}.{key} must be an integer.", f"{at}.{key}")
            if "amount" in item and not re.fullmatch(r"[A-Z]{3}", str(item.get("currency", ""))):
                raise Refused(f"{at}.currency is required with amount.", f"{at}.currency")
