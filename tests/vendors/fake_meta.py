"""A strict fake of Meta's Conversions API endpoint, written from ``vendor-docs/meta-capi.md``.

A tiny ASGI app (run under uvicorn on 127.0.0.1 by the tests) that checks what Meta documents and answers
the way the Graph API does: ``200 {"events_received", "messages", "fbtrace_id"}``, or
``{"error": {"message", "type", "code", "error_subcode", "error_user_title", "error_user_msg", ...}}``.
One bad event refuses the whole request, as Meta does.
"""

from __future__ import annotations

import hashlib
import hmac
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

HASHED = ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country")
UNHASHED = ("client_ip_address", "client_user_agent", "fbc", "fbp", "external_id")
ACTION_SOURCES = {
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: ``fb.<subdomainIndex>.<creation ms>.<fbclid or random>`` with an optional 5th part (a builder's appendix).
_FB_COOKIE = re.compile(r"fb\.[0-9]\.[0-9]{13}\.[^.\s]+(\.[A-Za-z0-9_-]{2,8})?")
DAY = 86_400


class Refused(Exception):
    """An answer other than success: HTTP status and Graph error fields."""

    def __init__(self, status: int, code: int, message: str, subcode: int | None = None, user_msg: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.subcode, self.user_msg = status, code, message, subcode, user_msg

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException", "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.code in (1, 2)
        if self.user_msg:
            error["error_user_title"], error["error_user_msg"] = "Invalid event", self.user_msg
        error["fbtrace_id"] = "FakeTrace01"
        return {"error": error}


def invalid(user_msg: str, subcode: int = 2804001) -> Refused:
    return Refused(400, 100, "Invalid parameter", subcode, user_msg)


@dataclass
class FakeMeta:
    """The endpoint of one pixel. ``script`` holds answers to give before validating (transient errors)."""

    token: str
    pixel_id: str
    app_secret: str | None = None
    clock: Callable[[], float] = time.time
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every event of every accepted request, in order."""
    requests: int = 0
    script: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{version}/{pixel}/events", self.events, methods=["POST"])])

    async def events(self, request: Request) -> JSONResponse:
        self.requests += 1
        if self.script:
            status, body, headers = self.script.pop(0)
            return JSONResponse(body, status, headers=headers)
        try:
            data = self.validate(request, await request.body())
        except Refused as refused:
            return JSONResponse(refused.body(), refused.status)
        self.received.extend(data)
        return JSONResponse({"events_received": len(data), "messages": [], "fbtrace_id": "FakeTrace00"})

    def validate(self, request: Request, raw: bytes) -> list[dict[str, Any]]:
        if not re.fullmatch(r"v[0-9]+\.[0-9]+", request.path_params["version"]):
            raise Refused(400, 2500, "Unknown path components")
        token = request.query_params.get("access_token")
        if token != self.token:
            raise Refused(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.app_secret is not None:
            proof = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if request.query_params.get("appsecret_proof") != proof:
                raise Refused(400, 100, "Invalid appsecret_proof provided in the API argument")
        if request.path_params["pixel"] != self.pixel_id:
            raise Refused(400, 100, "Unsupported post request. Object does not exist", 33)
        try:
            body = json.loads(raw)
        except ValueError:
            raise invalid("The request body is not JSON") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not 1 <= len(data) <= 1000:
            raise invalid("data must be an array of 1 to 1000 events", 2804019)
        if "test_event_code" in body and not isinstance(body["test_event_code"], str):
            raise invalid("test_event_code must be a string")
        for index, event in enumerate(data):
            self.validate_event(index, event)
        return data

    def validate_event(self, index: int, event: Any) -> None:
        where = f"data[{index}]"
        if not isinstance(event, dict):
            raise invalid(f"{where} is not an object")
        name = event.get("event_name")
        if not isinstance(name, str) or not name:
            raise invalid(f"{where}.event_name is required")
        when = event.get("event_time")
        if not isinstance(when, int) or isinstance(when, bool):
            raise invalid(f"{where}.event_time must be a UNIX time in seconds")
        source = event.get("action_source")
        if source not in ACTION_SOURCES:
            raise invalid(f"{where}.action_source is required and must be one of {sorted(ACTION_SOURCES)}")
        now = self.clock()
        oldest = now - (62 if source == "physical_store" else 7) * DAY
        if when < oldest:
            raise invalid(f"{where}.event_time is too far in the past", 2804003)
        if when > now + 60:
            raise invalid(f"{where}.event_time is in the future (is it in milliseconds?)", 2804004)
        if "event_id" in event and not isinstance(event["event_id"], str):
            raise invalid(f"{where}.event_id must be a string")
        user = event.get("user_data")
        if not isinstance(user, dict) or not user:
            raise invalid(f"{where}.user_data needs at least one customer information parameter", 2804050)
        if source == "website" and not (event.get("event_source_url") and user.get("client_user_agent")):
            raise invalid(f"{where}: website events need event_source_url and client_user_agent")
        self.validate_user(where, user)
        custom = event.get("custom_data", {})
        if name == "Purchase":
            value, currency = custom.get("value"), custom.get("currency")
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise invalid(f"{where}.custom_data.value is required for purchase events (a number)")
            if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
                raise invalid(f"{where}.custom_data.currency is required for purchase events (ISO 4217)")
        options = event.get("data_processing_options")
        if options is not None:
            if not isinstance(options, list) or not set(options) <= {"LDU"}:
                raise invalid(f"{where}.data_processing_options must be [] or ['LDU']")
            if options and (
                event.get("data_processing_options_country") not in (0, 1)
                or event.get("data_processing_options_state") not in (0, 1000)
            ):
                raise invalid(f"{where}: LDU needs data_processing_options_country and _state")

    def validate_user(self, where: str, user: dict[str, Any]) -> None:
        known = set(HASHED) | set(UNHASHED)
        if not known & set(user):
            raise invalid(f"{where}.user_data needs at least one customer information parameter", 2804050)
        for key in HASHED:
            if key in user:
                values = user[key] if isinstance(user[key], list) else [user[key]]
                if not values or not all(isinstance(v, str) and _SHA256.fullmatch(v) for v in values):
                    raise invalid(f"{where}.user_data.{key} must be SHA-256 hashed (64 lowercase hex)", 2804022)
        for key in ("fbc", "fbp"):
            if key in user and not (isinstance(user[key], str) and _FB_COOKIE.fullmatch(user[key])):
                raise invalid(f"{where}.user_data.{key} must be the unhashed fb.<index>.<ms>.<value> cookie", 2804023)
        if "client_ip_address" in user:
            try:
                ipaddress.ip_address(user["client_ip_address"])
            except ValueError:
                raise invalid(f"{where}.user_data.client_ip_address is not an IP address (never hash it)") from None
