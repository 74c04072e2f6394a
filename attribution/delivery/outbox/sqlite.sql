-- Every statement of the SQLite outbox, by name ("-- name: ..."), loaded by queries.load like postgres.sql.
-- Timestamps are seconds since the epoch (REAL), as in the Outbox contract.
--
-- Parameters: ":name" where a statement's parameters are fixed. "{placeholder}" marks text filled in before the
-- statement runs, never with a value: a row's "?" marks repeated once per row (the set statements of sqlite_sets,
-- the enqueue), a pragma's setting, a filter's optional conditions. Transaction control (BEGIN IMMEDIATE, COMMIT,
-- savepoints) stays in the Python that decides it. Migrations are named "migration_N"; N is the schema version it
-- leads to, recorded in PRAGMA user_version.

-- name: migration_1
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

-- name: migration_2
-- A vendor's "wait" (429, Retry-After), shared by every worker on the file.
CREATE TABLE vendor_pauses (
    vendor TEXT PRIMARY KEY,
    until REAL NOT NULL
)

-- name: migration_3
-- Counts kept as rows change, so `attribution status` reads a few rows instead of scanning the history.
-- SQLite has one writer at a time anyway: a total updated by triggers adds no waiting, only a few row writes.
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

-- name: open
-- Run on each new connection, one pragma at a time. WAL: readers never wait for the writer. Checkpoints (copying
-- the WAL into the database, with fsyncs) would otherwise run inside whichever commit crosses the threshold, often
-- a checkout's: the worker checkpoints after writing results instead (checkpoint, below), and this high threshold
-- is only the backstop when no worker runs here.
PRAGMA journal_mode=WAL;
PRAGMA synchronous={synchronous};
PRAGMA foreign_keys=ON;
PRAGMA wal_autocheckpoint={autocheckpoint}

-- name: synchronous
-- FULL for a checkout's commit, NORMAL for the worker's (see Database.transaction).
PRAGMA synchronous={mode}

-- name: schema_version
PRAGMA user_version

-- name: schema_set_version
PRAGMA user_version = {version}

-- name: checkpoint
-- PASSIVE: copies what it can without waiting for readers or blocking writers.
PRAGMA wal_checkpoint(PASSIVE)

-- name: enqueue
-- Many rows in one statement: {rows} is enqueue_row once per row, bound (vendor, dedup_key, batch_key, payload,
-- created_at, updated_at, next_attempt_at, order_id, event). A key already stored is skipped.
INSERT INTO deliveries (vendor, dedup_key, batch_key, payload, status, created_at, updated_at, next_attempt_at,
    order_id, event)
VALUES {rows}
ON CONFLICT (vendor, dedup_key) DO NOTHING

-- name: enqueue_row
(?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)

-- name: last_id
-- Inside the write transaction nobody else inserts, and a new rowid is one more than the largest: the rows an
-- enqueue inserted are exactly those above the largest id before it.
SELECT coalesce(max(id), 0) AS last_id FROM deliveries

-- name: inserted_since
-- The new rows' keys as one JSON array: one step however many rows (see sqlite_sets on why steps cost).
SELECT json_group_array(json_array(id, vendor, dedup_key)) AS inserted FROM deliveries WHERE id > :last_id

-- name: stored_id
SELECT id FROM deliveries WHERE vendor = :vendor AND dedup_key = :dedup_key

-- name: due
-- A claim's candidates for one vendor, soonest due first (pending, or sending with a lease run out), as one JSON
-- array of rows: one step, however many rows. The columns are sqlite_sets.DueRow's, in its order; created_at as
-- quote() writes it, every digit kept (JSON would round it to 15).
SELECT json_group_array(json_array(id, vendor, dedup_key, batch_key, payload, status, attempts,
    quote(created_at), last_error, answer, order_id, locked_by, event)) AS due
FROM (
    SELECT * FROM deliveries
    WHERE status IN ('pending', 'sending') AND vendor = :vendor AND next_attempt_at <= :now
    ORDER BY next_attempt_at LIMIT :limit
)

-- name: lost
-- The worker that held this delivery died or stalled past its lease: its attempt is recorded as lost.
INSERT INTO attempts (delivery_id, number, at, result, detail, worker)
VALUES (:id, :number, :now, 'lost', 'lease expired before a result was recorded', :worker)

-- name: mark_claimed
-- Claimed deliveries become sending, the worker's until their lease ends, with one more attempt. {ids} is one "?"
-- per id, bound after (worker, lease end, now).
UPDATE deliveries SET status = 'sending', locked_by = ?, next_attempt_at = ?, attempts = attempts + 1, updated_at = ?
WHERE id IN ({ids})

-- name: record_attempts
-- The history of attempts whose delivery this worker still holds. {values} rows: (id, at, result, detail), bound
-- between the worker twice.
INSERT INTO attempts (delivery_id, number, at, result, detail, worker)
SELECT d.id, d.attempts, r.column2, r.column3, r.column4, ?
FROM (VALUES {values}) AS r JOIN deliveries AS d ON d.id = r.column1
WHERE d.locked_by = ? AND d.status = 'sending'

-- name: record_outcomes
-- Outcomes of deliveries this worker still holds. {values} rows: (id, status, next attempt, error, answer, at),
-- then the worker.
UPDATE deliveries SET status = r.column2, locked_by = NULL, next_attempt_at = r.column3,
    last_error = COALESCE(r.column4, last_error), answer = COALESCE(r.column5, answer), updated_at = r.column6
FROM (VALUES {values}) AS r
WHERE deliveries.id = r.column1 AND deliveries.locked_by = ? AND deliveries.status = 'sending'

-- name: record_released
-- Deliveries handed back unsent: pending again, the attempt the claim counted taken back. {values} rows: (id, next
-- attempt, at), then the worker.
UPDATE deliveries SET status = 'pending', locked_by = NULL, next_attempt_at = r.column2,
    attempts = attempts - 1, updated_at = r.column3
FROM (VALUES {values}) AS r
WHERE deliveries.id = r.column1 AND deliveries.locked_by = ? AND deliveries.status = 'sending'

-- name: next_due
-- One index seek on deliveries_due (vendor, next_attempt_at).
SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE vendor = :vendor AND status IN ('pending', 'sending')

-- name: count_waiting
-- On the partial index deliveries_due: proportional to the backlog, not to the kept history.
SELECT COUNT(*) AS waiting FROM deliveries WHERE vendor = :vendor AND status IN ('pending', 'sending')

-- name: oldest_waiting
-- On the partial index deliveries_due: as costly as the queue is long.
SELECT MIN(created_at) AS created_at FROM deliveries WHERE vendor = :vendor AND status IN ('pending', 'sending')

-- name: last_error
-- One seek on the partial index deliveries_failing (vendor, updated_at).
SELECT * FROM deliveries
WHERE vendor = :vendor AND last_error IS NOT NULL AND status <> 'delivered'
ORDER BY updated_at DESC LIMIT 1

-- name: pause
INSERT INTO vendor_pauses (vendor, until) VALUES (:vendor, :until)
ON CONFLICT (vendor) DO UPDATE SET until = max(until, excluded.until)

-- name: paused
SELECT vendor, until FROM vendor_pauses WHERE until > :now

-- name: get
SELECT * FROM deliveries WHERE id = :id

-- name: history
SELECT number, at, result, detail, worker FROM attempts WHERE delivery_id = :id ORDER BY rowid

-- name: list
-- Newest first. {where} is empty, or WHERE and the conditions asked (list_status, list_vendor, joined by AND): a
-- status asked is then looked up on deliveries_updated, where "(:status IS NULL OR ...)" would scan the table.
SELECT * FROM deliveries {where} ORDER BY id DESC LIMIT :limit OFFSET :offset

-- name: list_status
status = :status

-- name: list_vendor
vendor = :vendor

-- name: counts
-- The totals the triggers keep (schema 3): a few rows, however long the kept history.
SELECT vendor, status, n FROM delivery_counts WHERE n > 0 ORDER BY vendor, status

-- name: retry_id
UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now, locked_by = NULL, updated_at = :now
WHERE id = :id AND status IN ('pending', 'dead', 'dry_run')

-- name: retry_dead
UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now, locked_by = NULL, updated_at = :now
WHERE status = 'dead'

-- name: purge
-- One small batch: {statuses} is one "?" per status, bound before (older than, batch).
DELETE FROM deliveries WHERE id IN (
    SELECT id FROM deliveries WHERE status IN ({statuses}) AND updated_at < ? LIMIT ?
)
