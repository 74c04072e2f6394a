"""Reports: which channels and campaigns earned the revenue under an attribution model, and what each vendor
did with each order, read from the order records the outbox keeps.

- ``models``: the attribution models (first, last, linear, position, time decay) as weights per touch;
- ``queries``: the same models in SQL, added up in the database (SQLite and PostgreSQL);
- ``revenue`` and ``deliveries``: the report objects and their JSON; ``text``: as a terminal table and CSV;
- ``page`` (``ReportApp``) with ``svg``: the reports as a page a site mounts, for the people it lets in.

``Tracker.report`` and ``report_sync`` and ``attribution report`` are the doors most sites use.

May use: the outbox (reading only), capture's models and the ground.
"""

from __future__ import annotations

from .deliveries import DeliveryReport, VendorAccuracy, delivery_report
from .models import DEFAULT_HALF_LIFE, Model, weights
from .page import ReportApp
from .revenue import Report, Row, Total, revenue_report

__all__ = [
    "DEFAULT_HALF_LIFE",
    "DeliveryReport",
    "Model",
    "Report",
    "ReportApp",
    "Row",
    "Total",
    "VendorAccuracy",
    "delivery_report",
    "revenue_report",
    "weights",
]
