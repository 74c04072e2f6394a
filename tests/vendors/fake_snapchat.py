"""A strict fake of Snap's Conversions API v3 (``POST /v3/{pixel_id}/events`` and ``/events/validate``),
written from ``vendor-docs/snapchat-capi.md``.

The token travels as ``?access_token=``. Each event is checked as Snap's validator checks it: the required
fields (``event_name`` from Snap's upper-case list, ``event_time``, ``action_source``, ``event_source_url``
for web), a PURCHASE with its value and currency, a valid IP, a timestamp within 37 days, hashed PII, and
enough PII to match (email, phone, mobile id, or IP with user agent). One bad event refuses the whole
request, answered ``400 {"status": "INVALID", "reason", "event": <its index>, "errors": {...}}`` (the shape of
Snap's SDK). ``/validate`` answers per event and records nothing. Accepted events are kept by ``event_id``.
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

EVENT_NAMES = {
    "PURCHASE",
    "SIGN_UP",
    "PAGE_VIEW",
    "VIEW_CONTENT",
    "ADD_CART",
    "START_CHECKOUT",
    "ADD_BILLING",
    "SEARCH",
    "SUBSCRIBE",
    "START_TRIAL",
    "RESERVE",
    "SAVE",
    "LIST_VIEW",
    "ADD_TO_WISHLIST",
    "LOGIN",
    "SHARE",
    "INVITE",
    "RATE",
    "AD_CLICK",
    "AD_VIEW",
    "COMPLETE_TUTORIAL",
    "LEVEL_COMPLETE",
    "ACHIEVEMENT_UNLOCKED",
    "SPENT_CREDITS",
    "APP_INSTALL",
    "APP_OPEN",
    *(f"CUSTOM_EVENT_{n}" for n in range(1, 6)),
}
ACTION_SOURCES = {"WEB", "MOBILE_APP", "OFFLINE"}
HASHED = ("em", "ph", "fn", "ln", "ge", "ct", "st", "zp", "country", "db", "external_id")
RAW = ("client_ip_address", "client_user_agent", "sc_click_id", "sc_cookie1", "madid", "idfv")
SHA256 = re.compile(r"[0-9a-f]{64}")
DAY = 86_400


class Invalid(Exception):
    def __init__(self, index: int, code: str, message: str) -> None:
        super().__init__(message)
        self.index, self.code, self.message = index, code, message

    def log(self) -> dict[str, Any]:
        return {
            "event": self.index,
            "status": "INVALID",
            "errors": {"codes": [self.code], "error_msgs": [self.message]},
        }


@dataclass
class FakeSnapchat:
    token: str
    pixel_id: str
    clock: Callable[[], float] = time.time
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every event of every accepted (non-test) request, repeats included."""
    requests: int = 0
    validated: list[dict[str, Any]] = field(default_factory=list)
    #: Answers to give before validating: (status, body, headers).
    script: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/{version}/{pixel}/events", self.events, methods=["POST"]),
                Route("/{version}/{pixel}/events/validate", self.validate, methods=["POST"]),
            ]
        )

    async def _read(self, request: Request) -> list[dict[str, Any]] | JSONResponse:
        self.requests += 1
        if self.script:
            status, body, headers = self.script.pop(0)
            return JSONResponse(body, status, headers=headers)
        if request.path_params["version"] != "v3":
            return JSONResponse({"status": "INVALID", "reason": "Unknown API version"}, 404)
        if request.query_params.get("access_token") != self.token:
            return JSONResponse({"status": "INVALID", "reason": "Unauthorized: the access token is invalid"}, 401)
        if request.path_params["pixel"] != self.pixel_id:
            return JSONResponse({"status": "INVALID", "reason": "The token may not send events for this pixel"}, 403)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"status": "INVALID", "reason": "Request body is not valid JSON"}, 400)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not 1 <= len(data) <= 2000:
            return JSONResponse({"status": "INVALID", "reason": "data must hold 1 to 2000 events"}, 400)
        return data

    async def events(self, request: Request) -> JSONResponse:
        data = await self._read(request)
        if isinstance(data, JSONResponse):
            return data
        for index, event in enumerate(data):
            try:
                self.check(index, event)
            except Invalid as invalid:  # all or nothing: the first bad event refuses the request
                reason = f"Invalid event: {invalid.message}"
                return JSONResponse({"status": "INVALID", "reason": reason, **invalid.log()}, 400)
        for event in data:
            self.received.append(event)
            self.accepted.setdefault(event["event_id"], event)
        return JSONResponse({"status": "VALID", "reason": f"{len(data)} events received"})

    async def validate(self, request: Request) -> JSONResponse:
        data = await self._read(request)
        if isinstance(data, JSONResponse):
            return data
        logs: list[dict[str, Any]] = []
        for index, event in enumerate(data):
            try:
                self.check(index, event)
                logs.append({"event": index, "status": "VALID", "warnings": []})
            except Invalid as invalid:
                logs.append(invalid.log())
        self.validated.extend(data)
        valid = all(entry["status"] == "VALID" for entry in logs)
        answer = {"status": "VALID" if valid else "INVALID", "test_event": True, "reason": "", "event_logs": logs}
        return JSONResponse(answer, 200 if valid else 400)

    def check(self, index: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise Invalid(index, "INVALID_EVENT", "event is not an object")
        for key in ("event_name", "event_time", "action_source"):
            if key not in event:
                raise Invalid(index, "MISSING_REQUIRED_FIELD", f"{key} is required")
        if event["event_name"] not in EVENT_NAMES:
            raise Invalid(index, "INVALID_EVENT_NAME", f"event_name {event['event_name']!r} is not a Snap event")
        if event["action_source"] not in ACTION_SOURCES:
            raise Invalid(index, "INVALID_ACTION_SOURCE", "action_source must be WEB, MOBILE_APP or OFFLINE")
        when = event["event_time"]
        if not isinstance(when, int) or isinstance(when, bool):
            raise Invalid(index, "INVALID_TIMESTAMP", "event_time must be a Unix time")
        seconds = when / 1000 if when > 10**11 else when  # Snap reads seconds or milliseconds
        now = self.clock()
        if not now - 37 * DAY <= seconds <= now + 3600:
            raise Invalid(index, "TIMESTAMP_OUT_OF_RANGE", "event_time is out of range (older than 37 days?)")
        if event["action_source"] == "WEB" and not str(event.get("event_source_url", "")).startswith("http"):
            raise Invalid(index, "MISSING_REQUIRED_FIELD", "event_source_url is required for WEB events")
        if "event_id" in event and not isinstance(event["event_id"], str):
            raise Invalid(index, "INVALID_EVENT_ID", "event_id must be a string")
        custom = event.get("custom_data", {})
        if event["event_name"] == "PURCHASE":
            value, currency = custom.get("value"), custom.get("currency")
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise Invalid(index, "MISSING_PRICE", "PURCHASE events need custom_data.value")
            if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
                raise Invalid(index, "MISSING_CURRENCY", "PURCHASE events need custom_data.currency (ISO 4217)")
        options = event.get("data_processing_options")
        if options is not None and (not isinstance(options, list) or not set(options) <= {"LDU"}):
            raise Invalid(index, "INVALID_DATA_PROCESSING_OPTIONS", "data_processing_options must be [] or ['LDU']")
        self.check_user(index, event.get("user_data"))

    def check_user(self, index: int, user: Any) -> None:
        if not isinstance(user, dict):
            raise Invalid(index, "INSUFFICIENT_PII", "user_data is required")
        for key in HASHED:
            if key in user:
                values = user[key] if isinstance(user[key], list) else [user[key]]
                if not values or not all(isinstance(v, str) and SHA256.fullmatch(v) for v in values):
                    raise Invalid(index, "UNHASHED_PII", f"user_data.{key} must be SHA-256 hashed")
        for key in RAW:
            if key in user and not isinstance(user[key], str):
                raise Invalid(index, "INVALID_FIELD", f"user_data.{key} must be a string")
        if "client_ip_address" in user:
            try:
                ipaddress.ip_address(user["client_ip_address"])
            except ValueError:
                raise Invalid(index, "INVALID_IP", "user_data.client_ip_address is not a valid IP address") from None
        ip_and_agent = "client_ip_address" in user and "client_user_agent" in user
        if not ("em" in user or "ph" in user or "madid" in user or ip_and_agent):
            raise Invalid(index, "INSUFFICIENT_PII", "not enough PII to match: email, phone, madid or IP + user agent")
