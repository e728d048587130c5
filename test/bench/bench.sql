-- Helper objects for test/bench/run.sh, created in the throwaway cluster's
-- "postgres" database right after CREATE EXTENSION zapjobs.

-- Section 1: the commit ceiling inserts one row per transaction here.
CREATE TABLE bench_commit (at timestamptz NOT NULL DEFAULT now());

-- Sections 4 and 5: every enqueued run with the transaction that enqueued
-- it, so that latency = started_at - pg_xact_commit_timestamp(xid).
CREATE TABLE bench_enq (run_id bigint NOT NULL, xid xid8 NOT NULL,
                        acked_at timestamptz);

-- Section 8: notifications as received by listen.c.
CREATE TABLE bench_events (recv_us bigint NOT NULL, payload text NOT NULL);

-- Enqueue n runs of 'SELECT 1', one per transaction, gap seconds apart.
-- acked_at: the moment the enqueuing COMMIT returned (the run is visible to
-- the workers from then on; the commit timestamp is taken before the
-- commit's WAL flush).
CREATE PROCEDURE bench_trickle(n int, gap float8)
LANGUAGE plpgsql AS $$
DECLARE
    ids     bigint[] := '{}';
    acked   timestamptz[] := '{}';
    r       bigint;
BEGIN
    FOR i IN 1..n LOOP
        INSERT INTO bench_enq (run_id, xid)
            SELECT jobs.enqueue('SELECT 1'), pg_current_xact_id()
            RETURNING run_id INTO r;
        COMMIT;
        -- Kept in memory: writing it now would compete with the worker.
        ids := ids || r;
        acked := acked || clock_timestamp();
        PERFORM pg_sleep(gap);
    END LOOP;
    UPDATE bench_enq e SET acked_at = a.t
      FROM unnest(ids, acked) AS a(id, t) WHERE e.run_id = a.id;
END
$$;

-- Enqueue 'SELECT 1' at a fixed rate (runs/s) for secs seconds: every 10 ms,
-- one transaction enqueues the runs due by then (rate/100 on average), so
-- the rate holds even when a tick runs late.
CREATE PROCEDURE bench_produce(rate float8, secs float8)
LANGUAGE plpgsql AS $$
DECLARE
    t0      timestamptz := clock_timestamp();
    elapsed float8;
    done    bigint := 0;
    due     bigint;
BEGIN
    LOOP
        elapsed := extract(epoch FROM clock_timestamp() - t0);
        EXIT WHEN elapsed >= secs;
        due := floor(rate * elapsed);
        IF due > done THEN
            INSERT INTO bench_enq (run_id, xid)
                SELECT jobs.enqueue('SELECT 1'), pg_current_xact_id()
                FROM generate_series(1, due - done);
            done := due;
            COMMIT;
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;

-- Enqueue-commit to job-start latency of the runs in bench_enq, in ms.
CREATE VIEW bench_wake AS
    SELECT r.id, r.status,
           extract(epoch FROM r.started_at - pg_xact_commit_timestamp(xid(e.xid))) * 1000 AS ms
    FROM bench_enq e JOIN jobs.runs r ON r.id = e.run_id;

-- The same from the moment the enqueuing COMMIT returned (section 4).
CREATE VIEW bench_wake_acked AS
    SELECT r.id, r.status,
           extract(epoch FROM r.started_at - e.acked_at) * 1000 AS ms
    FROM bench_enq e JOIN jobs.runs r ON r.id = e.run_id
    WHERE e.acked_at IS NOT NULL;

-- Notification latency: local receive time - the event's "at", in ms.
CREATE VIEW bench_event_latency AS
    SELECT payload::jsonb->>'status' AS status,
           recv_us / 1000.0
             - extract(epoch FROM (payload::jsonb->>'at')::timestamptz) * 1000 AS ms
    FROM bench_events;
