/*-------------------------------------------------------------------------
 *
 * runstate_retry.c
 *	  jobs.cancel and jobs.retry, and what they set off along the
 *	  dependency graph: a cancel cancels what waits for the run, a retry
 *	  brings back the runs its failure or cancellation cancelled; and
 *	  failing the runs no worker can serve.  Part of the run-state module
 *	  (runstate_internal.h); runstate_deps.c settles what waits for a run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "query.h"
#include "runstate_internal.h"
#include "wakeup.h"

/* ---------------------------------------------------------------------
 * jobs.cancel, jobs.retry (control.c checks who may), unserved runs
 * ---------------------------------------------------------------------
 */

/*
 * A run not running yet is cancelled at once, with what waits for it; a
 * running one is marked, and its worker interrupted once that commits
 * (the end of its attempt cancels what waits for it).  False if the run
 * was finished already.
 */
bool
zj_runstate_cancel(int64 id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2];
	bool		marked;
	bool		running = false;
	bool		dependents = false;

	values[0] = Int64GetDatum(id);
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	zj_query_begin();
	marked = zj_query_exec(&plan,
						   zj_runstate_sql(plan,
										   "UPDATE jobs.runs AS r SET cancel_requested = true,"
										   " status = CASE WHEN r.status = 'running'"
										   "  THEN 'running' ELSE 'cancelled' END,"
										   " finished_at = CASE WHEN r.status = 'running'"
										   "  THEN NULL ELSE $2 END,"
										   " next_retry_at = NULL"
										   " WHERE r.id = $1 AND %s"
										   " RETURNING " ZJ_EVENT_COLUMNS ", r.has_dependents",
										   ZJ_TR_CANCEL, "r", false),
						   2, types, values, NULL) == 1;
	if (marked)
	{
		running = strcmp(zj_query_text(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 2), "running") == 0;
		dependents = zj_query_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								   ZJ_EVENT_NCOLS + 1);
		/* Only the worker knows when it stops: its attempt's end is news. */
		if (!running)
			zj_runstate_record_all(ZJ_TR_CANCEL);
	}
	zj_query_end();
	if (running)
		zj_wakeup_note_cancel(id);
	else if (dependents)
		zj_runstate_settle_one(id, false);
	return marked;
}

/* jobs.retry must not make a second unfinished run of one dedupe_key. */
static void
zj_runstate_check_dedupe(int64 id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	int64		other;

	if (zj_query_exec(&plan,
					  "SELECT o.id FROM jobs.runs r JOIN jobs.runs o"
					  " ON o.owner = r.owner AND o.dedupe_key = r.dedupe_key"
					  " WHERE r.id = $1 AND o.status IN " ZJ_UNFINISHED_STATUSES,
					  1, types, values, NULL) == 0)
		return;
	other = zj_query_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("run " INT64_FORMAT " has the dedupe key of unfinished run " INT64_FORMAT,
					id, other),
			 errhint("Wait for run " INT64_FORMAT " to finish, or cancel it.", other)));
}

/*
 * Before a retry: a run cancelled because a parent did not complete comes
 * back with the retry of that parent, and a run whose parent failed
 * cannot run before that parent does (an error, changing nothing).
 * Share-locks the parents; returns how many have not finished yet.
 */
static int32
zj_runstate_retry_parents(int64 id)
{
	static SPIPlanPtr self = NULL;
	static SPIPlanPtr parents = NULL;
	Oid			types[1] = {INT8OID};
	Oid			parent_types[2] = {INT8ARRAYOID, BOOLOID};
	Datum		values[2] = {Int64GetDatum(id)};
	HeapTuple	tup;
	TupleDesc	desc;
	int64		blame;
	bool		run_anyway;

	if (zj_query_exec(&self,
					  "SELECT r.cancelled_by, r.on_parent_failure = 'run' FROM jobs.runs r"
					  " WHERE r.id = $1 AND r.status IN ('failed', 'cancelled')",
					  1, types, values, NULL) != 1)
		return 0;				/* not retryable: the retry does nothing */
	blame = zj_query_int8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (blame != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run " INT64_FORMAT " was cancelled because run " INT64_FORMAT " did not complete",
						id, blame),
				 errhint("Retry run " INT64_FORMAT ": the runs waiting for it come back with it.",
						 blame)));
	run_anyway = zj_query_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	values[0] = zj_runstate_parents_of(zj_query_array(values, NULL, 1, INT8OID));
	if (values[0] == (Datum) 0)
		return 0;				/* no parents */
	values[1] = BoolGetDatum(run_anyway);
	zj_query_exec_latest(&parents,
						 "SELECT (count(*) FILTER (WHERE s.status NOT IN " ZJ_FINISHED "))::int4,"
						 " min(s.id) FILTER (WHERE " ZJ_BLOCKS("s", "$2") ")"
						 " FROM (SELECT p.id, p.status, p.cancel_requested FROM jobs.runs p WHERE p.id = ANY ($1)"
						 "  ORDER BY p.id FOR SHARE) s",
						 2, parent_types, values, NULL);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	blame = zj_query_int8(tup, desc, 2);
	if (blame != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run " INT64_FORMAT " cannot run: its parent run " INT64_FORMAT " did not complete",
						id, blame),
				 errhint("Retry run " INT64_FORMAT " first.", blame)));
	return zj_query_int4(tup, desc, 1);
}

/*
 * The runs the cancellation or failure of run id cancelled, as of the
 * latest snapshot (an int8[]), or NULL; their parents share-locked.
 */
static Datum
zj_runstate_revivable(int64 id)
{
	static SPIPlanPtr find = NULL;
	static SPIPlanPtr lock = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	Oid			lock_types[1] = {INT8ARRAYOID};
	Datum		ids;
	Datum		parents;
	bool		none;

	zj_query_exec_latest(&find,
						 "SELECT pg_catalog.array_agg(r.id) FROM jobs.runs r"
						 " WHERE r.cancelled_by = $1 AND r.status = 'cancelled'",
						 1, types, values, NULL);
	ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &none);
	if (none)
		return (Datum) 0;
	parents = zj_runstate_parents_of(ids);
	if (parents != (Datum) 0)
		zj_query_exec_latest(&lock,
							 "SELECT FROM jobs.runs p WHERE p.id = ANY ($1) ORDER BY p.id FOR SHARE",
							 1, lock_types, &parents, NULL);
	return ids;
}

/* Revived run r's parents not finished: the revived ones count as such. */
#define ZJ_REVIVE_UNRESOLVED \
	"(SELECT count(*)::int4 FROM jobs.dependencies d JOIN jobs.runs p ON p.id = d.parent_id" \
	" WHERE d.run_id = r.id AND (p.id = ANY ($1) OR p.status NOT IN " ZJ_FINISHED "))"
/* ...and those that keep it from running (a FROM clause and its condition). */
#define ZJ_REVIVE_BLOCKERS \
	" FROM jobs.dependencies d JOIN jobs.runs p ON p.id = d.parent_id" \
	" WHERE d.run_id = r.id AND p.id <> ALL ($1)" \
	" AND " ZJ_BLOCKS("p", "coalesce(r.on_parent_failure = 'run', false)")

/*
 * Children of run id (just retried) that run whatever their parents did
 * and still wait: they no longer counted it, as it had finished; now it
 * has not.
 */
static void
zj_runstate_rewait(int64 id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	zj_query_exec_latest(&plan,
						 "UPDATE jobs.runs AS r SET waiting_for = r.waiting_for + 1"
						 " WHERE r.id = ANY (ARRAY(SELECT d.run_id FROM jobs.dependencies d"
						 "  WHERE d.parent_id = $1))"
						 " AND r.status = 'waiting' AND r.on_parent_failure = 'run'",
						 1, types, values, NULL);
}

/*
 * Bring back the runs run id (just retried) cancelled: waiting again for
 * the parents that have not finished, the retried run and the revived
 * runs among them.  One whose other parent failed stays cancelled, now
 * blaming that parent, and what waits for it is settled.
 */
static void
zj_runstate_revive(int64 id)
{
	static SPIPlanPtr revive = NULL;
	static SPIPlanPtr blame = NULL;
	Oid			types[3] = {INT8ARRAYOID, TIMESTAMPTZOID, INT8OID};
	Datum		values[3];
	MemoryContext caller = CurrentMemoryContext;
	ArrayType  *blocked;

	zj_query_begin();
	zj_runstate_rewait(id);
	values[0] = zj_runstate_revivable(id);
	if (values[0] == (Datum) 0)
	{
		zj_query_end();
		return;
	}
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[2] = Int64GetDatum(id);
	/*
	 * Per-row subqueries, not a join of the revived runs with their counts
	 * (see ZjChildren).  A run stays cancelled if another parent keeps it
	 * from running, or if an unfinished run took its dedupe_key meanwhile.
	 */
	zj_query_exec_latest(&revive,
						 zj_runstate_sql(revive,
										 "UPDATE jobs.runs AS r SET waiting_for = " ZJ_REVIVE_UNRESOLVED ","
										 " status = CASE WHEN " ZJ_REVIVE_UNRESOLVED " > 0 THEN 'waiting'"
										 "  WHEN r.run_at > $2 THEN 'scheduled' ELSE 'pending' END,"
										 " cancelled_by = NULL, cancel_requested = false,"
										 " finished_at = NULL, error_message = NULL"
										 " WHERE r.id = ANY ($1) AND %s AND r.cancelled_by = $3"
										 " AND NOT EXISTS (SELECT" ZJ_REVIVE_BLOCKERS ")"
										 " AND NOT EXISTS (SELECT FROM jobs.runs o WHERE o.owner = r.owner"
										 "  AND o.dedupe_key = r.dedupe_key AND o.status IN " ZJ_UNFINISHED_STATUSES ")"
										 " RETURNING " ZJ_EVENT_COLUMNS ", r.owner, r.priority",
										 ZJ_TR_REVIVE, "r", true),
						 3, types, values, NULL);
	zj_runstate_record_ready(ZJ_TR_REVIVE);
	/* Those kept cancelled: a parent that keeps them so is to blame now. */
	zj_query_exec_latest(&blame,
						 "UPDATE jobs.runs AS r SET cancel_requested = false, cancelled_by ="
						 " coalesce((SELECT min(coalesce(p.cancelled_by, p.id))" ZJ_REVIVE_BLOCKERS "),"
						 "  r.cancelled_by)"
						 " WHERE r.id = ANY ($1) AND r.status = 'cancelled' AND r.cancelled_by = $3"
						 " RETURNING r.id, true",
						 3, types, values, NULL);
	blocked = zj_runstate_with_dependents(2, caller);
	zj_query_end();
	if (blocked != NULL)
		zj_runstate_settle(blocked, false);
}

/*
 * failed or cancelled -> pending (waiting, if parents have not finished),
 * allowed one more attempt, with the runs it cancelled; false for other
 * runs.
 */
bool
zj_runstate_retry(int64 id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {INT8OID, TIMESTAMPTZOID, INT4OID};
	Datum		values[3];
	bool		requeued;
	Oid			owner = InvalidOid;
	int32		priority = 0;

	values[0] = Int64GetDatum(id);
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	zj_query_begin();
	zj_runstate_check_dedupe(id);
	values[2] = Int32GetDatum(zj_runstate_retry_parents(id));
	requeued = zj_query_exec(&plan,
							 zj_runstate_sql(plan,
											 "UPDATE jobs.runs AS r SET status = CASE WHEN $3 > 0"
											 "  THEN 'waiting' ELSE 'pending' END, waiting_for = $3,"
											 " run_at = $2, next_retry_at = NULL,"
											 " max_attempts = greatest(r.max_attempts, r.attempt + 1),"
											 " cancel_requested = false, crashes = 0,"
											 " started_at = NULL, finished_at = NULL,"
											 " duration = NULL"
											 " WHERE r.id = $1 AND %s"
											 " RETURNING " ZJ_EVENT_COLUMNS ", r.owner::oid, r.priority",
											 ZJ_TR_RETRY, "r", false),
							 3, types, values, NULL) == 1;
	if (requeued)
	{
		owner = zj_query_oid(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							 ZJ_EVENT_NCOLS + 1);
		priority = zj_query_int4(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								 ZJ_EVENT_NCOLS + 2);
		zj_runstate_record_all(ZJ_TR_RETRY);
	}
	zj_query_end();
	if (requeued && DatumGetInt32(values[2]) == 0)
		zj_wakeup_note_enqueue(owner, 1, priority, DatumGetTimestampTz(values[1]));
	if (requeued)
		zj_runstate_revive(id);
	return requeued;
}

/* pending -> failed for every run of a role no worker can serve. */
int
zj_runstate_fail_unserved(Oid role, const char *sqlstate, const char *message,
						  const char *hint)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[4] = {REGROLEOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	MemoryContext caller = CurrentMemoryContext;
	ArrayType  *parents;
	int			n;

	values[0] = ObjectIdGetDatum(role);
	values[1] = CStringGetTextDatum(sqlstate);
	values[2] = CStringGetTextDatum(message);
	values[3] = CStringGetTextDatum(hint);
	zj_query_begin();
	n = zj_query_exec(&plan,
					  zj_runstate_sql(plan,
									  "UPDATE jobs.runs AS r SET status = 'failed',"
									  " finished_at = pg_catalog.clock_timestamp(),"
									  " error_sqlstate = $2, error_message = $3,"
									  " error_hint = $4"
									  " WHERE r.id IN (SELECT q.id FROM jobs.runs q"
									  "  WHERE q.owner = $1 AND %s"
									  "  FOR NO KEY UPDATE SKIP LOCKED)"
									  " RETURNING " ZJ_EVENT_COLUMNS ", r.has_dependents",
									  ZJ_TR_FAIL_UNSERVED, "q", false),
					  4, types, values, NULL);
	zj_runstate_record_all(ZJ_TR_FAIL_UNSERVED);
	parents = zj_runstate_with_dependents(ZJ_EVENT_NCOLS + 1, caller);
	zj_query_end();
	if (parents != NULL)
		zj_runstate_settle(parents, false);
	return n;
}
