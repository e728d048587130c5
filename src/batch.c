/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Several short runs in one transaction.  A durable commit costs far
 *	  more than a short job, so while a worker's runs are short it keeps its
 *	  transaction open and claims, executes and completes the next runs in
 *	  it, each in a subtransaction of its own (a run's failure rolls back
 *	  only that run), then commits them all at once.
 *
 *	  The batch's first run was claimed durably beforehand, like any run.
 *	  The others are only locked (FOR NO KEY UPDATE SKIP LOCKED, several with one
 *	  index scan) and written once, straight from pending to completed or
 *	  failed: to everyone else they are pending until the batch commits,
 *	  and if the worker or the server dies first they simply still are,
 *	  their effects never committed.  Each run commits exactly when its
 *	  outcome is recorded.
 *
 *	  Limits: no new run after zapjobs.batch_time; a locked run that runs
 *	  longer than that is rolled back and run again on its own; a run that
 *	  is not plain queries and DML (CALL, VACUUM, DO...) ends the batch and
 *	  runs on its own; deferred triggers of each run fire when it ends, so
 *	  that one run's deferred constraint cannot abort the others at commit.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "attempt.h"
#include "batch.h"
#include "claim.h"
#include "output.h"
#include "runctx.h"
#include "runstate.h"
#include "shmem.h"
#include "sqlexec.h"
#include "wakeup.h"

/*
 * Runs in one batch, at most; zapjobs.batch_time bounds it first.  Runs
 * that write give the batch a subtransaction xid each: past 64 of them
 * (PGPROC_MAX_CACHED_SUBXIDS) every snapshot in the cluster would have to
 * consult pg_subtrans, so no run starts once ZJ_BATCH_MAX_SUBXIDS are
 * taken (a run may take several).
 */
#define ZJ_BATCH_MAX_RUNS 256
#define ZJ_BATCH_MAX_SUBXIDS 48
#define ZJ_BATCH_LOCK_MAX 32		/* runs locked by one scan, at most */

typedef enum ZjBatchOutcome
{
	ZJ_BATCH_RUN_DONE,			/* completed or failed, recorded */
	ZJ_BATCH_RUN_OVERRAN		/* rolled back: run it on its own */
} ZjBatchOutcome;

/* Runs the last batch got through: where the next one starts locking. */
static int	zj_batch_last_size = 1;

/*
 * Locked runs that completed, written together
 * (zj_runstate_complete_locked) before the next lock scan, which would find them still pending
 * (our own locks do not make it skip them), and before the commit.
 */
static List *zj_batch_completed = NIL;

/* Context and resource owner of the batch transaction itself. */
static MemoryContext zj_batch_cxt;
static ResourceOwner zj_batch_owner;

static void
zj_batch_subxact_begin(void)
{
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(zj_batch_cxt);
}

static void
zj_batch_subxact_end(bool keep)
{
	if (keep)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(zj_batch_cxt);
	CurrentResourceOwner = zj_batch_owner;
}

static bool zj_batch_parse(ZjRun *run, List **parsetrees);

/* May one more run join the batch (done runs have, after the first)? */
static bool
zj_batch_has_room(int done)
{
	/* A worker asked to give its slot to another role stops here. */
	return 1 + done < ZJ_BATCH_MAX_RUNS &&
		MyProc->subxidStatus.count < ZJ_BATCH_MAX_SUBXIDS &&
		!MyProc->subxidStatus.overflowed && !zj_runctx_slot()->retire;
}

/*
 * The batch leaves the runs of locked from first_left on: its commit
 * releases them, behind the workers' claim positions.  This worker's next
 * scan starts from the head and finds them (claim.c); if it gives up its
 * slot instead, others are told at commit, as for runs enqueued
 * (wakeup.c).  (A run handed over to run alone delays them until it ends
 * or another worker looks at the head: within a second.  Telling the
 * others then would send them all to the head at every overrun.)
 */
static void
zj_batch_release(List *locked, int first_left, bool to_others)
{
	ZjRun	   *first;

	if (first_left >= list_length(locked))
		return;
	zj_claim_rewind();
	if (!to_others)
		return;
	first = list_nth(locked, first_left);
	zj_wakeup_note_enqueue(zj_runctx_role(), list_length(locked) - first_left,
						   first->priority, first->run_at);
}

static void
zj_batch_write_completed(void)
{
	zj_runstate_complete_locked(zj_batch_completed);
	zj_batch_completed = NIL;
}

/*
 * Was the run pending when a worker last died or the server crashed (see
 * reaper.c)?  It may be what killed it; locked in a batch, its attempt
 * would not count and it could do so forever.  It runs on its own, claimed.
 */
static bool
zj_batch_suspect(ZjRun *run)
{
	return (uint64) run->id < pg_atomic_read_u64(&zj_db->batch_min_id);
}

/*
 * Can this claimed run start a batch?  Its text must be batchable, and
 * the owner's defaults must be those of our bookkeeping (read-write, READ
 * COMMITTED), since the runs share the job transaction.
 */
bool
zj_batch_possible(ZjRun *run, List **parsetrees)
{
	if (zj_batch_time_ms <= 0 || run->shell || DefaultXactReadOnly ||
		DefaultXactIsoLevel != XACT_READ_COMMITTED)
		return false;
	return zj_batch_parse(run, parsetrees);
}

/*
 * Parse a run's text; true if it may join a batch.  A syntax error makes
 * it run on its own, where its own execution records the error.  The
 * error is caught without a subtransaction: the raw parser only allocates
 * (no lock, buffer, file or catalog access to release; it does not even
 * need a transaction), so flushing the error leaves nothing behind.
 */
static bool
zj_batch_parse(ZjRun *run, List **parsetrees)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		ok = false;

	if (run->shell)
		return false;			/* a shell run always runs on its own */
	PG_TRY();
	{
		*parsetrees = zj_sqlexec_parse(run->command, zj_runctx_cxt);
		ok = zj_sqlexec_batchable(*parsetrees);
	}
	PG_CATCH();
	{
		/* A syntax error: the run's own execution will record it. */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
	}
	PG_END_TRY();
	return ok;
}

/* Record a run's outcome in the current (sub)transaction. */
static void
zj_batch_record(ZjRun *run, ErrorData *edata)
{
	if (edata == NULL && run->locked)
	{
		Assert(run->progress == NULL);
		run->finished_at = GetCurrentTimestamp();
		run->output = zj_output_result();
		zj_batch_completed = lappend(zj_batch_completed, run);
	}
	else if (edata == NULL)
		zj_attempt_complete(run);
	else
		zj_attempt_fail(run, edata);
	zj_runctx_count(edata == NULL);
}

/*
 * A locked run interrupted by a cancel that was not its own (its timeout
 * is not reached: a batch's limit is shorter), past the batch's limit, or
 * that reported progress or logged, is rolled back and run again on its
 * own.
 */
static bool
zj_batch_must_rerun(ZjRun *run, ErrorData *edata, bool limited,
					TimestampTz start, int limit_ms)
{
	if (run->locked && zj_runctx_locked_run_reported())
		return true;
	if (!run->locked || edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
		return false;
	if (limited && TimestampDifferenceExceeds(start, GetCurrentTimestamp(), limit_ms))
		return true;
	return GetCurrentTimestamp() < run->deadline;
}

/*
 * Execute a run in a subtransaction, release it (or roll it back on
 * error), then record the outcome in the batch transaction itself: the
 * run's row is locked by that transaction, and updating it from a
 * subtransaction would turn every such row's lock into a multixact.  The
 * effects and the outcome still commit together, with the batch.
 * limit_ms > 0 for locked runs: past it they are rolled back, to be run
 * on their own.
 */
static ZjBatchOutcome
zj_batch_run_one(ZjRun *run, List *parsetrees, int limit_ms)
{
	ErrorData  *edata = NULL;
	int			timeout_ms = zj_attempt_timeout_ms(run);
	bool		limited = limit_ms > 0 && limit_ms < timeout_ms;
	TimestampTz start = GetCurrentTimestamp();
	bool		overran = false;

	zj_attempt_begin(run);
	/* A job that ignores the limit's cancel must not hold the batch long. */
	if (limited)
		zj_runctx_set_deadline(TimestampTzPlusMilliseconds(start, limit_ms));
	zj_batch_subxact_begin();
	RESUME_CANCEL_INTERRUPTS();
	PG_TRY();
	{
		zj_attempt_apply_search_path(run);
		enable_timeout_after(STATEMENT_TIMEOUT, limited ? limit_ms : timeout_ms);
		zj_sqlexec_run(parsetrees, run->command, zj_runctx_cxt, true);
		AfterTriggerFireDeferred();
		if (zj_runctx_locked_run_reported())
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("run " INT64_FORMAT " reports progress or logs: it runs on its own",
							run->id)));
		disable_timeout(STATEMENT_TIMEOUT, false);
		zj_batch_subxact_end(true);
		/* A run's SET TRANSACTION READ ONLY was for its own span only. */
		XactReadOnly = false;
	}
	PG_CATCH();
	{
		edata = zj_attempt_catch_error();
		QueryCancelHoldoffCount = 0;	/* as it was while the job ran */
		zj_batch_subxact_end(false);
		overran = zj_batch_must_rerun(run, edata, limited, start, limit_ms);
	}
	PG_END_TRY();
	HOLD_CANCEL_INTERRUPTS();
	zj_attempt_end(run);

	if (overran)
		return ZJ_BATCH_RUN_OVERRAN;
	zj_batch_record(run, edata);
	return ZJ_BATCH_RUN_DONE;
}

/*
 * The loop of zj_batch_execute, inside the batch transaction: the first
 * run, then rounds of locked runs while time is left, the first round as
 * many as the last batch did, each next round twice as many.  Returns the
 * id of a run to run on its own, or 0.
 */
static int64
zj_batch_loop(ZjRun *first, List *first_trees)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   zj_batch_time_ms);
	int			want = Max(1, Min(zj_batch_last_size, ZJ_BATCH_LOCK_MAX));
	int			done = 0;

	if (zj_batch_run_one(first, first_trees, 0) == ZJ_BATCH_RUN_OVERRAN)
		elog(ERROR, "first run of a batch cannot overrun");
	zj_attempt_reset_session_state();

	while (zj_batch_has_room(done) && GetCurrentTimestamp() < deadline)
	{
		List	   *locked = zj_claim_lock_pending(zj_runctx_role(),
												  Min(want, ZJ_BATCH_MAX_RUNS - 1 - done),
												  zj_runctx_cxt);
		ListCell   *lc;

		if (locked == NIL)
			break;
		foreach(lc, locked)
		{
			ZjRun	   *run = lfirst(lc);
			List	   *trees;

			if (GetCurrentTimestamp() >= deadline || !zj_batch_has_room(done))
			{
				zj_batch_release(locked, foreach_current_index(lc),
								 zj_runctx_slot()->retire);
				break;
			}
			if (zj_batch_suspect(run) || !zj_batch_parse(run, &trees) ||
				zj_batch_run_one(run, trees, zj_batch_time_ms) == ZJ_BATCH_RUN_OVERRAN)
			{
				zj_batch_last_size = 1;
				zj_batch_release(locked, foreach_current_index(lc) + 1, false);
				return run->id;
			}
			zj_attempt_reset_session_state();
			done++;
		}
		zj_batch_write_completed();
		want = Min(want * 2, ZJ_BATCH_LOCK_MAX);
	}
	zj_batch_last_size = done;
	return 0;
}

/*
 * Execute first (claimed durably) and, while runs are short, more runs in
 * the same transaction.  Returns the id of a run that must be run on its
 * own next, or 0.  An error outside the runs' subtransactions (our own
 * bookkeeping, the commit) loses the batch: its runs claimed in it are
 * pending again and the first run is recorded as failed.
 */
int64
zj_batch_execute(ZjRun *first, List *first_trees)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64		alone = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	zj_batch_cxt = CurTransactionContext;
	zj_batch_owner = CurrentResourceOwner;
	zj_batch_completed = NIL;
	PG_TRY();
	{
		alone = zj_batch_loop(first, first_trees);
		zj_batch_write_completed();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		zj_batch_completed = NIL;
		edata = zj_attempt_catch_error();
		zj_attempt_abandon();
		/* Between jobs cancel is held once (see zj_worker_main). */
		QueryCancelHoldoffCount = 1;
		AbortOutOfAnyTransaction();
		/* The runs it had locked are pending again, behind our position. */
		zj_claim_rewind();
		RESUME_INTERRUPTS();
		zj_attempt_record_failure(first, edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return alone;
}
