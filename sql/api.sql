-- jobs.enqueue and jobs.wait: defaults, validation, visibility.
CREATE EXTENSION zapjobs;

-- Every bad argument is refused with a clear error and writes nothing.
SELECT jobs.enqueue(NULL);
SELECT jobs.enqueue('');
SELECT jobs.enqueue(E'  \n\t ');
SELECT jobs.enqueue('SELECT 1', queue => '');
SELECT jobs.enqueue('SELECT 1', queue => repeat('q', 64));
SELECT jobs.enqueue('SELECT 1', name => '');
SELECT jobs.enqueue('SELECT 1', max_attempts => 0);
SELECT jobs.enqueue('SELECT 1', max_attempts => -3);
SELECT jobs.enqueue('SELECT 1', max_attempts => 1001);
SELECT jobs.enqueue('SELECT 1', timeout => '-1 s');
SELECT jobs.enqueue('SELECT 1', timeout => '0');
SELECT jobs.enqueue('SELECT 1', timeout => '30 days');
SELECT jobs.enqueue('SELECT 1', run_at => 'infinity');
SELECT jobs.enqueue('SELECT 1', run_at => '-infinity');
SELECT jobs.enqueue('SELECT 1', kind => 'python');
CREATE ROLE zj_api_noshell LOGIN;
SET ROLE zj_api_noshell;
SELECT jobs.enqueue('echo hi', kind => 'shell');
RESET ROLE;
DROP ROLE zj_api_noshell;
SELECT count(*) AS runs_after_errors FROM jobs.runs;

-- Defaults.
SELECT jobs.enqueue('SELECT 1') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT name, kind, command, queue, priority, status, owner = current_user::regrole AS mine,
       input, attempt, max_attempts, timeout, run_at <= started_at AS started_after_due,
       duration IS NOT NULL AS has_duration
  FROM jobs.runs WHERE id = :r;

-- A future run_at makes a scheduled run; every argument by name.
SELECT jobs.enqueue('SELECT 2', queue => 'maintenance', priority => 5,
                    run_at => now() + interval '1 hour', max_attempts => 3,
                    timeout => '90 s', input => '{"day": "2026-11-21"}',
                    name => 'nightly', kind => 'sql') AS s \gset
SELECT name, kind, queue, priority, status, input, max_attempts, timeout, attempt
  FROM jobs.runs WHERE id = :s;

-- jobs.wait returns the current status when its timeout passes first.
SELECT jobs.wait(:s, timeout => '10 ms');
SELECT jobs.wait(NULL);
SELECT jobs.wait(-1, timeout => '1 s');
SELECT jobs.wait(:s, timeout => '-1 s');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT jobs.wait(:s, timeout => '1 s');
ROLLBACK;

-- A run enqueued in a rolled-back subtransaction never existed.
BEGIN;
SAVEPOINT a;
SELECT jobs.enqueue('SELECT 3', name => 'rolled back') IS NOT NULL AS enqueued;
ROLLBACK TO SAVEPOINT a;
COMMIT;
SELECT count(*) AS rolled_back_runs FROM jobs.runs WHERE name = 'rolled back';

-- Waiting for a run this very transaction enqueued could never end.
BEGIN;
SELECT jobs.enqueue('SELECT 4') AS mine \gset
\set VERBOSITY terse
SELECT jobs.wait(:mine, timeout => '1 s');
\set VERBOSITY default
ROLLBACK;

-- A read-only transaction cannot enqueue; the session goes on normally.
BEGIN READ ONLY;
SELECT jobs.enqueue('SELECT 5');
ROLLBACK;
SELECT jobs.enqueue('SELECT 5') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s') AS after_read_only;

-- Outside a job the job-side functions are harmless.
SELECT jobs.input() IS NULL AS no_input, jobs.current_run_id() IS NULL AS no_run;
SELECT jobs.set_output('{"x": 1}');

-- Only zapjobs writes runs; users read their own.
CREATE ROLE zj_regress_user LOGIN;
SET ROLE zj_regress_user;
SELECT count(*) AS visible FROM jobs.runs;
INSERT INTO jobs.runs (command, status, owner, timeout)
     VALUES ('SELECT 1', 'pending', 'zj_regress_user', '1 s');
UPDATE jobs.runs SET status = 'completed';
DELETE FROM jobs.runs;
SELECT jobs.wait(:s, timeout => '1 s');
RESET ROLE;

-- A role that cannot log in cannot own jobs (a worker logs in as the owner).
CREATE ROLE zj_regress_nologin NOLOGIN;
SET ROLE zj_regress_nologin;
SELECT jobs.enqueue('SELECT 1');
RESET ROLE;
-- Nor can one without CONNECT on the database.
REVOKE CONNECT ON DATABASE contrib_regression FROM PUBLIC;
SET ROLE zj_regress_user;
SELECT jobs.enqueue('SELECT 1');
RESET ROLE;
GRANT CONNECT ON DATABASE contrib_regression TO PUBLIC;

DELETE FROM jobs.runs WHERE id = :s;
DROP ROLE zj_regress_user;
DROP ROLE zj_regress_nologin;

-- jobs.enqueue_many: one run per input, in one statement, ids in input order.
SELECT jobs.enqueue_many('SELECT jobs.input() AS got',
                         ARRAY['{"n": 1}', NULL, '{"n": 3}']::jsonb[],
                         name => 'many', priority => 5, max_attempts => 2) AS ids \gset
SELECT cardinality(:'ids'::bigint[]) AS n,
       (:'ids'::bigint[])[1] < (:'ids'::bigint[])[2]
       AND (:'ids'::bigint[])[2] < (:'ids'::bigint[])[3] AS ascending;
SELECT jobs.wait(id, timeout => '60 s') FROM unnest(:'ids'::bigint[]) WITH ORDINALITY u(id, n) ORDER BY n;
SELECT u.n, r.name, r.queue, r.priority, r.max_attempts, r.input, r.output
  FROM unnest(:'ids'::bigint[]) WITH ORDINALITY u(id, n) JOIN jobs.runs r ON r.id = u.id
 ORDER BY u.n;
-- Scheduled for later, every run alike.
SELECT cardinality(jobs.enqueue_many('SELECT 1', array_fill(NULL::jsonb, ARRAY[10]),
                                     run_at => now() + interval '1 hour', queue => 'later')) AS scheduled;
SELECT status, queue, count(*) FROM jobs.runs WHERE queue = 'later' GROUP BY 1, 2;
DELETE FROM jobs.runs WHERE queue = 'later';
-- Nothing to enqueue: nothing happens.
SELECT jobs.enqueue_many('SELECT 1', '{}') AS none;
-- Bad input changes nothing.
SELECT count(*) AS before FROM jobs.runs \gset
SELECT jobs.enqueue_many('SELECT 1', NULL);
SELECT jobs.enqueue_many('SELECT 1', ARRAY[ARRAY['{}'::jsonb]]);
SELECT jobs.enqueue_many(' ', ARRAY['{}'::jsonb]);
SELECT jobs.enqueue_many('SELECT 1', ARRAY['{}'::jsonb], max_attempts => 0);
SELECT jobs.enqueue_many('SELECT 1', ARRAY['{}'::jsonb], kind => 'perl');
SELECT jobs.enqueue_many('SELECT 1', ARRAY['{}'::jsonb], queue => '');
SELECT jobs.enqueue_many('SELECT 1', ARRAY['{}'::jsonb], timeout => '-1 s');
SELECT jobs.enqueue_many('SELECT 1', ARRAY['{}'::jsonb], retry_factor => 0.5);
SELECT jobs.enqueue_many('SELECT 1', array_fill(NULL::jsonb, ARRAY[1000001]));
SELECT count(*) = :before AS unchanged FROM jobs.runs;
-- The same rules as jobs.enqueue for who may own runs.
CREATE ROLE zj_regress_many NOLOGIN;
SET ROLE zj_regress_many;
SELECT jobs.enqueue_many('SELECT 1', ARRAY['{}'::jsonb]);
RESET ROLE;
DROP ROLE zj_regress_many;
DELETE FROM jobs.runs WHERE name = 'many';

-- jobs.enqueue writes its row without SQL (runinsert.c), from what it
-- prepared of jobs.runs once: a column added later gets its default, an
-- index created later gets the new rows, and a row trigger makes it go
-- through SQL, which fires it.  Every index stays consistent with the
-- table (amcheck, every heap row checked to be in it).
CREATE EXTENSION amcheck;
-- (the ids it takes are given back, for the suites after this one)
SELECT last_value AS seq_last, is_called AS seq_called FROM jobs.runs_id_seq \gset
BEGIN;
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 day', name => 'direct_1') > 0 AS enqueued;
ALTER TABLE jobs.runs ADD COLUMN zz_note text DEFAULT 'noted';
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 day', name => 'direct_2') > 0 AS enqueued;
CREATE INDEX runs_zz_idx ON jobs.runs (zz_note) WHERE name LIKE 'direct%';
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 day', name => 'direct_3',
                    queue => 'q_direct', priority => 7, input => '{"k": [1, 2]}') > 0 AS enqueued;
CREATE FUNCTION pg_temp.zz_mark() RETURNS trigger LANGUAGE plpgsql
  AS $$BEGIN NEW.zz_note := 'triggered'; RETURN NEW; END$$;
CREATE TRIGGER zz_mark BEFORE INSERT ON jobs.runs FOR EACH ROW EXECUTE FUNCTION pg_temp.zz_mark();
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 day', name => 'direct_4') > 0 AS enqueued;
DROP TRIGGER zz_mark ON jobs.runs;
-- A statement trigger of someone else's fires too; a GIN index gets the rows.
CREATE TEMP TABLE zz_fired (n int);
CREATE FUNCTION pg_temp.zz_count() RETURNS trigger LANGUAGE plpgsql
  AS $$BEGIN INSERT INTO zz_fired VALUES (1); RETURN NULL; END$$;
CREATE TRIGGER zz_count AFTER INSERT ON jobs.runs FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.zz_count();
CREATE INDEX runs_zz_gin ON jobs.runs USING gin (input);
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 day', name => 'direct_6',
                    input => '{"gin": true}') > 0 AS enqueued;
SELECT count(*) AS statement_trigger_fired FROM zz_fired;
SET LOCAL enable_seqscan = off;
SELECT name FROM jobs.runs WHERE input @> '{"gin": true}';
SELECT name, zz_note, queue, priority, input, status, attempt, max_attempts, cancel_requested,
       created_at = now() AS created_now, id > 0 AS has_id
  FROM jobs.runs WHERE zz_note IS NOT NULL AND name LIKE 'direct%' ORDER BY name;
SELECT count(bt_index_check(i.indexrelid, true)::text) AS indexes_checked
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'jobs.runs'::regclass AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree');
ROLLBACK;
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 day', name => 'direct_5') > 0 AS enqueued;
SELECT name FROM jobs.runs WHERE name LIKE 'direct%';
DELETE FROM jobs.runs WHERE name LIKE 'direct%';
SELECT setval('jobs.runs_id_seq', :seq_last, :'seq_called') > 0 AS ids_given_back;
DROP EXTENSION amcheck;
