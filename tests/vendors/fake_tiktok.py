"""A strict fake TikTok Events API 2.0 on 127.0.0.1, written from the reference in shared vendor docs.

It validates what TikTok's reference validates and answers the way TikTok does: HTTP 200 with a JSON
envelope whose non-zero ``code`` is the error. Events it accepted are kept by ``event_id`` (TikTok
deduplicates on it, so a repeat is counted once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

HEX64 = re.compile(r"[0-9a-f]{64}")
HASHED = ("email", "phone", "external_id")
ISO_CURRENCY = re.compile(r"[A-Z]{3}")


def envelope(code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "request_id": "20261122000000", "data": {}})


@dataclass
class FakeTikTok:
    token: str
    pixel_code: str
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    #: Codes to answer, one per request, before validating (a scripted outage or rate limit).
    script: list[int] = field(default_factory=list)

    def problem(self, event: Any) -> tuple[int, str] | None:
        """The envelope TikTok would answer for one bad event, or None when it is valid."""
        if not isinstance(event, dict):
            return 40002, "data item is not an object"
        if not isinstance(event.get("event"), str) or not event["event"]:
            return 40002, "event is required"
        event_time = event.get("event_time")
        if not isinstance(event_time, int) or not 10**9 < event_time < 10**10:
            return 40002, "event_time must be a unix timestamp in seconds"
        if not isinstance(event.get("event_id"), str):
            return 40002, "event_id must be a string"
        page = event.get("page")
        if not isinstance(page, dict) or not isinstance(page.get("url"), str):
            return 40002, "page.url is required for web events"
        user = event.get("user")
        if not isinstance(user, dict) or not user:
            return 40002, "user is required"
        for key in HASHED:
            if key in user and not HEX64.fullmatch(str(user[key])):
                return 40062, f"{key} must be hashed with SHA-256"
        properties = event.get("properties", {})
        if "value" in properties and not isinstance(properties["value"], int | float):
            return 40002, "properties.value must be a number"
        if "currency" in properties and not ISO_CURRENCY.fullmatch(str(properties["currency"])):
            return 40002, "properties.currency must be an ISO 4217 code"
        if not isinstance(event.get("limited_data_use", False), bool):
            return 40002, "limited_data_use must be a boolean"
        return None

    async def track(self, request: Request) -> JSONResponse:
        self.requests += 1
        if self.script:
            code = self.script.pop(0)
            return envelope(code, "scripted answer")
        if request.headers.get("access-token") != self.token:
            return envelope(40105, "Access token is invalid")
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return envelope(40002, "content type must be application/json")
        try:
            body = await request.json()
        except ValueError:
            return envelope(40002, "body is not JSON")
        if not isinstance(body, dict) or body.get("event_source") != "web":
            return envelope(40002, "event_source must be web")
        if body.get("event_source_id") != self.pixel_code:
            return envelope(40001, "No permission to operate pixel code")
        data = body.get("data")
        if not isinstance(data, list) or not 1 <= len(data) <= 1000:
            return envelope(40061, "data must hold 1 to 1000 events")
        if "test_event_code" in body and len(data) > 1:
            return envelope(40061, "test events cannot be batched")
        for event in data:
            if (found := self.problem(event)) is not None:
                return envelope(*found)  # all or nothing, as TikTok answers a bad batch
        for event in data:
            self.accepted.setdefault(event["event_id"], event)
        return envelope(0, "OK")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/open_api/v1.3/event/track/", self.track, methods=["POST"])])
