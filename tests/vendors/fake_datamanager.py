"""A strict fake of Google's Data Manager API (``events:ingest``, ``requestStatus:retrieve``) and of Google's token
endpoint, written from ``google-data-manager.md`` and the API's protos.

What it refuses, as Google does:
- a missing, unknown or expired Bearer token (401 ``UNAUTHENTICATED``), a token without the datamanager scope
  (403 ``PERMISSION_DENIED``), a ``developer-token`` header is simply ignored (it is not part of the API);
- any unknown JSON field, at any depth (400 "Invalid JSON payload received. Unknown name ...", located at the
  object that holds it, as Google's JSON front end does), and values of the wrong JSON type;
- request-level errors: no destination or more than 10, an operating account that is not a Google Ads account the
  fake knows, an unknown conversion action, a login account that does not manage the operating account (403),
  no events or more than 2,000, ``encoding`` missing while ``userData`` is sent;
- **fast-fail**: every event is validated and if any fails, nothing is ingested and the 400 lists a
  ``fieldViolations[]`` entry per problem, located at ``events[i].<field>``: a missing ``transactionId`` or
  ``eventTimestamp``, a timestamp that is not RFC 3339 or is outside [now - 90 days, now + 10 minutes], a missing
  or unknown ``eventSource``, an unknown currency, user identifiers that are not one SHA-256 each in the request's
  encoding (hex or Base64), more than 10 of them, no identifier at all, two click ids or a braid beside
  ``userData`` (CHOICE: the reference leaves both unsettled), consent values that are not the enum's.
  ``refuse_numeric_transaction_id`` refuses a purely numeric ``transactionId`` at a bare ``events[i]``, as one
  live integration saw.

What it accepts is kept per (operating account, conversion action, ``transactionId``): a known id is a
restatement (value and currency overwritten, ``userData`` added only if the original had none). Processing is
simulated: a click id starting ``UNDECODABLE`` and an event whose ad user data is denied are dropped later with
Google's processing reasons, reported by ``requestStatus:retrieve`` once ``process()`` was called (``PROCESSING``
before). ``outage`` scripts whole answers (429, 503 with ``Retry-After``...) before any check.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from attribution.orders.conversion import ISO_4217

from .google_tokens import DATAMANAGER, TokenEndpoint

OPERATING_ACCOUNT = "1234567890"
MANAGER_ACCOUNT = "9876543210"
CONVERSION_ACTION = "987654321"
MAX_EVENTS = 2000
WINDOW = 90 * 86400
DOMAIN = "datamanager.googleapis.com"

# The message types of the request, field by field (lowerCamelCase, as REST JSON writes them). A nested dict is a
# message, a list around it a repeated message, ``str``/``num``/``int``/``bool``/``[str]`` scalar types, and
# ``"any"`` a message whose inside the fake does not check (fields the adapter never sends).
DEVICE = dict.fromkeys(
    [
        "userAgent",
        "ipAddress",
        "category",
        "languageCode",
        "screenHeight",
        "screenWidth",
        "operatingSystem",
        "operatingSystemVersion",
        "model",
        "brand",
        "browser",
        "browserVersion",
    ],
    "str",
)
ACCOUNT = {"product": "str", "accountId": "str", "accountType": "str"}
CONSENT = {"adUserData": "str", "adPersonalization": "str"}
ADDRESS = {"givenName": "str", "familyName": "str", "regionCode": "str", "postalCode": "str"}
USER_IDENTIFIER = {"emailAddress": "str", "phoneNumber": "str", "address": ADDRESS}
ITEM = {
    "merchantProductId": "str",
    "quantity": "int",
    "unitPrice": "num",
    "itemId": "str",
    "additionalItemParameters": "any",
}
EVENT = {
    "destinationReferences": ["str"],
    "transactionId": "str",
    "eventTimestamp": "str",
    "lastUpdatedTimestamp": "str",
    "userData": {"userIdentifiers": [USER_IDENTIFIER]},
    "consent": CONSENT,
    "adIdentifiers": {
        "sessionAttributes": "str",
        "gclid": "str",
        "gbraid": "str",
        "wbraid": "str",
        "landingPageDeviceInfo": DEVICE,
    },
    "currency": "str",
    "conversionValue": "num",
    "eventSource": "str",
    "eventDeviceInfo": DEVICE,
    "cartData": {
        "merchantId": "str",
        "merchantFeedLabel": "str",
        "merchantFeedLanguageCode": "str",
        "transactionDiscount": "num",
        "items": [ITEM],
    },
    "customVariables": [{"variable": "str", "value": "str", "destinationReferences": ["str"]}],
    "experimentalFields": "any",
    "userProperties": "any",
    "eventName": "str",
    "clientId": "str",
    "userId": "str",
    "additionalEventParameters": "any",
}
REQUEST = {
    "destinations": [
        {
            "reference": "str",
            "loginAccount": ACCOUNT,
            "linkedAccount": ACCOUNT,
            "operatingAccount": ACCOUNT,
            "productDestinationId": "str",
        }
    ],
    "events": [EVENT],
    "consent": CONSENT,
    "validateOnly": "bool",
    "encoding": "str",
    "encryptionInfo": "any",
}
EVENT_SOURCES = {"WEB", "APP", "IN_STORE", "PHONE", "MESSAGE", "OTHER"}
CONSENT_VALUES = {"CONSENT_GRANTED", "CONSENT_DENIED"}
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})")
HEX = re.compile(r"[0-9a-fA-F]+")


def status_error(
    code: int, status: str, message: str, reason: str = "", violations: list[dict[str, str]] | None = None
) -> JSONResponse:
    """Google's error model: ``{"error": {code, message, status, details: [BadRequest, ErrorInfo, RequestInfo]}}``."""
    details: list[dict[str, Any]] = []
    if violations:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations})
    if reason:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": DOMAIN, "metadata": {}}
        )
    details.append({"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "fake-error-request"})
    body = {"error": {"code": code, "message": message, "status": status, "details": details}}
    return JSONResponse(body, status_code=code)


def _unknown(value: Any, schema: Any, where: str) -> tuple[str, str] | None:
    """The first field the schema does not know, or the first value of the wrong JSON type: (where, message)."""
    if schema == "any":
        return None
    if isinstance(schema, list):
        if not isinstance(value, list):
            return where, f"Invalid value at '{where}', expected a list"
        for index, item in enumerate(value):
            found = _unknown(item, schema[0], f"{where}[{index}]")
            if found:
                return found
        return None
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return where, f"Invalid value at '{where}', expected an object"
        for key, item in value.items():
            if key not in schema:
                return where, f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
            found = _unknown(item, schema[key], f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    valid = {
        "str": isinstance(value, str),
        "num": isinstance(value, int | float) and not isinstance(value, bool),
        "int": (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit()),
        "bool": isinstance(value, bool),
    }[schema]
    return None if valid else (where, f"Invalid value at '{where}' ({schema}), {json.dumps(value)[:40]}")


@dataclass
class Ingested:
    """One accepted request: its events (with their destination), and what processing will make of each."""

    request_id: str
    destinations: list[dict[str, Any]]
    events: list[dict[str, Any]]
    reasons: list[str | None]
    processed: bool = False


@dataclass
class FakeDataManager:
    """The fake's state. ``tokens`` is the token endpoint served at ``/token``."""

    tokens: TokenEndpoint = field(default_factory=TokenEndpoint)
    accounts: dict[str, set[str]] = field(default_factory=lambda: {OPERATING_ACCOUNT: {CONVERSION_ACTION}})
    managers: dict[str, set[str]] = field(default_factory=lambda: {MANAGER_ACCOUNT: {OPERATING_ACCOUNT}})
    wall_clock: Callable[[], float] = time.time
    refuse_numeric_transaction_id: bool = False
    outage: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    """Whole answers to give first, one per ingest request: (status, headers)."""
    conversions: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    """(operating account, conversion action, transactionId) → the event as it stands now."""
    restatements: list[tuple[str, str, str]] = field(default_factory=list)
    requests: list[Ingested] = field(default_factory=list)
    calls: int = 0
    status_calls: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/v1/events:ingest", self.ingest, methods=["POST"]),
                Route("/v1/requestStatus:retrieve", self.retrieve, methods=["GET"]),
            ]
        )

    def expire_tokens(self) -> None:
        """Every access token handed out so far stops working, as an hour-old one does."""
        self.tokens.issued.clear()

    def process(self) -> None:
        """Google finished processing every request accepted so far."""
        for ingested in self.requests:
            ingested.processed = True

    async def token(self, request: Request) -> Response:
        status, body = self.tokens.answer(
            request.method,
            request.headers.get("content-type", ""),
            request.headers.get("authorization"),
            await request.body(),
        )
        return JSONResponse(body, status_code=status)

    def _auth(self, request: Request) -> Response | None:
        authorization = request.headers.get("authorization", "")
        scopes = self.tokens.issued.get(authorization.removeprefix("Bearer "))
        if not authorization.startswith("Bearer ") or scopes is None:
            return status_error(
                401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential."
            )  # fmt: skip
        if DATAMANAGER not in scopes.split():
            return status_error(
                403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.",
                "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            )  # fmt: skip
        return None

    async def ingest(self, request: Request) -> Response:
        self.calls += 1
        if self.outage:
            status, headers = self.outage.pop(0)
            name = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
            reply = status_error(status, name.get(status, "UNKNOWN"), "The service is currently unavailable.")
            reply.headers.update(headers)
            return reply
        refused = self._auth(request)
        if refused is not None:
            return refused
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return status_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", "INVALID_ARGUMENT")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return status_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.")
        unknown = _unknown(body, REQUEST, "")
        if unknown is not None:
            where, message = unknown
            return status_error(400, "INVALID_ARGUMENT", message, violations=[{"field": where, "description": message}])
        return self._validate(body)

    def _validate(self, body: dict[str, Any]) -> Response:
        destinations, events = body.get("destinations") or [], body.get("events") or []
        if not destinations:
            return _invalid([("destinations", "REQUIRED_FIELD_MISSING", "At least one destination is required.")])
        if len(destinations) > 10:
            return _invalid([("destinations", "TOO_MANY_DESTINATIONS", "At most 10 destinations.")])
        for index, destination in enumerate(destinations):
            problem = self._destination(destination, f"destinations[{index}]")
            if problem is not None:
                return problem
        references = [d.get("reference") for d in destinations if d.get("reference")]
        if len(references) != len(set(references)):
            return _invalid([("destinations", "DUPLICATE_DESTINATION_REFERENCE", "References must be unique.")])
        if not events:
            return _invalid([("events", "REQUIRED_FIELD_MISSING", "At least one event is required.")])
        if len(events) > MAX_EVENTS:
            return _invalid([("events", "TOO_MANY_EVENTS", f"At most {MAX_EVENTS} events per request.")])
        encoding = body.get("encoding")
        if any("userData" in event for event in events) and encoding is None:
            return _invalid([("encoding", "REQUIRED_FIELD_MISSING", "Encoding is required for user data.")])
        if encoding is not None and encoding not in ("HEX", "BASE64"):
            return _invalid([("encoding", "INVALID_ENUM_VALUE", "Invalid encoding.")])
        consent = body.get("consent") or {}
        violations = [
            (f"consent.{key}", "INVALID_ENUM_VALUE", "Invalid consent value.")
            for key, value in consent.items()
            if value not in CONSENT_VALUES
        ]
        for index, event in enumerate(events):
            violations += self._event(event, f"events[{index}]", encoding, set(references))
        if violations:
            return _invalid(violations)
        if body.get("validateOnly"):
            return JSONResponse({})  # CHOICE: errors only, and there are none
        return self._accept(destinations, events, consent)

    def _destination(self, destination: dict[str, Any], where: str) -> Response | None:
        operating = destination.get("operatingAccount") or {}
        kind = operating.get("accountType") or operating.get("product")
        if "accountType" in operating and "product" in operating and operating["accountType"] != operating["product"]:
            return _invalid([(f"{where}.operatingAccount", "INVALID_DESTINATION", "accountType and product differ.")])
        account = operating.get("accountId")
        if kind != "GOOGLE_ADS" or account not in self.accounts:
            return _invalid([(f"{where}.operatingAccount", "INVALID_DESTINATION", "Invalid operating account.")])
        if destination.get("productDestinationId") not in self.accounts[account]:
            return _invalid(
                [(f"{where}.productDestinationId", "INVALID_CONVERSION_ACTION_ID", "Conversion action not found.")]
            )
        login = destination.get("loginAccount")
        if login is not None and account not in self.managers.get(login.get("accountId"), set()):
            return status_error(
                403, "PERMISSION_DENIED", "The caller does not have permission.", "PERMISSION_DENIED"
            )  # fmt: skip
        return None

    def _event(
        self, event: dict[str, Any], where: str, encoding: str | None, references: set[str]
    ) -> list[tuple[str, str, str]]:
        found: list[tuple[str, str, str]] = []
        transaction = event.get("transactionId")
        if not transaction:
            found.append((f"{where}.transactionId", "REQUIRED_FIELD_MISSING", "transactionId is required."))
        elif self.refuse_numeric_transaction_id and transaction.isdigit():
            found.append((where, "INVALID_ARGUMENT", "Request contains an invalid argument."))
        found += self._timestamp(event.get("eventTimestamp"), f"{where}.eventTimestamp")
        if event.get("eventSource") not in EVENT_SOURCES:
            reason = "INVALID_ENUM_VALUE" if "eventSource" in event else "REQUIRED_FIELD_MISSING"
            found.append((f"{where}.eventSource", reason, "eventSource is required for Google Ads conversions."))
        unknown_references = set(event.get("destinationReferences") or []) - references
        if unknown_references:
            found.append((f"{where}.destinationReferences", "INVALID_ARGUMENT", "Unknown destination reference."))
        currency = event.get("currency")
        if currency is not None and currency not in ISO_4217:
            found.append((f"{where}.currency", "INVALID_CURRENCY_CODE", f"Currency code {currency!r} is not valid."))
        ads = event.get("adIdentifiers") or {}
        clicks = [key for key in ("gclid", "gbraid", "wbraid") if ads.get(key)]
        identifiers = (event.get("userData") or {}).get("userIdentifiers") or []
        if len(clicks) > 1:
            found.append((f"{where}.adIdentifiers", "INVALID_EVENT", "Only one click identifier may be set."))
        if clicks and clicks[0] != "gclid" and identifiers:
            found.append((f"{where}.adIdentifiers", "INVALID_EVENT", "A braid cannot be sent with user data."))
        if not clicks and not identifiers:
            found.append((where, "NO_IDENTIFIERS_PROVIDED", "The event has no ad or user identifier."))
        device = ads.get("landingPageDeviceInfo") or {}
        if "ipAddress" in device and not _ip(device["ipAddress"]):
            found.append((f"{where}.adIdentifiers.landingPageDeviceInfo.ipAddress", "INVALID_FORMAT", "Bad IP."))
        if "userData" in event and not 1 <= len(identifiers) <= 10:
            reason = "TOO_MANY_USER_IDENTIFIERS" if identifiers else "REQUIRED_FIELD_MISSING"
            found.append((f"{where}.userData.userIdentifiers", reason, "1 to 10 user identifiers."))
        for index, identifier in enumerate(identifiers):
            found += _identifier(identifier, f"{where}.userData.userIdentifiers[{index}]", encoding)
        for key, value in (event.get("consent") or {}).items():
            if value not in CONSENT_VALUES:
                found.append((f"{where}.consent.{key}", "INVALID_ENUM_VALUE", "Invalid consent value."))
        return found

    def _timestamp(self, value: Any, where: str) -> list[tuple[str, str, str]]:
        if not value:
            return [(where, "REQUIRED_FIELD_MISSING", "eventTimestamp is required.")]
        if not RFC3339.fullmatch(value):
            return [(where, "INVALID_FORMAT", "eventTimestamp is not an RFC 3339 timestamp.")]
        # Python reads at most microseconds: nanoseconds, which RFC 3339 allows, are cut to them.
        moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00")))
        now = self.wall_clock()
        if not now - WINDOW <= moment.timestamp() <= now + 600:
            return [(where, "EVENT_TIME_INVALID", "The event time is too old or in the future.")]
        return []

    def _accept(self, destinations: list[dict[str, Any]], events: list[dict[str, Any]], consent: Any) -> Response:
        request_id = f"dm-request-{len(self.requests) + 1}"
        reasons: list[str | None] = []
        for event in events:
            reason = _processing(event, consent)
            reasons.append(reason)
            targets = event.get("destinationReferences") or [d.get("reference") for d in destinations]
            for destination in destinations:
                if reason is None and (destination.get("reference") in targets or not destination.get("reference")):
                    self._record(destination, event)
        self.requests.append(Ingested(request_id, destinations, events, reasons))
        return JSONResponse({"requestId": request_id})

    def _record(self, destination: dict[str, Any], event: dict[str, Any]) -> None:
        key = (
            destination["operatingAccount"]["accountId"],
            destination["productDestinationId"],
            event["transactionId"],
        )
        held = self.conversions.get(key)
        if held is None:
            self.conversions[key] = dict(event)
            return
        # A restatement: value and currency overwritten, user data only where the original had none.
        self.restatements.append(key)
        for name in ("conversionValue", "currency"):
            if name in event:
                held[name] = event[name]
        if "userData" not in held and "userData" in event:
            held["userData"] = event["userData"]

    async def retrieve(self, request: Request) -> Response:
        self.status_calls += 1
        refused = self._auth(request)
        if refused is not None:
            return refused
        if set(request.query_params) != {"requestId"}:
            return status_error(400, "INVALID_ARGUMENT", "Invalid request.", "INVALID_ARGUMENT")
        found = next((r for r in self.requests if r.request_id == request.query_params["requestId"]), None)
        if found is None:
            return _invalid([("request_id", "INVALID_REQUEST_ID", "The request ID is not valid.")])
        statuses = []
        for destination in found.destinations:
            status: dict[str, Any] = {"destination": destination, "requestStatus": "PROCESSING"}
            if found.processed:
                counts: dict[str, int] = {}
                for reason in found.reasons:
                    if reason is not None:
                        counts[reason] = counts.get(reason, 0) + 1
                failed = sum(counts.values())
                status["requestStatus"] = (
                    "SUCCESS" if not failed else "FAILED" if failed == len(found.events) else "PARTIAL_SUCCESS"
                )
                if counts:
                    status["errorInfo"] = {
                        "errorCounts": [{"recordCount": str(n), "reason": reason} for reason, n in counts.items()]
                    }
            status["eventsIngestionStatus"] = {"recordCount": str(len(found.events))}
            statuses.append(status)
        return JSONResponse({"requestStatusPerDestination": statuses})


def _invalid(violations: list[tuple[str, str, str]]) -> JSONResponse:
    return status_error(
        400,
        "INVALID_ARGUMENT",
        "Request contains an invalid argument.",
        violations[0][1],
        [{"field": where, "description": description, "reason": reason} for where, reason, description in violations],
    )


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _hashed(value: Any, where: str, encoding: str | None) -> list[tuple[str, str, str]]:
    """A SHA-256 in the request's encoding. The description quotes the value, as a careless server might."""
    text = str(value)
    if encoding == "BASE64":
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return [(where, "INVALID_BASE64_ENCODING", f"The value {text!r} is not Base64-encoded.")]
    else:
        if not HEX.fullmatch(text) or len(text) % 2:
            return [(where, "INVALID_HEX_ENCODING", f"The value {text!r} is not hex-encoded.")]
        raw = bytes.fromhex(text)
    if len(raw) != 32:
        return [(where, "INVALID_SHA256_FORMAT", "The value is not a SHA-256 hash.")]
    return []


def _identifier(identifier: dict[str, Any], where: str, encoding: str | None) -> list[tuple[str, str, str]]:
    if len(identifier) != 1:
        return [(where, "INVALID_ARGUMENT", "Exactly one of emailAddress, phoneNumber or address.")]
    ((kind, value),) = identifier.items()
    if kind != "address":
        return _hashed(value, f"{where}.{kind}", encoding)
    found = [
        (f"{where}.address.{name}", "REQUIRED_FIELD_MISSING", f"{name} is required.")
        for name in ADDRESS
        if not value.get(name)
    ]
    for name in ("givenName", "familyName"):
        if value.get(name):
            found += _hashed(value[name], f"{where}.address.{name}", encoding)
    if value.get("regionCode") and not re.fullmatch(r"[A-Z]{2}", value["regionCode"]):
        found.append((f"{where}.address.regionCode", "INVALID_COUNTRY_CODE", "Invalid region code."))
    return found


def _processing(event: dict[str, Any], consent: Any) -> str | None:
    """The processing error Google reports later for an event it accepted, if any."""
    ads = event.get("adIdentifiers") or {}
    for key in ("gclid", "gbraid", "wbraid"):
        if str(ads.get(key, "")).startswith("UNDECODABLE"):
            return f"PROCESSING_ERROR_REASON_INVALID_{key.upper()}"
    own = (event.get("consent") or {}).get("adUserData") or (consent or {}).get("adUserData")
    if own == "CONSENT_DENIED":
        return "PROCESSING_ERROR_REASON_DENIED_CONSENT"
    return None
