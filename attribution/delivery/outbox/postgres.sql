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

-- name: migration_3
-- One record per order and event: the order (its value apart, corrections change it), and the request's context,
-- the attribution as checkout read it and the customer's forms as JSON text (the personal parts, scrubbed by the
-- purge once no delivery waits; text, not json: read back byte for byte by the worker), with the journey and the
-- vendors skipped as rows of their own (nothing personal: reports read them long after). Deliveries refer to their
-- order and build their request from it; a delivery written before keeps its finished payload.
CREATE TABLE attribution_orders (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id TEXT NOT NULL,
    event TEXT NOT NULL,
    occurred_at DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    value TEXT,
    value_micros BIGINT,
    currency TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    touches INTEGER NOT NULL DEFAULT 0,
    data TEXT,
    identifiers TEXT,
    UNIQUE (order_id, event)
);
CREATE INDEX attribution_orders_occurred ON attribution_orders (occurred_at);
CREATE INDEX attribution_orders_created ON attribution_orders (created_at);
CREATE TABLE attribution_order_touches (
    order_row BIGINT NOT NULL REFERENCES attribution_orders (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    medium TEXT NOT NULL,
    campaign TEXT NOT NULL,
    landing TEXT NOT NULL,
    PRIMARY KEY (order_row, position)
);
CREATE TABLE attribution_order_skips (
    order_row BIGINT NOT NULL REFERENCES attribution_orders (id) ON DELETE CASCADE,
    vendor TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (order_row, vendor)
);
ALTER TABLE attribution_deliveries
    ALTER COLUMN payload DROP NOT NULL,
    ADD COLUMN order_row BIGINT REFERENCES attribution_orders (id),
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'send',
    ADD COLUMN hold_until DOUBLE PRECISION,
    ADD COLUMN confirm_ref TEXT,
    ADD COLUMN confirm_at DOUBLE PRECISION;
-- A held delivery is due at the end of its hold, like a pending one at its next attempt.
DROP INDEX attribution_deliveries_due;
CREATE INDEX attribution_deliveries_due ON attribution_deliveries (vendor, next_attempt_at)
    WHERE status IN ('pending', 'sending', 'held');
CREATE INDEX attribution_deliveries_order ON attribution_deliveries (order_row, vendor) WHERE order_row IS NOT NULL;
-- Delivered deliveries whose vendor gives its verdict later: asked for when confirm_at comes.
CREATE INDEX attribution_deliveries_confirm ON attribution_deliveries (vendor, confirm_at)
    WHERE confirm_at IS NOT NULL;

-- name: migration_4
-- What reports read: the active orders of one event in a window, with the columns they add up (an index-only scan
-- of the window), and each order's deliveries by kind, vendor and status. Measured in bench/bench_reports.py.
CREATE INDEX attribution_orders_report ON attribution_orders (event, occurred_at)
    INCLUDE (currency, value_micros, touches) WHERE status = 'active';
CREATE INDEX attribution_deliveries_report ON attribution_deliveries (order_row) INCLUDE (kind, vendor, status);

-- name: migration_5
-- An order's deliveries are found on attribution_deliveries_report, which starts with order_row like this one did:
-- this one only cost every checkout one more index entry per vendor.
DROP INDEX attribution_deliveries_order;

-- name: schema_table
CREATE TABLE IF NOT EXISTS attribution_schema (version INTEGER NOT NULL)

-- name: schema_lock
-- Several processes may start at once: one migrates, the others wait for it and find nothing left to do.
SELECT pg_advisory_xact_lock(hashtext('asgi-attribution outbox schema'))

-- name: schema_version
SELECT coalesce(max(version), 0) FROM attribution_schema

-- name: schema_set_version
WITH gone AS (DELETE FROM attribution_schema) INSERT INTO attribution_schema (version) VALUES (%(version)s)

-- name: enqueue_orders
-- The checkout's orders, their journeys and their skipped vendors in one statement: an order already recorded (by an
-- earlier checkout, or one committing now: ON CONFLICT waits for it) keeps its record, and gets no journey or skip
-- rows from this one. Returns the orders this statement recorded; existing_orders finds the others.
WITH item AS (
    SELECT * FROM unnest(%(order_ids)s::text[], %(events)s::text[], %(occurred)s::float8[], %(values)s::text[],
                         %(micros)s::bigint[], %(currencies)s::text[], %(touches)s::int[], %(datas)s::text[],
                         %(identifiers)s::text[])
        AS i (order_id, event, occurred_at, value, value_micros, currency, touches, data, identifiers)
), recorded AS (
    INSERT INTO attribution_orders
        (order_id, event, occurred_at, created_at, updated_at, value, value_micros, currency, touches, data, identifiers)
    SELECT order_id, event, occurred_at, %(now)s, %(now)s, value, value_micros, currency, touches, data, identifiers
    FROM item
    ON CONFLICT (order_id, event) DO NOTHING
    RETURNING id, order_id, event
), journeys AS (
    INSERT INTO attribution_order_touches (order_row, position, at, channel, source, medium, campaign, landing)
    SELECT r.id, t.position, t.at, t.channel, t.source, t.medium, t.campaign, t.landing
    FROM recorded r
    JOIN unnest(%(t_order_ids)s::text[], %(t_events)s::text[], %(t_positions)s::int[], %(t_ats)s::float8[],
                %(t_channels)s::text[], %(t_sources)s::text[], %(t_media)s::text[], %(t_campaigns)s::text[],
                %(t_landings)s::text[])
        AS t (order_id, event, position, at, channel, source, medium, campaign, landing)
        USING (order_id, event)
), skips AS (
    INSERT INTO attribution_order_skips (order_row, vendor, reason)
    SELECT r.id, s.vendor, s.reason
    FROM recorded r
    JOIN unnest(%(s_order_ids)s::text[], %(s_events)s::text[], %(s_vendors)s::text[], %(s_reasons)s::text[])
        AS s (order_id, event, vendor, reason)
        USING (order_id, event)
    ON CONFLICT DO NOTHING
)
SELECT id, order_id, event FROM recorded

-- name: existing_orders
SELECT o.id, o.order_id, o.event
FROM attribution_orders o
JOIN unnest(%(order_ids)s::text[], %(events)s::text[]) AS item (order_id, event) USING (order_id, event)

-- name: enqueue
-- One statement for the checkout's deliveries. ON CONFLICT waits for a concurrent transaction writing the same key
-- and then skips it, so two checkouts of one order at once store one row.
INSERT INTO attribution_deliveries
    (vendor, dedup_key, batch_key, payload, status, created_at, updated_at, next_attempt_at, order_id, event,
     order_row, kind, hold_until)
SELECT vendor, dedup_key, batch_key, NULL, status, %(now)s, %(now)s, next_at, order_id, event, order_row, 'send',
    hold_until
FROM unnest(%(vendors)s::text[], %(dedup_keys)s::text[], %(batch_keys)s::text[], %(statuses)s::text[],
            %(next_ats)s::float8[], %(d_order_ids)s::text[], %(d_events)s::text[], %(order_rows)s::bigint[],
            %(holds)s::float8[])
    AS item (vendor, dedup_key, batch_key, status, next_at, order_id, event, order_row, hold_until)
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
-- Per wanted vendor that is not paused, its soonest due deliveries (pending, held at the end of its hold, or sending
-- with a lease run out), skipping rows another worker is claiming right now (SKIP LOCKED): workers never wait for each
-- other and never take the same row. Deliveries still "sending" here belong to a worker whose lease ran out: the
-- history records that attempt as lost. Each comes with its order record and, for a correction, where the
-- conversion it corrects stands.
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
        WHERE vendor = w.vendor AND status IN ('pending', 'sending', 'held') AND next_attempt_at <= %(now)s
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

-- name: claimed_orders
-- The order records of claimed deliveries, each once.
SELECT id, order_id, event, value, currency, status, data, identifiers
FROM attribution_orders WHERE id = ANY(%(rows)s::bigint[])

-- name: originals
-- For claimed corrections: where the conversion each corrects stands.
SELECT c.id, s.status, s.next_attempt_at
FROM unnest(%(ids)s::bigint[]) AS c (id)
JOIN attribution_deliveries cd ON cd.id = c.id
JOIN attribution_deliveries s ON s.order_row = cd.order_row AND s.vendor = cd.vendor AND s.kind = 'send'

-- name: finish
-- Only rows this worker still owns: a worker whose lease ran out cannot overwrite its successor's result.
-- Released deliveries (handed back unsent) count no attempt and leave no history; any other outcome ends a hold.
WITH result AS (
    SELECT *
    FROM unnest(%(ids)s::bigint[], %(statuses)s::text[], %(ats)s::float8[], %(next_ats)s::float8[],
                %(errors)s::text[], %(answers)s::text[], %(released)s::bool[], %(results)s::text[],
                %(details)s::text[], %(confirm_refs)s::text[], %(confirm_ats)s::float8[])
        AS r (id, status, at, next_at, error, answer, released, result, detail, confirm_ref, confirm_at)
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
    updated_at = owned.at,
    hold_until = CASE WHEN owned.released THEN d.hold_until END,
    confirm_ref = owned.confirm_ref, confirm_at = owned.confirm_at
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
WHERE vendor = ANY(%(vendors)s::text[]) AND status IN ('pending', 'sending', 'held')

-- name: count_waiting
-- For the worker's summary: as costly as the queue is long, not as the kept history.
SELECT count(*) FROM attribution_deliveries WHERE vendor = ANY(%(vendors)s::text[]) AND status IN ('pending', 'sending', 'held')

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
WHERE vendor = ANY(%(vendors)s::text[]) AND status IN ('pending', 'sending', 'held')
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

-- name: scrub_orders
-- One small batch of old orders losing their personal parts: none of their deliveries waits to be sent or
-- confirmed, so no request will be built from them again. The journey and the value stay for reports.
UPDATE attribution_orders SET data = NULL, identifiers = NULL
WHERE id IN (
    SELECT o.id FROM attribution_orders o
    WHERE o.created_at < %(older_than)s AND o.data IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM attribution_deliveries d
        WHERE d.order_row = o.id AND (d.status IN ('pending', 'sending', 'held') OR d.confirm_at IS NOT NULL)
    )
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)

-- name: delete_orders
-- One small batch of orders past their own retention, with their journeys; never one a delivery still refers to.
DELETE FROM attribution_orders WHERE id IN (
    SELECT o.id FROM attribution_orders o
    WHERE o.created_at < %(older_than)s AND NOT EXISTS (SELECT 1 FROM attribution_deliveries d WHERE d.order_row = o.id)
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)

-- name: order
SELECT * FROM attribution_orders WHERE order_id = %(order_id)s AND event = %(event)s

-- name: order_for_update
SELECT * FROM attribution_orders WHERE order_id = %(order_id)s AND event = %(event)s FOR UPDATE

-- name: order_by_row
SELECT * FROM attribution_orders WHERE id = %(row)s

-- name: order_deliveries
SELECT * FROM attribution_deliveries WHERE order_row = %(row)s ORDER BY id

-- name: adjust_order
UPDATE attribution_orders SET value = %(value)s, value_micros = %(micros)s, currency = %(currency)s,
    updated_at = %(now)s
WHERE id = %(row)s

-- name: cancel_order
UPDATE attribution_orders SET status = 'cancelled', updated_at = %(now)s WHERE id = %(row)s

-- name: cancel_delivery
-- Only a delivery not sent and not in flight: one a worker holds right now settles first.
UPDATE attribution_deliveries SET status = 'cancelled', last_error = %(reason)s, hold_until = NULL, updated_at = %(now)s
WHERE id = %(id)s AND status IN ('pending', 'held', 'dead', 'dry_run')

-- name: queue_correction
INSERT INTO attribution_deliveries
    (vendor, dedup_key, batch_key, payload, status, created_at, updated_at, next_attempt_at, order_id, event,
     order_row, kind)
VALUES (%(vendor)s, %(dedup_key)s, %(batch_key)s, NULL, 'pending', %(now)s, %(now)s, %(now)s, %(order_id)s,
    %(event)s, %(row)s, %(kind)s)
ON CONFLICT (vendor, dedup_key) DO NOTHING
RETURNING id

-- name: claim_confirmations
-- Delivered deliveries whose vendor's verdict is due, taken by a worker until the lease ends (confirm_at moves
-- there, so another worker finds them only after it).
WITH picked AS (
    SELECT d.id
    FROM unnest(%(vendors)s::text[]) AS v (vendor)
    CROSS JOIN LATERAL (
        SELECT id FROM attribution_deliveries
        WHERE vendor = v.vendor AND confirm_at <= %(now)s AND status = 'delivered'
        ORDER BY confirm_at
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) d
)
UPDATE attribution_deliveries d SET locked_by = %(worker)s, confirm_at = %(until)s
FROM picked WHERE d.id = picked.id
RETURNING d.*

-- name: record_confirmed
UPDATE attribution_deliveries d
SET status = coalesce(r.status, d.status), answer = coalesce(r.answer, d.answer),
    last_error = coalesce(r.error, d.last_error), locked_by = NULL, updated_at = r.at,
    confirm_ref = CASE WHEN r.ask_at IS NULL THEN NULL ELSE d.confirm_ref END, confirm_at = r.ask_at
FROM unnest(%(ids)s::bigint[], %(statuses)s::text[], %(answers)s::text[], %(errors)s::text[],
            %(ask_ats)s::float8[], %(ats)s::float8[]) AS r (id, status, answer, error, ask_at, at)
WHERE d.id = r.id AND d.locked_by = %(worker)s AND d.status = 'delivered'
