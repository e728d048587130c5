-- zapjobs 1.3 -> 1.4: the @reboot schedule (as in pg_cron): it has no next
-- time of its own (jobs.next_run gives NULL) and falls due once after each
-- server start, so a definition with it is no longer refused as "never
-- fires".
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
