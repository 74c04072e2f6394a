"""A strict fake of Reddit's Conversions API v3 (``POST /api/v3/pixels/{pixel_id}/conversion_events``), written
from ``vendor-docs/reddit-capi.md`` (Reddit's own OpenAPI document).

What it refuses, as Reddit does: a missing or wrong Bearer token (401), a token without access to the pixel
(403), an unknown pixel (404), a generic User-Agent (429: Reddit throttles ``python-httpx``, ``Python-urllib``,
``curl``... hard), and with a 400 ``{"error": {"code", "message", "fields": [{"field", "message"}]}}`` for the
whole request: a body other than ``{"data": {"events": [...], "test_id"?}}`` (no other keys: the schema's
``additionalProperties: false``), 0 or more than 1,000 events, and any event breaking the schema
(``event_at`` in milliseconds and at most 7 days old, ``action_source`` and ``tracking_type`` enums, a CUSTOM
event's name, ``event_source_url`` only on WEBSITE events, a ``value`` that is a number, an ISO currency, hashed
keys as lowercase hex when they look hashed, ``data_processing_options``). A good request is answered
``200 {"data": {"message": "Successfully processed N conversion events."}}``.

Reddit deduplicates on ``metadata.conversion_id`` within an event type: ``counted`` keeps one event per
(type, conversion id), ``received`` every event of every accepted request.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ACTION_SOURCES = {"WEBSITE", "APP", "PHYSICAL_STORE", "OTHER"}
TRACKING_TYPES = {
    "PAGE_VISIT",
    "VIEW_CONTENT",
    "SEARCH",
    "ADD_TO_CART",
    "ADD_TO_WISHLIST",
    "PURCHASE",
    "LEAD",
    "SIGN_UP",
    "CUSTOM",
}
HEX64 = re.compile(r"[0-9a-f]{64}")
LOOKS_HASHED = re.compile(r"[0-9a-fA-F]{64}")
CURRENCY = re.compile(r"[A-Z]{3}")
E164 = re.compile(r"\+[1-9]\d{6,14}")
GENERIC_AGENTS = ("python-httpx", "python-requests", "python-urllib", "java", "curl", "go-http-client", "okhttp")
DAY_MS = 86_400_000


def error(status: int, message: str, fields: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": status, "message": message}
    if fields:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status)


@dataclass
class FakeReddit:
    """One pixel and the Conversion Access Token that may write to it."""

    token: str = "rdt-conversion-access-token-0123"
    pixel_id: str = "a2_fakepixel01"
    other_pixels: set[str] = field(default_factory=lambda: {"a2_someoneelse"})
    clock: Callable[[], float] = time.time
    received: list[dict[str, Any]] = field(default_factory=list)
    counted: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    test_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
    requests: int = 0
    script: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/api/v3/pixels/{pixel_id}/conversion_events", self.conversion_events, methods=["POST"])]
        )

    async def conversion_events(self, request: Request) -> JSONResponse:
        self.requests += 1
        agent = request.headers.get("user-agent", "")
        self.user_agents.append(agent)
        if self.script:
            status, body, headers = self.script.pop(0)
            return JSONResponse(body, status, headers=headers)
        if not agent or agent.lower().startswith(GENERIC_AGENTS):
            return error(429, "Too Many Requests: use a unique and descriptive User-Agent")
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer ") or authorization.removeprefix("Bearer ") != self.token:
            return error(401, "Unauthorized: the access token is missing or invalid")
        pixel = request.path_params["pixel_id"]
        if pixel in self.other_pixels:
            return error(403, "Forbidden: the access token does not have permission for this pixel")
        if pixel != self.pixel_id:
            return error(404, "Not Found: no pixel with this id")
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return error(400, "invalid request: content type must be application/json")
        try:
            body = await request.json()
        except ValueError:
            return error(400, "invalid request: body is not JSON")
        fields = self.body_errors(body)
        if fields:
            return error(400, "invalid schema: the request does not match the conversion events schema", fields)
        data = body["data"]
        for event in data["events"]:
            if "test_id" in data:
                self.test_events.append((data["test_id"], event))
                continue
            self.received.append(event)
            kind = event["type"]["tracking_type"]
            name = event["type"].get("custom_event_name", "") if kind == "CUSTOM" else ""
            key = (f"{kind}:{name}", str(event.get("metadata", {}).get("conversion_id", "")))
            if key[1]:
                self.counted.setdefault(key, event)
            else:
                self.counted[(key[0], f"#{len(self.received)}")] = event
        count = len(data["events"])
        return JSONResponse({"data": {"message": f"Successfully processed {count} conversion events."}})

    def body_errors(self, body: Any) -> list[dict[str, str]]:
        if not isinstance(body, dict) or set(body) != {"data"} or not isinstance(body["data"], dict):
            return [{"field": "", "message": 'the body must be {"data": {...}} and nothing else'}]
        data = body["data"]
        found = [
            {"field": f"data.{key}", "message": "unknown field"} for key in sorted(set(data) - {"events", "test_id"})
        ]
        if "test_id" in data and not isinstance(data["test_id"], str):
            found.append({"field": "data.test_id", "message": "must be a string"})
        events = data.get("events")
        if not isinstance(events, list) or not 1 <= len(events) <= 1000:
            found.append(
                {
                    "field": "data.events",
                    "message": "the number of events must be beneath the maximum (1000) and at least 1",
                }
            )
            return found
        for index, event in enumerate(events):
            found += [
                {"field": f"data.events[{index}].{where}", "message": text} for where, text in self.event_errors(event)
            ]
        return found

    def event_errors(self, event: Any) -> list[tuple[str, str]]:
        if not isinstance(event, dict):
            return [("", "must be an object")]
        errors: list[tuple[str, str]] = []
        at = event.get("event_at")
        if not isinstance(at, int) or isinstance(at, bool):
            errors.append(("event_at", "is required, an integer of Unix epoch milliseconds"))
        else:
            now_ms = int(self.clock() * 1000)
            if at < now_ms - 7 * DAY_MS:
                errors.append(("event_at", "must be within the last 7 days (is it in seconds?)"))
            elif at > now_ms + 5 * 60_000:
                errors.append(("event_at", "must not be in the future"))
        source = event.get("action_source")
        if source not in ACTION_SOURCES:
            errors.append(("action_source", f"is required, one of {sorted(ACTION_SOURCES)}"))
        errors += _type_errors(event.get("type"))
        if "event_source_url" in event and source != "WEBSITE":
            errors.append(("event_source_url", "is only for WEBSITE events"))
        for key in ("click_id", "event_source_url", "referrer_url"):
            if key in event and not (isinstance(event[key], str) and event[key]):
                errors.append((key, "must be a non-empty string"))
        if "metadata" in event:
            errors += [(f"metadata.{w}", t) for w, t in _metadata_errors(event["metadata"])]
        if "user" in event:
            errors += [(f"user.{w}", t) for w, t in _user_errors(event["user"])]
        return errors


def _type_errors(kind: Any) -> list[tuple[str, str]]:
    if not isinstance(kind, dict) or kind.get("tracking_type") not in TRACKING_TYPES:
        return [("type.tracking_type", f"is required, one of {sorted(TRACKING_TYPES)}")]
    name = kind.get("custom_event_name")
    if kind["tracking_type"] == "CUSTOM" and not (isinstance(name, str) and 1 <= len(name) <= 64):
        return [("type.custom_event_name", "is required for CUSTOM events, 1 to 64 characters")]
    return []


def _metadata_errors(metadata: Any) -> list[tuple[str, str]]:
    if not isinstance(metadata, dict):
        return [("", "must be an object")]
    errors: list[tuple[str, str]] = []
    value = metadata.get("value")
    if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
        errors.append(("value", "must be a number"))
    currency = metadata.get("currency")
    if currency is not None and not (isinstance(currency, str) and CURRENCY.fullmatch(currency)):
        errors.append(("currency", "must be an ISO 4217 code"))
    count = metadata.get("item_count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
        errors.append(("item_count", "must be an integer"))
    for key in ("conversion_id", "order_id"):
        if key in metadata and not isinstance(metadata[key], str):
            errors.append((key, "must be a string"))
    products = metadata.get("products", [])
    if not isinstance(products, list) or not all(isinstance(p, dict) for p in products):
        errors.append(("products", "must be an array of objects"))
    return errors


def _user_errors(user: Any) -> list[tuple[str, str]]:
    if not isinstance(user, dict):
        return [("", "must be an object")]
    errors: list[tuple[str, str]] = []
    for key in ("email", "external_id"):
        value = user.get(key)
        if value is not None and LOOKS_HASHED.fullmatch(str(value)) and not HEX64.fullmatch(str(value)):
            errors.append((key, "a hashed value must be lowercase hex SHA-256"))
    phone = user.get("phone_number")
    if phone is not None and not (HEX64.fullmatch(str(phone)) or E164.fullmatch(str(phone))):
        errors.append(("phone_number", "must be E.164 or its SHA-256"))
    ip = user.get("ip_address")
    if ip is not None and not HEX64.fullmatch(str(ip)):
        try:
            ipaddress.ip_address(str(ip))
        except ValueError:
            errors.append(("ip_address", "must be an IP address or its SHA-256"))
    options = user.get("data_processing_options")
    if options is not None and not (isinstance(options, dict) and options.get("modes") == ["LDU"]):
        errors.append(("data_processing_options", 'modes must be ["LDU"]'))
    return errors
