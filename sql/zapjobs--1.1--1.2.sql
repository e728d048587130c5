-- zapjobs 1.1 -> 1.2: workflows.  Runs that wait for other runs
-- (depends_on), grouped in named workflows.
\echo Use "ALTER EXTENSION zapjobs UPDATE TO '1.2'" to load this file. \quit

-- A run with parents that have not finished is 'waiting'.  waiting_for
-- counts its parents not yet resolved (completed; or finished otherwise,
-- for a run with on_parent_failure = 'run'); the transaction that resolves
-- the last one makes it pending.  cancelled_by: the run whose failure or
-- cancellation cancelled this one (jobs.retry of that run revives it).
-- has_dependents: a run waits for this one; set by the enqueue of that run
-- under the row's lock, so the transaction that finishes this run reads it
-- from the row it updates, and runs without dependents pay nothing.
-- The new columns have constant defaults: adding them rewrites nothing.
ALTER TABLE jobs.runs
    ADD COLUMN workflow text,
    ADD COLUMN waiting_for integer NOT NULL DEFAULT 0,
    ADD COLUMN on_parent_failure text,
    ADD COLUMN cancelled_by bigint,
    ADD COLUMN has_dependents boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN jobs.runs.workflow IS 'Workflow the run belongs to (jobs.workflows), or NULL';
COMMENT ON COLUMN jobs.runs.waiting_for IS 'Parents (jobs.dependencies) a waiting run still waits for';
COMMENT ON COLUMN jobs.runs.on_parent_failure IS 'cancel (NULL) or run: what a parent that does not complete does to this run';
COMMENT ON COLUMN jobs.runs.cancelled_by IS 'The run whose failure or cancellation cancelled this one';
COMMENT ON COLUMN jobs.runs.has_dependents IS 'Some run waits for this one (jobs.dependencies)';

-- A waiting run counts as unfinished for its dedupe_key too.
DROP INDEX jobs.runs_dedupe_idx;
CREATE UNIQUE INDEX runs_dedupe_idx ON jobs.runs (owner, dedupe_key)
    WHERE dedupe_key IS NOT NULL
    AND status IN ('waiting', 'scheduled', 'pending', 'running', 'awaiting_retry');
-- Waiting runs: whether any exist (the launcher, at start) and their counts.
CREATE INDEX runs_waiting_idx ON jobs.runs (id) WHERE status = 'waiting';
-- The runs of a workflow.
CREATE INDEX runs_workflow_idx ON jobs.runs (workflow, id) WHERE workflow IS NOT NULL;
-- The runs a failed or cancelled run cancelled, for jobs.retry.
CREATE INDEX runs_cancelled_by_idx ON jobs.runs (cancelled_by) WHERE cancelled_by IS NOT NULL;

-- Edges of the dependency graph: run_id waits for parent_id.  A run's
-- parents exist before it does, so the graph has no cycles.  Written by
-- zapjobs only; visible with the run.
CREATE TABLE jobs.dependencies (
    run_id    bigint NOT NULL REFERENCES jobs.runs (id) ON DELETE CASCADE,
    parent_id bigint NOT NULL,
    PRIMARY KEY (run_id, parent_id)
);
CREATE INDEX dependencies_parent_idx ON jobs.dependencies (parent_id);
COMMENT ON TABLE jobs.dependencies IS 'Runs (run_id) and the runs they wait for (parent_id)';
ALTER TABLE jobs.dependencies ENABLE ROW LEVEL SECURITY;
CREATE POLICY dependencies_visible_to_owner ON jobs.dependencies FOR SELECT
    USING (EXISTS (SELECT 1 FROM jobs.runs r WHERE r.id = run_id));
REVOKE ALL ON jobs.dependencies FROM PUBLIC;
GRANT SELECT ON jobs.dependencies TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('jobs.dependencies', '');

-- enqueue, enqueue_many and trigger take parents, a failure policy and a
-- workflow.  The C functions read the new arguments only when given them,
-- so the 1.1 signatures keep working until this update has run.
DROP FUNCTION jobs.enqueue(text, text, integer, timestamptz, integer, interval, jsonb,
                           text, text, text, interval, float8, interval);
CREATE FUNCTION jobs.enqueue(
    command      text,
    queue        text DEFAULT NULL,
    priority     integer DEFAULT NULL,
    run_at       timestamptz DEFAULT NULL,
    max_attempts integer DEFAULT NULL,
    timeout      interval DEFAULT NULL,
    input        jsonb DEFAULT NULL,
    name         text DEFAULT NULL,
    kind         text DEFAULT NULL,
    dedupe_key   text DEFAULT NULL,
    retry_base   interval DEFAULT NULL,
    retry_factor float8 DEFAULT NULL,
    retry_max_delay interval DEFAULT NULL,
    depends_on   bigint[] DEFAULT NULL,
    on_parent_failure text DEFAULT NULL,
    workflow     text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'zj_enqueue'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION jobs.enqueue IS
    'Enqueue a job run owned by current_user; returns its id at once (with depends_on, it waits for those runs)';

DROP FUNCTION jobs.enqueue_many(text, jsonb[], text, integer, timestamptz, integer, interval,
                                text, text, interval, float8, interval);
CREATE FUNCTION jobs.enqueue_many(
    command      text,
    inputs       jsonb[],
    queue        text DEFAULT NULL,
    priority     integer DEFAULT NULL,
    run_at       timestamptz DEFAULT NULL,
    max_attempts integer DEFAULT NULL,
    timeout      interval DEFAULT NULL,
    name         text DEFAULT NULL,
    kind         text DEFAULT NULL,
    retry_base   interval DEFAULT NULL,
    retry_factor float8 DEFAULT NULL,
    retry_max_delay interval DEFAULT NULL,
    depends_on   bigint[] DEFAULT NULL,
    on_parent_failure text DEFAULT NULL,
    workflow     text DEFAULT NULL)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'zj_enqueue_many'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION jobs.enqueue_many IS
    'Enqueue one run per element of inputs, otherwise alike, in one statement; returns their ids in the order of inputs';

DROP FUNCTION jobs.trigger(text, jsonb, text, integer, timestamptz, integer, interval);
CREATE FUNCTION jobs.trigger(name text, input jsonb DEFAULT NULL,
                             queue text DEFAULT NULL, priority integer DEFAULT NULL,
                             run_at timestamptz DEFAULT NULL,
                             max_attempts integer DEFAULT NULL,
                             timeout interval DEFAULT NULL,
                             depends_on bigint[] DEFAULT NULL,
                             on_parent_failure text DEFAULT NULL,
                             workflow text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
-- No SET search_path: jobs.enqueue records the caller's for the run.
DECLARE
    d jobs.definitions;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'job name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO d FROM jobs.definitions WHERE definitions.name = trigger.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT d.enabled THEN
        RAISE EXCEPTION 'job "%" is disabled', name USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Enable it with jobs.define(..., enabled => true).';
    END IF;
    RETURN jobs.enqueue(d.command,
                        queue => coalesce(trigger.queue, d.queue),
                        priority => coalesce(trigger.priority, d.priority),
                        run_at => trigger.run_at,
                        max_attempts => coalesce(trigger.max_attempts, d.max_attempts),
                        timeout => coalesce(trigger.timeout, d.timeout),
                        input => trigger.input, name => d.name, kind => d.kind,
                        depends_on => trigger.depends_on,
                        on_parent_failure => trigger.on_parent_failure,
                        workflow => trigger.workflow);
END $$;
COMMENT ON FUNCTION jobs.trigger IS
    'Enqueue a run of a named job, with its settings unless given here';

-- Inside a job: what its parents returned.
CREATE FUNCTION jobs.parent_outputs() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN jobs.current_run_id() IS NOT NULL THEN
           (SELECT coalesce(jsonb_object_agg(p.id::text, p.output ORDER BY p.id), '{}')
              FROM jobs.dependencies d JOIN jobs.runs p ON p.id = d.parent_id
             WHERE d.run_id = jobs.current_run_id()) END;
$$;
COMMENT ON FUNCTION jobs.parent_outputs IS
    'Inside a job: its parents'' outputs as one object keyed by run id; NULL elsewhere';

-- Cancel every unfinished run of a workflow (and, as jobs.cancel does,
-- what waits for them); returns how many it cancelled.
CREATE FUNCTION jobs.cancel_workflow(workflow text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    run record;
    n bigint := 0;
BEGIN
    IF workflow IS NULL OR workflow = '' THEN
        RAISE EXCEPTION 'workflow name must not be empty' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the name the runs were enqueued with (workflow => ...).';
    END IF;
    FOR run IN SELECT r.id FROM jobs.runs r
                WHERE r.workflow = cancel_workflow.workflow
                  AND r.status IN ('waiting', 'scheduled', 'pending', 'running', 'awaiting_retry')
                ORDER BY r.id
    LOOP
        IF jobs.cancel(run.id) OR EXISTS (SELECT FROM jobs.runs r WHERE r.id = run.id
                                          AND r.status = 'cancelled') THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION jobs.cancel_workflow IS
    'Cancel the unfinished runs of a workflow (and the runs waiting for them); returns how many';

-- Per workflow: its runs by status, done of total, first start, last end.
CREATE VIEW jobs.workflows WITH (security_barrier) AS
SELECT r.workflow AS name,
       CASE WHEN count(*) FILTER (WHERE r.status NOT IN ('completed', 'failed', 'cancelled')) > 0
            THEN 'active'
            WHEN count(*) FILTER (WHERE r.status = 'failed') > 0 THEN 'failed'
            WHEN count(*) FILTER (WHERE r.status = 'cancelled') > 0 THEN 'cancelled'
            ELSE 'completed' END AS status,
       count(*) AS runs,
       count(*) FILTER (WHERE r.status IN ('completed', 'failed', 'cancelled')) AS done,
       count(*) FILTER (WHERE r.status = 'waiting') AS waiting,
       count(*) FILTER (WHERE r.status = 'scheduled') AS scheduled,
       count(*) FILTER (WHERE r.status = 'pending') AS pending,
       count(*) FILTER (WHERE r.status = 'running') AS running,
       count(*) FILTER (WHERE r.status = 'awaiting_retry') AS awaiting_retry,
       count(*) FILTER (WHERE r.status = 'completed') AS completed,
       count(*) FILTER (WHERE r.status = 'failed') AS failed,
       count(*) FILTER (WHERE r.status = 'cancelled') AS cancelled,
       min(r.created_at) AS created_at,
       min(r.started_at) AS started_at,
       CASE WHEN count(*) FILTER (WHERE r.status NOT IN ('completed', 'failed', 'cancelled')) = 0
            THEN max(r.finished_at) END AS finished_at
  FROM jobs.runs r
 WHERE r.workflow IS NOT NULL
   AND pg_catalog.pg_has_role(current_user, r.owner, 'MEMBER')
 GROUP BY r.workflow;
COMMENT ON VIEW jobs.workflows IS
    'Per workflow: its runs by status, done of total, created, first started and (when done) finished';
GRANT SELECT ON jobs.workflows TO PUBLIC;

-- jobs.stats counts waiting runs (a new last column).
CREATE OR REPLACE VIEW jobs.stats WITH (security_barrier) AS
SELECT s.name,
       sum(s.scheduled)::bigint AS scheduled, sum(s.pending)::bigint AS pending,
       sum(s.running)::bigint AS running, sum(s.awaiting_retry)::bigint AS awaiting_retry,
       sum(s.completed)::bigint AS completed, sum(s.failed)::bigint AS failed,
       sum(s.cancelled)::bigint AS cancelled,
       sum(s.completed_today)::bigint AS completed_today,
       sum(s.failed_today)::bigint AS failed_today,
       sum(s.finished_last_minute)::bigint AS finished_last_minute,
       sum(s.total_duration) / nullif(sum(s.completed), 0) AS avg_duration,
       sum(s.waiting)::bigint AS waiting
  FROM (SELECT r.name,
               count(*) FILTER (WHERE r.status = 'scheduled') AS scheduled,
               count(*) FILTER (WHERE r.status = 'pending') AS pending,
               count(*) FILTER (WHERE r.status = 'running') AS running,
               count(*) FILTER (WHERE r.status = 'awaiting_retry') AS awaiting_retry,
               count(*) FILTER (WHERE r.status = 'completed') AS completed,
               count(*) FILTER (WHERE r.status = 'failed') AS failed,
               count(*) FILTER (WHERE r.status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE r.status = 'completed'
                                AND r.finished_at >= date_trunc('day', now())) AS completed_today,
               count(*) FILTER (WHERE r.status = 'failed'
                                AND r.finished_at >= date_trunc('day', now())) AS failed_today,
               count(*) FILTER (WHERE r.finished_at >= now() - interval '1 minute')
                   AS finished_last_minute,
               sum(r.duration) FILTER (WHERE r.status = 'completed') AS total_duration,
               count(*) FILTER (WHERE r.status = 'waiting') AS waiting
          FROM jobs.runs r
         WHERE pg_catalog.pg_has_role(current_user, r.owner, 'MEMBER')
         GROUP BY r.name
        UNION ALL
        SELECT nullif(t.name, ''), 0, 0, 0, 0, sum(t.completed), sum(t.failed), sum(t.cancelled),
               sum(t.completed) FILTER (WHERE t.hour >= date_trunc('day', now())),
               sum(t.failed) FILTER (WHERE t.hour >= date_trunc('day', now())),
               0, sum(t.total_duration), 0
          FROM jobs.run_stats t
         WHERE pg_catalog.pg_has_role(current_user, t.owner, 'MEMBER')
         GROUP BY t.name) s
 GROUP BY s.name;

-- Retention keeps a finished run while a run waiting for it has not
-- finished: that run may still read its output (jobs.parent_outputs).
CREATE OR REPLACE FUNCTION jobs._expire(at timestamptz, keep_completed interval, keep_failed interval,
                             overrides boolean, only_status text, max_runs integer)
RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH shortest AS (
        SELECT min(x.k) AS k FROM (
            SELECT $2 AS k UNION ALL SELECT $3
            UNION ALL SELECT q.keep_completed FROM jobs.queues q WHERE $4
            UNION ALL SELECT q.keep_failed FROM jobs.queues q WHERE $4
            UNION ALL SELECT d.keep_completed FROM jobs.definitions d WHERE $4
            UNION ALL SELECT d.keep_failed FROM jobs.definitions d WHERE $4) x
         WHERE x.k > interval '0' AND x.k <= interval '100 years'),
    doomed AS (
        SELECT r.id FROM jobs.runs r
          LEFT JOIN jobs.queues q ON $4 AND q.name = r.queue
          LEFT JOIN jobs.definitions d ON $4 AND d.name = r.name AND d.owner = r.owner,
          LATERAL (SELECT least(CASE WHEN r.status = 'failed'
                                     THEN coalesce(d.keep_failed, q.keep_failed, $3)
                                     ELSE coalesce(d.keep_completed, q.keep_completed, $2) END,
                                interval '100 years') AS keep) k
         WHERE r.status IN ('completed', 'failed', 'cancelled')
           AND r.finished_at < $1 - (SELECT s.k FROM shortest s)
           AND ($5 IS NULL OR r.status = $5)
           AND k.keep > interval '0' AND r.finished_at < $1 - k.keep
           AND NOT EXISTS (SELECT FROM jobs.dependencies x JOIN jobs.runs c ON c.id = x.run_id
                            WHERE x.parent_id = r.id
                              AND c.status NOT IN ('completed', 'failed', 'cancelled'))
         ORDER BY r.finished_at LIMIT $6
         FOR UPDATE OF r SKIP LOCKED),
    gone AS (
        DELETE FROM jobs.runs r USING doomed WHERE r.id = doomed.id
        RETURNING r.finished_at, r.owner, r.name, r.queue, r.status, r.duration),
    counted AS (
        INSERT INTO jobs.run_stats AS s (hour, owner, name, queue, completed, failed,
                                         cancelled, total_duration)
        SELECT date_trunc('hour', g.finished_at), g.owner, coalesce(g.name, ''), g.queue,
               count(*) FILTER (WHERE g.status = 'completed'),
               count(*) FILTER (WHERE g.status = 'failed'),
               count(*) FILTER (WHERE g.status = 'cancelled'),
               coalesce(sum(g.duration) FILTER (WHERE g.status = 'completed'), interval '0')
          FROM gone g GROUP BY 1, 2, 3, 4
        ON CONFLICT (hour, owner, name, queue) DO UPDATE
           SET completed = s.completed + excluded.completed,
               failed = s.failed + excluded.failed,
               cancelled = s.cancelled + excluded.cancelled,
               total_duration = s.total_duration + excluded.total_duration
        RETURNING 1)
    SELECT count(*)::integer FROM gone;
$$;

-- ---------------------------------------------------------------------------
-- Rate limits: at most `runs` starts of a queue's (or a job name's) runs in
-- any window of length `per`.  The starts are a ring of `runs` slots, each
-- holding the start time of one of the last `runs` starts; next_slot is the
-- oldest.  A claim under the limit locks its row (claims take turns), may
-- start a run only if the oldest start left the window, and overwrites that
-- slot with its run's start: O(1) per start, exact, in the claim's own
-- transaction (a claim that rolls back leaves no trace).
-- ---------------------------------------------------------------------------

CREATE TABLE jobs.rate_limits (
    scope      text NOT NULL CHECK (scope IN ('queue', 'name')),
    name       text NOT NULL,
    runs       integer NOT NULL CHECK (runs BETWEEN 1 AND 100000),
    per        interval NOT NULL CHECK (per > interval '0'),
    next_slot  integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, name)
);
COMMENT ON TABLE jobs.rate_limits IS
    'At most runs starts of a queue''s or a job name''s runs in any window of length per (jobs.set_queue_rate, jobs.set_job_rate)';
CREATE TABLE jobs.rate_starts (
    scope      text NOT NULL,
    name       text NOT NULL,
    slot       integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (scope, name, slot),
    FOREIGN KEY (scope, name) REFERENCES jobs.rate_limits ON DELETE CASCADE
);
COMMENT ON TABLE jobs.rate_starts IS 'The last starts under each rate limit, one slot each';
REVOKE ALL ON jobs.rate_limits, jobs.rate_starts FROM PUBLIC;
GRANT SELECT ON jobs.rate_limits TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('jobs.rate_limits', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.rate_starts', '');

-- Set, change (keeping the starts still in the window) or (runs NULL)
-- remove a rate limit.
CREATE FUNCTION jobs._set_rate(scope text, name text, runs integer, per interval) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kept timestamptz[];
BEGIN
    IF runs IS NULL THEN
        DELETE FROM jobs.rate_limits l WHERE l.scope = _set_rate.scope AND l.name = _set_rate.name;
        PERFORM jobs._limits_changed();
        RETURN;
    END IF;
    IF runs < 1 OR runs > 100000 THEN
        RAISE EXCEPTION 'runs must be between 1 and 100000, not %', runs
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL to remove the limit.';
    END IF;
    IF per IS NULL OR per <= interval '0' OR per > interval '1 year' THEN
        RAISE EXCEPTION 'per must be positive and at most a year'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example jobs.set_queue_rate(''mail'', 100, ''1 minute'').';
    END IF;
    -- The limit's row is locked first, as claims lock it, and changed in
    -- place: a claim under way commits its start before the ring is read,
    -- and one waiting for the row finds the new ring.
    PERFORM FROM jobs.rate_limits l WHERE l.scope = _set_rate.scope AND l.name = _set_rate.name
        FOR UPDATE;
    -- The starts of the old ring, newest first, as many as the new one holds.
    SELECT array_agg(t ORDER BY t) INTO kept
      FROM (SELECT s.started_at AS t FROM jobs.rate_starts s
             WHERE s.scope = _set_rate.scope AND s.name = _set_rate.name
               AND s.started_at > '-infinity'
             ORDER BY s.started_at DESC LIMIT runs) k;
    DELETE FROM jobs.rate_starts s WHERE s.scope = _set_rate.scope AND s.name = _set_rate.name;
    INSERT INTO jobs.rate_limits AS l (scope, name, runs, per, next_slot)
        VALUES (scope, name, runs, per, coalesce(cardinality(kept), 0) % runs)
        ON CONFLICT ON CONSTRAINT rate_limits_pkey DO UPDATE
        SET runs = excluded.runs, per = excluded.per, next_slot = excluded.next_slot,
            updated_at = now();
    INSERT INTO jobs.rate_starts (scope, name, slot, started_at)
        SELECT scope, name, i, coalesce(kept[i + 1], '-infinity')
          FROM generate_series(0, runs - 1) i;
    PERFORM jobs._limits_changed();
END $$;
REVOKE ALL ON FUNCTION jobs._set_rate(text, text, integer, interval) FROM PUBLIC;

CREATE FUNCTION jobs.set_queue_rate(queue text, runs integer, per interval DEFAULT '1 second')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs._check_name('queue name', queue);
    PERFORM jobs._set_rate('queue', queue, runs, per);
END $$;
COMMENT ON FUNCTION jobs.set_queue_rate IS
    'At most runs starts of the queue''s runs in any window of length per; NULL runs removes the limit';

CREATE FUNCTION jobs.set_job_rate(name text, runs integer, per interval DEFAULT '1 second')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs._check_name('job name', name);
    PERFORM jobs._set_rate('name', name, runs, per);
END $$;
COMMENT ON FUNCTION jobs.set_job_rate IS
    'At most runs starts of the job name''s runs in any window of length per; NULL runs removes the limit';
REVOKE ALL ON FUNCTION jobs.set_queue_rate(text, integer, interval),
    jobs.set_job_rate(text, integer, interval) FROM PUBLIC;
