"""``attribution``: the operator's view of the outbox, the worker as a process, and a setup check.

    attribution status                       counts per vendor and status, oldest waiting, last errors
    attribution list [--status S] [--vendor V] [--limit N]
    attribution show ID [--reveal]           a delivery, its request and the vendor's answers (PII masked)
    attribution retry ID [ID ...] | --dead   send again (attempts start from zero)
    attribution purge --older-than 30d [--orders-older-than 400d]
                                             delete finished deliveries older than that, scrub the personal
                                             data of their orders, delete orders past their own retention
    attribution worker                       send deliveries until SIGTERM or Ctrl-C (needs --config)
    attribution migrate                      bring the outbox's schema up to date
    attribution check                        the request each configured vendor would send for a sample
    attribution report [--since 30d] [--by channel] [--model last] [--format table|json|csv]
    attribution report --deliveries          per vendor: orders seen, delivered, failed, pending, skipped and why
    attribution adjust ORDER --value 12.50 [--currency BRL] [--event purchase]
    attribution cancel ORDER [--event purchase] [--reason refund]
                                             correct an order: per vendor, what came of it

``adjust`` and ``cancel`` tell the vendors that already have the order where they can be told, which their settings
decide: with ``--config`` they do as ``Tracker.adjust`` / ``cancel``; without it they correct an order none of whose
deliveries was sent yet, and refuse (changing nothing) one a vendor may already have.

``--outbox PATH|URL`` (or ``ATTRIBUTION_OUTBOX``) picks the outbox: a SQLite file or a ``postgresql://`` URL;
``--config module:attr`` (or ``ATTRIBUTION_CONFIG``) names the site's ``Tracker`` (or a function returning one),
whose vendors and outbox ``worker``, ``check`` and ``show`` use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from .capture.models import Attribution, Channel, Touch
from .checkout.corrections import CorrectionResult, adjustment, cancellation, correct
from .checkout.tracker import DEFAULT_OUTBOX, Tracker
from .delivery.outbox.base import TERMINAL, Change, Outbox, Status
from .delivery.outbox.choose import POSTGRES_SCHEMES, outbox_from
from .delivery.outbox.sqlite import SQLiteOutbox
from .delivery.preparing import event_of
from .delivery.sending import describe_request
from .errors import AttributionError, ConfigurationError, OutboxError, UnknownOrderError
from .orders.conversion import Conversion, Customer, LineItem, Order, RequestContext
from .orders.identifiers import derive_all
from .redact import redact, redact_json, redact_url
from .reports.deliveries import delivery_report
from .reports.models import Model
from .reports.params import parse_moment, parse_period, parse_since
from .reports.revenue import BY, DEFAULT_EVENT, revenue_report
from .reports.text import delivery_csv, delivery_table, revenue_csv, revenue_table
from .vendors.base import Vendor


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``45m``, ``90s`` (or ``2w``)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number and a unit, e.g. 30d, 12h, 45m, 90s")
    amount, unit = float(match[1]), match[2]
    return timedelta(seconds=amount * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


def load_tracker(spec: str) -> Tracker:
    """``package.module:name``: a ``Tracker``, or a callable that returns one."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"--config {spec!r}: use module:attribute, e.g. mysite.settings:tracker")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # the site's own modules, as `python -m` would find them
    try:
        obj: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"--config {spec!r}: {redact(str(exc))}") from None
    except Exception as exc:  # the site's module failed while importing: one line, not a traceback
        raise ConfigurationError(f"--config {spec!r}: importing failed: {_error(exc)}") from None
    if not isinstance(obj, Tracker) and callable(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise ConfigurationError(f"--config {spec!r}: calling it failed: {_error(exc)}") from None
    if not isinstance(obj, Tracker):
        raise ConfigurationError(f"--config {spec!r} is not a Tracker (got {type(obj).__name__})")
    return obj


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {redact(str(exc))}"


#: How long order records are kept when no tracker says otherwise (``Worker(order_retention=...)``'s default).
ORDER_RETENTION = timedelta(days=400)

#: Commands that only read: they never create an outbox nor migrate one.
READ_ONLY = frozenset({"status", "list", "show", "report"})


def open_outbox(spec: str | None, tracker: Tracker | None, *, read_only: bool = False) -> Outbox:
    """The outbox a command works on: ``spec`` (``--outbox`` or ``ATTRIBUTION_OUTBOX``), else the tracker's,
    else ``./attribution-outbox.sqlite3``. Never created here: a missing file is an error naming its path, and
    a read-only command leaves a PostgreSQL database as it found it (no tables created, no migration)."""
    if spec:
        box: Outbox = outbox_from(spec, migrate=not read_only)  # a SQLite path or a postgresql:// URL
        origin = "--outbox or ATTRIBUTION_OUTBOX"
    elif tracker is not None:
        box, origin = tracker.outbox, "the tracker given by --config"
    else:
        box, origin = SQLiteOutbox(DEFAULT_OUTBOX), "the default; pass --outbox PATH or --config module:attr"
    if isinstance(box, SQLiteOutbox) and not box.path.is_file():
        raise OutboxError(f"no outbox at {box.path.resolve()} ({origin})")
    return box


def _age(seconds: float) -> str:
    """``45s``, ``12m``, ``3h``, ``2d``: the largest whole unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: Sequence[Sequence[object]], out: TextIO) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    for row in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def sample_conversion() -> Conversion:
    """A made-up purchase carrying every identifier some vendor uses, for ``check``."""
    now = datetime.now(UTC).replace(microsecond=0)
    landing = Touch(
        at=now - timedelta(hours=2),
        path="/landing",
        referrer="www.google.com",
        channel=Channel.PAID_SEARCH,
        params={
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": "spring-sale",
            "utm_term": "running shoes",
            "utm_content": "ad-a",
            "gclid": "Cj0KCQiA-sample-gclid",
            "fbclid": "IwAR-sample-fbclid",
            "twclid": "sample-twclid",
            "ttclid": "sample-ttclid",
            "cnct_tracking_id": "sample-tracking-id",
            "sendout_id": "sample-sendout",
            "ctwa_clid": "sample-ctwa-clid",
            "ad_id": "120200000000000001",
            "attribution_source": "meta_ctwa",
        },
    )
    ms = int((now - timedelta(hours=2)).timestamp() * 1000)
    return Conversion(
        order=Order(
            id="CHECK-0001",
            value=Decimal("99.90"),
            currency="USD",
            time=now,
            items=[LineItem(id="SKU-1", name="Running shoes", quantity=1, price=Decimal("99.90"))],
        ),
        customer=Customer(
            email="jane.doe@example.com",
            phone="+14155550100",
            first_name="Jane",
            last_name="Doe",
            country="US",
            external_id="customer-42",
        ),
        attribution=Attribution(
            first=landing,
            history=[landing],
            identifiers={
                "fbp": f"fb.1.{ms}.1234567890",
                "fbc": f"fb.1.{ms}.IwAR-sample-fbclid",
                "ga": "1234567890.1740830400",
                "ttp": "sample-ttp",
                "dp_pid": "sample-dp-pid",
                "wuid": "sample-wuid",
                "rdtrk": "sample-rdtrk",
            },
        ),
        context=RequestContext(
            ip="203.0.113.7",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
            url="https://shop.example/checkout",
            referrer="https://shop.example/cart",
        ),
    )


class CLI:
    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self._tracker: Tracker | None = None

    @property
    def tracker(self) -> Tracker | None:
        spec = self.args.config or os.environ.get("ATTRIBUTION_CONFIG")
        if self._tracker is None and spec:
            self._tracker = load_tracker(spec)
        return self._tracker

    def require_tracker(self) -> Tracker:
        tracker = self.tracker
        if tracker is None:
            raise ConfigurationError(
                f"`attribution {self.args.command}` needs the site's tracker: pass --config module:attr "
                "or set ATTRIBUTION_CONFIG"
            )
        return tracker

    @property
    def outbox_spec(self) -> str | None:
        spec: str | None = self.args.outbox or os.environ.get("ATTRIBUTION_OUTBOX")
        return spec

    def outbox(self) -> Outbox:
        return open_outbox(self.outbox_spec, self.tracker, read_only=self.args.command in READ_ONLY)

    def vendor(self, name: str) -> Vendor | None:
        tracker = self.tracker
        return next((v for v in tracker.vendors if v.name == name), None) if tracker else None

    # -- commands --------------------------------------------------------------------------------------

    async def status(self, box: Outbox) -> int:
        counts = await box.counts()
        if not counts:
            self.out.write("the outbox is empty\n")
            return 0
        now = time.time()
        statuses = [s for s in Status if any(k[1] == s for k in counts)]
        vendors = sorted({v for v, _ in counts})
        oldest = await box.oldest_waiting(vendors)
        rows: list[list[object]] = [["vendor", *[s.value for s in statuses], "oldest waiting"]]
        for vendor in vendors:
            queued = oldest.get(vendor)
            age = _age(now - queued) if queued is not None else "-"
            rows.append([vendor, *[counts.get((vendor, s), 0) for s in statuses], age])
        waiting = [t for t in oldest.values() if t]
        total_age = _age(now - min(waiting)) if waiting else "-"
        rows.append(["total", *[sum(counts.get((v, s), 0) for v in vendors) for s in statuses], total_age])
        _table(rows, self.out)
        held = sum(n for (_, status), n in counts.items() if status == Status.HELD)
        if held:
            # one aggregate over the held rows, however many there are
            sql = f"SELECT MIN(next_attempt_at) FROM {box.table('deliveries')} WHERE status = 'held'"  # noqa: S608 - the table's name from the outbox
            first = (await box.select(sql))[0][0]
            self.out.write(f"\nheld: {held}, the next released at {_when(first)} (then still_valid is asked)\n")
        errors = await box.last_errors(vendors)
        if errors:
            self.out.write("\nlast error (of deliveries not delivered):\n")
            for vendor, d in sorted(errors.items()):
                error = redact(d.last_error or "", secrets=d.personal_values())[:200]
                self.out.write(f"  {vendor}  #{d.id} {d.status.value}, {_age(now - d.updated_at)} ago: {error}\n")
        return 0

    async def list(self, box: Outbox) -> int:
        status = Status(self.args.status) if self.args.status else None
        found = await box.list(status=status, vendor=self.args.vendor, limit=self.args.limit)
        if not found:
            self.out.write("no deliveries\n")
            return 0
        rows: list[list[object]] = [["id", "vendor", "status", "attempts", "order", "event", "updated", "last error"]]
        for d in found:
            error = redact(d.last_error or "", secrets=d.personal_values())[:60]
            if d.status == Status.HELD:
                error = f"held until {_when(d.next_attempt_at)}"
            rows.append([d.id, d.vendor, d.status.value, d.attempts, d.order_id, d.event, _when(d.updated_at), error])
        _table(rows, self.out)
        return 0

    async def show(self, box: Outbox) -> int:
        d = await box.get(self.args.id)
        if d is None:
            sys.stderr.write(f"attribution: no delivery {self.args.id}\n")
            return 1
        reveal = self.args.reveal
        values = d.personal_values()
        text = (lambda s: s) if reveal else (lambda s: redact(s, secrets=values))
        masked = " (personal data masked; --reveal shows it)"
        w = self.out.write
        w(f"delivery {d.id}: {d.vendor} {d.status.value}{'' if d.kind == 'send' else ' (' + d.kind + ')'}\n")
        w(f"  dedup key     {d.dedup_key}\n  order/event   {d.order_id} / {d.event}\n")
        w(f"  batch key     {d.batch_key or '-'}\n  attempts      {d.attempts}\n")
        w(f"  created       {_when(d.created_at)}\n  updated       {_when(d.updated_at)}\n")
        if d.status == Status.HELD:
            w(f"  held until    {_when(d.next_attempt_at)} (then the site's still_valid is asked)\n")
        elif d.status in (Status.PENDING, Status.SENDING):
            w(f"  next attempt  {_when(d.next_attempt_at)}\n")
        if d.confirm_at is not None:
            w(f"  confirmation  asked for at {_when(d.confirm_at)}\n")
        if d.last_error:
            w(f"  last error    {text(d.last_error)}\n")
        if d.answer:
            w(f"  answer        {text(d.answer)}\n")
        if d.order is not None:
            order = d.order
            value = "-" if order.value is None else f"{order.value} {order.currency}"
            w(f"\norder record: {order.status}, value {value}\n")
            if order.scrubbed:
                w("  its personal parts were purged after the retention period\n")
            else:
                data = json.loads(order.data or "{}")
                identifiers = json.loads(order.identifiers or "{}")
                names = {"ip": "ip", "ua": "user_agent", "url": "url", "ref": "referrer"}
                context = {names.get(k, k): v for k, v in data.get("context", {}).items()}
                kept: dict[str, Any] = {"context": context, "customer": identifiers}
                with contextlib.suppress(ValueError):
                    source = order.conversion().attribution.source
                    if source is not None:
                        kept["source"] = {"channel": source.channel.value, **source.utm}
                w("" if reveal else masked.strip() + "\n")
                w(json.dumps(kept if reveal else redact_json(kept), indent=2, ensure_ascii=False) + "\n")
        vendor = self.vendor(d.vendor)
        payload: Any = d.payload
        if payload is None and vendor is not None and d.order is not None and not d.order.scrubbed:
            with contextlib.suppress(Exception):
                payload = event_of(vendor, d)
        if payload is not None:
            shown = payload if reveal else redact_json(payload)
            w("\nevent" + ("" if reveal else masked) + ":\n")
            w(json.dumps(shown, indent=2, ensure_ascii=False) + "\n")
            if vendor is not None:
                with contextlib.suppress(Exception):
                    w(
                        "\nrequest (credentials masked):\n"
                        + describe_request(vendor, vendor.build_request([shown]))
                        + "\n"
                    )
        elif d.order is not None:
            w("\n(the event is built from the order record when sent; --config shows it)\n")
        if d.history:
            w("\nattempts:\n")
            for a in d.history:
                w(f"  #{a.number}  {_when(a.at)}  {a.result:<9}  {text(a.detail)[:300]}\n")
        return 0

    async def retry(self, box: Outbox) -> int:
        if not self.args.ids and not self.args.dead:
            self.out.write("give delivery ids, or --dead for every dead delivery\n")
            return 2
        unknown = [i for i in self.args.ids if await box.get(i) is None]
        if unknown:
            sys.stderr.write(f"attribution: no delivery {', '.join(map(str, unknown))}: nothing retried\n")
            return 1
        n = await box.retry(ids=self.args.ids, dead=self.args.dead, now=time.time())
        self.out.write(f"{n} deliver{'y' if n == 1 else 'ies'} will be sent again\n")
        return 0

    async def purge(self, box: Outbox) -> int:
        statuses = [Status(s) for s in self.args.status] if self.args.status else list(TERMINAL)
        cutoff = time.time() - self.args.older_than.total_seconds()
        kept = self.args.orders_older_than
        if kept is None:
            tracker = self.tracker
            retention = tracker.worker.order_retention if tracker is not None else ORDER_RETENTION.total_seconds()
        else:
            retention = kept.total_seconds()
        orders = None if retention is None else time.time() - retention
        n = await box.purge(older_than=cutoff, statuses=statuses, orders_older_than=orders)
        names = ", ".join(sorted(s.value for s in statuses))
        self.out.write(f"purged {n} deliver{'y' if n == 1 else 'ies'} ({names}) last updated before {_when(cutoff)}\n")
        self.out.write(f"scrubbed the personal data of orders checked out before {_when(cutoff)} and sent\n")
        if orders is not None:
            self.out.write(f"deleted orders (and their journeys) checked out before {_when(orders)} and sent\n")
        return 0

    async def adjust(self, box: Outbox) -> int:
        return await self._correct(box, adjustment(self.args.value, self.args.currency))

    async def cancel(self, box: Outbox) -> int:
        return await self._correct(box, cancellation(self.args.reason))

    async def _correct(self, box: Outbox, change: Change) -> int:
        order_id, event = self.args.order, self.args.event
        tracker = self.tracker
        try:
            if tracker is None:
                found = await box.order(order_id, event)
                sent = [] if found is None or found[0].cancelled else [
                    d for d in found[1] if d.kind == "send" and d.status in (Status.DELIVERED, Status.SENDING)
                ]  # fmt: skip
                if sent:
                    names = ", ".join(sorted({d.vendor for d in sent}))
                    sys.stderr.write(
                        f"attribution: {order_id!r} ({event}) was already sent to {names}; whether a vendor can be "
                        "told of a correction depends on its settings: pass --config module:attr (or set "
                        "ATTRIBUTION_CONFIG). Nothing was changed.\n"
                    )
                    return 2
            vendors = tracker.vendors if tracker is not None else []
            result = await correct(box, vendors, order_id, event, change, now=time.time())
        except UnknownOrderError as exc:
            sys.stderr.write(f"attribution: {exc.args[0]}\n")
            return 1
        self._print_correction(result, change)
        return 0

    def _print_correction(self, result: CorrectionResult, change: Change) -> None:
        what = f"value {change.value}" + (f" {change.currency}" if change.currency else "")
        head = what if result.kind == "adjust" else f"cancelled ({change.reason})"
        self.out.write(f"order {result.order_id} ({result.event}): {head}\n")
        if not result.vendors:
            self.out.write("no vendor had a delivery of it: the order record alone was corrected\n")
            return
        if not result.changed:
            self.out.write("nothing changed: the same correction was made before\n")
        _table([["vendor", "outcome", "reason"], *[[r.vendor, r.status, r.reason or ""] for r in result]], self.out)

    async def worker(self, box: Outbox) -> int:
        tracker = self.require_tracker()
        spec = self.outbox_spec
        if spec and not same_outbox(spec, tracker.outbox):
            # The worker is the tracker's, bound to its outbox: sending from another file would leave
            # the checkouts' deliveries unsent. Refuse rather than guess which one was meant.
            raise ConfigurationError(
                f"--outbox (or ATTRIBUTION_OUTBOX) {redact_url(spec)} is not the outbox of the tracker given by "
                f"--config ({tracker.outbox!r}); the worker sends from the tracker's outbox: drop --outbox"
            )
        worker = tracker.worker.with_dry_run() if self.args.dry_run else tracker.worker
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        names = ", ".join(worker.vendors) or "no vendors"
        self.out.write(f"worker {worker.worker_id} sending to {names} from {tracker.outbox!r}\n")
        self.out.flush()
        await tracker.outbox.open()
        await worker.start()
        await stop.wait()
        self.out.write("stopping: finishing requests in flight\n")
        self.out.flush()
        await worker.stop()
        await tracker.outbox.close()
        return 0

    async def migrate(self, box: Outbox) -> int:
        found, now = await box.migrate()
        self.out.write(f"outbox schema {found} -> {now}\n" if found != now else f"outbox schema {now}: up to date\n")
        return 0

    async def report(self, box: Outbox) -> int:
        args, now, readable = self.args, time.time(), box
        if args.deliveries:
            accuracy = await delivery_report(readable, since=args.since, until=args.until, event=args.event, now=now)
            if args.format == "json":
                self.out.write(_json(accuracy.to_dict()))
            else:
                self.out.write(delivery_csv(accuracy) if args.format == "csv" else delivery_table(accuracy))
            return 0
        found = await revenue_report(
            readable,
            since=args.since,
            until=args.until,
            by=args.by,
            model=args.model,
            half_life=args.half_life,
            event=args.event or DEFAULT_EVENT,
            now=now,
        )
        if args.format == "json":
            self.out.write(_json(found.to_dict()))
        else:
            self.out.write(revenue_csv(found) if args.format == "csv" else revenue_table(found))
        return 0

    async def check(self, box: Outbox) -> int:
        tracker = self.require_tracker()
        conversion = sample_conversion()
        self.out.write("A sample purchase (made-up data) as each configured vendor would send it.\n")
        failed = 0
        for vendor in tracker.vendors:
            self.out.write(f"\n== {vendor.name} ==\n")
            try:
                reason = vendor.check(conversion)
                if reason:
                    self.out.write(f"skipped: {reason}\n")
                    continue
                self.out.write(f"dedup key: {conversion.dedup_id}\n")
                # as the worker builds it: from the customer forms an order record keeps for this vendor
                stored = conversion.with_identifiers(derive_all(vendor.identifiers, conversion.customer))
                request = vendor.build_request([vendor.payload(stored)])
                self.out.write(describe_request(vendor, request) + "\n")
            except Exception as exc:
                failed += 1
                self.out.write(f"error: {type(exc).__name__}: {redact(str(exc), secrets=vendor.secret_values())}\n")
        return 1 if failed else 0


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _argument(parse: Any, name: str) -> Any:
    """A report parser as an argparse type: its error as argparse's, under the option's name."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ConfigurationError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


def same_outbox(spec: str, box: Outbox) -> bool:
    """Whether ``--outbox``'s string names ``box``: the same SQLite file, or the same PostgreSQL URL."""
    if isinstance(box, SQLiteOutbox):
        return not spec.startswith(POSTGRES_SCHEMES) and Path(spec).resolve() == box.path.resolve()
    return spec == getattr(box, "url", None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attribution", description="Inspect and run conversion deliveries.")
    parser.add_argument("--outbox", help="a SQLite file or a postgresql:// URL (env ATTRIBUTION_OUTBOX)")
    parser.add_argument("--config", help="module:attr of the site's Tracker (env ATTRIBUTION_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    sub.add_parser("status", help="counts per vendor and status")
    p = sub.add_parser("list", help="deliveries, newest first")
    p.add_argument("--status", choices=[s.value for s in Status])
    p.add_argument("--vendor")
    p.add_argument("--limit", type=int, default=50)
    p = sub.add_parser("show", help="one delivery with its request and answers")
    p.add_argument("id", type=int)
    p.add_argument("--reveal", action="store_true", help="show personal data unmasked")
    p = sub.add_parser("retry", help="send deliveries again")
    p.add_argument("ids", type=int, nargs="*")
    p.add_argument("--dead", action="store_true", help="every dead delivery")
    p = sub.add_parser("purge", help="delete old finished deliveries")
    p.add_argument("--older-than", type=parse_age, required=True, help="e.g. 30d, 12h")
    p.add_argument(
        "--status", action="append", choices=[s.value for s in Status], help="repeatable; default: finished ones"
    )
    p.add_argument(
        "--orders-older-than",
        type=parse_age,
        help="delete order records (journeys for reports) checked out before that; default: the tracker's "
        "order_retention with --config, else 400d",
    )
    p = sub.add_parser("worker", help="send deliveries until stopped (SIGTERM, Ctrl-C)")
    p.add_argument("--dry-run", action="store_true", help="build and record requests, send nothing")
    sub.add_parser("check", help="the request each configured vendor would send for a sample purchase")
    sub.add_parser("migrate", help="bring the outbox's schema up to date (when opened with migrate=False)")
    p = sub.add_parser("report", help="revenue by channel, source, medium or campaign under an attribution model")
    p.add_argument("--since", type=_argument(parse_since, "since"), default="30d", help="30d, 12h, or a moment")
    p.add_argument(
        "--until", type=_argument(lambda t: parse_moment(t, name="--until"), "until"), help="e.g. 2026-12-01T00:00:00Z"
    )
    p.add_argument("--by", choices=BY, default="channel")
    p.add_argument("--model", choices=[m.value for m in Model], default=Model.LAST.value)
    p.add_argument(
        "--half-life",
        type=_argument(lambda t: parse_period(t, name="--half-life"), "half-life"),
        default="7d",
        help="time_decay's, e.g. 7d",
    )
    p.add_argument("--event", help=f"the orders' event (default {DEFAULT_EVENT}; --deliveries: every event)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--deliveries", action="store_true", help="per vendor: what came of the window's orders")
    p = sub.add_parser("adjust", help="correct an order's value (a partial refund, a corrected total)")
    p.add_argument("order", help="the order id given at checkout")
    p.add_argument("--value", required=True, help="the new value, e.g. 12.50")
    p.add_argument("--currency", help="ISO 4217 code, if it changes (e.g. BRL)")
    p.add_argument("--event", default="purchase", help="the event checked out (default: purchase)")
    p = sub.add_parser("cancel", help="cancel an order (refunded, never paid)")
    p.add_argument("order", help="the order id given at checkout")
    p.add_argument("--event", default="purchase", help="the event checked out (default: purchase)")
    p.add_argument("--reason", default="refund", help="kept with the cancelled deliveries (default: refund)")
    return parser


#: Options of the program itself, which argparse only takes before the command.
GLOBAL_OPTIONS = ("--outbox", "--config")


def global_options_first(argv: Sequence[str]) -> list[str]:
    """``status --outbox X`` as ``--outbox X status``: where an operator types them, they mean the same."""
    front: list[str] = []
    rest: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in GLOBAL_OPTIONS and args:
            front += [arg, args.pop(0)]
        elif arg.startswith(tuple(f"{option}=" for option in GLOBAL_OPTIONS)):
            front.append(arg)
        else:
            rest.append(arg)
    return front + rest


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(global_options_first(sys.argv[1:] if argv is None else argv))
    cli = CLI(args, out or sys.stdout)

    async def run() -> int:
        box = cli.outbox() if args.command not in ("worker", "check") else None
        try:
            command = getattr(cli, args.command)
            return int(await command(box))
        finally:
            if box is not None:
                await box.close()

    try:
        code = asyncio.run(run())
        cli.out.flush()
        return code
    except AttributionError as exc:
        # what the site's own code said (a --config import failure) may quote a URL with its password
        sys.stderr.write(f"attribution: {redact(str(exc))}\n")
        return 2
    except BrokenPipeError:
        # `attribution show 10 | head`: the reader has what it wanted. Point stdout at /dev/null so the
        # interpreter's last flush does not fail again, and stop quietly.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
