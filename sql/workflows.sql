-- Workflows: runs that wait for other runs (depends_on), what a parent
-- that does not complete does to them, retry and cancel along the graph,
-- parent outputs, workflow names, and the errors of the API.
CREATE TABLE gate (ok boolean);
-- Error of a statement, with run ids left out (they depend on earlier suites).
CREATE FUNCTION try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    hint text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '\d+', 'N', 'g')
        || coalesce(' (' || regexp_replace(nullif(hint, ''), '\d+', 'N', 'g') || ')', '');
END $$;
-- The runs of a test, relative to its first.
CREATE FUNCTION show(first bigint) RETURNS TABLE (run bigint, status text, waiting_for integer,
    blame bigint, workflow text, error_message text, output jsonb)
LANGUAGE sql AS $$
    SELECT r.id - first, r.status, r.waiting_for, r.cancelled_by - first, r.workflow,
           regexp_replace(r.error_message, '\d+', 'N', 'g'), r.output
      FROM jobs.runs r WHERE r.id >= first ORDER BY r.id;
$$;

-- A chain: b waits while a is held in a paused queue, runs when a completes,
-- and reads a's output.
SELECT jobs.pause_queue('wf_hold');
SELECT jobs.enqueue('SELECT 42 AS answer', queue => 'wf_hold') AS a \gset
SELECT jobs.enqueue('SELECT jobs.parent_outputs() -> ' || quote_literal(:a::text) || ' AS from_a',
                    depends_on => ARRAY[:a]) AS b \gset
SELECT * FROM show(:a);
SELECT has_dependents FROM jobs.runs WHERE id = :a;
SELECT run_id - :a AS run, parent_id - :a AS parent FROM jobs.dependencies WHERE run_id = :b;
SELECT jobs.resume_queue('wf_hold');
SELECT jobs.wait(:b, timeout => '60 s');
SELECT * FROM show(:a);

-- A diamond in a workflow: two middles, one fan-in; the middles and the
-- fan-in join the workflow of their parents; parent_outputs is keyed by id.
SELECT jobs.pause_queue('wf_hold');
SELECT jobs.enqueue('SELECT 1 AS top', queue => 'wf_hold', workflow => 'diamond') AS a \gset
SELECT jobs.enqueue_many('SELECT (jobs.input()->>''n'')::int AS n',
                         ARRAY['{"n": 1}', '{"n": 2}']::jsonb[], depends_on => ARRAY[:a]) AS mids \gset
SELECT jobs.enqueue('SELECT jobs.parent_outputs() AS parents',
                    depends_on => :'mids'::bigint[]) AS fanin \gset
SELECT * FROM show(:a);
SELECT name, status, runs, done, waiting, pending FROM jobs.workflows WHERE name = 'diamond';
SELECT jobs.resume_queue('wf_hold');
SELECT jobs.wait(:fanin, timeout => '60 s');
SELECT (SELECT array_agg(v ORDER BY v) FROM jsonb_each(output->'parents') e(k, v))
           AS parent_outputs,
       (SELECT array_agg(k::bigint - :a ORDER BY k) FROM jsonb_object_keys(output->'parents') k)
           AS keyed_by
  FROM jobs.runs WHERE id = :fanin;
SELECT name, status, runs, done, completed, finished_at >= started_at AS ended
  FROM jobs.workflows WHERE name = 'diamond';

-- A parent fails: its dependents end cancelled naming it, theirs too; a
-- clean-up step (on_parent_failure => 'run') runs anyway.  Retrying a
-- cancelled dependent is refused; retrying the parent brings them back.
SELECT jobs.pause_queue('wf_hold');
SELECT jobs.enqueue('SELECT 1 / (SELECT count(*) FROM gate)::int AS v',
                    max_attempts => 1, workflow => 'etl', queue => 'wf_hold') AS a \gset
SELECT jobs.enqueue('SELECT 2 AS b', depends_on => ARRAY[:a]) AS b \gset
SELECT jobs.enqueue('SELECT 3 AS c', depends_on => ARRAY[:b]) AS c \gset
SELECT jobs.enqueue('SELECT ''cleaned'' AS cleanup', depends_on => ARRAY[:a],
                    on_parent_failure => 'run') AS d \gset
SELECT jobs.resume_queue('wf_hold');
SELECT jobs.wait(:a, timeout => '60 s'), jobs.wait(:d, timeout => '60 s');
SELECT * FROM show(:a);
SELECT try(format('SELECT jobs.retry(%s)', :c));
INSERT INTO gate VALUES (true);
SELECT jobs.pause_queue('wf_hold');
SELECT jobs.retry(:a);
SELECT run, status, waiting_for, blame FROM show(:a);
SELECT jobs.resume_queue('wf_hold');
SELECT jobs.wait(:c, timeout => '60 s');
SELECT run, status, waiting_for, blame, output FROM show(:a);

-- A child enqueued after its parent failed is cancelled at once.
SELECT jobs.enqueue('SELECT 1/0', max_attempts => 1) AS a \gset
SELECT jobs.wait(:a, timeout => '60 s');
SELECT jobs.enqueue('SELECT 1', depends_on => ARRAY[:a]) AS b \gset
SELECT jobs.enqueue('SELECT 1 AS anyway', depends_on => ARRAY[:a], on_parent_failure => 'run') AS c \gset
SELECT jobs.wait(:c, timeout => '60 s');
SELECT run, status, blame, error_message, output FROM show(:a);

-- jobs.cancel of a run cancels what waits for it, clean-up steps included;
-- jobs.cancel_workflow cancels a whole workflow.
SELECT jobs.pause_queue('wf_hold');
SELECT jobs.enqueue('SELECT 1', queue => 'wf_hold') AS a \gset
SELECT jobs.enqueue('SELECT 2', depends_on => ARRAY[:a]) AS b \gset
SELECT jobs.enqueue('SELECT 3', depends_on => ARRAY[:b], on_parent_failure => 'run') AS c \gset
SELECT jobs.cancel(:a);
SELECT run, status, blame, error_message FROM show(:a);
SELECT jobs.enqueue('SELECT 1', queue => 'wf_hold', workflow => 'doomed') AS a \gset
SELECT jobs.enqueue_many('SELECT 2', ARRAY[NULL, NULL]::jsonb[], depends_on => ARRAY[:a]) AS mids \gset
SELECT jobs.cancel_workflow('doomed');
SELECT run, status, workflow FROM show(:a);
SELECT name, status, runs, cancelled FROM jobs.workflows WHERE name = 'doomed';
SELECT jobs.cancel_workflow('doomed');
SELECT jobs.resume_queue('wf_hold');

-- A clean-up step waiting for two parents: the first fails (one left), is
-- retried (two left again), completes (one left); it runs only after both.
TRUNCATE gate;
SELECT jobs.pause_queue('wf_hold');
SELECT jobs.pause_queue('wf_hold2');
SELECT jobs.enqueue('SELECT 1 / (SELECT count(*) FROM gate)::int', queue => 'wf_hold',
                    max_attempts => 1) AS p \gset
SELECT jobs.enqueue('SELECT 2', queue => 'wf_hold2') AS q \gset
SELECT jobs.enqueue('SELECT 3', depends_on => ARRAY[:p, :q], on_parent_failure => 'run') AS c \gset
SELECT jobs.resume_queue('wf_hold');
SELECT jobs.wait(:p, timeout => '60 s');
SELECT status, waiting_for FROM jobs.runs WHERE id = :c;
INSERT INTO gate VALUES (true);
SELECT jobs.pause_queue('wf_hold');
SELECT jobs.retry(:p);
SELECT status, waiting_for FROM jobs.runs WHERE id = :c;
SELECT jobs.resume_queue('wf_hold');
SELECT jobs.wait(:p, timeout => '60 s');
SELECT status, waiting_for FROM jobs.runs WHERE id = :c;
SELECT jobs.resume_queue('wf_hold2');
SELECT jobs.wait(:c, timeout => '60 s');

-- A retry does not revive a run whose dedupe_key an unfinished run took
-- meanwhile: it stays cancelled; the others come back.
TRUNCATE gate;
SELECT jobs.enqueue('SELECT 1 / (SELECT count(*) FROM gate)::int', max_attempts => 1) AS p \gset
SELECT jobs.enqueue('SELECT 1', depends_on => ARRAY[:p], dedupe_key => 'wf_key') AS c1 \gset
SELECT jobs.enqueue('SELECT 2', depends_on => ARRAY[:p]) AS c2 \gset
SELECT jobs.wait(:p, timeout => '60 s'), jobs.wait(:c1, timeout => '60 s');
SELECT jobs.pause_queue('wf_hold');
SELECT jobs.enqueue('SELECT 3', queue => 'wf_hold', dedupe_key => 'wf_key') AS taker \gset
INSERT INTO gate VALUES (true);
SELECT jobs.retry(:p);
SELECT jobs.wait(:c2, timeout => '60 s');
SELECT id = :c1 AS kept_key, status FROM jobs.runs WHERE id IN (:c1, :c2) ORDER BY id;
SELECT jobs.cancel(:taker) IS NOT NULL AS taker_gone;
SELECT jobs.resume_queue('wf_hold');

-- A clean-up step enqueued after a user cancelled its parent is cancelled
-- at once, as one enqueued before would have been.
SELECT jobs.pause_queue('wf_hold');
SELECT jobs.enqueue('SELECT 1', queue => 'wf_hold') AS p \gset
SELECT jobs.cancel(:p);
SELECT jobs.enqueue('SELECT 1', depends_on => ARRAY[:p], on_parent_failure => 'run') AS c \gset
SELECT status, regexp_replace(error_message, '\d+', 'N') AS error_message FROM jobs.runs WHERE id = :c;
SELECT jobs.resume_queue('wf_hold');

-- A waiting run keeps its dedupe_key.
SELECT jobs.pause_queue('wf_hold');
SELECT jobs.enqueue('SELECT 1', queue => 'wf_hold') AS a \gset
SELECT jobs.enqueue('SELECT 2', depends_on => ARRAY[:a], dedupe_key => 'once') AS b \gset
SELECT jobs.enqueue('SELECT 2', depends_on => ARRAY[:a], dedupe_key => 'once') = :b AS same_run;
SELECT count(*) FROM jobs.dependencies WHERE run_id = :b;
SELECT jobs.resume_queue('wf_hold');
SELECT jobs.wait(:b, timeout => '60 s');

-- jobs.trigger takes parents and a workflow too.
SELECT jobs.define('wf_step', 'SELECT ''step'' AS s');
SELECT jobs.enqueue('SELECT 1') AS a \gset
SELECT jobs.trigger('wf_step', depends_on => ARRAY[:a], workflow => 'triggered') AS b \gset
SELECT jobs.wait(:b, timeout => '60 s');
SELECT run, status, workflow FROM show(:a);

-- Outside a job there are no parents.
SELECT jobs.parent_outputs() IS NULL AS outside_a_job;

-- Bad input changes nothing.
SELECT count(*) AS runs_before FROM jobs.runs \gset
SELECT try('SELECT jobs.enqueue(''SELECT 1'', depends_on => ARRAY[NULL]::bigint[])');
SELECT try('SELECT jobs.enqueue(''SELECT 1'', depends_on => ARRAY[[1,2],[3,4]]::bigint[])');
SELECT try('SELECT jobs.enqueue(''SELECT 1'', depends_on => ARRAY[-5])');
SELECT try(format('SELECT jobs.enqueue(''SELECT 1'', depends_on => ARRAY[%s, -7])', :a));
SELECT try('SELECT jobs.enqueue(''SELECT 1'', on_parent_failure => ''ignore'')');
SELECT try('SELECT jobs.enqueue(''SELECT 1'', workflow => '''')');
SELECT try('SELECT jobs.enqueue(''SELECT 1'', workflow => repeat(''w'', 64))');
SELECT try('SELECT jobs.enqueue_many(''SELECT 1'', ARRAY[NULL]::jsonb[], depends_on => ARRAY[-1])');
SELECT try('SELECT jobs.cancel_workflow('''')');
SELECT count(*) = :runs_before AS nothing_added FROM jobs.runs;
SELECT jobs.enqueue('SELECT 1', depends_on => '{}') > 0 AS empty_depends_on_is_none;
SELECT jobs.enqueue('SELECT 1', depends_on => ARRAY[:a, :a]) AS dup \gset
SELECT count(*) AS edges_of_repeated_parent FROM jobs.dependencies WHERE run_id = :dup;

-- Another role's runs are not parents to depend on (42501), and are not
-- seen in jobs.dependencies or jobs.workflows.
CREATE ROLE zj_wf_alice LOGIN;
CREATE ROLE zj_wf_bob LOGIN;
SET ROLE zj_wf_alice;
SELECT jobs.enqueue('SELECT 1', workflow => 'alices') AS alice_run \gset
SELECT jobs.enqueue('SELECT 2', depends_on => ARRAY[:alice_run]) AS alice_child \gset
SELECT jobs.wait(:alice_child, timeout => '60 s');
SET ROLE zj_wf_bob;
SELECT try(format('SELECT jobs.enqueue(''SELECT 1'', depends_on => ARRAY[%s])', :alice_run));
SELECT count(*) AS deps_seen FROM jobs.dependencies WHERE run_id = :alice_child;
SELECT count(*) AS workflows_seen FROM jobs.workflows WHERE name = 'alices';
SELECT jobs.cancel_workflow('alices') AS cancelled_of_alices;
RESET ROLE;
GRANT zj_wf_alice TO zj_wf_bob;
SET ROLE zj_wf_bob;
SELECT jobs.enqueue('SELECT 3', depends_on => ARRAY[:alice_run]) AS bob_child \gset
SELECT jobs.wait(:bob_child, timeout => '60 s');
RESET ROLE;

-- Rate limits: the API and its errors (their timing is tested in TAP).
SELECT jobs.set_queue_rate('rl', 3, '1 minute');
SELECT scope, name, runs, per, next_slot FROM jobs.rate_limits;
SELECT count(*) AS slots, count(*) FILTER (WHERE started_at = '-infinity') AS free FROM jobs.rate_starts;
SELECT try('SELECT jobs.set_queue_rate(''rl'', 0, ''1 s'')');
SELECT try('SELECT jobs.set_queue_rate(''rl'', 200000, ''1 s'')');
SELECT try('SELECT jobs.set_queue_rate(''rl'', 5, ''0 s'')');
SELECT try('SELECT jobs.set_queue_rate(''rl'', 5, NULL)');
SELECT try('SELECT jobs.set_job_rate('''', 5, ''1 s'')');
SET ROLE zj_wf_alice;
SELECT try('SELECT jobs.set_queue_rate(''rl'', 5, ''1 s'')');
RESET ROLE;
SELECT scope, name, runs, per FROM jobs.rate_limits;
SELECT jobs.set_job_rate('wf_step', 2);
SELECT jobs.set_queue_rate('rl', NULL, NULL);
SELECT scope, name, runs, per FROM jobs.rate_limits ORDER BY 1, 2;
SELECT jobs.set_job_rate('wf_step', NULL);
SELECT count(*) AS limits_left FROM jobs.rate_limits;

-- A statement of a superuser that itself inserts into jobs.dependencies
-- and enqueues a run with a parent: zapjobs' own insert of the edge fires
-- the restore trigger inside its bookkeeping, which nests.  The session
-- must come out of both as it went in (it stayed a security-restricted
-- operation: no temporary table could be made).
SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 day') AS nest_parent \gset
INSERT INTO jobs.dependencies (run_id, parent_id)
SELECT jobs.enqueue('SELECT 2', depends_on => ARRAY[:nest_parent]::bigint[]), :nest_parent
ON CONFLICT DO NOTHING;
CREATE TEMP TABLE after_nested_bookkeeping (x int);
SHOW search_path;
SELECT count(*) AS edges FROM jobs.dependencies WHERE parent_id = :nest_parent;
