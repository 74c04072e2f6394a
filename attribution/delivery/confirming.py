"""Verdicts vendors give later: asking what became of requests they accepted, and recording the answers.

Some vendors accept a request at once and decide about each event only when they process it (Google's Data
Manager API answers ``{"requestId"}``, then reports an undecodable click id or refused consent through
``requestStatus``). Such an answer is ``Delivered(confirm=reference)``: the delivery is recorded as delivered, with
the reference and the time to ask (``Vendor.confirm_after`` later). Here the worker takes the deliveries whose time
has come (under a lease, as for sending), asks the vendor once per reference, and records each delivery's verdict:
still delivered (the question is over), dead with the vendor's reason (refused after all), or asked again later.
Past ``Vendor.confirm_within`` no verdict is coming: the delivery stays delivered, with a note saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import httpx2

from ..redact import redact
from ..vendors.base import Delivered, Failed, Outcome, Retry, Vendor
from .outbox.base import Confirmed, Delivery, Outbox, Status
from .preparing import event_of

log = logging.getLogger("attribution.worker")

LOOK_EVERY = 5.0
"""Seconds between looks for verdicts due (by the worker's clock)."""


class Confirmer:
    """Asks the vendors that defer their verdicts about the deliveries whose time has come."""

    def __init__(
        self,
        outbox: Outbox,
        vendors: Mapping[str, Vendor],
        *,
        worker_id: str,
        lease: float,
        clock: Callable[[], float],
    ) -> None:
        self.outbox = outbox
        self.vendors = {name: v for name, v in vendors.items() if v.confirm_after is not None}
        self.worker_id = worker_id
        self.lease = lease
        self.clock = clock
        self._next_look = 0.0

    def due(self, now: float) -> bool:
        return bool(self.vendors) and now >= self._next_look

    async def run(self, clients: Callable[[str], httpx2.AsyncClient]) -> int:
        """Ask about every delivery whose verdict is due; returns how many verdicts were recorded."""
        now = self.clock()
        self._next_look = now + LOOK_EVERY
        taken = await self.outbox.claim_confirmations(
            self.worker_id, vendors=list(self.vendors), now=now, lease=self.lease
        )
        groups: dict[tuple[str, str], list[Delivery]] = {}
        for delivery in taken:
            groups.setdefault((delivery.vendor, delivery.confirm_ref or ""), []).append(delivery)
        results: list[Confirmed] = []
        for (name, reference), deliveries in groups.items():
            results += await self._ask(self.vendors[name], reference, deliveries, clients(name))
        return await self.outbox.confirm(self.worker_id, results) if results else 0

    async def _ask(
        self, vendor: Vendor, reference: str, deliveries: Sequence[Delivery], client: httpx2.AsyncClient
    ) -> list[Confirmed]:
        now = self.clock()
        again = now + (vendor.confirm_after or LOOK_EVERY)
        within = vendor.confirm_within
        if within is not None and all(now - d.updated_at > within for d in deliveries):
            note = f"not confirmed: {vendor.name} gave no verdict within {within / 3600:g} hours"
            return [Confirmed(d.id, now, Status.DELIVERED, note) for d in deliveries]
        try:
            payloads = [event_of(vendor, d) for d in deliveries]
            await vendor.authorize(client)
            response = await client.send(vendor.build_confirmation(reference))
            verdicts = vendor.read_confirmation(response, payloads)
        except Exception as exc:
            # Asked again later; the type only, as a message may quote what was sent.
            log.warning(
                "%s: asking for the verdict on an accepted request failed (%s)", vendor.name, type(exc).__name__
            )
            return [Confirmed(d.id, now, ask_at=again) for d in deliveries]
        if len(verdicts) != len(deliveries):
            log.error("%s: read %d verdicts for %d deliveries", vendor.name, len(verdicts), len(deliveries))
            return [Confirmed(d.id, now, ask_at=again) for d in deliveries]
        return [_confirmed(vendor, d, v, now, again) for d, v in zip(deliveries, verdicts, strict=True)]


def _confirmed(vendor: Vendor, delivery: Delivery, verdict: Outcome | None, now: float, again: float) -> Confirmed:
    secrets = [*vendor.secret_values(), *delivery.personal_values()]
    if verdict is None:
        return Confirmed(delivery.id, now, Status.DELIVERED)
    if isinstance(verdict, Delivered):
        return Confirmed(delivery.id, now, Status.DELIVERED, redact(verdict.answer, secrets=secrets)[:2000])
    if isinstance(verdict, Failed):
        note = redact(f"refused after delivery: {verdict.reason}", secrets=secrets)[:500]
        return Confirmed(delivery.id, now, Status.DEAD, note)
    if isinstance(verdict, Retry):
        return Confirmed(delivery.id, now, ask_at=now + verdict.after if verdict.after else again)
    return Confirmed(delivery.id, now, ask_at=again)
