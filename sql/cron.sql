-- zapjobs_cron beyond pg_cron's own test: every example of pg_cron's README
-- (with the tables, procedures, databases and roles they assume), the
-- mapping onto zapjobs definitions, run history, refusals.
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS zapjobs_cron;
CREATE TABLE events (event_time timestamptz);
CREATE PROCEDURE process_updates() LANGUAGE sql AS 'SELECT 1';
CREATE PROCEDURE process_payroll() LANGUAGE sql AS 'SELECT 1';
CREATE DATABASE some_other_database;
CREATE ROLE some_other_user LOGIN;
CREATE ROLE marco LOGIN;

-- pg_cron's README, in its order.
-- Delete old data on Saturday at 3:30am (GMT)
SELECT cron.schedule(
       '30 3 * * 6',
       $$DELETE FROM events WHERE event_time < now() - interval '1 week'$$
) AS delete_job \gset
-- Vacuum every day at 10:00am (GMT)
SELECT cron.schedule(
       'nightly-vacuum',
       '0 10 * * *',
       'VACUUM'
) > 0 AS scheduled;
-- run SELECT 1 every 30 seconds
SELECT cron.schedule(
       'run_every_30_seconds',
       '30 seconds',
       'SELECT 1'
) > 0 AS scheduled;
-- Call a stored procedure every 5 seconds
SELECT cron.schedule(
       'process-updates',
       '5 seconds',
       'CALL process_updates()'
) > 0 AS scheduled;
-- Process payroll at 12:00 of the last day of each month
SELECT cron.schedule(
       'process-payroll',
       '0 12 $ * *',
       'CALL process_payroll()'
) > 0 AS scheduled;
-- Delete old data on Saturday at 3:30am (GMT)
SELECT cron.schedule_in_database(
       'delete_old_data',
       '30 3 * * 6',
       $$DELETE FROM events WHERE event_time < now() - interval '1 week'$$,
       'some_other_database'
) > 0 AS scheduled;
-- delete job by name
SELECT cron.unschedule('nightly-vacuum');
-- delete job by id (42 in the README: make the next job 42)
SELECT setval('cron.jobid_seq', 41) > 0 AS set;
SELECT cron.schedule('the-answer', '0 9 * * *', 'SELECT 42');
SELECT cron.unschedule(42);
SELECT setval('cron.jobid_seq', 41) > 0 AS set;
SELECT cron.schedule('the-answer', '0 9 * * *', 'SELECT 42');
-- change job's schedule
SELECT cron.alter_job(42, '0 10 * * *');
-- change job's command
SELECT cron.alter_job(
       42,
       '0 10 * * *',
       'VACUUM',
       username := 'some_other_user'
);
-- deactivate job
SELECT cron.alter_job(42, active := false);
-- optionally, grant usage to regular users:
GRANT USAGE ON SCHEMA cron TO marco;
-- View active jobs
select jobid, schedule, command, nodename, database, username, active, jobname
  from cron.job order by jobid;
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'cron.%' ORDER BY name;
-- (the 5- and 30-second jobs above may have run by now: count only)
select count(*) <= 5 AS ok from (select * from cron.job_run_details order by start_time desc limit 5) s;
-- Delete old cron.job_run_details records of the current user every day at noon
SELECT  cron.schedule('delete-job-run-details', '0 12 * * *', $$DELETE FROM cron.job_run_details WHERE end_time < now() - interval '7 days'$$) > 0 AS scheduled;

-- The zapjobs side: one definition per job, run once per tick (one attempt,
-- zapjobs' longest timeout), in queue cron, in the time zone cron.timezone.
SELECT name, owner, kind, queue, max_attempts, timeout, timezone, paused, description
  FROM jobs.definitions WHERE name LIKE 'cron job %' ORDER BY name COLLATE "C";
-- A job in another database: its definition calls it there.
SELECT d.command FROM jobs.definitions d JOIN cron.job j ON d.name = 'cron job ' || j.jobid
 WHERE j.jobname = 'delete_old_data';
-- ... and back here.
SELECT cron.alter_job(jobid, database := current_database()) FROM cron.job WHERE jobname = 'delete_old_data';
SELECT d.command = j.command AS runs_here, j.database = current_database() AS here
  FROM jobs.definitions d JOIN cron.job j ON d.name = 'cron job ' || j.jobid
 WHERE j.jobname = 'delete_old_data';
-- A command with quotes and backslashes reads back as it was given.
SELECT cron.schedule_in_database('quoted', '0 1 * * *', $$SELECT 'it''s \ here', E'\\'$$, 'some_other_database');
SELECT command, database FROM cron.job WHERE jobname = 'quoted';
SELECT cron.unschedule('quoted');

-- Writes to cron.job, as pg_cron's DBAs make them.
UPDATE cron.job SET active = true WHERE jobid = 42;
SELECT active FROM cron.job WHERE jobid = 42;
UPDATE cron.job SET schedule = '15 10 * * *' WHERE jobid = 42;
SELECT schedule, next_run_at IS NOT NULL AS has_next FROM jobs.definitions WHERE name = 'cron job 42';
UPDATE cron.job SET jobname = 'renamed' WHERE jobid = 42;
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 1 * * *', 'SELECT 2', 'inserted')
RETURNING jobid > 42 AS new_id, jobname;
DELETE FROM cron.job WHERE jobname = 'inserted';
SELECT count(*) FROM cron.job WHERE jobname = 'inserted';

-- Refusals, each with pg_cron's words and what zapjobs knows.
SELECT cron.schedule(NULL, '* * * * *');
SELECT cron.schedule('x', NULL, 'SELECT 1');
SELECT cron.schedule(NULL, '* * * * *', 'SELECT 1');
SELECT cron.schedule('every 5 minutes', 'SELECT 1');
SELECT cron.schedule('0 0 31 2 *', 'SELECT 1');
SELECT cron.schedule('* * * * * *', 'SELECT 1');
SELECT cron.schedule_in_database('nowhere', '* * * * *', 'SELECT 1', 'no_such_database');
SELECT cron.schedule_in_database('nobody', '* * * * *', 'SELECT 1', current_database(), 'no_such_role');
CREATE ROLE no_login;
SELECT cron.schedule_in_database('nologin', '* * * * *', 'SELECT 1', current_database(), 'no_login');
-- A role that runs a job in another database must reach cron._run_in_database.
SELECT cron.schedule_in_database('elsewhere', '* * * * *', 'SELECT 1', 'some_other_database', 'some_other_user');
SELECT cron.alter_job(NULL);
SELECT cron.unschedule(9999);

-- A user's own jobs only; schedule_in_database and alter_job only when granted.
SELECT jobs.trigger('cron job 1') AS other_run \gset
SELECT jobs.wait(:other_run, '30 s');   -- a run of another role
SET ROLE marco;
SELECT cron.schedule('marco-job', '0 5 * * *', 'SELECT 5') > 0 AS scheduled;
SELECT jobname, username FROM cron.job;
SELECT cron.unschedule(42);
SELECT cron.alter_job(42, active := true);
SELECT cron.schedule_in_database('x', '0 5 * * *', 'SELECT 5', current_database());
-- Nor around them: the helpers check as much, and another database's
-- command runs only as a job made by those who may.
SELECT cron._schedule('m2', '0 5 * * *', 'SELECT 5', 'some_other_database', 'marco', true);
SELECT cron._schedule('m3', '0 5 * * *', 'SELECT 5', current_database(), 'some_other_user', true);
SELECT cron._authorize_remote('cron job 1', 'some_other_database', 'SELECT 1', 'marco');
CALL cron._run_in_database('some_other_database', 'SELECT 1');
SELECT 'cron job ' || jobid AS marco_job FROM cron.job WHERE jobname = 'marco-job' \gset
UPDATE jobs.definitions SET command = $$CALL cron._run_in_database('some_other_database', 'SELECT 1')$$
 WHERE name = :'marco_job';
SELECT jobs.trigger(:'marco_job') AS forged \gset
SELECT jobs.wait(:forged, '30 s');
SELECT error_sqlstate, error_message FROM jobs.runs WHERE id = :forged;
-- Other roles' runs are not there, and stay.
SELECT count(*) FROM cron.job_run_details WHERE username <> 'marco';
DELETE FROM cron.job_run_details WHERE username <> 'marco';
SELECT cron.unschedule('marco-job');
RESET ROLE;
SELECT count(*) > 0 AS others_kept FROM cron.job_run_details WHERE username <> 'marco';

-- Run history: pg_cron's columns and status words, deleting one's own.
INSERT INTO jobs.definitions (name, command, schedule, description)
    VALUES ('cron job 900', 'SELECT 900', '@daily', 'history');
SELECT jobs.trigger('cron job 900') AS r1 \gset
SELECT jobs.wait(:r1, '30 s');
SELECT jobid, runid = :r1 AS is_run, job_pid > 0 AS has_pid, database = current_database() AS db,
       username, command, status, return_message, start_time <= end_time AS timed
  FROM cron.job_run_details WHERE runid = :r1;
SELECT jobs.enqueue('SELECT 1/0', name => 'cron job 900', max_attempts => 1) AS r2 \gset
SELECT jobs.wait(:r2, '30 s');
SELECT status, return_message FROM cron.job_run_details WHERE runid = :r2;
SELECT jobs.enqueue('SELECT 1', name => 'cron job 900', run_at => now() + interval '1 hour') AS r3 \gset
SELECT status, start_time FROM cron.job_run_details WHERE runid = :r3;
-- Finished runs go; one not started yet stays (cancel it first).
DELETE FROM cron.job_run_details WHERE jobid = 900;
SELECT runid = :r3 AS kept, status FROM cron.job_run_details WHERE jobid = 900;
SELECT jobs.cancel(:r3);
DELETE FROM cron.job_run_details WHERE jobid = 900;
SELECT count(*) FROM cron.job_run_details WHERE jobid = 900;

-- DROP EXTENSION takes its jobs with it, and only those.
SELECT jobs.define('not-cron', 'SELECT 1');
DROP EXTENSION zapjobs_cron;
SELECT name FROM jobs.definitions ORDER BY name;
SELECT jobs.drop('not-cron');
DROP DATABASE some_other_database;
DROP ROLE some_other_user, marco, no_login;
DROP TABLE events;
DROP PROCEDURE process_updates(), process_payroll();
