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

-- name: migration_4
-- One record per order and event: the order (its value apart, corrections change it), the request's context, the
-- attribution as checkout read it and the customer's forms as JSON (the personal parts, scrubbed by the purge once
-- no delivery waits), and the journey and the vendors skipped as rows of their own (nothing personal: reports read
-- them long after). Deliveries refer to their order and build their request from it; a delivery written before
-- keeps its finished payload (new ones store JSON null there: SQLite cannot drop the column's NOT NULL in place).
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL,
    event TEXT NOT NULL,
    occurred_at REAL NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    value TEXT,
    value_micros INTEGER,
    currency TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    touches INTEGER NOT NULL DEFAULT 0,
    data TEXT,
    identifiers TEXT,
    UNIQUE (order_id, event)
);
CREATE INDEX orders_occurred ON orders (occurred_at);
-- The retention's scrub and delete look for old orders.
CREATE INDEX orders_created ON orders (created_at);
CREATE TABLE order_touches (
    order_row INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    at REAL NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    medium TEXT NOT NULL,
    campaign TEXT NOT NULL,
    landing TEXT NOT NULL,
    PRIMARY KEY (order_row, position)
) WITHOUT ROWID;
CREATE TABLE order_skips (
    order_row INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    vendor TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (order_row, vendor)
) WITHOUT ROWID;
ALTER TABLE deliveries ADD COLUMN order_row INTEGER REFERENCES orders (id);
ALTER TABLE deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'send';
ALTER TABLE deliveries ADD COLUMN hold_until REAL;
ALTER TABLE deliveries ADD COLUMN confirm_ref TEXT;
ALTER TABLE deliveries ADD COLUMN confirm_at REAL;
-- A held delivery is due at the end of its hold, like a pending one at its next attempt.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (vendor, next_attempt_at) WHERE status IN ('pending', 'sending', 'held');
CREATE INDEX deliveries_order ON deliveries (order_row, vendor) WHERE order_row IS NOT NULL;
-- Delivered deliveries whose vendor gives its verdict later: asked for when confirm_at comes.
CREATE INDEX deliveries_confirm ON deliveries (vendor, confirm_at) WHERE confirm_at IS NOT NULL

-- name: migration_5
-- What reports read. A report adds up the active orders of one event in a window: this index holds exactly the
-- columns it reads, so a month's report reads the month's index entries and no order row (the records are wide).
-- The delivery report counts each of the window's orders' deliveries by kind, vendor and status, from the index
-- alone. Measured in bench/bench_reports.py.
CREATE INDEX orders_report ON orders (event, occurred_at, currency, value_micros, touches) WHERE status = 'active';
CREATE INDEX deliveries_report ON deliveries (order_row, kind, vendor, status)

-- name: migration_6
-- Every delivery written is an entry in each of its table's indexes: a checkout pays one per vendor and index. An
-- order's deliveries are found on deliveries_report, which starts with order_row like this one did (and holds kind
-- and vendor, which the lookups by order and vendor read), so this one only cost each checkout's rows a write.
DROP INDEX deliveries_order

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

-- name: enqueue_orders
-- A group's orders in one statement: {rows} is enqueue_order_row once per order, bound (order_id, event,
-- occurred_at, created_at, updated_at, value, value_micros, currency, touches, data, identifiers). An order already
-- recorded is kept as it is.
INSERT INTO orders (order_id, event, occurred_at, created_at, updated_at, value, value_micros, currency, touches,
    data, identifiers)
VALUES {rows}
ON CONFLICT (order_id, event) DO NOTHING

-- name: enqueue_order_row
(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: last_order_id
SELECT coalesce(max(id), 0) AS last_id FROM orders

-- name: orders_since
-- The new orders' keys as one JSON array.
SELECT json_group_array(json_array(id, order_id, event)) AS inserted FROM orders WHERE id > :last_id

-- name: stored_order
SELECT id FROM orders WHERE order_id = :order_id AND event = :event

-- name: enqueue_touches
-- {rows}: "(?, ?, ?, ?, ?, ?, ?, ?)" per touch, bound (order_row, position, at, channel, source, medium, campaign,
-- landing).
INSERT INTO order_touches (order_row, position, at, channel, source, medium, campaign, landing) VALUES {rows}

-- name: enqueue_skips
-- {rows}: "(?, ?, ?)" per vendor skipped, bound (order_row, vendor, reason).
INSERT INTO order_skips (order_row, vendor, reason) VALUES {rows} ON CONFLICT DO NOTHING

-- name: enqueue
-- Many rows in one statement: {rows} is enqueue_row once per row, bound (vendor, dedup_key, batch_key, status,
-- created_at, updated_at, next_attempt_at, order_id, event, order_row, kind, hold_until). A key already stored is
-- skipped.
INSERT INTO deliveries (vendor, dedup_key, batch_key, payload, status, created_at, updated_at, next_attempt_at,
    order_id, event, order_row, kind, hold_until)
VALUES {rows}
ON CONFLICT (vendor, dedup_key) DO NOTHING

-- name: enqueue_row
(?, ?, ?, 'null', ?, ?, ?, ?, ?, ?, ?, ?, ?)

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
-- A claim's candidates for one vendor, soonest due first (pending, held at the end of its hold, or sending with a
-- lease run out), with their order records, as one JSON array of rows: one step, however many rows. A correction
-- comes with where the conversion it corrects stands (its status and when it is due), for the worker to wait until
-- it has settled. The columns are sqlite_sets.DueRow's, in its order; created_at as quote() writes it, every digit
-- kept (JSON would round it to 15). The records' JSON texts come beside the array, not in it (a JSON string in JSON is
-- escaped, and decoding it costs more than decoding the record it holds): each column's texts in the rows' order,
-- joined by the record separator (char(30), never in a JSON text: JSON escapes control characters; a text that has
-- one is no JSON anyway, and keeps an invalid char(31) instead), each text after a '=' (NULL: nothing).
SELECT json_group_array(json_array(id, vendor, dedup_key, batch_key, payload, status, attempts, quote(created_at),
    last_error, answer, order_id, locked_by, event, kind, hold_until, order_row, value, currency, order_status,
    original_status, original_due, confirm_ref)) AS due,
    group_concat(coalesce('=' || replace(data, char(30), char(31)), ''), char(30)) AS data,
    group_concat(coalesce('=' || replace(identifiers, char(30), char(31)), ''), char(30)) AS identifiers
FROM (
    SELECT d.*, o.value, o.currency, o.status AS order_status, o.data, o.identifiers,
        CASE WHEN d.kind <> 'send' THEN (
            SELECT s.status FROM deliveries AS s
            WHERE s.order_row = d.order_row AND s.vendor = d.vendor AND s.kind = 'send'
        ) END AS original_status,
        CASE WHEN d.kind <> 'send' THEN (
            SELECT s.next_attempt_at FROM deliveries AS s
            WHERE s.order_row = d.order_row AND s.vendor = d.vendor AND s.kind = 'send'
        ) END AS original_due
    FROM (
        SELECT * FROM deliveries
        WHERE status IN ('pending', 'sending', 'held') AND vendor = :vendor AND next_attempt_at <= :now
        ORDER BY next_attempt_at LIMIT :limit
    ) AS d
    LEFT JOIN orders AS o ON o.id = d.order_row
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
-- Outcomes of deliveries this worker still holds: any outcome ends a hold. {values} rows: (id, status, next attempt,
-- error, answer, at, confirm_ref, confirm_at), then the worker.
UPDATE deliveries SET status = r.column2, locked_by = NULL, next_attempt_at = r.column3,
    last_error = COALESCE(r.column4, last_error), answer = COALESCE(r.column5, answer), updated_at = r.column6,
    hold_until = NULL, confirm_ref = r.column7, confirm_at = r.column8
FROM (VALUES {values}) AS r
WHERE deliveries.id = r.column1 AND deliveries.locked_by = ? AND deliveries.status = 'sending'

-- name: record_released
-- Deliveries handed back unsent: pending (or held, still_valid not answered) again, the attempt the claim counted
-- taken back. {values} rows: (id, status, next attempt, at), then the worker.
UPDATE deliveries SET status = r.column2, locked_by = NULL, next_attempt_at = r.column3,
    attempts = attempts - 1, updated_at = r.column4
FROM (VALUES {values}) AS r
WHERE deliveries.id = r.column1 AND deliveries.locked_by = ? AND deliveries.status = 'sending'

-- name: next_due
-- One index seek on deliveries_due (vendor, next_attempt_at).
SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE vendor = :vendor AND status IN ('pending', 'sending', 'held')

-- name: count_waiting
-- On the partial index deliveries_due: proportional to the backlog, not to the kept history.
SELECT COUNT(*) AS waiting FROM deliveries WHERE vendor = :vendor AND status IN ('pending', 'sending', 'held')

-- name: oldest_waiting
-- On the partial index deliveries_due: as costly as the queue is long.
SELECT MIN(created_at) AS created_at FROM deliveries WHERE vendor = :vendor AND status IN ('pending', 'sending', 'held')

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

-- name: scrub_orders
-- One small batch of old orders losing their personal parts (the customer's forms, the request's context, the
-- attribution): none of their deliveries waits to be sent or confirmed, so no request will be built from them again.
-- The journey and the value stay for reports.
UPDATE orders SET data = NULL, identifiers = NULL
WHERE id IN (
    SELECT o.id FROM orders AS o
    WHERE o.created_at < :older_than AND o.data IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM deliveries AS d
        WHERE d.order_row = o.id AND (d.status IN ('pending', 'sending', 'held') OR d.confirm_at IS NOT NULL)
    )
    LIMIT :batch
)

-- name: delete_orders
-- One small batch of orders past their own retention, with their journeys; never one a delivery still refers to.
DELETE FROM orders WHERE id IN (
    SELECT o.id FROM orders AS o
    WHERE o.created_at < :older_than AND NOT EXISTS (SELECT 1 FROM deliveries AS d WHERE d.order_row = o.id)
    LIMIT :batch
)

-- name: order
SELECT * FROM orders WHERE order_id = :order_id AND event = :event

-- name: order_by_row
SELECT * FROM orders WHERE id = :row

-- name: orders_by_rows
-- {rows} is one "?" per order id.
SELECT * FROM orders WHERE id IN ({rows})

-- name: order_deliveries
SELECT * FROM deliveries WHERE order_row = :row ORDER BY id

-- name: adjust_order
UPDATE orders SET value = :value, value_micros = :micros, currency = :currency, updated_at = :now WHERE id = :row

-- name: cancel_order
UPDATE orders SET status = 'cancelled', updated_at = :now WHERE id = :row

-- name: cancel_delivery
-- Only a delivery not sent and not in flight: one a worker holds right now settles first.
UPDATE deliveries SET status = 'cancelled', last_error = :reason, hold_until = NULL, updated_at = :now
WHERE id = :id AND status IN ('pending', 'held', 'dead', 'dry_run')

-- name: queue_correction
INSERT INTO deliveries (vendor, dedup_key, batch_key, payload, status, created_at, updated_at, next_attempt_at,
    order_id, event, order_row, kind)
VALUES (:vendor, :dedup_key, :batch_key, 'null', 'pending', :now, :now, :now, :order_id, :event, :row, :kind)
ON CONFLICT (vendor, dedup_key) DO NOTHING
RETURNING id

-- name: due_confirmations
-- Delivered deliveries of one vendor whose verdict is due, with their order records (the columns of DueRow, as due
-- gives them).
SELECT json_group_array(json_array(id, vendor, dedup_key, batch_key, payload, status, attempts, quote(created_at),
    last_error, answer, order_id, locked_by, event, kind, hold_until, order_row, value, currency, order_status,
    original_status, original_due, confirm_ref)) AS due,
    group_concat(coalesce('=' || replace(data, char(30), char(31)), ''), char(30)) AS data,
    group_concat(coalesce('=' || replace(identifiers, char(30), char(31)), ''), char(30)) AS identifiers
FROM (
    SELECT d.*, o.value, o.currency, o.status AS order_status, o.data, o.identifiers, NULL AS original_status,
        NULL AS original_due
    FROM (
        SELECT * FROM deliveries
        WHERE vendor = :vendor AND confirm_at <= :now AND status = 'delivered'
        ORDER BY confirm_at LIMIT :limit
    ) AS d
    LEFT JOIN orders AS o ON o.id = d.order_row
)

-- name: mark_confirming
-- Taken by a worker until the lease ends (confirm_at moves there, so another worker finds them only after it).
-- {ids} is one "?" per id, bound after (worker, lease end).
UPDATE deliveries SET locked_by = ?, confirm_at = ? WHERE id IN ({ids})

-- name: record_confirmed
-- A verdict on a delivery this worker took: still delivered (confirmation over, or asked again at ask_at), or dead.
UPDATE deliveries SET status = coalesce(:status, status), answer = coalesce(:answer, answer),
    last_error = coalesce(:error, last_error), locked_by = NULL, updated_at = :at,
    confirm_ref = CASE WHEN :ask_at IS NULL THEN NULL ELSE confirm_ref END, confirm_at = :ask_at
WHERE id = :id AND locked_by = :worker AND status = 'delivered'
