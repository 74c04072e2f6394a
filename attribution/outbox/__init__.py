"""Durable storage of deliveries: the ``Outbox`` contract and its SQLite backend."""

from __future__ import annotations

from .base import TERMINAL, Attempt, Delivery, Enqueued, Finish, NewDelivery, Outbox, Status
from .sqlite import SQLiteOutbox

__all__ = [
    "TERMINAL",
    "Attempt",
    "Delivery",
    "Enqueued",
    "Finish",
    "NewDelivery",
    "Outbox",
    "SQLiteOutbox",
    "Status",
]
