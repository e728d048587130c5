/*-------------------------------------------------------------------------
 *
 * attempt.c
 *	  One attempt of a run in a pool worker: its start (visible to jobs.*,
 *	  pg_stat_activity and the watchdog), the end of the job itself (its
 *	  last progress kept, its log flushed), its outcome recorded, and the
 *	  session wiped clean for the next job.  Every executor (a single run
 *	  in worker.c, a batch's runs in batch.c, a shell job in shell.c) goes
 *	  through these, so a run completes or fails one way only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/async.h"
#include "commands/prepare.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/portal.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "attempt.h"
#include "failure.h"
#include "joblog.h"
#include "output.h"
#include "progress.h"
#include "query.h"
#include "runctx.h"
#include "runstate.h"

/* The run's timeout in ms, for STATEMENT_TIMEOUT. */
int
zj_attempt_timeout_ms(ZjRun *run)
{
	int64		ms = run->timeout_ms;

	if (ms <= 0)
		ms = (int64) zj_default_timeout_s * 1000;
	return (int) Min(ms, (int64) INT_MAX);
}

/*
 * A run starts executing: make it visible to jobs.* and pg_stat_activity,
 * and to the launcher's watchdog with its deadline.  A cancel that came
 * before is dropped, unless jobs.cancel() asked to stop this very run.
 */
void
zj_attempt_begin(ZjRun *run)
{
	zj_runctx_run = run;
	zj_runctx_forget_reported();
	zj_output_begin_run(zj_runctx_cxt);
	run->started_at = GetCurrentTimestamp();
	run->deadline = run->started_at + (int64) zj_attempt_timeout_ms(run) * 1000;
	zj_runctx_set_state(ZJ_SLOT_BUSY, run->id, run->deadline);
	zj_progress_begin_run(run);
	zj_joblog_begin_run(run);
	pgstat_report_activity(STATE_RUNNING, run->command);
	debug_query_string = run->command;
	QueryCancelPending = zj_runctx_slot()->cancel_id == run->id;
	if (QueryCancelPending)
		InterruptPending = true;
}

/*
 * The job itself is over: keep its last progress for its outcome, and
 * wait until its log lines are stored.  Safe to call twice.
 */
void
zj_attempt_job_done(ZjRun *run)
{
	zj_progress_end_run(run);
	zj_joblog_end_run();
}

void
zj_attempt_end(ZjRun *run)
{
	zj_attempt_job_done(run);
	/* No deadline while we record the outcome: the watchdog stands down. */
	zj_runctx_set_state(ZJ_SLOT_BUSY, 0, 0);
	debug_query_string = NULL;
	zj_runctx_run = NULL;
}

/*
 * An error outside the jobs themselves (a batch's own bookkeeping) came
 * between a run's begin and end: forget that run, whose memory is about
 * to be reset, as zj_attempt_end would.
 */
void
zj_attempt_abandon(void)
{
	if (zj_runctx_run == NULL)
		return;
	zj_joblog_forget_run();
	zj_runctx_set_state(ZJ_SLOT_BUSY, 0, 0);
	debug_query_string = NULL;
	zj_runctx_run = NULL;
}

/* The watchdog leaves us alone: the job is stopping (a shell job's group). */
void
zj_attempt_unwatch(void)
{
	zj_runctx_set_state(ZJ_SLOT_BUSY, 0, 0);
}

void
zj_attempt_apply_search_path(ZjRun *run)
{
	if (run->search_path != NULL)
		(void) set_config_option("search_path", run->search_path,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SET,
								 true, 0, false);
}

/*
 * In a PG_CATCH around a job: keep the error (in the run context, which
 * outlives the transaction about to be rolled back) and undo the state an
 * error leaves behind, as PostgresMain's error recovery does.  The caller
 * then restores QueryCancelHoldoffCount and rolls back the (sub)transaction.
 */
ErrorData *
zj_attempt_catch_error(void)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(zj_runctx_cxt);
	edata = CopyErrorData();
	FlushErrorState();
	disable_all_timeouts(false);
	zj_runctx_heartbeat_arm();
	QueryCancelPending = false;
	return edata;
}

/*
 * Undo whatever session state a job left, as DISCARD ALL does (portals,
 * session authorization, settings, prepared statements, LISTENs, session
 * advisory locks, temporary tables, sequence caches), except for DISCARD
 * PLANS: throwing away cached plans protects nobody and would make us
 * re-plan our own statements after every run.  Works inside a transaction
 * (between runs of a batch) too.
 */
void
zj_attempt_reset_session_state(void)
{
	PortalHashTableDeleteAll();
	SetPGVariable("session_authorization", NIL, false);
	ResetAllOptions();
	DropAllPreparedStatements();
	Async_UnlistenAll();
	LockReleaseSession(USER_LOCKMETHOD);
	ResetTempTableNamespace();
	ResetSequenceCaches();
}

/*
 * The job is done and completed: record it with its output, in the
 * current transaction (the job's own, so that its effects commit exactly
 * when the run is completed).  The caller commits and counts it.
 */
void
zj_attempt_complete(ZjRun *run)
{
	zj_attempt_job_done(run);
	zj_runstate_complete(run, zj_output_result());
}

/* The attempt failed with edata: record it in the current transaction. */
void
zj_attempt_fail(ZjRun *run, ErrorData *edata)
{
	ZjFailure	f;

	zj_failure_from_error(&f, run, edata);
	zj_runstate_end_attempt(run, &f);
}

/* zj_attempt_fail in a transaction of its own, counted. */
void
zj_attempt_record_failure(ZjRun *run, ErrorData *edata)
{
	zj_query_xact_begin();
	zj_attempt_fail(run, edata);
	CommitTransactionCommand();
	zj_runctx_count(false);
}
