"""A strict fake of Google's OAuth token endpoint and of ``customers/{id}:uploadClickConversions`` and
``:uploadConversionAdjustments``.

Written from the reference (``google-ads-click-conversions.md``), it refuses what Google refuses: a missing
or unknown Bearer token (401), a missing developer token, unknown JSON fields, ``partialFailure`` not true,
more than 2,000 conversions; and per row, in an HTTP 200 with ``partialFailureError``: not exactly one click
id, both braids, a braid beside user identifiers, a malformed ``conversionDateTime``, an unknown conversion
action, user identifiers that are not one 64-lowercase-hex hash each, an order id already recorded. A gclid
starting with ``TOO_RECENT`` or ``UNPARSEABLE`` scripts those row errors. Everything accepted is recorded.
Adjustments find the conversion by its order id and are refused as Google refuses them: a restatement without a
value or a retraction with one, an adjustment dated before the conversion, after a retraction, or at a time
already used (``RESTATEMENT_ALREADY_EXISTS``) or older than the last restatement.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .google_fakes import ACCESS_TOKEN, CREDENTIALS, SCOPE, token_answer

VERSION = "v26"
REQUEST_FIELDS = {"conversions", "partialFailure", "validateOnly", "jobId", "debugEnabled"}
CONVERSION_FIELDS = {
    "gclid",
    "gbraid",
    "wbraid",
    "conversionAction",
    "conversionDateTime",
    "conversionValue",
    "currencyCode",
    "orderId",
    "userIdentifiers",
    "consent",
    "customVariables",
    "cartData",
    "externalAttributionData",
    "conversionEnvironment",
    "customerType",
}
ADJUSTMENT_FIELDS = {
    "gclidDateTimePair",
    "orderId",
    "conversionAction",
    "adjustmentDateTime",
    "adjustmentType",
    "restatementValue",
    "userIdentifiers",
    "userAgent",
}
RESTATEMENT_FIELDS = {"adjustedValue", "currencyCode"}
#: The rows field and the fields of each row, per upload method.
UPLOADS = {
    "uploadClickConversions": ("conversions", CONVERSION_FIELDS),
    "uploadConversionAdjustments": ("conversionAdjustments", ADJUSTMENT_FIELDS),
}
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")
HASH = re.compile(r"[0-9a-f]{64}")
CUSTOMER_ID = re.compile(r"\d{10}")


def failure(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/google.ads.googleads.{VERSION}.errors.GoogleAdsFailure", "errors": errors}


def request_error(status: int, name: str, message: str, family: str = "", code: str = "") -> JSONResponse:
    error: dict[str, Any] = {"code": status, "message": message, "status": name}
    if family:
        error["details"] = [failure([{"errorCode": {family: code}, "message": message}])]
    return JSONResponse({"error": error}, status_code=status, headers={"request-id": "fake-request"})


@dataclass
class FakeGoogle:
    """State of the fake: live tokens, recorded conversions, conversion actions that exist."""

    customer_id: str = "1234567890"
    actions: set[str] = field(default_factory=lambda: {"987654321"})
    expires_in: int = 3599
    live_tokens: set[str] = field(default_factory=set)
    issued: int = 0
    uploads: int = 0
    recorded: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(conversion action, order id or click key) → the conversion as accepted."""
    adjusted: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    """(conversion action, order id) → the adjustments accepted, in order."""

    def expire_tokens(self) -> None:
        """Every access token handed out so far stops working, as an hour-old one does."""
        self.live_tokens.clear()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/{version}/customers/{upload:path}", self.upload, methods=["POST"]),
            ]
        )

    async def token(self, request: Request) -> Response:
        status, body = token_answer(
            request.method,
            request.headers.get("content-type", ""),
            request.headers.get("authorization"),
            await request.body(),
        )
        if status == 200:
            self.issued += 1
            value = f"{ACCESS_TOKEN}{self.issued}"
            self.live_tokens.add(value)
            body = {"access_token": value, "expires_in": self.expires_in, "scope": SCOPE, "token_type": "Bearer"}
        return JSONResponse(body, status_code=status)

    async def upload(self, request: Request) -> Response:
        customer, _, method = request.path_params["upload"].partition(":")
        if request.path_params["version"] != VERSION or method not in UPLOADS:
            return request_error(404, "NOT_FOUND", "Method not found.")
        authorization = request.headers.get("authorization", "")
        if authorization.removeprefix("Bearer ") not in self.live_tokens or not authorization.startswith("Bearer "):
            return request_error(
                401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", "authenticationError",
                "OAUTH_TOKEN_EXPIRED" if authorization else "OAUTH_TOKEN_HEADER_INVALID",
            )  # fmt: skip
        if "developer-token" not in request.headers:
            return request_error(
                400, "INVALID_ARGUMENT", "Developer token missing.", "requestError", "DEVELOPER_TOKEN_PARAMETER_MISSING"
            )
        if request.headers["developer-token"] != CREDENTIALS["developer_token"]:
            return request_error(
                401, "UNAUTHENTICATED", "Bad developer token.", "authenticationError", "DEVELOPER_TOKEN_INVALID"
            )
        login = request.headers.get("login-customer-id")
        if not CUSTOMER_ID.fullmatch(customer) or (login is not None and not CUSTOMER_ID.fullmatch(login)):
            return request_error(400, "INVALID_ARGUMENT", "Invalid customer ID.", "requestError", "INVALID_CUSTOMER_ID")
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return request_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return request_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        rows_field, row_fields = UPLOADS[method]
        conversions = body.get(rows_field) if isinstance(body, dict) else None
        fields = (REQUEST_FIELDS - {"conversions"}) | {rows_field}
        unknown = sorted(set(body) - fields) if isinstance(body, dict) else ["(not an object)"]
        if not unknown and isinstance(conversions, list):
            unknown = sorted({k for c in conversions if isinstance(c, dict) for k in c} - row_fields)
        if unknown or not isinstance(conversions, list) or not all(isinstance(c, dict) for c in conversions):
            return request_error(
                400, "INVALID_ARGUMENT", f'Invalid JSON payload received. Unknown name "{unknown[:1]}"'
            )
        if body.get("partialFailure") is not True:
            return request_error(
                400, "INVALID_ARGUMENT", "Partial failure mode is required.", "partialFailureError",
                "PARTIAL_FAILURE_MODE_REQUIRED",
            )  # fmt: skip
        if not 1 <= len(conversions) <= 2000:
            return request_error(
                400, "INVALID_ARGUMENT", "Too many conversions.", "conversionUploadError",
                "TOO_MANY_CONVERSIONS_IN_REQUEST",
            )  # fmt: skip
        self.uploads += 1
        if method == "uploadConversionAdjustments":
            return self.adjustments(customer, conversions)
        return self.rows(customer, conversions)

    def adjustments(self, customer: str, adjustments: list[dict[str, Any]]) -> JSONResponse:
        """Restatements and retractions by order id, keyed by Google on their ``adjustmentDateTime``."""
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, adjustment in enumerate(adjustments):
            problem = self.adjustment_problem(customer, adjustment)
            if problem is None:
                key = (adjustment["conversionAction"], adjustment["orderId"])
                self.adjusted.setdefault(key, []).append(adjustment)
                echo = ("conversionAction", "adjustmentDateTime", "adjustmentType", "orderId")
                results.append({k: adjustment[k] for k in echo})
                continue
            family, code, where = problem
            results.append({})
            location = [{"fieldName": "conversion_adjustments", "index": index}, {"fieldName": where}]
            errors.append({"errorCode": {family: code}, "message": code, "location": {"fieldPathElements": location}})
        body: dict[str, Any] = {"results": results, "jobId": str(2**31 + self.uploads)}
        if errors:
            body["partialFailureError"] = {"code": 3, "message": errors[0]["message"], "details": [failure(errors)]}
        return JSONResponse(body, headers={"request-id": f"fake-{self.uploads}"})

    def adjustment_problem(self, customer: str, adjustment: dict[str, Any]) -> tuple[str, str, str] | None:
        kind, value = adjustment.get("adjustmentType"), adjustment.get("restatementValue")
        if kind not in ("RESTATEMENT", "RETRACTION"):
            return "fieldError", "REQUIRED", "adjustment_type"
        if (kind == "RESTATEMENT") != (value is not None) or (value is not None and set(value) - RESTATEMENT_FIELDS):
            return "conversionAdjustmentUploadError", "INVALID_ARGUMENT", "restatement_value"
        if "gclidDateTimePair" in adjustment and "orderId" in adjustment:
            return "conversionAdjustmentUploadError", "GCLID_DATE_TIME_PAIR_AND_ORDER_ID_BOTH_SET", "order_id"
        action = re.fullmatch(rf"customers/{customer}/conversionActions/(\d+)", str(adjustment.get("conversionAction")))
        if action is None or action.group(1) not in self.actions:
            return "conversionAdjustmentUploadError", "NO_CONVERSION_ACTION_FOUND", "conversion_action"
        at = str(adjustment.get("adjustmentDateTime"))
        if not DATE_TIME.fullmatch(at):
            return "dateError", "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET", "adjustment_date_time"
        original = self.recorded.get((adjustment["conversionAction"], str(adjustment.get("orderId"))))
        if original is None:
            return "conversionAdjustmentUploadError", "CONVERSION_NOT_FOUND", "order_id"
        if _instant(at) <= _instant(original["conversionDateTime"]):
            return "conversionAdjustmentUploadError", "ADJUSTMENT_PRECEDES_CONVERSION", "adjustment_date_time"
        before = self.adjusted.get((adjustment["conversionAction"], adjustment["orderId"]), [])
        if any(b["adjustmentType"] == "RETRACTION" for b in before):
            return "conversionAdjustmentUploadError", "CONVERSION_ALREADY_RETRACTED", "order_id"
        times = [_instant(b["adjustmentDateTime"]) for b in before if b["adjustmentType"] == "RESTATEMENT"]
        if kind == "RESTATEMENT" and _instant(at) in times:
            return "conversionAdjustmentUploadError", "RESTATEMENT_ALREADY_EXISTS", "adjustment_date_time"
        if kind == "RESTATEMENT" and any(_instant(at) < t for t in times):
            return "conversionAdjustmentUploadError", "MORE_RECENT_RESTATEMENT_FOUND", "adjustment_date_time"
        return None

    def rows(self, customer: str, conversions: list[dict[str, Any]]) -> JSONResponse:
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        seen_orders: set[str] = set()
        for index, conversion in enumerate(conversions):
            problem = self.row_problem(customer, conversion, seen_orders)
            if problem is None:
                key = (conversion["conversionAction"], conversion.get("orderId") or conversion.get("gclid", ""))
                self.recorded[key] = conversion
                echo = ("gclid", "gbraid", "wbraid", "conversionAction", "conversionDateTime", "userIdentifiers")
                results.append({k: conversion[k] for k in echo if k in conversion})
                continue
            family, code, where = problem
            results.append({})
            location = [{"fieldName": "conversions", "index": index}, {"fieldName": where}]
            errors.append({"errorCode": {family: code}, "message": code, "location": {"fieldPathElements": location}})
        body: dict[str, Any] = {"results": results, "jobId": str(2**31 + self.uploads)}
        if errors:
            body["partialFailureError"] = {"code": 3, "message": errors[0]["message"], "details": [failure(errors)]}
        return JSONResponse(body, headers={"request-id": f"fake-{self.uploads}"})

    def row_problem(
        self, customer: str, conversion: dict[str, Any], seen_orders: set[str]
    ) -> tuple[str, str, str] | None:
        clicks = [k for k in ("gclid", "gbraid", "wbraid") if conversion.get(k)]
        identifiers = conversion.get("userIdentifiers") or []
        if "gbraid" in clicks and "wbraid" in clicks:
            return "conversionUploadError", "GBRAID_WBRAID_BOTH_SET", "gbraid"
        if len(clicks) > 1 or (clicks and clicks[0] != "gclid" and identifiers):
            return "fieldError", "VALUE_MUST_BE_UNSET", clicks[-1]
        if not clicks and not identifiers:
            return "fieldError", "REQUIRED", "gclid"
        action = re.fullmatch(rf"customers/{customer}/conversionActions/(\d+)", str(conversion.get("conversionAction")))
        if action is None or action.group(1) not in self.actions:
            return "conversionUploadError", "NO_CONVERSION_ACTION_FOUND", "conversion_action"
        if not DATE_TIME.fullmatch(str(conversion.get("conversionDateTime"))):
            return "dateError", "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET", "conversion_date_time"
        currency = conversion.get("currencyCode")
        if currency is not None and not re.fullmatch(r"[A-Z]{3}", str(currency)):
            return "currencyCodeError", "UNSUPPORTED", "currency_code"
        if len(identifiers) > 5 or not all(_one_hash(i) for i in identifiers):
            return "conversionUploadError", "INVALID_USER_IDENTIFIER", "user_identifiers"
        gclid = str(conversion.get("gclid", ""))
        if gclid.startswith("TOO_RECENT"):
            return "conversionUploadError", "TOO_RECENT_EVENT", "gclid"
        if gclid.startswith("UNPARSEABLE"):
            return "conversionUploadError", "UNPARSEABLE_GCLID", "gclid"
        order = conversion.get("orderId")
        if order is not None:
            if order in seen_orders:
                return "conversionUploadError", "DUPLICATE_ORDER_ID", "order_id"
            seen_orders.add(order)
            if (conversion["conversionAction"], order) in self.recorded:
                return "conversionUploadError", "ORDER_ID_ALREADY_IN_USE", "order_id"
        return None


def _one_hash(identifier: Any) -> bool:
    """One identifier per entry (a oneof), a SHA-256 in lowercase hex."""
    if not isinstance(identifier, dict):
        return False
    keys = set(identifier) - {"userIdentifierSource"}
    return (
        len(keys) == 1
        and keys <= {"hashedEmail", "hashedPhoneNumber"}
        and bool(HASH.fullmatch(str(identifier[keys.pop()])))
    )


def _instant(text: str) -> datetime:
    """``yyyy-mm-dd hh:mm:ss+hh:mm`` as an aware moment."""
    return datetime.fromisoformat(text.replace(" ", "T"))
