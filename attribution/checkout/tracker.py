"""Checkout: join the visitor's attribution with an order, and queue one delivery per vendor.

``Tracker`` holds the configured vendors, the outbox and the worker. A checkout asks each vendor whether it
applies, writes what the vendors prepared to the outbox in one durable transaction and returns: sending
happens later, in the worker, so a slow or failing vendor never slows the checkout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal, Unpack

from starlette.datastructures import URL

from ..capture.consent import Consent
from ..capture.models import Attribution, trusted
from ..delivery.outbox.base import Change, Delivery, Enqueued, NewDelivery, NewOrder, Outbox
from ..delivery.outbox.choose import outbox_from
from ..delivery.outbox.corrections import with_vendors
from ..delivery.preparing import event_of
from ..delivery.worker import Worker, WorkerOptions
from ..errors import ConfigurationError, InvalidConversionError, TokenError
from ..orders import pii
from ..orders.conversion import Conversion, Customer, EventName, Order, RequestContext, of_order
from ..orders.identifiers import Identifier, union
from ..orders.record import record_of
from ..reports.revenue import Report, ReportOptions, revenue_report
from ..reports.sync import run_sync
from ..vendors.base import Vendor
from ..web.state import get_attribution, get_consent
from .client_ip import client_ip, parse_proxies
from .corrections import CorrectionResult, adjustment, cancellation, correct, event_name, unknown
from .holds import HoldSetting, parse_holds
from .token import TokenCodec

log = logging.getLogger("attribution.tracker")

DEFAULT_OUTBOX = "attribution-outbox.sqlite3"


@dataclass(frozen=True, slots=True)
class VendorResult:
    """What a checkout did for one vendor.

    ``status`` is ``queued`` (new deliveries written), ``duplicate`` (this order and event were already
    queued: nothing new) or ``skipped`` (the vendor does not apply; ``reason`` says why).
    """

    vendor: str
    status: Literal["queued", "duplicate", "skipped"]
    reason: str | None = None
    delivery_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    """The outcome of a checkout, one ``VendorResult`` per configured vendor."""

    dedup_id: str
    vendors: tuple[VendorResult, ...] = field(default=())

    def __getitem__(self, vendor: str) -> VendorResult:
        for result in self.vendors:
            if result.vendor == vendor:
                return result
        raise KeyError(vendor)

    def __iter__(self) -> Iterator[VendorResult]:
        return iter(self.vendors)

    @property
    def queued(self) -> list[str]:
        return [r.vendor for r in self.vendors if r.status == "queued"]

    @property
    def duplicate(self) -> bool:
        """True when nothing new was queued because every applicable vendor already had this conversion."""
        return not self.queued and any(r.status == "duplicate" for r in self.vendors)


class Tracker:
    """The configured vendors, the outbox and the worker: what a site gives the middleware.

    Args:
        vendors: the vendor adapters to report to.
        outbox: an ``Outbox``, a ``postgresql://`` URL (``PostgresOutbox``), or the path of the SQLite file
            (default ``attribution-outbox.sqlite3``).
        secret_key: signs checkout tokens (``export_token``); a list rotates keys, newest first.
        trusted_proxies: the site's own reverse proxies, whose ``X-Forwarded-For`` entries are believed: their
            CIDRs, or how many stand in front of the app (``1``: the address the one proxy appended; only when
            nothing reaches the app except through them). ``"*"`` (every hop) is refused.
        dry_run: build and record every request, send nothing (demos, checking a setup).
        run_worker: start the in-app worker with ``start()`` (set False when ``attribution worker`` runs
            separately).
        token_max_age: how long an exported token stays valid.
        hold: how long deliveries wait before they are sent, per event and, where one vendor needs another delay,
            per vendor: ``{"purchase": timedelta(hours=24)}`` (see ``checkout.holds``). Held deliveries show as
            ``held`` with their release time.
        clock: seconds since the epoch (tests).
        worker: a ready ``Worker`` (on this tracker's outbox and vendors) instead of one built here.
        worker_options: the settings of the worker built here: ``policy``, ``concurrency``, ``timeout``,
            ``lease``, ``poll_interval``, ``shutdown_grace``, ``retention``, ``transport``, ... (see ``Worker``),
            among them ``still_valid``, ``callable(order_id, event)``, sync or async, asked just before a held
            delivery is sent (False cancels it; an exception means "ask again later", never "drop"), and
            ``order_retention``, how long order records and their journeys are kept for reports (400 days; the
            customer's data in them goes with the deliveries' ``retention``).
    """

    def __init__(
        self,
        *,
        vendors: Sequence[Vendor],
        outbox: Outbox | str | os.PathLike[str] = DEFAULT_OUTBOX,
        secret_key: str | Sequence[str] | None = None,
        trusted_proxies: Sequence[str] | int = (),
        dry_run: bool = False,
        run_worker: bool = True,
        token_max_age: timedelta = timedelta(days=14),
        hold: HoldSetting | None = None,
        clock: Callable[[], float] = time.time,
        worker: Worker | None = None,
        **worker_options: Unpack[WorkerOptions],
    ) -> None:
        self.vendors = list(vendors)
        self.holds = parse_holds(hold, [v.name for v in self.vendors])
        self.outbox = outbox_from(outbox)
        try:
            self.trusted_proxies = parse_proxies(trusted_proxies)
        except ValueError as exc:
            raise ConfigurationError(f"trusted_proxies: {exc}") from None
        self.run_worker = run_worker
        self.clock = clock
        if worker is None:
            worker = Worker(self.outbox, self.vendors, dry_run=dry_run, clock=clock, **worker_options)
        else:
            self.outbox = _same_setup(worker, self.vendors, outbox, dry_run=dry_run, options=worker_options)
        self.worker = worker
        self._tokens = TokenCodec(secret_key, max_age=token_max_age, clock=clock) if secret_key is not None else None
        self._started = False
        self._said_not_started = False
        self._forms_of: dict[tuple[str, ...], tuple[Identifier, ...]] = {}

    @property
    def dry_run(self) -> bool:
        """Whether the tracker's worker builds and records requests without sending them."""
        return self.worker.dry_run

    def __repr__(self) -> str:
        names = [v.name for v in self.vendors]
        return f"Tracker(vendors={names!r}, outbox={self.outbox!r}, dry_run={self.dry_run})"

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the outbox and start the in-app worker (unless ``run_worker=False``). Idempotent."""
        await self.outbox.open()
        if self.run_worker:
            await self.worker.start()
        self._started = True

    async def stop(self) -> None:
        """Stop the worker (finishing or handing back requests in flight) and close the outbox. Idempotent."""
        await self.worker.stop()
        await self.outbox.close()
        self._started = False

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[Tracker]:
        """``async with tracker.lifespan():`` around an app's life, when not using the middleware's."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    # -- checkout --------------------------------------------------------------------------------------

    async def checkout(
        self,
        request: Any,
        order: Order | None = None,
        *,
        customer: Customer | None = None,
        event: EventName | str = EventName.PURCHASE,
        connection: Any = None,
        **details: Any,
    ) -> CheckoutResult:
        """Queue this order (or event) for every vendor that applies, with the visitor's attribution and
        the request's context. Returns once the outbox write is durable.

        ``connection``: the site's open psycopg ``AsyncConnection`` (PostgreSQL outbox only). The deliveries are
        written inside its current transaction: they exist if, and only if, the caller commits it (with the order).

        ``request`` is a Starlette/FastAPI request (or an ASGI scope) that went through the middleware.
        ``details`` go to ``Conversion`` (``custom_name``, ``event_id``, ``value``, ``currency``,
        ``event_time``). Raises ``InvalidConversionError`` for an impossible order or event.
        """
        conversion = self._from_request(request, order, customer, event, details)
        return await self.record(conversion, connection=connection)

    async def checkout_token(
        self,
        token: str,
        order: Order | None = None,
        *,
        customer: Customer | None = None,
        event: EventName | str = EventName.PURCHASE,
        connection: Any = None,
        **details: Any,
    ) -> CheckoutResult:
        """Like ``checkout``, with the attribution and context of a token from ``export_token`` instead of
        a request: for payment webhooks, which arrive without the visitor's cookie. Raises ``TokenError``
        when the token was tampered with, has expired, or was exported for another order."""
        conversion = self._from_token(token, order, customer, event, details)
        return await self.record(conversion, connection=connection)

    def export_token(self, request: Any, *, include_context: bool = True, order_id: str | None = None) -> str:
        """A signed, time-limited token of the visitor's attribution (and this request's context), to put
        in a payment provider's metadata or a hidden field and give to ``checkout_token`` later.

        ``order_id`` binds the token to that order: ``checkout_token`` then refuses it for any other, so a
        token taken from one payment cannot check out unrelated orders."""
        context = self.context(request) if include_context else None
        return self._codec().dumps(get_attribution(request), context, get_consent(request), order_id=order_id)

    def context(self, request: Any) -> RequestContext:
        """IP (through trusted proxies), user agent, URL and referrer of a request or ASGI scope."""
        scope = getattr(request, "scope", request)
        user_agent, referrer = _headers(scope)
        fields = {
            "ip": client_ip(scope, self.trusted_proxies),
            "user_agent": user_agent or None,
            "url": str(URL(scope=scope)) if "path" in scope else None,
            "referrer": referrer or None,
        }
        # client_ip gives an address in the form the model's validator writes; trimmed text needs no trim
        if all(v is None or v == v.strip() for v in fields.values()):
            return trusted(RequestContext, fields)
        return RequestContext(**fields)

    async def record(self, conversion: Conversion, *, connection: Any = None) -> CheckoutResult:
        """Queue a ready ``Conversion`` for every vendor that applies (``checkout`` builds one for you)."""
        with self.worker.yielding():
            return await self._record(conversion, connection)

    async def _record(self, conversion: Conversion, connection: Any = None) -> CheckoutResult:
        results, order = self._prepare(conversion)
        now = self.clock()
        if connection is not None:
            written = await self.outbox.enqueue_with(connection, [order], now=now)
        else:
            written = await self.outbox.enqueue([order], now=now)
        result = self._outcome(conversion, results, written)
        if result.queued:
            self.worker.wake()
        return result

    def checkout_sync(
        self,
        request: Any,
        order: Order | None = None,
        *,
        customer: Customer | None = None,
        event: EventName | str = EventName.PURCHASE,
        connection: Any,
        **details: Any,
    ) -> CheckoutResult:
        """``checkout`` for synchronous code that saves the order on a synchronous PostgreSQL connection, such as
        a Django view inside ``transaction.atomic()``: the deliveries are written on ``connection``
        (``django.db.connection``, or a psycopg ``Connection``) in its current transaction, so they exist if,
        and only if, the order commits. Needs the PostgreSQL outbox, in the same database."""
        conversion = self._from_request(request, order, customer, event, details)
        return self.record_sync(conversion, connection=connection)

    def checkout_token_sync(
        self,
        token: str,
        order: Order | None = None,
        *,
        customer: Customer | None = None,
        event: EventName | str = EventName.PURCHASE,
        connection: Any,
        **details: Any,
    ) -> CheckoutResult:
        """``checkout_token`` for synchronous code, written on ``connection`` as ``checkout_sync`` writes."""
        conversion = self._from_token(token, order, customer, event, details)
        return self.record_sync(conversion, connection=connection)

    def record_sync(self, conversion: Conversion, *, connection: Any) -> CheckoutResult:
        """``record`` on a synchronous connection, in its current transaction (see ``checkout_sync``). The
        workers hear of the deliveries from PostgreSQL when the transaction commits."""
        results, order = self._prepare(conversion)
        written = self.outbox.enqueue_with_sync(_psycopg_connection(connection), [order], now=self.clock())
        return self._outcome(conversion, results, written)

    def _prepare(self, conversion: Conversion) -> tuple[dict[str, VendorResult], NewOrder]:
        """Each vendor's answer for a conversion (skipped, and why), and the order record with the deliveries of the
        vendors that apply, keeping the customer only in the forms those vendors read."""
        # the vendors read the same ids and hash the same email and phone: each is worked out once
        with conversion.attribution.read_once(), pii.hashing_once():
            results, applied = self._answers(conversion)
            record = record_of(conversion, self._forms(tuple(vendor for vendor, _ in applied)))
        now, event, dedup_id = self.clock(), record.event, conversion.dedup_id
        deliveries = tuple(
            NewDelivery(
                vendor.name,
                dedup_id,
                batch_key,
                hold_until=now + delay if (delay := self.holds.delay(vendor.name, event)) > 0 else None,
            )
            for vendor, batch_key in applied
        )
        skipped = {name: r.reason or "" for name, r in results.items()}
        return results, NewOrder(record, deliveries, skipped)

    def _forms(self, vendors: tuple[Vendor, ...]) -> tuple[Identifier, ...]:
        """The customer forms the vendors read, each once (remembered per set of vendors: checkouts repeat them)."""
        key = tuple(vendor.name for vendor in vendors)
        forms = self._forms_of.get(key)
        if forms is None:
            forms = self._forms_of[key] = union(vendor.identifiers for vendor in vendors)
        return forms

    def _answers(self, conversion: Conversion) -> tuple[dict[str, VendorResult], list[tuple[Vendor, str]]]:
        """The vendors that do not apply, with the reason, and those that do, with their batch keys."""
        results: dict[str, VendorResult] = {}
        applied: list[tuple[Vendor, str]] = []
        for vendor in self.vendors:
            try:
                reason = conversion.consent.refusal(vendor.name) or vendor.check(conversion)
                if not reason:
                    applied.append((vendor, vendor.batch_key(conversion)))
                    continue
            except InvalidConversionError as exc:
                reason = str(exc)
            except Exception as exc:
                # One adapter's bug must not fail the checkout or the other vendors. The log says where it
                # failed but not the exception's message, which may quote the customer's data.
                where = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
                log.error("%s could not check a conversion (%s)\n%s", vendor.name, type(exc).__name__, where)
                reason = f"the {vendor.name} adapter failed ({type(exc).__name__}); see the logs"
            results[vendor.name] = VendorResult(vendor.name, "skipped", reason)
        return results, applied

    def _outcome(
        self, conversion: Conversion, results: dict[str, VendorResult], written: Sequence[Enqueued]
    ) -> CheckoutResult:
        """The checkout's answer, once the outbox said which deliveries are new and which it had already."""
        by_vendor: dict[str, list[tuple[int, bool]]] = {}
        for entry in written:
            by_vendor.setdefault(entry.vendor, []).append((entry.id, entry.duplicate))
        for name, entries in by_vendor.items():
            fresh = tuple(i for i, dup in entries if not dup)
            if fresh:
                results[name] = VendorResult(name, "queued", delivery_ids=fresh)
            else:
                results[name] = VendorResult(
                    name, "duplicate", "already queued for this order and event", tuple(i for i, _ in entries)
                )
        ordered = tuple(results[v.name] for v in self.vendors if v.name in results)
        result = CheckoutResult(dedup_id=conversion.dedup_id, vendors=ordered)
        if result.queued and self.run_worker and not self._started and not self._said_not_started:
            self._said_not_started = True
            log.error(
                "conversions are queued but the in-app worker never started: this server did not run the ASGI "
                "lifespan (Daphne, uvicorn --lifespan off) and nothing called tracker.start(). They wait in "
                "%r. Fix: Tracker(run_worker=False) and run `attribution worker --config module:tracker` "
                "beside the app, or serve it with uvicorn or Hypercorn, which run the lifespan.",
                self.outbox,
            )
        return result

    async def event(self, delivery: int | Delivery) -> dict[str, Any] | None:
        """The event a delivery sends its vendor, built from its order record as the worker builds it (a delivery
        queued before order records kept its own): for screens and checks, what goes or went out. None for an unknown
        delivery, a vendor this tracker is not set up with, or a record whose details were purged. It holds personal
        data: mask it before showing it (``redact``)."""
        found = await self.outbox.get(delivery) if isinstance(delivery, int) else delivery
        vendor = self.worker.vendors.get(found.vendor) if found is not None else None
        if found is None or vendor is None or (found.order is not None and found.order.scrubbed):
            return None
        return event_of(vendor, found)

    # -- corrections -----------------------------------------------------------------------------------

    async def adjust(
        self,
        order_id: str,
        *,
        value: Decimal | float | int | str,
        currency: str | None = None,
        event: EventName | str = EventName.PURCHASE,
    ) -> CorrectionResult:
        """Correct the value of an order already checked out (a partial refund, a corrected total).

        Deliveries not sent yet go with the new value (``adjusted``); a vendor that already has the conversion is
        told where it documents how (``restated``: Google Ads), else it stays as it was (``not_supported``, with the
        reason). The same call twice changes nothing the second time (``unchanged``). Raises ``UnknownOrderError``
        for an order never checked out (nothing is changed) and ``InvalidConversionError`` for an impossible value.
        """
        return await self._correct(order_id, event_name(event), adjustment(value, currency))

    async def cancel(
        self, order_id: str, *, event: EventName | str = EventName.PURCHASE, reason: str = "refund"
    ) -> CorrectionResult:
        """Cancel an order already checked out (refunded, never paid, a cancelled trial).

        Deliveries not sent yet are never sent (``cancelled``); a vendor that already has the conversion is told
        where it documents how (``retracted``: Google Ads API), else it stays (``not_supported``, with the reason).
        Reports leave the order out. Idempotent; ``UnknownOrderError`` for an order never checked out."""
        return await self._correct(order_id, event_name(event), cancellation(reason))

    async def _correct(self, order_id: str, event: str, change: Change) -> CorrectionResult:
        result = await correct(self.outbox, self.vendors, order_id, event, change, now=self.clock())
        if any(r.status in ("restated", "retracted") for r in result):
            self.worker.wake()
        return result

    def adjust_sync(
        self,
        order_id: str,
        *,
        value: Decimal | float | int | str,
        currency: str | None = None,
        event: EventName | str = EventName.PURCHASE,
        connection: Any = None,
    ) -> CorrectionResult:
        """``adjust`` for synchronous code (a Django view). With the PostgreSQL outbox, pass ``connection``
        (``django.db.connection`` or a psycopg ``Connection``): the correction is written in its current
        transaction. With the SQLite outbox, leave it out."""
        return self._correct_sync(order_id, event_name(event), adjustment(value, currency), connection)

    def cancel_sync(
        self,
        order_id: str,
        *,
        event: EventName | str = EventName.PURCHASE,
        reason: str = "refund",
        connection: Any = None,
    ) -> CorrectionResult:
        """``cancel`` for synchronous code, as ``adjust_sync``."""
        return self._correct_sync(order_id, event_name(event), cancellation(reason), connection)

    def _correct_sync(self, order_id: str, event: str, change: Change, connection: Any) -> CorrectionResult:
        if connection is not None:
            conn = _psycopg_connection(connection)
            found = self.outbox.order_with_sync(conn, order_id, event)
            if found is None:
                raise unknown(order_id, event)
            change = with_vendors(change, self.vendors, found[0])
            done = self.outbox.correct_with_sync(conn, order_id, event, change, now=self.clock())
            if done is None:
                raise unknown(order_id, event)
            return CorrectionResult(order_id, event, change.kind, tuple(done))
        if self.outbox.dialect != "sqlite":
            raise ConfigurationError(
                f"{type(self.outbox).__name__}: pass connection= (django.db.connection or a psycopg Connection) to "
                "correct an order from synchronous code"
            )
        # The SQLite outbox answers any event loop: run the correction in one of its own, on a thread of its own
        # (the caller may be inside a running loop's thread, as Django's sync views under ASGI are not).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, self._correct(order_id, event, change)).result()

    # -- helpers ---------------------------------------------------------------------------------------

    def _codec(self) -> TokenCodec:
        if self._tokens is None:
            raise ConfigurationError("checkout tokens need Tracker(secret_key=...)")
        return self._tokens

    def _from_request(
        self,
        request: Any,
        order: Order | None,
        customer: Customer | None,
        event: EventName | str,
        details: Mapping[str, Any],
    ) -> Conversion:
        """The conversion of ``checkout`` and ``checkout_sync``: the request's attribution, context and consent."""
        attribution, context = get_attribution(request), self.context(request)
        return self._conversion(order, customer, event, attribution, context, details, get_consent(request))

    def _from_token(
        self,
        token: str,
        order: Order | None,
        customer: Customer | None,
        event: EventName | str,
        details: Mapping[str, Any],
    ) -> Conversion:
        """The conversion of ``checkout_token`` and ``checkout_token_sync``: what the token carries, for the order
        it was bound to (if it was)."""
        attribution, context, consent, bound = self._codec().read(token)
        if bound is not None and (order is None or order.id != bound):
            raise TokenError("the attribution token was exported for another order: it checks out that order only")
        return self._conversion(order, customer, event, attribution, context, details, consent)

    @staticmethod
    def _conversion(
        order: Order | None,
        customer: Customer | None,
        event: EventName | str,
        attribution: Attribution,
        context: RequestContext,
        details: Mapping[str, Any],
        consent: Consent | None = None,
    ) -> Conversion:
        allowed = {"custom_name", "event_id", "value", "currency", "event_time"}
        unknown = set(details) - allowed
        if unknown:
            raise TypeError(f"unexpected checkout arguments: {', '.join(sorted(unknown))}")
        customer = customer or Customer()
        pinned = attribution.pinned()  # every vendor's reads at one moment, the clock read once
        consent = consent or Consent()
        if not details and order is not None:
            ready = of_order(event, order, customer, pinned, context, consent)
            if ready is not None:
                return ready
        value = details.get("value")
        data: dict[str, Any] = {
            "event": event,
            "order": order,
            "customer": customer,
            "attribution": pinned,
            "context": context,
            "consent": consent,
            **{k: v for k, v in details.items() if v is not None},
        }
        if isinstance(value, float):
            data["value"] = Decimal(str(value))  # 9.99, not 9.9900000000000002131628...
        return Conversion(**data)

    # -- reports ---------------------------------------------------------------------------------------

    async def report(self, **options: Unpack[ReportOptions]) -> Report:
        """Revenue by channel (or source, medium, campaign) under an attribution model, from the order records:
        ``await tracker.report(since=timedelta(days=30), by="channel", model="last")``. See ``attribution.reports``."""
        return await revenue_report(self.outbox, now=self.clock(), **options)

    def report_sync(self, **options: Unpack[ReportOptions]) -> Report:
        """``report`` for synchronous code (a Django view), outside any running event loop."""
        return run_sync(self.outbox, lambda box: revenue_report(box, now=self.clock(), **options))


def _headers(scope: Any) -> tuple[str | None, str | None]:
    """The first ``User-Agent`` and ``Referer`` of an ASGI scope, as Starlette's ``Headers`` reads them."""
    user_agent = referrer = None
    for key, value in scope["headers"]:
        if key == b"user-agent":
            user_agent = value.decode("latin-1") if user_agent is None else user_agent
        elif key == b"referer":
            referrer = value.decode("latin-1") if referrer is None else referrer
    return user_agent, referrer


def _same_setup(
    worker: Worker,
    vendors: Sequence[Vendor],
    outbox: Outbox | str | os.PathLike[str],
    *,
    dry_run: bool,
    options: Mapping[str, object],
) -> Outbox:
    """The outbox of a ready worker given to a tracker, after checking that both describe one setup."""
    if options:
        raise ConfigurationError(
            f"Tracker(worker=...) takes the worker's settings from it: pass {', '.join(sorted(options))} to Worker"
        )
    if dry_run and not worker.dry_run:
        raise ConfigurationError("Tracker(dry_run=True) with a worker that sends: use Worker(..., dry_run=True)")
    if sorted(v.name for v in vendors) != sorted(worker.vendors):
        raise ConfigurationError("the worker must send to the tracker's vendors, the same ones")
    if isinstance(outbox, Outbox) and outbox is not worker.outbox:
        raise ConfigurationError("the worker must use the tracker's outbox")
    return worker.outbox


def _psycopg_connection(connection: Any) -> Any:
    """The psycopg connection itself, or the one under Django's connection wrapper (opened if it was not yet)."""
    ensure = getattr(connection, "ensure_connection", None)
    if callable(ensure):  # django.db.connection
        ensure()
        return connection.connection
    return connection
