-- SQL jobs executed by the workers: effects, output, errors, session hygiene.
CREATE TABLE audit (n int);

-- The job's effects commit together with its completion.
SELECT jobs.enqueue('INSERT INTO audit VALUES (1)') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, attempt, output, error_message FROM jobs.runs WHERE id = :r;
SELECT * FROM audit;

-- A failed job leaves no effects, and records the whole error.
SELECT jobs.enqueue('INSERT INTO audit VALUES (2); SELECT 1/0') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, error_sqlstate, error_message FROM jobs.runs WHERE id = :r;
SELECT count(*) AS rows_of_failed_job FROM audit WHERE n = 2;

CREATE FUNCTION fail_loudly() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the sky is falling'
    USING ERRCODE = 'P0001', DETAIL = 'Detail text.', HINT = 'Hint text.';
END $$;
SELECT jobs.enqueue('SELECT fail_loudly()', name => 'loud') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, error_sqlstate, error_message, error_detail, error_hint,
       error_context LIKE '%fail_loudly%' AS context_names_function
  FROM jobs.runs WHERE id = :r;

-- Output: the last statement's first row, with JSON types kept.
SELECT jobs.enqueue($$SELECT 1 AS i, 2.5 AS f, 'x'::text AS t, true AS b,
  NULL::int AS z, '{"k": [1, 2]}'::jsonb AS jb, '[1, "a"]'::json AS js,
  'NaN'::float8 AS nan, '7'::jsonb AS scalar, 12345678901234::int8 AS big$$) AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT output FROM jobs.runs WHERE id = :r;

SELECT jobs.enqueue('SELECT 1 AS first; SELECT g AS second FROM generate_series(5, 7) g') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT output FROM jobs.runs WHERE id = :r;

SELECT jobs.enqueue('SELECT 1 AS first; INSERT INTO audit VALUES (3)') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT output IS NULL AS no_output_from_insert FROM jobs.runs WHERE id = :r;

-- Later statements see what earlier ones wrote.
SELECT jobs.enqueue('INSERT INTO audit VALUES (4); SELECT count(*) AS fours FROM audit WHERE n = 4') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT output FROM jobs.runs WHERE id = :r;

-- jobs.set_output wins over the last row; jobs.input and current_run_id.
SELECT jobs.enqueue($$SELECT jobs.set_output(jsonb_build_object('day', jobs.input()->>'day',
  'me', jobs.current_run_id())); SELECT 'ignored' AS x$$,
  input => '{"day": "2026-11-21"}') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT output->>'day' AS day, (output->>'me')::bigint = :r AS knows_its_id
  FROM jobs.runs WHERE id = :r;

-- Oversized output is replaced by a note of its size.
SELECT jobs.enqueue($$SELECT repeat('x', 100000) AS big$$) AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT output->'truncated' AS truncated, (output->>'size_bytes')::int > 100000 AS big
  FROM jobs.runs WHERE id = :r;

-- Transaction control in the text is refused; procedures may COMMIT.
SELECT jobs.enqueue('BEGIN; INSERT INTO audit VALUES (5); COMMIT') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, error_sqlstate, error_message, error_hint FROM jobs.runs WHERE id = :r;

CREATE PROCEDURE two_steps() LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit VALUES (6);
  COMMIT;
  INSERT INTO audit VALUES (7);
END $$;
SELECT jobs.enqueue('CALL two_steps()') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT count(*) FILTER (WHERE n IN (6, 7)) AS procedure_rows FROM audit;

-- A job has no client to COPY to or from.
SELECT jobs.enqueue('COPY audit TO STDOUT') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT error_sqlstate, error_message FROM jobs.runs WHERE id = :r;

-- Commands that refuse transaction blocks run as a job's only statement.
SELECT jobs.enqueue('VACUUM ANALYZE audit') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT jobs.enqueue('SELECT 1; VACUUM audit') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT error_message FROM jobs.runs WHERE id = :r;

-- The enqueuer's search_path comes along; session state does not leak.
CREATE SCHEMA app;
CREATE TABLE app.things (n int);
SET search_path = app, public;
SELECT jobs.enqueue('INSERT INTO things VALUES (1)') AS r \gset
RESET search_path;
SELECT jobs.wait(:r, timeout => '60 s');
SELECT count(*) AS things FROM app.things;

SELECT jobs.enqueue($$SET work_mem = '7MB'; CREATE TEMP TABLE leftover (x int);
  SELECT pg_advisory_lock(42)$$) AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
-- Its worker resets the session just after the run's commit: wait for that
-- (the next job may run in another worker, and pg_locks is cluster-wide).
DO $$
BEGIN
  FOR i IN 1..3000 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory');
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
SELECT jobs.enqueue($$SELECT current_setting('work_mem') AS work_mem,
  to_regclass('pg_temp.leftover') AS leftover,
  (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory') AS advisory$$) AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT output FROM jobs.runs WHERE id = :r;

-- The run's timeout stops it.
SELECT jobs.enqueue('SELECT pg_sleep(30)', timeout => '200 ms') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, error_sqlstate, error_message, duration < interval '10 s' AS stopped_early
  FROM jobs.runs WHERE id = :r;

-- A job may enqueue another job, which runs after the first commits.
SELECT jobs.enqueue($$SELECT jobs.enqueue('INSERT INTO audit VALUES (8)') AS child$$) AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT jobs.wait((output->>'child')::bigint, timeout => '60 s') FROM jobs.runs WHERE id = :r;
SELECT count(*) AS child_rows FROM audit WHERE n = 8;
