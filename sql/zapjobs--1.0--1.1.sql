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
            OR coalesce(NEW.timezone, current_setting('zapjobs.timezone')) IS DISTINCT FROM OLD.timezone
            OR NEW.next_run_at IS NULL;
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
                        OLD.schedule, OLD.timezone, OLD.next_run_at IS NULL)
                       IS DISTINCT FROM
                       (NEW.name, NEW.owner, NEW.command, NEW.kind, NEW.queue, NEW.priority,
                        NEW.max_attempts, NEW.timeout, NEW.max_concurrency, NEW.enabled,
                        NEW.schedule, NEW.timezone, NEW.next_run_at IS NULL))
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
            next_run_at = NULL;
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
