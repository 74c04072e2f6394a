"""X (Twitter) Ads web conversions: ``POST {base_url}/{version}/measurement/conversions/{pixel_id}``.

Up to 500 conversions per request, signed with OAuth 1.0a (HMAC-SHA1, user context) by authlib. The JSON
body is not part of the signature (RFC 5849 signs only form-encoded bodies), so the header is computed
over method and URL and the body is attached untouched.

Naming trap: X's ``event_id`` is the *event tag* id (the conversion type in Events Manager), configured
per canonical event; the dedup key is ``conversion_id``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2
from authlib.oauth1 import ClientAuth

from ..orders.identifiers import EMAIL_SHA256, PHONE_SHA256, Identifier
from .base import (
    JSON,
    Secret,
    Vendor,
    as_secret,
    event_label,
    iso_millis,
    json_number,
    response_json,
    without_empty,
)
from .retry_after import parse_retry_after

if TYPE_CHECKING:
    from ..orders.conversion import Conversion

BASE_URL = "https://ads-api.x.com"
RATE_LIMIT_RESETS = ("x-rate-limit-reset", "x-account-rate-limit-reset")


def oauth1_authorization(
    method: str, url: str, *, consumer: tuple[Secret, Secret], token: tuple[Secret, Secret]
) -> str:
    """The ``Authorization: OAuth ...`` header for a request whose body is not form-encoded."""
    auth = ClientAuth(consumer[0].value, consumer[1].value, token=token[0].value, token_secret=token[1].value)
    # Sign with an empty body: authlib would otherwise add an oauth_body_hash X does not expect, and its
    # ``prepare`` returns an empty body for JSON requests. Only the header is taken from authlib.
    _, headers, _ = auth.sign(method, url, {}, b"")
    header: str = headers["Authorization"]
    return header


class XAds(Vendor):
    """X Ads Conversion API.

    Args:
        consumer_key, consumer_secret, access_token, access_token_secret: OAuth 1.0a credentials of an app
            and of a user with access to the ad account (app-only bearer tokens are refused by the Ads API).
        pixel_id: the base tag id of the ad account (the batch key).
        events: canonical event (or a custom event's ``custom_name``) → event tag id, e.g.
            ``{"purchase": "o87ne"}``. Events without a tag are not sent.
        api_version: the version in the path (``12`` today).
        only_attributed: send only conversions of visitors who came from an X ad (with a twclid).
        clock: seconds since the epoch, for the rate-limit reset delay (tests pass their own).
    """

    name: ClassVar[str] = "xads"
    identifiers: tuple[Identifier, ...] = (EMAIL_SHA256, PHONE_SHA256)
    max_batch: int = 500
    has_dedup_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        consumer_key: str | Secret,
        consumer_secret: str | Secret,
        access_token: str | Secret,
        access_token_secret: str | Secret,
        pixel_id: str,
        events: Mapping[str, str],
        api_version: str = "12",
        only_attributed: bool = False,
        base_url: str = BASE_URL,
        retry_ambiguous: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.consumer = (as_secret(consumer_key), as_secret(consumer_secret))
        self.token = (as_secret(access_token), as_secret(access_token_secret))
        self.pixel_id = pixel_id
        self.events = dict(events)
        self.api_version = api_version
        self.only_attributed = only_attributed
        self.base_url = base_url.rstrip("/")
        self.retry_ambiguous = retry_ambiguous
        self.clock = clock

    @property
    def url(self) -> str:
        return f"{self.base_url}/{self.api_version}/measurement/conversions/{self.pixel_id}"

    def check(self, conversion: Conversion) -> str | None:
        if event_label(conversion, self.events) is None:
            return f"event {conversion.event.value!r} has no X event tag id configured"
        if self.only_attributed and conversion.attribution.click_ids.get("twclid") is None:
            return "the visitor did not come from an X ad (no twclid within its window)"
        if not _identifiers(conversion):
            return "X needs a twclid, an email or a phone (IP address and user agent only count beside one)"
        return None

    def batch_key(self, conversion: Conversion) -> str:
        return self.pixel_id

    def payload(self, conversion: Conversion) -> JSON:
        items = conversion.items
        number_items = sum(item.quantity for item in items)
        contents = [
            without_empty(
                {
                    "content_id": item.id,
                    "content_name": item.name,
                    "content_price": json_number(item.price),
                    "content_type": item.category,
                    "num_items": item.quantity,
                }
            )
            for item in items
        ]
        return without_empty(
            {
                "conversion_time": iso_millis(conversion.event_time),
                "event_id": event_label(conversion, self.events),
                "identifiers": _identifiers(conversion),
                "value": json_number(conversion.value) if conversion.value is not None else None,
                "price_currency": conversion.currency,
                "number_items": number_items or None,
                # The order id (or the event's own id), as a site passes it to X's pixel as conversion_id:
                # X deduplicates pixel and API conversions within one event tag on equal values.
                "conversion_id": conversion.event_id,
                "description": conversion.custom_name,
                "contents": contents,
            }
        )

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        if not 1 <= len(payloads) <= self.max_batch:
            raise ValueError(f"an X request carries 1 to {self.max_batch} conversions, not {len(payloads)}")
        body = json.dumps({"conversions": list(payloads)}, ensure_ascii=False, separators=(",", ":"))
        url = self.url
        return httpx2.Request(
            "POST",
            url,
            content=body.encode("utf-8"),
            headers={
                "Authorization": oauth1_authorization("POST", url, consumer=self.consumer, token=self.token),
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )

    def retry_after(self, response: httpx2.Response) -> float | None:
        """Retry-After if sent; on a 429, else the latest of X's rate-limit resets (epoch seconds)."""
        now = self.clock()
        asked = parse_retry_after(response.headers, now=now)
        if asked is not None or response.status_code != 429:
            return asked
        resets = [float(v) for h in RATE_LIMIT_RESETS if (v := response.headers.get(h, "").strip()).isdigit()]
        return max(0.0, max(resets) - now) if resets else None

    def error_message(self, response: httpx2.Response) -> str:
        """X's ``{"errors": [{"code", "message", ...}]}``, as ``CODE: message; ...``."""
        data = response_json(response)
        errors: Any = data.get("errors") if isinstance(data, dict) else None
        if isinstance(errors, list) and errors:
            parts = [
                ": ".join(str(e[k]) for k in ("code", "message") if e.get(k)) for e in errors if isinstance(e, dict)
            ]
            if message := "; ".join(p for p in parts if p):
                return message
        return super().error_message(response)


def _identifiers(conversion: Conversion) -> list[JSON]:
    """X's identifier objects: twclid, hashed email, hashed E.164 phone; then IP and user agent, which X
    matches only beside one of those, so they are left out when there is none."""
    strong: list[JSON] = []
    if twclid := conversion.attribution.click_ids.get("twclid"):
        strong.append({"twclid": twclid})
    if hashed_email := EMAIL_SHA256.of(conversion):
        strong.append({"hashed_email": hashed_email})
    if hashed_phone := PHONE_SHA256.of(conversion):
        strong.append({"hashed_phone_number": hashed_phone})
    if not strong:
        return []
    ip = conversion.context.ip
    # X documents the address in dotted-decimal: an IPv6 address could fail the whole batch of 500.
    # (RequestContext keeps a checked address: an IPv6 one always has a colon, an IPv4 one never)
    ipv4 = ip if ip and ":" not in ip else None
    device = without_empty({"ip_address": ipv4, "user_agent": conversion.context.user_agent})
    return [*strong, device] if device else strong
