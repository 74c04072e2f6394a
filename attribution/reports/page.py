"""``ReportApp``: the reports as a page a site mounts where it likes, for the people it lets in.

    app.routes.append(Mount("/admin/attribution", ReportApp(tracker, authorize=is_staff)))

``GET /`` is the revenue table and chart for ``?since=&until=&by=&model=&compare=&half_life=&event=`` (by default
the last 30 days, by channel, last touch beside first touch), then the delivery accuracy table. ``GET
/data.json`` is the revenue report's JSON (``Report.to_dict``), ``GET /deliveries.json`` the delivery report's.

``authorize(request)``, plain or async, decides every request before anything is read: true shows the page,
false answers 403; it may instead return a response of its own (a 401 asking for credentials, a redirect to the
site's login page) or raise Starlette's ``HTTPException``. A ``ReportApp`` without ``authorize`` is a
``ConfigurationError``: revenue is nobody's business by default.

The page is HTML and inline SVG only: no script, no style sheet, font or image from anywhere (its
Content-Security-Policy forbids them), not cached, not indexed. It shows names of channels and campaigns and
counts, never a customer: the order tables reports read keep nobody's email, phone or name.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any, Final, Protocol
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..errors import ConfigurationError
from .deliveries import DeliveryReport, delivery_report
from .models import DEFAULT_HALF_LIFE, Model
from .params import parse_moment, parse_period, parse_since
from .queries import Readable
from .revenue import BY, DEFAULT_EVENT, Report, Row, iso, money
from .svg import Series, bar_chart
from .text import MODEL_NAMES

Authorize = Callable[[Request], "bool | Response | Awaitable[bool | Response]"]

HEADERS: Final = {
    "cache-control": "no-store",
    "x-robots-tag": "noindex, nofollow",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
STYLE: Final = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem;color:#1a1a1a;max-width:72rem}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .7rem;border-bottom:1px solid #ccc;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:600;border-top:2px solid #444}
form{display:flex;gap:1rem;flex-wrap:wrap;align-items:end;margin:1rem 0}label{display:flex;flex-direction:column}
.note{color:#444;font-size:.9rem}.error{border:2px solid #8a0000;padding:.5rem 1rem}
"""


class ReportSource(Protocol):
    """What the page reads of a ``Tracker``: its reports, its outbox and its clock."""

    @property
    def outbox(self) -> Any: ...

    def clock(self) -> float: ...

    async def report(
        self,
        *,
        since: timedelta | datetime = ...,
        until: datetime | None = ...,
        by: str = ...,
        model: Model | str = ...,
        half_life: timedelta = ...,
        event: str = ...,
    ) -> Report: ...


class ReportApp:
    """The report page, as an ASGI app to mount. ``authorize(request)`` must say yes to every request."""

    def __init__(
        self,
        tracker: ReportSource,
        *,
        authorize: Authorize | None = None,
        title: str = "Attribution report",
    ) -> None:
        if authorize is None or not callable(authorize):
            raise ConfigurationError(
                "ReportApp(tracker, authorize=...) needs authorize: a function of the request that says whether it "
                "may see revenue, e.g. authorize=lambda request: request.user.is_staff"
            )
        self.tracker = tracker
        self.authorize = authorize
        self.title = title
        self.app = Starlette(
            routes=[
                Route("/", self.page, name="report"),
                Route("/data.json", self.data, name="data"),
                Route("/deliveries.json", self.deliveries_data, name="deliveries"),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # -- requests --------------------------------------------------------------------------------------

    async def _allowed(self, request: Request) -> Response | None:
        """None when ``authorize`` said yes; else the answer to send."""
        verdict = self.authorize(request)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if isinstance(verdict, Response):
            return verdict
        if verdict is True:
            return None
        return HTMLResponse(_document(self.title, "<h1>Not allowed</h1><p>This page is not for you.</p>"), 403, HEADERS)

    async def page(self, request: Request) -> Response:
        refused = await self._allowed(request)
        if refused is not None:
            return refused
        try:
            asked = Query.of(request)
        except ConfigurationError as exc:
            return HTMLResponse(_document(self.title, _bad_request(exc)), 400, HEADERS)
        reports = [await asked.run(self.tracker, model) for model in asked.models]
        deliveries = await self._deliveries(asked)
        body = _page(self.title, asked, reports, deliveries)
        return HTMLResponse(_document(self.title, body), headers=HEADERS)

    async def data(self, request: Request) -> Response:
        refused = await self._allowed(request)
        if refused is not None:
            return refused
        try:
            asked = Query.of(request)
        except ConfigurationError as exc:
            return JSONResponse({"error": str(exc)}, 400, HEADERS)
        report = await asked.run(self.tracker, asked.model)
        return JSONResponse(report.to_dict(), headers=HEADERS)

    async def deliveries_data(self, request: Request) -> Response:
        refused = await self._allowed(request)
        if refused is not None:
            return refused
        try:
            asked = Query.of(request)
        except ConfigurationError as exc:
            return JSONResponse({"error": str(exc)}, 400, HEADERS)
        return JSONResponse((await self._deliveries(asked)).to_dict(), headers=HEADERS)

    async def _deliveries(self, asked: Query) -> DeliveryReport:
        box: Readable = self.tracker.outbox
        return await delivery_report(box, since=asked.since, until=asked.until, now=self.tracker.clock())


class Query:
    """The page's parameters, checked: a bad one is a 400 that says which and why."""

    def __init__(self, request: Request) -> None:
        params = request.query_params
        self.raw = {
            k: params[k] for k in ("since", "until", "by", "model", "compare", "half_life", "event") if k in params
        }
        self.since = parse_since(params.get("since") or "30d")
        until = params.get("until")
        self.until = parse_moment(until, name="until") if until else None
        self.by = params.get("by") or "channel"
        if self.by not in BY:
            raise ConfigurationError(f"by={self.by[:40]!r}: choose one of {', '.join(BY)}")
        self.model = _model(params.get("model") or Model.LAST.value, "model")
        compare = params.get("compare", Model.FIRST.value if self.model is not Model.FIRST else Model.LAST.value)
        self.compare = None if compare in ("", "none") else _model(compare, "compare")
        self.half_life = parse_period(params["half_life"], name="half_life") if params.get("half_life") else None
        self.event = params.get("event") or DEFAULT_EVENT

    @classmethod
    def of(cls, request: Request) -> Query:
        return cls(request)

    @property
    def models(self) -> list[Model]:
        return [self.model] if self.compare in (None, self.model) else [self.model, self.compare]

    async def run(self, tracker: ReportSource, model: Model) -> Report:
        return await tracker.report(
            since=self.since,
            until=self.until,
            by=self.by,
            model=model,
            half_life=self.half_life or DEFAULT_HALF_LIFE,
            event=self.event,
        )

    def link(self, path: str) -> str:
        query = urlencode(self.raw)
        return path + ("?" + query if query else "")


def _model(text: str, name: str) -> Model:
    try:
        return Model(text)
    except ValueError:
        raise ConfigurationError(f"{name}={text[:40]!r}: choose one of {', '.join(m.value for m in Model)}") from None


# -- HTML ----------------------------------------------------------------------------------------------------


def _document(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def _bad_request(exc: ConfigurationError) -> str:
    return f'<h1>Cannot show this report</h1><p class="error">{escape(str(exc))}</p><p><a href="./">Start again</a></p>'


def _page(title: str, asked: Query, reports: Sequence[Report], deliveries: DeliveryReport) -> str:
    main = reports[0]
    until = "now" if main.until is None else iso(main.until)
    parts = [
        f"<h1>{escape(title)}</h1>",
        _form(asked),
        f'<p class="note">{escape(main.event)} orders from {escape(iso(main.since))} to {escape(until)}; cancelled '
        "orders left out. Each currency is added up on its own.</p>",
    ]
    currencies = [t.currency for t in main.totals]
    if not currencies:
        parts.append('<p id="no-orders">No orders in this window.</p>')
    for currency in currencies:
        parts.append(_chart(reports, currency))
    parts.append(_revenue_table(reports))
    parts.append(_delivery_table(deliveries))
    data, delivery_data = escape(asked.link("data.json")), escape(asked.link("deliveries.json"))
    parts.append(
        f'<p class="note">As JSON: <a href="{data}">revenue</a>, <a href="{delivery_data}">deliveries</a>.</p>'
    )
    return "".join(parts)


def _form(asked: Query) -> str:
    def select(name: str, options: Sequence[str], chosen: str, labels: dict[str, str] | None = None) -> str:
        names = labels or {}
        opts = "".join(
            f'<option value="{escape(o)}"{" selected" if o == chosen else ""}>{escape(names.get(o, o))}</option>'
            for o in options
        )
        return f'<label>{name}<select name="{name}">{opts}</select></label>'

    models = [m.value for m in Model]
    compare = asked.compare.value if asked.compare is not None else "none"
    since = asked.raw.get("since", "30d")
    return (
        '<form method="get" action="">'
        f'<label>since<input name="since" value="{escape(since)}" size="22"></label>'
        + select("by", list(BY), asked.by)
        + select("model", models, asked.model.value, MODEL_NAMES)
        + select("compare", [*models, "none"], compare, {**MODEL_NAMES, "none": "nothing"})
        + '<button type="submit">Show</button></form>'
    )


def _chart(reports: Sequence[Report], currency: str) -> str:
    main = reports[0]
    categories = [row.key for row in main.rows if row.currency == currency]
    for other in reports[1:]:
        categories += [r.key for r in other.rows if r.currency == currency and r.key not in categories]
    series = [
        Series(MODEL_NAMES[r.model.value], {row.key: float(row.revenue) for row in r.rows if row.currency == currency})
        for r in reports
    ]
    total = main.total(currency)
    whole = float(total.revenue) if total is not None else 0.0

    def label(_: str, value: float) -> str:
        share = f" ({value / whole:.0%})" if whole > 0 else ""
        return f"{currency} {value:,.2f}{share}"

    names = " and ".join(MODEL_NAMES[r.model.value] for r in reports)
    title = f"Revenue by {main.by} in {currency}, {names}"
    chart = bar_chart(title, categories, series, label=label, ident=f"chart-{currency.lower()}")
    return f'<figure id="chart-{escape(currency)}">{chart}</figure>'


def _revenue_table(reports: Sequence[Report]) -> str:
    main = reports[0]
    head = f"<th>{escape(main.by)}</th><th>currency</th>"
    for r in reports:
        name = escape(MODEL_NAMES[r.model.value])
        head += f'<th class="n">orders, {name}</th><th class="n">revenue, {name}</th><th class="n">share</th>'
    keys: list[tuple[str, str]] = [(row.key, row.currency) for row in main.rows]
    for other in reports[1:]:
        keys += [(r.key, r.currency) for r in other.rows if (r.key, r.currency) not in keys]
    lookups = [{(row.key, row.currency): row for row in r.rows} for r in reports]
    body = []
    for key, currency in keys:
        cells = f"<td>{escape(key)}</td><td>{escape(currency)}</td>"
        for report, lookup in zip(reports, lookups, strict=True):
            cells += _cells(report, lookup.get((key, currency)))
        body.append(f'<tr class="row" data-key="{escape(key)}" data-currency="{escape(currency)}">{cells}</tr>')
    for total in main.totals:
        cells = f"<td>total</td><td>{escape(total.currency)}</td>"
        cells += f'<td class="n">{total.orders:g}</td><td class="n">{money(total.revenue)}</td><td></td>' * len(reports)
        body.append(f'<tr class="total">{cells}</tr>')
    return f'<table id="revenue"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _cells(report: Report, row: Row | None) -> str:
    if row is None:
        return '<td class="n">0.00</td><td class="n">0.00</td><td class="n">0.0%</td>'
    return (
        f'<td class="n">{row.orders:.2f}</td><td class="n">{money(row.revenue)}</td>'
        f'<td class="n">{report.share(row):.1%}</td>'
    )


def _delivery_table(report: DeliveryReport) -> str:
    columns = ("orders", "queued", "delivered", "failed", "pending", "dry run", "cancelled", "skipped")
    head = "<th>vendor</th>" + "".join(f'<th class="n">{c}</th>' for c in columns) + "<th>why skipped</th>"
    body = []
    for v in report.vendors:
        counts = (v.orders, v.queued, v.delivered, v.failed, v.pending, v.dry_run, v.cancelled, sum(v.skipped.values()))
        reasons = "<br>".join(f"{n}: {escape(reason)}" for reason, n in sorted(v.skipped.items(), key=lambda i: -i[1]))
        cells = "".join(f'<td class="n">{n}</td>' for n in counts)
        name = escape(v.vendor)
        body.append(f'<tr class="vendor" data-vendor="{name}"><td>{name}</td>{cells}<td>{reasons}</td></tr>')
    if not body:
        body.append(f'<tr><td colspan="{len(columns) + 2}">No orders in this window.</td></tr>')
    return (
        '<h2>Delivery accuracy</h2><p class="note">Per vendor, the orders of this window it saw at checkout and what '
        "came of them.</p>"
        f'<table id="deliveries"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )
