-- Live progress, logs and views: the SQL side.

-- Outside a job these do nothing but say so.
SELECT jobs.progress(1, 10, 'x');
SELECT jobs.count_items();
SELECT jobs.log('info', 'hello');

-- Bad arguments are errors, in a job or not.
SELECT jobs.progress(NULL);
SELECT jobs.progress(-1);
SELECT jobs.log('loud', 'hello');
SELECT jobs.log('info', NULL);

-- A job reports progress and items, logs, and raises notices.
CREATE TABLE t5 (n int);
SELECT jobs.enqueue($$
  DO $d$ BEGIN
    FOR i IN 1..5 LOOP
      PERFORM jobs.progress(i, 5, 'step ' || i);
      PERFORM jobs.count_items(1, CASE WHEN i < 5 THEN 1 ELSE 0 END, CASE WHEN i = 5 THEN 1 ELSE 0 END);
    END LOOP;
    PERFORM jobs.log('WARNING', 'careful', '{"table": "t5"}');
    RAISE NOTICE 'a notice';
    RAISE INFO 'some info';
    DROP TABLE IF EXISTS no_such_table;
  END $d$ $$, name => 'steps') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT progress_current, progress_total, progress_message, items_processed,
       items_succeeded, items_failed, progress_at IS NOT NULL AS has_time
  FROM jobs.runs WHERE id = :r;
SELECT attempt, level, message, context FROM jobs.logs WHERE run_id = :r ORDER BY id;

-- Logs and progress of a job that fails are kept.
SELECT jobs.enqueue($$
  DO $d$ BEGIN
    PERFORM jobs.progress(3, 4, 'almost');
    PERFORM jobs.log('info', 'before the error');
    INSERT INTO t5 VALUES (1);
    RAISE EXCEPTION 'boom';
  END $d$ $$, max_attempts => 1) AS f \gset
SELECT jobs.wait(:f, timeout => '60 s');
SELECT status, progress_current, progress_message FROM jobs.runs WHERE id = :f;
SELECT level, message FROM jobs.logs WHERE run_id = :f ORDER BY id;
SELECT count(*) AS rolled_back_rows FROM t5;

-- The views.
SELECT name, status, progress_current, items_failed FROM jobs.history WHERE id = :r;
SELECT run_id = :f AS the_failed_run, attempt, outcome, error_message, run_status
  FROM jobs.failures LIMIT 1;
SELECT name, completed, failed_today = 0 AS none_failed_today, avg_duration IS NOT NULL AS has_avg
  FROM jobs.stats WHERE name = 'steps';
SELECT count(*) AS active_now FROM jobs.active;

-- Another role sees none of it.
CREATE ROLE zj_prog_other LOGIN;
SET ROLE zj_prog_other;
SELECT count(*) AS history, (SELECT count(*) FROM jobs.logs) AS logs,
       (SELECT count(*) FROM jobs.failures) AS failures,
       (SELECT count(*) FROM jobs.stats) AS stats,
       (SELECT count(*) FROM jobs.live_progress()) AS live
  FROM jobs.history;
RESET ROLE;
DROP ROLE zj_prog_other;
