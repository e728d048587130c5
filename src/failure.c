/*-------------------------------------------------------------------------
 *
 * failure.c
 *	  How an attempt that did not complete ends.  Whatever stopped it (an
 *	  error in the job, its timeout, jobs.cancel(), its worker or the
 *	  server going away), one function decides what becomes of the run:
 *	    - cancelled, if jobs.cancel() asked for it;
 *	    - failed for good, if the error is one retrying cannot fix
 *	      (zapjobs.non_retryable_sqlstates), if no attempt is left, or if
 *	      server crashes interrupted it zapjobs.max_crashes times (a job
 *	      that crashes the server must not crash it forever);
 *	    - else awaiting_retry, due again after an exponential backoff with
 *	      jitter.
 *	  Every such attempt leaves its error in jobs.attempts.
 *
 *	  Also here: the reaper, which ends attempts whose worker is gone, and
 *	  the requeue of runs a clean shutdown interrupted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "zapjobs.h"
#include "bookkeeping.h"

static const char *const zj_outcome_names[] = {
	[ZJ_OUTCOME_FAILED] = "failed",
	[ZJ_OUTCOME_TIMED_OUT] = "timed_out",
	[ZJ_OUTCOME_INTERRUPTED] = "interrupted",
	[ZJ_OUTCOME_CANCELLED] = "cancelled",
};

/* The run's row, as zj_book_fail reads it under lock. */
typedef struct ZjFailRow
{
	char	   *status;
	int32		attempt;
	bool		cancel_requested;
	int32		max_attempts;
	int32		crashes;
	double		retry_base_s;
	double		retry_factor;
	double		retry_max_delay_s;
} ZjFailRow;

/*
 * The next entry of a zapjobs.non_retryable_sqlstates list at *p: its
 * start, with *len its length (0 at the end, or at a character that
 * belongs to no entry, which *p then stays on).
 */
static const char *
zj_failure_next_entry(const char **p, int *len)
{
	const char *start;

	while (**p == ' ' || **p == ',')
		(*p)++;
	start = *p;
	while (isalnum((unsigned char) **p))
		(*p)++;
	*len = *p - start;
	return start;
}

/* Is every entry of a zapjobs.non_retryable_sqlstates list well formed? */
bool
zj_failure_check_sqlstates(char **newval, void **extra, GucSource source)
{
	const char *p = *newval ? *newval : "";
	const char *entry;
	int			len;

	while ((entry = zj_failure_next_entry(&p, &len)), len > 0)
	{
		if (len != 2 && len != 5)
		{
			GUC_check_errdetail("\"%.*s\" is neither a SQLSTATE (5 characters) nor a class (2).",
								len, entry);
			return false;
		}
	}
	if (*p != '\0')
	{
		GUC_check_errdetail("Separate SQLSTATEs and classes with commas.");
		return false;
	}
	return true;
}

/* Is sqlstate listed, as itself or by its class? */
static bool
zj_failure_sqlstate_listed(const char *sqlstate)
{
	const char *p = zj_non_retryable_sqlstates ? zj_non_retryable_sqlstates : "";
	const char *entry;
	int			len;

	while ((entry = zj_failure_next_entry(&p, &len)), len > 0)
		if (pg_strncasecmp(entry, sqlstate, len) == 0)
			return true;
	return false;
}

bool
zj_failure_is_retryable(const ZjFailure *f)
{
	switch (f->outcome)
	{
		case ZJ_OUTCOME_CANCELLED:
			return false;
		case ZJ_OUTCOME_TIMED_OUT:
		case ZJ_OUTCOME_INTERRUPTED:
			return true;
		case ZJ_OUTCOME_FAILED:
			break;
	}
	return f->sqlstate == NULL || !zj_failure_sqlstate_listed(f->sqlstate);
}

/* "00:00:02" for a timeout of 2000 ms. */
static char *
zj_failure_interval_text(int64 ms)
{
	Interval	iv;

	memset(&iv, 0, sizeof(iv));
	iv.time = ms * 1000;
	return DatumGetCString(DirectFunctionCall1(interval_out,
											   IntervalPGetDatum(&iv)));
}

/*
 * Describe an error caught around a job.  A query cancel at or past the
 * run's deadline is its timeout; jobs.cancel() is recognised later, from
 * the run's row.
 */
void
zj_failure_from_error(ZjFailure *f, ZjRun *run, ErrorData *edata)
{
	memset(f, 0, sizeof(*f));
	f->outcome = ZJ_OUTCOME_FAILED;
	f->sqlstate = unpack_sql_state(edata->sqlerrcode);
	f->message = edata->message;
	f->detail = edata->detail;
	f->hint = edata->hint;
	f->context = edata->context;
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && run->deadline != 0 &&
		GetCurrentTimestamp() >= run->deadline)
	{
		f->outcome = ZJ_OUTCOME_TIMED_OUT;
		f->message = psprintf("run " INT64_FORMAT " timed out after %s",
							  run->id, zj_failure_interval_text(run->timeout_ms));
		f->detail = NULL;
		f->hint = "Raise the run's timeout (jobs.enqueue's timeout argument, "
			"or zapjobs.default_timeout).";
	}
}

/* Read and lock the run's row; false if it is gone. */
static bool
zj_failure_read_row(int64 id, ZjFailRow *row)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	if (zj_book_exec(&plan,
					 "SELECT r.status, r.attempt, r.cancel_requested, r.max_attempts,"
					 " r.crashes, extract(epoch FROM r.retry_base)::float8,"
					 " r.retry_factor, extract(epoch FROM r.retry_max_delay)::float8"
					 " FROM jobs.runs r WHERE r.id = $1 FOR NO KEY UPDATE",
					 1, types, values, NULL) != 1)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	row->status = zj_book_text(tup, desc, 1);
	row->attempt = zj_book_int4(tup, desc, 2);
	row->cancel_requested = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	row->max_attempts = zj_book_int4(tup, desc, 4);
	row->crashes = zj_book_int4(tup, desc, 5);
	row->retry_base_s = DatumGetFloat8(SPI_getbinval(tup, desc, 6, &isnull));
	row->retry_factor = DatumGetFloat8(SPI_getbinval(tup, desc, 7, &isnull));
	row->retry_max_delay_s = DatumGetFloat8(SPI_getbinval(tup, desc, 8, &isnull));
	return true;
}

/* Backoff before attempt + 1: base * factor^(attempt-1), capped, jittered. */
static TimestampTz
zj_failure_next_retry(const ZjFailRow *row, int32 attempt)
{
	double		delay_s = row->retry_base_s *
		pow(row->retry_factor, Min(attempt - 1, 1000));

	if (isnan(delay_s) || delay_s > row->retry_max_delay_s)
		delay_s = row->retry_max_delay_s;
	/* Jitter in [0.5, 1]: retries of runs that failed together spread out. */
	delay_s *= 0.5 + 0.5 * zj_random_fraction();
	return GetCurrentTimestamp() + (int64) (delay_s * USECS_PER_SEC);
}

/* Keep the attempt's error (now in the run's row) in jobs.attempts. */
static void
zj_failure_history(int64 id, ZjOutcome outcome, TimestampTz finished_at)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {INT8OID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3];

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(zj_outcome_names[outcome]);
	values[2] = TimestampTzGetDatum(finished_at);
	zj_book_exec(&plan,
				 "INSERT INTO jobs.attempts (run_id, attempt, outcome, started_at,"
				 " finished_at, worker_pid, error_sqlstate, error_message,"
				 " error_detail, error_hint, error_context)"
				 " SELECT r.id, r.attempt, $2, r.started_at, $3, r.worker_pid,"
				 " r.error_sqlstate, r.error_message, r.error_detail, r.error_hint,"
				 " r.error_context FROM jobs.runs r WHERE r.id = $1"
				 " ON CONFLICT DO NOTHING",
				 3, types, values, NULL);
}

/* Write the attempt's end and the run's new status; record the events. */
static void
zj_failure_write(ZjRun *run, const ZjFailure *f, const char *status,
				 TimestampTz next_retry, int32 crashes)
{
	static SPIPlanPtr update = NULL;
	Oid			types[19] = {INT8OID, TEXTOID, INT4OID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, ZJ_PROGRESS_TYPES};
	Datum		values[19];
	char		nulls[19];
	bool		final = next_retry == 0;
	TimestampTz now = GetCurrentTimestamp();

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(run->id);
	values[1] = CStringGetTextDatum(status);
	values[2] = Int32GetDatum(run->attempt);
	values[3] = TimestampTzGetDatum(run->started_at);
	nulls[3] = run->locked ? ' ' : 'n';
	values[4] = TimestampTzGetDatum(now);
	values[5] = TimestampTzGetDatum(next_retry);
	nulls[5] = final ? 'n' : ' ';
	values[6] = Int32GetDatum(crashes);
	ZJ_TEXT_PARAM(values, nulls, 7, f->sqlstate);
	ZJ_TEXT_PARAM(values, nulls, 8, f->message);
	ZJ_TEXT_PARAM(values, nulls, 9, f->detail);
	ZJ_TEXT_PARAM(values, nulls, 10, f->hint);
	ZJ_TEXT_PARAM(values, nulls, 11, f->context);
	zj_book_progress_params(run, values + 12, nulls + 12);

	zj_book_exec(&update,
				 "UPDATE jobs.runs AS r SET status = $2, attempt = $3,"
				 " started_at = coalesce($4, r.started_at),"
				 " worker_pid = CASE WHEN $4 IS NULL THEN r.worker_pid"
				 "  ELSE pg_catalog.pg_backend_pid() END,"
				 " finished_at = CASE WHEN $6 IS NULL THEN $5 END,"
				 " duration = CASE WHEN $6 IS NULL"
				 "  THEN $5 - coalesce($4, r.started_at) END,"
				 " run_at = coalesce($6, r.run_at), next_retry_at = $6,"
				 " crashes = $7, error_sqlstate = $8, error_message = $9,"
				 " error_detail = $10, error_hint = $11, error_context = $12,"
				 ZJ_SET_PROGRESS("13", "14", "15", "16", "17", "18", "19")
				 " WHERE r.id = $1"
				 " RETURNING " ZJ_EVENT_COLUMNS,
				 19, types, values, nulls);
	if (run->locked)
		zj_book_record_running(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	zj_book_record_progress(run);
	zj_book_record_events(1);

	zj_failure_history(run->id, f->outcome, now);
	if (!final)
		zj_wakeup_note_scheduled(next_retry);
}

/*
 * End an attempt that did not complete: a claimed (running) run, or one a
 * batch locked while pending (run->locked).  The caller's transaction
 * commits it.  Nothing happens if the run has moved on meanwhile: then
 * false is returned.
 */
bool
zj_book_fail(ZjRun *run, const ZjFailure *f)
{
	ZjFailRow	row;
	ZjFailure	decided = *f;
	TimestampTz next_retry = 0;
	const char *status = "failed";
	int32		crashes;

	zj_book_begin();
	if (!zj_failure_read_row(run->id, &row) ||
		strcmp(row.status, run->locked ? "pending" : "running") != 0 ||
		(!run->locked && row.attempt != run->attempt))
	{
		zj_book_end();
		return false;
	}
	crashes = row.crashes + (f->crashed ? 1 : 0);
	if (row.cancel_requested)
	{
		decided.outcome = ZJ_OUTCOME_CANCELLED;
		decided.sqlstate = "57014";
		decided.message = psprintf("run " INT64_FORMAT " was cancelled", run->id);
		decided.detail = "jobs.cancel() was called while the job was running.";
		decided.hint = NULL;
		decided.context = NULL;
		status = "cancelled";
	}
	else if (f->crashed && crashes >= zj_max_crashes)
	{
		decided.message = psprintf("server crashes interrupted the run %d times; it is not retried",
								   crashes);
		decided.hint = "The job may be what crashes the server. Fix it, then call jobs.retry().";
	}
	else if (zj_failure_is_retryable(f) && run->attempt < row.max_attempts)
	{
		status = "awaiting_retry";
		next_retry = zj_failure_next_retry(&row, run->attempt);
	}
	zj_failure_write(run, &decided, status, next_retry, crashes);
	zj_book_end();
	return true;
}

/* Is the worker that claimed this attempt still executing it? */
static bool
zj_failure_worker_alive(int64 id, int32 pid, int64 epoch)
{
	bool		alive = false;
	int			i;

	if ((uint64) epoch != zj_shared->epoch)
		return false;
	LWLockAcquire(zj_shared->lock, LW_SHARED);
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *slot = &zj_shared->slots[i];

		if (slot->pid == pid && slot->claimed_id == id)
			alive = true;
	}
	LWLockRelease(zj_shared->lock);
	return alive;
}

/*
 * A worker that died (or a server that crashed) in a batch may have been
 * killed by one of the runs it had only locked, whose attempt did not
 * count: a job that crashes the server, or one the watchdog terminated
 * for ignoring the batch's limit.  Runs pending now run on their own from
 * now on, each attempt counted, so such a run cannot do it forever.
 */
static void
zj_failure_no_batch_below_max_id(void)
{
	static SPIPlanPtr plan = NULL;
	bool		isnull;
	Datum		d;

	zj_book_exec(&plan, "SELECT max(id) FROM jobs.runs", 0, NULL, NULL, NULL);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		pg_atomic_write_u64(&zj_shared->batch_min_id, (uint64) DatumGetInt64(d) + 1);
}

/* A running run the reaper looked at. */
typedef struct ZjReapee
{
	int64		id;
	int32		attempt;
	int32		pid;
	bool		crashed;		/* claimed in an earlier server lifetime */
	TimestampTz started_at;
	int64		timeout_ms;
	int32		shell_pgid;		/* a shell run's process group, or 0 */
} ZjReapee;

/* End the attempt of a running run whose worker is gone; false if it had ended. */
static bool
zj_failure_reap_one(const ZjReapee *r)
{
	ZjRun		run;
	ZjFailure	f;

	/* Nothing of a shell job may outlive its worker. */
	if (r->shell_pgid > 0)
		zj_shell_kill_orphans(r->shell_pgid);
	memset(&run, 0, sizeof(run));
	run.id = r->id;
	run.attempt = r->attempt;
	run.timeout_ms = r->timeout_ms;
	memset(&f, 0, sizeof(f));
	f.outcome = ZJ_OUTCOME_INTERRUPTED;
	f.crashed = r->crashed;
	f.sqlstate = r->crashed ? "57P02" : "57P01";
	f.message = r->crashed ?
		"the server restarted while the job was running" :
		"the worker running the job exited before it finished";
	if (!r->crashed && r->started_at != 0 &&
		GetCurrentTimestamp() >= r->started_at + r->timeout_ms * 1000)
	{
		f.outcome = ZJ_OUTCOME_TIMED_OUT;
		f.sqlstate = "57014";
		f.message = psprintf("run " INT64_FORMAT " timed out after %s",
							 run.id, zj_failure_interval_text(run.timeout_ms));
		f.detail = "The job did not stop at its deadline; its worker was terminated.";
	}
	return zj_book_fail(&run, &f);
}

/* The running runs whose worker is gone, in *n entries. */
static ZjReapee *
zj_failure_find_orphans(int *n)
{
	static SPIPlanPtr plan = NULL;
	ZjReapee   *found;
	MemoryContext cxt = CurrentMemoryContext;
	uint64		i;

	*n = 0;
	zj_book_begin();
	zj_book_exec(&plan,
				 "SELECT id, attempt, worker_pid, worker_epoch, started_at,"
				 " (extract(epoch FROM timeout) * 1000)::int8, shell_pgid"
				 " FROM jobs.runs WHERE status = 'running'",
				 0, NULL, NULL, NULL);
	found = MemoryContextAllocZero(cxt, sizeof(ZjReapee) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ZjReapee   *r = &found[*n];
		bool		isnull;
		Datum		epoch = SPI_getbinval(tup, desc, 4, &isnull);

		r->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		r->attempt = zj_book_int4(tup, desc, 2);
		r->pid = zj_book_int4(tup, desc, 3);
		r->crashed = isnull ||
			(uint64) DatumGetInt64(epoch) != zj_shared->epoch;
		r->started_at = zj_book_time(tup, desc, 5);
		r->timeout_ms = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
		r->shell_pgid = zj_book_int4(tup, desc, 7);
		if (r->crashed || !zj_failure_worker_alive(r->id, r->pid, DatumGetInt64(epoch)))
			(*n)++;
	}
	zj_book_end();
	return found;
}

/*
 * End the attempts of running runs whose worker is gone; returns how
 * many.  A worker sets its slot's claimed_id before its claim commits and
 * clears it after the outcome commits, and zj_book_fail re-checks the row
 * under lock, so a run finishing while we look (its worker already on the
 * next) is never touched, nor counted: under load that is most of what
 * zj_failure_find_orphans finds, and only real orphans may stop batches.
 */
int
zj_book_reap(void)
{
	int			n;
	int			i;
	int			reaped = 0;
	ZjReapee   *orphans = zj_failure_find_orphans(&n);

	for (i = 0; i < n; i++)
	{
		if (!zj_failure_reap_one(&orphans[i]))
			continue;
		/* At once: shared memory keeps it should a later reap fail. */
		if (reaped++ == 0)
		{
			zj_book_begin();
			zj_failure_no_batch_below_max_id();
			zj_book_end();
		}
	}
	pfree(orphans);
	return reaped;
}

/*
 * running -> pending without using the attempt, for a run a clean
 * shutdown interrupted (its effects were rolled back).  A run asked to be
 * cancelled stays running: the reaper cancels it after the restart.
 */
bool
zj_book_requeue(int64 id, int32 attempt)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];
	int			n;

	values[0] = Int64GetDatum(id);
	values[1] = Int32GetDatum(attempt);
	zj_book_begin();
	n = zj_book_exec(&plan,
					 "UPDATE jobs.runs AS r SET status = 'pending',"
					 " attempt = r.attempt - 1, started_at = NULL,"
					 " worker_pid = NULL, worker_epoch = NULL"
					 " WHERE r.id = $1 AND r.attempt = $2 AND r.status = 'running'"
					 " AND NOT r.cancel_requested"
					 " RETURNING " ZJ_EVENT_COLUMNS,
					 2, types, values, NULL);
	zj_book_record_events(1);
	zj_book_end();
	return n == 1;
}
