"""The outbox contract: a durable queue of deliveries, one per (vendor, dedup key).

The tracker writes deliveries at checkout; workers claim due deliveries under a lease, send them and record
the outcome. Every backend (SQLite for one machine, PostgreSQL for many) keeps these promises:

- ``enqueue`` is durable when it returns, and idempotent on (vendor, dedup_key) for as long as the row is kept:
  a delivered or dead delivery still absorbs a duplicate, not only a queued one.
- ``claim`` hands a delivery to one worker at a time: it becomes ``sending``, owned by that worker until its
  lease expires. A worker that dies simply lets the lease run out and the delivery becomes due again, so a
  delivery in flight during a crash is sent again (at-least-once; vendors with a dedup key drop the copy).
- ``finish`` only applies to deliveries the worker still owns, so a worker whose lease ran out cannot
  overwrite the result of the worker that took over.
- A claim takes many deliveries in one transaction (a batching vendor's batch is claimed together).
- ``pause`` is stored with the deliveries, so a vendor's "wait" (429, Retry-After) holds every worker that
  shares the outbox, in any process on any machine.
- ``purge`` deletes in small batches, so it never holds up checkouts for long.
- The schema carries a version; ``open`` migrates an older one forward, and refuses a newer one (written by a
  newer release) with an ``OutboxError`` that says to upgrade.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from ...errors import ConfigurationError
from ...redact import personal_values

JSON = dict[str, Any]


class Status(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    """Waiting for its next attempt (``next_attempt_at``)."""
    SENDING = "sending"
    """Claimed by a worker; becomes due again when the lease (``next_attempt_at``) expires."""
    DELIVERED = "delivered"
    """The vendor accepted it. ``answer`` keeps the vendor's response."""
    DEAD = "dead"
    """Failed for good, out of attempts or too old. ``last_error`` says why; ``attribution retry`` revives
    it."""
    DRY_RUN = "dry_run"
    """Built but, in dry-run mode, not sent. ``answer`` keeps the request that would have been sent."""


TERMINAL = frozenset({Status.DELIVERED, Status.DEAD, Status.DRY_RUN})


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to write at checkout: what ``Vendor.prepare`` built, plus where it came from."""

    vendor: str
    dedup_key: str
    payload: JSON = field(repr=False)
    batch_key: str = ""
    order_id: str = ""
    event: str = ""


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The outcome of writing one ``NewDelivery``: its id, and whether it already existed."""

    id: int
    vendor: str
    dedup_key: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Attempt:
    """One recorded attempt: when, what came of it, and the vendor's answer or the error."""

    number: int
    at: float
    result: str
    """``delivered``, ``retry``, ``dead``, ``dry_run``, or ``lost`` (the worker's lease expired first)."""
    detail: str
    worker: str = ""
    """The id of the worker that made the attempt."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the outbox. ``payload`` may hold personal data: its repr never shows it."""

    id: int
    vendor: str
    dedup_key: str
    batch_key: str
    payload: JSON = field(repr=False)
    status: Status
    attempts: int
    created_at: float
    updated_at: float
    next_attempt_at: float
    locked_by: str | None = None
    last_error: str | None = None
    answer: str | None = None
    order_id: str = ""
    event: str = ""
    history: tuple[Attempt, ...] = ()

    def personal_values(self) -> list[str]:
        """The personal values this delivery carries (emails, phones, names, ids, IPs), to mask wherever a
        vendor's answer or error that may echo them is shown: ``redact(d.last_error, secrets=d.personal_values())``."""
        return personal_values(self.payload)


@dataclass(frozen=True, slots=True)
class Finish:
    """What a worker learned about one claimed delivery, to record in one write with many others.

    ``status`` is the new status: ``pending`` (retry at ``next_attempt_at``), ``delivered``, ``dead``,
    ``dry_run``. ``released`` marks a delivery handed back unsent (at shutdown, while its vendor is paused,
    or after waiting too long for a free request slot): it does not count as an attempt.
    """

    id: int
    status: Status
    at: float
    next_attempt_at: float = 0.0
    error: str | None = None
    answer: str | None = None
    released: bool = False


class Outbox(ABC):
    """Durable storage of deliveries. Implementations are safe to share between tasks of one event loop;
    several processes may use one outbox at once (see each backend for how)."""

    spaced_writes: ClassVar[bool] = False
    """Whether a worker gathers outcomes for ``writer.WRITE_EVERY`` between writes, for a backend whose every write
    costs about the same whatever its rows; otherwise it writes as soon as the last write ended."""

    @abstractmethod
    async def open(self) -> None:
        """Create the schema, or migrate an older one forward, if needed. Idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections and threads. Idempotent."""

    @abstractmethod
    async def migrate(self) -> tuple[int, int]:
        """Bring the schema up to date now, whatever the backend's ``migrate=`` option says. Returns (the version
        found, the version now). Raises ``OutboxError`` when the stored schema is newer than this code's."""

    @abstractmethod
    async def enqueue(self, items: Sequence[NewDelivery], *, now: float) -> list[Enqueued]:
        """Write deliveries, skipping any (vendor, dedup_key) already present. Durable when it returns."""

    async def enqueue_with(self, connection: Any, items: Sequence[NewDelivery], *, now: float) -> list[Enqueued]:
        """Like ``enqueue``, with the caller's open database connection and inside the caller's transaction:
        the deliveries exist only if the caller commits. Only backends on the site's own database can."""
        raise ConfigurationError(
            f"{type(self).__name__} cannot write in the caller's transaction; use the PostgreSQL outbox"
        )

    def enqueue_with_sync(self, connection: Any, items: Sequence[NewDelivery], *, now: float) -> list[Enqueued]:
        """``enqueue_with`` for synchronous code (Django's transactions), on a synchronous connection."""
        raise ConfigurationError(
            f"{type(self).__name__} cannot write in the caller's transaction; use the PostgreSQL outbox"
        )

    @abstractmethod
    async def claim(
        self, worker_id: str, *, limits: Mapping[str, int], now: float, lease: float
    ) -> dict[str, list[Delivery]]:
        """Take, per vendor, up to ``limits[vendor]`` due deliveries (pending and due, or sending with an
        expired lease), soonest due first, in one transaction; mark them sending, owned by ``worker_id``
        until ``now + lease``, and count an attempt. Returns the claimed deliveries by vendor."""

    async def next_due(self, vendors: Sequence[str]) -> float | None:
        """The earliest ``next_attempt_at`` of the pending or sending deliveries of ``vendors`` (for a sending
        one, when its lease runs out), or None when there is none. The worker sleeps until then instead of
        polling. The default, None, means "unknown": the worker then looks again after its poll interval."""
        return None

    async def count_waiting(self, vendors: Sequence[str]) -> int | None:
        """How many deliveries of ``vendors`` are pending or sending, for the worker's periodic summary. The
        default, None, means "not counted" (the summary leaves it out)."""
        return None

    @abstractmethod
    async def finish(self, worker_id: str, results: Sequence[Finish]) -> int:
        """Record outcomes of deliveries this worker still owns, in one durable write. Returns how many
        applied (a delivery whose lease expired and that another worker claimed is left alone)."""

    @abstractmethod
    async def get(self, delivery_id: int) -> Delivery | None:
        """One delivery with its attempt history."""

    @abstractmethod
    async def list(
        self,
        *,
        status: Status | None = None,
        vendor: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Delivery]:
        """Deliveries, newest first, without attempt history."""

    @abstractmethod
    async def counts(self) -> dict[tuple[str, Status], int]:
        """How many deliveries per (vendor, status), leaving out none. Exact, and kept as rows change: as cheap
        with a million deliveries kept as with ten."""

    @abstractmethod
    async def oldest_waiting(self, vendors: Sequence[str]) -> dict[str, float]:
        """Per vendor, when its oldest delivery not yet finished (pending or sending) was queued; vendors with
        none are left out. On an index: as costly as the queue is long, not as the kept history."""

    @abstractmethod
    async def last_errors(self, vendors: Sequence[str]) -> dict[str, Delivery]:
        """Per vendor, the most recently updated delivery that is not delivered and has an error (a retry
        waiting, or a dead one), without history; vendors with none are left out. On an index."""

    @abstractmethod
    async def retry(self, *, ids: Sequence[int] = (), dead: bool = False, now: float) -> int:
        """Make deliveries due now: those with ``ids`` (unless sending or delivered), and every dead one
        when ``dead``. Attempts start again from zero. Returns how many were revived."""

    @abstractmethod
    async def purge(self, *, older_than: float, statuses: Sequence[Status] = tuple(TERMINAL)) -> int:
        """Delete deliveries in ``statuses`` last updated before the timestamp ``older_than``."""

    @abstractmethod
    async def pause(self, vendor: str, until: float) -> None:
        """Hold ``vendor``'s deliveries for every worker on this outbox: ``claim`` skips the vendor before the
        timestamp ``until``. A pause never shortens one already stored."""

    @abstractmethod
    async def paused(self, *, now: float) -> dict[str, float]:
        """Vendors paused at ``now``, with the time each pause ends."""

    async def watch(self, wake: Callable[[], None]) -> None:  # noqa: B027 - optional: polling is the default
        """Call ``wake`` whenever any process commits new deliveries, until cancelled, so an idle worker need not
        poll often. Backends that cannot tell return at once (the worker then polls)."""
