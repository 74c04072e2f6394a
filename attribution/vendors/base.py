"""The contract every vendor adapter fulfils, and the outcome of one delivery attempt.

A vendor adapter is pure: it decides, builds and reads, but never sends. The worker sends.

    at checkout   conversion ──check()──▶ None (applies) | "reason it does not"
                  conversion ──batch_key()──▶ which deliveries may share a request
                  customer ──identifiers──▶ the forms of personal data the order record keeps for it
    at send time  order record ──▶ conversion ──payload()──▶ the event, JSON, no credentials
                  [payload, ...] ──build_request()──▶ httpx2.Request  credentials and signatures added
                  httpx2.Response ──read_batch()──▶ Delivered | Retry | Failed | Resend per payload, or Split
    corrections   corrected order ──correction(kind, at)──▶ a payload of its own batch (correction_batch_key)
    later         Delivered(confirm=ref) ──confirm_after s──▶ build_confirmation(ref) ──▶ read_confirmation()
                                        ──▶ per delivery: None (it counted) | Delivered | Failed | Retry

The request is built from the stored order when it is sent, so a corrected value, a fixed mapping or a new
API version applies to what is still waiting; keeping credentials out of payloads means the outbox never
stores a secret, a rotated key applies to deliveries already queued, and OAuth nonces and timestamps are
fresh on every attempt. An adapter reads the customer only through its declared ``identifiers``
(``FORM.of(conversion)``): the order record keeps exactly those forms, in the least revealing shape.
"""

from __future__ import annotations

import codecs
import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2

from ..redact import personal_values, redact, redact_headers, redact_url
from .retry_after import parse_retry_after

if TYPE_CHECKING:
    from ..orders.conversion import Conversion
    from ..orders.identifiers import Identifier

JSON = dict[str, Any]

#: The longest error text kept from a vendor's answer (after redaction).
ERROR_LIMIT = 500
_RAW_LIMIT = 8 * ERROR_LIMIT  # read no more of a body than that: what is beyond ERROR_LIMIT is cut anyway
_TAG = re.compile(r"<[^>]*>")

#: Each canonical event under its own name; a custom event travels under its ``custom_name`` (``"*"``).
#: The default event mapping of every vendor that takes free-form event names.
CANONICAL_EVENTS: Mapping[str, str] = MappingProxyType(
    {
        "purchase": "purchase",
        "lead": "lead",
        "complete_registration": "complete_registration",
        "contact": "contact",
        "schedule": "schedule",
        "submit_application": "submit_application",
        "view_content": "view_content",
        "custom": "*",
    }
)


@dataclass(frozen=True, slots=True)
class Delivered:
    """The vendor accepted the delivery. ``answer`` is its (short) response body, kept for the operator.

    ``confirm``: the vendor accepted the request but decides later whether each event counts (Google's Data
    Manager API answers ``{"requestId"}`` and reports refusals only when processing ends). It is the reference to
    ask about (the request id), the same for every delivery of the request: ``confirm_after`` seconds later the
    worker asks the vendor with ``build_confirmation(confirm)`` and records ``read_confirmation``'s verdicts on the
    deliveries that share it. None: the vendor's answer is final.
    """

    answer: str = ""
    confirm: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again later. ``after`` is the delay in seconds the vendor asked for, if it asked."""

    reason: str
    after: float | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """Failed for good (a 4xx the vendor will keep answering): the delivery becomes dead, reason kept."""

    reason: str


@dataclass(frozen=True, slots=True)
class Resend:
    """Not attempted in substance: the vendor refused the whole request for another payload in it, and
    ingested nothing (a fast-fail API such as Google's Data Manager names the bad events). Send it again now,
    without counting an attempt: the payload itself is fine. Only ``read_batch`` answers it, and only beside a
    ``Failed`` for the payload at fault, so each resend carries fewer payloads and the loop ends."""

    reason: str


Outcome = Delivered | Retry | Failed | Resend


@dataclass(frozen=True, slots=True)
class Split:
    """The vendor refused a batch as a whole for what one of its payloads holds: send its halves apart."""

    reason: str


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential whose repr never shows it. ``str(secret)`` is still masked; use ``.value``."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"


class Vendor(ABC):
    """A conversion API. Subclasses live one per module in ``attribution.vendors``.

    Class attributes:
        name: registry name, also the ``vendor`` column of the outbox.
        max_batch: how many payloads one request may carry (1 = one per call); an adapter may let a site lower
            it per instance.
        has_dedup_key: whether the vendor deduplicates on a key we send. Without one, a request that timed
            out after it was sent may already have been recorded, so a retry can duplicate it.

    Instance attributes:
        retry_ambiguous: whether to retry such ambiguous failures. Defaults to True (at-least-once: a
            possible duplicate rather than a lost conversion); set False for at-most-once, and the delivery
            is parked as dead with the reason, for an operator to retry or drop.
        base_url: overridable for sandboxes, proxies and tests.
    """

    name: ClassVar[str]
    max_batch: int = 1
    has_dedup_key: ClassVar[bool] = True
    confirm_after: ClassVar[float | None] = None
    """Seconds after a ``Delivered(confirm=...)`` answer at which to ask the vendor what became of the request
    (``build_confirmation``); None: the vendor never defers its verdict."""
    confirm_within: ClassVar[float | None] = None
    """How long after delivery asking still makes sense: past it the vendor's verdict is not coming (Google keeps
    a request's status for about a day); the delivery stays delivered, and a note says it was not confirmed."""
    corrections: frozenset[str] = frozenset()
    """What this vendor can be told about a conversion it already accepted (``correction``): ``"restate"`` (a
    new value: a partial refund, a corrected total), ``"retract"`` (it did not happen: a cancellation). Empty:
    the vendor documents no correction."""
    identifiers: tuple[Identifier, ...] = ()
    """Every form of the customer's data the adapter reads (``FORM.of(conversion)``), and nothing else: an
    order record keeps, for the vendors it is sent to, exactly these forms."""

    base_url: str
    retry_ambiguous: bool = True

    @abstractmethod
    def check(self, conversion: Conversion) -> str | None:
        """At checkout: None when this vendor applies to the conversion, else the reason it does not (the event
        is not configured, nothing to match the visitor on, ...). Cheap: it runs for every vendor of every
        checkout."""

    def batch_key(self, conversion: Conversion) -> str:
        """Deliveries of this vendor with the same batch key may travel in one request (X: the pixel id)."""
        return ""

    @abstractmethod
    def payload(self, conversion: Conversion) -> JSON:
        """The event for a conversion that ``check`` accepted, without credentials. Built when the delivery is
        sent, from the stored order: choices that depend on time use ``conversion.event_time`` and the pinned
        attribution, never the clock."""

    @abstractmethod
    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        """The HTTP request for up to ``max_batch`` payloads sharing one batch key, credentials included."""

    # -- corrections of a conversion the vendor accepted ------------------------------------------------------

    def correction(self, conversion: Conversion, kind: str, at: datetime) -> JSON:
        """The payload that tells the vendor about a correction of ``kind`` (one of ``corrections``) to a conversion
        it accepted. ``conversion`` is the order as corrected (its new value and currency for ``"restate"``);
        ``at`` is when the correction was made, stored with it so that every attempt sends the same payload (a
        vendor that deduplicates corrections by their time needs that). Built at send time, like ``payload``;
        correction payloads travel in requests of their own, under ``correction_batch_key``."""
        raise NotImplementedError(f"{self.name} takes no {kind!r} correction")

    def correction_batch_key(self, conversion: Conversion, kind: str) -> str:
        """The batch key of a correction: ``"<kind>:<batch key>"``, so corrections never share a request with
        conversions nor with corrections of the other kind; ``build_request`` tells them apart by their payloads."""
        return f"{kind}:{self.batch_key(conversion)}"

    # -- verdicts a vendor gives later (see ``Delivered.confirm``) ----------------------------------------------

    def build_confirmation(self, reference: str) -> httpx2.Request:
        """The request asking the vendor what became of the accepted request ``reference``, credentials included
        (call ``authorize`` first, as for ``build_request``)."""
        raise NotImplementedError(f"{self.name} defers no verdict")

    def read_confirmation(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome | None]:
        """The vendor's later verdict on each of ``payloads`` (the deliveries that share the reference, rebuilt
        from their orders, in any order): None, nothing to change (it counted); ``Delivered(answer)``, still
        delivered, the note replaced (the vendor refused some events of the request without saying which);
        ``Failed(reason)``, refused after all: the delivery becomes dead; ``Retry(reason, after)``, not decided
        yet (or the question failed): ask again after ``after`` seconds (``confirm_after`` when None)."""
        raise NotImplementedError(f"{self.name} defers no verdict")

    def read_response(self, response: httpx2.Response) -> Outcome:
        """Classify an answer: 2xx delivered; 408, 429 and 5xx retried; any other 4xx failed for good."""
        status = response.status_code
        if 200 <= status < 300:
            return Delivered(answer=response_text(response)[:2000])
        # Redacted whole, then cut: a key or an email cut in half at the limit would escape the patterns.
        message = f"HTTP {status}: {self.redact(self.error_message(response), response)}"[:ERROR_LIMIT]
        if status in (408, 429) or status >= 500:
            return Retry(message, after=self.retry_after(response))
        return Failed(message)

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        """One outcome per payload, in order, or ``Split`` to isolate a bad payload. Default: one for all."""
        return [self.read_response(response)] * len(payloads)

    async def authorize(self, client: httpx2.AsyncClient) -> None:  # noqa: B027 - optional hook
        """Called at send time before ``build_request``: vendors with short-lived tokens refresh them here."""

    def error_message(self, response: httpx2.Response) -> str:
        """The vendor's own error text. Override to pick it out of the vendor's error shape; ``read_response``
        redacts it and cuts it to ``ERROR_LIMIT``."""
        return body_excerpt(response)

    def retry_after(self, response: httpx2.Response) -> float | None:
        """Seconds the vendor asked us to wait: ``Retry-After``, as seconds or an HTTP date. Override to read
        a vendor's own headers as well (X's rate-limit resets)."""
        return parse_retry_after(response.headers, now=time.time())

    def secret_values(self) -> list[str]:
        """This vendor's credentials: every ``Secret`` among its attributes (alone or in a tuple or list)."""
        found: list[str] = []
        for value in vars(self).values():
            for item in value if isinstance(value, tuple | list) else (value,):
                if isinstance(item, Secret) and item.value:
                    found.append(item.value)
        return found

    def redact(self, text: str, response: httpx2.Response | None = None) -> str:
        """``text`` without this vendor's credentials, nor the personal values of the request answered."""
        return redact(text, secrets=[*self.secret_values(), *_request_values(response)])

    def masked_headers(self, request: httpx2.Request) -> dict[str, str]:
        """The request's headers with credentials masked, for ``attribution show`` and the demo."""
        return redact_headers(request.headers.items(), secrets=self.secret_values())

    def masked_url(self, request: httpx2.Request) -> str:
        """The request URL with credential query parameters masked."""
        return redact_url(str(request.url), secrets=self.secret_values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


def _request_values(response: httpx2.Response | None) -> list[str]:
    """The personal values in the JSON body of the request a response answers (none when unknown)."""
    try:
        body = response.request.content if response is not None else b""
    except (RuntimeError, httpx2.RequestNotRead):
        return []
    try:
        return personal_values(json.loads(body)) if body else []
    except ValueError:
        return []


def body_excerpt(response: httpx2.Response) -> str:
    """The raw body as one line of text (tags of an HTML page dropped), or the reason phrase when empty: the
    vendor's own words when its error shape is not the one expected."""
    text = response_text(response)[:_RAW_LIMIT]
    if text.lstrip().startswith("<"):
        text = _TAG.sub(" ", text)
    return " ".join(text.split()) or response.reason_phrase


def response_text(response: httpx2.Response) -> str:
    """The body as text: decoded by the charset its ``Content-Type`` declares, else (none, or one Python does
    not know) as UTF-8, undecodable bytes replaced. ``Response.text`` reads the same, but parses the header
    with the ``email`` package for every response, which costs the worker more than the decoding."""
    content = response.content
    if not content:
        return ""
    return content.decode(_charset(response.headers.get("content-type")), "replace")


def _charset(content_type: str | None) -> str:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip("'\"")
            try:
                return codecs.lookup(name).name
            except LookupError:
                break
    return "utf-8"


def readable(value: Any) -> str:
    """A JSON error value as text: ``{"email": ["is invalid"]}`` reads ``email: is invalid``."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {readable(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(readable(v) for v in value)
    return str(value)


def iso_millis(moment: datetime) -> str:
    """``2022-02-18T01:14:00.603Z``: ISO 8601, UTC, milliseconds, as X and Whop show it."""
    moment = moment.astimezone(UTC)
    if moment.year >= 1000:  # isoformat pads a year to four digits, strftime does not: the same text from here on
        return moment.isoformat(timespec="milliseconds")[:-6] + "Z"  # without "+00:00"; milliseconds truncated
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- helpers shared by the adapters -------------------------------------------------------------------


def as_secret(value: str | Secret) -> Secret:
    """Accept a plain string or a ``Secret`` for a credential, always keep a ``Secret``."""
    return value if isinstance(value, Secret) else Secret(value)


def json_number(value: Decimal) -> float:
    """A money amount as a JSON number: vendors document doubles. ``Decimal("99.97")`` gives ``99.97``."""
    return float(value)


def response_json(response: httpx2.Response) -> Any:
    """The response body as JSON, or None when it is empty or not JSON."""
    try:
        return response.json()
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None


_BLANK_WHEN_FALSY = frozenset({str, list, dict})
_NEVER_BLANK = frozenset({int, float, bool, Decimal})


def without_empty(fields: Mapping[str, Any]) -> JSON:
    """The fields whose value is not None, "" or an empty container: vendors reject or mis-store blanks."""
    # by exact type first: comparing a Decimal or a model with "" and [] costs more than the rest of the call
    return {
        k: v
        for k, v in fields.items()
        if v is not None and (v if type(v) in _BLANK_WHEN_FALSY else type(v) in _NEVER_BLANK or _filled(v))
    }


def _filled(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def event_label(conversion: Conversion, events: Mapping[str, str]) -> str | None:
    """The vendor's name (or id) for a conversion's event, or None when ``events`` does not configure it.

    ``events`` maps canonical event names to the vendor's. A custom event is looked up by its
    ``custom_name`` and, for vendors that name events freely, falls back to ``custom_name`` itself when
    ``events`` has a ``"custom"`` entry whose value is ``"*"``.
    """
    event: str = conversion.event._value_  # ``.value`` is a descriptor that costs more than the lookup
    if event == "custom" and conversion.custom_name:
        found = events.get(conversion.custom_name)
        if found is not None:
            return found
        return conversion.custom_name if events.get("custom") == "*" else None
    return events.get(event)


def only_one(payloads: Sequence[JSON], vendor: str) -> JSON:
    """The single payload of a vendor that takes one conversion per request (``max_batch = 1``)."""
    if len(payloads) != 1:
        raise ValueError(f"{vendor} takes one conversion per request, not {len(payloads)}")
    return payloads[0]
