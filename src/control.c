/*-------------------------------------------------------------------------
 *
 * control.c
 *	  SQL functions that act on runs and workers from outside them:
 *	  jobs.cancel, jobs.retry, jobs._limits_changed and jobs.worker_status
 *	  (the jobs.workers view).
 *
 *	  Only members of a run's owner role (superusers included) may cancel
 *	  or retry it.  Cancelling a running run marks its row, and once that
 *	  commits interrupts its worker (SIGINT, as pg_cancel_backend would);
 *	  the worker records the attempt as cancelled because the row says so,
 *	  whatever error the interruption surfaced as.  A job that swallows the
 *	  interruption is terminated by the launcher (watchdog in pool.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "zapjobs.h"
#include "bookkeeping.h"

PG_FUNCTION_INFO_V1(zj_cancel);
PG_FUNCTION_INFO_V1(zj_retry);
PG_FUNCTION_INFO_V1(zj_limits_changed);
PG_FUNCTION_INFO_V1(zj_worker_status);

static const char *const zj_slot_state_names[] = {
	[ZJ_SLOT_FREE] = "free",
	[ZJ_SLOT_STARTING] = "starting",
	[ZJ_SLOT_IDLE] = "idle",
	[ZJ_SLOT_BUSY] = "running",
};

/* The run must exist and the caller be a member of its owner role. */
static void
zj_control_check_access(int64 id, const char *action)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	Oid			owner = InvalidOid;
	bool		isnull;

	zj_book_begin();
	if (zj_book_exec(&plan, "SELECT r.owner::oid FROM jobs.runs r WHERE r.id = $1",
					 1, types, values, NULL) == 1)
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	zj_book_end();
	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run " INT64_FORMAT " does not exist", id)));
	if (!is_member_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s run " INT64_FORMAT, action, id),
				 errdetail("Only members of the role that owns a run may %s it.",
						   action)));
}

/*
 * Interrupt the worker executing (or about to execute) run_id.  The
 * worker checks cancel_id when it starts a run, so a run claimed but not
 * started yet is stopped too.  Called after the cancel committed.
 */
void
zj_control_interrupt(int64 run_id)
{
	int			i;

	/* Signal under the lock: a worker must hold it to leave its slot. */
	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *slot = &zj_shared->slots[i];

		if (slot->pid == 0 ||
			(slot->claimed_id != run_id && slot->run_id != run_id))
			continue;
		slot->cancel_id = run_id;
		slot->cancel_at = GetCurrentTimestamp();
		if (slot->run_id == run_id)
			(void) kill(slot->pid, SIGINT);
	}
	LWLockRelease(zj_shared->lock);
	zj_request_maintenance();	/* the watchdog escalates if ignored */
}

/*
 * jobs.cancel(run_id) RETURNS boolean.  A run not running yet is
 * cancelled at once; a running one is marked and interrupted at commit.
 */
Datum
zj_cancel(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	int64		id = PG_GETARG_INT64(0);
	Oid			types[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2];
	bool		marked;
	bool		running = false;

	zj_worker_check_sees_runs("jobs.cancel()");

	PreventCommandIfReadOnly("jobs.cancel()");
	zj_control_check_access(id, "cancel");
	values[0] = Int64GetDatum(id);
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	zj_book_begin();
	marked = zj_book_exec(&plan,
						  "UPDATE jobs.runs AS r SET cancel_requested = true,"
						  " status = CASE WHEN r.status = 'running' THEN 'running'"
						  "  ELSE 'cancelled' END,"
						  " finished_at = CASE WHEN r.status = 'running' THEN NULL"
						  "  ELSE $2 END,"
						  " next_retry_at = NULL"
						  " WHERE r.id = $1 AND r.status IN " ZJ_UNFINISHED_STATUSES
						  " RETURNING " ZJ_EVENT_COLUMNS,
						  2, types, values, NULL) == 1;
	if (marked)
	{
		running = strcmp(zj_book_text(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 2), "running") == 0;
		if (!running)
			zj_book_record_events(1);
	}
	zj_book_end();
	if (running)
		zj_wakeup_note_cancel(id);
	PG_RETURN_BOOL(marked);
}

/* jobs.retry must not make a second unfinished run of one dedupe_key. */
static void
zj_control_check_dedupe(int64 id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	int64		other;
	bool		isnull;

	if (zj_book_exec(&plan,
					 "SELECT o.id FROM jobs.runs r JOIN jobs.runs o"
					 " ON o.owner = r.owner AND o.dedupe_key = r.dedupe_key"
					 " WHERE r.id = $1 AND o.status IN " ZJ_UNFINISHED_STATUSES,
					 1, types, values, NULL) == 0)
		return;
	other = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("run " INT64_FORMAT " has the dedupe key of unfinished run " INT64_FORMAT,
					id, other),
			 errhint("Wait for run " INT64_FORMAT " to finish, or cancel it.", other)));
}

/*
 * jobs.retry(run_id) RETURNS boolean: a failed or cancelled run becomes
 * pending again, allowed one more attempt; false for other runs.
 */
Datum
zj_retry(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	int64		id = PG_GETARG_INT64(0);
	Oid			types[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2];
	bool		requeued;
	Oid			owner = InvalidOid;
	bool		isnull;

	zj_worker_check_sees_runs("jobs.retry()");

	PreventCommandIfReadOnly("jobs.retry()");
	zj_control_check_access(id, "retry");
	values[0] = Int64GetDatum(id);
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	zj_book_begin();
	zj_control_check_dedupe(id);
	requeued = zj_book_exec(&plan,
							"UPDATE jobs.runs AS r SET status = 'pending',"
							" run_at = $2, next_retry_at = NULL,"
							" max_attempts = greatest(r.max_attempts, r.attempt + 1),"
							" cancel_requested = false, crashes = 0,"
							" started_at = NULL, finished_at = NULL, duration = NULL"
							" WHERE r.id = $1 AND r.status IN ('failed', 'cancelled')"
							" RETURNING " ZJ_EVENT_COLUMNS ", r.owner::oid",
							2, types, values, NULL) == 1;
	if (requeued)
	{
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc,
											   ZJ_EVENT_NCOLS + 1, &isnull));
		zj_book_record_events(1);
	}
	zj_book_end();
	if (requeued)
		zj_wakeup_note_enqueue(owner, 1);
	PG_RETURN_BOOL(requeued);
}

/* jobs._limits_changed(): queue settings or job limits are being changed. */
Datum
zj_limits_changed(PG_FUNCTION_ARGS)
{
	if (zj_shmem_ready())
		pg_atomic_write_u32(&zj_shared->limits_active, 1);
	zj_wakeup_note_limits();
	PG_RETURN_VOID();
}

/* May the current user see workers of role? */
static bool
zj_control_may_see(Oid role)
{
	return is_member_of_role(GetUserId(), role) ||
		has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

/*
 * One row of jobs.worker_status(): fields from a copy of the slot taken
 * under the lock, counters (atomics) from the slot itself.
 */
static void
zj_control_worker_row(Tuplestorestate *store, TupleDesc desc, ZjWorkerSlot *s,
					  ZjWorkerSlot *live)
{
	Datum		values[9];
	bool		nulls[9];
	TimestampTz heartbeat = (TimestampTz) pg_atomic_read_u64(&live->heartbeat);

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int32GetDatum(s->pid);
	nulls[0] = s->pid == 0;
	values[1] = ObjectIdGetDatum(s->role);
	values[2] = CStringGetTextDatum(zj_slot_state_names[s->state]);
	values[3] = Int64GetDatum(s->run_id);
	nulls[3] = s->run_id == 0;
	values[4] = TimestampTzGetDatum(s->started_at);
	nulls[4] = s->started_at == 0;
	values[5] = TimestampTzGetDatum(s->state_since);
	nulls[5] = s->state_since == 0;
	values[6] = TimestampTzGetDatum(heartbeat);
	nulls[6] = heartbeat == 0;
	values[7] = Int64GetDatum((int64) pg_atomic_read_u64(&live->runs_completed));
	values[8] = Int64GetDatum((int64) pg_atomic_read_u64(&live->runs_failed));
	tuplestore_putvalues(store, desc, values, nulls);
}

/*
 * Start a set-returning function that materializes its rows: the
 * tuplestore to fill and its tuple descriptor.
 */
Tuplestorestate *
zj_srf_begin(FunctionCallInfo fcinfo, TupleDesc *desc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Tuplestorestate *store;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	*desc = CreateTupleDescCopy(*desc);
	store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = *desc;
	return store;
}

/* jobs.worker_status(): the worker slots in use, read from shared memory. */
Datum
zj_worker_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *store = zj_srf_begin(fcinfo, &desc);
	int			i;

	for (i = 0; zj_shmem_ready() && i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot copy;

		LWLockAcquire(zj_shared->lock, LW_SHARED);
		memcpy(&copy, &zj_shared->slots[i], sizeof(copy));
		LWLockRelease(zj_shared->lock);
		if (copy.state == ZJ_SLOT_FREE || !zj_control_may_see(copy.role))
			continue;
		zj_control_worker_row(store, desc, &copy, &zj_shared->slots[i]);
	}
	return (Datum) 0;
}
