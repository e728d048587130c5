-- zapjobs_cron 1.0: pg_cron's SQL interface (schema cron) on zapjobs'
-- scheduler, so that a pg_cron user moves over without rewriting scripts.
-- A pg_cron job is a zapjobs definition named 'cron job <jobid>': cron.job
-- and cron.job_run_details are views of jobs.definitions and jobs.runs, so
-- there is one copy of everything (a dump, retention and row-level security
-- treat cron jobs as any other definition and run).
\echo Use "CREATE EXTENSION zapjobs_cron" to load this file. \quit

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
        RAISE EXCEPTION 'zapjobs_cron cannot be installed where pg_cron is installed'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Both provide schema cron; two schedulers would run the same jobs.',
                  HINT = 'Move the jobs of cron.job over (see the zapjobs README, "Coming from pg_cron"), DROP EXTENSION pg_cron, then CREATE EXTENSION zapjobs_cron.';
    END IF;
END $$;

CREATE SCHEMA cron;
COMMENT ON SCHEMA cron IS 'pg_cron''s interface, provided by zapjobs_cron; GRANT USAGE to the roles that schedule';

CREATE SEQUENCE cron.jobid_seq;
-- Every schedule call takes an id, as in pg_cron.
GRANT SELECT, USAGE ON SEQUENCE cron.jobid_seq TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('cron.jobid_seq', '');

-- The definition behind a job, and back.
CREATE FUNCTION cron._name(job_id bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'cron job ' || job_id::text;
$$;

CREATE FUNCTION cron._jobid(name text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN name ~ '^cron job [1-9][0-9]{0,17}$' THEN substr(name, 10)::bigint END;
$$;

-- A job that runs in another database (cron.schedule_in_database): its
-- definition's command is CALL cron._run_in_database(database, command),
-- which executes the job's command there.  Views read both back from it
-- (quote_literal's quoting undone), so every run keeps what it ran where.
-- Whom pg_cron's rules let run what elsewhere: written only by
-- cron._authorize_remote (see src/remote.c), read by cron._run_in_database,
-- which runs nothing else.
CREATE TABLE cron._remote (
    name     text PRIMARY KEY
             REFERENCES jobs.definitions (name) ON DELETE CASCADE ON UPDATE CASCADE,
    owner    regrole NOT NULL,
    database text NOT NULL,
    command  text NOT NULL
);
REVOKE ALL ON cron._remote FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('cron._remote', '');

CREATE FUNCTION cron._authorize_remote(name text, database text, command text, owner regrole)
RETURNS void
AS '$libdir/zapjobs', 'zj_remote_authorize'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE PROCEDURE cron._run_in_database(database text, command text)
AS '$libdir/zapjobs', 'zj_remote_run'
LANGUAGE C;
COMMENT ON PROCEDURE cron._run_in_database(text, text) IS
    'Run a job''s command in another database, as its owner (only in a run of a job of cron.schedule_in_database)';

CREATE FUNCTION cron._unquote(quoted text, e text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN e = 'E' THEN replace(replace(quoted, '''''', ''''), chr(92) || chr(92), chr(92))
                ELSE replace(quoted, '''''', '''') END;
$$;

CREATE FUNCTION cron._unwrap(wrapped text, OUT database text, OUT command text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT cron._unquote(m[2], m[1]), cron._unquote(m[4], m[3])
      FROM (SELECT regexp_match(wrapped,
              '^CALL cron[.]_run_in_database[(](E?)''((?:[^'']|'''')*)'', (E?)''((?:[^'']|'''')*)''[)]$') AS m) s;
$$;

-- pg_cron's columns, in its order.
CREATE VIEW cron.job WITH (security_invoker = true) AS
SELECT cron._jobid(d.name) AS jobid,
       d.schedule,
       coalesce(u.command, d.command) AS command,
       'localhost'::text AS nodename,
       pg_catalog.current_setting('port')::integer AS nodeport,
       coalesce(u.database, pg_catalog.current_database()::text) AS database,
       pg_catalog.pg_get_userbyid(d.owner)::text AS username,
       d.enabled AND NOT d.paused AS active,
       d.description AS jobname
  FROM jobs.definitions d, LATERAL cron._unwrap(d.command) u
 WHERE cron._jobid(d.name) IS NOT NULL;
COMMENT ON VIEW cron.job IS 'pg_cron''s cron.job: the zapjobs definitions named ''cron job <jobid>''';
GRANT SELECT ON cron.job TO PUBLIC;

-- pg_cron's status words: starting (not started yet), running, succeeded,
-- failed (a cancelled run too).
CREATE VIEW cron.job_run_details WITH (security_invoker = true) AS
SELECT cron._jobid(r.name) AS jobid,
       r.id AS runid,
       r.worker_pid AS job_pid,
       coalesce(u.database, pg_catalog.current_database()::text) AS database,
       pg_catalog.pg_get_userbyid(r.owner)::text AS username,
       coalesce(u.command, r.command) AS command,
       CASE r.status WHEN 'running' THEN 'running'
                     WHEN 'completed' THEN 'succeeded'
                     WHEN 'failed' THEN 'failed'
                     WHEN 'cancelled' THEN 'failed'
                     ELSE 'starting' END AS status,
       CASE WHEN r.status = 'completed' THEN coalesce(r.output #>> '{}', 'completed')
            WHEN r.status IN ('failed', 'cancelled') THEN r.error_message END AS return_message,
       r.started_at AS start_time,
       r.finished_at AS end_time
  FROM jobs.runs r, LATERAL cron._unwrap(r.command) u
 WHERE cron._jobid(r.name) IS NOT NULL;
COMMENT ON VIEW cron.job_run_details IS
    'pg_cron''s cron.job_run_details: the runs of cron jobs (finished ones can be deleted)';
GRANT SELECT, DELETE ON cron.job_run_details TO PUBLIC;

-- DELETE FROM cron.job_run_details deletes the runs, under jobs.runs'
-- row-level security (a role's own runs), and only finished ones that no
-- unfinished run needs, for a superuser too: the others are the queue.
CREATE FUNCTION cron._delete_run_details() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM jobs.runs r WHERE r.id = OLD.runid
       AND r.status IN ('completed', 'failed', 'cancelled')
       AND NOT jobs.needed_by_unfinished(r.id);
    RETURN CASE WHEN FOUND THEN OLD END;
END $$;
CREATE TRIGGER job_run_details_delete INSTEAD OF DELETE ON cron.job_run_details
    FOR EACH ROW EXECUTE FUNCTION cron._delete_run_details();

-- pg_cron's checks, in its words.  Its language: 5 cron fields (with $ for
-- the last day of the month), a macro (@restart too), or '[1-59] seconds';
-- zapjobs' own intervals ('5 minutes', 'every 2 hours') are for jobs.schedule.
CREATE FUNCTION cron._check_schedule(schedule text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s text := btrim(schedule);
    why text;
BEGIN
    IF lower(s) IN ('@reboot', '@restart') THEN
        RETURN;
    END IF;
    IF s LIKE '@%' OR array_length(regexp_split_to_array(s, '[[:space:]]+'), 1) = 5 THEN
        PERFORM jobs.next_run(schedule, now(), 'UTC');
    ELSIF s !~* '^([1-9]|[1-5][0-9])[[:space:]]+seconds?$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value';
    END IF;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS why = PG_EXCEPTION_DETAIL;
    RAISE EXCEPTION 'invalid schedule: %', schedule
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = coalesce(nullif(why, ''), 'pg_cron''s schedules are 5 cron fields, a macro such as @daily, or 1 to 59 seconds.'),
              HINT = 'Use cron format (e.g. 5 4 * * *), or interval format ''[1-59] seconds''';
END $$;

-- The role a job runs as; it must log in and connect, as in pg_cron.
CREATE FUNCTION cron._check_user(username text, database text) RETURNS regrole
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r pg_roles;
BEGIN
    SELECT * INTO r FROM pg_roles WHERE rolname = username;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', username USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT r.rolcanlogin THEN
        RAISE EXCEPTION 'role "%" can not log in', username
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'Jobs may only be run by roles that have the LOGIN attribute.';
    END IF;
    IF database IS NOT NULL THEN
        IF NOT EXISTS (SELECT FROM pg_database WHERE datname = database) THEN
            RAISE EXCEPTION 'database "%" does not exist', database
                USING ERRCODE = 'invalid_catalog_name';
        END IF;
        IF NOT has_database_privilege(r.oid, database, 'CONNECT') THEN
            RAISE EXCEPTION 'User % does not have CONNECT privilege on %', username, database
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    RETURN r.oid::regrole;
END $$;

-- The definition's command for a job's command in database.
CREATE FUNCTION cron._command(database text, command text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN database = current_database() THEN command
                ELSE format('CALL cron._run_in_database(%L, %L)', database, command) END;
$$;

-- A job's owner reaches cron._run_in_database through schema cron, as
-- pg_cron's users need it to schedule.
CREATE FUNCTION cron._check_remote(database text, owner regrole) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF database = current_database() THEN
        RETURN;
    END IF;
    IF NOT has_schema_privilege(owner, 'cron', 'USAGE') THEN
        RAISE EXCEPTION 'role "%" cannot run a job in another database without USAGE on schema cron',
                        pg_get_userbyid(owner)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT USAGE ON SCHEMA cron TO %s;', owner);
    END IF;
    IF (SELECT encoding FROM pg_database WHERE datname = database)
       <> pg_char_to_encoding(getdatabaseencoding()) THEN
        RAISE EXCEPTION 'database "%" has another encoding than this one', database
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Schedule the job from a database with the same encoding.';
    END IF;
END $$;

-- pg_cron's settings as the server has them: a session cannot SET them
-- (reload context), unless nothing defined them and they are placeholders,
-- which are ignored.
CREATE FUNCTION cron._setting(name text, otherwise text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT s.setting FROM pg_settings s WHERE s.name = _setting.name
                      AND s.context IN ('sighup', 'postmaster')), otherwise);
$$;

-- What they say for a job: its time zone, and how long its finished runs
-- stay (cron.log_run = off: until retention's next pass).
CREATE FUNCTION cron._timezone() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT cron._setting('cron.timezone', 'GMT');
$$;

CREATE FUNCTION cron._keep() RETURNS interval
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN cron._setting('cron.log_run', 'on')::boolean
                THEN NULL ELSE interval '1 second' END;
$$;

-- pg_cron's @restart is zapjobs' @reboot.
CREATE FUNCTION cron._schedule_text(schedule text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN lower(btrim(schedule)) = '@restart' THEN '@reboot' ELSE schedule END;
$$;

-- Create a job, or (by name, for its user) change its schedule and command.
-- A job runs once per tick: one attempt, no timeout of its own (zapjobs'
-- longest, 24 days), in queue cron, until changed with the zapjobs API.
CREATE FUNCTION cron._schedule(job_name text, schedule text, command text,
                               database text, username text, active boolean)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job_owner regrole;
    id bigint;
    fresh bigint;
BEGIN
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'schedule can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF command IS NULL THEN
        RAISE EXCEPTION 'command can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF username <> current_user AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'must be superuser to create a job for another role'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM cron._check_schedule(schedule);
    job_owner := cron._check_user(username, database);
    PERFORM cron._check_remote(database, job_owner);
    -- As pg_cron's INSERT ... ON CONFLICT, every call takes an id (one no
    -- definition has taken: names are shared by all roles).
    fresh := nextval('cron.jobid_seq');
    WHILE cron._job_exists(fresh) LOOP
        fresh := nextval('cron.jobid_seq');
    END LOOP;
    IF job_name IS NOT NULL THEN
        -- (jobname, username) is pg_cron's unique key: one writer at a time.
        PERFORM pg_advisory_xact_lock(hashtext('zapjobs_cron'), hashtext(username || '/' || job_name));
        SELECT j.jobid INTO id FROM cron.job j
         WHERE j.jobname = job_name AND j.username = _schedule.username;
    END IF;
    IF id IS NULL THEN
        INSERT INTO jobs.definitions (name, owner, command, schedule, timezone, queue,
                                      max_attempts, timeout, description, paused,
                                      keep_completed, keep_failed)
            VALUES (cron._name(fresh), job_owner, cron._command(database, command),
                    cron._schedule_text(schedule), cron._timezone(), 'cron', 1,
                    interval '24 days', job_name, NOT coalesce(active, true),
                    cron._keep(), cron._keep());
        id := fresh;
    ELSE
        UPDATE jobs.definitions d
           SET command = cron._command(_schedule.database, _schedule.command),
               schedule = cron._schedule_text(_schedule.schedule)
         WHERE d.name = cron._name(id);
    END IF;
    PERFORM cron._authorize_remote(cron._name(id), database, command, job_owner);
    PERFORM cron._apply_settings();
    RETURN id;
END $$;

CREATE FUNCTION cron.schedule(schedule text, command text) RETURNS bigint
LANGUAGE sql STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT cron._schedule(NULL, $1, $2, current_database(), current_user, true);
$$;
COMMENT ON FUNCTION cron.schedule(text, text) IS 'schedule a pg_cron job';

CREATE FUNCTION cron.schedule(job_name text, schedule text, command text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF job_name IS NULL THEN
        RAISE EXCEPTION 'job_name can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN cron._schedule(job_name, schedule, command, current_database(), current_user, true);
END $$;
COMMENT ON FUNCTION cron.schedule(text, text, text) IS 'schedule a pg_cron job';

CREATE FUNCTION cron.schedule_in_database(job_name text, schedule text, command text,
                                          database text, username text DEFAULT NULL,
                                          active boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF job_name IS NULL THEN
        RAISE EXCEPTION 'job_name can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF username IS NOT NULL AND username <> current_user
       AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'must be superuser to create a job for another role'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN cron._schedule(job_name, schedule, command, coalesce(database, current_database()),
                          coalesce(username, current_user), active);
END $$;
COMMENT ON FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean)
    IS 'schedule a pg_cron job';
-- As in pg_cron, the DBA decides who may: GRANT EXECUTE.
REVOKE ALL ON FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean) FROM PUBLIC;

-- Row-level security on jobs.definitions hides other roles' jobs; as in
-- pg_cron, unscheduling one says "permission denied", not "no such job".
CREATE FUNCTION cron._job_exists(job_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT FROM jobs.definitions d WHERE d.name = cron._name(job_id));
$$;

CREATE FUNCTION cron.unschedule(job_id bigint) RETURNS boolean
LANGUAGE plpgsql STRICT SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM jobs.definitions d WHERE d.name = cron._name(job_id);
    IF NOT FOUND AND cron._job_exists(job_id) THEN
        RAISE EXCEPTION 'permission denied for table job' USING ERRCODE = 'insufficient_privilege';
    ELSIF NOT FOUND THEN
        RAISE EXCEPTION 'could not find valid entry for job %', job_id
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN true;
END $$;
COMMENT ON FUNCTION cron.unschedule(bigint) IS 'unschedule a pg_cron job';

CREATE FUNCTION cron.unschedule(job_name text) RETURNS boolean
LANGUAGE plpgsql STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id bigint;
BEGIN
    IF job_name IS NULL THEN
        RAISE EXCEPTION 'job_name can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT j.jobid INTO id FROM cron.job j
     WHERE j.jobname = job_name AND j.username = current_user;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'could not find valid entry for job ''%''', job_name
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN cron.unschedule(id);
END $$;
COMMENT ON FUNCTION cron.unschedule(text) IS 'unschedule a pg_cron job';

CREATE FUNCTION cron.alter_job(job_id bigint, schedule text DEFAULT NULL,
                               command text DEFAULT NULL, database text DEFAULT NULL,
                               username text DEFAULT NULL, active boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_owner regrole;
    d jobs.definitions;
    cur cron.job;
    db text;
    cmd text;
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job_id can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF username IS NOT NULL AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'must be superuser to alter username' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF username IS NOT NULL OR database IS NOT NULL THEN
        new_owner := cron._check_user(coalesce(username, current_user), database);
    END IF;
    IF schedule IS NOT NULL THEN
        PERFORM cron._check_schedule(schedule);
    END IF;
    IF num_nonnulls(schedule, command, database, username, active) = 0 THEN
        RAISE EXCEPTION 'no updates specified' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'You must specify at least one job attribute to change when calling alter_job';
    END IF;
    SELECT * INTO d FROM jobs.definitions j WHERE j.name = cron._name(job_id) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'Job % does not exist or you don''t own it', job_id
            USING ERRCODE = 'undefined_object';
    END IF;
    SELECT * INTO cur FROM cron.job c WHERE c.jobid = job_id;
    db := coalesce(database, cur.database);
    cmd := coalesce(command, cur.command);
    IF username IS NULL THEN
        -- The job's owner is who connects there: pg_cron checks the caller.
        new_owner := d.owner;
        IF database IS NOT NULL THEN
            PERFORM cron._check_user(pg_get_userbyid(new_owner), database);
        END IF;
    END IF;
    PERFORM cron._check_remote(db, new_owner);
    UPDATE jobs.definitions j
       SET schedule = coalesce(cron._schedule_text(alter_job.schedule), j.schedule),
           command = cron._command(db, cmd),
           owner = new_owner,
           paused = coalesce(NOT alter_job.active, j.paused),
           enabled = j.enabled OR coalesce(alter_job.active, false),
           next_run_at = CASE WHEN j.paused AND alter_job.active AND alter_job.schedule IS NULL
                              THEN jobs.next_run(j.schedule, now(), j.timezone)
                              ELSE j.next_run_at END
     WHERE j.name = d.name;
    PERFORM cron._authorize_remote(d.name, db, cmd, new_owner);
    PERFORM cron._apply_settings();
END $$;
COMMENT ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean)
    IS 'Alter the job identified by job_id. Any option left as NULL will not be modified.';
REVOKE ALL ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean) FROM PUBLIC;

-- Writes to cron.job, as pg_cron's DBAs make them: UPDATE ... SET active,
-- DELETE ... WHERE jobid.  (pg_cron grants these to nobody but its owner.)
CREATE FUNCTION cron._write_job() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.jobid := cron._schedule(NEW.jobname, NEW.schedule, NEW.command,
                                    coalesce(NEW.database, current_database()),
                                    coalesce(NEW.username, current_user),
                                    coalesce(NEW.active, true));
        RETURN NEW;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM cron.unschedule(OLD.jobid);
        RETURN OLD;
    END IF;
    IF NEW.jobid <> OLD.jobid OR NEW.jobname IS DISTINCT FROM OLD.jobname THEN
        RAISE EXCEPTION 'a job''s id and name cannot be changed'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Unschedule the job and schedule it again under the new name.';
    END IF;
    IF (NEW.schedule, NEW.command, NEW.database, NEW.username, NEW.active)
       IS NOT DISTINCT FROM (OLD.schedule, OLD.command, OLD.database, OLD.username, OLD.active) THEN
        RETURN NEW;
    END IF;
    PERFORM cron.alter_job(OLD.jobid,
        nullif(NEW.schedule, OLD.schedule), nullif(NEW.command, OLD.command),
        nullif(NEW.database, OLD.database), nullif(NEW.username, OLD.username),
        nullif(NEW.active, OLD.active));
    RETURN NEW;
END $$;
CREATE TRIGGER job_write INSTEAD OF INSERT OR UPDATE OR DELETE ON cron.job
    FOR EACH ROW EXECUTE FUNCTION cron._write_job();

-- pg_cron's settings, applied to every cron job: by the launcher at its
-- start and after each configuration reload, and when a job is scheduled
-- (not at CREATE EXTENSION: a restore brings queue cron with its data).
-- cron.max_running_jobs is the concurrency of queue cron.  Anyone may call
-- it: it only applies what the server's configuration says.
CREATE FUNCTION cron._apply_settings() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    most integer := cron._setting('cron.max_running_jobs', '32')::integer;
    tz text := cron._timezone();
    keep interval := cron._keep();
    job text;
BEGIN
    IF (SELECT q.max_concurrency FROM jobs.queues q WHERE q.name = 'cron') IS DISTINCT FROM most THEN
        PERFORM jobs.set_queue_concurrency('cron', most);
    END IF;
    -- Retention only where log_run set it, not what a user set with
    -- zapjobs.  One job at a time: a job whose owner can no longer run it
    -- (its checks refuse the write) must not hold up the others.
    FOR job IN SELECT d.name FROM jobs.definitions d
                WHERE cron._jobid(d.name) IS NOT NULL
                  AND (d.timezone IS DISTINCT FROM tz
                       OR ((d.keep_completed, d.keep_failed) IS DISTINCT FROM (keep, keep)
                           AND coalesce(d.keep_completed, interval '1 second') = interval '1 second'
                           AND coalesce(d.keep_failed, interval '1 second') = interval '1 second'))
    LOOP
        BEGIN
            UPDATE jobs.definitions d
               SET timezone = tz,
                   keep_completed = CASE WHEN coalesce(d.keep_completed, interval '1 second') = interval '1 second'
                                         THEN keep ELSE d.keep_completed END,
                   keep_failed = CASE WHEN coalesce(d.keep_failed, interval '1 second') = interval '1 second'
                                      THEN keep ELSE d.keep_failed END
             WHERE d.name = job;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'zapjobs_cron: pg_cron''s settings not applied to "%": %', job, SQLERRM;
        END;
    END LOOP;
END $$;
