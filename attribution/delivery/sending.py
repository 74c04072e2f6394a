"""One attempt at the vendor: authorize, build the request, send it, and classify what came back.

``Sender`` turns a vendor and the payloads of one request into one outcome per payload. It never decides
what happens next (that is ``decision.decide``) and never touches the outbox (that is the worker's job).

    payloads ──authorize, build_request──▶ request ──send──▶ response ──read_batch──▶ [Outcome, ...]
                                                                                └─ Split: each half again

A failure to build or read is the adapter's or the configuration's, not the network's: the delivery is
``Failed`` with the exception's type only, since its message may quote the payload or a credential.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx2

from ..errors import TokenRefreshError
from ..vendors.base import JSON, Failed, Outcome, Retry, Split, Vendor
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

    async def __call__(
        self, vendor: Vendor, payloads: Sequence[JSON], *, deadline: float | None = None
    ) -> list[Attempted]:
        """One outcome per payload, in order. A batch the vendor answers with ``Split`` is sent again as two
        halves, recursively, so one bad payload cannot sink the others.

        ``deadline``: by the clock, the last moment a request may start (the worker's lease, less the time one
        request may take). A request (a half, or one delayed by ``authorize``) that would start later is not
        sent: ``Retry``, for its next attempt.
        """
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
            first = await self(vendor, payloads[:half], deadline=deadline)
            return [*first, *await self(vendor, payloads[half:], deadline=deadline)]
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
