"""A strict fake of Microsoft Advertising's UET Conversions API (``POST /v1/{tagId}/events``), written from
``vendor-docs/microsoft-capi.md``.

What it refuses: a missing token or one not generated for this tag (401), a tag whose account Microsoft has not
enabled for the Conversions API (403), and with a 400 ``{"error": {"code", "message", "details": [{"index",
"propertyName", "errorMessage", "errorCode", "isWarning"}]}}`` for the whole request (``continueOnValidationError``
left false, as the library sends it): a body other than ``{"data": [...], "dataProvider"?,
"continueOnValidationError"?}``, 0 or more than 1,000 events, and any event breaking the reference's rules
(``eventType`` ``pageLoad``/``custom``, ``eventName`` for custom events, ``eventTime`` in Unix **seconds** and at
most 7 days old, ``eventSourceUrl`` for page loads, ``adStorageConsent`` ``G``/``D``, a ``userData`` with at least
one identifier, ``msclkid`` 32 hex characters (never the cookie's ``_uet`` prefix), ``em``/``ph`` lowercase hex
SHA-256, a real IP, ``customData.value`` a number and ``currency`` ISO 4217). The reference lists each object's
fields; a field outside those lists is refused too (the shapes are Unconfirmed: this keeps a misspelt key from
passing silently). A good request: ``200 {"eventsReceived": N}`` with an ``x-ms-request-id`` header.

With ``continueOnValidationError: true`` the valid events are kept and the invalid ones reported (status 200).
Microsoft deduplicates a tag event and an API event on (``eventId``, ``eventName``): ``counted`` keeps one per
pair, ``received`` every event of every accepted request.
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

BODY_FIELDS = {"data", "dataProvider", "continueOnValidationError"}
EVENT_FIELDS = {
    "eventType",
    "eventName",
    "eventTime",
    "eventId",
    "eventSourceUrl",
    "referrerUrl",
    "pageTitle",
    "keywords",
    "pageLoadId",
    "adStorageConsent",
    "userData",
    "customData",
}
USER_FIELDS = {"msclkid", "em", "ph", "externalId", "anonymousId", "clientIpAddress", "clientUserAgent", "idfa", "gaid"}
IDENTIFYING = USER_FIELDS - {"clientUserAgent"}
CUSTOM_FIELDS = {
    "value",
    "currency",
    "transactionId",
    "eventCategory",
    "eventLabel",
    "eventValue",
    "searchTerm",
    "pageType",
    "ecommTotalValue",
    "ecommCategory",
    "itemIds",
    "items",
    "hotelData",
}
PAGE_TYPES = {"home", "category", "searchresults", "product", "cart", "purchase", "other"}
MSCLKID = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F-]{36}")
HEX64 = re.compile(r"[0-9a-f]{64}")
CURRENCY = re.compile(r"[A-Z]{3}")
DAY = 86_400


def problem(index: int, prop: str, message: str, code: str = "InvalidValue") -> dict[str, Any]:
    return {"index": index, "propertyName": prop, "errorMessage": message, "errorCode": code, "isWarning": False}


@dataclass
class FakeMicrosoft:
    """One UET tag, its Conversions API token, and whether Microsoft enabled the account."""

    tag_id: str = "343123456"
    token: str = "uet-capi-token-0123456789"
    enabled: bool = True
    clock: Callable[[], float] = time.time
    received: list[dict[str, Any]] = field(default_factory=list)
    counted: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    providers: list[str | None] = field(default_factory=list)
    requests: int = 0
    script: list[tuple[int, dict[str, Any] | None, dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/{tag_id}/events", self.events, methods=["POST"])])

    async def events(self, request: Request) -> JSONResponse:
        self.requests += 1
        if self.script:
            status, body, headers = self.script.pop(0)
            return JSONResponse(body, status, headers=headers)
        authorization = request.headers.get("authorization", "")
        tag = request.path_params["tag_id"]
        if not authorization.startswith("Bearer ") or authorization.removeprefix("Bearer ") != self.token:
            return _error(401, "Unauthorized", "The API token is missing, invalid or not issued for this UET tag.")
        if tag != self.tag_id:
            return _error(401, "Unauthorized", "The API token is not issued for this UET tag.")
        if not self.enabled:
            return _error(403, "Forbidden", "The Conversions API is not enabled for this account.")
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _error(415, "UnsupportedMediaType", "Content-Type must be application/json.")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "InvalidRequest", "The request body is not valid JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("data"), list) or set(body) - BODY_FIELDS:
            unknown = sorted(set(body) - BODY_FIELDS) if isinstance(body, dict) else []
            return _error(400, "InvalidRequest", f'The body must be {{"data": [...]}}; unknown: {unknown}')
        events = body["data"]
        if not 1 <= len(events) <= 1000:
            return _error(400, "InvalidRequest", "data must hold 1 to 1000 events.")
        details = [d for index, event in enumerate(events) for d in self.event_problems(index, event)]
        keep_going = body.get("continueOnValidationError") is True
        if details and not keep_going:
            return _error(400, "InvalidEvents", "One or more events failed validation.", details)
        bad = {d["index"] for d in details}
        accepted = [event for index, event in enumerate(events) if index not in bad]
        self.providers.append(body.get("dataProvider"))
        for event in accepted:
            self.received.append(event)
            self.counted.setdefault((str(event.get("eventName")), str(event.get("eventId"))), event)
        answer: dict[str, Any] = {"eventsReceived": len(accepted)}
        if details:
            answer["error"] = {"code": "InvalidEvents", "message": "Some events were dropped.", "details": details}
        return JSONResponse(answer, headers={"x-ms-request-id": f"fake-{self.requests}"})

    def event_problems(self, index: int, event: Any) -> list[dict[str, Any]]:
        if not isinstance(event, dict):
            return [problem(index, "", "An event must be an object.")]
        found = [
            problem(index, key, "Unknown property.", "UnknownProperty") for key in sorted(set(event) - EVENT_FIELDS)
        ]
        kind = event.get("eventType")
        if kind not in ("pageLoad", "custom"):
            found.append(problem(index, "eventType", "eventType is required: pageLoad or custom."))
        if kind == "custom" and not (isinstance(event.get("eventName"), str) and event["eventName"]):
            found.append(problem(index, "eventName", "eventName is required for custom events."))
        if kind == "pageLoad" and not event.get("eventSourceUrl"):
            found.append(problem(index, "eventSourceUrl", "eventSourceUrl is required for pageLoad events."))
        when = event.get("eventTime")
        now = self.clock()
        if not isinstance(when, int) or isinstance(when, bool):
            found.append(problem(index, "eventTime", "eventTime is required, in Unix seconds."))
        elif when > now + 300:
            found.append(problem(index, "eventTime", "eventTime is in the future (milliseconds given?)."))
        elif when < now - 7 * DAY:
            found.append(problem(index, "eventTime", "eventTime is older than 7 days.", "EventTooOld"))
        if "eventId" in event and not isinstance(event["eventId"], str):
            found.append(problem(index, "eventId", "eventId must be a string."))
        if "adStorageConsent" in event and event["adStorageConsent"] not in ("G", "D"):
            found.append(problem(index, "adStorageConsent", "adStorageConsent must be G or D."))
        found += self.user_problems(index, event.get("userData"))
        if "customData" in event:
            found += self.custom_problems(index, event["customData"])
        return found

    def user_problems(self, index: int, user: Any) -> list[dict[str, Any]]:
        if not isinstance(user, dict) or not IDENTIFYING & set(user):
            return [problem(index, "userData", "userData needs at least one identifier.", "MissingUserData")]
        found = [
            problem(index, f"userData.{key}", "Unknown property.", "UnknownProperty")
            for key in sorted(set(user) - USER_FIELDS)
        ]
        if "msclkid" in user and not MSCLKID.fullmatch(str(user["msclkid"])):
            found.append(problem(index, "userData.msclkid", "msclkid is not a Microsoft click id."))
        for key in ("em", "ph"):
            if key in user and not HEX64.fullmatch(str(user[key])):
                found.append(problem(index, f"userData.{key}", f"{key} must be a lowercase hex SHA-256 hash."))
        if "clientIpAddress" in user:
            try:
                ipaddress.ip_address(str(user["clientIpAddress"]))
            except ValueError:
                found.append(problem(index, "userData.clientIpAddress", "clientIpAddress is not an IP address."))
        return found

    def custom_problems(self, index: int, custom: Any) -> list[dict[str, Any]]:
        if not isinstance(custom, dict):
            return [problem(index, "customData", "customData must be an object.")]
        found = [
            problem(index, f"customData.{key}", "Unknown property.", "UnknownProperty")
            for key in sorted(set(custom) - CUSTOM_FIELDS)
        ]
        value = custom.get("value")
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            found.append(problem(index, "customData.value", "value must be a number."))
        currency = custom.get("currency")
        if currency is not None and not (isinstance(currency, str) and CURRENCY.fullmatch(currency)):
            found.append(problem(index, "customData.currency", "currency must be an ISO 4217 code."))
        if "pageType" in custom and custom["pageType"] not in PAGE_TYPES:
            found.append(problem(index, "customData.pageType", f"pageType must be one of {sorted(PAGE_TYPES)}."))
        items = custom.get("items", [])
        if not isinstance(items, list) or not all(isinstance(item, dict) and "id" in item for item in items):
            found.append(problem(index, "customData.items", "items must be objects with an id."))
        return found


def _error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers={"x-ms-request-id": "fake-error"})
