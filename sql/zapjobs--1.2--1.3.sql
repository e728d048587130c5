-- zapjobs 1.2 -> 1.3: restores into a served database.  pg_restore and
-- psql load jobs.runs, commit, then load jobs.dependencies, the queues,
-- the limits, the logs..., while the launcher already serves the database
-- (CREATE EXTENSION came first) and the rest of the database is still to
-- come.  Nothing else runs inside a restore but these triggers.
\echo Use "ALTER EXTENSION zapjobs UPDATE TO '1.3'" to load this file. \quit

-- For a statement that loads runs or dependencies as a restore does (a
-- COPY into the table, or an INSERT into it sent by the client, not one
-- of zapjobs' own), or definitions (a COPY: direct INSERTs define jobs):
-- no run starts, no schedule fires, no retention or reaping happens in
-- this database until that session ends.  pg_restore --jobs may load the
-- definitions before the runs, in another session: a schedule firing then
-- would take an id the runs are yet to bring.  After dependencies are
-- loaded, the waiting runs whose parents finished meanwhile are counted
-- again, so none is left waiting.
CREATE FUNCTION jobs._restoring() RETURNS trigger
AS 'MODULE_PATHNAME', 'zj_restore_loading'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION jobs._restoring() FROM PUBLIC;

CREATE TRIGGER runs_restoring BEFORE INSERT ON jobs.runs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs._restoring();
CREATE TRIGGER dependencies_restoring AFTER INSERT ON jobs.dependencies
    FOR EACH STATEMENT EXECUTE FUNCTION jobs._restoring();
CREATE TRIGGER definitions_restoring BEFORE INSERT ON jobs.definitions
    FOR EACH STATEMENT EXECUTE FUNCTION jobs._restoring('copy');
