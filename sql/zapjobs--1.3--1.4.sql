-- zapjobs 1.3 -> 1.4, for users coming from pg_cron: the @reboot schedule
-- (it has no next time of its own, jobs.next_run gives NULL, and falls due
-- once after each server start, so a definition with it is no longer
-- refused as "never fires"), and a role deleting its own finished runs.
\echo Use "ALTER EXTENSION zapjobs UPDATE TO '1.4'" to load this file. \quit

CREATE OR REPLACE FUNCTION jobs._definition_check() RETURNS trigger
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
        -- @reboot has no time: it falls due once after each server start.
        IF first_run IS NULL AND lower(btrim(NEW.schedule)) <> '@reboot' THEN
            RAISE EXCEPTION 'schedule "%" never fires', NEW.schedule
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Check the day of month against the month (February has no 30th).';
        END IF;
        NEW.next_run_at := first_run;
    END IF;
    RETURN NEW;
END $$;

-- A role may delete its own finished runs from the history (with their
-- logs, attempts and edges), as pg_cron users do with DELETE FROM
-- cron.job_run_details.  Not a run an unfinished run still waits on or
-- will read (jobs.parent_outputs), as retention knows too.  Unfinished
-- runs are ended with jobs.cancel, not deleted.  A policy on jobs.runs
-- cannot query jobs.runs itself (infinite recursion): a function can, with
-- the caller's rights, so it sees what the caller sees and nothing more.
CREATE FUNCTION jobs.needed_by_unfinished(run_id bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN EXISTS (SELECT FROM jobs.dependencies d JOIN jobs.runs c ON c.id = d.run_id
                    WHERE d.parent_id = needed_by_unfinished.run_id
                      AND c.status NOT IN ('completed', 'failed', 'cancelled'));
END $$;
COMMENT ON FUNCTION jobs.needed_by_unfinished(bigint) IS
    'Does an unfinished run (that you may see) wait on or read this run?';

CREATE POLICY runs_owner_deletes_finished ON jobs.runs FOR DELETE
    USING (pg_catalog.pg_has_role(current_user, owner, 'MEMBER')
           AND status IN ('completed', 'failed', 'cancelled')
           AND NOT jobs.needed_by_unfinished(id));
GRANT DELETE ON jobs.runs TO PUBLIC;
