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
 *	  Decisions only: runstate.c reads the run's row under lock, asks here,
 *	  and writes what was decided.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "failure.h"

static const char *const zj_failure_outcome_names[] = {
	[ZJ_OUTCOME_FAILED] = "failed",
	[ZJ_OUTCOME_TIMED_OUT] = "timed_out",
	[ZJ_OUTCOME_INTERRUPTED] = "interrupted",
	[ZJ_OUTCOME_CANCELLED] = "cancelled",
};

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

/* The attempt ran past its timeout; detail says how it was stopped. */
void
zj_failure_timed_out(ZjFailure *f, int64 run_id, int64 timeout_ms,
					 const char *detail)
{
	f->outcome = ZJ_OUTCOME_TIMED_OUT;
	f->sqlstate = "57014";
	f->message = psprintf("run " INT64_FORMAT " timed out after %s",
						  run_id, zj_failure_interval_text(timeout_ms));
	f->detail = detail;
	f->hint = "Raise the run's timeout (jobs.enqueue's timeout argument, "
		"or zapjobs.default_timeout).";
}

/* Text of an error, cut to ZJ_ERROR_TEXT_MAX bytes (on a character) and marked. */
static const char *
zj_failure_clip(const char *text)
{
	int			len;
	char	   *cut;

	if (text == NULL || (len = strlen(text)) <= ZJ_ERROR_TEXT_MAX)
		return text;
	len = pg_mbcliplen(text, len, ZJ_ERROR_TEXT_MAX - strlen(ZJ_TRUNCATED));
	cut = palloc(len + strlen(ZJ_TRUNCATED) + 1);
	memcpy(cut, text, len);
	strcpy(cut + len, ZJ_TRUNCATED);
	return cut;
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
	/* unpack_sql_state's buffer is static: any log line rewrites it. */
	f->sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
	f->message = zj_failure_clip(edata->message);
	f->detail = zj_failure_clip(edata->detail);
	f->hint = zj_failure_clip(edata->hint);
	f->context = zj_failure_clip(edata->context);
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && run->deadline != 0 &&
		GetCurrentTimestamp() >= run->deadline)
		zj_failure_timed_out(f, run->id, run->timeout_ms, NULL);
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

/*
 * What becomes of a run whose attempt did not complete, given its row
 * (read under lock) and what stopped it: cancelled if jobs.cancel() asked,
 * failed for good after too many crashes, awaiting_retry if retrying may
 * help and an attempt is left, else failed.
 */
void
zj_failure_decide(const ZjFailRow *row, int32 attempt, const ZjFailure *f,
				  ZjFailDecision *d)
{
	d->f = *f;
	d->status = ZJ_RUN_FAILED;
	d->next_retry = 0;
	d->crashes = row->crashes + (f->crashed ? 1 : 0);
	if (row->cancel_requested)
	{
		d->f.outcome = ZJ_OUTCOME_CANCELLED;
		d->f.sqlstate = "57014";
		d->f.message = psprintf("run " INT64_FORMAT " was cancelled", row->id);
		d->f.detail = "jobs.cancel() was called while the job was running.";
		d->f.hint = NULL;
		d->f.context = NULL;
		d->status = ZJ_RUN_CANCELLED;
	}
	else if (f->crashed && d->crashes >= zj_max_crashes)
	{
		d->f.message = psprintf("server crashes interrupted the run %d times; it is not retried",
								d->crashes);
		d->f.hint = "The job may be what crashes the server. Fix it, then call jobs.retry().";
	}
	else if (zj_failure_is_retryable(f) && attempt < row->max_attempts)
	{
		d->status = ZJ_RUN_AWAITING_RETRY;
		d->next_retry = zj_failure_next_retry(row, attempt);
	}
}

/* The word jobs.attempts.outcome holds for an outcome. */
const char *
zj_failure_outcome_name(ZjOutcome outcome)
{
	return zj_failure_outcome_names[outcome];
}
