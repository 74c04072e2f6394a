"""A strict fake of LinkedIn's Conversions API (``POST /rest/conversionEvents``) and of its OAuth token endpoint,
written from ``vendor-docs/linkedin-capi.md``.

What it refuses, as LinkedIn does: a missing, unknown or revoked Bearer token (401 with LinkedIn's Rest.li body,
``serviceErrorCode`` 65600 / 65601); a member without the ad-account role (403); a missing ``LinkedIn-Version``
(400 ``VERSION_MISSING``) or an inactive one (426); a missing ``X-Restli-Protocol-Version: 2.0.0``; a rule that
is not a ``CONVERSIONS_API`` rule (400, LinkedIn's own words) or does not exist (404). Each element is checked
against the schema (unknown fields refused, as Rest.li refuses them; ``conversionHappenedAt`` in milliseconds
and at most 90 days old; ``conversionValue.amount`` a decimal string; ``SHA256_EMAIL`` 64 lowercase hex;
``userInfo`` with both names) and the problems come back as ONE 422 listing every bad element by index, the
batch refused whole. A good single event is answered ``201`` with an empty body, a good batch
``200 {"elements": [{"status": 201}, ...]}``.

The Unconfirmed parts of the reference (the 426 and 404 bodies, ``VERSION_MISSING``'s) are given plausible
Rest.li bodies; ``Retry-After`` on a 429 only when scripted. Every accepted event is recorded, duplicates too:
LinkedIn documents no deduplication between two API copies of an event.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

EVENT_FIELDS = {"conversion", "conversionHappenedAt", "conversionValue", "eventId", "user"}
USER_FIELDS = {"userIds", "userInfo", "externalIds", "lead"}
USER_INFO_FIELDS = {"firstName", "lastName", "companyName", "title", "countryCode"}
VALUE_FIELDS = {"currencyCode", "amount"}
ID_TYPES = {"SHA256_EMAIL", "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "ACXIOM_ID", "ORACLE_MOAT_ID"}
#: Stape's 2026 tag sends these too; LinkedIn's pages read for the reference do not list them.
STAPE_ID_TYPES = {"PLAINTEXT_IP_ADDRESS", "GOOGLE_AID"}
RULE_URN = re.compile(r"urn:lla:llaPartnerConversion:(\d+)")
HEX64 = re.compile(r"[0-9a-f]{64}")
AMOUNT = re.compile(r"\d+(\.\d+)?")
CURRENCY = re.compile(r"[A-Z]{3}")
DAY_MS = 86_400_000


def rest_error(status: int, message: str, code: str | None = None, service_code: int | None = None) -> JSONResponse:
    """LinkedIn's Rest.li error body."""
    body: dict[str, Any] = {"status": status}
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    if code is not None:
        body["code"] = code
    body["message"] = message
    return JSONResponse(body, status_code=status)


@dataclass
class FakeLinkedIn:
    """One ad account: its conversion rules, the tokens that work, what was accepted."""

    client_id: str = "86li-client-id"
    client_secret: str = "li-client-secret-0123"
    refresh_token: str = "AQX-li-refresh-token-0123"
    #: rule id → conversion method; only ``CONVERSIONS_API`` rules take API events.
    rules: dict[str, str] = field(default_factory=lambda: {"12345": "CONVERSIONS_API", "777": "INSIGHT_TAG"})
    active_versions: set[str] = field(default_factory=lambda: {"202511", "202603", "202604"})
    tokens: set[str] = field(default_factory=lambda: {"AQV-member-token-0123"})
    revoked: set[str] = field(default_factory=set)
    #: tokens of members without a role on the ad account
    roleless: set[str] = field(default_factory=set)
    accept_stape_id_types: bool = False
    clock: Callable[[], float] = time.time
    received: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    issued: int = 0
    #: (status, body, headers) answered before validating, one per request (an outage, a throttle).
    script: list[tuple[int, dict[str, Any] | None, dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/rest/conversionEvents", self.events, methods=["POST"]),
                Route("/oauth/v2/accessToken", self.token, methods=["POST"]),
            ]
        )

    # -- the token endpoint ----------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return JSONResponse({"error": "invalid_request", "error_description": "form body expected"}, 400)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "refresh_token" or "refresh_token" not in form:
            return JSONResponse({"error": "invalid_request", "error_description": "grant_type refresh_token"}, 400)
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return JSONResponse({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
        if form["refresh_token"] != self.refresh_token:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "The provided authorization grant is invalid"}, 400
            )
        self.issued += 1
        value = f"AQV-refreshed-{self.issued}"
        self.tokens.add(value)
        return JSONResponse(
            {
                "access_token": value,
                "expires_in": 5183999,
                "refresh_token": self.refresh_token,
                "refresh_token_expires_in": 31535999,
                "scope": "r_ads,rw_conversions",
            }
        )

    def expire_tokens(self) -> None:
        """Every access token handed out so far stops working, as a 60-day-old one does."""
        self.tokens.clear()

    # -- conversionEvents ------------------------------------------------------------------------------

    async def events(self, request: Request) -> Response:
        self.requests += 1
        if self.script:
            status, body, headers = self.script.pop(0)
            return JSONResponse(body, status, headers=headers) if body is not None else Response(b"", status, headers)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.revoked:
            return rest_error(
                401, "The token used in the request has been revoked by the user", "REVOKED_ACCESS_TOKEN", 65601
            )
        if token not in self.tokens or not request.headers.get("authorization", "").startswith("Bearer "):
            return rest_error(401, "Invalid access token", "INVALID_ACCESS_TOKEN", 65600)
        if token in self.roleless:
            return rest_error(
                403,
                "Not enough permissions to access: partnerApiConversionEvents.CREATE.20260401",
                "ACCESS_DENIED",
                100,
            )
        version = request.headers.get("linkedin-version")
        if version is None:
            return rest_error(
                400,
                "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
                "VERSION_MISSING",
            )
        if version not in self.active_versions:
            return rest_error(426, f"Requested version {version} is not active", "NONEXISTENT_VERSION")
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return rest_error(400, "Rest.li protocol version 2.0.0 is required (X-Restli-Protocol-Version)")
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return rest_error(415, "Unsupported media type, application/json expected")
        try:
            body = await request.json()
        except ValueError:
            return rest_error(400, "Unable to parse the request body as JSON")
        batch = request.headers.get("x-restli-method", "").upper() == "BATCH_CREATE"
        if batch:
            if not isinstance(body, dict) or set(body) != {"elements"} or not isinstance(body["elements"], list):
                return rest_error(400, 'BATCH_CREATE needs a body of the form {"elements": [...]}')
            events = body["elements"]
            if not 1 <= len(events) <= 5000:
                return rest_error(400, f"A batch holds 1 to 5000 elements, not {len(events)}")
        else:
            events = [body]
        return self._create(events, batch)

    def _create(self, events: list[Any], batch: bool) -> Response:
        problems: list[str] = []
        not_api: list[int] = []
        missing: list[int] = []
        for index, event in enumerate(events):
            errors = self.schema_errors(event)
            if errors:
                prefix = f"Index: {index}, " if batch else ""
                problems.append(prefix + "".join(f"ERROR :: {path} :: {text}\n" for path, text in errors))
                continue
            rule = RULE_URN.fullmatch(event["conversion"])
            assert rule is not None
            method = self.rules.get(rule.group(1))
            if method is None:
                missing.append(index)
            elif method != "CONVERSIONS_API":
                not_api.append(index)
        if problems:
            return rest_error(422, "".join(problems))
        if not_api:
            return rest_error(
                400,
                "Incorrect conversions information provided. Conversion's method should be CONVERSIONS_API, "
                f"indices {not_api} (0-indexed)",
            )
        if missing:
            return rest_error(404, f"Conversion rule not found, indices {missing} (0-indexed)", "NOT_FOUND")
        self.received.extend(events)
        if not batch:
            return Response(b"", 201, headers={"x-restli-id": "fake-created"})
        return JSONResponse({"elements": [{"status": 201} for _ in events]})

    def schema_errors(self, event: Any) -> list[tuple[str, str]]:
        """``(path, message)`` for every schema problem of one element, as LinkedIn's 422 lists them."""
        if not isinstance(event, dict):
            return [("", "element is not a record")]
        errors = [(f"/{key}", "unrecognized field found but not allowed") for key in sorted(set(event) - EVENT_FIELDS)]
        conversion = event.get("conversion")
        if conversion is None:
            errors.append(("/conversion", "field is required but not found and has no default value"))
        elif not isinstance(conversion, str) or not RULE_URN.fullmatch(conversion):
            errors.append(("/conversion", "is not a valid urn:lla:llaPartnerConversion URN"))
        happened = event.get("conversionHappenedAt")
        if happened is None:
            errors.append(("/conversionHappenedAt", "field is required but not found and has no default value"))
        elif not isinstance(happened, int) or isinstance(happened, bool):
            errors.append(("/conversionHappenedAt", "is not a long"))
        else:
            now_ms = int(self.clock() * 1000)
            if happened < now_ms - 90 * DAY_MS:
                errors.append(("/conversionHappenedAt", "conversion happened more than 90 days ago"))
            elif happened > now_ms + 60_000:
                errors.append(("/conversionHappenedAt", "conversion happened in the future"))
        if "conversionValue" in event:
            errors += _value_errors(event["conversionValue"])
        if "eventId" in event and not (isinstance(event["eventId"], str) and 0 < len(event["eventId"]) <= 64):
            errors.append(("/eventId", "must be a string of 1 to 64 characters"))
        user = event.get("user")
        if user is None:
            errors.append(("/user", "field is required but not found and has no default value"))
        else:
            errors += self._user_errors(user)
        return errors

    def _user_errors(self, user: Any) -> list[tuple[str, str]]:
        if not isinstance(user, dict):
            return [("/user", "is not a record")]
        errors = [
            (f"/user/{key}", "unrecognized field found but not allowed") for key in sorted(set(user) - USER_FIELDS)
        ]
        ids = user.get("userIds")
        allowed = ID_TYPES | (STAPE_ID_TYPES if self.accept_stape_id_types else set())
        if ids is None:
            errors.append(("/user/userIds", "field is required but not found and has no default value"))
        elif not isinstance(ids, list):
            errors.append(("/user/userIds", "is not an array"))
        else:
            for n, item in enumerate(ids):
                where = f"/user/userIds/{n}"
                if not isinstance(item, dict) or set(item) != {"idType", "idValue"}:
                    errors.append((where, "needs exactly idType and idValue"))
                elif item["idType"] not in allowed:
                    errors.append((f"{where}/idType", f"is not one of {sorted(allowed)}"))
                elif not isinstance(item["idValue"], str) or not item["idValue"]:
                    errors.append((f"{where}/idValue", "is not a non-empty string"))
                elif item["idType"] == "SHA256_EMAIL" and not HEX64.fullmatch(item["idValue"]):
                    errors.append((f"{where}/idValue", "SHA256_EMAIL must be a lowercase hex SHA-256"))
        info = user.get("userInfo")
        if info is not None:
            if not isinstance(info, dict):
                errors.append(("/user/userInfo", "is not a record"))
            else:
                errors += [
                    (f"/user/userInfo/{key}", "unrecognized field found but not allowed")
                    for key in sorted(set(info) - USER_INFO_FIELDS)
                ]
                for name in ("firstName", "lastName"):
                    if not isinstance(info.get(name), str) or not info[name]:
                        errors.append(
                            (f"/user/userInfo/{name}", "field is required but not found and has no default value")
                        )
                country = info.get("countryCode")
                if country is not None and not (isinstance(country, str) and re.fullmatch(r"[A-Z]{2}", country)):
                    errors.append(("/user/userInfo/countryCode", "is not an ISO 3166-1 alpha-2 code"))
        external = user.get("externalIds")
        if external is not None and not (isinstance(external, list) and all(isinstance(x, str) for x in external)):
            errors.append(("/user/externalIds", "is not an array of strings"))
        if not errors and not ids and info is None:
            errors.append(("/user", "needs at least one of userIds or userInfo to match the member"))
        return errors


def _value_errors(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return [("/conversionValue", "is not a record")]
    errors = [
        (f"/conversionValue/{key}", "unrecognized field found but not allowed")
        for key in sorted(set(value) - VALUE_FIELDS)
    ]
    for key in sorted(VALUE_FIELDS - set(value)):
        errors.append((f"/conversionValue/{key}", "field is required but not found and has no default value"))
    amount = value.get("amount")
    if amount is not None and not isinstance(amount, str):
        errors.append(("/conversionValue/amount", f"{amount} cannot be coerced to String"))
    elif isinstance(amount, str) and not AMOUNT.fullmatch(amount):
        errors.append(("/conversionValue/amount", "is not a decimal amount"))
    currency = value.get("currencyCode")
    if currency is not None and not (isinstance(currency, str) and CURRENCY.fullmatch(currency)):
        errors.append(("/conversionValue/currencyCode", "is not an ISO 4217 currency code"))
    return errors
