-- zapjobs 1.0 -> 1.1: the pool's state at a glance (jobs.pool); definitions
-- and schedules validated on every write, whoever writes them.
\echo Use "ALTER EXTENSION zapjobs UPDATE TO '1.1'" to load this file. \quit

-- One row: the worker slots and what keeps roles waiting for a worker.
-- start_refusals counts worker starts the server refused for want of a
-- background worker slot (max_worker_processes, parallel query drawing on
-- the same slots); retired_for_others the idle workers that gave their
-- slot to a role with runs waiting.  Counters start at zero with the
-- server.  Aggregates only: no role name, no run.  launcher_pid is the
-- process that sends every job_update notification: a client tells real
-- events from forged ones (NOTIFY has no access control) by the sender PID
-- libpq reports with each (PGnotify.be_pid).
CREATE FUNCTION jobs.pool_status(
    OUT max_workers integer, OUT workers integer, OUT busy integer,
    OUT idle integer, OUT starting integer, OUT roles_waiting integer,
    OUT waiting_since timestamptz, OUT start_refusals bigint,
    OUT last_refusal_at timestamptz, OUT retired_for_others bigint,
    OUT launcher_pid integer)
RETURNS record
AS 'MODULE_PATHNAME', 'zj_pool_status'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW jobs.pool AS SELECT * FROM jobs.pool_status();
COMMENT ON VIEW jobs.pool IS
    'zapjobs worker pool: slots in use, roles waiting for a worker, worker starts the server refused';
GRANT SELECT ON jobs.pool TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Definitions and schedules: every write is checked, whoever makes it.
-- ---------------------------------------------------------------------------

-- The owner by OID, not by a name parsed again as an identifier (which
-- broke roles whose names need quoting: "CaseOwner", "Weird ""Role""").
ALTER TABLE jobs.definitions
    ALTER COLUMN owner SET DEFAULT pg_catalog.quote_ident(current_user)::regrole;

-- A schedule ticks in the time zone it was created in (the session's
-- zapjobs.timezone then), not in the launcher's.
UPDATE jobs.definitions SET timezone = pg_catalog.current_setting('zapjobs.timezone')
 WHERE schedule IS NOT NULL AND timezone IS NULL;

-- Retention settings of queues and definitions (see Retention below).
ALTER TABLE jobs.queues ADD COLUMN keep_completed interval, ADD COLUMN keep_failed interval;
ALTER TABLE jobs.definitions ADD COLUMN keep_completed interval, ADD COLUMN keep_failed interval;

-- A retention setting: NULL (the default), 0 (forever) or up to 100 years.
CREATE FUNCTION jobs._check_retention(keep_completed interval, keep_failed interval)
RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF keep_completed < interval '0' OR keep_failed < interval '0'
       OR keep_completed > interval '100 years' OR keep_failed > interval '100 years' THEN
        RAISE EXCEPTION 'retention must be between 0 and 100 years'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass 0 to keep forever, NULL for zapjobs.keep_completed and zapjobs.keep_failed.';
    END IF;
END $$;

-- Can role own a schedule?  Its runs execute in a session of the role.
CREATE FUNCTION jobs._check_schedule_owner(owner regrole) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r pg_catalog.pg_roles;
BEGIN
    SELECT * INTO r FROM pg_catalog.pg_roles WHERE oid = owner;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role with OID % does not exist', owner::oid
            USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT r.rolcanlogin THEN
        RAISE EXCEPTION 'role "%" cannot own a schedule because it cannot log in', r.rolname
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'A scheduled run executes in a session of the definition''s owner.',
                  HINT = format('ALTER ROLE %s LOGIN, or schedule as a role that can log in.',
                                quote_ident(r.rolname));
    END IF;
    IF NOT r.rolsuper AND NOT has_database_privilege(owner, current_database(), 'CONNECT') THEN
        RAISE EXCEPTION 'role "%" cannot own a schedule because it may not connect to this database', r.rolname
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A scheduled run executes in a session of the definition''s owner.',
                  HINT = format('GRANT CONNECT ON DATABASE %s TO %s.',
                                quote_ident(current_database()), quote_ident(r.rolname));
    END IF;
END $$;

-- BEFORE INSERT or UPDATE of what a user sets: the checks jobs.define made,
-- now for direct writes too, and the schedule's time zone and next tick.
-- SECURITY DEFINER: a name taken by a role the writer cannot see.
CREATE FUNCTION jobs._definition_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    first_run timestamptz;
    renamed boolean := true;
    rescheduled boolean := true;
BEGIN
    -- OLD is only read for an UPDATE (an INSERT has none).
    IF TG_OP = 'UPDATE' THEN
        renamed := OLD.name <> NEW.name;
        rescheduled := NEW.schedule IS DISTINCT FROM OLD.schedule
            OR coalesce(NEW.timezone, current_setting('zapjobs.timezone')) IS DISTINCT FROM OLD.timezone;
    END IF;
    PERFORM jobs._check_name('job name', NEW.name);
    PERFORM jobs._check_limit(NEW.max_concurrency);
    IF renamed AND EXISTS (SELECT FROM jobs.definitions d WHERE d.name = NEW.name
               AND d.owner <> NEW.owner AND NOT pg_has_role(NEW.owner, d.owner, 'MEMBER')) THEN
        RAISE EXCEPTION 'job "%" is defined by another role', NEW.name
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Job names are shared by all roles: choose another name.';
    END IF;
    IF NEW.command IS NULL OR btrim(NEW.command) = '' THEN
        RAISE EXCEPTION 'command must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.kind IS NULL OR NEW.kind NOT IN ('sql', 'shell') THEN
        RAISE EXCEPTION 'unknown job kind "%"', NEW.kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The kinds are ''sql'' and ''shell''.';
    END IF;
    IF NEW.queue IS NOT NULL THEN
        PERFORM jobs._check_name('queue name', NEW.queue);
    END IF;
    IF NEW.max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 1000, not %', NEW.max_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.timeout <= interval '0' OR NEW.timeout > interval '24 days' THEN
        RAISE EXCEPTION 'timeout must be positive and at most 24 days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM jobs._check_retention(NEW.keep_completed, NEW.keep_failed);
    IF NEW.kind = 'shell' AND NOT (current_setting('zapjobs.shell_enabled')::boolean
                                   AND pg_has_role(NEW.owner, 'pg_execute_server_program', 'USAGE')) THEN
        RAISE EXCEPTION 'permission denied to define shell jobs'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only superusers and members of pg_execute_server_program may run shell jobs, and only while zapjobs.shell_enabled is on.';
    END IF;
    NEW.updated_at := now();
    IF NEW.schedule IS NULL THEN
        NEW.next_run_at := NULL;
        RETURN NEW;
    END IF;
    PERFORM jobs._check_schedule_owner(NEW.owner);
    NEW.timezone := coalesce(NEW.timezone, current_setting('zapjobs.timezone'));
    IF rescheduled THEN
        -- Also checks the expression and the time zone (errors say where).
        first_run := jobs.next_run(NEW.schedule, now(), NEW.timezone);
        IF first_run IS NULL THEN
            RAISE EXCEPTION 'schedule "%" never fires', NEW.schedule
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Check the day of month against the month (February has no 30th).';
        END IF;
        NEW.next_run_at := first_run;
    END IF;
    RETURN NEW;
END $$;

-- AFTER a write: the definition's job limit follows its max_concurrency,
-- and the launcher looks again at commit when a schedule may fire sooner.
CREATE FUNCTION jobs._definition_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM jobs._sync_definition_limit(OLD.name);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM jobs._sync_definition_limit(NEW.name);
        IF NEW.schedule IS NOT NULL THEN
            PERFORM jobs._schedules_changed();
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER definitions_check_insert BEFORE INSERT ON jobs.definitions
    FOR EACH ROW EXECUTE FUNCTION jobs._definition_check();
CREATE TRIGGER definitions_check_update BEFORE UPDATE ON jobs.definitions
    FOR EACH ROW WHEN ((OLD.name, OLD.owner, OLD.command, OLD.kind, OLD.queue, OLD.priority,
                        OLD.max_attempts, OLD.timeout, OLD.max_concurrency, OLD.enabled,
                        OLD.schedule, OLD.timezone, OLD.keep_completed, OLD.keep_failed)
                       IS DISTINCT FROM
                       (NEW.name, NEW.owner, NEW.command, NEW.kind, NEW.queue, NEW.priority,
                        NEW.max_attempts, NEW.timeout, NEW.max_concurrency, NEW.enabled,
                        NEW.schedule, NEW.timezone, NEW.keep_completed, NEW.keep_failed))
    EXECUTE FUNCTION jobs._definition_check();
CREATE TRIGGER definitions_changed_insert AFTER INSERT OR DELETE ON jobs.definitions
    FOR EACH ROW EXECUTE FUNCTION jobs._definition_changed();
-- Not for the launcher's own writes (a tick moves next_run_at later).
CREATE TRIGGER definitions_changed_update AFTER UPDATE ON jobs.definitions
    FOR EACH ROW WHEN ((OLD.name, OLD.max_concurrency, OLD.schedule, OLD.timezone,
                        OLD.paused, OLD.enabled) IS DISTINCT FROM
                       (NEW.name, NEW.max_concurrency, NEW.schedule, NEW.timezone,
                        NEW.paused, NEW.enabled)
                       OR NEW.next_run_at < OLD.next_run_at)
    EXECUTE FUNCTION jobs._definition_changed();

-- jobs.define: the triggers check and mirror what it writes.
CREATE OR REPLACE FUNCTION jobs.define(name text, command text, kind text DEFAULT 'sql',
                            queue text DEFAULT NULL, priority integer DEFAULT NULL,
                            max_attempts integer DEFAULT NULL, timeout interval DEFAULT NULL,
                            max_concurrency integer DEFAULT NULL,
                            description text DEFAULT NULL, enabled boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO jobs.definitions AS d (name, command, kind, queue, priority, max_attempts,
                                       timeout, max_concurrency, description, enabled)
        VALUES (define.name, define.command, coalesce(define.kind, 'sql'), define.queue,
                define.priority, define.max_attempts, define.timeout, define.max_concurrency,
                define.description, coalesce(define.enabled, true))
        ON CONFLICT ON CONSTRAINT definitions_pkey DO UPDATE
        SET command = excluded.command, kind = excluded.kind, queue = excluded.queue,
            priority = excluded.priority, max_attempts = excluded.max_attempts,
            timeout = excluded.timeout, max_concurrency = excluded.max_concurrency,
            description = excluded.description, enabled = excluded.enabled;
END $$;

-- Re-scheduling keeps what it is not given, and whether it is paused.
CREATE OR REPLACE FUNCTION jobs.schedule(name text, schedule text, command text,
                              timezone text DEFAULT NULL, kind text DEFAULT NULL,
                              queue text DEFAULT NULL, priority integer DEFAULT NULL,
                              max_attempts integer DEFAULT NULL, timeout interval DEFAULT NULL,
                              max_concurrency integer DEFAULT NULL,
                              description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old jobs.definitions;
BEGIN
    IF $2 IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'To stop a schedule, use jobs.pause() or jobs.unschedule().';
    END IF;
    SELECT * INTO old FROM jobs.definitions d WHERE d.name = $1;
    INSERT INTO jobs.definitions AS d (name, command, kind, queue, priority, max_attempts,
                                       timeout, max_concurrency, description, enabled,
                                       schedule, timezone)
        VALUES ($1, $3, coalesce($5, old.kind, 'sql'), coalesce($6, old.queue),
                coalesce($7, old.priority), coalesce($8, old.max_attempts),
                coalesce($9, old.timeout), coalesce($10, old.max_concurrency),
                coalesce($11, old.description), true, $2, coalesce($4, old.timezone))
        ON CONFLICT ON CONSTRAINT definitions_pkey DO UPDATE
        SET command = excluded.command, kind = excluded.kind, queue = excluded.queue,
            priority = excluded.priority, max_attempts = excluded.max_attempts,
            timeout = excluded.timeout, max_concurrency = excluded.max_concurrency,
            description = excluded.description, enabled = true,
            schedule = excluded.schedule, timezone = excluded.timezone,
            next_run_at = jobs.next_run(excluded.schedule, now(),
                                        coalesce(excluded.timezone, current_setting('zapjobs.timezone')));
END $$;

CREATE OR REPLACE FUNCTION jobs.drop(name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM jobs.definitions d WHERE d.name = drop.name;
    RETURN FOUND;
END $$;

CREATE OR REPLACE FUNCTION jobs.resume(name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE jobs.definitions d
       SET paused = false, updated_at = now(),
           next_run_at = CASE WHEN d.schedule IS NULL THEN NULL
                              ELSE jobs.next_run(d.schedule, now(), coalesce(d.timezone, current_setting('zapjobs.timezone'))) END
     WHERE d.name = resume.name;
    RETURN FOUND;
END $$;

-- A NULL name is a mistake of its own, not a job called "<NULL>".
CREATE OR REPLACE FUNCTION jobs.trigger(name text, input jsonb DEFAULT NULL,
                             queue text DEFAULT NULL, priority integer DEFAULT NULL,
                             run_at timestamptz DEFAULT NULL,
                             max_attempts integer DEFAULT NULL,
                             timeout interval DEFAULT NULL) RETURNS bigint
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
                        input => trigger.input, name => d.name, kind => d.kind);
END $$;

-- Internal helpers run inside zapjobs' own functions and triggers only.
DROP FUNCTION jobs._name_taken_by_other(text, name);
REVOKE ALL ON FUNCTION jobs._check_name(text, text), jobs._check_limit(integer),
    jobs._sync_definition_limit(text), jobs._schedules_changed(),
    jobs._check_schedule_owner(regrole), jobs._definition_check(),
    jobs._definition_changed() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Retention: finished runs (with their logs and attempts) are removed after
-- zapjobs.keep_completed (completed and cancelled runs) or
-- zapjobs.keep_failed, unless their job definition or queue says otherwise
-- (0 keeps forever); their counts and durations stay, per hour, in
-- jobs.run_stats, so jobs.stats outlives them.
-- ---------------------------------------------------------------------------

CREATE TABLE jobs.run_stats (
    hour           timestamptz NOT NULL,
    owner          regrole NOT NULL,
    name           text NOT NULL,        -- '' for runs without a name
    queue          text NOT NULL,
    completed      bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    cancelled      bigint NOT NULL DEFAULT 0,
    total_duration interval NOT NULL DEFAULT '0',  -- of the completed runs
    PRIMARY KEY (hour, owner, name, queue)
);
COMMENT ON TABLE jobs.run_stats IS
    'Finished runs removed by retention, counted per hour, owner, job name and queue';
ALTER TABLE jobs.run_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY run_stats_visible_to_owner ON jobs.run_stats FOR SELECT
    USING (pg_catalog.pg_has_role(current_user, owner, 'MEMBER'));
REVOKE ALL ON jobs.run_stats FROM PUBLIC;
GRANT SELECT ON jobs.run_stats TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('jobs.run_stats', '');

-- Finished runs by when they finished: retention reads the oldest first.
CREATE INDEX runs_finished_idx ON jobs.runs (finished_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- Remove up to max_runs finished runs that are due to go, oldest first, and
-- count them in jobs.run_stats.  keep_completed and keep_failed are the
-- defaults (NULL or 0: forever); with overrides, a job definition's and
-- then a queue's own settings come first.  The index scan stops at the
-- shortest retention of all.  Locked runs are skipped: a purge never
-- waits for a user, nor a user for it.
CREATE FUNCTION jobs._expire(at timestamptz, keep_completed interval, keep_failed interval,
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
REVOKE ALL ON FUNCTION jobs._expire(timestamptz, interval, interval, boolean, text, integer)
    FROM PUBLIC;

-- Remove finished runs (with logs and attempts) that finished more than
-- older_than ago, of one status or all; returns how many.  For the DBA:
-- retention does this on its own, a little at a time.  One transaction: a
-- purge of millions holds its locks and its snapshot until it ends.
CREATE FUNCTION jobs.purge(older_than interval, status text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    total bigint := 0;
    n integer;
BEGIN
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must be an interval of at least 0'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF status IS NOT NULL AND status NOT IN ('completed', 'failed', 'cancelled') THEN
        RAISE EXCEPTION 'status must be completed, failed or cancelled, not "%"', status
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Only finished runs are purged; pass NULL for all of them.';
    END IF;
    LOOP
        n := jobs._expire(now(), greatest(older_than, interval '1 microsecond'),
                          greatest(older_than, interval '1 microsecond'), false, status, 10000);
        total := total + n;
        EXIT WHEN n < 10000;
    END LOOP;
    RETURN total;
END $$;
REVOKE ALL ON FUNCTION jobs.purge(interval, text) FROM PUBLIC;
COMMENT ON FUNCTION jobs.purge IS
    'Remove finished runs older than older_than (with their logs and attempts), counting them in jobs.run_stats';

-- Retention per queue, for the DBA (as the queue's other settings).
CREATE FUNCTION jobs.set_queue_retention(queue text, keep_completed interval,
                                         keep_failed interval) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs._check_name('queue name', queue);
    PERFORM jobs._check_retention(keep_completed, keep_failed);
    INSERT INTO jobs.queues AS q (name, keep_completed, keep_failed)
        VALUES (queue, keep_completed, keep_failed)
        ON CONFLICT (name) DO UPDATE
        SET keep_completed = excluded.keep_completed, keep_failed = excluded.keep_failed,
            updated_at = now();
END $$;
REVOKE ALL ON FUNCTION jobs.set_queue_retention(text, interval, interval) FROM PUBLIC;
COMMENT ON FUNCTION jobs.set_queue_retention IS
    'Keep finished runs of the queue this long (NULL: the defaults, 0: forever)';

-- jobs.stats counts the runs retention removed too.
CREATE OR REPLACE VIEW jobs.stats WITH (security_barrier) AS
SELECT s.name,
       sum(s.scheduled)::bigint AS scheduled, sum(s.pending)::bigint AS pending,
       sum(s.running)::bigint AS running, sum(s.awaiting_retry)::bigint AS awaiting_retry,
       sum(s.completed)::bigint AS completed, sum(s.failed)::bigint AS failed,
       sum(s.cancelled)::bigint AS cancelled,
       sum(s.completed_today)::bigint AS completed_today,
       sum(s.failed_today)::bigint AS failed_today,
       sum(s.finished_last_minute)::bigint AS finished_last_minute,
       sum(s.total_duration) / nullif(sum(s.completed), 0) AS avg_duration
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
               sum(r.duration) FILTER (WHERE r.status = 'completed') AS total_duration
          FROM jobs.runs r
         WHERE pg_catalog.pg_has_role(current_user, r.owner, 'MEMBER')
         GROUP BY r.name
        UNION ALL
        SELECT nullif(t.name, ''), 0, 0, 0, 0, sum(t.completed), sum(t.failed), sum(t.cancelled),
               sum(t.completed) FILTER (WHERE t.hour >= date_trunc('day', now())),
               sum(t.failed) FILTER (WHERE t.hour >= date_trunc('day', now())),
               0, sum(t.total_duration)
          FROM jobs.run_stats t
         WHERE pg_catalog.pg_has_role(current_user, t.owner, 'MEMBER')
         GROUP BY t.name) s
 GROUP BY s.name;

-- A queue's row also holds its retention: resuming it or lifting its limit
-- must not drop that.
CREATE OR REPLACE FUNCTION jobs.resume_queue(queue text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs._check_name('queue name', queue);
    UPDATE jobs.queues SET paused = false, updated_at = now() WHERE name = queue;
    DELETE FROM jobs.queues WHERE name = queue AND max_concurrency IS NULL
        AND keep_completed IS NULL AND keep_failed IS NULL;
    PERFORM jobs._limits_changed();
END $$;

CREATE OR REPLACE FUNCTION jobs.set_queue_concurrency(queue text, max_concurrency integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs._check_name('queue name', queue);
    PERFORM jobs._check_limit(max_concurrency);
    INSERT INTO jobs.queues AS q (name, max_concurrency) VALUES (queue, max_concurrency)
        ON CONFLICT (name) DO UPDATE
        SET max_concurrency = excluded.max_concurrency, updated_at = now();
    DELETE FROM jobs.queues q WHERE q.name = queue AND q.max_concurrency IS NULL
        AND NOT q.paused AND q.keep_completed IS NULL AND q.keep_failed IS NULL;
    PERFORM jobs._limits_changed();
END $$;

-- A restore loads jobs.definitions first, whose trigger mirrors their limits
-- again: dump only the limits the DBA set.
SELECT pg_catalog.pg_extension_config_dump('jobs.job_limits', 'WHERE NOT from_definition');
REVOKE ALL ON FUNCTION jobs._check_retention(interval, interval) FROM PUBLIC;
