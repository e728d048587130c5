/*-------------------------------------------------------------------------
 *
 * runctx.c
 *	  A pool worker's own state, shared by its executors: its slot (state,
 *	  deadline, claimed run, counters, heartbeat), its role, the run being
 *	  executed and the rules for a run a batch has only locked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "runctx.h"

MemoryContext zj_runctx_cxt = NULL;
ZjRun	   *zj_runctx_run = NULL;

static int	zj_runctx_slotno = -1;
static Oid	zj_runctx_my_role = InvalidOid;

/* A run a batch only locked tried to report progress, log or act on runs. */
static bool zj_runctx_reported = false;

#ifdef ZJ_HAS_TIMEOUT_EVERY
static TimeoutId zj_runctx_heartbeat_timeout;
#endif

/* The worker attached to slot slotno, connected as role. */
void
zj_runctx_init(int slotno, Oid role)
{
	zj_runctx_slotno = slotno;
	zj_runctx_my_role = role;
	zj_runctx_cxt = AllocSetContextCreate(TopMemoryContext, "zapjobs run",
										  ALLOCSET_DEFAULT_SIZES);
}

ZjWorkerSlot *
zj_runctx_slot(void)
{
	return &zj_shared->slots[zj_runctx_slotno];
}

Oid
zj_runctx_role(void)
{
	return zj_runctx_my_role;
}

void
zj_runctx_set_state(ZjSlotState state, int64 run_id, TimestampTz deadline)
{
	ZjWorkerSlot *slot = zj_runctx_slot();

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	if (slot->state != state)
		slot->state_since = GetCurrentTimestamp();
	slot->state = state;
	slot->run_id = run_id;
	slot->deadline = deadline;
	LWLockRelease(zj_shared->lock);
}

/* The watchdog terminates us kill_grace after this (a batch's limit). */
void
zj_runctx_set_deadline(TimestampTz deadline)
{
	ZjWorkerSlot *slot = zj_runctx_slot();

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	slot->deadline = deadline;
	LWLockRelease(zj_shared->lock);
}

/*
 * Publish the run we claimed (before the claim commits) or 0 (after its
 * outcome committed): the reaper fails a running run no live slot claims.
 */
void
zj_runctx_set_claimed(int64 run_id)
{
	ZjWorkerSlot *slot = zj_runctx_slot();

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	slot->claimed_id = run_id;
	/* A cancel is for one attempt: the next claim (even a retry of that run) starts clean. */
	slot->cancel_id = 0;
	slot->cancel_at = 0;
	LWLockRelease(zj_shared->lock);
}

/*
 * Publish the worker's claim position (claim.c): for committers (wakeup.c)
 * and for the other workers of its role.
 */
void
zj_runctx_set_cursor(const ZjRun *position)
{
	ZjWorkerSlot *slot = zj_runctx_slot();

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	slot->cursor_valid = true;
	slot->cursor_priority = position->priority;
	slot->cursor_run_at = position->run_at;
	pg_atomic_write_u64(&slot->cursor_id, (uint64) position->id);
	LWLockRelease(zj_shared->lock);
}

/*
 * A new id at the published (priority, run_at), without the lock: a
 * reader pairs those with one of the ids written since, all runs at them
 * that the worker claimed or locked.
 */
void
zj_runctx_set_cursor_id(int64 id)
{
	pg_atomic_write_u64(&zj_runctx_slot()->cursor_id, (uint64) id);
}

void
zj_runctx_count(bool completed)
{
	ZjWorkerSlot *slot = zj_runctx_slot();

	pg_atomic_fetch_add_u64(completed ? &slot->runs_completed : &slot->runs_failed, 1);
}

/* A sign of life in jobs.workers; a timer beats also while a job runs. */
void
zj_runctx_heartbeat(void)
{
	pg_atomic_write_u64(&zj_runctx_slot()->heartbeat,
						(uint64) GetCurrentTimestamp());
}

void
zj_runctx_heartbeat_start(void)
{
	zj_runctx_heartbeat();
#ifdef ZJ_HAS_TIMEOUT_EVERY
	zj_runctx_heartbeat_timeout = RegisterTimeout(USER_TIMEOUT, zj_runctx_heartbeat);
#endif
	zj_runctx_heartbeat_arm();
}

/* PG14 has no repeating timeout: there the loop alone beats. */
void
zj_runctx_heartbeat_arm(void)
{
#ifdef ZJ_HAS_TIMEOUT_EVERY
	enable_timeout_every(zj_runctx_heartbeat_timeout,
						 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000),
						 1000);
#endif
}

void
zj_runctx_heartbeat_stop(void)
{
#ifdef ZJ_HAS_TIMEOUT_EVERY
	disable_timeout(zj_runctx_heartbeat_timeout, false);
#endif
}

/*
 * May the running job report progress or log lines?  Not a run a batch
 * has only locked: to everyone else it is pending, so its lines would
 * come before its "running" event.  It is noted, and the batch runs it
 * again on its own, claimed (batch.c).
 */
bool
zj_runctx_may_report(void)
{
	if (zj_runctx_run == NULL || !zj_runctx_run->locked)
		return true;
	zj_runctx_reported = true;
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
zj_runctx_check_sees_runs(const char *what)
{
	if (zj_runctx_run == NULL || !zj_runctx_run->locked)
		return;
	zj_runctx_reported = true;
	ereport(ERROR,
			(errcode(ERRCODE_QUERY_CANCELED),
			 errmsg("run " INT64_FORMAT " calls %s: it runs on its own",
					zj_runctx_run->id, what)));
}

bool
zj_runctx_locked_run_reported(void)
{
	return zj_runctx_reported;
}

void
zj_runctx_forget_reported(void)
{
	zj_runctx_reported = false;
}
