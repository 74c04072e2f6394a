"""What the worker tells the operator: one log line per attempt outcome, and a periodic summary.

    attribution.worker INFO     xads delivery 12: retry at 2026-05-05T21:20:04Z (in 4.0s): HTTP 503: ...
    attribution.worker WARNING  xads delivery 13: dead: HTTP 400: INVALID_EMAIL ***@***
    attribution.worker INFO     last 60s: 118 delivered (2.0/s), 3 retrying, 1 dead; 45 waiting

A vendor's error text goes through ``redact`` first, with the vendor's own credentials among the secrets:
vendors echo the email or phone they were sent, and some URLs carry keys.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from ..redact import redact
from ..vendors.base import Vendor
from .outbox.base import Finish, Status

log = logging.getLogger("attribution.worker")


class Activity:
    """Counts outcomes between summaries and writes the lines."""

    def __init__(self, vendors: Iterable[Vendor], *, interval: float, now: float) -> None:
        self.secrets = {v.name: v.secret_values() for v in vendors}
        self.interval = interval
        self.since = now
        self.counts: Counter[Status] = Counter()

    def attempt(self, vendor: str, finish: Finish) -> None:
        """One line for what an attempt at one delivery came to."""
        self.counts[finish.status] += 1
        if not log.isEnabledFor(logging.INFO):
            return
        detail = finish.error if finish.status in (Status.PENDING, Status.DEAD) else None
        reason = f": {redact(detail, secrets=self.secrets.get(vendor, ()))[:300]}" if detail else ""
        if finish.status == Status.PENDING:
            when = datetime.fromtimestamp(finish.next_attempt_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            status = f"retry at {when} (in {max(0.0, finish.next_attempt_at - finish.at):.3g}s)"
        else:
            status = finish.status.value
        level = logging.WARNING if finish.status == Status.DEAD else logging.INFO
        log.log(level, "%s delivery %d: %s%s", vendor, finish.id, status, reason)

    def due(self, now: float) -> bool:
        return now - self.since >= self.interval

    def summarize(self, now: float, waiting: int | None) -> None:
        """The summary since the last one, when anything happened or anything waits; then start counting anew."""
        elapsed, counts = now - self.since, self.counts
        self.since, self.counts = now, Counter()
        if not counts and not waiting:
            return
        delivered = counts[Status.DELIVERED]
        rate = f" ({delivered / elapsed:.1f}/s)" if elapsed >= 1 else ""
        parts = [f"{delivered} delivered{rate}", f"{counts[Status.PENDING]} retrying"]
        parts.append(f"{counts[Status.DEAD]} dead")
        if counts[Status.DRY_RUN]:
            parts.append(f"{counts[Status.DRY_RUN]} dry run")
        tail = f"; {waiting} waiting" if waiting is not None else ""
        log.info("last %.0fs: %s%s", elapsed, ", ".join(parts), tail)
