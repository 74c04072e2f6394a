"""One attempt at the vendor: authorize, build the request, send it, and classify what came back.

``Sender`` turns a vendor and the payloads of one request into one outcome per payload. It never decides
what happens next (that is ``decision.decide``) and never touches the outbox (that is the worker's job).

    payloads ──authorize, build_request──▶ request ──send──▶ response ──read_batch──▶ [Outcome, ...]
                                                                                └─ Split: each half again

A failure to build or read is the adapter's or the configuration's, not the network's: the delivery is
``Failed`` with the exception's type only, since its message may quote the payload or a credential.

Every outcome's text (a reason, an answer) leaves here redacted, whatever ``read_response`` or ``read_batch``
the adapter has: ``attribution.redact`` with the vendor's credentials, the credential parameters of the URLs
sent (Meta's ``appsecret_proof``) and the personal values of the deliveries' own payloads, and the adapter's
own ``redact`` when it has one. An adapter cannot forget it, so the outbox's ``last_error``, the worker's log
lines and every screen that shows them hold what the vendor said, without what it echoed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import httpx2

from ..errors import TokenRefreshError
from ..redact import CREDENTIAL_KEYS, personal_values, printable, redact
from ..vendors.base import JSON, Delivered, Failed, Outcome, Retry, Split, Vendor
from .policy import is_ambiguous

log = logging.getLogger("attribution.worker")


@dataclass(frozen=True, slots=True)
class DryRun:
    """Dry run: the request was built, not sent. ``request`` is what it would have been, credentials masked."""

    request: str


Attempted = Outcome | DryRun
"""What one attempt learned about one delivery."""


def describe_request(vendor: Vendor, request: httpx2.Request) -> str:
    """The request as an operator reads it: method, URL and headers with credentials masked, and the body."""
    lines = [f"{request.method} {vendor.masked_url(request)}"]
    lines += [f"{k}: {v}" for k, v in vendor.masked_headers(request).items()]
    body = request.content.decode("utf-8", "replace")
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return "\n".join([*lines, "", body])


class Sender:
    """Sends requests with the worker's HTTP clients and reports an outcome per payload.

    Args:
        clients: the pooled HTTP client each vendor's requests go through, by vendor name, or one for all.
        dry_run: build each request and answer ``DryRun`` with its description; send nothing and do not call
            ``Vendor.authorize`` (a dry run makes no network call at all).
        clock: seconds since the epoch, read against a call's ``deadline``.
    """

    def __init__(
        self,
        clients: httpx2.AsyncClient | Mapping[str, httpx2.AsyncClient],
        *,
        dry_run: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = clients
        self.dry_run = dry_run
        self.clock = clock
        self.sent = 0
        """Requests handed to the client (the request may or may not have reached the vendor)."""
        self._secrets: dict[int, list[str]] = {}

    async def __call__(
        self, vendor: Vendor, payloads: Sequence[JSON], *, deadline: float | None = None
    ) -> list[Attempted]:
        """One outcome per payload, in order, its text redacted. A batch the vendor answers with ``Split`` is
        sent again as two halves, recursively, so one bad payload cannot sink the others.

        ``deadline``: by the clock, the last moment a request may start (the worker's lease, less the time one
        request may take). A request (a half, or one delayed by ``authorize``) that would start later is not
        sent: ``Retry``, for its next attempt.
        """
        sent: set[str] = set()  # credentials the requests carried (URL parameters, headers)
        outcomes = await self._attempt(vendor, payloads, deadline, sent)
        secrets = self._secrets.get(id(vendor))
        if secrets is None:  # the adapter's own credentials, set when it was built; those sent are read per request
            secrets = self._secrets[id(vendor)] = vendor.secret_values()
        return Redactor(vendor, payloads, {*secrets, *sent}).outcomes(outcomes)

    async def _attempt(
        self, vendor: Vendor, payloads: Sequence[JSON], deadline: float | None, sent: set[str]
    ) -> list[Attempted]:
        n = len(payloads)
        client = self.clients if isinstance(self.clients, httpx2.AsyncClient) else self.clients[vendor.name]
        if not self.dry_run:
            try:
                await vendor.authorize(client)
            except httpx2.TransportError as exc:
                return [Retry(f"{type(exc).__name__} while authorizing: the request was not sent")] * n
            except Exception as exc:
                if isinstance(exc, TokenRefreshError) and exc.transient:
                    # An outage of the token endpoint (unreachable, 5xx, 429) passes on its own: retry, as for
                    # the vendor's own API. Its message names the error, never a credential.
                    return [Retry(str(exc))] * n
                log.error("%s: authorizing failed (%s)", vendor.name, type(exc).__name__)
                return [Failed(f"could not authorize: {type(exc).__name__}")] * n
        try:
            request = vendor.build_request(payloads)
        except Exception as exc:
            # Most likely a configuration problem (credentials, base URL); the operator fixes it and
            # revives the deliveries with `attribution retry --dead`.
            log.error("%s: building a request failed (%s)", vendor.name, type(exc).__name__)
            return [Failed(f"could not build the request: {type(exc).__name__}")] * n
        if self.dry_run:
            return [DryRun(describe_request(vendor, request))] * n
        sent.update(_credentials(request))
        # Checked here, after ``authorize`` (a token refresh is a request of its own), for every half as well.
        if deadline is not None and self.clock() > deadline:
            return [Retry("not sent: too little of the lease was left for another request")] * n
        try:
            response = await client.send(request)
        except httpx2.RequestError as exc:
            # A transport error, or an answer that cannot be read as sent (DecodingError): the vendor may have
            # recorded the request either way, and nothing is left for ``read_batch`` to classify.
            return [self._transport_failure(vendor, exc)] * n
        finally:
            self.sent += 1
        try:
            answer = vendor.read_batch(response, payloads)
            outcomes: list[Attempted] = [] if isinstance(answer, Split) else list(answer)
        except Exception as exc:
            log.error("%s: reading HTTP %s failed (%s)", vendor.name, response.status_code, type(exc).__name__)
            return [Failed(f"HTTP {response.status_code}: could not read the answer ({type(exc).__name__})")] * n
        if isinstance(answer, Split):
            if n == 1:  # the contract says a single payload gets Failed, not Split; never loop on it
                return [Failed(answer.reason)]
            half = n // 2
            first = await self._attempt(vendor, payloads[:half], deadline, sent)
            return [*first, *await self._attempt(vendor, payloads[half:], deadline, sent)]
        if len(outcomes) != n:
            message = f"the {vendor.name} adapter read {len(outcomes)} outcomes for {n} payloads"
            log.error("%s", message)
            return [Failed(message)] * n
        return outcomes

    @staticmethod
    def _transport_failure(vendor: Vendor, exc: httpx2.RequestError) -> Outcome:
        # str(exc) may quote the URL, and RD Station's URL carries its API key: name the error only.
        kind = type(exc).__name__
        if not is_ambiguous(exc):
            return Retry(f"{kind}: the request was not sent")
        if not vendor.has_dedup_key and not vendor.retry_ambiguous:
            return Failed(
                f"{kind} after the request was sent: not retried, {vendor.name} has no dedup key and "
                "retry_ambiguous is off (retry it if the vendor did not record it)"
            )
        return Retry(
            f"{kind} after the request was sent; retried"
            + ("" if vendor.has_dedup_key else " (may duplicate: the vendor has no dedup key)")
        )


def _credentials(request: httpx2.Request) -> Iterator[str]:
    """The credentials a request carries: credential query parameters (RD Station's ``api_key``, Meta's
    ``access_token`` and ``appsecret_proof``) and credential headers, whole and by their last word (the token of
    ``Bearer <token>``, as a refreshed OAuth token is sent)."""
    for key, value in request.url.params.multi_items():
        if key.lower() in CREDENTIAL_KEYS:
            yield value
    for key, value in request.headers.items():
        if key.lower() in CREDENTIAL_KEYS:
            yield value
            yield value.rsplit(" ", 1)[-1]


class Redactor:
    """The one redaction every outcome's text goes through before the worker records or logs it."""

    def __init__(self, vendor: Vendor, payloads: Sequence[JSON], secrets: Iterable[str]) -> None:
        self.vendor = vendor
        self.payloads = payloads
        self.secrets = secrets
        self._values: list[str] | None = None
        # an adapter that overrides ``redact`` (to mask more) gets its say too
        self._own = type(vendor).redact is not Vendor.redact

    def values(self) -> list[str]:
        """What no text may hold: the vendor's credentials, those its requests carried, the payloads' personal
        values. Worked out once per request, and only when a text needs it."""
        if self._values is None:
            self._values = [*self.secrets, *personal_values(list(self.payloads))]
        return self._values

    def text(self, text: str) -> str:
        if not text:
            return text
        if self._own:
            text = self.vendor.redact(text)
        return redact(text, secrets=self.values())

    def outcomes(self, outcomes: list[Attempted]) -> list[Attempted]:
        """The outcomes with their texts redacted; a batch's shared outcome is redacted once."""
        done: dict[int, Attempted] = {}
        cleaned = []
        for outcome in outcomes:
            found = done.get(id(outcome))
            if found is None:
                found = done[id(outcome)] = self._one(outcome)
            cleaned.append(found)
        return cleaned

    def _one(self, outcome: Attempted) -> Attempted:
        if isinstance(outcome, Delivered):
            answer = self.text(outcome.answer)
            return outcome if answer == outcome.answer else dataclasses.replace(outcome, answer=answer)
        if isinstance(outcome, Retry | Failed):
            reason = printable(self.text(outcome.reason))  # one line in the worker's log, whatever the vendor sent
            return outcome if reason == outcome.reason else dataclasses.replace(outcome, reason=reason)
        return outcome  # a dry run's request: credentials masked already, its body shown masked by the screens
