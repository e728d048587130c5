-- zapjobs 1.0: job runs, their logs, and the functions to enqueue and wait.
\echo Use "CREATE EXTENSION zapjobs" to load this file. \quit

-- One row per run.  Only zapjobs itself writes here (through jobs.enqueue
-- and its workers); users read their own rows through row-level security.
-- Values are checked by zapjobs' C code before they are written: CHECK
-- constraints and generated columns would be re-read from the catalog by
-- every UPDATE of the hot path.  status is one of scheduled, pending,
-- running, completed, failed, cancelled, awaiting_retry; kind sql or shell;
-- duration is finished_at - started_at.  attempt counts attempts started;
-- an awaiting_retry run is due again at run_at (= next_retry_at).
CREATE TABLE jobs.runs (
    id               bigserial PRIMARY KEY,
    name             text,
    kind             text NOT NULL DEFAULT 'sql',
    command          text NOT NULL,
    queue            text NOT NULL DEFAULT 'default',
    priority         integer NOT NULL DEFAULT 0,
    status           text NOT NULL,
    owner            regrole NOT NULL,
    input            jsonb,
    output           jsonb,
    search_path      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    run_at           timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    duration         interval,
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 3,
    timeout          interval NOT NULL,
    retry_base       interval NOT NULL,
    retry_factor     float8 NOT NULL,
    retry_max_delay  interval NOT NULL,
    next_retry_at    timestamptz,
    dedupe_key       text,
    cancel_requested boolean NOT NULL DEFAULT false,
    crashes          integer NOT NULL DEFAULT 0,
    shell_pgid       integer,
    worker_pid       integer,
    worker_epoch     bigint,
    error_sqlstate   text,
    error_message    text,
    error_detail     text,
    error_hint       text,
    error_context    text,
    progress_current bigint,
    progress_total   bigint,
    progress_message text,
    items_processed  bigint,
    items_succeeded  bigint,
    items_failed     bigint,
    progress_at      timestamptz
);

COMMENT ON TABLE jobs.runs IS 'One row per job run; see the zapjobs README for the status life cycle';
COMMENT ON COLUMN jobs.runs.owner IS 'Role that enqueued the run; the job runs in a session of this role';
COMMENT ON COLUMN jobs.runs.worker_epoch IS 'Identifies the server lifetime of the worker that claimed the run';
COMMENT ON COLUMN jobs.runs.progress_current IS 'Last progress the job reported (jobs.progress); live values are in jobs.active';
COMMENT ON COLUMN jobs.runs.shell_pgid IS 'Process group of a shell job''s last attempt, so that nothing of it outlives its worker';
COMMENT ON COLUMN jobs.runs.crashes IS 'Attempts of this run that a server crash or immediate shutdown interrupted';

-- The claim path: next pending run of a role by priority, run_at, id.  The
-- launcher also reads distinct owners of pending runs off this index.
CREATE INDEX runs_claim_idx ON jobs.runs (owner, priority, run_at, id)
    WHERE status = 'pending';
-- Scheduled runs and runs awaiting a retry by due time, for promotion.
CREATE INDEX runs_scheduled_idx ON jobs.runs (run_at)
    WHERE status IN ('scheduled', 'awaiting_retry');
-- At most one unfinished run per owner and dedupe_key.
CREATE UNIQUE INDEX runs_dedupe_idx ON jobs.runs (owner, dedupe_key)
    WHERE dedupe_key IS NOT NULL
    AND status IN ('scheduled', 'pending', 'running', 'awaiting_retry');
-- Running runs, for the reaper.
CREATE INDEX runs_running_idx ON jobs.runs (id) WHERE status = 'running';

-- Log lines of runs: jobs.log() and the notices jobs raise, written by the
-- launcher so that they survive the job's rollback.
CREATE TABLE jobs.logs (
    id       bigserial PRIMARY KEY,
    run_id   bigint NOT NULL REFERENCES jobs.runs (id) ON DELETE CASCADE,
    attempt  integer NOT NULL,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    level    text NOT NULL,
    message  text NOT NULL,
    context  jsonb
);
CREATE INDEX logs_run_idx ON jobs.logs (run_id, id);

-- Attempts that ended without completing the run, each with its error:
-- jobs.runs keeps only the last.  outcome is failed, timed_out,
-- interrupted (worker or server gone) or cancelled.
CREATE TABLE jobs.attempts (
    run_id         bigint NOT NULL REFERENCES jobs.runs (id) ON DELETE CASCADE,
    attempt        integer NOT NULL,
    outcome        text NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz NOT NULL,
    worker_pid     integer,
    error_sqlstate text,
    error_message  text,
    error_detail   text,
    error_hint     text,
    error_context  text,
    PRIMARY KEY (run_id, attempt)
);

-- Queues with a concurrency limit or paused; a queue without a row has
-- neither.  Written through jobs.pause_queue and friends.
CREATE TABLE jobs.queues (
    name            text PRIMARY KEY,
    max_concurrency integer CHECK (max_concurrency > 0),
    paused          boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- At most max_concurrency runs of a job name at once (jobs.set_job_concurrency).
CREATE TABLE jobs.job_limits (
    name            text PRIMARY KEY,
    max_concurrency integer NOT NULL CHECK (max_concurrency > 0),
    from_definition boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- A role sees the runs of the roles it is a member of (its own included).
ALTER TABLE jobs.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_visible_to_owner ON jobs.runs FOR SELECT
    USING (pg_catalog.pg_has_role(current_user, owner, 'MEMBER'));
ALTER TABLE jobs.logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY logs_visible_to_owner ON jobs.logs FOR SELECT
    USING (EXISTS (SELECT 1 FROM jobs.runs r WHERE r.id = run_id));
ALTER TABLE jobs.attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY attempts_visible_to_owner ON jobs.attempts FOR SELECT
    USING (EXISTS (SELECT 1 FROM jobs.runs r WHERE r.id = run_id));

REVOKE ALL ON jobs.runs, jobs.logs, jobs.attempts, jobs.queues, jobs.job_limits
    FROM PUBLIC;
GRANT SELECT ON jobs.runs, jobs.logs, jobs.attempts, jobs.queues, jobs.job_limits
    TO PUBLIC;
GRANT USAGE ON SCHEMA jobs TO PUBLIC;

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
    retry_max_delay interval DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'zj_enqueue'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION jobs.enqueue IS
    'Enqueue a job run owned by current_user; returns its id at once';

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
    retry_max_delay interval DEFAULT NULL)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'zj_enqueue_many'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION jobs.enqueue_many IS
    'Enqueue one run per element of inputs, otherwise alike, in one statement; returns their ids in the order of inputs';

CREATE FUNCTION jobs.wait(run_id bigint, timeout interval DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'zj_wait'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION jobs.wait IS
    'Block until the run is finished or the timeout passes; returns its status';

CREATE FUNCTION jobs.input() RETURNS jsonb
AS 'MODULE_PATHNAME', 'zj_input'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION jobs.input IS 'Inside a job: the run''s input; NULL elsewhere';

CREATE FUNCTION jobs.current_run_id() RETURNS bigint
AS 'MODULE_PATHNAME', 'zj_current_run_id'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION jobs.current_run_id IS 'Inside a job: the run''s id; NULL elsewhere';

CREATE FUNCTION jobs.set_output(output jsonb) RETURNS void
AS 'MODULE_PATHNAME', 'zj_set_output'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION jobs.set_output IS 'Inside a job: set the run''s output';

CREATE FUNCTION jobs.cancel(run_id bigint) RETURNS boolean
AS 'MODULE_PATHNAME', 'zj_cancel'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION jobs.cancel IS
    'Cancel a run that has not finished (interrupting it if running); false if it had finished';

CREATE FUNCTION jobs.retry(run_id bigint) RETURNS boolean
AS 'MODULE_PATHNAME', 'zj_retry'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION jobs.retry IS
    'Queue a failed or cancelled run again, with one more attempt; false for other runs';

-- Tells running workers that queue settings or job limits changed.
CREATE FUNCTION jobs._limits_changed() RETURNS void
AS 'MODULE_PATHNAME', 'zj_limits_changed'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION jobs._limits_changed() FROM PUBLIC;

CREATE FUNCTION jobs._check_name(what text, name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION '% must not be empty', what
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(name) > 63 THEN
        RAISE EXCEPTION '% "%" is too long', what, name
            USING ERRCODE = 'name_too_long', DETAIL = 'The limit is 63 bytes.';
    END IF;
END $$;

CREATE FUNCTION jobs._check_limit(max_concurrency integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF max_concurrency < 1 THEN
        RAISE EXCEPTION 'max_concurrency must be at least 1, not %', max_concurrency
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL to remove the limit; pause the queue to stop it.';
    END IF;
END $$;

-- Queue administration is for the DBA, who may GRANT EXECUTE on these.
CREATE FUNCTION jobs.pause_queue(queue text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs._check_name('queue name', queue);
    INSERT INTO jobs.queues AS q (name, paused) VALUES (queue, true)
        ON CONFLICT (name) DO UPDATE SET paused = true, updated_at = now();
    PERFORM jobs._limits_changed();
END $$;
COMMENT ON FUNCTION jobs.pause_queue IS
    'Stop starting runs of the queue (runs already running go on)';

CREATE FUNCTION jobs.resume_queue(queue text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs._check_name('queue name', queue);
    UPDATE jobs.queues SET paused = false, updated_at = now() WHERE name = queue;
    DELETE FROM jobs.queues WHERE name = queue AND max_concurrency IS NULL;
    PERFORM jobs._limits_changed();
END $$;
COMMENT ON FUNCTION jobs.resume_queue IS 'Start runs of a paused queue again';

CREATE FUNCTION jobs.set_queue_concurrency(queue text, max_concurrency integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs._check_name('queue name', queue);
    PERFORM jobs._check_limit(max_concurrency);
    INSERT INTO jobs.queues AS q (name, max_concurrency) VALUES (queue, max_concurrency)
        ON CONFLICT (name) DO UPDATE
        SET max_concurrency = excluded.max_concurrency, updated_at = now();
    DELETE FROM jobs.queues q WHERE q.name = queue AND q.max_concurrency IS NULL
        AND NOT q.paused;
    PERFORM jobs._limits_changed();
END $$;
COMMENT ON FUNCTION jobs.set_queue_concurrency IS
    'At most max_concurrency runs of the queue at once; NULL removes the limit';

CREATE FUNCTION jobs.set_job_concurrency(name text, max_concurrency integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs._check_name('job name', name);
    PERFORM jobs._check_limit(max_concurrency);
    IF max_concurrency IS NULL THEN
        DELETE FROM jobs.job_limits l WHERE l.name = set_job_concurrency.name;
    ELSE
        INSERT INTO jobs.job_limits AS l (name, max_concurrency, from_definition)
            VALUES (set_job_concurrency.name, max_concurrency, false)
            ON CONFLICT ON CONSTRAINT job_limits_pkey DO UPDATE
            SET max_concurrency = excluded.max_concurrency, from_definition = false,
                updated_at = now();
    END IF;
    PERFORM jobs._limits_changed();
END $$;
COMMENT ON FUNCTION jobs.set_job_concurrency IS
    'At most max_concurrency runs of the job name at once; NULL removes the limit';

REVOKE ALL ON FUNCTION jobs.pause_queue(text), jobs.resume_queue(text),
    jobs.set_queue_concurrency(text, integer),
    jobs.set_job_concurrency(text, integer) FROM PUBLIC;

-- Inside a running job: live progress, item counters and log lines.
CREATE FUNCTION jobs.progress(current bigint, total bigint DEFAULT NULL,
                              message text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'zj_progress'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION jobs.progress IS
    'Inside a job: report progress, seen at once in jobs.active and job_update (NULL total or message: unchanged)';

CREATE FUNCTION jobs.count_items(processed bigint DEFAULT 1,
                                 succeeded bigint DEFAULT 0,
                                 failed bigint DEFAULT 0)
RETURNS void
AS 'MODULE_PATHNAME', 'zj_count_items'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION jobs.count_items IS
    'Inside a job: add to the run''s item counters (processed, succeeded, failed)';

CREATE FUNCTION jobs.log(level text, message text, context jsonb DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'zj_log'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION jobs.log IS
    'Inside a job: add a line to the run''s log (kept even if the job fails); levels debug, info, notice, warning, error';

CREATE FUNCTION jobs.live_progress(
    OUT run_id bigint, OUT current bigint, OUT total bigint, OUT message text,
    OUT processed bigint, OUT succeeded bigint, OUT failed bigint,
    OUT at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'zj_live_progress'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION jobs.live_progress IS
    'Progress of the runs executing now, from shared memory (runs of roles you are a member of)';

-- Views.  Each filters on the caller's membership in the run's owner,
-- as the row-level security of jobs.runs does (a view runs as its owner),
-- and is a security barrier: the caller's own conditions, which could
-- reveal what they look at, are only applied after that filter.
CREATE VIEW jobs.active WITH (security_barrier) AS
SELECT r.id, r.name, r.queue, r.owner, r.status, r.attempt, r.priority,
       r.run_at, r.started_at,
       CASE WHEN r.status = 'running' THEN clock_timestamp() - r.started_at END AS elapsed,
       p.current AS progress_current, p.total AS progress_total,
       p.message AS progress_message,
       round(100.0 * p.current / nullif(p.total, 0), 1) AS percent,
       CASE WHEN p.total > 0 AND p.current >= p.total THEN interval '0'
            WHEN p.current > 0 AND p.total > p.current
            THEN (p.at - r.started_at) * ((p.total - p.current)::float8 / p.current)
       END AS eta,
       p.processed AS items_processed, p.succeeded AS items_succeeded,
       p.failed AS items_failed, p.at AS progress_at
  FROM jobs.runs r
  LEFT JOIN jobs.live_progress() p ON p.run_id = r.id
 WHERE r.status IN ('running', 'pending')
   AND pg_catalog.pg_has_role(current_user, r.owner, 'MEMBER');
COMMENT ON VIEW jobs.active IS
    'Running and pending runs, with live progress, percent done, estimated time left and elapsed time';

CREATE VIEW jobs.history WITH (security_barrier) AS
SELECT r.id, r.name, r.queue, r.owner, r.status, r.attempt, r.max_attempts,
       r.created_at, r.started_at, r.finished_at, r.duration,
       r.error_sqlstate, r.error_message, r.output,
       r.progress_current, r.progress_total, r.items_processed,
       r.items_succeeded, r.items_failed
  FROM jobs.runs r
 WHERE r.status IN ('completed', 'failed', 'cancelled')
   AND pg_catalog.pg_has_role(current_user, r.owner, 'MEMBER')
 ORDER BY r.finished_at DESC, r.id DESC;
COMMENT ON VIEW jobs.history IS 'Finished runs, newest first';

CREATE VIEW jobs.failures WITH (security_barrier) AS
SELECT a.run_id, r.name, r.queue, r.owner, a.attempt, a.outcome,
       a.started_at, a.finished_at, a.error_sqlstate, a.error_message,
       a.error_detail, a.error_hint, r.status AS run_status
  FROM jobs.attempts a
  JOIN jobs.runs r ON r.id = a.run_id
 WHERE pg_catalog.pg_has_role(current_user, r.owner, 'MEMBER')
 ORDER BY a.finished_at DESC, a.run_id DESC, a.attempt DESC;
COMMENT ON VIEW jobs.failures IS
    'Attempts that did not complete, with their errors, newest first';

CREATE VIEW jobs.stats WITH (security_barrier) AS
SELECT r.name,
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
       avg(r.duration) FILTER (WHERE r.status = 'completed') AS avg_duration
  FROM jobs.runs r
 WHERE pg_catalog.pg_has_role(current_user, r.owner, 'MEMBER')
 GROUP BY r.name;
COMMENT ON VIEW jobs.stats IS
    'Per job name: runs by status, finished today and in the last minute, average duration';

GRANT SELECT ON jobs.active, jobs.history, jobs.failures, jobs.stats TO PUBLIC;

-- Worker processes, read from shared memory: never stale.
CREATE FUNCTION jobs.worker_status(
    OUT pid integer, OUT role regrole, OUT state text, OUT run_id bigint,
    OUT started_at timestamptz, OUT state_since timestamptz,
    OUT last_heartbeat timestamptz, OUT runs_completed bigint,
    OUT runs_failed bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'zj_worker_status'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- A role sees workers of the roles it is a member of; pg_read_all_stats all.
CREATE VIEW jobs.workers AS SELECT * FROM jobs.worker_status();
COMMENT ON VIEW jobs.workers IS
    'zapjobs worker processes: state, current run, heartbeat and counts';
GRANT SELECT ON jobs.workers TO PUBLIC;

CREATE FUNCTION jobs.next_run(schedule text, after timestamptz,
                              timezone text DEFAULT NULL)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'zj_next_run'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION jobs.next_run IS
    'When a schedule (cron or interval) fires next, strictly after the given time, in a time zone';

-- Named job types, optionally on a schedule.  Names are one namespace; a
-- definition belongs to the role that made it, and only its members may
-- change it (row-level security).  The launcher fires schedules.
CREATE TABLE jobs.definitions (
    name            text PRIMARY KEY,
    owner           regrole NOT NULL DEFAULT current_user::regrole,
    command         text NOT NULL,
    kind            text NOT NULL DEFAULT 'sql',
    queue           text,
    priority        integer,
    max_attempts    integer,
    timeout         interval,
    max_concurrency integer CHECK (max_concurrency > 0),
    description     text,
    enabled         boolean NOT NULL DEFAULT true,
    schedule        text,
    timezone        text,
    paused          boolean NOT NULL DEFAULT false,
    next_run_at     timestamptz,
    last_run_at     timestamptz,
    last_run_id     bigint,
    last_status     text,
    skipped_ticks   bigint NOT NULL DEFAULT 0,
    last_skipped_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (name <> '' AND octet_length(name) < 64),
    CHECK (kind IN ('sql', 'shell'))
);
CREATE INDEX definitions_due_idx ON jobs.definitions (next_run_at)
    WHERE schedule IS NOT NULL AND NOT paused AND enabled;
COMMENT ON TABLE jobs.definitions IS
    'Named jobs (jobs.define) and their schedules (jobs.schedule); the launcher fires due ones';

ALTER TABLE jobs.definitions ENABLE ROW LEVEL SECURITY;
CREATE POLICY definitions_of_members ON jobs.definitions
    USING (pg_catalog.pg_has_role(current_user, owner, 'MEMBER'))
    WITH CHECK (pg_catalog.pg_has_role(current_user, owner, 'MEMBER'));
REVOKE ALL ON jobs.definitions FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs.definitions TO PUBLIC;

-- A definition's max_concurrency, as a job limit.  It only mirrors the
-- definition row (which only its owner can change), and never touches a
-- limit the DBA set with jobs.set_job_concurrency.
CREATE FUNCTION jobs._sync_definition_limit(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    SELECT d.max_concurrency INTO n FROM jobs.definitions d WHERE d.name = _sync_definition_limit.name;
    IF n IS NULL THEN
        DELETE FROM jobs.job_limits l
         WHERE l.name = _sync_definition_limit.name AND l.from_definition;
    ELSE
        INSERT INTO jobs.job_limits AS l (name, max_concurrency, from_definition)
            VALUES (_sync_definition_limit.name, n, true)
            ON CONFLICT ON CONSTRAINT job_limits_pkey DO UPDATE
            SET max_concurrency = excluded.max_concurrency, updated_at = now()
            WHERE l.from_definition;
    END IF;
    PERFORM jobs._limits_changed();
END $$;

-- Is a job name taken by a role that caller is not a member of?  (Row-level
-- security hides those rows from the caller itself.)
CREATE FUNCTION jobs._name_taken_by_other(name text, caller name) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT FROM jobs.definitions d WHERE d.name = $1
                   AND NOT pg_catalog.pg_has_role($2, d.owner, 'MEMBER'));
$$;

CREATE FUNCTION jobs.define(name text, command text, kind text DEFAULT 'sql',
                            queue text DEFAULT NULL, priority integer DEFAULT NULL,
                            max_attempts integer DEFAULT NULL, timeout interval DEFAULT NULL,
                            max_concurrency integer DEFAULT NULL,
                            description text DEFAULT NULL, enabled boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs._check_name('job name', name);
    PERFORM jobs._check_limit(max_concurrency);
    IF jobs._name_taken_by_other(name, current_user) THEN
        RAISE EXCEPTION 'job "%" is defined by another role', name
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Job names are shared by all roles: choose another name.';
    END IF;
    IF command IS NULL OR btrim(command) = '' THEN
        RAISE EXCEPTION 'command must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF kind NOT IN ('sql', 'shell') THEN
        RAISE EXCEPTION 'unknown job kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The kinds are ''sql'' and ''shell''.';
    END IF;
    IF queue IS NOT NULL THEN
        PERFORM jobs._check_name('queue name', queue);
    END IF;
    IF max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 1000, not %', max_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF timeout <= interval '0' OR timeout > interval '24 days' THEN
        RAISE EXCEPTION 'timeout must be positive and at most 24 days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF kind = 'shell' AND NOT (current_setting('zapjobs.shell_enabled')::boolean
                               AND pg_catalog.pg_has_role(current_user, 'pg_execute_server_program', 'USAGE')) THEN
        RAISE EXCEPTION 'permission denied to define shell jobs'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only superusers and members of pg_execute_server_program may run shell jobs, and only while zapjobs.shell_enabled is on.';
    END IF;
    INSERT INTO jobs.definitions AS d (name, command, kind, queue, priority, max_attempts,
                                       timeout, max_concurrency, description, enabled)
        VALUES (define.name, define.command, define.kind, define.queue, define.priority,
                define.max_attempts, define.timeout, define.max_concurrency,
                define.description, define.enabled)
        ON CONFLICT ON CONSTRAINT definitions_pkey DO UPDATE
        SET command = excluded.command, kind = excluded.kind, queue = excluded.queue,
            priority = excluded.priority, max_attempts = excluded.max_attempts,
            timeout = excluded.timeout, max_concurrency = excluded.max_concurrency,
            description = excluded.description, enabled = excluded.enabled,
            updated_at = now();
    PERFORM jobs._sync_definition_limit(name);
END $$;
COMMENT ON FUNCTION jobs.define IS 'Create or update a named job (owned by current_user)';

CREATE FUNCTION jobs.trigger(name text, input jsonb DEFAULT NULL,
                             queue text DEFAULT NULL, priority integer DEFAULT NULL,
                             run_at timestamptz DEFAULT NULL,
                             max_attempts integer DEFAULT NULL,
                             timeout interval DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
-- No SET search_path: jobs.enqueue records the caller's for the run.
DECLARE
    d jobs.definitions;
BEGIN
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
COMMENT ON FUNCTION jobs.trigger IS
    'Enqueue a run of a named job, with its settings unless given here';

CREATE FUNCTION jobs.drop(name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM jobs.definitions d WHERE d.name = drop.name;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM jobs._sync_definition_limit(name);
    RETURN true;
END $$;
COMMENT ON FUNCTION jobs.drop IS 'Remove a named job and its schedule';

-- Same argument order as pg_cron's cron.schedule(job_name, schedule, command).
CREATE FUNCTION jobs.schedule(name text, schedule text, command text,
                              timezone text DEFAULT NULL, kind text DEFAULT 'sql',
                              queue text DEFAULT NULL, priority integer DEFAULT NULL,
                              max_attempts integer DEFAULT NULL, timeout interval DEFAULT NULL,
                              max_concurrency integer DEFAULT NULL,
                              description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_name text := $1;
    v_schedule text := $2;
    v_timezone text := $4;
    first_run timestamptz;
BEGIN
    -- Also checks the expression and the time zone (errors say where).
    first_run := jobs.next_run(v_schedule, now(),
                               coalesce(v_timezone, current_setting('zapjobs.timezone')));
    IF first_run IS NULL THEN
        RAISE EXCEPTION 'schedule "%" never fires', v_schedule
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Check the day of month against the month (February has no 30th).';
    END IF;
    PERFORM jobs.define(v_name, $3, $5, $6, $7, $8, $9, $10, $11, true);
    UPDATE jobs.definitions d
       SET schedule = v_schedule, timezone = v_timezone,
           paused = false, next_run_at = first_run, updated_at = now()
     WHERE d.name = v_name;
    PERFORM jobs._schedules_changed();
END $$;
COMMENT ON FUNCTION jobs.schedule IS
    'Run a command on a schedule (cron or interval), as pg_cron''s cron.schedule does';

CREATE FUNCTION jobs.unschedule(name text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT jobs.drop(name);
$$;
COMMENT ON FUNCTION jobs.unschedule IS 'Remove a scheduled job (as pg_cron''s cron.unschedule)';

CREATE FUNCTION jobs.pause(name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE jobs.definitions d SET paused = true, updated_at = now()
     WHERE d.name = pause.name;
    RETURN FOUND;
END $$;
COMMENT ON FUNCTION jobs.pause IS 'Stop firing a schedule until jobs.resume()';

CREATE FUNCTION jobs.resume(name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE jobs.definitions d
       SET paused = false, updated_at = now(),
           next_run_at = CASE WHEN d.schedule IS NULL THEN NULL
                              ELSE jobs.next_run(d.schedule, now(), coalesce(d.timezone, current_setting('zapjobs.timezone'))) END
     WHERE d.name = resume.name;
    PERFORM jobs._schedules_changed();
    RETURN FOUND;
END $$;
COMMENT ON FUNCTION jobs.resume IS 'Fire a paused schedule again, from its next tick';

-- Wakes the launcher when the current transaction commits.
CREATE FUNCTION jobs._schedules_changed() RETURNS void
AS 'MODULE_PATHNAME', 'zj_schedules_changed'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Runs and logs are user data: keep them in dumps.
SELECT pg_catalog.pg_extension_config_dump('jobs.runs', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.logs', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.logs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.attempts', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.queues', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.job_limits', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.definitions', '');
