/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *	  Wakes idle workers when a transaction that made runs pending commits,
 *	  so a run starts within moments of its enqueue without any polling.
 *	  Only the count of runs per owner is remembered; at commit that many
 *	  idle workers of the owner's role get their latch set, and the
 *	  launcher is woken when the role has no worker yet.  Likewise, at
 *	  commit, workers whose run jobs.cancel() stopped are interrupted, and
 *	  idle workers re-check queues whose settings changed.
 *
 *	  Also here: the other ways of waking a zapjobs process (the launcher,
 *	  idle workers, the worker of a run to interrupt).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include <signal.h>

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "shmem.h"
#include "wakeup.h"

#define ZJ_WAKE_ROLES 8

typedef struct ZjWake
{
	Oid			owner;
	int64		runs;			/* runs made pending for this owner */
	int32		priority;		/* the first of them in the queue's order */
	TimestampTz run_at;
} ZjWake;

static ZjWake zj_wake[ZJ_WAKE_ROLES];
static int	zj_nwake = 0;
static bool zj_wake_overflow = false;	/* more owners than zj_wake holds */
static bool zj_wake_scheduled = false;	/* scheduled runs: launcher must
										 * see their run_at */
static TimestampTz zj_wake_scheduled_at;	/* the earliest of them */
static bool zj_wake_registered = false;
static bool zj_wake_limits = false;	/* queue settings or limits changed */

/* Running runs jobs.cancel() marked, with the (sub)transaction level. */
typedef struct ZjCancel
{
	int64		run_id;
	int			level;
} ZjCancel;

static bool zj_wakeup_before_next_due(TimestampTz run_at);

static ZjCancel *zj_cancels = NULL;	/* in TopMemoryContext */
static int	zj_ncancels = 0;
static int	zj_cancels_size = 0;

/* Set the launcher's latch: events to publish, log lines to store. */
void
zj_wakeup_launcher(void)
{
	PGPROC	   *launcher;

	if (!zj_shmem_ready() || zj_shmem_my_db(false) == NULL)
		return;
	launcher = zj_db->launcher;
	if (launcher != NULL)
		SetLatch(&launcher->procLatch);
}

/* Ask the launcher for a maintenance round (workers, reaping) now. */
void
zj_wakeup_maintenance(void)
{
	if (!zj_shmem_ready() || zj_shmem_my_db(false) == NULL)
		return;
	pg_atomic_write_u32(&zj_db->maintenance_requested, 1);
	zj_wakeup_launcher();
}

/* Set the latch of every idle worker: something may be claimable now. */
void
zj_wakeup_idle_workers(void)
{
	int			i;

	if (!zj_shmem_ready())
		return;
	LWLockAcquire(zj_shared->lock, LW_SHARED);
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *s = &zj_shared->slots[i];

		if (s->state == ZJ_SLOT_IDLE && s->proc != NULL &&
			s->database == MyDatabaseId)
			SetLatch(&s->proc->procLatch);
	}
	LWLockRelease(zj_shared->lock);
}

/*
 * Interrupt the worker executing (or about to execute) run_id.  The
 * worker checks cancel_id when it starts a run, so a run claimed but not
 * started yet is stopped too.  Called after the cancel committed.
 */
void
zj_wakeup_interrupt_run(int64 run_id)
{
	int			i;

	/* Signal under the lock: a worker must hold it to leave its slot. */
	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *slot = &zj_shared->slots[i];

		if (slot->pid == 0 || slot->database != MyDatabaseId ||
			(slot->claimed_id != run_id && slot->run_id != run_id))
			continue;
		slot->cancel_id = run_id;
		slot->cancel_at = GetCurrentTimestamp();
		if (slot->run_id == run_id)
			(void) kill(slot->pid, SIGINT);
	}
	LWLockRelease(zj_shared->lock);
	zj_wakeup_maintenance();	/* the watchdog escalates if ignored */
}

/* Does (priority, run_at) come before w's first run in the queue's order? */
static bool
zj_wakeup_before(int32 priority, TimestampTz run_at, const ZjWake *w)
{
	return priority < w->priority ||
		(priority == w->priority && run_at < w->run_at);
}

/*
 * At the commit that made w->runs runs of w->owner pending (w NULL: of
 * owners not noted, so of any): wake up to that many idle workers of the
 * owner, and the launcher if it can help.  Workers of the owner that claim
 * after a position past w's first run go back to the head of the queue for
 * their next claim (see claim.c); with w NULL, all of them.
 */
static void
zj_wakeup_role(const ZjWake *w)
{
	bool		all = w == NULL;
	int64		runs = all ? PG_INT64_MAX : w->runs;
	bool		has_worker = false;
	bool		has_room = false;	/* a free slot, or another role's idle worker */
	int			i;

	LWLockAcquire(zj_shared->lock, LW_SHARED);
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *s = &zj_shared->slots[i];

		if (s->state == ZJ_SLOT_FREE ||
			(s->state == ZJ_SLOT_IDLE &&
			 (s->database != MyDatabaseId || (!all && s->role != w->owner))))
			has_room = true;
		if (s->state == ZJ_SLOT_FREE || s->database != MyDatabaseId ||
			(!all && s->role != w->owner))
			continue;
		if (s->cursor_valid &&
			(all || !zj_wakeup_before(s->cursor_priority, s->cursor_run_at, w)))
			pg_atomic_fetch_add_u32(&s->rewind, 1);
		if (s->retire)
			continue;
		has_worker = true;
		if (s->state == ZJ_SLOT_IDLE && runs > 0 && s->proc != NULL)
		{
			SetLatch(&s->proc->procLatch);
			runs--;
		}
	}
	LWLockRelease(zj_shared->lock);

	/*
	 * The launcher adds workers: for a new role, or runs beyond the idle,
	 * in a free slot or one another role's idle worker gives up.
	 */
	if (!has_worker || all || (runs > 0 && has_room))
		zj_wakeup_maintenance();
}

/*
 * A worker slot is free, or an idle worker could give up its own: wake
 * the launchers of databases with a role waiting for a slot (pool.c).
 */
void
zj_wakeup_slot_wanters(void)
{
	int			i;

	for (i = 0; zj_shmem_ready() && i < zj_shared->ndbs; i++)
	{
		ZjDatabase *db = &zj_shared->dbs[i];
		PGPROC	   *launcher = db->launcher;

		if (launcher == NULL || pg_atomic_read_u32(&db->wants_slot) == 0)
			continue;
		pg_atomic_write_u32(&db->maintenance_requested, 1);
		SetLatch(&launcher->procLatch);
	}
}

/*
 * This worker found nothing more to do.  If the pool is full, a role may
 * be waiting for its slot: the launchers look (see pool.c).
 */
void
zj_wakeup_worker_idle(void)
{
	bool		full = true;
	int			i;

	LWLockAcquire(zj_shared->lock, LW_SHARED);
	for (i = 0; i < zj_shared->nslots && full; i++)
		full = zj_shared->slots[i].state != ZJ_SLOT_FREE;
	LWLockRelease(zj_shared->lock);
	if (full)
		zj_wakeup_slot_wanters();
	if (full || pg_atomic_read_u32(&zj_db->pool.roles_waiting) > 0)
		zj_wakeup_maintenance();
}

static void
zj_wakeup_xact_callback(XactEvent event, void *arg)
{
	int			i;

	/* Our database's entry: taken when the first run was noted. */
	if (event == XACT_EVENT_COMMIT && zj_shmem_my_db(false) != NULL)
	{
		for (i = 0; i < zj_nwake; i++)
			zj_wakeup_role(&zj_wake[i]);
		if (zj_wake_overflow)
			zj_wakeup_role(NULL);
		if (zj_wake_scheduled && zj_wakeup_before_next_due(zj_wake_scheduled_at))
			zj_wakeup_maintenance();
		for (i = 0; i < zj_ncancels; i++)
			zj_wakeup_interrupt_run(zj_cancels[i].run_id);
		if (zj_wake_limits)
		{
			/* Bump first: see zj_claim_limits_refresh. */
			pg_atomic_fetch_add_u32(&zj_db->limits_changes, 1);
			pg_atomic_write_u32(&zj_db->limits_active, 1);
			zj_wakeup_idle_workers();
			zj_wakeup_maintenance();
		}
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		zj_ncancels = 0;
		zj_wake_limits = false;
		zj_nwake = 0;
		zj_wake_overflow = false;
		zj_wake_scheduled = false;
	}
}

/*
 * A rolled-back savepoint takes back the cancels made inside it; a
 * released one hands them to its parent.
 */
static void
zj_wakeup_subxact_callback(SubXactEvent event, SubTransactionId sub,
						   SubTransactionId parent, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (zj_ncancels > 0 && zj_cancels[zj_ncancels - 1].level >= level)
			zj_ncancels--;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = 0; i < zj_ncancels; i++)
			if (zj_cancels[i].level >= level)
				zj_cancels[i].level = level - 1;
	}
}

static bool
zj_wakeup_register(void)
{
	if (zj_shmem_my_db(true) == NULL)
		return false;
	if (!zj_wake_registered)
	{
		RegisterXactCallback(zj_wakeup_xact_callback, NULL);
		RegisterSubXactCallback(zj_wakeup_subxact_callback, NULL);
		zj_wake_registered = true;
	}
	return true;
}

/*
 * Note that the current transaction scheduled a run for run_at (0: for a
 * time not known here).  The launcher is woken at commit only if that is
 * before the promotion it already waits for.
 */
void
zj_wakeup_note_scheduled(TimestampTz run_at)
{
	if (!zj_wakeup_register())
		return;
	if (!zj_wake_scheduled || run_at < zj_wake_scheduled_at)
		zj_wake_scheduled_at = run_at;
	zj_wake_scheduled = true;
}

/*
 * Is run_at, just committed, before the launcher's next promotion?  The
 * launcher marks that time unknown before it takes the snapshot it
 * computes the time in: either that snapshot sees our commit, or we see
 * "unknown", or the time it stored, computed without us, is compared.
 */
static bool
zj_wakeup_before_next_due(TimestampTz run_at)
{
	int64		next;

	pg_memory_barrier();
	next = (int64) pg_atomic_read_u64(&zj_db->next_due);
	return next == ZJ_NEXT_DUE_UNKNOWN || run_at < next;
}

/*
 * Note that the current transaction made runs of owner pending, the first
 * of them in the queue's order at (priority, run_at).
 */
void
zj_wakeup_note_enqueue(Oid owner, int64 runs, int32 priority, TimestampTz run_at)
{
	ZjWake	   *w;
	int			i;

	if (!zj_wakeup_register())
		return;
	for (i = 0; i < zj_nwake; i++)
	{
		w = &zj_wake[i];
		if (w->owner != owner)
			continue;
		w->runs += runs;
		if (zj_wakeup_before(priority, run_at, w))
		{
			w->priority = priority;
			w->run_at = run_at;
		}
		return;
	}
	if (zj_nwake == ZJ_WAKE_ROLES)
	{
		zj_wake_overflow = true;
		return;
	}
	w = &zj_wake[zj_nwake++];
	w->owner = owner;
	w->runs = runs;
	w->priority = priority;
	w->run_at = run_at;
}

/*
 * Note that the current transaction asked a running run to stop: its
 * worker is interrupted once the request is committed (and visible).
 */
void
zj_wakeup_note_cancel(int64 run_id)
{
	if (!zj_wakeup_register())
		return;
	if (zj_ncancels == zj_cancels_size)
	{
		int			size = Max(16, zj_cancels_size * 2);

		zj_cancels = zj_cancels == NULL ?
			MemoryContextAlloc(TopMemoryContext, size * sizeof(ZjCancel)) :
			repalloc(zj_cancels, size * sizeof(ZjCancel));
		zj_cancels_size = size;
	}
	zj_cancels[zj_ncancels].run_id = run_id;
	zj_cancels[zj_ncancels].level = GetCurrentTransactionNestLevel();
	zj_ncancels++;
}

/* Note that the current transaction changed queue settings or limits. */
void
zj_wakeup_note_limits(void)
{
	if (zj_wakeup_register())
		zj_wake_limits = true;
}
