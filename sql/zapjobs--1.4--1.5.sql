-- zapjobs 1.4 -> 1.5: indexes for the dashboard's runs list (zapjobs web),
-- which pages by id, newest first, through the runs matching a filter.
-- Without them a filter that matched few runs of a large table (a queue
-- or a job with few runs, failed runs of one queue, no cancelled run at
-- all) read the table from its newest run until it had a page, or to its
-- end: 0.1 to 0.4 s with a million runs.
--
-- A run's change of status is no HOT update (status is in the partial
-- indexes' predicates): it writes an entry in every index whose predicate
-- the new row meets.  So these index finished runs only, the millions a
-- dashboard pages through: each run is written into them once, when it
-- ends, and enqueueing writes nothing more.  Runs on their way (waiting,
-- scheduled, pending, running, awaiting a retry) are read through their
-- own partial indexes (1.0, 1.2), each kept in id order or small.
\echo Use "ALTER EXTENSION zapjobs UPDATE TO '1.5'" to load this file. \quit

-- Finished runs of a queue, and of a job name, newest first.
CREATE INDEX runs_finished_queue_idx ON jobs.runs (queue, id)
    WHERE status IN ('completed', 'failed', 'cancelled');
CREATE INDEX runs_finished_name_idx ON jobs.runs (name, id)
    WHERE status IN ('completed', 'failed', 'cancelled') AND name IS NOT NULL;
-- Failed and cancelled runs, newest first: a few among the completed.
CREATE INDEX runs_failed_cancelled_idx ON jobs.runs (status, id)
    WHERE status IN ('failed', 'cancelled');
