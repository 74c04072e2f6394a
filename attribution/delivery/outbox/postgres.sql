-- Every statement of the PostgreSQL outbox, by name ("-- name: ..."). Timestamps are seconds since the epoch
-- (double precision), as in the Outbox contract, so a test's clock and a worker's clock mean the same thing.
-- Migrations are named "migration_N"; N is the schema version it leads to.

-- name: migration_1
CREATE TABLE attribution_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    batch_key TEXT NOT NULL DEFAULT '',
    -- json, not jsonb: the payload is sent byte for byte as the vendor adapter built it.
    payload JSON NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    locked_by TEXT,
    last_error TEXT,
    answer TEXT,
    order_id TEXT NOT NULL DEFAULT '',
    event TEXT NOT NULL DEFAULT '',
    -- The dedup holds as long as the row is kept (30 days by default), not only while it is queued.
    UNIQUE (vendor, dedup_key)
);
-- What a claim filters by: due deliveries of one vendor, soonest first. A claimed delivery keeps its lease expiry
-- in next_attempt_at, so one condition finds pending deliveries and those of a dead worker. Partial: the index
-- stays as small as the queue, however many delivered rows are kept.
CREATE INDEX attribution_deliveries_due ON attribution_deliveries (vendor, next_attempt_at)
    WHERE status IN ('pending', 'sending');
-- What the retention purge filters by.
CREATE INDEX attribution_deliveries_updated ON attribution_deliveries (status, updated_at);
CREATE TABLE attribution_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES attribution_deliveries (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    worker TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attribution_attempts_delivery ON attribution_attempts (delivery_id);
-- A vendor's "wait" (429, Retry-After), seen by every worker.
CREATE TABLE attribution_vendor_pauses (
    vendor TEXT PRIMARY KEY,
    until DOUBLE PRECISION NOT NULL
);

-- name: migration_2
-- Counts per (vendor, status) without scanning the history. A checkout may run inside the site's own order
-- transaction, so no statement may update a shared total row (every concurrent checkout would queue behind it):
-- each statement that changes deliveries appends its net change per (vendor, status) to a log (insert-only, no
-- row two transactions both write), and workers fold the log into the totals in short transactions.
CREATE TABLE attribution_counts (
    vendor TEXT NOT NULL,
    status TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (vendor, status)
);
CREATE TABLE attribution_count_changes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor TEXT NOT NULL,
    status TEXT NOT NULL,
    n BIGINT NOT NULL
);
-- Once per statement, not per row: a claim of 1,000 deliveries appends two rows, not 2,000.
CREATE FUNCTION attribution_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO attribution_count_changes (vendor, status, n)
        SELECT vendor, status, count(*) FROM new_rows GROUP BY vendor, status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO attribution_count_changes (vendor, status, n)
        SELECT vendor, status, -count(*) FROM old_rows GROUP BY vendor, status;
    ELSE
        INSERT INTO attribution_count_changes (vendor, status, n)
        SELECT vendor, status, sum(n) FROM (
            SELECT vendor, status, 1 AS n FROM new_rows
            UNION ALL
            SELECT vendor, status, -1 FROM old_rows
        ) AS moved
        GROUP BY vendor, status HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END
$$;
-- The triggers first: creating them locks out writers until this migration commits, so the backfill below counts
-- exactly the rows whose later changes the triggers will log.
CREATE TRIGGER attribution_count_insert AFTER INSERT ON attribution_deliveries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attribution_count_changes();
CREATE TRIGGER attribution_count_update AFTER UPDATE ON attribution_deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attribution_count_changes();
CREATE TRIGGER attribution_count_delete AFTER DELETE ON attribution_deliveries
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION attribution_count_changes();
INSERT INTO attribution_counts (vendor, status, n)
SELECT vendor, status, count(*) FROM attribution_deliveries GROUP BY vendor, status;
-- The latest error of each vendor's unfinished or dead deliveries, for `attribution status`. Partial: a checkout
-- writes no error, so it never adds to this index.
CREATE INDEX attribution_deliveries_failing ON attribution_deliveries (vendor, updated_at)
    WHERE last_error IS NOT NULL AND status <> 'delivered';

-- name: schema_table
CREATE TABLE IF NOT EXISTS attribution_schema (version INTEGER NOT NULL)

-- name: schema_lock
-- Several processes may start at once: one migrates, the others wait for it and find nothing left to do.
SELECT pg_advisory_xact_lock(hashtext('asgi-attribution outbox schema'))

-- name: schema_version
SELECT coalesce(max(version), 0) FROM attribution_schema

-- name: schema_set_version
WITH gone AS (DELETE FROM attribution_schema) INSERT INTO attribution_schema (version) VALUES (%(version)s)

-- name: enqueue
-- One statement for the whole checkout. ON CONFLICT waits for a concurrent transaction writing the same key and
-- then skips it, so two checkouts of one order at once store one row.
INSERT INTO attribution_deliveries
    (vendor, dedup_key, batch_key, payload, status, created_at, updated_at, next_attempt_at, order_id, event)
SELECT vendor, dedup_key, batch_key, payload::json, 'pending', %(now)s, %(now)s, %(now)s, order_id, event
FROM unnest(%(vendors)s::text[], %(dedup_keys)s::text[], %(batch_keys)s::text[], %(payloads)s::text[],
            %(order_ids)s::text[], %(events)s::text[])
    AS item (vendor, dedup_key, batch_key, payload, order_id, event)
ON CONFLICT (vendor, dedup_key) DO NOTHING
RETURNING id, vendor, dedup_key

-- name: existing
SELECT d.id, d.vendor, d.dedup_key, d.created_at
FROM attribution_deliveries d
JOIN unnest(%(vendors)s::text[], %(dedup_keys)s::text[]) AS item (vendor, dedup_key) USING (vendor, dedup_key)

-- name: notify
-- Delivered to listening workers when the enqueuing transaction commits, never if it rolls back.
SELECT pg_notify('attribution_outbox', '')

-- name: listen
LISTEN attribution_outbox

-- name: claim
-- Per wanted vendor that is not paused, its soonest due deliveries, skipping rows another worker is claiming right
-- now (SKIP LOCKED): workers never wait for each other and never take the same row. Deliveries still "sending"
-- here belong to a worker whose lease ran out: the history records that attempt as lost.
WITH wanted AS (
    SELECT w.vendor, w.lim
    FROM unnest(%(vendors)s::text[], %(limits)s::int[]) AS w (vendor, lim)
    WHERE NOT EXISTS (
        SELECT 1 FROM attribution_vendor_pauses p WHERE p.vendor = w.vendor AND p.until > %(now)s
    )
), picked AS (
    SELECT d.id, d.next_attempt_at AS due, d.status AS was, d.locked_by AS was_locked_by, d.attempts AS was_attempts
    FROM wanted w
    CROSS JOIN LATERAL (
        SELECT id, next_attempt_at, status, locked_by, attempts
        FROM attribution_deliveries
        WHERE vendor = w.vendor AND status IN ('pending', 'sending') AND next_attempt_at <= %(now)s
        ORDER BY next_attempt_at
        LIMIT w.lim
        FOR UPDATE SKIP LOCKED
    ) d
), lost AS (
    INSERT INTO attribution_attempts (delivery_id, number, at, result, detail, worker)
    SELECT id, was_attempts, %(now)s, 'lost', 'lease expired before a result was recorded', coalesce(was_locked_by, '')
    FROM picked WHERE was = 'sending'
)
UPDATE attribution_deliveries d
SET status = 'sending', locked_by = %(worker)s, next_attempt_at = %(until)s, attempts = d.attempts + 1,
    updated_at = %(now)s
FROM picked
WHERE d.id = picked.id
RETURNING d.*, picked.due

-- name: finish
-- Only rows this worker still owns: a worker whose lease ran out cannot overwrite its successor's result.
-- Released deliveries (handed back unsent) count no attempt and leave no history.
WITH result AS (
    SELECT *
    FROM unnest(%(ids)s::bigint[], %(statuses)s::text[], %(ats)s::float8[], %(next_ats)s::float8[],
                %(errors)s::text[], %(answers)s::text[], %(released)s::bool[], %(results)s::text[],
                %(details)s::text[])
        AS r (id, status, at, next_at, error, answer, released, result, detail)
), owned AS (
    SELECT d.attempts, r.*
    FROM attribution_deliveries d JOIN result r USING (id)
    WHERE d.locked_by = %(worker)s AND d.status = 'sending'
    FOR UPDATE OF d
), history AS (
    INSERT INTO attribution_attempts (delivery_id, number, at, result, detail, worker)
    SELECT id, attempts, at, result, detail, %(worker)s FROM owned WHERE NOT released
)
UPDATE attribution_deliveries d
SET status = owned.status, locked_by = NULL, next_attempt_at = owned.next_at,
    attempts = d.attempts - CASE WHEN owned.released THEN 1 ELSE 0 END,
    last_error = coalesce(owned.error, d.last_error), answer = coalesce(owned.answer, d.answer),
    updated_at = owned.at
FROM owned
WHERE d.id = owned.id

-- name: pause
INSERT INTO attribution_vendor_pauses (vendor, until) VALUES (%(vendor)s, %(until)s)
ON CONFLICT (vendor) DO UPDATE SET until = greatest(attribution_vendor_pauses.until, excluded.until)

-- name: paused
SELECT vendor, until FROM attribution_vendor_pauses WHERE until > %(now)s

-- name: next_due
-- The soonest due time among the vendors asked, on the partial index of due deliveries: the worker sleeps until then.
SELECT min(next_attempt_at) FROM attribution_deliveries
WHERE vendor = ANY(%(vendors)s::text[]) AND status IN ('pending', 'sending')

-- name: count_waiting
-- For the worker's summary: as costly as the queue is long, not as the kept history.
SELECT count(*) FROM attribution_deliveries WHERE vendor = ANY(%(vendors)s::text[]) AND status IN ('pending', 'sending')

-- name: get
SELECT * FROM attribution_deliveries WHERE id = %(id)s

-- name: history
SELECT number, at, result, detail, worker FROM attribution_attempts WHERE delivery_id = %(id)s ORDER BY id

-- name: list
SELECT * FROM attribution_deliveries
WHERE (%(status)s::text IS NULL OR status = %(status)s) AND (%(vendor)s::text IS NULL OR vendor = %(vendor)s)
ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s

-- name: counts
-- The folded totals plus the changes not folded yet, in one snapshot: exact, and a few hundred rows at most.
SELECT vendor, status, sum(n)::bigint
FROM (
    SELECT vendor, status, n FROM attribution_counts
    UNION ALL
    SELECT vendor, status, n FROM attribution_count_changes
) AS c
GROUP BY vendor, status HAVING sum(n) <> 0
ORDER BY vendor, status

-- name: fold_counts
-- Moves the oldest logged changes into the totals, in one short transaction. SKIP LOCKED: two workers folding at
-- once take different rows; a change whose transaction has not committed yet is not seen, and waits for the next.
WITH folded AS (
    DELETE FROM attribution_count_changes
    WHERE id IN (SELECT id FROM attribution_count_changes ORDER BY id LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
    RETURNING vendor, status, n
), added AS (
    INSERT INTO attribution_counts AS c (vendor, status, n)
    SELECT vendor, status, sum(n) FROM folded GROUP BY vendor, status
    ON CONFLICT (vendor, status) DO UPDATE SET n = c.n + excluded.n
)
SELECT count(*) FROM folded

-- name: oldest_waiting
-- On the partial index of due deliveries: as costly as the queue is long.
SELECT vendor, min(created_at) FROM attribution_deliveries
WHERE vendor = ANY(%(vendors)s::text[]) AND status IN ('pending', 'sending')
GROUP BY vendor

-- name: last_errors
-- One seek per vendor on the partial index attribution_deliveries_failing.
SELECT d.*
FROM unnest(%(vendors)s::text[]) AS v (vendor)
CROSS JOIN LATERAL (
    SELECT * FROM attribution_deliveries
    WHERE vendor = v.vendor AND last_error IS NOT NULL AND status <> 'delivered'
    ORDER BY updated_at DESC
    LIMIT 1
) AS d

-- name: retry_ids
UPDATE attribution_deliveries
SET status = 'pending', attempts = 0, next_attempt_at = %(now)s, locked_by = NULL, updated_at = %(now)s
WHERE id = ANY(%(ids)s::bigint[]) AND status IN ('pending', 'dead', 'dry_run')

-- name: retry_dead
UPDATE attribution_deliveries
SET status = 'pending', attempts = 0, next_attempt_at = %(now)s, locked_by = NULL, updated_at = %(now)s
WHERE status = 'dead'

-- name: purge
-- One small batch per transaction: row locks and WAL stay small, and checkouts never wait long behind it.
DELETE FROM attribution_deliveries
WHERE id IN (
    SELECT id FROM attribution_deliveries
    WHERE status = ANY(%(statuses)s::text[]) AND updated_at < %(older_than)s
    LIMIT %(batch)s
)
