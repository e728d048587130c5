-- zapjobs 1.0: job runs, their logs, and the functions to enqueue and wait.
\echo Use "CREATE EXTENSION zapjobs" to load this file. \quit

-- One row per run.  Only zapjobs itself writes here (through jobs.enqueue
-- and its workers); users read their own rows through row-level security.
-- Values are checked by zapjobs' C code before they are written: CHECK
-- constraints and generated columns would be re-read from the catalog by
-- every UPDATE of the hot path.  status is one of scheduled, pending,
-- running, completed, failed, cancelled, awaiting_retry; kind sql or shell;
-- duration is finished_at - started_at.
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
    max_attempts     integer NOT NULL DEFAULT 1,
    timeout          interval NOT NULL,
    worker_pid       integer,
    worker_epoch     bigint,
    error_sqlstate   text,
    error_message    text,
    error_detail     text,
    error_hint       text,
    error_context    text,
    progress_current bigint,
    progress_total   bigint,
    progress_message text
);

COMMENT ON TABLE jobs.runs IS 'One row per job run; see the zapjobs README for the status life cycle';
COMMENT ON COLUMN jobs.runs.owner IS 'Role that enqueued the run; the job runs in a session of this role';
COMMENT ON COLUMN jobs.runs.worker_epoch IS 'Identifies the server lifetime of the worker that claimed the run';

-- The claim path: next pending run of a role by priority, run_at, id.  The
-- launcher also reads distinct owners of pending runs off this index.
CREATE INDEX runs_claim_idx ON jobs.runs (owner, priority, run_at, id)
    WHERE status = 'pending';
-- Scheduled runs by due time, for promotion to pending.
CREATE INDEX runs_scheduled_idx ON jobs.runs (run_at) WHERE status = 'scheduled';
-- Running runs, for the reaper.
CREATE INDEX runs_running_idx ON jobs.runs (id) WHERE status = 'running';

-- Log lines of runs (written from the live-progress work on).
CREATE TABLE jobs.logs (
    id       bigserial PRIMARY KEY,
    run_id   bigint NOT NULL REFERENCES jobs.runs (id) ON DELETE CASCADE,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    level    text NOT NULL,
    message  text NOT NULL,
    context  jsonb
);
CREATE INDEX logs_run_idx ON jobs.logs (run_id, id);

-- A role sees the runs of the roles it is a member of (its own included).
ALTER TABLE jobs.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_visible_to_owner ON jobs.runs FOR SELECT
    USING (pg_catalog.pg_has_role(current_user, owner, 'MEMBER'));
ALTER TABLE jobs.logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY logs_visible_to_owner ON jobs.logs FOR SELECT
    USING (EXISTS (SELECT 1 FROM jobs.runs r WHERE r.id = run_id));

REVOKE ALL ON jobs.runs, jobs.logs FROM PUBLIC;
GRANT SELECT ON jobs.runs, jobs.logs TO PUBLIC;
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
    kind         text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'zj_enqueue'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION jobs.enqueue IS
    'Enqueue a job run owned by current_user; returns its id at once';

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

-- Runs and logs are user data: keep them in dumps.
SELECT pg_catalog.pg_extension_config_dump('jobs.runs', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.logs', '');
SELECT pg_catalog.pg_extension_config_dump('jobs.logs_id_seq', '');
