-- Jobs run with exactly their owner's privileges; owners see only their runs.
CREATE ROLE zj_alice LOGIN;
CREATE ROLE zj_bob LOGIN;
CREATE TABLE secret (x int);
INSERT INTO secret VALUES (1);
CREATE TABLE alice_data (x int);
GRANT INSERT, SELECT ON alice_data TO zj_alice;

SET ROLE zj_alice;
SELECT jobs.enqueue('SELECT current_user AS cu, session_user AS su') AS who \gset
SELECT jobs.enqueue('SELECT count(*) FROM secret') AS plain \gset
SELECT jobs.enqueue('RESET ROLE; SELECT count(*) FROM secret') AS reset_role \gset
SELECT jobs.enqueue('SET ROLE ' || quote_ident(session_user) || '; SELECT count(*) FROM secret') AS set_role \gset
SELECT jobs.enqueue('SET SESSION AUTHORIZATION ' || quote_ident(session_user)) AS set_auth \gset
SELECT jobs.enqueue('INSERT INTO alice_data VALUES (42)') AS allowed \gset
SELECT jobs.wait(:who, timeout => '60 s') AS who,
       jobs.wait(:plain, timeout => '60 s') AS plain,
       jobs.wait(:reset_role, timeout => '60 s') AS reset_role,
       jobs.wait(:set_role, timeout => '60 s') AS set_role,
       jobs.wait(:set_auth, timeout => '60 s') AS set_auth,
       jobs.wait(:allowed, timeout => '60 s') AS allowed;
SELECT id = :who AS who, status, output, error_sqlstate,
       replace(error_message, session_user, '<superuser>') AS error_message
  FROM jobs.runs ORDER BY id;
RESET ROLE;
SELECT count(*) AS rows_written_by_alice FROM alice_data;

-- Bob sees none of Alice's runs and cannot wait on them.
SET ROLE zj_bob;
SELECT count(*) AS bob_sees FROM jobs.runs;
\set VERBOSITY sqlstate
SELECT jobs.wait(:who, timeout => '1 s');
\set VERBOSITY default
RESET ROLE;

-- Members of the owning role see its runs.
GRANT zj_alice TO zj_bob;
SET ROLE zj_bob;
SELECT count(*) AS bob_sees_as_member FROM jobs.runs WHERE owner = 'zj_alice'::regrole;
RESET ROLE;
REVOKE zj_alice FROM zj_bob;

-- A role that lost LOGIN after enqueueing: its runs fail, others go on.
SET ROLE zj_alice;
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '2 s') AS late \gset
RESET ROLE;
ALTER ROLE zj_alice NOLOGIN;
SET ROLE zj_bob;
SELECT jobs.enqueue('SELECT 2') AS bobs \gset
SELECT jobs.wait(:bobs, timeout => '60 s');
RESET ROLE;
SELECT jobs.wait(:late, timeout => '60 s');
SELECT status, error_sqlstate, error_message, error_hint FROM jobs.runs WHERE id = :late;

-- The owner's defaults apply to its jobs, never to zapjobs' bookkeeping.
CREATE ROLE zj_reader LOGIN;
ALTER ROLE zj_reader SET default_transaction_read_only = on;
ALTER ROLE zj_reader SET default_transaction_isolation = 'serializable';
SET ROLE zj_reader;
SELECT jobs.enqueue($$SELECT current_setting('transaction_read_only') AS ro,
  current_setting('transaction_isolation') AS iso$$) AS ro_read \gset
SELECT jobs.enqueue('CREATE TABLE zj_reader_table ()') AS ro_write \gset
SELECT jobs.wait(:ro_read, timeout => '60 s') AS ro_read,
       jobs.wait(:ro_write, timeout => '60 s') AS ro_write;
RESET ROLE;
SELECT id = :ro_read AS reads, status, output, error_sqlstate
  FROM jobs.runs WHERE id IN (:ro_read, :ro_write) ORDER BY id;

-- A role deletes its own finished runs (with their logs and attempts),
-- not its unfinished ones, not a parent its unfinished run needs, and
-- never another role's.
SET ROLE zj_reader;
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 hour') AS ro_later \gset
SELECT jobs.enqueue('SELECT 1', depends_on => ARRAY[:ro_later, :ro_read]) AS ro_child \gset
DELETE FROM jobs.runs WHERE id = :ro_later;
DELETE FROM jobs.runs WHERE id = :ro_read;
DELETE FROM jobs.runs WHERE id = :ro_write;
WITH d AS (DELETE FROM jobs.runs WHERE id = :bobs RETURNING 1)
SELECT count(*) AS others_deleted FROM d;
SELECT count(*) AS reader_runs_left FROM jobs.runs;
SELECT jobs.cancel(:ro_later);
DELETE FROM jobs.runs WHERE id IN (:ro_read, :ro_later, :ro_child);
SELECT count(*) AS reader_runs_left FROM jobs.runs;
RESET ROLE;
SELECT count(*) AS logs_and_attempts_left FROM (SELECT run_id FROM jobs.attempts
  UNION ALL SELECT run_id FROM jobs.logs) x WHERE run_id IN (:ro_read, :ro_write, :ro_later, :ro_child);
SELECT status FROM jobs.runs WHERE id = :bobs;

DELETE FROM jobs.runs WHERE owner IN ('zj_alice'::regrole, 'zj_bob'::regrole,
                                      'zj_reader'::regrole);
DROP ROLE zj_reader;
DROP TABLE alice_data;
DROP ROLE zj_alice;
DROP ROLE zj_bob;
