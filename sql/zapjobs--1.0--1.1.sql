-- zapjobs 1.0 -> 1.1: the pool's state at a glance (jobs.pool).
\echo Use "ALTER EXTENSION zapjobs UPDATE TO '1.1'" to load this file. \quit

-- One row: the worker slots and what keeps roles waiting for a worker.
-- start_refusals counts worker starts the server refused for want of a
-- background worker slot (max_worker_processes, parallel query drawing on
-- the same slots); retired_for_others the idle workers that gave their
-- slot to a role with runs waiting.  Counters start at zero with the
-- server.  Aggregates only: no role name, no run.
CREATE FUNCTION jobs.pool_status(
    OUT max_workers integer, OUT workers integer, OUT busy integer,
    OUT idle integer, OUT starting integer, OUT roles_waiting integer,
    OUT waiting_since timestamptz, OUT start_refusals bigint,
    OUT last_refusal_at timestamptz, OUT retired_for_others bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'zj_pool_status'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW jobs.pool AS SELECT * FROM jobs.pool_status();
COMMENT ON VIEW jobs.pool IS
    'zapjobs worker pool: slots in use, roles waiting for a worker, worker starts the server refused';
GRANT SELECT ON jobs.pool TO PUBLIC;
