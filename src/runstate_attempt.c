/*-------------------------------------------------------------------------
 *
 * runstate_attempt.c
 *	  The state changes of a worker's attempts: claim (pending -> running),
 *	  completion, the end of an attempt that did not complete, and a
 *	  requeue at shutdown; a batch's locked runs go straight from pending
 *	  to their outcome.  Part of the run-state module: the transitions and
 *	  their guard are in runstate.c's table (runstate_internal.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "events.h"
#include "query.h"
#include "runstate_internal.h"
#include "shmem.h"
#include "wakeup.h"

/* Copy a run (ZJ_RUN_COLUMNS) out of SPI memory into cxt. */
ZjRun *
zj_runstate_copy_run(HeapTuple tup, TupleDesc desc, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ZjRun	   *run = palloc0(sizeof(ZjRun));
	bool		isnull;
	Datum		d;

	run->id = zj_query_int8(tup, desc, 1);
	run->command = zj_query_text(tup, desc, ZJ_EVENT_NCOLS + 1);
	run->search_path = zj_query_text(tup, desc, ZJ_EVENT_NCOLS + 2);
	d = SPI_getbinval(tup, desc, ZJ_EVENT_NCOLS + 3, &isnull);
	run->input = isnull ? NULL : DatumGetJsonbPCopy(d);
	run->attempt = zj_query_int4(tup, desc, 3);
	run->timeout_ms = zj_query_int8(tup, desc, ZJ_EVENT_NCOLS + 4);
	run->name = zj_query_text(tup, desc, 5);
	run->queue = zj_query_text(tup, desc, 6);
	run->shell = strcmp(zj_query_text(tup, desc, ZJ_EVENT_NCOLS + 5), "shell") == 0;
	run->priority = zj_query_int4(tup, desc, ZJ_EVENT_NCOLS + 6);
	run->run_at = zj_query_time(tup, desc, 7);
	MemoryContextSwitchTo(old);
	return run;
}

#define ZJ_CLAIM_SET \
	"UPDATE jobs.runs AS r SET status = 'running'," \
	" attempt = r.attempt + 1, started_at = pg_catalog.clock_timestamp()," \
	" worker_pid = $2, worker_epoch = $3, shell_pgid = NULL"

/*
 * pending -> running: claim the next run of this role, after run `after`
 * in the queue's order if given (claim.c), or (only_id != 0) that very run
 * if it is still pending; NULL if there is none.  The caller's transaction
 * commits the claim: a short one of its own, or a batch (see batch.c).
 * Which run may be claimed is claim.c's business.
 */
ZjRun *
zj_runstate_claim(Oid role, int64 only_id, const ZjRun *after, MemoryContext cxt)
{
	static SPIPlanPtr plans[3];
	Oid			types[7] = {REGROLEOID, INT4OID, INT8OID, INT8OID, INT4OID,
	TIMESTAMPTZOID, INT8OID};
	Datum		values[7];
	int			which = only_id != 0 ? 2 : after != NULL;
	static const char *const order[2] = {"",
	"  AND (q.priority, q.run_at, q.id) > ($5, $6, $7)"};
	ZjRun	   *run = NULL;

	values[0] = ObjectIdGetDatum(role);
	values[1] = Int32GetDatum(MyProcPid);
	values[2] = Int64GetDatum((int64) zj_shared->epoch);
	values[3] = Int64GetDatum(only_id);
	values[4] = Int32GetDatum(after ? after->priority : 0);
	values[5] = TimestampTzGetDatum(after ? after->run_at : 0);
	values[6] = Int64GetDatum(after ? after->id : 0);

	zj_query_begin();
	if (which == 2)
		zj_query_exec(&plans[2],
					  zj_runstate_sql(plans[2],
									  ZJ_CLAIM_SET
									  " WHERE r.id = (SELECT q.id FROM jobs.runs q"
									  "  WHERE q.id = $4 AND %s AND q.owner = $1"
									  "  FOR NO KEY UPDATE SKIP LOCKED)"
									  " RETURNING " ZJ_RUN_COLUMNS,
									  ZJ_TR_CLAIM, "q", true),
					  4, types, values, NULL);
	else
		zj_query_exec(&plans[which],
					  plans[which] ? NULL :
					  psprintf(ZJ_CLAIM_SET
							   " WHERE r.id = (SELECT q.id FROM jobs.runs q"
							   "  WHERE %s AND q.owner = $1%s"
							   "  ORDER BY q.priority, q.run_at, q.id"
							   "  LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED)"
							   " RETURNING " ZJ_RUN_COLUMNS,
							   zj_runstate_where(ZJ_TR_CLAIM, "q", false),
							   order[which]),
					  which ? 7 : 3, types, values, NULL);
	if (SPI_processed == 1)
	{
		run = zj_runstate_copy_run(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, cxt);
		zj_runstate_record_all(ZJ_TR_CLAIM);
	}
	zj_query_end();
	return run;
}

/* Keep a shell run's process group for the reaper; commits with the caller. */
void
zj_runstate_set_shell_pgid(ZjRun *run, pid_t pgid)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];

	values[0] = Int64GetDatum(run->id);
	values[1] = Int32GetDatum((int32) pgid);
	zj_query_begin();
	zj_query_exec(&plan, "UPDATE jobs.runs SET shell_pgid = $2 WHERE id = $1",
				  2, types, values, NULL);
	zj_query_end();
}

/* Parameters for ZJ_SET_PROGRESS, at values[0..6]: NULL if none reported. */
static void
zj_runstate_progress_params(ZjRun *run, Datum *values, char *nulls)
{
	ZjProgressValues *v = run->progress;

	memset(nulls, v ? ' ' : 'n', ZJ_PROGRESS_NARGS);
	if (v == NULL)
		return;
	values[0] = Int64GetDatum(v->current);
	nulls[0] = v->current < 0 ? 'n' : ' ';
	values[1] = Int64GetDatum(v->total);
	nulls[1] = v->total < 0 ? 'n' : ' ';
	ZJ_TEXT_PARAM(values, nulls, 2, v->message[0] ? v->message : NULL);
	values[3] = Int64GetDatum(v->processed);
	values[4] = Int64GetDatum(v->succeeded);
	values[5] = Int64GetDatum(v->failed);
	values[6] = TimestampTzGetDatum(v->at);
}

/* The run's last progress, published just before its new state. */
static void
zj_runstate_record_progress(ZjRun *run)
{
	ZjRunEvent	ev;

	if (run->progress == NULL)
		return;
	zj_events_fill_progress(&ev, run->progress, run->name);
	zj_events_add(&ev);
}

/* running -> completed, in the job's own transaction. */
void
zj_runstate_complete(ZjRun *run, Jsonb *output)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[10] = {INT8OID, JSONBOID, TIMESTAMPTZOID, ZJ_PROGRESS_TYPES};
	Datum		values[10];
	char		nulls[10] = {' ', output ? ' ' : 'n', ' '};
	int			n;
	bool		dependents;

	values[0] = Int64GetDatum(run->id);
	values[1] = output ? JsonbPGetDatum(output) : (Datum) 0;
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	zj_runstate_progress_params(run, values + 3, nulls + 3);

	zj_query_begin();
	/*
	 * The latest snapshot, not the job's: at REPEATABLE READ (the owner's
	 * default), a row changed since the job's snapshot (the launcher
	 * storing its progress, an enqueue marking it a parent) would
	 * otherwise fail the completion with a serialization error.
	 */
	n = zj_query_exec_latest(&plan,
					  plan ? NULL :
					  psprintf("UPDATE jobs.runs AS r SET status = 'completed',"
							   " finished_at = $3, duration = $3 - r.started_at,"
							   " output = $2," ZJ_CLEAR_ERROR "," ZJ_SET_PROGRESS
							   " WHERE r.id = $1 AND %s AND NOT r.cancel_requested"
							   " RETURNING " ZJ_EVENT_COLUMNS ", r.has_dependents",
							   ZJ_PROGRESS_ARGS(4),
							   zj_runstate_where(ZJ_TR_COMPLETE, "r", true)),
					  10, types, values, nulls);
	/* Cancelled as it finished: roll its effects back, it ends cancelled. */
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("run " INT64_FORMAT " was cancelled", run->id),
				 errdetail("jobs.cancel() was called while the job ran.")));
	zj_runstate_record_progress(run);
	zj_runstate_record_all(ZJ_TR_COMPLETE);
	dependents = zj_query_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							   ZJ_EVENT_NCOLS + 1);
	zj_query_end();
	if (dependents)
		zj_runstate_settle_one(run->id, true);
}

/* The runs' ids, starts, ends and outputs as the arrays params[0..3]. */
static void
zj_runstate_finished_params(List *runs, Datum *params)
{
	int			n = list_length(runs);
	Datum	   *ids = palloc(n * sizeof(Datum));
	Datum	   *starts = palloc(n * sizeof(Datum));
	Datum	   *ends = palloc(n * sizeof(Datum));
	Datum	   *outputs = palloc(n * sizeof(Datum));
	bool	   *no_output = palloc(n * sizeof(bool));
	ListCell   *lc;

	foreach(lc, runs)
	{
		ZjRun	   *run = lfirst(lc);
		int			i = foreach_current_index(lc);

		ids[i] = Int64GetDatum(run->id);
		starts[i] = TimestampTzGetDatum(run->started_at);
		ends[i] = TimestampTzGetDatum(run->finished_at);
		outputs[i] = PointerGetDatum(run->output);
		no_output[i] = run->output == NULL;
	}
	params[0] = zj_query_array(ids, NULL, n, INT8OID);
	params[1] = zj_query_array(starts, NULL, n, TIMESTAMPTZOID);
	params[2] = zj_query_array(ends, NULL, n, TIMESTAMPTZOID);
	params[3] = zj_query_array(outputs, no_output, n, JSONBOID);
}

/*
 * pending -> completed for runs a batch locked and executed in this
 * transaction, with their running and completed events (their failures:
 * zj_runstate_end_attempt).  One UPDATE for them all, since starting the
 * executor costs more than updating a row.  Locked runs never report
 * progress (zj_runctx_may_report), so there is none to store.  Each run's
 * started_at, finished_at and output are its own; the rows are found by
 * id, so the plan is the same whatever the statistics.
 */
void
zj_runstate_complete_locked(List *runs)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[6] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID,
	TIMESTAMPTZARRAYOID, JSONBARRAYOID, INT4OID, INT8OID};
	Datum		values[6];
	uint64		i;
	MemoryContext caller = CurrentMemoryContext;
	ArrayType  *parents;

	if (runs == NIL)
		return;
	zj_runstate_finished_params(runs, values);
	values[4] = Int32GetDatum(MyProcPid);
	values[5] = Int64GetDatum((int64) zj_shared->epoch);
	zj_query_begin();
	if (zj_query_exec(&plan,
					  zj_runstate_sql(plan,
									  "UPDATE jobs.runs AS r SET status = 'completed',"
									  " attempt = r.attempt + 1,"
									  " started_at = $2[pg_catalog.array_position($1, r.id)],"
									  " finished_at = $3[pg_catalog.array_position($1, r.id)],"
									  " duration = $3[pg_catalog.array_position($1, r.id)]"
									  "  - $2[pg_catalog.array_position($1, r.id)],"
									  " output = $4[pg_catalog.array_position($1, r.id)],"
									  " worker_pid = $5, worker_epoch = $6," ZJ_CLEAR_ERROR
									  " WHERE r.id = ANY ($1) AND %s"
									  " RETURNING " ZJ_EVENT_COLUMNS ", r.has_dependents",
									  ZJ_TR_COMPLETE_LOCKED, "r", true),
					  6, types, values, NULL) != list_length(runs))
		elog(ERROR, "zapjobs lost the lock on runs of a batch");
	for (i = 0; i < SPI_processed; i++)
	{
		zj_runstate_record_running(SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		zj_runstate_record(ZJ_TR_COMPLETE_LOCKED, SPI_tuptable->vals[i],
						   SPI_tuptable->tupdesc, 1);
	}
	parents = zj_runstate_with_dependents(ZJ_EVENT_NCOLS + 1, caller);
	zj_query_end();
	if (parents != NULL)
		zj_runstate_settle(parents, true);
}

/* Read and lock the run's row; false if it is gone. */
static bool
zj_runstate_read_row(int64 id, ZjFailRow *row)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	if (zj_query_exec(&plan,
					  "SELECT r.status, r.attempt, r.cancel_requested, r.max_attempts,"
					  " r.crashes, extract(epoch FROM r.retry_base)::float8,"
					  " r.retry_factor, extract(epoch FROM r.retry_max_delay)::float8"
					  " FROM jobs.runs r WHERE r.id = $1 FOR NO KEY UPDATE",
					  1, types, values, NULL) != 1)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	row->id = id;
	row->status = zj_runstate_from_name(zj_query_text(tup, desc, 1));
	row->attempt = zj_query_int4(tup, desc, 2);
	row->cancel_requested = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	row->max_attempts = zj_query_int4(tup, desc, 4);
	row->crashes = zj_query_int4(tup, desc, 5);
	row->retry_base_s = DatumGetFloat8(SPI_getbinval(tup, desc, 6, &isnull));
	row->retry_factor = DatumGetFloat8(SPI_getbinval(tup, desc, 7, &isnull));
	row->retry_max_delay_s = DatumGetFloat8(SPI_getbinval(tup, desc, 8, &isnull));
	return true;
}

/* Keep the attempt's error (now in the run's row) in jobs.attempts. */
static void
zj_runstate_attempt_history(int64 id, ZjOutcome outcome, TimestampTz finished_at)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {INT8OID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3];

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(zj_failure_outcome_name(outcome));
	values[2] = TimestampTzGetDatum(finished_at);
	zj_query_exec(&plan,
				  "INSERT INTO jobs.attempts (run_id, attempt, outcome, started_at,"
				  " finished_at, worker_pid, error_sqlstate, error_message,"
				  " error_detail, error_hint, error_context)"
				  " SELECT r.id, r.attempt, $2, r.started_at, $3, r.worker_pid,"
				  " r.error_sqlstate, r.error_message, r.error_detail, r.error_hint,"
				  " r.error_context FROM jobs.runs r WHERE r.id = $1"
				  " ON CONFLICT DO NOTHING",
				  3, types, values, NULL);
}

/*
 * Write the attempt's end and the run's new status; record the events.
 * True if the run ended for good and runs wait for it.
 */
static bool
zj_runstate_write_end(ZjRun *run, const ZjFailDecision *d, ZjTransition t)
{
	static SPIPlanPtr update = NULL;
	Oid			types[19] = {INT8OID, TEXTOID, INT4OID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, ZJ_PROGRESS_TYPES};
	Datum		values[19];
	char		nulls[19];
	bool		final = d->next_retry == 0;
	bool		dependents;
	TimestampTz now = GetCurrentTimestamp();

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(run->id);
	values[1] = CStringGetTextDatum(zj_runstate_name(d->status));
	values[2] = Int32GetDatum(run->attempt);
	values[3] = TimestampTzGetDatum(run->started_at);
	nulls[3] = run->locked ? ' ' : 'n';
	values[4] = TimestampTzGetDatum(now);
	values[5] = TimestampTzGetDatum(d->next_retry);
	nulls[5] = final ? 'n' : ' ';
	values[6] = Int32GetDatum(d->crashes);
	ZJ_TEXT_PARAM(values, nulls, 7, d->f.sqlstate);
	ZJ_TEXT_PARAM(values, nulls, 8, d->f.message);
	ZJ_TEXT_PARAM(values, nulls, 9, d->f.detail);
	ZJ_TEXT_PARAM(values, nulls, 10, d->f.hint);
	ZJ_TEXT_PARAM(values, nulls, 11, d->f.context);
	zj_runstate_progress_params(run, values + 12, nulls + 12);

	zj_query_exec(&update,
				  update ? NULL :
				  psprintf("UPDATE jobs.runs AS r SET status = $2, attempt = $3,"
						   " started_at = coalesce($4, r.started_at),"
						   " worker_pid = CASE WHEN $4 IS NULL THEN r.worker_pid"
						   "  ELSE pg_catalog.pg_backend_pid() END,"
						   " finished_at = CASE WHEN $6 IS NULL THEN $5 END,"
						   " duration = CASE WHEN $6 IS NULL"
						   "  THEN $5 - coalesce($4, r.started_at) END,"
						   " run_at = coalesce($6, r.run_at), next_retry_at = $6,"
						   " crashes = $7, error_sqlstate = $8, error_message = $9,"
						   " error_detail = $10, error_hint = $11, error_context = $12,"
						   ZJ_SET_PROGRESS " WHERE r.id = $1"
						   " RETURNING " ZJ_EVENT_COLUMNS ", r.has_dependents",
						   ZJ_PROGRESS_ARGS(13)),
				  19, types, values, nulls);
	if (run->locked)
		zj_runstate_record_running(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	zj_runstate_record_progress(run);
	zj_runstate_record_all(t);
	dependents = final && zj_query_bool(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, ZJ_EVENT_NCOLS + 1);

	zj_runstate_attempt_history(run->id, d->f.outcome, now);
	if (!final)
		zj_wakeup_note_scheduled(d->next_retry);
	return dependents;
}

/*
 * running (or pending, for a run a batch locked) -> awaiting_retry,
 * failed or cancelled: end an attempt that did not complete, as failure.c
 * decides.  The caller's transaction commits it.  Nothing happens if the
 * run has moved on meanwhile: then false is returned.
 */
bool
zj_runstate_end_attempt(ZjRun *run, const ZjFailure *f)
{
	ZjTransition t = run->locked ? ZJ_TR_END_LOCKED : ZJ_TR_END_ATTEMPT;
	ZjFailRow	row;
	ZjFailDecision d;
	bool		ended = false;
	bool		dependents = false;

	zj_query_begin();
	if (zj_runstate_read_row(run->id, &row) &&
		(zj_runstate_rules[t].from & (1U << row.status)) != 0 &&
		(run->locked || row.attempt == run->attempt))
	{
		zj_failure_decide(&row, run->attempt, f, &d);
		dependents = zj_runstate_write_end(run, &d, t);
		ended = true;
	}
	zj_query_end();
	if (dependents)
		zj_runstate_settle_one(run->id, false);
	return ended;
}

/*
 * running -> pending without using the attempt, for a run a clean
 * shutdown interrupted (its effects were rolled back).  A run asked to be
 * cancelled stays running: the reaper cancels it after the restart.
 */
bool
zj_runstate_requeue(int64 id, int32 attempt)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];
	int			n;

	values[0] = Int64GetDatum(id);
	values[1] = Int32GetDatum(attempt);
	zj_query_begin();
	n = zj_query_exec(&plan,
					  zj_runstate_sql(plan,
									  "UPDATE jobs.runs AS r SET status = 'pending',"
									  " attempt = r.attempt - 1, started_at = NULL,"
									  " worker_pid = NULL, worker_epoch = NULL"
									  " WHERE r.id = $1 AND r.attempt = $2 AND %s"
									  " AND NOT r.cancel_requested"
									  " RETURNING " ZJ_EVENT_COLUMNS,
									  ZJ_TR_REQUEUE, "r", true),
					  2, types, values, NULL);
	zj_runstate_record_all(ZJ_TR_REQUEUE);
	zj_query_end();
	return n == 1;
}
