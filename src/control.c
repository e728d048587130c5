/*-------------------------------------------------------------------------
 *
 * control.c
 *	  SQL functions that act on runs and workers from outside them:
 *	  jobs.cancel, jobs.retry, jobs._limits_changed, jobs.worker_status
 *	  (the jobs.workers view) and jobs.pool_status (the jobs.pool view).
 *
 *	  Only members of a run's owner role (superusers included) may cancel
 *	  or retry it; to others it does not exist.  Cancelling a running run marks its row, and once that
 *	  commits interrupts its worker (SIGINT, as pg_cancel_backend would);
 *	  the worker records the attempt as cancelled because the row says so,
 *	  whatever error the interruption surfaced as.  A job that swallows the
 *	  interruption is terminated by the launcher (watchdog.c).  The state
 *	  changes themselves are runstate.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "query.h"
#include "runctx.h"
#include "runstate.h"
#include "version.h"
#include "shmem.h"
#include "srf.h"
#include "wakeup.h"

PG_FUNCTION_INFO_V1(zj_cancel);
PG_FUNCTION_INFO_V1(zj_retry);
PG_FUNCTION_INFO_V1(zj_limits_changed);
PG_FUNCTION_INFO_V1(zj_worker_status);
PG_FUNCTION_INFO_V1(zj_pool_status);

static const char *const zj_slot_state_names[] = {
	[ZJ_SLOT_FREE] = "free",
	[ZJ_SLOT_STARTING] = "starting",
	[ZJ_SLOT_IDLE] = "idle",
	[ZJ_SLOT_BUSY] = "running",
};

/*
 * The run must exist and the caller be a member of its owner role.  A run
 * of another role is answered as a free id is, as jobs.wait() does: the
 * answer must not tell which ids exist.
 */
static void
zj_control_check_access(int64 id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	Oid			owner = InvalidOid;

	zj_query_begin();
	if (zj_query_exec(&plan, "SELECT r.owner::oid FROM jobs.runs r WHERE r.id = $1",
					  1, types, values, NULL) == 1)
		owner = zj_query_oid(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	zj_query_end();
	if (!OidIsValid(owner) || !is_member_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run " INT64_FORMAT " does not exist", id),
				 errhint("Runs of roles you are not a member of are not visible.")));
}

/*
 * jobs.cancel(run_id) RETURNS boolean.  A run not running yet is
 * cancelled at once; a running one is marked and interrupted at commit.
 */
Datum
zj_cancel(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);

	zj_runctx_check_sees_runs("jobs.cancel()");
	PreventCommandIfReadOnly("jobs.cancel()");
	zj_version_check("jobs.cancel()");
	zj_control_check_access(id);
	PG_RETURN_BOOL(zj_runstate_cancel(id));
}

/*
 * jobs.retry(run_id) RETURNS boolean: a failed or cancelled run becomes
 * pending again, allowed one more attempt; false for other runs.
 */
Datum
zj_retry(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);

	zj_runctx_check_sees_runs("jobs.retry()");
	PreventCommandIfReadOnly("jobs.retry()");
	zj_version_check("jobs.retry()");
	zj_control_check_access(id);
	PG_RETURN_BOOL(zj_runstate_retry(id));
}

/* jobs._limits_changed(): queue settings or job limits are being changed. */
Datum
zj_limits_changed(PG_FUNCTION_ARGS)
{
	if (zj_shmem_ready() && zj_shmem_my_db(true) != NULL)
		pg_atomic_write_u32(&zj_db->limits_active, 1);
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
		if (copy.state == ZJ_SLOT_FREE || copy.database != MyDatabaseId ||
			!zj_control_may_see(copy.role))
			continue;
		zj_control_worker_row(store, desc, &copy, &zj_shared->slots[i]);
	}
	return (Datum) 0;
}

/* A TimestampTz kept in a shared counter, NULL for 0. */
static void
zj_control_time(Datum *value, bool *isnull, pg_atomic_uint64 *counter)
{
	TimestampTz t = (TimestampTz) pg_atomic_read_u64(counter);

	*value = TimestampTzGetDatum(t);
	*isnull = t == 0;
}

/* Columns 5 to 10 of jobs.pool_status(): what the launcher saw. */
static void
zj_control_pool_stats(Datum *values, bool *nulls, ZjDatabase *db)
{
	ZjPoolStats *p = &db->pool;
	PGPROC	   *launcher = db->launcher;

	values[5] = Int32GetDatum((int32) pg_atomic_read_u32(&p->roles_waiting));
	zj_control_time(&values[6], &nulls[6], &p->waiting_since);
	values[7] = Int64GetDatum((int64) pg_atomic_read_u64(&p->start_refusals));
	zj_control_time(&values[8], &nulls[8], &p->last_refusal_at);
	values[9] = Int64GetDatum((int64) pg_atomic_read_u64(&p->retired_for_others));
	values[10] = Int32GetDatum(launcher != NULL ? launcher->pid : 0);
	nulls[10] = launcher == NULL;
}

/*
 * jobs.pool_status(): this database's share of the cluster's worker slots
 * and what keeps its roles waiting.
 */
Datum
zj_pool_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[11];
	bool		nulls[11] = {false};
	int			count[ZJ_SLOT_BUSY + 1] = {0};
	int			i;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!zj_shmem_ready())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("zapjobs is not loaded at server start"),
				 errhint("Add zapjobs to shared_preload_libraries and restart the server.")));
	LWLockAcquire(zj_shared->lock, LW_SHARED);
	for (i = 0; i < zj_shared->nslots; i++)
		if (zj_shared->slots[i].database == MyDatabaseId)
			count[zj_shared->slots[i].state]++;
	LWLockRelease(zj_shared->lock);
	values[0] = Int32GetDatum(zj_shared->nslots);
	values[1] = Int32GetDatum(count[ZJ_SLOT_BUSY] + count[ZJ_SLOT_IDLE] +
							  count[ZJ_SLOT_STARTING]);
	values[2] = Int32GetDatum(count[ZJ_SLOT_BUSY]);
	values[3] = Int32GetDatum(count[ZJ_SLOT_IDLE]);
	values[4] = Int32GetDatum(count[ZJ_SLOT_STARTING]);
	if (zj_shmem_my_db(false) != NULL)
		zj_control_pool_stats(values, nulls, zj_db);
	else
	{
		values[5] = Int32GetDatum(0);
		nulls[6] = nulls[8] = nulls[10] = true;
		values[7] = values[9] = Int64GetDatum(0);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
