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
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "attempt.h"
#include "batch.h"
#include "claim.h"
#include "joblog.h"
#include "progress.h"
#include "query.h"
#include "ratelimit.h"
#include "roles.h"
#include "runctx.h"
#include "runstate.h"
#include "shell.h"
#include "sqlexec.h"
#include "wakeup.h"
#include "worker.h"

static ZjWorkerArgs zj_worker_args;

/* The postmaster asked us to stop: the server is shutting down cleanly. */
static volatile sig_atomic_t zj_worker_shutdown = false;

/* The attempt number of the run in claimed_id. */
static int32 zj_worker_claimed_attempt = 0;

/*
 * A clean shutdown interrupted the run we claimed: put it back in the
 * queue without using an attempt (its effects were not committed).  As
 * RemoveTempRelationsCallback does, this runs a transaction of its own on
 * the way out; the reaper handles the run after the restart if it fails.
 */
static void
zj_worker_requeue_on_shutdown(void)
{
	int64		id = zj_runctx_slot()->claimed_id;

	if (!zj_worker_shutdown || id == 0)
		return;
	AbortOutOfAnyTransaction();
	zj_query_xact_begin();
	if (zj_runstate_requeue(id, zj_worker_claimed_attempt))
		elog(LOG, "zapjobs put run " INT64_FORMAT " back in the queue: the server is shutting down",
			 id);
	CommitTransactionCommand();
}

/* Clear our slot on any exit, so the launcher can reuse it and reap. */
static void
zj_worker_detach(int code, Datum arg)
{
	ZjWorkerSlot *slot = zj_runctx_slot();

	zj_worker_requeue_on_shutdown();
	/* Still ours (the slot is only reused once free): no stale progress. */
	if (slot->generation == zj_worker_args.generation && slot->pid == MyProcPid)
		zj_progress_clear(&slot->progress);
	/* Its timer must not write into the slot once another worker has it. */
	zj_runctx_heartbeat_stop();

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
	zj_wakeup_maintenance();
	zj_wakeup_slot_wanters();
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

static void
zj_worker_attach(void)
{
	ZjWorkerSlot *slot = zj_runctx_slot();
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

/* Leave before attaching: the slot is free again for anyone. */
static void
zj_worker_abandon(void)
{
	ZjWorkerSlot *slot = zj_runctx_slot();

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	if (slot->generation == zj_worker_args.generation &&
		slot->state == ZJ_SLOT_STARTING)
		slot->state = ZJ_SLOT_FREE;
	LWLockRelease(zj_shared->lock);
	proc_exit(0);
}

static bool
zj_worker_should_exit(void)
{
	return zj_runctx_slot()->retire || zj_shmem_my_db(false) == NULL ||
		zj_db->extension != zj_worker_args.extension || zj_db->dropping;
}

/*
 * Our session outlives changes to its role.  Before each claim make sure
 * the role could still log in; if not, leave, and the launcher fails the
 * role's runs with the reason instead of running them.
 */
static bool
zj_worker_role_still_valid(void)
{
	return zj_roles_check(zj_worker_args.role, NULL) == ZJ_ROLE_OK;
}

/*
 * Execute the job and record its completion in the same transaction, so
 * that its effects commit exactly when the run is completed.
 */
static void
zj_worker_execute_and_complete(ZjRun *run)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	enable_timeout_after(STATEMENT_TIMEOUT, zj_attempt_timeout_ms(run));
	zj_sqlexec_execute(run->command, zj_runctx_cxt);
	disable_timeout(STATEMENT_TIMEOUT, false);

	/*
	 * A read-only transaction cannot record the completion (and has no
	 * effects to commit with it); a statement like DROP DATABASE must
	 * commit at once, as exec_simple_query does.  Record it in a new one.
	 */
	if (XactReadOnly || (MyXactFlags & XACT_FLAGS_NEEDIMMEDIATECOMMIT))
	{
		CommitTransactionCommand();
		zj_query_xact_begin();
	}
	zj_attempt_complete(run);
	CommitTransactionCommand();
	zj_runctx_count(true);
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

	zj_attempt_begin(run);
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
		edata = zj_attempt_catch_error();
		QueryCancelHoldoffCount = 0;	/* as it was while the job ran */
		AbortCurrentTransaction();
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
	HOLD_CANCEL_INTERRUPTS();

	zj_attempt_end(run);
	if (edata != NULL)
		zj_attempt_record_failure(run, edata);
}

static void
zj_worker_reset_session(void)
{
	zj_query_xact_begin();
	zj_attempt_reset_session_state();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(false);
}

/*
 * In a PG_CATCH around a claim.  DROP EXTENSION took our tables away: leave
 * quietly, as a retired worker does (the launcher retires us too, a little
 * later).  Any other error is raised again.
 */
static void
zj_worker_leave_if_dropped(void)
{
	ErrorData  *edata;
	bool		dropped;

	HOLD_INTERRUPTS();
	/* Between jobs cancel is held once (see zj_worker_main). */
	QueryCancelHoldoffCount = 1;
	MemoryContextSwitchTo(zj_runctx_cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	zj_query_xact_begin();
	dropped = get_extension_oid(ZJ_EXTENSION_NAME, true) != zj_worker_args.extension;
	CommitTransactionCommand();
	RESUME_INTERRUPTS();
	if (dropped)
		proc_exit(0);
	ReThrowError(edata);
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
	zj_runctx_set_state(ZJ_SLOT_IDLE, 0, 0);

	/* A concurrency limit reached under our feet: a new transaction. */
	for (tries = 0; result == ZJ_CLAIM_AGAIN && tries < 8; tries++)
	{
		PG_TRY();
		{
			zj_query_xact_begin();
			*role_gone = !zj_worker_role_still_valid();
			result = *role_gone ? ZJ_CLAIM_NONE :
				zj_claim_next(zj_worker_args.role, only_id, zj_runctx_cxt, &run);
			if (result == ZJ_CLAIMED)
			{
				zj_worker_claimed_attempt = run->attempt;
				zj_runctx_set_claimed(run->id);
				zj_runctx_set_state(ZJ_SLOT_BUSY, run->id, 0);
				zj_attempt_apply_search_path(run);
			}
			/* AGAIN: nothing to keep (a limit came under our feet). */
			if (result == ZJ_CLAIM_AGAIN)
				AbortCurrentTransaction();
			else
				CommitTransactionCommand();
		}
		PG_CATCH();
		{
			zj_worker_leave_if_dropped();
		}
		PG_END_TRY();
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
	zj_runctx_set_claimed(0);
	zj_worker_reset_session();
	zj_runctx_set_state(ZJ_SLOT_BUSY, 0, 0);
	if (zj_claim_limits_active())
		zj_wakeup_idle_workers();
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
	zj_runctx_slot()->runs_done++;

	if (alone != 0)
	{
		MemoryContextReset(zj_runctx_cxt);
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
		return zj_ratelimit_wait_ms(zj_poll_interval_ms);
	left = zj_worker_idle_timeout_ms -
		(long) ((GetCurrentTimestamp() - idle_since) / 1000);
	/* A rate window that frees before then: look again at that moment. */
	return left <= 0 ? 0 : zj_ratelimit_wait_ms(Min(left, zj_poll_interval_ms));
}

static void
zj_worker_loop(void)
{
	TimestampTz idle_since = GetCurrentTimestamp();
	bool		served = false;

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
		zj_runctx_heartbeat();
		MemoryContextReset(zj_runctx_cxt);
		run = zj_worker_claim(&role_gone, 0);
		if (role_gone)
			return;
		if (run != NULL)
		{
			zj_worker_serve(run);
			idle_since = GetCurrentTimestamp();
			served = true;
			continue;
		}
		/* Out of work: another role may be waiting for our slot. */
		if (served)
			zj_wakeup_worker_idle();
		served = false;
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
	memcpy(&zj_worker_args, MyBgworkerEntry->bgw_extra, sizeof(ZjWorkerArgs));
	zj_runctx_init(DatumGetInt32(arg), zj_worker_args.role);

	zj_worker_install_sigterm();
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	/* Connect as the runs' owner: this is what confines the jobs. */
	BackgroundWorkerInitializeConnectionByOid(zj_worker_args.database,
											  zj_worker_args.role, 0);
	/* Our database's entry: gone if its launcher left meanwhile. */
	if (zj_shmem_my_db(false) == NULL)
		zj_worker_abandon();
	zj_worker_attach();
	zj_progress_attach(zj_runctx_slot());
	zj_joblog_attach(zj_runctx_slot());
	zj_runctx_heartbeat_start();
	pgstat_report_appname("zapjobs worker");

	/* Cancel is held except while a job runs (see zj_worker_execute). */
	HOLD_CANCEL_INTERRUPTS();
	zj_worker_loop();
	proc_exit(0);
}
