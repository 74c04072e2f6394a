"""The worker: claims due deliveries into per-vendor lanes, starts their requests, records what happened.

It schedules only. One vendor's state (slots, ready deliveries, pause, rate) is a ``lane.Lane``; sending and
classifying one request is ``sending.Sender``; what to record after it is ``decision.decide``; writing outcomes in
one transaction per round is ``writer.OutcomeWriter``; holding back while checkouts run is ``gate.CheckoutGate``;
the log lines are ``activity``. How these fit together: docs/architecture.md, "Concurrency".

One ``Worker`` runs inside the app (started by the tracker on ASGI lifespan) or alone (``attribution
worker``). Several workers may share one outbox: a delivery is claimed by one worker under a lease, so no two
send it at the same time.

    _loop (one task) ──claim──▶ lane.ready ──_dispatch──▶ _send_while_ready (a task per busy slot)
        ▲                                                   │ Sender ─▶ vendor; decide ─▶ OutcomeWriter
        └──── _kick: a wake-up, a lane running low, a slot ended, outcomes written ◀──┘

Per vendor the worker keeps claimed deliveries ready besides those in flight (a round of requests, or what
it sent in the last fifth of a second if more), so a freed request slot is refilled at once and claims come
in few, large transactions; a delivery that waited there for half its lease, or too long to finish a request
within it, is handed back unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import TypedDict, Unpack

import httpx2

from ..errors import ConfigurationError
from ..vendors.base import Retry, Vendor
from .activity import Activity
from .confirming import Confirmer
from .decision import decide
from .gate import CheckoutGate
from .lane import Lane
from .outbox.base import Change, Delivery, Finish, Outbox, Status
from .outbox.corrections import with_vendors
from .policy import Random, RetryPolicy
from .preparing import Prepared, count_readers, prepare
from .sending import Attempted, Sender
from .writer import OutcomeWriter

log = logging.getLogger("attribution.worker")

Clock = Callable[[], float]

DEFAULT_TIMEOUT = httpx2.Timeout(10.0, connect=5.0)


PREPARE_AT_ONCE = 256
"""The most deliveries whose events are built in one step of the event loop (20 to 60 ms here). A larger
chunk, a batch of a thousand from a backlog, takes a tenth of a second and more: it is built ``PREPARE_SLICE`` at a
time, with the loop free between slices and a checkout that began meanwhile served first. Smaller ones, what live
traffic brings, are built at once as they always were: slicing them too measured worse for a burst of checkouts
beside an in-app worker (``bench_burst.py --worker in-app``: p95 medians 729 and 1,016 ms, against 575 and 706
built at once; a bench whose runs spread widely)."""

PREPARE_SLICE = 64
"""Deliveries built per step of the loop in a chunk of more than ``PREPARE_AT_ONCE``."""

StillValid = Callable[[str, str], "bool | Awaitable[bool]"]
"""``still_valid(order_id, event)``: whether a held order still stands (sync or async)."""

STILL_VALID_AGAIN = 300.0
"""Seconds before ``still_valid`` is asked again about a held order it could not answer for (it raised)."""


class WorkerOptions(TypedDict, total=False):
    """The worker's settings by keyword, for ``Worker`` and, passed through, ``Tracker`` (see ``Worker``)."""

    policy: RetryPolicy | None
    concurrency: int | Mapping[str, int]
    timeout: httpx2.Timeout | float
    lease: float
    poll_interval: float
    transport: httpx2.AsyncBaseTransport | None
    client: httpx2.AsyncClient | None
    shutdown_grace: float
    retention: timedelta | float | None
    worker_id: str | None
    rand: Random
    summary_interval: float
    still_valid: StillValid | None
    order_retention: timedelta | float | None


class Worker:
    """Sends the outbox's deliveries to the configured vendors.

    Args:
        outbox: where deliveries wait.
        vendors: the configured adapters; deliveries of other vendors are left alone.
        dry_run: build every request and record it, but send nothing. Fixed for the worker's life.
        clock: seconds since the epoch (tests pass their own to drive retries and pauses).
        policy: retry limits and delays.
        concurrency: requests in flight per vendor, one number for all or a mapping by vendor name (8).
        timeout: per-request timeouts of the shared HTTP client (10 s, 5 s to connect).
        lease: seconds a claimed delivery stays this worker's (120); must comfortably exceed the request
            timeout, or a slow request could be claimed and sent by another worker too.
        poll_interval: the longest sleep between looks at the outbox when nothing is due (1 s). A checkout in
            the same process wakes the worker at once; checkouts in other processes are seen at the next look.
        transport: an httpx2 transport for the shared client (tests: ``httpx2.MockTransport``).
        client: one ready client for every vendor instead of the worker's own (one pool per vendor); the worker
            then does not close it.
        shutdown_grace: seconds ``stop`` waits for requests in flight before abandoning them (10).
        retention: how long delivered, dead and dry-run deliveries (and the personal data in them) are kept
            (a ``timedelta`` or seconds; 30 days), checked hourly; None keeps them until ``attribution purge``.
        worker_id: this worker's name in the outbox (default: host, process id and a random suffix).
        summary_interval: seconds between summary log lines (delivered, retrying, dead, waiting; 60).
        rand: the jitter source, for deterministic tests.
        still_valid: ``callable(order_id, event)``, sync or async, asked before a held delivery is sent (see
            ``Tracker``): False cancels it, an exception asks again ``STILL_VALID_AGAIN`` seconds later.
        order_retention: how long order records (and the journeys reports read) are kept (400 days); None keeps
            them until ``attribution purge``. Their personal parts go with the deliveries' ``retention``.
    """

    def __init__(
        self,
        outbox: Outbox,
        vendors: Sequence[Vendor],
        *,
        dry_run: bool = False,
        clock: Clock = time.time,
        **options: Unpack[WorkerOptions],
    ) -> None:
        names = [v.name for v in vendors]
        if len(set(names)) != len(names):
            raise ConfigurationError("each vendor may be configured once per worker")
        self.outbox = outbox
        self.vendors = {v.name: v for v in vendors}
        self._options = options
        self._dry_run = dry_run
        self.clock = clock
        # -- settings
        self.policy = options.get("policy") or RetryPolicy()
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        self.timeout = timeout if isinstance(timeout, httpx2.Timeout) else httpx2.Timeout(timeout)
        longest = max(
            (t for t in (self.timeout.connect, self.timeout.read, self.timeout.write, self.timeout.pool) if t),
            default=0.0,
        )
        lease = options.get("lease", 120.0)
        # connect + write + read may each take up to their limit on one request.
        if lease <= 3 * longest:
            raise ConfigurationError(
                f"lease ({lease:g}s) must exceed three times the longest request timeout ({longest:g}s), "
                "or another worker could claim a delivery still in flight"
            )
        self.lease = lease
        self._longest_request = 3 * longest
        self._stale_margin = max(lease / 2, self._longest_request)
        """A claimed delivery with less lease left than this is handed back unsent (see ``_take``)."""
        self.poll_interval = options.get("poll_interval", 1.0)
        self.shutdown_grace = options.get("shutdown_grace", 10.0)
        retention = options.get("retention", timedelta(days=30))
        self.retention = retention.total_seconds() if isinstance(retention, timedelta) else retention
        kept = options.get("order_retention", timedelta(days=400))
        self.order_retention = kept.total_seconds() if isinstance(kept, timedelta) else kept
        self.still_valid = options.get("still_valid")
        self.worker_id = options.get("worker_id") or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.rand = options.get("rand", random.random)
        concurrency = options.get("concurrency", 8)
        self._lanes = {
            name: Lane(vendor, concurrency if isinstance(concurrency, int) else concurrency.get(name, 8))
            for name, vendor in self.vendors.items()
        }
        if any(lane.limit < 1 for lane in self._lanes.values()):
            raise ConfigurationError("concurrency must be at least 1 per vendor")
        self._transport = options.get("transport")
        self._client = options.get("client")
        """One client for every vendor, given by the caller (the worker then opens and closes none)."""
        # -- the parts it schedules
        self._activity = Activity(vendors, interval=options.get("summary_interval", 60.0), now=clock())
        self._writer = OutcomeWriter(outbox, self.worker_id, written=self._kick_loop)
        self._confirmer = Confirmer(outbox, self.vendors, worker_id=self.worker_id, lease=lease, clock=clock)
        self._gate = CheckoutGate()
        self._sender: Sender | None = None
        self._sent_before = 0
        # -- the loop's state. Events are made again in start(): an asyncio.Event belongs to the loop that first
        # waits on it, and a worker may be started again in another loop (test clients run each app in its own).
        self._kick = asyncio.Event()
        """Set to make the loop look at the outbox and the lanes again at once."""
        self._idle = asyncio.Event()
        self._building = asyncio.Lock()
        """Held by the slot building its events (``_prepare``): one at a time, so a step of the loop runs one slice."""
        self._passes = 0
        """Looks at the outbox so far; ``_idle_pass`` is the latest that found nothing left to do."""
        self._idle_pass = 0
        self._next_due: float | None = None
        """The soonest retry this worker recorded since the loop last slept."""
        self._last_purge = 0.0
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None

    @property
    def sent(self) -> int:
        """Requests this worker tried to send (for benchmarks and tests)."""
        return self._sent_before + (self._sender.sent if self._sender is not None else 0)

    @property
    def dry_run(self) -> bool:
        """Whether this worker builds and records requests without sending them (set at construction)."""
        return self._dry_run

    @property
    def max_yield(self) -> float:
        """Longest pause of new requests while checkouts run in the same loop (seconds; see ``yielding``)."""
        return self._gate.max_yield

    @max_yield.setter
    def max_yield(self, seconds: float) -> None:
        self._gate.max_yield = seconds

    def with_dry_run(self) -> Worker:
        """A worker with the same outbox, vendors and settings that sends nothing (``attribution worker
        --dry-run``)."""
        return Worker(self.outbox, list(self.vendors.values()), dry_run=True, clock=self.clock, **self._options)

    def __repr__(self) -> str:
        return f"Worker(id={self.worker_id!r}, vendors={list(self.vendors)!r}, dry_run={self.dry_run})"

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    async def start(self) -> None:
        """Start sending in the background. Idempotent."""
        if self.running:
            return
        await self.outbox.open()
        own: dict[str, httpx2.AsyncClient] = {}
        if self._client is None:
            # One pool per vendor, sized to its concurrency: a pool's bookkeeping grows with its connections,
            # and one shared pool for every vendor cost a third of the event loop the app's checkouts need.
            for lane in self._lanes.values():
                lane.client = own[lane.name] = httpx2.AsyncClient(
                    timeout=self.timeout,
                    limits=httpx2.Limits(max_connections=lane.limit, max_keepalive_connections=lane.limit),
                    transport=self._transport,
                    trust_env=False,
                )
        self._sender = Sender(self._client or own, dry_run=self.dry_run, clock=self.clock)
        self._stopping = False
        self._kick, self._idle, self._building = asyncio.Event(), asyncio.Event(), asyncio.Lock()
        self._gate.renew()
        for lane in self._lanes.values():
            lane.restart_rate()
        self._writer.start()
        self._loop_task = asyncio.create_task(self._loop(), name="attribution-worker")
        self._loop_task.add_done_callback(self._loop_ended)
        # Backends that can tell (PostgreSQL's LISTEN) wake the worker when another process checks out.
        self._watch_task = asyncio.create_task(self.outbox.watch(self.wake), name="attribution-outbox-watch")

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let requests in flight finish (up to ``grace`` seconds), hand back the rest, and
        write every outcome. Idempotent."""
        if self._loop_task is None:
            return
        self._stopping = True
        self._kick.set()
        self._gate.open()  # slots waiting there hand their deliveries back
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.wait({self._watch_task})
            self._watch_task = None
        await asyncio.wait({self._loop_task})  # its own error, if any, was logged when it ended
        for lane in self._lanes.values():
            self._release(lane.drain())
        tasks = {task for lane in self._lanes.values() for task in lane.tasks}
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.shutdown_grace if grace is None else grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            # A task cancelled before it ever ran sent nothing: hand its deliveries back uncounted.
            for lane in self._lanes.values():
                for chunk in lane.unstarted.values():
                    self._release(chunk)
                lane.unstarted.clear()
        await self._writer.close()
        await self._summarize(self.clock())
        for lane in self._lanes.values():
            own, lane.client = lane.client, None
            if own is not None:
                await own.aclose()
        if self._sender is not None:
            self._sent_before += self._sender.sent
            self._sender = None
        self._loop_task = None

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        self._idle.set()  # run_until_idle must not wait for a loop that is gone
        if not task.cancelled() and task.exception() is not None:
            log.error("the worker stopped on an unexpected error", exc_info=task.exception())

    def _kick_loop(self) -> None:
        self._kick.set()

    def wake(self) -> None:
        """Look at the outbox now (called after a checkout in the same process)."""
        if self.running:
            self._kick.set()

    async def run_until_idle(self) -> None:
        """Send until nothing is due by the worker's clock, ready or in flight, and every outcome is written.

        A worker that is not running is started for the call and stopped before it returns (arq's burst
        mode: ``attribution`` tests and one-off scripts drain the outbox this way); a running worker keeps
        running. Deliveries due later (a retry, a vendor's pause) are left for a later call: with an injected
        clock, a test moves the clock and calls again instead of sleeping.
        """
        started_here = not self.running
        if started_here:
            await self.start()
        try:
            target = self._passes + 1  # a look at the outbox that starts after this call
            self._kick.set()
            while self._idle_pass < target:
                if not self.running:
                    raise RuntimeError("the worker stopped before the outbox was drained")
                self._idle.clear()
                await self._idle.wait()
        finally:
            if started_here:
                await self.stop()

    async def next_due(self) -> float | None:
        """When this worker next has something to send, by its clock: the soonest due delivery of a vendor
        that is not paused, or the end of a vendor's pause. None when nothing waits. With ``run_until_idle``,
        this drives a worker on an injected clock without sleeping."""
        now = self.clock()
        pauses = [lane.paused_until for lane in self._lanes.values() if lane.paused_until > now]
        due = await self.outbox.next_due([lane.name for lane in self._lanes.values() if lane.paused_until <= now])
        times = [*pauses, *([due] if due is not None else [])]
        return min(times) if times else None

    @contextlib.contextmanager
    def yielding(self) -> Iterator[None]:
        """While any such block runs (a checkout, in the same event loop), start no new requests.

        The worker shares the app's event loop; a checkout must not wait behind the CPU work of starting
        requests. Neither the loop that claims nor the lanes' slots start a request while the gate is shut.
        It opens when the checkouts finish, or ``max_yield`` seconds after the first of them began, so a
        steady stream of checkouts delays deliveries but cannot stop them (see ``gate``).
        """
        with self._gate.held():
            yield

    # -- the loop: claim into lanes ----------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping:
            self._kick.clear()
            self._passes += 1
            this_pass = self._passes
            await self._gate.wait()
            await self._purge_old()
            now = self.clock()
            if self._activity.due(now):
                await self._summarize(now)
            if not self.dry_run and self._confirmer.due(now):
                await self._confirm()
            limits: dict[str, int] = {}
            for lane in self._lanes.values():
                if lane.paused_until > now:
                    continue
                self._dispatch(lane)
                wanted = lane.to_claim()
                if wanted:
                    limits[lane.name] = wanted
            more = False
            claimed: dict[str, list[Delivery]] = {}
            if limits:
                try:
                    claimed = await self.outbox.claim(self.worker_id, limits=limits, now=self.clock(), lease=self.lease)
                except Exception:
                    log.exception("claiming deliveries failed; trying again after the poll interval")
                    limits = {}  # not "nothing due": sleep rather than ask again at once
                for deliveries in claimed.values():
                    count_readers(deliveries)
                for name, deliveries in claimed.items():
                    lane = self._lanes[name]
                    lane.ready.extend(deliveries)
                    self._dispatch(lane)
                    more = more or len(deliveries) == limits[name]
            if more:
                continue
            if not self._writer.busy and not any(lane.tasks or lane.ready for lane in self._lanes.values()):
                self._idle_pass = this_pass
                self._idle.set()
            await self._sleep([name for name in limits if not claimed.get(name)])

    async def _confirm(self) -> None:
        """Ask vendors for the verdicts they give later (see ``confirming``)."""
        try:
            await self._confirmer.run(self._client_of)
        except Exception:
            log.exception("asking vendors for their later verdicts failed; trying again later")

    def _client_of(self, name: str) -> httpx2.AsyncClient:
        client = self._client or self._lanes[name].client
        assert client is not None
        return client

    async def _summarize(self, now: float) -> None:
        try:
            waiting = await self.outbox.count_waiting(list(self.vendors))
        except Exception:
            log.exception("counting waiting deliveries failed")
            waiting = None
        self._activity.summarize(now, waiting)

    async def _purge_old(self) -> None:
        now = self.clock()
        if self.retention is None or now - self._last_purge < 3600:
            return
        self._last_purge = now
        orders = None if self.order_retention is None else now - self.order_retention
        try:
            purged = await self.outbox.purge(older_than=now - self.retention, orders_older_than=orders)
        except Exception:
            log.exception("purging old deliveries failed; trying again in an hour")
            return
        if purged:
            log.info("purged %d deliveries older than the retention period", purged)

    async def _sleep(self, found_nothing: list[str]) -> None:
        """Until a wake-up, the end of a vendor's pause, or the next delivery's due time, whichever comes first
        (at most ``poll_interval``: where the outbox cannot tell of other processes' checkouts, they are seen at
        the next look)."""
        now = self.clock()
        if self._next_due is not None and self._next_due <= now:
            self._next_due = None  # passed: this pass's claim has looked for it
        wakes = [self._next_due] if self._next_due is not None else []
        if found_nothing:
            # Nothing was due for these vendors: ask the outbox when something will be (retries, another
            # worker's lease running out). Vendors still busy are woken by their slots instead. A vendor that
            # another worker paused was skipped by the claim: wait for the end of its pause, not its deliveries.
            try:
                for name, until in (await self.outbox.paused(now=now)).items():
                    lane = self._lanes.get(name)
                    if lane is not None and until > lane.paused_until:
                        lane.paused_until = until
                found_nothing = [n for n in found_nothing if self._lanes[n].paused_until <= now]
                due = await self.outbox.next_due(found_nothing) if found_nothing else None
            except Exception:
                log.exception("reading the next due time failed; looking again after the poll interval")
                due = None
            wakes += [due] if due is not None else []
            self._next_due = None
        wakes += [lane.paused_until for lane in self._lanes.values() if lane.paused_until > now]
        wait = min([self.poll_interval, *(w - now for w in wakes)])
        if wait <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), wait)

    # -- the lanes' slots: send what is ready ------------------------------------------------------------

    def _dispatch(self, lane: Lane) -> None:
        """Start a task per free slot of ``lane`` while deliveries are ready."""
        while len(lane.tasks) < lane.limit:
            chunk = self._take(lane)
            if chunk is None:
                return
            task = asyncio.create_task(self._send_while_ready(lane, chunk))
            lane.tasks.add(task)
            lane.unstarted[task] = chunk
            task.add_done_callback(functools.partial(self._slot_ended, lane))

    def _take(self, lane: Lane) -> list[Delivery] | None:
        """The next request's deliveries (see ``Lane.take_request``). None when nothing is ready, the vendor asked
        us to wait, or the worker stops."""
        while lane.ready and not self._stopping and lane.paused_until <= (now := self.clock()):
            chunk = lane.take_request()
            if lane.running_low():
                self._kick.set()  # time to claim more
            # A delivery that waited here for half its lease, or that has less lease left than one request
            # may take, is handed back unsent rather than risk being sent while another worker takes it over.
            margin = self._stale_margin
            stale = [d for d in chunk if now > d.next_attempt_at - margin]
            if stale:
                self._release(stale)
                chunk = [d for d in chunk if d not in stale]
            if chunk:
                lane.rows_in_flight += len(chunk)
                return chunk
        return None

    def _release(self, deliveries: Sequence[Delivery], *, due: float | None = None) -> None:
        """Hand claimed, unsent deliveries back, not counted as an attempt: due at once, or at ``due``."""
        now = self.clock()
        at = now if due is None else due
        self._writer.record([Finish(d.id, Status.PENDING, now, next_attempt_at=at, released=True) for d in deliveries])

    def _slot_ended(self, lane: Lane, task: asyncio.Task[None]) -> None:
        lane.tasks.discard(task)
        if not any(other.tasks for other in self._lanes.values()):
            self._writer.flush()  # the last slot ended: its outcomes need not wait for more
        self._kick.set()

    async def _prepare(self, vendor: Vendor, chunk: list[Delivery]) -> Prepared | None:
        """``prepare``; for more than ``PREPARE_AT_ONCE`` deliveries, in slices of ``PREPARE_SLICE`` with the event
        loop free between them, one slot at a time (the CPU is the same either way, and ten slots building at once
        would make each step of the loop ten slices long); a checkout that began meanwhile runs before the next
        slice (the gate, as before a request). None: the worker began to stop meanwhile."""
        if len(chunk) <= PREPARE_AT_ONCE:
            return prepare(vendor, chunk, self.clock())
        async with self._building:
            prepared = Prepared()
            for start in range(0, len(chunk), PREPARE_SLICE):
                await self._gate.wait()
                if self._stopping:
                    return None
                prepared.add(prepare(vendor, chunk[start : start + PREPARE_SLICE], self.clock()))
                await asyncio.sleep(0)
            return prepared

    async def _send_while_ready(self, lane: Lane, chunk: list[Delivery]) -> None:
        """One slot of ``lane``: send requests one after another while deliveries are ready. Like a client with
        one connection per slot, it keeps its connection busy instead of waiting for the loop to hand it the
        next one."""
        task = asyncio.current_task()
        assert task is not None
        lane.unstarted.pop(task, None)
        vendor = lane.vendor
        next_chunk: list[Delivery] | None = chunk
        while next_chunk is not None:
            current = next_chunk
            try:
                await self._gate.wait()
            except asyncio.CancelledError:
                self._hand_back(lane, current)
                raise
            if self._stopping:
                self._hand_back(lane, current)
                return
            taken = went = len(current)
            try:
                # Held deliveries ask the site whether their order still stands; each goes with its event built from
                # its order record, or is settled without a request (see ``preparing``).
                current = await self._still_valid(current)
                # The worker may stop while a large batch is built (at the gate, or behind another slot's
                # building): nothing went out, so the batch goes back uncounted.
                try:
                    prepared = await self._prepare(vendor, current)
                except asyncio.CancelledError:
                    self._release(current)
                    current, went = [], 0
                    raise
                if prepared is None:
                    self._release(current)
                    current, went = [], 0
                    return
                self._settled(lane, prepared.settled)
                current = prepared.send
                if current:
                    assert self._sender is not None
                    # A token refresh or a refused batch's halves take more requests: none may start too late to end
                    # within the lease.
                    deadline = min(d.next_attempt_at for d in current) - self._longest_request
                    outcomes = await self._sender(vendor, prepared.payloads, deadline=deadline)
            except asyncio.CancelledError:
                # Abandoned at shutdown: the request may have gone out, so this counts as an attempt; the
                # delivery is due again at once, for this or another worker.
                now = self.clock()
                finishes = [
                    Finish(d.id, Status.PENDING, now, next_attempt_at=now, error="interrupted by shutdown")
                    for d in current
                ]
                for finish in finishes:
                    self._activity.attempt(lane.name, finish)
                self._writer.record(finishes)
                raise
            except Exception as exc:
                # The sender classifies every failure it knows of. Anything else is a bug, but it must not end
                # the slot with the deliveries still claimed and no outcome, to be claimed again at every
                # lease's end forever: it counts as an attempt, and the retry policy ends it. Only the type is
                # logged, since the message may quote the payload.
                log.error("%s: sending failed unexpectedly (%s)", lane.name, type(exc).__name__)
                outcomes = [Retry(f"sending failed unexpectedly ({type(exc).__name__})")] * len(current)
            finally:
                lane.rows_in_flight -= taken
                lane.count_sent(went)
            if current:
                self._settle(lane, current, outcomes)
            next_chunk = self._take(lane)

    async def _still_valid(self, chunk: list[Delivery]) -> list[Delivery]:
        """The deliveries of ``chunk`` to go on with: a held one goes only if the site says its order still stands
        (asked once per order); one it says no to is cancelled, one it cannot answer for is held again."""
        hook = self.still_valid
        held = [d for d in chunk if d.hold_until is not None and d.kind == "send"]
        if hook is None or not held:
            return chunk
        answers: dict[tuple[str, str], bool | None] = {}
        for d in held:
            key = (d.order_id, d.event)
            if key in answers:
                continue
            try:
                said = hook(d.order_id, d.event)
                answers[key] = bool(await said if inspect.isawaitable(said) else said)
            except Exception as exc:
                log.warning("still_valid failed for a held order (%s); asking again later", type(exc).__name__)
                answers[key] = None
        await self._cancel_orders([d for d in held if answers[(d.order_id, d.event)] is False])
        now = self.clock()
        keep, finishes = [], []
        for d in chunk:
            answer = answers.get((d.order_id, d.event), True) if d in held else True
            if answer is None:
                again = now + STILL_VALID_AGAIN
                finishes.append(Finish(d.id, Status.HELD, now, next_attempt_at=again, released=True))
            elif not answer:
                finishes.append(Finish(d.id, Status.CANCELLED, now, error="still_valid: the order no longer stands"))
            else:
                keep.append(d)
        self._writer.record(finishes)
        return keep

    async def _cancel_orders(self, refused: list[Delivery]) -> None:
        """The orders ``still_valid`` said no longer stand, cancelled as ``Tracker.cancel`` cancels them: the record
        (reports leave it out) and every delivery not sent yet; a vendor already told is told of the cancellation
        where it can be. The deliveries in hand are cancelled by the caller whatever comes of this."""
        done: set[tuple[str, str]] = set()
        for d in refused:
            if (d.order_id, d.event) in done or d.order is None:
                continue
            done.add((d.order_id, d.event))
            change = Change("cancel", reason="the site's still_valid said the order no longer stands")
            try:
                change = with_vendors(change, list(self.vendors.values()), d.order)
                await self.outbox.correct(d.order_id, d.event, change, now=self.clock())
            except Exception as exc:
                log.error("cancelling an order still_valid refused failed (%s)", type(exc).__name__)

    def _settled(self, lane: Lane, finishes: list[Finish]) -> None:
        """Outcomes reached without a request (see ``preparing``)."""
        for finish in finishes:
            if not finish.released:
                self._activity.attempt(lane.name, finish)
        self._writer.record(finishes)

    def _hand_back(self, lane: Lane, chunk: list[Delivery]) -> None:
        """A slot's deliveries that were never sent (stopped at the gate): back to the outbox, uncounted."""
        lane.rows_in_flight -= len(chunk)
        self._release(chunk)

    def _settle(self, lane: Lane, chunk: list[Delivery], outcomes: list[Attempted]) -> None:
        """Record what each delivery's attempt came to; pause the vendor if it asked everyone to wait."""
        now = self.clock()
        finishes = []
        for delivery, outcome in zip(chunk, outcomes, strict=True):
            finish, pause_until = decide(
                outcome, delivery, self.policy, now, rand=self.rand, confirm_after=lane.vendor.confirm_after
            )
            finishes.append(finish)
            if finish.status == Status.PENDING:
                due = finish.next_attempt_at
                self._next_due = due if self._next_due is None else min(self._next_due, due)
            if pause_until is not None and pause_until > lane.paused_until:
                lane.paused_until = pause_until
                self._writer.pause(lane.name, pause_until)  # stored, so every worker on the outbox waits
                # Deliveries claimed but not yet sent go back, due when the pause ends: held through it, their
                # lease could expire, and due at once, another worker would send them into the same refusal.
                self._release(lane.drain(), due=pause_until)
            self._activity.attempt(lane.name, finish)
        self._writer.record(finishes)
