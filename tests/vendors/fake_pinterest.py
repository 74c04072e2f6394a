"""A strict fake of Pinterest's Conversions API (``POST /v5/ad_accounts/{id}/events``), written from
``vendor-docs/pinterest-capi.md``.

It refuses what the API description makes a 400 for the whole request: an unknown key in an event, in
``custom_data`` or in a ``contents`` item (Pinterest's own wording), a missing required field, a wrong type
(``value`` and ``item_price`` are strings, hashed fields arrays), a ``user_data`` with neither ``em`` nor IP
and user agent. What an event means is judged per event: an ``event_name`` Pinterest does not know, or a
hashed field that is no SHA-256 digest, fails that event alone, answered 422 "Not all events were
successfully processed" with the per-event list in ``details`` (``partial_status`` picks 200 instead, the
other shape the reference allows). ``?test=true`` validates without recording. Accepted events are kept by
``(event_name, event_id)``: Pinterest counts a repeat once.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

EVENT_NAMES = {
    "checkout",
    "add_to_cart",
    "add_to_wishlist",
    "add_payment_info",
    "initiate_checkout",
    "lead",
    "signup",
    "subscribe",
    "page_visit",
    "view_category",
    "view_content",
    "search",
    "watch_video",
    "app_install",
    "custom",
    # newer names Segment sends (not in the 5.23.0 description; accepted here, unsettled)
    "contact",
    "schedule",
    "submit_application",
    "start_trial",
    "app_open",
    "customize_product",
    "find_location",
}
ACTION_SOURCES = {"web", "offline", "app_android", "app_ios"}
EVENT_FIELDS = {
    "event_name",
    "action_source",
    "event_time",
    "event_id",
    "user_data",
    "event_source_url",
    "custom_data",
    "opt_out",
    "partner_name",
    "language",
    "app_id",
    "app_name",
    "app_version",
    "app_info",
    "device_brand",
    "device_carrier",
    "device_model",
    "device_type",
    "device_info",
    "os_version",
    "wifi",
}
HASHED = ("em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id", "hashed_maids")
RAW = ("click_id", "client_ip_address", "client_user_agent", "partner_id")
CUSTOM_FIELDS = {
    "value",
    "currency",
    "order_id",
    "content_ids",
    "contents",
    "num_items",
    "search_string",
    "content_name",
    "content_category",
    "content_brand",
    "opt_out_type",
    "predicted_ltv",
    "np",
}
CONTENT_FIELDS = {"id", "item_name", "item_brand", "item_category", "item_price", "quantity"}
SHA256 = re.compile(r"[0-9a-f]{64}")
DECIMAL = re.compile(r"-?\d+(\.\d+)?")


class Invalid(Exception):
    """A 400 for the whole request, with Pinterest's ``{code, message}``."""


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status, headers=headers)


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class FakePinterest:
    token: str
    ad_account_id: str
    #: The status of an answer where some events failed: 422 (with ``details``) or 200 (``events`` only).
    partial_status: int = 422
    accepted: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every event of every recorded request, repeats included, in order."""
    requests: int = 0
    tested: int = 0
    """Events validated under ``?test=true`` (never recorded)."""
    #: Answers to give before validating: (status, code, message, headers).
    script: list[tuple[int, int, str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{version}/ad_accounts/{account}/events", self.events, methods=["POST"])])

    async def events(self, request: Request) -> JSONResponse:
        self.requests += 1
        if self.script:
            status, code, message, headers = self.script.pop(0)
            return error(status, code, message, headers)
        if request.path_params["version"] != "v5":
            return error(404, 404, "Not found")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(401, 2, "Authentication failed.")
        account = request.path_params["account"]
        if not re.fullmatch(r"\d{1,18}", account):
            return error(400, 1, f"Invalid parameter: ad_account_id {account!r} does not match '^\\d+$'")
        if account != self.ad_account_id:
            return error(403, 29, "You are not permitted to access that resource.")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return error(415, 1, "Content-Type must be application/json")
        test = request.query_params.get("test", "false")
        if test not in ("true", "false"):
            return error(400, 1, "Invalid parameter: test must be a boolean")
        try:
            body = json.loads(await request.body())
            data = self.validate(body)
        except ValueError:
            return error(400, 1, "Invalid request: the body is not JSON")
        except Invalid as invalid:
            return error(400, 4196, str(invalid))
        results = [self.judge(event) for event in data]
        if test == "true":
            self.tested += len(data)
        else:
            for event, problem in zip(data, results, strict=True):
                if problem is None:
                    self.received.append(event)
                    self.accepted.setdefault((event["event_name"], event["event_id"]), event)
        events = [
            {"status": "failed" if problem else "processed", "error_message": problem, "warning_message": None}
            for problem in results
        ]
        processed = sum(problem is None for problem in results)
        answer = {"num_events_received": len(data), "num_events_processed": processed, "events": events}
        if processed == len(data) or self.partial_status == 200:
            return JSONResponse(answer)
        detailed = {"code": 4198, "message": "Not all events were successfully processed", "details": answer}
        return JSONResponse(detailed, self.partial_status)

    def validate(self, body: Any) -> list[dict[str, Any]]:
        """The events of a well-formed request; ``Invalid`` for what the schema refuses."""
        if not isinstance(body, dict) or set(body) != {"data"}:
            raise Invalid("Invalid request: the body must be {'data': [...]}")
        data = body["data"]
        if not isinstance(data, list) or not 1 <= len(data) <= 1000:
            raise Invalid("Invalid request: data must hold 1 to 1000 events")
        for index, event in enumerate(data):
            self.validate_event(f"data[{index}]", event)
        return data

    def validate_event(self, where: str, event: Any) -> None:
        if not isinstance(event, dict):
            raise Invalid(f"Invalid request: {where} is not an object")
        extra = sorted(set(event) - EVENT_FIELDS)
        if extra:
            raise Invalid(f"Invalid request: Additional properties are not allowed ({extra[0]!r} was unexpected)")
        for key in ("event_name", "action_source", "event_time", "event_id", "user_data"):
            if key not in event:
                raise Invalid(f"Invalid request: {where}: {key!r} is a required property")
        if not _string(event["event_name"]) or not _string(event["event_id"]) or not event["event_id"]:
            raise Invalid(f"Invalid request: {where}: event_name and event_id must be strings")
        if event["action_source"] not in ACTION_SOURCES:
            raise Invalid(f"Invalid request: {where}: action_source is not one of {sorted(ACTION_SOURCES)}")
        when = event["event_time"]
        if not _integer(when) or not 10**9 < when < 10**10:
            raise Invalid(f"Invalid request: {where}: event_time must be a Unix time in seconds")
        if "event_source_url" in event and not (
            event["event_source_url"] is None or _string(event["event_source_url"])
        ):
            raise Invalid(f"Invalid request: {where}: event_source_url must be a string")
        if "opt_out" in event and not isinstance(event["opt_out"], bool):
            raise Invalid(f"Invalid request: {where}: opt_out must be a boolean")
        if "partner_name" in event and not re.fullmatch(r"ss-[a-z0-9_-]+", str(event["partner_name"])):
            raise Invalid(f"Invalid request: {where}: partner_name must read ss-<partner>, lowercase")
        if "language" in event and not re.fullmatch(r"[a-z]{2}", str(event["language"])):
            raise Invalid(f"Invalid request: {where}: language must be a two-letter ISO 639-1 code")
        self.validate_user(where, event["user_data"])
        if "custom_data" in event:
            self.validate_custom(where, event["custom_data"])

    def validate_user(self, where: str, user: Any) -> None:
        if not isinstance(user, dict):
            raise Invalid(f"Invalid request: {where}: user_data must be an object")
        for key in HASHED:
            if key in user and not (isinstance(user[key], list) and user[key] and all(map(_string, user[key]))):
                raise Invalid(f"Invalid request: {where}: user_data.{key} must be an array of strings")
        for key in RAW:
            if key in user and not _string(user[key]):
                raise Invalid(f"Invalid request: {where}: user_data.{key} must be a string")
        if not (
            "em" in user or "hashed_maids" in user or ("client_ip_address" in user and "client_user_agent" in user)
        ):
            raise Invalid(
                f"Invalid request: {where}: user_data needs em, hashed_maids, or client_ip_address together "
                "with client_user_agent"
            )

    def validate_custom(self, where: str, custom: Any) -> None:
        if not isinstance(custom, dict):
            raise Invalid(f"Invalid request: {where}: custom_data must be an object")
        extra = sorted(set(custom) - CUSTOM_FIELDS)
        if extra:
            raise Invalid(f"Invalid request: Additional properties are not allowed ({extra[0]!r} was unexpected)")
        for key in ("value", "predicted_ltv"):
            if key in custom and not (_string(custom[key]) and DECIMAL.fullmatch(custom[key])):
                raise Invalid(f"Invalid request: {where}: custom_data.{key} must be a decimal string")
        if "currency" in custom and not re.fullmatch(r"[A-Z]{3}", str(custom["currency"])):
            raise Invalid(f"Invalid request: {where}: custom_data.currency must be an ISO 4217 code")
        if "num_items" in custom and not _integer(custom["num_items"]):
            raise Invalid(f"Invalid request: {where}: custom_data.num_items must be an integer")
        if "content_ids" in custom and not (
            isinstance(custom["content_ids"], list) and all(map(_string, custom["content_ids"]))
        ):
            raise Invalid(f"Invalid request: {where}: custom_data.content_ids must be an array of strings")
        if "opt_out_type" in custom and custom["opt_out_type"] not in ("", "LDP"):
            raise Invalid(f"Invalid request: {where}: custom_data.opt_out_type must be 'LDP' or empty")
        for item in custom.get("contents", []):
            if not isinstance(item, dict):
                raise Invalid(f"Invalid request: {where}: custom_data.contents items must be objects")
            extra = sorted(set(item) - CONTENT_FIELDS)
            if extra:
                raise Invalid(f"Invalid request: Additional properties are not allowed ({extra[0]!r} was unexpected)")
            if "item_price" in item and not (_string(item["item_price"]) and DECIMAL.fullmatch(item["item_price"])):
                raise Invalid(f"Invalid request: {where}: contents item_price must be a decimal string")
            if "quantity" in item and not _integer(item["quantity"]):
                raise Invalid(f"Invalid request: {where}: contents quantity must be an integer")

    def judge(self, event: dict[str, Any]) -> str | None:
        """Why Pinterest would not process this (well-formed) event, or None."""
        if event["event_name"] not in EVENT_NAMES:
            return f"event_name {event['event_name']!r} is not a supported event name"
        user = event["user_data"]
        for key in HASHED:
            if key in user and not all(SHA256.fullmatch(v) for v in user[key]):
                return f"user_data.{key} is not a lowercase SHA-256 hash"
        if "client_ip_address" in user:
            try:
                ipaddress.ip_address(user["client_ip_address"])
            except ValueError:
                return "user_data.client_ip_address is not an IP address"
        return None
