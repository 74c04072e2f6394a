"""LinkedIn Conversions API: ``POST {base_url}/rest/conversionEvents`` with the versioned Marketing API headers.

One event is the request body (``201``); several travel as a Rest.li ``BATCH_CREATE`` of up to 5,000
``elements``, all or nothing: LinkedIn refuses the whole batch for one bad element and names it (``Index: N``
in a 422, ``indices [N]`` in a 400 or 404), so that element fails and its neighbours are sent again at once.

The event has no name: each canonical event maps to a **conversion rule** of the ad account (method
``CONVERSIONS_API``), so the mapping is the site's and has no default. ``li_fat_id`` (the ad's landing URL, else
the Insight Tag's cookie) goes raw as ``LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID``; the email as the SHA-256 of
the trimmed, lowercased address; first and last name in plain text (LinkedIn's ``userInfo`` takes no hashes,
and only both together); no phone, IP or user agent (LinkedIn has no field for them). ``eventId`` is the id the
site gives the Insight Tag as ``event_id`` (``attribution.event_id(order)``).

Credentials: a member's access token (60 days), or an OAuth client with a refresh token, exchanged in
``authorize`` and fetched again once when LinkedIn answers 401 for it.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2

from ..errors import ConfigurationError
from ..orders.identifiers import COUNTRY, EMAIL_SHA256, EXTERNAL_ID, FIRST_NAME, LAST_NAME, Identifier
from .base import (
    ERROR_LIMIT,
    JSON,
    Delivered,
    Failed,
    Outcome,
    Retry,
    Secret,
    Split,
    Vendor,
    as_secret,
    event_label,
    response_json,
    response_text,
)
from .oauth2 import RefreshTokenGrant

if TYPE_CHECKING:
    from ..orders.conversion import Conversion

BASE_URL = "https://api.linkedin.com"
TOKEN_URL = "https://www.linkedin.com/oauth/v2/accessToken"  # noqa: S105 - a URL, not a password
API_VERSION = "202604"
MAX_BATCH = 5000
MAX_AGE = 90 * 86_400
#: LinkedIn's stated maximum for ``eventId`` (Salesforce's connector); a longer id is left out.
MAX_EVENT_ID = 64
RULE_PREFIX = "urn:lla:llaPartnerConversion:"
_RULE = re.compile(rf"(?:{re.escape(RULE_PREFIX)})?(\d+)")
_VERSION = re.compile(r"\d{6}")
_INDEX = re.compile(r"Index: (\d+), ")
_INDICES = re.compile(r"indices \[([\d, ]+)\]")


def rule_urn(rule: str) -> str:
    """``urn:lla:llaPartnerConversion:<id>`` from a rule id or the URN itself."""
    match = _RULE.fullmatch(rule.strip())
    if match is None:
        raise ConfigurationError(
            "LinkedIn events map to conversion rule ids: '12345' or 'urn:lla:llaPartnerConversion:12345'"
        )
    return RULE_PREFIX + match.group(1)


def li_fat_id_of(conversion: Conversion) -> str | None:
    """The ``li_fat_id`` of the landing URL within its window, else the Insight Tag's cookie."""
    attribution = conversion.attribution
    return attribution.click_ids.get("li_fat_id") or attribution.get("li_fat_id_cookie")


class LinkedIn(Vendor):
    """LinkedIn Conversions API for one ad account's conversion rules.

    Args:
        access_token: a member token with ``rw_conversions`` (60 days); or, instead, the three below.
        client_id, client_secret, refresh_token: an OAuth client with programmatic refresh; the access token
            is fetched at send time, cached, and fetched again once when LinkedIn answers 401.
        events: canonical event (or a custom event's ``custom_name``) → conversion rule id (``"12345"`` or its
            URN). Required: the rule is the event's type, so nothing is sent without one.
        api_version: the ``LinkedIn-Version`` header, ``YYYYMM``. LinkedIn sunsets versions after about a year
            and answers 426 for an inactive one.
        max_batch: elements per ``BATCH_CREATE``, 1 to 5,000.
        token_url: the OAuth token endpoint.
        send_names: send the customer's first and last name (``userInfo``, plain text, both or neither) and
            country; False keeps names out of the order records kept for LinkedIn.
        send_ip: also send an IPv4 address as ``PLAINTEXT_IP_ADDRESS`` (a type Stape's integration sends; not in
            LinkedIn's documented list, so off by default).
        clock: seconds since the epoch, for the 90-day limit at checkout (tests).
    """

    name: ClassVar[str] = "linkedin"
    max_batch: int = MAX_BATCH
    has_dedup_key: ClassVar[bool] = False  # LinkedIn documents no dedup between two API copies of an event

    def __init__(
        self,
        *,
        access_token: str | Secret | None = None,
        client_id: str | Secret | None = None,
        client_secret: str | Secret | None = None,
        refresh_token: str | Secret | None = None,
        events: Mapping[str, str],
        api_version: str = API_VERSION,
        max_batch: int = MAX_BATCH,
        base_url: str = BASE_URL,
        token_url: str = TOKEN_URL,
        retry_ambiguous: bool = True,
        send_names: bool = True,
        send_ip: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        trio = (client_id, client_secret, refresh_token)
        if access_token is not None and not any(trio):
            self.access_token: Secret | None = as_secret(access_token)
            self.tokens: RefreshTokenGrant | None = None
        elif access_token is None and client_id and client_secret and refresh_token:
            self.access_token = None
            self.client_id, self.client_secret = as_secret(client_id), as_secret(client_secret)
            self.refresh_token = as_secret(refresh_token)
            self.tokens = RefreshTokenGrant(
                token_url=token_url,
                client_id=self.client_id,
                client_secret=self.client_secret,
                refresh_token=self.refresh_token,
            )
        else:
            raise ConfigurationError(
                "LinkedIn takes either access_token, or client_id, client_secret and refresh_token (not both)"
            )
        if not events:
            raise ConfigurationError("LinkedIn needs events: canonical event -> conversion rule id")
        if not _VERSION.fullmatch(api_version):
            raise ConfigurationError("api_version is LinkedIn's YYYYMM version, such as '202604'")
        if not 1 <= max_batch <= MAX_BATCH:
            raise ConfigurationError(f"max_batch must be between 1 and {MAX_BATCH}")
        self.events = {event: rule_urn(rule) for event, rule in events.items()}
        self.api_version = api_version
        self.max_batch = max_batch
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url
        self.retry_ambiguous = retry_ambiguous
        self.send_names = send_names
        self.send_ip = send_ip
        self.clock = clock
        names = (FIRST_NAME, LAST_NAME, COUNTRY) if send_names else ()
        self.identifiers: tuple[Identifier, ...] = (EMAIL_SHA256, *names, EXTERNAL_ID)

    @property
    def url(self) -> str:
        return f"{self.base_url}/rest/conversionEvents"

    def check(self, conversion: Conversion) -> str | None:
        if event_label(conversion, self.events) is None:
            return f"event {conversion.event.value!r} has no LinkedIn conversion rule configured"
        age = self.clock() - conversion.event_time.timestamp()
        if age > MAX_AGE:
            return f"the event happened {age / 86_400:.0f} days ago: LinkedIn takes events at most 90 days old"
        if not (li_fat_id_of(conversion) or EMAIL_SHA256.of(conversion) or self._names(conversion)):
            if self.send_names:
                return "LinkedIn needs an li_fat_id (URL or Insight Tag cookie), an email, or a first and last name"
            return "LinkedIn needs an li_fat_id (URL or Insight Tag cookie) or an email"
        return None

    def payload(self, conversion: Conversion) -> JSON:
        event: JSON = {
            "conversion": event_label(conversion, self.events),
            "conversionHappenedAt": int(conversion.event_time.timestamp() * 1000),
        }
        if conversion.value is not None and conversion.currency is not None:
            # a decimal string: a JSON number is a schema error at LinkedIn
            event["conversionValue"] = {"currencyCode": conversion.currency, "amount": format(conversion.value, "f")}
        if len(conversion.event_id) <= MAX_EVENT_ID:
            event["eventId"] = conversion.event_id
        event["user"] = self._user(conversion)
        return event

    def _user(self, conversion: Conversion) -> JSON:
        ids: list[JSON] = []
        if email := EMAIL_SHA256.of(conversion):
            ids.append({"idType": "SHA256_EMAIL", "idValue": email})
        if click := li_fat_id_of(conversion):
            ids.append({"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": click})
        ip = conversion.context.ip
        if self.send_ip and ip and ipaddress.ip_address(ip).version == 4:
            ids.append({"idType": "PLAINTEXT_IP_ADDRESS", "idValue": ip})
        user: JSON = {"userIds": ids}
        if names := self._names(conversion):
            info: JSON = {"firstName": names[0], "lastName": names[1]}
            country = (COUNTRY.of(conversion) or "").strip()
            if len(country) == 2 and country.isalpha() and country.isascii():
                info["countryCode"] = country.upper()
            user["userInfo"] = info
        if external := EXTERNAL_ID.of(conversion):
            user["externalIds"] = [external]
        return user

    def _names(self, conversion: Conversion) -> tuple[str, str] | None:
        """First and last name, both or neither: LinkedIn refuses ``userInfo`` with one of them."""
        if not self.send_names:
            return None
        first, last = FIRST_NAME.of(conversion), LAST_NAME.of(conversion)
        return (first, last) if first and last else None

    async def authorize(self, client: httpx2.AsyncClient) -> None:
        if self.tokens is not None:
            await self.tokens.ensure(client)

    def _bearer(self) -> str | None:
        if self.access_token is not None:
            return self.access_token.value
        return self.tokens.access_token if self.tokens is not None else None

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(f"a LinkedIn request carries 1 to {self.max_batch} events, not {len(payloads)}")
        headers = {
            "LinkedIn-Version": self.api_version,
            "X-Restli-Protocol-Version": "2.0.0",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        body: Any = payloads[0]
        if len(payloads) > 1:
            headers["X-RestLi-Method"] = "BATCH_CREATE"
            body = {"elements": list(payloads)}
        # Without ``authorize`` (a dry run of the refresh mode) there is no token yet: the request shows none.
        if (token := self._bearer()) is not None:
            headers["Authorization"] = f"Bearer {token}"
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return httpx2.Request("POST", self.url, content=content, headers=headers)

    def secret_values(self) -> list[str]:
        found = super().secret_values()
        if self.tokens is not None and (token := self.tokens.access_token) is not None:
            found.append(token)
        return found

    # -- answers -------------------------------------------------------------------------------------

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        """Per element: a batch's ``elements[].status``; a refusal naming elements (``Index: N``,
        ``indices [N]``) fails those and sends the others again; a 422 naming none splits a batch."""
        n = len(payloads)
        status = response.status_code
        if 200 <= status < 300:
            if self.tokens is not None:
                self.tokens.accepted()
            return self._created(response, n)
        outcome = self.read_response(response)
        if n == 1 or status not in (400, 404, 422) or isinstance(outcome, Delivered):
            return [outcome] * n
        named = _named_elements(response, n)
        if not named:
            return Split(outcome.reason) if status == 422 else [outcome] * n
        return [
            Failed(self._element_reason(status, named[i], response))
            if i in named
            else Retry("LinkedIn refused the batch for another element: sent again", after=0.0)
            for i in range(n)
        ]

    def read_response(self, response: httpx2.Response) -> Outcome:
        status = response.status_code
        if 200 <= status < 300:  # one event is answered 201 with an empty body
            return Delivered(answer=response_text(response)[:2000] or f"HTTP {status}")
        message = f"HTTP {status}: {self.redact(self.error_message(response), response)}"[:ERROR_LIMIT]
        if status == 401:
            if self.tokens is None:
                return Failed(_hinted(message, "; give a new access_token (a member token lasts 60 days)"))
            if self.tokens.rejected(_request_bearer(response)):
                hint = "; the access token is refreshed and the request sent again"
                return Retry(_hinted(message, hint), after=0.0)
            hint = "; refused again with a fresh token: check the OAuth client and refresh token"
            return Failed(_hinted(message, hint))
        if status == 426:
            hint = f"; LinkedIn-Version {self.api_version} is no longer active: set api_version to a newer YYYYMM"
            return Failed(_hinted(message, hint))
        if status in (408, 429) or status >= 500:
            return Retry(message, after=self.retry_after(response))
        return Failed(message)

    def _created(self, response: httpx2.Response, n: int) -> list[Outcome]:
        if n == 1:
            return [self.read_response(response)]
        data = response_json(response)
        elements = data.get("elements") if isinstance(data, dict) else None
        elements = elements if isinstance(elements, list) else []
        outcomes: list[Outcome] = []
        for index in range(n):
            element = elements[index] if index < len(elements) and isinstance(elements[index], dict) else {}
            code = element.get("status", 201)
            if not isinstance(code, int) or 200 <= code < 300:
                outcomes.append(Delivered(answer=json.dumps(element or {"status": 201}, separators=(",", ":"))))
                continue
            text = self.redact(f"element status {code}: {_rest_message(element) or 'refused'}", response)
            retry = code in (408, 429) or code >= 500
            outcomes.append(Retry(text[:ERROR_LIMIT]) if retry else Failed(text[:ERROR_LIMIT]))
        return outcomes

    def _element_reason(self, status: int, text: str, response: httpx2.Response) -> str:
        return f"HTTP {status}: {self.redact(text, response)}"[:ERROR_LIMIT]

    def error_message(self, response: httpx2.Response) -> str:
        """LinkedIn's Rest.li ``{"status", "serviceErrorCode", "code", "message"}``, its lines joined."""
        data = response_json(response)
        text = _rest_message(data) if isinstance(data, dict) else ""
        if not text:
            return super().error_message(response)
        code = data.get("code") if isinstance(data, dict) else None
        return f"{code}: {text}" if isinstance(code, str) and code else text


def _hinted(message: str, hint: str) -> str:
    """The message cut so that the hint that tells the operator what to do always fits within ``ERROR_LIMIT``."""
    return message[: ERROR_LIMIT - len(hint)] + hint


def _rest_message(data: Mapping[str, Any]) -> str:
    message = data.get("message")
    return " ".join(message.split()) if isinstance(message, str) else ""


def _named_elements(response: httpx2.Response, n: int) -> dict[int, str]:
    """Element index → what LinkedIn said about it: ``Index: N, ERROR :: ...`` parts of a 422's message, or the
    ``indices [N, M]`` of a 400/404 (each gets the whole message)."""
    data = response_json(response)
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str):
        return {}
    found: dict[int, str] = {}
    marks = list(_INDEX.finditer(message))
    for position, mark in enumerate(marks):
        index = int(mark.group(1))
        part = message[mark.start() : marks[position + 1].start() if position + 1 < len(marks) else len(message)]
        if 0 <= index < n:
            found[index] = (found.get(index, "") + " " + " ".join(part.split())).strip()
    if not found and (listed := _INDICES.search(message)):
        code = data.get("code") if isinstance(data, dict) else None
        text = " ".join(message.split())
        text = f"{code}: {text}" if isinstance(code, str) and code else text
        for raw in listed.group(1).split(","):
            if raw.strip().isdigit() and 0 <= int(raw) < n:
                found[int(raw)] = text
    return found


def _request_bearer(response: httpx2.Response) -> str | None:
    try:
        header = response.request.headers.get("authorization", "")
    except RuntimeError:  # a response built without its request
        return None
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
