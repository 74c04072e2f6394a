"""The sending loop's schedule: claim due deliveries, hand them to lanes, record what happened.

Sending and classifying one request is ``sending.Sender``; what to record after it is ``decision.decide``;
writing outcomes in one transaction per round is ``writer.OutcomeWriter``; the log lines are ``activity``.

One ``Worker`` runs inside the app (started by the tracker on ASGI lifespan) or alone (``attribution
worker``). Several workers may share one outbox: a delivery is claimed by one worker under a lease, so no two
send it at the same time.

Per vendor the worker keeps claimed deliveries ready besides those in flight (a round of requests, or what
it sent in the last fifth of a second if more), so a freed request slot is refilled at once and claims come
in few, large transactions; a delivery that waited there for half its lease, or too long to finish a request
within it, is handed back unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import TypedDict, Unpack

import httpx2

from ..errors import ConfigurationError
from ..vendors.base import Retry, Vendor
from .activity import Activity
from .decision import decide
from .outbox.base import Delivery, Finish, Outbox, Status
from .policy import Random, RetryPolicy
from .sending import Attempted, Sender
from .writer import OutcomeWriter

log = logging.getLogger("attribution.worker")

Clock = Callable[[], float]

DEFAULT_TIMEOUT = httpx2.Timeout(10.0, connect=5.0)

READY_SECONDS = 0.2
"""Besides a round of requests, a vendor keeps ready as many claimed deliveries as it sent in this long."""


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
        self.worker_id = options.get("worker_id") or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.rand = options.get("rand", random.random)
        self._activity = Activity(vendors, interval=options.get("summary_interval", 60.0), now=clock())
        concurrency = options.get("concurrency", 8)
        transport, client = options.get("transport"), options.get("client")
        self._slots = {
            name: concurrency if isinstance(concurrency, int) else concurrency.get(name, 8) for name in self.vendors
        }
        if any(limit < 1 for limit in self._slots.values()):
            raise ConfigurationError("concurrency must be at least 1 per vendor")
        self._transport = transport
        self._client = client
        self._clients: dict[str, httpx2.AsyncClient] = {}
        """The worker's own clients, one per vendor, while it runs."""
        self._inflight: dict[str, int] = dict.fromkeys(self.vendors, 0)
        self._inflight_rows: dict[str, int] = dict.fromkeys(self.vendors, 0)
        self._ready: dict[str, deque[Delivery]] = {name: deque() for name in self.vendors}
        """Claimed deliveries waiting for a free slot, oldest first."""
        self._paused_until: dict[str, float] = dict.fromkeys(self.vendors, 0.0)
        self._next_due: float | None = None
        self._sent_rate: dict[str, float] = dict.fromkeys(self.vendors, 0.0)
        self._rate_rows: dict[str, int] = dict.fromkeys(self.vendors, 0)
        self._rate_since: dict[str, float] = dict.fromkeys(self.vendors, time.monotonic())
        """Deliveries sent per second lately, by vendor, and the window being counted (see ``_ahead``)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._chunks: dict[asyncio.Task[None], list[Delivery]] = {}
        """Deliveries of tasks that have not started yet."""
        self._writer = OutcomeWriter(outbox, self.worker_id, written=self._kick_loop)
        # Events are made in start(): an asyncio.Event belongs to the loop that first waits on it, and a
        # worker may be started again in another loop (test clients run each app in a loop of their own).
        self._kick = asyncio.Event()
        self._idle = asyncio.Event()
        self._passes = 0
        """Looks at the outbox so far; ``_idle_pass`` is the latest that found nothing left to do."""
        self._idle_pass = 0
        self._last_purge = 0.0
        self._gate = asyncio.Event()
        self._gate.set()
        self._gate_timer: asyncio.TimerHandle | None = None
        self._busy = 0
        self.max_yield = 0.05
        """Longest pause of new requests while checkouts run in the same loop (seconds)."""
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._sender: Sender | None = None
        self._sent_before = 0

    @property
    def sent(self) -> int:
        """Requests this worker tried to send (for benchmarks and tests)."""
        return self._sent_before + (self._sender.sent if self._sender is not None else 0)

    @property
    def dry_run(self) -> bool:
        """Whether this worker builds and records requests without sending them (set at construction)."""
        return self._dry_run

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
        if self._client is None:
            # One pool per vendor, sized to its concurrency: a pool's bookkeeping grows with its connections,
            # and one shared pool for every vendor cost a third of the event loop the app's checkouts need.
            self._clients = {
                name: httpx2.AsyncClient(
                    timeout=self.timeout,
                    limits=httpx2.Limits(max_connections=slots, max_keepalive_connections=slots),
                    transport=self._transport,
                    trust_env=False,
                )
                for name, slots in self._slots.items()
            }
        self._sender = Sender(self._client or self._clients, dry_run=self.dry_run, clock=self.clock)
        self._stopping = False
        self._kick, self._idle = asyncio.Event(), asyncio.Event()
        self._open_gate()  # a timer of an earlier start belongs to that start's loop
        self._gate = asyncio.Event()
        self._gate.set()
        if self._busy:  # a checkout already runs: shut the gate as if it had just begun
            self._shut_gate()
        self._rate_since = dict.fromkeys(self.vendors, time.monotonic())
        self._rate_rows = dict.fromkeys(self.vendors, 0)
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
        self._open_gate()  # lanes waiting there hand their deliveries back
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.wait({self._watch_task})
            self._watch_task = None
        await asyncio.wait({self._loop_task})  # its own error, if any, was logged when it ended
        for ready in self._ready.values():
            self._release(list(ready))
            ready.clear()
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=self.shutdown_grace if grace is None else grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            # A task cancelled before it ever ran sent nothing: hand its deliveries back uncounted.
            for chunk in self._chunks.values():
                self._release(chunk)
            self._chunks.clear()
        await self._writer.close()
        await self._summarize(self.clock())
        clients, self._clients = list(self._clients.values()), {}
        for own in clients:
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
        pauses = [p for p in self._paused_until.values() if p > now]
        due = await self.outbox.next_due([n for n, p in self._paused_until.items() if p <= now])
        times = [*pauses, *([due] if due is not None else [])]
        return min(times) if times else None

    # -- the loop --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def yielding(self) -> Iterator[None]:
        """While any such block runs (a checkout, in the same event loop), start no new requests.

        The worker shares the app's event loop; a checkout must not wait behind the CPU work of starting
        requests. Neither the loop that claims nor the lanes that send start a request while the gate is shut.
        It opens when the checkouts finish, or ``max_yield`` seconds after the first of them began, so a
        steady stream of checkouts delays deliveries but cannot stop them.
        """
        self._busy += 1
        if self._busy == 1:
            self._shut_gate()
        try:
            yield
        finally:
            self._busy -= 1
            if not self._busy:
                self._open_gate()

    def _shut_gate(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no running loop: no worker of ours runs in it to hold back
            return
        if self._gate.is_set():
            self._gate.clear()
            self._gate_timer = loop.call_later(self.max_yield, self._open_gate)

    def _open_gate(self) -> None:
        if self._gate_timer is not None:
            self._gate_timer.cancel()
            self._gate_timer = None
        self._gate.set()

    async def _give_way(self) -> None:
        """Before starting requests: wait while the gate is shut (see ``yielding``)."""
        if not self._gate.is_set():
            await self._gate.wait()

    async def _loop(self) -> None:
        while not self._stopping:
            self._kick.clear()
            self._passes += 1
            this_pass = self._passes
            await self._give_way()
            await self._purge_old()
            limits: dict[str, int] = {}
            now = self.clock()
            if self._activity.due(now):
                await self._summarize(now)
            for name, vendor in self.vendors.items():
                if self._paused_until[name] > now:
                    continue
                self._dispatch(vendor)
                ready = self._ready[name]
                # Keep claimed deliveries ready besides those in flight, so a freed slot is refilled without a
                # database round trip and claims come in large, cheap transactions.
                ahead = self._ahead(vendor)
                room = self._slots[name] * vendor.max_batch + ahead - self._inflight_rows[name] - len(ready)
                if room > 0 and len(ready) <= ahead // 2:
                    limits[name] = room
            more = False
            claimed: dict[str, list[Delivery]] = {}
            if limits:
                try:
                    claimed = await self.outbox.claim(self.worker_id, limits=limits, now=self.clock(), lease=self.lease)
                except Exception:
                    log.exception("claiming deliveries failed; trying again after the poll interval")
                    limits = {}  # not "nothing due": sleep rather than ask again at once
                for name, deliveries in claimed.items():
                    self._ready[name].extend(deliveries)
                    self._dispatch(self.vendors[name])
                    more = more or len(deliveries) == limits[name]
            if more:
                continue
            if not self._tasks and not self._writer.busy and not any(self._ready.values()):
                self._idle_pass = this_pass
                self._idle.set()
            await self._sleep([name for name in limits if not claimed.get(name)])

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
        try:
            purged = await self.outbox.purge(older_than=now - self.retention)
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
            # worker's lease running out). Vendors still busy are woken by their lanes instead. A vendor that
            # another worker paused was skipped by the claim: wait for the end of its pause, not its deliveries.
            try:
                for name, until in (await self.outbox.paused(now=now)).items():
                    if name in self._paused_until and until > self._paused_until[name]:
                        self._paused_until[name] = until
                found_nothing = [n for n in found_nothing if self._paused_until[n] <= now]
                due = await self.outbox.next_due(found_nothing) if found_nothing else None
            except Exception:
                log.exception("reading the next due time failed; looking again after the poll interval")
                due = None
            wakes += [due] if due is not None else []
            self._next_due = None
        wakes += [p for p in self._paused_until.values() if p > now]
        wait = min([self.poll_interval, *(w - now for w in wakes)])
        if wait <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), wait)

    def _dispatch(self, vendor: Vendor) -> None:
        """Start a lane per free slot while deliveries are ready."""
        name = vendor.name
        while self._inflight[name] < self._slots[name]:
            chunk = self._take(vendor)
            if chunk is None:
                return
            self._inflight[name] += 1
            task = asyncio.create_task(self._lane(vendor, chunk))
            self._tasks.add(task)
            self._chunks[task] = chunk
            task.add_done_callback(functools.partial(self._done, name))

    def _ahead(self, vendor: Vendor) -> int:
        """How many claimed deliveries to keep ready: a round of requests, or what the vendor's lanes send in
        ``READY_SECONDS`` if that is more. A claim's answer waits for the event loop, busy with every lane's
        request; lanes that ran dry meanwhile would leave connections idle, and httpcore probes each idle one
        on every request. A slow vendor keeps one round, so nothing claimed waits long for a slot."""
        return max(self._slots[vendor.name] * vendor.max_batch, int(self._sent_rate[vendor.name] * READY_SECONDS))

    def _count_sent(self, name: str, rows: int) -> None:
        """Keep each vendor's recent rate of deliveries sent, in windows of a quarter second, or shorter when
        as many as are kept ready went out: starting from a round, the rate is known after a few rounds
        instead of a quarter second of lanes running dry between claims."""
        now = time.monotonic()
        self._rate_rows[name] += rows
        elapsed = now - self._rate_since[name]
        if elapsed >= 0.25 or self._rate_rows[name] >= self._ahead(self.vendors[name]):
            self._sent_rate[name] = self._rate_rows[name] / elapsed
            self._rate_since[name], self._rate_rows[name] = now, 0

    def _take(self, vendor: Vendor) -> list[Delivery] | None:
        """The next request's deliveries: the oldest ready one and, for batching vendors, others with its
        batch key. None when nothing is ready (or the vendor asked us to wait)."""
        name, ready = vendor.name, self._ready[vendor.name]
        while ready and not self._stopping and self._paused_until[name] <= (now := self.clock()):
            head = ready.popleft()
            chunk = [head]
            if vendor.max_batch > 1:
                keep: deque[Delivery] = deque()
                while ready:
                    d = ready.popleft()
                    (chunk if d.batch_key == head.batch_key and len(chunk) < vendor.max_batch else keep).append(d)
                ready.extend(keep)
            if len(ready) <= self._ahead(vendor) // 2:
                self._kick.set()  # time to claim more
            # A delivery that waited here for half its lease, or that has less lease left than one request
            # may take, is handed back unsent rather than risk being sent while another worker takes it over.
            margin = self._stale_margin
            stale = [d for d in chunk if now > d.next_attempt_at - margin]
            if stale:
                self._release(stale)
                chunk = [d for d in chunk if d not in stale]
            if chunk:
                self._inflight_rows[name] += len(chunk)
                return chunk
        return None

    def _release(self, deliveries: Sequence[Delivery], *, due: float | None = None) -> None:
        """Hand claimed, unsent deliveries back, not counted as an attempt: due at once, or at ``due``."""
        now = self.clock()
        at = now if due is None else due
        self._writer.record([Finish(d.id, Status.PENDING, now, next_attempt_at=at, released=True) for d in deliveries])

    def _done(self, name: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._inflight[name] -= 1
        if not self._tasks:
            self._writer.flush()  # the last lane ended: its outcomes need not wait for more
        self._kick.set()

    async def _lane(self, vendor: Vendor, chunk: list[Delivery]) -> None:
        """Send requests one after another while deliveries are ready: like a client with one connection
        per lane, it keeps its connection busy instead of waiting for the loop to hand it the next one."""
        task = asyncio.current_task()
        assert task is not None
        self._chunks.pop(task, None)
        next_chunk: list[Delivery] | None = chunk
        while next_chunk is not None:
            current = next_chunk
            try:
                if not self._gate.is_set():
                    await self._gate.wait()
            except asyncio.CancelledError:
                self._hand_back(vendor, current)
                raise
            if self._stopping:
                self._hand_back(vendor, current)
                return
            try:
                assert self._sender is not None
                # A token refresh or a refused batch's halves take more requests: none may start too late to end
                # within the lease.
                deadline = min(d.next_attempt_at for d in current) - self._longest_request
                outcomes = await self._sender(vendor, [d.payload for d in current], deadline=deadline)
            except asyncio.CancelledError:
                # Abandoned at shutdown: the request may have gone out, so this counts as an attempt; the
                # delivery is due again at once, for this or another worker.
                now = self.clock()
                finishes = [
                    Finish(d.id, Status.PENDING, now, next_attempt_at=now, error="interrupted by shutdown")
                    for d in current
                ]
                for finish in finishes:
                    self._activity.attempt(vendor.name, finish)
                self._writer.record(finishes)
                raise
            except Exception as exc:
                # The sender classifies every failure it knows of. Anything else is a bug, but it must not end
                # the lane with the deliveries still claimed and no outcome, to be claimed again at every
                # lease's end forever: it counts as an attempt, and the retry policy ends it. Only the type is
                # logged, since the message may quote the payload.
                log.error("%s: sending failed unexpectedly (%s)", vendor.name, type(exc).__name__)
                outcomes = [Retry(f"sending failed unexpectedly ({type(exc).__name__})")] * len(current)
            finally:
                self._inflight_rows[vendor.name] -= len(current)
                self._count_sent(vendor.name, len(current))
            self._settle(vendor, current, outcomes)
            next_chunk = self._take(vendor)

    def _hand_back(self, vendor: Vendor, chunk: list[Delivery]) -> None:
        """A lane's deliveries that were never sent (stopped at the gate): back to the outbox, uncounted."""
        self._inflight_rows[vendor.name] -= len(chunk)
        self._release(chunk)

    def _settle(self, vendor: Vendor, chunk: list[Delivery], outcomes: list[Attempted]) -> None:
        """Record what each delivery's attempt came to; pause the vendor if it asked everyone to wait."""
        now = self.clock()
        finishes = []
        for delivery, outcome in zip(chunk, outcomes, strict=True):
            finish, pause_until = decide(outcome, delivery, self.policy, now, rand=self.rand)
            finishes.append(finish)
            if finish.status == Status.PENDING:
                due = finish.next_attempt_at
                self._next_due = due if self._next_due is None else min(self._next_due, due)
            if pause_until is not None and pause_until > self._paused_until[vendor.name]:
                self._paused_until[vendor.name] = pause_until
                self._writer.pause(vendor.name, pause_until)  # stored, so every worker on the outbox waits
                # Deliveries claimed but not yet sent go back, due when the pause ends: held through it, their
                # lease could expire, and due at once, another worker would send them into the same refusal.
                self._release(list(self._ready[vendor.name]), due=pause_until)
                self._ready[vendor.name].clear()
            self._activity.attempt(vendor.name, finish)
        self._writer.record(finishes)
