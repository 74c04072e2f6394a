"""The SQLite outbox's schema: each version's migration from the one before, and how a migration is cut into
statements. ``SQLiteOutbox`` applies them in one transaction and records the version in ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 3
"""Stored in ``PRAGMA user_version``; ``MIGRATIONS[n]`` leads from schema n - 1 to n."""

MIGRATIONS = {
    1: """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    vendor TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    batch_key TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    locked_by TEXT,
    last_error TEXT,
    answer TEXT,
    order_id TEXT NOT NULL DEFAULT '',
    event TEXT NOT NULL DEFAULT '',
    UNIQUE (vendor, dedup_key)
);
-- Due deliveries of one vendor, soonest first. A claimed delivery keeps its lease expiry in
-- next_attempt_at, so one condition finds both pending deliveries and those of a crashed worker.
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (vendor, next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS deliveries_updated ON deliveries (status, updated_at);
CREATE TABLE IF NOT EXISTS attempts (
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    at REAL NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    worker TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id)
""",
    # A vendor's "wait" (429, Retry-After), shared by every worker on the file.
    2: """
CREATE TABLE vendor_pauses (
    vendor TEXT PRIMARY KEY,
    until REAL NOT NULL
)
""",
    # Counts kept as rows change, so `attribution status` reads a few rows instead of scanning the history.
    # SQLite has one writer at a time anyway: a total updated by triggers adds no waiting, only a few row writes.
    3: """
CREATE TABLE delivery_counts (
    vendor TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (vendor, status)
) WITHOUT ROWID;
INSERT INTO delivery_counts (vendor, status, n) SELECT vendor, status, COUNT(*) FROM deliveries GROUP BY vendor, status;
CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries BEGIN
    INSERT INTO delivery_counts (vendor, status, n) VALUES (new.vendor, new.status, 1)
    ON CONFLICT (vendor, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE vendor = old.vendor AND status = old.status;
END;
CREATE TRIGGER deliveries_count_update AFTER UPDATE OF vendor, status ON deliveries
    WHEN old.status IS NOT new.status OR old.vendor IS NOT new.vendor BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE vendor = old.vendor AND status = old.status;
    INSERT INTO delivery_counts (vendor, status, n) VALUES (new.vendor, new.status, 1)
    ON CONFLICT (vendor, status) DO UPDATE SET n = n + 1;
END;
-- The latest error of each vendor's unfinished or dead deliveries, for `attribution status`. Partial: a checkout
-- writes no error, so it never touches this index.
CREATE INDEX deliveries_failing ON deliveries (vendor, updated_at)
    WHERE last_error IS NOT NULL AND status <> 'delivered'
""",
}


def statements(script: str) -> list[str]:
    """A migration's statements, one by one (``executescript`` would commit the migration's transaction). A
    trigger's body holds semicolons: a statement ends where SQLite says it is complete."""
    out, part = [], ""
    for piece in script.split(";"):
        part += piece + ";"
        if sqlite3.complete_statement(part):
            if part.strip(" \n;"):
                out.append(part.strip())
            part = ""
    return out
