"""The sending loop: claim due deliveries, send them, record what happened.

One ``Worker`` runs inside the app (started by the tracker on ASGI lifespan) or alone (``attribution
worker``). Several workers may share one outbox: a delivery is claimed by one worker under a lease, so no two
send it at the same time.

Per vendor the worker keeps at most one round of claimed deliveries ready besides those in flight, so a
freed request slot is refilled at once and claims come in few, large transactions; a delivery that waited
there for half its lease is handed back unsent. Outcomes are buffered and written in one transaction per
round ("group commit"): a crash between a send and that write leaves the delivery claimed, its lease
expires, and it is sent again — at-least-once, which the dedup key makes harmless for vendors that have one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence

import httpx2

from .errors import ConfigurationError
from .outbox.base import Delivery, Finish, Outbox, Status
from .redact import redact
from .retry import Random, RetryPolicy, is_ambiguous, out_of_time, rate_limit_reset, retry_delay
from .vendors.base import Delivered, Failed, Outcome, Retry, Vendor

log = logging.getLogger("attribution.worker")

Clock = Callable[[], float]

DEFAULT_TIMEOUT = httpx2.Timeout(10.0, connect=5.0)


def describe_request(vendor: Vendor, request: httpx2.Request) -> str:
    """The request as an operator reads it: method, URL and headers with credentials masked, and the body."""
    lines = [f"{request.method} {vendor.masked_url(request)}"]
    lines += [f"{k}: {v}" for k, v in vendor.masked_headers(request).items()]
    body = request.content.decode("utf-8", "replace")
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return "\n".join([*lines, "", body])


class Worker:
    """Sends the outbox's deliveries to the configured vendors.

    Args:
        outbox: where deliveries wait.
        vendors: the configured adapters; deliveries of other vendors are left alone.
        policy: retry limits and delays.
        concurrency: requests in flight per vendor, one number for all or a mapping by vendor name.
        timeout: per-request timeouts of the shared HTTP client.
        lease: seconds a claimed delivery stays this worker's; must comfortably exceed the request timeout,
            or a slow request could be claimed and sent by another worker too.
        poll_interval: seconds between looks at the outbox when idle (a checkout in the same process
            wakes the worker at once).
        dry_run: build every request and record it, but send nothing.
        transport: an httpx2 transport for the shared client (tests: ``httpx2.MockTransport``).
        client: a ready client instead; the worker then does not close it.
        shutdown_grace: seconds ``stop`` waits for requests in flight before abandoning them.
        retention: seconds after which delivered, dead and dry-run deliveries (and the personal data in them)
            are deleted, checked hourly; None keeps them until ``attribution purge``.
        clock, rand: the time source and the jitter source, for deterministic tests.
    """

    def __init__(
        self,
        outbox: Outbox,
        vendors: Sequence[Vendor],
        *,
        policy: RetryPolicy | None = None,
        concurrency: int | Mapping[str, int] = 8,
        timeout: httpx2.Timeout | float = DEFAULT_TIMEOUT,
        lease: float = 120.0,
        poll_interval: float = 1.0,
        dry_run: bool = False,
        transport: httpx2.AsyncBaseTransport | None = None,
        client: httpx2.AsyncClient | None = None,
        shutdown_grace: float = 10.0,
        retention: float | None = 30 * 24 * 3600.0,
        worker_id: str | None = None,
        clock: Clock = time.time,
        rand: Random = random.random,
    ) -> None:
        names = [v.name for v in vendors]
        if len(set(names)) != len(names):
            raise ConfigurationError("each vendor may be configured once per worker")
        self.outbox = outbox
        self.vendors = {v.name: v for v in vendors}
        self.policy = policy or RetryPolicy()
        self.timeout = timeout if isinstance(timeout, httpx2.Timeout) else httpx2.Timeout(timeout)
        longest = max(
            (t for t in (self.timeout.connect, self.timeout.read, self.timeout.write, self.timeout.pool) if t),
            default=0.0,
        )
        # connect + write + read may each take up to their limit on one request.
        if lease <= 3 * longest:
            raise ConfigurationError(
                f"lease ({lease:g}s) must exceed three times the longest request timeout ({longest:g}s), "
                "or another worker could claim a delivery still in flight"
            )
        self.lease = lease
        self.poll_interval = poll_interval
        self.dry_run = dry_run
        self.shutdown_grace = shutdown_grace
        self.retention = retention
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.rand = rand
        self._slots = {
            name: concurrency if isinstance(concurrency, int) else concurrency.get(name, 8) for name in self.vendors
        }
        if any(limit < 1 for limit in self._slots.values()):
            raise ConfigurationError("concurrency must be at least 1 per vendor")
        self._transport = transport
        self._client = client
        self._own_client = client is None
        self._inflight: dict[str, int] = dict.fromkeys(self.vendors, 0)
        self._inflight_rows: dict[str, int] = dict.fromkeys(self.vendors, 0)
        self._ready: dict[str, deque[Delivery]] = {name: deque() for name in self.vendors}
        """Claimed deliveries waiting for a free slot, oldest first."""
        self._paused_until: dict[str, float] = dict.fromkeys(self.vendors, 0.0)
        self._pauses: dict[str, float] = {}
        """Pauses to store in the outbox, where every worker sees them."""
        self._next_due: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._chunks: dict[asyncio.Task[None], list[Delivery]] = {}
        """Deliveries of tasks that have not started yet."""
        self._pending: list[Finish] = []
        # Events are made in start(): an asyncio.Event belongs to the loop that first waits on it, and a
        # worker may be started again in another loop (test clients run each app in a loop of their own).
        self._kick = asyncio.Event()
        self._flush_kick = asyncio.Event()
        self._idle = asyncio.Event()
        self._last_purge = 0.0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._busy = 0
        self.max_yield = 0.05
        """Longest pause of new requests while checkouts run in the same loop (seconds)."""
        self._stopping = False
        self._closing = False
        self._flushing = False
        self._loop_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self.sent = 0
        """Requests this worker tried to send (for benchmarks and tests)."""

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
            total = sum(self._slots.values())
            self._client = httpx2.AsyncClient(
                timeout=self.timeout,
                limits=httpx2.Limits(max_connections=total, max_keepalive_connections=total),
                transport=self._transport,
                trust_env=False,
            )
            self._own_client = True
        self._stopping = self._closing = False
        self._kick, self._flush_kick, self._idle = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._quiet = asyncio.Event()
        if not self._busy:
            self._quiet.set()
        self._flush_task = asyncio.create_task(self._flusher(), name="attribution-outbox-writer")
        self._loop_task = asyncio.create_task(self._loop(), name="attribution-worker")
        self._watch_task = asyncio.create_task(self.outbox.watch(self.wake), name="attribution-outbox-watch")

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let requests in flight finish (up to ``grace`` seconds), hand back the rest, and
        write every outcome. Idempotent."""
        if self._loop_task is None:
            return
        self._stopping = True
        self._kick.set()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
            self._watch_task = None
        with contextlib.suppress(asyncio.CancelledError):
            await self._loop_task
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
        if self._flush_task is not None:
            # Never cancel the writer: a cancelled write could drop outcomes already taken from the buffer.
            self._closing = True
            self._flush_kick.set()
            await self._flush_task
        await self._flush()
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        self._loop_task = self._flush_task = None

    def wake(self) -> None:
        """Look at the outbox now (called after a checkout in the same process)."""
        if self.running:
            self._idle.clear()
            self._kick.set()

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until nothing is due or in flight and every outcome is written (tests, benchmarks)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    # -- the loop --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def yielding(self) -> Iterator[None]:
        """While any such block runs (a checkout, in the same event loop), start no new requests.

        The worker shares the app's event loop; a checkout must not wait behind the CPU work of starting
        requests. Sending resumes when the checkouts finish, or after ``max_yield`` seconds at most, so a
        steady stream of checkouts delays deliveries but cannot stop them.
        """
        self._busy += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if not self._busy:
                self._quiet.set()

    async def _loop(self) -> None:
        while not self._stopping:
            self._kick.clear()
            if self._busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._quiet.wait(), self.max_yield)
            await self._purge_old()
            limits: dict[str, int] = {}
            now = self.clock()
            for name, vendor in self.vendors.items():
                if self._paused_until[name] > now:
                    continue
                self._dispatch(vendor)
                ready = self._ready[name]
                per_round = self._slots[name] * vendor.max_batch
                # Keep up to one round of claimed deliveries ready besides those in flight, so a freed slot
                # is refilled without a database round trip and claims come in large, cheap transactions.
                room = 2 * per_round - self._inflight_rows[name] - len(ready)
                if room > 0 and len(ready) <= per_round // 2:
                    limits[name] = room
            more = False
            if limits:
                try:
                    claimed = await self.outbox.claim(self.worker_id, limits=limits, now=self.clock(), lease=self.lease)
                except Exception:
                    log.exception("claiming deliveries failed; trying again shortly")
                    claimed = {}
                for name, deliveries in claimed.items():
                    self._idle.clear()
                    self._ready[name].extend(deliveries)
                    self._dispatch(self.vendors[name])
                    more = more or len(deliveries) == limits[name]
            if more:
                continue
            if not self._tasks and not self._pending and not self._flushing and not any(self._ready.values()):
                self._idle.set()
            await self._sleep()

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

    async def _sleep(self) -> None:
        wait = self.poll_interval
        now = self.clock()
        if self._next_due is not None:
            wait = min(wait, max(0.0, self._next_due - now))
            if self._next_due <= now:
                self._next_due = None
        paused = [p for p in self._paused_until.values() if p > now]
        if paused:
            wait = min(wait, min(paused) - now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), max(wait, 0.001))

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

    def _take(self, vendor: Vendor) -> list[Delivery] | None:
        """The next request's deliveries: the oldest ready one and, for batching vendors, others with its
        batch key. None when nothing is ready (or the vendor asked us to wait)."""
        name, ready = vendor.name, self._ready[vendor.name]
        while ready and not self._stopping and self._paused_until[name] <= self.clock():
            head = ready.popleft()
            chunk = [head]
            if vendor.max_batch > 1:
                keep: deque[Delivery] = deque()
                while ready:
                    d = ready.popleft()
                    (chunk if d.batch_key == head.batch_key and len(chunk) < vendor.max_batch else keep).append(d)
                ready.extend(keep)
            if len(ready) <= self._slots[name] * vendor.max_batch // 2:
                self._kick.set()  # time to claim more
            now = self.clock()
            # A delivery that waited here for half its lease is handed back unsent rather than risk being
            # sent while another worker takes it over.
            stale = [d for d in chunk if now > d.next_attempt_at - self.lease / 2]
            if stale:
                self._release(stale)
                chunk = [d for d in chunk if d not in stale]
            if chunk:
                self._inflight_rows[name] += len(chunk)
                return chunk
        return None

    def _release(self, deliveries: Sequence[Delivery]) -> None:
        """Hand claimed, unsent deliveries back: due at once, and not counted as an attempt."""
        now = self.clock()
        self._record([Finish(d.id, Status.PENDING, now, next_attempt_at=now, released=True) for d in deliveries])

    def _done(self, name: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._inflight[name] -= 1
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
                outcome = await self._attempt(vendor, current)
            except asyncio.CancelledError:
                # Abandoned at shutdown: the request may have gone out, so this counts as an attempt; the
                # delivery is due again at once, for this or another worker.
                now = self.clock()
                self._record(
                    [
                        Finish(d.id, Status.PENDING, now, next_attempt_at=now, error="interrupted by shutdown")
                        for d in current
                    ]
                )
                raise
            finally:
                self._inflight_rows[vendor.name] -= len(current)
            self._record(self._decide(vendor, current, outcome))
            next_chunk = self._take(vendor)

    async def _attempt(self, vendor: Vendor, chunk: list[Delivery]) -> Outcome | tuple[str, str]:
        """Build and send one request. Returns the vendor's outcome, or ("dead"|"dry_run", detail)."""
        try:
            request = vendor.build_request([d.payload for d in chunk])
        except Exception as exc:
            # Most likely a configuration problem (credentials, base URL); the operator fixes it and
            # revives the deliveries with `attribution retry --dead`. The message may quote the payload.
            log.error("%s: building a request failed (%s)", vendor.name, type(exc).__name__)
            return Failed(f"could not build the request: {type(exc).__name__}")
        if self.dry_run:
            return ("dry_run", describe_request(vendor, request))
        assert self._client is not None
        try:
            response = await self._client.send(request)
        except httpx2.TransportError as exc:
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
        finally:
            self.sent += 1
        try:
            outcome = vendor.read_response(response)
        except Exception as exc:
            log.error("%s: reading HTTP %s failed (%s)", vendor.name, response.status_code, type(exc).__name__)
            return Failed(f"HTTP {response.status_code}: could not read the answer ({type(exc).__name__})")
        if isinstance(outcome, Retry) and outcome.after is None and response.status_code == 429:
            reset = rate_limit_reset(response.headers, now=self.clock())
            if reset is not None:
                outcome = Retry(outcome.reason, after=reset)
        return outcome

    def _decide(self, vendor: Vendor, chunk: list[Delivery], outcome: Outcome | tuple[str, str]) -> list[Finish]:
        now = self.clock()
        if isinstance(outcome, tuple):
            return [Finish(d.id, Status.DRY_RUN, now, answer=outcome[1]) for d in chunk]
        if isinstance(outcome, Delivered):
            log.info("%s: delivered %d", vendor.name, len(chunk))
            return [Finish(d.id, Status.DELIVERED, now, answer=outcome.answer) for d in chunk]
        if isinstance(outcome, Failed):
            log.warning("%s: %d dead: %s", vendor.name, len(chunk), redact(outcome.reason)[:200])
            return [Finish(d.id, Status.DEAD, now, error=outcome.reason) for d in chunk]
        if outcome.after is not None:
            # The vendor asked everyone to wait, not just this delivery: pause the whole vendor.
            until = now + min(outcome.after, self.policy.max_retry_after)
            self._paused_until[vendor.name] = max(self._paused_until[vendor.name], until)
            self._pauses[vendor.name] = self._paused_until[vendor.name]
            # Deliveries claimed but not yet sent go back: held through the pause, their lease could expire.
            self._release(list(self._ready[vendor.name]))
            self._ready[vendor.name].clear()
        finishes = []
        for d in chunk:
            next_at = now + retry_delay(d.attempts, self.policy, after=outcome.after, rand=self.rand)
            gone = out_of_time(attempts=d.attempts, created_at=d.created_at, next_at=next_at, policy=self.policy)
            if gone:
                finishes.append(Finish(d.id, Status.DEAD, now, error=f"{outcome.reason}; {gone}"))
            else:
                finishes.append(Finish(d.id, Status.PENDING, now, next_attempt_at=next_at, error=outcome.reason))
                self._next_due = next_at if self._next_due is None else min(self._next_due, next_at)
        log.info("%s: %d to retry: %s", vendor.name, len(chunk), redact(outcome.reason)[:200])
        return finishes

    # -- writing outcomes ------------------------------------------------------------------------------

    def _record(self, finishes: list[Finish]) -> None:
        self._pending.extend(finishes)
        self._flush_kick.set()

    async def _flusher(self) -> None:
        while True:
            await self._flush_kick.wait()
            self._flush_kick.clear()
            try:
                await self._flush()
            except Exception:
                # The deliveries stay claimed; their lease expires and they are sent again.
                log.exception("recording delivery outcomes failed; they will be retried after their lease")
            self._kick.set()
            if self._closing and not self._pending:
                return

    async def _flush(self) -> None:
        pauses, self._pauses = self._pauses, {}
        for name, until in pauses.items():
            await self.outbox.pause(name, until)
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self._flushing = True
        try:
            await self.outbox.finish(self.worker_id, batch)
        finally:
            self._flushing = False
