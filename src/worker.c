/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  A pool worker: a dynamic background worker connected to the jobs
 *	  database *as the role that owns the runs it serves*, exactly as a
 *	  login of that role would be.  So a job has its owner's privileges and
 *	  nothing more: RESET ROLE or SET SESSION AUTHORIZATION lead nowhere.
 *
 *	  Loop: claim the next pending run of our role in a short transaction,
 *	  execute it in a second one that also records its completion (so the
 *	  job's effects commit exactly when the run is completed), or record
 *	  its failure in a third; then wipe session state (as DISCARD ALL) so
 *	  the next job starts clean.  Idle, the worker sleeps on its latch,
 *	  which a commit that enqueued runs for our role sets (wakeup.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/async.h"
#include "commands/prepare.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "zapjobs.h"

/* The run being executed, for jobs.input() and friends; NULL when idle. */
ZjRun	   *zj_current_run = NULL;

/* A run a batch only locked tried to report progress or log (see batch.c). */
bool		zj_locked_run_reported = false;
Jsonb	   *zj_explicit_output = NULL;
bool		zj_output_was_set = false;

static int	zj_worker_slotno = -1;
static ZjWorkerArgs zj_worker_args;

/* The postmaster asked us to stop: the server is shutting down cleanly. */
static volatile sig_atomic_t zj_worker_shutdown = false;

/* The attempt number of the run in claimed_id. */
static int32 zj_worker_claimed_attempt = 0;

#ifdef ZJ_HAS_TIMEOUT_EVERY
static TimeoutId zj_worker_heartbeat_timeout;
#endif

/* Reset after every run (or batch): holds runs, parse trees, outputs. */
MemoryContext zj_worker_run_cxt = NULL;

static ZjWorkerSlot *
zj_worker_slot(void)
{
	return &zj_shared->slots[zj_worker_slotno];
}

/*
 * A clean shutdown interrupted the run we claimed: put it back in the
 * queue without using an attempt (its effects were not committed).  As
 * RemoveTempRelationsCallback does, this runs a transaction of its own on
 * the way out; the reaper handles the run after the restart if it fails.
 */
static void
zj_worker_requeue_on_shutdown(void)
{
	int64		id = zj_worker_slot()->claimed_id;

	if (!zj_worker_shutdown || id == 0)
		return;
	AbortOutOfAnyTransaction();
	zj_xact_begin();
	if (zj_book_requeue(id, zj_worker_claimed_attempt))
		elog(LOG, "zapjobs put run " INT64_FORMAT " back in the queue: the server is shutting down",
			 id);
	CommitTransactionCommand();
}

/* Clear our slot on any exit, so the launcher can reuse it and reap. */
static void
zj_worker_detach(int code, Datum arg)
{
	ZjWorkerSlot *slot = zj_worker_slot();

	zj_worker_requeue_on_shutdown();
	/* Still ours (the slot is only reused once free): no stale progress. */
	if (slot->generation == zj_worker_args.generation && slot->pid == MyProcPid)
		zj_progress_clear(&slot->progress);
#ifdef ZJ_HAS_TIMEOUT_EVERY
	/* Its timer must not write into the slot once another worker has it. */
	disable_timeout(zj_worker_heartbeat_timeout, false);
#endif

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	if (slot->generation == zj_worker_args.generation && slot->pid == MyProcPid)
	{
		slot->state = ZJ_SLOT_FREE;
		slot->pid = 0;
		slot->proc = NULL;
		slot->run_id = 0;
		slot->claimed_id = 0;
		slot->retire = false;
		slot->deadline = 0;
		slot->cancel_id = 0;
	}
	LWLockRelease(zj_shared->lock);
	zj_request_maintenance();
}

/* SIGTERM: as die(), noting whether it is the postmaster shutting down. */
static void
zj_worker_sigterm(int signo, siginfo_t *info, void *context)
{
	if (info != NULL && info->si_pid == PostmasterPid)
		zj_worker_shutdown = true;
	die(signo);
}

static void
zj_worker_install_sigterm(void)
{
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	act.sa_sigaction = zj_worker_sigterm;
	sigemptyset(&act.sa_mask);
	act.sa_flags = SA_SIGINFO | SA_RESTART;
	if (sigaction(SIGTERM, &act, NULL) < 0)
		elog(FATAL, "could not install the SIGTERM handler: %m");
}

/* Timer: a sign of life in jobs.workers, also while a job runs. */
static void
zj_worker_heartbeat(void)
{
	pg_atomic_write_u64(&zj_worker_slot()->heartbeat,
						(uint64) GetCurrentTimestamp());
}

/* PG14 has no repeating timeout: there the loop alone beats. */
static void
zj_worker_heartbeat_arm(void)
{
#ifdef ZJ_HAS_TIMEOUT_EVERY
	enable_timeout_every(zj_worker_heartbeat_timeout,
						 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000),
						 1000);
#endif
}

void
zj_worker_count(bool completed)
{
	ZjWorkerSlot *slot = zj_worker_slot();

	pg_atomic_fetch_add_u64(completed ? &slot->runs_completed : &slot->runs_failed, 1);
}

static void
zj_worker_attach(void)
{
	ZjWorkerSlot *slot = zj_worker_slot();
	bool		ours;

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	ours = slot->generation == zj_worker_args.generation &&
		slot->state == ZJ_SLOT_STARTING;
	if (ours)
	{
		slot->pid = MyProcPid;
		slot->proc = MyProc;
		slot->state = ZJ_SLOT_IDLE;
		slot->state_since = GetCurrentTimestamp();
	}
	LWLockRelease(zj_shared->lock);

	/* A launcher that restarted meanwhile gave the slot to someone else. */
	if (!ours)
		proc_exit(0);
	before_shmem_exit(zj_worker_detach, (Datum) 0);
}

static void
zj_worker_set_state(ZjSlotState state, int64 run_id, TimestampTz deadline)
{
	ZjWorkerSlot *slot = zj_worker_slot();

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	if (slot->state != state)
		slot->state_since = GetCurrentTimestamp();
	slot->state = state;
	slot->run_id = run_id;
	slot->deadline = deadline;
	LWLockRelease(zj_shared->lock);
}

/*
 * Publish the run we claimed (before the claim commits) or 0 (after its
 * outcome committed): the reaper fails a running run no live slot claims.
 */
static void
zj_worker_set_claimed(int64 run_id)
{
	ZjWorkerSlot *slot = zj_worker_slot();

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	slot->claimed_id = run_id;
	/* A cancel is for one attempt: the next claim (even a retry of that run) starts clean. */
	slot->cancel_id = 0;
	slot->cancel_at = 0;
	LWLockRelease(zj_shared->lock);
}

static bool
zj_worker_should_exit(void)
{
	return zj_worker_slot()->retire ||
		zj_shared->extension != zj_worker_args.extension;
}

/*
 * Our session outlives changes to its role.  Before each claim make sure
 * the role could still log in; if not, leave, and the launcher fails the
 * role's runs with the reason instead of running them.
 */
static bool
zj_worker_role_still_valid(void)
{
	return zj_role_check(zj_worker_args.role, NULL) == ZJ_ROLE_OK;
}

Oid
zj_worker_role(void)
{
	return zj_worker_args.role;
}

void
zj_worker_apply_search_path(ZjRun *run)
{
	if (run->search_path != NULL)
		(void) set_config_option("search_path", run->search_path,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SET,
								 true, 0, false);
}

/* The run's timeout in ms, for STATEMENT_TIMEOUT. */
int
zj_worker_timeout_ms(ZjRun *run)
{
	int64		ms = run->timeout_ms;

	if (ms <= 0)
		ms = (int64) zj_default_timeout_s * 1000;
	return (int) Min(ms, (int64) INT_MAX);
}

/* The run's output: what it set, else its last statement's first row. */
Jsonb *
zj_worker_output(void)
{
	return zj_output_was_set ? zj_explicit_output : zj_output_result();
}

/*
 * In a PG_CATCH around a job: keep the error (in the run context, which
 * outlives the transaction about to be rolled back) and undo the state an
 * error leaves behind, as PostgresMain's error recovery does.  The caller
 * then restores QueryCancelHoldoffCount and rolls back the (sub)transaction.
 */
ErrorData *
zj_worker_catch_error(void)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(zj_worker_run_cxt);
	edata = CopyErrorData();
	FlushErrorState();
	disable_all_timeouts(false);
	zj_worker_heartbeat_arm();
	QueryCancelPending = false;
	return edata;
}

/*
 * A run starts executing: make it visible to jobs.* and pg_stat_activity,
 * and to the launcher's watchdog with its deadline.  A cancel that came
 * before is dropped, unless jobs.cancel() asked to stop this very run.
 */
void
zj_worker_begin_run(ZjRun *run)
{
	zj_current_run = run;
	zj_explicit_output = NULL;
	zj_output_was_set = false;
	zj_locked_run_reported = false;
	zj_output_begin_run(zj_worker_run_cxt);
	run->started_at = GetCurrentTimestamp();
	run->deadline = run->started_at + (int64) zj_worker_timeout_ms(run) * 1000;
	zj_worker_set_state(ZJ_SLOT_BUSY, run->id, run->deadline);
	zj_progress_begin_run(run);
	zj_joblog_begin_run(run);
	pgstat_report_activity(STATE_RUNNING, run->command);
	debug_query_string = run->command;
	QueryCancelPending = zj_worker_slot()->cancel_id == run->id;
	if (QueryCancelPending)
		InterruptPending = true;
}

/*
 * May the running job report progress or log lines?  Not a run a batch
 * has only locked: to everyone else it is pending, so its lines would
 * come before its "running" event.  It is noted, and the batch runs it
 * again on its own, claimed (batch.c).
 */
bool
zj_worker_may_report(void)
{
	if (zj_current_run == NULL || !zj_current_run->locked)
		return true;
	zj_locked_run_reported = true;
	return false;
}

/*
 * A run a batch has only locked acts on other runs (jobs.cancel, retry,
 * wait, or an enqueue with a dedupe_key).  The runs the batch completed
 * before it are written in a while (batch.c), so it would see, and could
 * change, them as pending.  It stops here and runs again on its own, once
 * the batch has committed.
 */
void
zj_worker_check_sees_runs(const char *what)
{
	if (zj_current_run == NULL || !zj_current_run->locked)
		return;
	zj_locked_run_reported = true;
	ereport(ERROR,
			(errcode(ERRCODE_QUERY_CANCELED),
			 errmsg("run " INT64_FORMAT " calls %s: it runs on its own",
					zj_current_run->id, what)));
}

/* The watchdog leaves us alone: the job is stopping (a shell job's group). */
void
zj_worker_unwatch(void)
{
	zj_worker_set_state(ZJ_SLOT_BUSY, 0, 0);
}

/* The watchdog terminates us kill_grace after this (a batch's limit). */
void
zj_worker_set_deadline(TimestampTz deadline)
{
	ZjWorkerSlot *slot = zj_worker_slot();

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	slot->deadline = deadline;
	LWLockRelease(zj_shared->lock);
}

/*
 * The job itself is over: keep its last progress for its outcome, and
 * wait until its log lines are stored.  Safe to call twice.
 */
void
zj_worker_job_done(ZjRun *run)
{
	zj_progress_end_run(run);
	zj_joblog_end_run();
}

void
zj_worker_end_run(ZjRun *run)
{
	zj_worker_job_done(run);
	/* No deadline while we record the outcome: the watchdog stands down. */
	zj_worker_set_state(ZJ_SLOT_BUSY, 0, 0);
	debug_query_string = NULL;
	zj_current_run = NULL;
}

/*
 * Execute the job and record its completion in the same transaction, so
 * that its effects commit exactly when the run is completed.
 */
static void
zj_worker_execute_and_complete(ZjRun *run)
{
	Jsonb	   *output;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	enable_timeout_after(STATEMENT_TIMEOUT, zj_worker_timeout_ms(run));
	zj_sql_execute(run->command, zj_worker_run_cxt);
	disable_timeout(STATEMENT_TIMEOUT, false);
	output = zj_worker_output();

	/*
	 * A read-only transaction cannot record the completion (and has no
	 * effects to commit with it); a statement like DROP DATABASE must
	 * commit at once, as exec_simple_query does.  Record it in a new one.
	 */
	if (XactReadOnly || (MyXactFlags & XACT_FLAGS_NEEDIMMEDIATECOMMIT))
	{
		CommitTransactionCommand();
		zj_xact_begin();
	}
	zj_worker_job_done(run);
	zj_book_complete(run, output);
	CommitTransactionCommand();
	zj_worker_count(true);
}

static void
zj_worker_record_failure(ZjRun *run, ErrorData *edata)
{
	ZjFailure	f;

	zj_failure_from_error(&f, run, edata);
	zj_xact_begin();
	zj_book_fail(run, &f);
	CommitTransactionCommand();
	zj_worker_count(false);
}

/*
 * Run one claimed run to its outcome.  An error anywhere in the job (or
 * in its commit) is caught, the transaction rolled back and the failure
 * recorded; FATAL does not come back here, the launcher reaps that.
 * Query cancel (the owner's pg_cancel_backend, the run's timeout) is only
 * honoured while the job runs.
 */
static void
zj_worker_execute(ZjRun *run)
{
	ErrorData  *edata = NULL;

	zj_worker_begin_run(run);
	RESUME_CANCEL_INTERRUPTS();
	PG_TRY();
	{
		if (run->shell)
			zj_shell_execute(run);
		else
			zj_worker_execute_and_complete(run);
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		edata = zj_worker_catch_error();
		QueryCancelHoldoffCount = 0;	/* as it was while the job ran */
		AbortCurrentTransaction();
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
	HOLD_CANCEL_INTERRUPTS();

	zj_worker_end_run(run);
	if (edata != NULL)
		zj_worker_record_failure(run, edata);
}

/*
 * Undo whatever session state a job left, as DISCARD ALL does (portals,
 * session authorization, settings, prepared statements, LISTENs, session
 * advisory locks, temporary tables, sequence caches), except for DISCARD
 * PLANS: throwing away cached plans protects nobody and would make us
 * re-plan our own bookkeeping after every run.  Works inside a
 * transaction (between runs of a batch) too.
 */
void
zj_worker_reset_session_state(void)
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

static void
zj_worker_reset_session(void)
{
	zj_xact_begin();
	zj_worker_reset_session_state();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(false);
}

/*
 * Claim the next run in a short transaction; returns NULL if none.  The
 * enqueuer's search_path is set here, at session level, so that it holds
 * for the whole job even if a procedure rolls back.
 */
static ZjRun *
zj_worker_claim(bool *role_gone, int64 only_id)
{
	ZjRun	   *run = NULL;
	ZjClaimResult result = ZJ_CLAIM_AGAIN;
	int			tries;

	/* Advertise idleness first, so a commit from now on wakes us. */
	zj_worker_set_state(ZJ_SLOT_IDLE, 0, 0);

	/* A concurrency limit reached under our feet: a new transaction. */
	for (tries = 0; result == ZJ_CLAIM_AGAIN && tries < 8; tries++)
	{
		zj_xact_begin();
		*role_gone = !zj_worker_role_still_valid();
		result = *role_gone ? ZJ_CLAIM_NONE :
			zj_book_claim(zj_worker_args.role, &run, zj_worker_run_cxt, only_id);
		if (result == ZJ_CLAIMED)
		{
			zj_worker_claimed_attempt = run->attempt;
			zj_worker_set_claimed(run->id);
			zj_worker_set_state(ZJ_SLOT_BUSY, run->id, 0);
			zj_worker_apply_search_path(run);
		}
		CommitTransactionCommand();
	}
	return result == ZJ_CLAIMED ? run : NULL;
}

/*
 * A run under a limit may have ended: idle workers blocked by the limit
 * (of any role) may claim now.
 */
static void
zj_worker_after_runs(void)
{
	zj_worker_set_claimed(0);
	zj_worker_reset_session();
	zj_worker_set_state(ZJ_SLOT_BUSY, 0, 0);
	if (zj_limits_active())
		zj_wake_idle_workers();
}

/*
 * Execute a claimed run, with more in the same transaction while they are
 * short (batch.c); then a run the batch left to run on its own, if any.
 */
static void
zj_worker_serve(ZjRun *run)
{
	List	   *parsetrees = NIL;
	int64		alone;
	bool		role_gone;

	if (zj_batch_possible(run, &parsetrees))
		alone = zj_batch_execute(run, parsetrees);
	else
	{
		zj_worker_execute(run);
		alone = 0;
	}
	zj_worker_after_runs();
	zj_worker_slot()->runs_done++;

	if (alone != 0)
	{
		MemoryContextReset(zj_worker_run_cxt);
		run = zj_worker_claim(&role_gone, alone);
		if (run != NULL)
		{
			zj_worker_execute(run);
			zj_worker_after_runs();
		}
	}
}

/* How long to sleep when idle; 0 when the idle timeout has passed. */
static long
zj_worker_idle_sleep(TimestampTz idle_since)
{
	long		left;

	if (zj_worker_idle_timeout_ms <= 0)
		return zj_poll_interval_ms;
	left = zj_worker_idle_timeout_ms -
		(long) ((GetCurrentTimestamp() - idle_since) / 1000);
	return left <= 0 ? 0 : Min(left, zj_poll_interval_ms);
}

static void
zj_worker_loop(void)
{
	TimestampTz idle_since = GetCurrentTimestamp();

	for (;;)
	{
		ZjRun	   *run;
		bool		role_gone;
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (zj_worker_should_exit())
			return;

		ResetLatch(MyLatch);
		zj_worker_heartbeat();
		MemoryContextReset(zj_worker_run_cxt);
		run = zj_worker_claim(&role_gone, 0);
		if (role_gone)
			return;
		if (run != NULL)
		{
			zj_worker_serve(run);
			idle_since = GetCurrentTimestamp();
			continue;
		}
		sleep_ms = zj_worker_idle_sleep(idle_since);
		if (sleep_ms == 0)
			return;				/* idle too long: give the connection back */
		pgstat_report_stat(true);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
	}
}

void
zj_worker_main(Datum arg)
{
	zj_worker_slotno = DatumGetInt32(arg);
	memcpy(&zj_worker_args, MyBgworkerEntry->bgw_extra, sizeof(ZjWorkerArgs));

	zj_worker_install_sigterm();
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	/* Connect as the runs' owner: this is what confines the jobs. */
	BackgroundWorkerInitializeConnectionByOid(zj_worker_args.database,
											  zj_worker_args.role, 0);
	zj_worker_attach();
	zj_progress_attach(zj_worker_slot());
	zj_joblog_attach(zj_worker_slot());
	zj_worker_heartbeat();
#ifdef ZJ_HAS_TIMEOUT_EVERY
	zj_worker_heartbeat_timeout = RegisterTimeout(USER_TIMEOUT, zj_worker_heartbeat);
#endif
	zj_worker_heartbeat_arm();
	pgstat_report_appname("zapjobs worker");

	zj_worker_run_cxt = AllocSetContextCreate(TopMemoryContext,
											  "zapjobs run",
											  ALLOCSET_DEFAULT_SIZES);
	/* Cancel is held except while a job runs (see zj_worker_execute). */
	HOLD_CANCEL_INTERRUPTS();
	zj_worker_loop();
	proc_exit(0);
}
