"""The outbox contract: durable order records, and a queue of deliveries, one per (vendor, dedup key).

The tracker writes one order record per checked-out order and event, and one delivery per vendor it goes to; workers
claim due deliveries under a lease, build each vendor's request from the delivery's order record, send it and record
the outcome. Every backend (SQLite for one machine, PostgreSQL for many) keeps these promises:

- ``enqueue`` is durable when it returns, and idempotent on (order id, event) for the record and on (vendor,
  dedup_key) for a delivery, for as long as the row is kept: a delivered or dead delivery still absorbs a
  duplicate, not only a queued one. An order is recorded even when no vendor applies (reports read it).
- ``correct`` changes an order's value or cancels it, and its deliveries with it, in one transaction.
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

import builtins
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ...errors import ConfigurationError
from ...orders.record import OrderRecord, conversion_of
from ...redact import personal_values

if TYPE_CHECKING:
    from ...orders.conversion import Conversion

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
    HELD = "held"
    """Held until ``next_attempt_at`` (``Tracker(hold=...)``); then the site's ``still_valid`` is asked and, if the
    order stands, it is sent."""
    CANCELLED = "cancelled"
    """Never sent: the order was cancelled before it went out (``Tracker.cancel``, or ``still_valid`` said no), or
    a correction found nothing delivered to correct. ``last_error`` says why."""


TERMINAL = frozenset({Status.DELIVERED, Status.DEAD, Status.DRY_RUN, Status.CANCELLED})
WAITING = frozenset({Status.PENDING, Status.SENDING, Status.HELD})
"""Not finished: a claim will take it when it is due."""

Kind = Literal["send", "restate", "retract"]
"""What a delivery tells its vendor: the conversion, or a correction of one it accepted."""


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """One vendor's delivery of an order, to write at checkout. Its request is built from the order when sent."""

    vendor: str
    dedup_key: str
    batch_key: str = ""
    hold_until: float | None = None
    """Held until then (status ``held``), the site's ``still_valid`` asked before sending; None: due at once."""


@dataclass(frozen=True, slots=True)
class NewOrder:
    """One checkout: the order record, the deliveries of the vendors that apply, and why the others do not."""

    record: OrderRecord
    deliveries: tuple[NewDelivery, ...] = ()
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Vendor name → the reason it does not apply (kept for the delivery report)."""


@dataclass(slots=True, eq=False)
class StoredOrder:
    """An order record as stored, read with its deliveries: enough to rebuild the conversion a vendor reads.

    ``data`` and ``identifiers`` are the stored JSON texts (None once the retention purge scrubbed the personal
    parts); the conversion is built from them once, however many of the order's deliveries read it."""

    row: int
    order_id: str
    event: str
    value: Decimal | None
    currency: str | None
    status: str
    """``active`` or ``cancelled``."""
    data: str | None = field(default=None, repr=False)
    identifiers: str | None = field(default=None, repr=False)
    readers: int = field(default=0, repr=False)
    """Deliveries of one claim still to build their request from this record (the worker counts them): the
    conversion is let go when the last one has (``done_reading``), not kept alive with requests in flight."""
    _conversion: Conversion | None = field(default=None, repr=False)

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def scrubbed(self) -> bool:
        """The personal parts are gone (retention): no request can be built from it any more."""
        return self.data is None

    def conversion(self) -> Conversion:
        """The conversion vendors read, rebuilt once. Raises ``ValueError`` for a scrubbed or unreadable record."""
        if self._conversion is None:
            if self.data is None:
                raise ValueError("the order's details were purged after the retention period")
            data = json.loads(self.data)
            identifiers = json.loads(self.identifiers) if self.identifiers else {}
            self._conversion = conversion_of(self.order_id, self.event, self.value, self.currency, data, identifiers)
        return self._conversion

    def done_reading(self) -> None:
        """One of the ``readers`` has built its request: the last one lets the conversion go. A worker keeps
        thousands of deliveries in flight, and their decoded conversions, kept, make every garbage collection
        walk them: a third of the worker's time with Meta's batches of a thousand. Without readers counted (0), the
        conversion is kept as long as the record."""
        if self.readers > 0:
            self.readers -= 1
            if self.readers == 0:
                self._conversion = None

    def personal_values(self) -> list[str]:
        """The personal values the record keeps in clear (the customer's email, phone, names, ids; the visitor's IP),
        and the words of names, for masking wherever a vendor's answer may echo them."""
        forms = json.loads(self.identifiers) if self.identifiers else {}
        context = json.loads(self.data).get("context", {}) if self.data else {}
        # by the field each form is of ("meta.ct" is a digest of the city: no key of personal_values, kept as it is)
        fields = {name.rsplit(".", 1)[-1]: value for name, value in forms.items()}
        return personal_values({"customer": fields, "visitor": {"ip": context.get("ip")}})


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The outcome of writing one ``NewDelivery``: its id, and whether it already existed."""

    id: int
    vendor: str
    dedup_key: str
    duplicate: bool
    order_row: int | None = None
    """The id of the order record the delivery belongs to."""


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
    """One row of the outbox. Its request is built from ``order`` (claims and ``get`` read it with the delivery);
    ``payload`` is set only for a delivery written by a release before order records, which kept the finished
    event instead. Both may hold personal data: the repr never shows them."""

    id: int
    vendor: str
    dedup_key: str
    batch_key: str
    payload: JSON | None = field(repr=False)
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
    kind: Kind = "send"
    hold_until: float | None = None
    """When a hold ends (``held`` until then); kept until the site's ``still_valid`` has been asked."""
    order: StoredOrder | None = field(default=None, repr=False)
    confirm_ref: str | None = None
    """The vendor's reference to ask about later (``Delivered.confirm``), while its verdict is awaited."""
    confirm_at: float | None = None
    """When to ask about ``confirm_ref`` next."""
    original_status: Status | None = None
    """For a correction (``kind`` restate or retract) claimed by a worker: where the conversion it corrects stands."""
    original_due: float | None = None
    """... and when that conversion is due (its next attempt, the end of its hold or of its lease)."""

    def personal_values(self) -> list[str]:
        """The personal values this delivery carries (emails, phones, names, ids, IPs), to mask wherever a
        vendor's answer or error that may echo them is shown: ``redact(d.last_error, secrets=d.personal_values())``."""
        found = personal_values(self.payload) if self.payload is not None else []
        if self.order is not None:
            found += self.order.personal_values()
        return found


@dataclass(frozen=True, slots=True)
class Finish:
    """What a worker learned about one claimed delivery, to record in one write with many others.

    ``status`` is the new status: ``pending`` (retry at ``next_attempt_at``), ``delivered``, ``dead``,
    ``dry_run``, ``cancelled`` (the order was cancelled, or ``still_valid`` said no), ``held`` (``still_valid``
    could not answer: ask again at ``next_attempt_at``). ``released`` marks a delivery handed back unsent (at
    shutdown, while its vendor is paused, after waiting too long for a free request slot, or still held): it
    does not count as an attempt. Any other outcome ends the delivery's hold. ``confirm_ref`` / ``confirm_at``:
    delivered, the vendor's verdict to be asked for at ``confirm_at``.
    """

    id: int
    status: Status
    at: float
    next_attempt_at: float = 0.0
    error: str | None = None
    answer: str | None = None
    released: bool = False
    confirm_ref: str | None = None
    confirm_at: float | None = None


@dataclass(frozen=True, slots=True)
class Confirmed:
    """The vendor's later verdict on a delivered delivery this worker was asked to confirm (``claim_confirmations``).

    ``status``: ``delivered`` (it counted, or no verdict will come: ``note`` says which) or ``dead`` (refused after
    all, ``note`` the vendor's reason); None with ``ask_at``: not decided yet, ask again then."""

    id: int
    at: float
    status: Status | None = None
    note: str | None = None
    ask_at: float | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """A correction of an order: a new value (``adjust``) or its cancellation (``cancel``).

    ``restate`` and ``retract``: the vendors that can be told of a correction to a conversion they already accepted
    (``Vendor.corrections``); for the others a delivered conversion stays as it was (``not_supported``)."""

    kind: Literal["adjust", "cancel"]
    value: Decimal | None = None
    currency: str | None = None
    reason: str = ""
    restate: frozenset[str] = frozenset()
    retract: frozenset[str] = frozenset()
    batch_keys: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """(vendor, kind) → the batch key of a correction of that kind to that vendor (``Vendor.correction_batch_key``)."""
    unavailable: str | None = None
    """Why no vendor can be told of the change even if it documents how (the record's details were purged)."""


CorrectionStatus = Literal["adjusted", "cancelled", "restated", "retracted", "not_supported", "unchanged"]


@dataclass(frozen=True, slots=True)
class VendorCorrection:
    """What a correction (``Tracker.adjust`` or ``cancel``) did for one vendor of the order: ``adjusted`` or
    ``cancelled`` (not sent yet: it goes with the new value, or never), ``restated`` or ``retracted`` (delivered: a
    correction is queued for the vendor), ``not_supported`` (delivered, and the vendor cannot be told; ``reason``
    says why) or ``unchanged`` (nothing to do: the same call was made before, or the order is cancelled)."""

    vendor: str
    status: CorrectionStatus
    reason: str | None = None
    delivery_id: int | None = None
    """The delivery changed, or the correction queued for it."""


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
    async def enqueue(self, orders: Sequence[NewOrder], *, now: float) -> list[Enqueued]:
        """Write order records and their deliveries, in one durable transaction. A record already stored for the
        same (order id, event) is kept as it is (the first checkout's attribution stands) and a delivery already
        stored for the same (vendor, dedup_key) is skipped: what comes back says, per delivery, which."""

    async def enqueue_with(self, connection: Any, orders: Sequence[NewOrder], *, now: float) -> list[Enqueued]:
        """Like ``enqueue``, with the caller's open database connection and inside the caller's transaction:
        the order and its deliveries exist only if the caller commits. Only backends on the site's own database can."""
        raise ConfigurationError(
            f"{type(self).__name__} cannot write in the caller's transaction; use the PostgreSQL outbox"
        )

    def enqueue_with_sync(self, connection: Any, orders: Sequence[NewOrder], *, now: float) -> list[Enqueued]:
        """``enqueue_with`` for synchronous code (Django's transactions), on a synchronous connection."""
        raise ConfigurationError(
            f"{type(self).__name__} cannot write in the caller's transaction; use the PostgreSQL outbox"
        )

    @abstractmethod
    async def correct(
        self, order_id: str, event: str, change: Change, *, now: float
    ) -> builtins.list[VendorCorrection] | None:
        """Apply ``change`` to the order and its deliveries in one transaction; None when no such order is kept.

        The record takes the new value (or the cancellation). A delivery not sent yet (pending, held, dead) is
        ``adjusted`` (its request is built from the record) or ``cancelled`` (never sent); a dry run likewise. A
        delivered one (or one in flight, which may be delivered) gets a correction delivery queued where the vendor
        can be told (``restated`` / ``retracted``), after the conversion it corrects has settled; otherwise it
        stays (``not_supported``). The same change twice changes nothing the second time (``unchanged``)."""

    @abstractmethod
    async def claim(
        self, worker_id: str, *, limits: Mapping[str, int], now: float, lease: float
    ) -> dict[str, list[Delivery]]:
        """Take, per vendor, up to ``limits[vendor]`` due deliveries (pending and due, held and at the end of their
        hold, or sending with an expired lease), soonest due first, in one transaction; mark them sending, owned by
        ``worker_id`` until ``now + lease``, and count an attempt. Returns the claimed deliveries by vendor, each
        with its order record (``Delivery.order``; one ``StoredOrder`` for the deliveries of one order) and, for a
        correction, where the conversion it corrects stands (``original_status``, ``original_due``): the worker
        hands a correction back until that conversion has settled."""

    async def claim_confirmations(
        self, worker_id: str, *, vendors: Sequence[str], now: float, lease: float, limit: int = 1000
    ) -> builtins.list[Delivery]:
        """Take delivered deliveries whose vendor's verdict is due (``confirm_at`` at or before ``now``), for
        ``worker_id`` until ``now + lease``, with their order records. The default: none (a backend without
        confirmations)."""
        return []

    async def confirm(self, worker_id: str, results: Sequence[Confirmed]) -> int:
        """Record verdicts on deliveries this worker took with ``claim_confirmations``."""
        return 0

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

    def order_with_sync(
        self, connection: Any, order_id: str, event: str
    ) -> tuple[StoredOrder, builtins.list[Delivery]] | None:
        """``order`` on the caller's synchronous connection (Django's)."""
        raise ConfigurationError(f"{type(self).__name__} cannot read on the caller's connection")

    def correct_with_sync(
        self, connection: Any, order_id: str, event: str, change: Change, *, now: float
    ) -> builtins.list[VendorCorrection] | None:
        """``correct`` on the caller's synchronous connection, in its current transaction (Django's)."""
        raise ConfigurationError(f"{type(self).__name__} cannot write in the caller's transaction")

    @abstractmethod
    async def order(self, order_id: str, event: str) -> tuple[StoredOrder, builtins.list[Delivery]] | None:
        """An order record with its deliveries (corrections included, oldest first), or None."""

    dialect: ClassVar[str] = ""
    """The SQL ``select`` speaks: ``sqlite`` or ``postgres``."""

    def table(self, name: str) -> str:
        """The name a table of the outbox has in this backend's database (``orders``, ``order_touches``, ...)."""
        return name

    async def select(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        """Run one read-only statement of the backend's dialect and return its rows (reports read the orders this
        way; ``?`` placeholders for SQLite, ``%s`` for PostgreSQL)."""
        raise NotImplementedError(f"{type(self).__name__} answers no queries")

    @abstractmethod
    async def retry(self, *, ids: Sequence[int] = (), dead: bool = False, now: float) -> int:
        """Make deliveries due now: those with ``ids`` (unless sending or delivered), and every dead one
        when ``dead``. Attempts start again from zero. Returns how many were revived."""

    @abstractmethod
    async def purge(
        self,
        *,
        older_than: float,
        statuses: Sequence[Status] = tuple(TERMINAL),
        orders_older_than: float | None = None,
    ) -> int:
        """Delete deliveries in ``statuses`` last updated before the timestamp ``older_than``; then scrub the personal
        parts (customer forms, request context, attribution) of orders checked out before it that have no delivery
        left waiting, and, with ``orders_older_than``, delete orders (and their journeys) checked out before that.
        Returns how many deliveries were deleted."""

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
