"""Reports as text: a terminal table with a bar per row, and CSV.

The bar shows the row's share of its currency's revenue, drawn with block characters in eighths of a cell, so
two close shares still differ at a glance; the percentage is printed beside it, so the bar is never the only
way to read the share (a terminal without those glyphs, or a screen reader, still has the number).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Final

from .deliveries import DeliveryReport
from .revenue import Report, iso, money

BAR_WIDTH: Final = 30
_EIGHTHS: Final = " ▏▎▍▌▋▊▉"
_FULL: Final = "█"
MODEL_NAMES: Final = {
    "first": "first touch",
    "last": "last touch",
    "linear": "linear",
    "position": "position-based (40/20/40)",
    "time_decay": "time decay",
}


def bar(share: float, width: int = BAR_WIDTH) -> str:
    """``share`` (0 to 1) of ``width`` cells, in eighths of a cell; any share above nothing shows at least ▏."""
    share = min(max(share, 0.0), 1.0)
    eighths = round(share * width * 8)
    if eighths == 0 and share > 0:
        eighths = 1
    full, rest = divmod(eighths, 8)
    return (_FULL * full + (_EIGHTHS[rest] if rest else "")).ljust(width)


def title(report: Report) -> str:
    model = MODEL_NAMES[report.model.value]
    if report.model.value == "time_decay":
        model += f", half-life {_duration(report.half_life.total_seconds())}"
    until = "now" if report.until is None else iso(report.until)
    return f"Revenue by {report.by}, {model}: {report.event} orders from {iso(report.since)} to {until}"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def revenue_table(report: Report) -> str:
    """A title, then per row: key, currency, orders, revenue, share and its bar; then the totals per currency."""
    lines = [title(report), ""]
    if not report.rows:
        lines.append("no orders in this window")
        return "\n".join(lines) + "\n"
    rows: list[Sequence[str]] = [(report.by, "currency", "orders", "revenue", "share", "")]
    for row in report.rows:
        share = report.share(row)
        rows.append((row.key, row.currency, _orders(row.orders), money(row.revenue), f"{share:6.1%}", bar(share)))
    for total in report.totals:
        rows.append(("total", total.currency, _orders(total.orders), money(total.revenue), "", ""))
    lines += _columns(rows, numeric={2, 3, 4})
    return "\n".join(lines) + "\n"


def _orders(credit: float) -> str:
    return f"{credit:.0f}" if credit == int(credit) else f"{credit:.2f}"


def _columns(rows: Sequence[Sequence[str]], *, numeric: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    return out


def revenue_csv(report: Report) -> str:
    """``key,currency,orders,revenue,share``: one line per row, the share a fraction of the currency's revenue."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([report.by, "currency", "orders", "revenue", "share"])
    for row in report.rows:
        writer.writerow([row.key, row.currency, repr(row.orders), money(row.revenue), f"{report.share(row):.6f}"])
    return out.getvalue()


DELIVERY_COLUMNS: Final = ("orders", "queued", "delivered", "failed", "pending", "dry_run", "cancelled")


def delivery_table(report: DeliveryReport) -> str:
    """Per vendor: the counts, then each skip reason on its own indented line."""
    until = "now" if report.until is None else iso(report.until)
    events = f"{report.event} orders" if report.event else "orders (every event)"
    lines = [f"Deliveries per vendor: {events} from {iso(report.since)} to {until}", ""]
    if not report.vendors:
        lines.append("no orders in this window")
        return "\n".join(lines) + "\n"
    rows: list[Sequence[str]] = [("vendor", *DELIVERY_COLUMNS, "skipped")]
    for v in report.vendors:
        counts = (v.orders, v.queued, v.delivered, v.failed, v.pending, v.dry_run, v.cancelled)
        rows.append((v.vendor, *map(str, counts), str(sum(v.skipped.values()))))
    table = _columns(rows, numeric=set(range(1, len(DELIVERY_COLUMNS) + 2)))
    lines.append(table[0])
    for v, line in zip(report.vendors, table[1:], strict=True):
        lines.append(line)
        for reason, n in sorted(v.skipped.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"    skipped {n}: {reason}")
    return "\n".join(lines) + "\n"


def delivery_csv(report: DeliveryReport) -> str:
    """One line per vendor and, after the counts, ``skipped`` (all reasons) and ``skipped_reasons``
    (``reason=n`` joined with ``; ``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["vendor", *DELIVERY_COLUMNS, "skipped", "skipped_reasons"])
    for v in report.vendors:
        reasons = "; ".join(f"{reason}={n}" for reason, n in sorted(v.skipped.items()))
        counts = (v.orders, v.queued, v.delivered, v.failed, v.pending, v.dry_run, v.cancelled)
        writer.writerow([v.vendor, *counts, sum(v.skipped.values()), reasons])
    return out.getvalue()
