-- Definitions and schedules (1.1): every write is checked, whoever makes it;
-- role names that need quoting; re-scheduling keeps what it is not given;
-- owners that could never run a schedule; time zones; interval arithmetic;
-- answers that tell nothing about other roles; internal helpers.
SET timezone = 'UTC';
SET zapjobs.timezone = 'UTC';

-- Role names that need quoting (upper case, quotes, spaces, unicode, 63
-- bytes), and a lower-case namesake that must not be taken for one.
CREATE ROLE "CaseOwner" LOGIN;
CREATE ROLE caseowner LOGIN;
CREATE ROLE "Weird ""Role"" ünï" LOGIN;
CREATE ROLE "with space" LOGIN;
CREATE ROLE "R23456789012345678901234567890123456789012345678901234567890123" LOGIN;
SELECT octet_length(rolname) FROM pg_roles WHERE rolname LIKE 'R2345%';

SET ROLE "CaseOwner";
SELECT jobs.define('case_def', 'SELECT current_user AS who');
SELECT jobs.trigger('case_def') AS t \gset
SELECT jobs.schedule('case_sched', '@hourly', 'SELECT 1');
SELECT jobs.pause('case_sched'), jobs.resume('case_sched');
RESET ROLE;
SELECT jobs.wait(:t, timeout => '60 s');
SELECT output FROM jobs.runs WHERE id = :t;
SET ROLE "Weird ""Role"" ünï";
SELECT jobs.define('weird_def', 'SELECT current_user AS who');
SELECT jobs.trigger('weird_def') AS t \gset
SELECT jobs.schedule('weird_sched', 'every 1 hour', 'SELECT 1');
SELECT jobs.pause('weird_sched'), jobs.resume('weird_sched');
RESET ROLE;
SELECT jobs.wait(:t, timeout => '60 s');
SELECT output FROM jobs.runs WHERE id = :t;
SET ROLE "with space";
SELECT jobs.schedule('space_sched', '0 3 * * *', 'SELECT 1');
RESET ROLE;
SET ROLE "R23456789012345678901234567890123456789012345678901234567890123";
SELECT jobs.schedule('long_sched', '0 3 * * *', 'SELECT 1');
SELECT jobs.trigger('long_sched') AS t \gset
RESET ROLE;
SELECT jobs.wait(:t, timeout => '60 s');
SELECT name, owner, schedule IS NOT NULL AS scheduled FROM jobs.definitions ORDER BY name;
-- Each sees its own and may drop it; the namesake sees nothing of "CaseOwner".
SET ROLE caseowner;
SELECT count(*) AS visible FROM jobs.definitions;
SELECT jobs.define('case_def', 'SELECT 666');
SELECT jobs.drop('case_def'), jobs.pause('case_sched'), jobs.resume('case_sched');
RESET ROLE;
SET ROLE "CaseOwner";
SELECT jobs.drop('case_def'), jobs.unschedule('case_sched');
RESET ROLE;

-- Direct writes are checked like jobs.define's and jobs.schedule's.
CREATE ROLE zj_def_plain LOGIN;
SET ROLE zj_def_plain;
INSERT INTO jobs.definitions (name, command, kind, schedule)
    VALUES ('sneaky_shell', 'id', 'shell', '@hourly');
INSERT INTO jobs.definitions (name, command, schedule) VALUES ('bad_sched', 'SELECT 1', 'not a schedule');
INSERT INTO jobs.definitions (name, command, schedule) VALUES ('never', 'SELECT 1', '0 0 30 2 *');
INSERT INTO jobs.definitions (name, command, timeout) VALUES ('slow', 'SELECT 1', '30 days');
INSERT INTO jobs.definitions (name, command, max_attempts) VALUES ('many', 'SELECT 1', 0);
INSERT INTO jobs.definitions (name, command) VALUES ('', 'SELECT 1');
INSERT INTO jobs.definitions (name, command) VALUES ('empty', '  ');
INSERT INTO jobs.definitions (name, command, schedule, max_concurrency)
    VALUES ('direct', 'SELECT 1', '0 3 * * *', 2);
SELECT name, timezone, next_run_at = jobs.next_run('0 3 * * *', now(), 'UTC') AS next_right
  FROM jobs.definitions WHERE name = 'direct';
UPDATE jobs.definitions SET schedule = 'not a schedule' WHERE name = 'direct';
UPDATE jobs.definitions SET kind = 'shell', command = 'id' WHERE name = 'direct';
BEGIN;
UPDATE jobs.definitions SET schedule = '30 4 * * *' WHERE name = 'direct';
SELECT next_run_at = jobs.next_run('30 4 * * *', now(), 'UTC') AS next_follows FROM jobs.definitions
 WHERE name = 'direct';
COMMIT;
UPDATE jobs.definitions SET timezone = 'Asia/Tokyo' WHERE name = 'direct';
SELECT to_char(next_run_at AT TIME ZONE 'Asia/Tokyo', 'HH24:MI') AS tokyo FROM jobs.definitions
 WHERE name = 'direct';
RESET ROLE;
-- A direct write's max_concurrency is a job limit, as jobs.define's is.
SELECT name, max_concurrency, from_definition FROM jobs.job_limits WHERE name = 'direct';
SET ROLE zj_def_plain;
DELETE FROM jobs.definitions WHERE name = 'direct';
RESET ROLE;
SELECT count(*) AS limit_left FROM jobs.job_limits WHERE name = 'direct';

-- Re-scheduling keeps what it is not given, and whether it is paused.
SELECT jobs.schedule('keep', '@hourly', 'SELECT 1', queue => 'q1', priority => 3,
                     max_attempts => 2, timeout => '5 min', max_concurrency => 2,
                     description => 'kept', timezone => 'Europe/Paris');
SELECT jobs.pause('keep');
SELECT jobs.schedule('keep', '@daily', 'SELECT 2');
SELECT schedule, command, queue, priority, max_attempts, timeout, max_concurrency,
       description, timezone, paused, enabled FROM jobs.definitions WHERE name = 'keep';
SELECT jobs.schedule('keep', '@daily', 'SELECT 2', queue => 'q2', timezone => 'UTC');
SELECT queue, timezone, paused FROM jobs.definitions WHERE name = 'keep';
SELECT jobs.unschedule('keep');

-- A schedule's owner must be able to run it.
CREATE ROLE zj_def_nologin NOLOGIN;
GRANT zj_def_nologin TO zj_def_plain;
SET ROLE zj_def_nologin;
SELECT jobs.schedule('cannot_login', '@hourly', 'SELECT 1');
SELECT jobs.define('defined_only', 'SELECT 1');   -- not scheduled: fine
SELECT jobs.schedule('defined_only', '@hourly', 'SELECT 1');
RESET ROLE;
CREATE ROLE zj_def_noconnect LOGIN;
SELECT format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SET ROLE zj_def_noconnect;
SELECT jobs.schedule('cannot_connect', '@hourly', 'SELECT 1');
RESET ROLE;
SELECT format('GRANT CONNECT ON DATABASE %I TO PUBLIC', current_database()) \gexec
SELECT jobs.drop('defined_only');

-- A schedule ticks in the time zone of the session that made it.
SET zapjobs.timezone = 'Asia/Tokyo';
SELECT jobs.schedule('tokyo', '0 9 * * *', 'SELECT 1');
RESET zapjobs.timezone;
SELECT timezone, to_char(next_run_at AT TIME ZONE 'Asia/Tokyo', 'HH24:MI') AS local
  FROM jobs.definitions WHERE name = 'tokyo';
SELECT jobs.unschedule('tokyo');

-- Interval schedules: checked in the arithmetic that computes them.
SELECT jobs.next_run('every -2147483648 months', now());
SELECT jobs.next_run('every 2147483647 months', now());
SELECT jobs.next_run('every -1 seconds', now());
SELECT jobs.next_run('every 9223372036854775807 microseconds', now());
SELECT jobs.next_run('every 1 day -23 hours', '2026-11-22 00:00+00');
SELECT jobs.schedule('wrap', 'every -2147483648 months', 'SELECT 1');

-- Answers.
SELECT jobs.resume('no_such_job') AS resumed, jobs.pause('no_such_job') AS paused;
SELECT jobs.schedule('null_sched', NULL, 'SELECT 1');
SELECT jobs.trigger(NULL);
-- Intervals are stored as checked: months are 30 days in the check and
-- would be 30.4375 in the workers' reading of the run.
SELECT jobs.enqueue('SELECT 1', timeout => '12 months -340 days', run_at => now() + interval '1 day') AS t \gset
SELECT timeout, extract(epoch FROM timeout) / 86400 AS days FROM jobs.runs WHERE id = :t;
SELECT jobs.cancel(:t);
SELECT jobs.enqueue('SELECT 1', timeout => '12 months -330 days');
-- A definition's timeout in days reaches its scheduled runs.
SELECT jobs.schedule('daylong', 'every 1 second', 'SELECT 1', timeout => '1 day');
DO $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '60 s';
BEGIN
    WHILE NOT EXISTS (SELECT FROM jobs.runs WHERE name = 'daylong') LOOP
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'no run of daylong within 60 s';
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT DISTINCT timeout FROM jobs.runs WHERE name = 'daylong';
SELECT jobs.unschedule('daylong');
-- Another role's run and a free id get the same answer.
CREATE FUNCTION public.zj_answer(f text, id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    hint text;
BEGIN
    EXECUTE format('SELECT jobs.%s(%s)', f, id);
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN st || ': ' || replace(msg, id::text, 'N') || ' / ' || hint;
END $$;
SET ROLE "with space";
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 day') AS other \gset
RESET ROLE;
SELECT max(id) + 1000 AS free FROM jobs.runs \gset
SET ROLE zj_def_plain;
SELECT f, public.zj_answer(f, :other) AS other_role, public.zj_answer(f, :free) = public.zj_answer(f, :other) AS alike
  FROM unnest(ARRAY['cancel', 'retry']) f;
RESET ROLE;
SELECT jobs.cancel(:other);
DROP FUNCTION public.zj_answer(text, bigint);
-- Internal helpers are for zapjobs' own functions and triggers only.
SELECT p.proname, has_function_privilege('zj_def_plain', p.oid, 'EXECUTE') AS public_may_call
  FROM pg_proc p WHERE p.pronamespace = 'jobs'::regnamespace AND p.proname LIKE '\_%'
 ORDER BY 1;

SELECT jobs.unschedule(name) FROM jobs.definitions ORDER BY name;
DROP ROLE "CaseOwner", caseowner, "Weird ""Role"" ünï", "with space",
    "R23456789012345678901234567890123456789012345678901234567890123",
    zj_def_plain, zj_def_nologin, zj_def_noconnect;
