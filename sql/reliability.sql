-- Retries, cancellation, dedupe keys, queue settings: the SQL side.
CREATE TABLE effects (n int);

-- Bad retry arguments are refused and write nothing.
SELECT count(*) AS runs_before FROM jobs.runs \gset
SELECT jobs.enqueue('SELECT 1', retry_factor => 0.5);
SELECT jobs.enqueue('SELECT 1', retry_factor => 'NaN');
SELECT jobs.enqueue('SELECT 1', retry_base => '-1 s');
SELECT jobs.enqueue('SELECT 1', retry_max_delay => '200 years');
SELECT jobs.enqueue('SELECT 1', dedupe_key => '');
SELECT count(*) = :runs_before AS nothing_written FROM jobs.runs;

-- Defaults come from the GUCs.
SELECT jobs.enqueue('SELECT 1') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT max_attempts, retry_base, retry_factor, retry_max_delay FROM jobs.runs WHERE id = :r;

-- A retryable error is retried until max_attempts; every attempt is kept.
SELECT jobs.enqueue('INSERT INTO effects VALUES (1); SELECT 1/0', max_attempts => 3,
                    retry_base => '10 ms') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, attempt, error_sqlstate, next_retry_at IS NULL AS no_next_retry
  FROM jobs.runs WHERE id = :r;
SELECT attempt, outcome, error_sqlstate, error_message, finished_at >= started_at AS ordered
  FROM jobs.attempts WHERE run_id = :r ORDER BY attempt;
SELECT count(*) AS effects_of_failed_attempts FROM effects;

-- Retries are spaced by the backoff: 10 ms, then 20 ms, each jittered down to half.
SELECT bool_and(a2.started_at - a1.finished_at >= interval '5 ms') AS spaced
  FROM jobs.attempts a1 JOIN jobs.attempts a2
    ON a2.run_id = a1.run_id AND a2.attempt = a1.attempt + 1
 WHERE a1.run_id = :r;

-- Errors retrying cannot fix fail at once.
SELECT jobs.enqueue('SELEC 1', max_attempts => 5) AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, attempt, error_sqlstate FROM jobs.runs WHERE id = :r;
SELECT jobs.enqueue('SELECT * FROM no_such_table', max_attempts => 5) AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, attempt, error_sqlstate FROM jobs.runs WHERE id = :r;
SET zapjobs.non_retryable_sqlstates = 'nonsense!';
SET zapjobs.non_retryable_sqlstates = '1234';

-- Success after a failure: the run completes, the failed attempt is kept.
CREATE SEQUENCE tries;
SELECT jobs.enqueue($$SELECT 1 / (nextval('tries') - 1)::int$$,
                    retry_base => '10 ms') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, attempt, error_sqlstate IS NULL AS error_cleared FROM jobs.runs WHERE id = :r;
SELECT attempt, outcome FROM jobs.attempts WHERE run_id = :r;

-- jobs.retry: a failed run gets one more attempt; others are left alone.
SELECT id AS failed FROM jobs.runs WHERE command = 'SELEC 1' \gset
SELECT jobs.retry(:failed);
SELECT jobs.wait(:failed, timeout => '60 s');
SELECT status, attempt, max_attempts FROM jobs.runs WHERE id = :failed;
SELECT jobs.retry(:r) AS retry_completed;
SELECT jobs.retry(-1);

-- jobs.cancel: not yet running -> cancelled at once; finished -> false.
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 day') AS s \gset
SELECT jobs.cancel(:s);
SELECT status, finished_at IS NOT NULL AS finished FROM jobs.runs WHERE id = :s;
SELECT jobs.cancel(:s) AS cancel_again, jobs.cancel(:r) AS cancel_completed;
SELECT jobs.cancel(-1);
SELECT jobs.retry(:s) AS retry_cancelled;
SELECT jobs.wait(:s, timeout => '60 s');

-- jobs.cancel on a running run: it is interrupted and ends cancelled.
SELECT jobs.enqueue('INSERT INTO effects VALUES (2); SELECT pg_sleep(60)') AS r \gset
DO $$BEGIN
  FOR i IN 1..1200 LOOP
    EXIT WHEN (SELECT status FROM jobs.runs WHERE command LIKE '%pg_sleep(60)') = 'running';
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT jobs.cancel(:r);
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, attempt, error_message LIKE '%was cancelled' AS says_cancelled
  FROM jobs.runs WHERE id = :r;
SELECT outcome FROM jobs.attempts WHERE run_id = :r;
SELECT count(*) AS effects_of_cancelled FROM effects WHERE n = 2;

-- dedupe_key: one unfinished run per key and owner.
SELECT jobs.enqueue('SELECT 1', dedupe_key => 'nightly', run_at => now() + interval '1 day') AS d1 \gset
SELECT jobs.enqueue('SELECT 2', dedupe_key => 'nightly') AS d2 \gset
SELECT :d1 = :d2 AS same_run, count(*) AS runs_with_key
  FROM jobs.runs WHERE dedupe_key = 'nightly';
SELECT jobs.cancel(:d1);
SELECT jobs.enqueue('SELECT 3', dedupe_key => 'nightly') AS d3 \gset
SELECT :d3 <> :d1 AS new_run_once_final;
SELECT jobs.wait(:d3, timeout => '60 s');

-- Queue settings: argument checks, and only for those granted EXECUTE.
SELECT jobs.pause_queue('');
SELECT jobs.set_queue_concurrency('q', 0);
SELECT jobs.set_job_concurrency(repeat('x', 64), 1);
SELECT jobs.pause_queue('reports');
SELECT jobs.set_queue_concurrency('reports', 2);
SELECT jobs.set_job_concurrency('nightly', 1);
SELECT name, max_concurrency, paused FROM jobs.queues;
SELECT name, max_concurrency FROM jobs.job_limits;
SELECT jobs.enqueue('SELECT 1', queue => 'reports') AS q \gset
SELECT jobs.enqueue('SELECT 1', queue => 'other') AS o \gset
SELECT jobs.wait(:o, timeout => '60 s') AS other_queue_runs;
SELECT status AS paused_queue_run FROM jobs.runs WHERE id = :q;
SELECT jobs.resume_queue('reports');
SELECT jobs.wait(:q, timeout => '60 s') AS resumed_queue_run;
SELECT jobs.set_queue_concurrency('reports', NULL);
SELECT jobs.set_job_concurrency('nightly', NULL);
SELECT count(*) AS settings_left FROM jobs.queues, jobs.job_limits;
CREATE ROLE zj_rel_user LOGIN;
SET ROLE zj_rel_user;
SELECT jobs.pause_queue('reports');
SELECT jobs.cancel(:q);
SELECT count(*) AS attempts_visible FROM jobs.attempts;
RESET ROLE;
DROP ROLE zj_rel_user;

-- jobs.workers: the live pool, from shared memory.
SELECT count(*) > 0 AS has_workers,
       bool_and(state IN ('starting', 'idle', 'running')) AS states_known,
       bool_and(pid IN (SELECT pid FROM pg_stat_activity
                         WHERE backend_type = 'zapjobs worker')) AS live_pids
  FROM jobs.workers WHERE state <> 'starting';
