/*-------------------------------------------------------------------------
 *
 * pool.c
 *	  The launcher's share of the worker pool.  A worker is connected to one
 *	  database as one role (see worker.c), and the slots are the cluster's
 *	  (zapjobs.max_workers), so each database's launcher shares them out
 *	  among its roles that own pending runs: every such role gets a worker
 *	  while slots allow, free slots go round-robin to roles with demand,
 *	  and a worker whose role has no work left, in this database or another,
 *	  is retired when a role needs its slot; failing that, a busy worker of
 *	  the (database, role) with most workers leaves after its run.  So a
 *	  database flooding its queues cannot keep another's runs waiting.
 *	  Idle workers stay connected, so new runs of a recent role start at
 *	  once.
 *
 *	  Roles that cannot have a session (dropped, NOLOGIN, no CONNECT, or a
 *	  worker that keeps failing to start) have their pending runs failed
 *	  with the reason, so no run waits forever for a worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "bgworker.h"
#include "claim.h"
#include "events.h"
#include "pool.h"
#include "progress.h"
#include "query.h"
#include "roles.h"
#include "runstate.h"
#include "shmem.h"
#include "wakeup.h"
#include "worker.h"

#define ZJ_MAX_TRACKED_ROLES	64
#define ZJ_MAX_DEMAND_ROLES		64
#define ZJ_START_FAILURES_MAX	5
#define ZJ_MIN_SERVICE_MS		1000	/* a worker serves its role at least
										 * this long before it may be
										 * retired for another role */
#define ZJ_MAX_SLOTS_RANK		1024	/* above any worker count (zapjobs.
										 * max_workers is at most 1024) */

typedef struct ZjRoleHealth
{
	Oid			role;
	int			failures;		/* consecutive failed worker starts */
	TimestampTz retry_after;	/* no new start before this */
	TimestampTz waiting_since;	/* has had runs but no worker since, or 0 */
} ZjRoleHealth;

/*
 * Launcher-local; handles live in TopMemoryContext.  A slot may be reused
 * by another database's launcher once its worker left: a handle is
 * acted on only while the slot keeps the generation it was started with.
 */
static BackgroundWorkerHandle **zj_pool_handles = NULL;
static uint32 *zj_pool_handle_gen = NULL;
static pid_t *zj_pool_last_pid = NULL;	/* our worker in the slot, or 0 */
static Oid *zj_pool_last_role = NULL;
static ZjRoleHealth zj_pool_health[ZJ_MAX_TRACKED_ROLES];
static int	zj_pool_nhealth = 0;
static bool zj_pool_warned_no_slots = false;
static bool zj_pool_wants_slot = false; /* a role here waits for a slot */

void
zj_pool_reset(void)
{
	int			i;

	zj_pool_handles = MemoryContextAllocZero(TopMemoryContext,
											 sizeof(void *) * zj_shared->nslots);
	zj_pool_handle_gen = MemoryContextAllocZero(TopMemoryContext,
												sizeof(uint32) * zj_shared->nslots);
	zj_pool_last_pid = MemoryContextAllocZero(TopMemoryContext,
											  sizeof(pid_t) * zj_shared->nslots);
	zj_pool_last_role = MemoryContextAllocZero(TopMemoryContext,
											   sizeof(Oid) * zj_shared->nslots);

	/* Workers a previous launcher started keep serving; half-started ones go. */
	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *s = &zj_shared->slots[i];

		if (s->database != MyDatabaseId)
			continue;
		if (s->state == ZJ_SLOT_STARTING)
			s->state = ZJ_SLOT_FREE;
		zj_pool_last_pid[i] = s->pid;
		zj_pool_last_role[i] = s->role;
	}
	LWLockRelease(zj_shared->lock);
}

static ZjRoleHealth *
zj_pool_health_of(Oid role)
{
	int			i;

	for (i = 0; i < zj_pool_nhealth; i++)
		if (zj_pool_health[i].role == role)
			return &zj_pool_health[i];
	if (zj_pool_nhealth == ZJ_MAX_TRACKED_ROLES)
		zj_pool_nhealth = 0;	/* forget the oldest: only a backoff hint */
	zj_pool_health[zj_pool_nhealth].role = role;
	zj_pool_health[zj_pool_nhealth].failures = 0;
	zj_pool_health[zj_pool_nhealth].retry_after = 0;
	zj_pool_health[zj_pool_nhealth].waiting_since = 0;
	return &zj_pool_health[zj_pool_nhealth++];
}

static void
zj_pool_note_start_failure(Oid role)
{
	ZjRoleHealth *h = zj_pool_health_of(role);

	h->failures++;
	h->retry_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												 1000 * Min(h->failures, 10));
	ereport(LOG,
			(errmsg("zapjobs worker for role %u failed to start (%d in a row)",
					role, h->failures)));
}

/*
 * Our handle on slot i says its worker stopped: forget the handle, and
 * free the slot if that worker never attached (and nobody reused it).
 */
static void
zj_pool_handle_stopped(int i)
{
	ZjWorkerSlot *slot = &zj_shared->slots[i];
	bool		never_attached;
	Oid			role = slot->role;

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	never_attached = slot->generation == zj_pool_handle_gen[i] &&
		slot->state == ZJ_SLOT_STARTING;
	if (never_attached)
	{
		role = slot->role;
		slot->state = ZJ_SLOT_FREE;
	}
	LWLockRelease(zj_shared->lock);
	if (never_attached)
	{
		zj_pool_note_start_failure(role);
		zj_wakeup_slot_wanters();
	}
	pfree(zj_pool_handles[i]);
	zj_pool_handles[i] = NULL;
}

/* Notice workers that exited; sets *need_reap when one may have left a run. */
void
zj_pool_check_exits(bool *need_reap)
{
	int			i;

	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *slot = &zj_shared->slots[i];
		pid_t		pid;
		pid_t		mine;

		if (zj_pool_handles[i] != NULL)
		{
			BgwHandleStatus st = GetBackgroundWorkerPid(zj_pool_handles[i], &pid);

			if (st == BGWH_POSTMASTER_DIED)
				proc_exit(1);
			if (st == BGWH_STOPPED)
			{
				zj_pool_handle_stopped(i);
				*need_reap = true;
			}
		}
		mine = slot->database == MyDatabaseId ? slot->pid : 0;
		if (mine != 0 && (slot->state == ZJ_SLOT_IDLE || slot->state == ZJ_SLOT_BUSY))
			zj_pool_health_of(slot->role)->failures = 0;
		if (mine != zj_pool_last_pid[i])
		{
			if (zj_pool_last_pid[i] != 0)
			{
				*need_reap = true;
				zj_events_worker(zj_pool_last_pid[i], zj_pool_last_role[i], false);
			}
			if (mine != 0)
				zj_events_worker(mine, slot->role, true);
		}
		zj_pool_last_pid[i] = mine;
		zj_pool_last_role[i] = slot->role;
	}
}

/*
 * The server had no background worker slot for a worker (max_worker_
 * processes, parallel query drawing on the same slots).  Warned once per
 * shortage, counted always: jobs.pool shows it.
 */
static void
zj_pool_note_refusal(void)
{
	pg_atomic_fetch_add_u64(&zj_db->pool.start_refusals, 1);
	pg_atomic_write_u64(&zj_db->pool.last_refusal_at,
						(uint64) GetCurrentTimestamp());
	if (!zj_pool_warned_no_slots)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("zapjobs could not start a worker: no free background worker slots"),
				 errdetail("Idle workers of other roles give their slots to roles waiting for one."),
				 errhint("Raise max_worker_processes above zapjobs.max_workers plus the other background workers.")));
	zj_pool_warned_no_slots = true;
}

/*
 * Can slot i take a worker of ours?  Free, not one whose exit we have not
 * noticed yet, and, if another database's worker left it, with no log
 * lines left in it for that database's launcher to store (unless it has
 * none any more).  A slot whose worker never started, of a database
 * without a launcher to notice, is free too.
 */
static bool
zj_pool_slot_free(int i)
{
	ZjWorkerSlot *s = &zj_shared->slots[i];

	if (zj_pool_handles[i] != NULL)
		return false;
	if (s->state == ZJ_SLOT_STARTING)
		return s->database != MyDatabaseId && !zj_shmem_database_served(s->database);
	return s->state == ZJ_SLOT_FREE &&
		(s->database == MyDatabaseId ||
		 pg_atomic_read_u32(&s->log_head) == pg_atomic_read_u32(&s->log_tail) ||
		 !zj_shmem_database_served(s->database));
}

/* Take a free slot for a worker of role, under the lock; -1 if none. */
static int
zj_pool_take_slot(Oid role)
{
	int			slotno = -1;
	int			i;

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < zj_shared->nslots && slotno < 0; i++)
		if (zj_pool_slot_free(i))
			slotno = i;
	if (slotno >= 0)
	{
		ZjWorkerSlot *slot = &zj_shared->slots[slotno];

		/* Lines another database's gone launcher never stored: dropped. */
		if (slot->database != MyDatabaseId)
			pg_atomic_write_u32(&slot->log_tail, pg_atomic_read_u32(&slot->log_head));
		slot->generation++;
		slot->state = ZJ_SLOT_STARTING;
		slot->database = MyDatabaseId;
		slot->wanted = true;
		slot->role = role;
		slot->retire = false;
		slot->retired_for = InvalidOid;
		slot->run_id = 0;
		slot->claimed_id = 0;
		slot->pid = 0;
		slot->proc = NULL;
		slot->state_since = GetCurrentTimestamp();
		slot->started_at = slot->state_since;
		slot->deadline = 0;
		slot->cancel_id = 0;
		slot->cancel_at = 0;
		slot->runs_done = 0;
		slot->cursor_valid = false;	/* the last worker's, maybe of another role */
		pg_atomic_write_u32(&slot->rewind, 0);
		pg_atomic_write_u64(&slot->heartbeat, 0);
		pg_atomic_write_u64(&slot->runs_completed, 0);
		pg_atomic_write_u64(&slot->runs_failed, 0);
		zj_progress_clear(&slot->progress);
		zj_pool_handle_gen[slotno] = slot->generation;
	}
	LWLockRelease(zj_shared->lock);
	return slotno;
}

typedef enum ZjPoolStart
{
	ZJ_POOL_STARTED,
	ZJ_POOL_NO_SLOT,			/* every slot is taken */
	ZJ_POOL_REFUSED				/* the server had no background worker slot */
} ZjPoolStart;

static ZjPoolStart
zj_pool_start(Oid role)
{
	int			slotno = zj_pool_take_slot(role);
	BackgroundWorker w;
	ZjWorkerArgs args;
	char		name[BGW_MAXLEN];
	MemoryContext old;
	bool		ok;

	if (slotno < 0)
		return ZJ_POOL_NO_SLOT;
	args.generation = zj_pool_handle_gen[slotno];
	args.database = MyDatabaseId;
	args.role = role;
	args.extension = zj_db->extension;

	snprintf(name, sizeof(name), "zapjobs worker %d", slotno);
	zj_bgworker_describe(&w, "zj_worker_main", name, "zapjobs worker");
	w.bgw_main_arg = Int32GetDatum(slotno);
	memcpy(w.bgw_extra, &args, sizeof(args));
	w.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&w, &zj_pool_handles[slotno]);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		zj_pool_handles[slotno] = NULL;
		LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
		zj_shared->slots[slotno].state = ZJ_SLOT_FREE;
		LWLockRelease(zj_shared->lock);
		zj_pool_note_refusal();
		return ZJ_POOL_REFUSED;
	}
	zj_pool_warned_no_slots = false;
	return ZJ_POOL_STARTED;
}

/*
 * Can a worker log in as this role?  If not, fail the role's pending runs
 * with the reason.  Runs in the caller's transaction.
 */
static bool
zj_pool_role_usable(Oid role)
{
	char	   *name;
	char	   *msg;

	switch (zj_roles_check(role, &name))
	{
		case ZJ_ROLE_OK:
			return true;
		case ZJ_ROLE_MISSING:
			msg = psprintf("role with OID %s does not exist", name);
			zj_runstate_fail_unserved(role, "42704", msg,
							  "The role that enqueued the run was dropped.");
			break;
		case ZJ_ROLE_NOLOGIN:
			msg = psprintf("role \"%s\" is not permitted to log in", name);
			zj_runstate_fail_unserved(role, "28000", msg,
							  "A job runs in a session of its owner: grant LOGIN to the role.");
			break;
		case ZJ_ROLE_NOCONNECT:
			msg = psprintf("role \"%s\" has no CONNECT privilege on the jobs database", name);
			zj_runstate_fail_unserved(role, "42501", msg,
							  "Grant CONNECT on the database to the role.");
			break;
	}
	return false;
}

/* Fail the runs of a role whose workers keep dying at start-up. */
static bool
zj_pool_role_healthy(Oid role)
{
	ZjRoleHealth *h = zj_pool_health_of(role);

	if (h->failures >= ZJ_START_FAILURES_MAX)
	{
		zj_runstate_fail_unserved(role, "53300",
						  "no worker could start a session for the run's owner",
						  "See the server log for the reason, for example the role's connection limit.");
		h->failures = 0;
		return false;
	}
	return GetCurrentTimestamp() >= h->retry_after;
}

static int
zj_pool_workers_of(Oid database, Oid role)
{
	int			i;
	int			n = 0;

	for (i = 0; i < zj_shared->nslots; i++)
		if (zj_shared->slots[i].state != ZJ_SLOT_FREE &&
			zj_shared->slots[i].database == database &&
			zj_shared->slots[i].role == role && !zj_shared->slots[i].retire)
			n++;
	return n;
}

/*
 * Does role need another worker for its pending runs?  Its busy workers
 * are taken; its idle and starting ones will claim.
 */
static bool
zj_pool_needs_worker(Oid role, int pending)
{
	int			i;
	int			free = 0;

	/* Its last worker failed to start: not again before the backoff. */
	if (GetCurrentTimestamp() < zj_pool_health_of(role)->retry_after)
		return false;

	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *s = &zj_shared->slots[i];

		if (s->database == MyDatabaseId && s->role == role && !s->retire &&
			(s->state == ZJ_SLOT_IDLE || s->state == ZJ_SLOT_STARTING))
			free++;
	}
	return free < pending;
}

static bool
zj_pool_in(Oid role, Oid *roles, int nroles)
{
	int			i;

	for (i = 0; i < nroles; i++)
		if (roles[i] == role)
			return true;
	return false;
}

static bool
zj_pool_any_free_slot(void)
{
	int			i;

	for (i = 0; i < zj_shared->nslots; i++)
		if (zj_pool_slot_free(i))
			return true;
	return false;
}

/*
 * How much slot s is worth giving up, or -1 if it must not be: an idle
 * worker of a role with nothing to do first, then a busy one of such a
 * role (it leaves after its run), then, once it has served its role
 * ZJ_MIN_SERVICE_MS, a worker of the role with most workers, the idle
 * one among equals.  Roles then take turns when there are more of them
 * than slots, and no running job is interrupted.
 */
static int
zj_pool_victim_rank(ZjWorkerSlot *s, Oid *roles, int nroles, TimestampTz now)
{
	bool		idle = s->state == ZJ_SLOT_IDLE;

	if (s->state == ZJ_SLOT_FREE || s->state == ZJ_SLOT_STARTING || s->retire)
		return -1;
	/* Another database's launcher says whether its role has work. */
	if (s->database == MyDatabaseId ? !zj_pool_in(s->role, roles, nroles) : !s->wanted)
		return idle ? 3 * ZJ_MAX_SLOTS_RANK + 1 : 3 * ZJ_MAX_SLOTS_RANK;
	if (!TimestampDifferenceExceeds(s->started_at, now, ZJ_MIN_SERVICE_MS))
		return -1;
	return zj_pool_workers_of(s->database, s->role) * 2 + idle;
}

/*
 * The worker to leave so that a role waiting for a slot gets one, or -1;
 * *gen is its slot's generation then.
 */
static int
zj_pool_pick_victim(Oid *roles, int nroles, bool idle_only, uint32 *gen)
{
	TimestampTz now = GetCurrentTimestamp();
	int			best = -1;
	int			best_rank = -1;
	int			i;

	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *s = &zj_shared->slots[i];
		int			rank = zj_pool_victim_rank(s, roles, nroles, now);

		if (rank < 0 || (idle_only && rank != 3 * ZJ_MAX_SLOTS_RANK + 1))
			continue;
		if (rank > best_rank ||
			(rank == best_rank && s->started_at < zj_shared->slots[best].started_at))
		{
			best = i;
			best_rank = rank;
			*gen = s->generation;
		}
	}
	return best;
}

/*
 * Slots that will be free without asking anyone again: soon (a worker that
 * left and is not reaped yet, or an idle one asked to leave) and later (a
 * busy one asked to leave after its run).  Each waiting role takes one
 * before another worker is asked, so no round retires twice for a role.
 */
typedef struct ZjPoolCredit
{
	int			soon;
	int			later;
} ZjPoolCredit;

static void
zj_pool_count_leaving(ZjPoolCredit *c)
{
	int			i;

	c->soon = c->later = 0;
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *s = &zj_shared->slots[i];

		if (s->state == ZJ_SLOT_FREE && zj_pool_handles[i] != NULL)
			c->soon++;
		else if (!s->retire || s->retired_for != MyDatabaseId)
			continue;
		else if (s->state == ZJ_SLOT_BUSY)
			c->later++;
		else if (s->state != ZJ_SLOT_FREE)
			c->soon++;
	}
}

/* Ask the worker in slot victim to leave, if it is still the one picked. */
static void
zj_pool_retire(int victim, uint32 generation)
{
	ZjWorkerSlot *s = &zj_shared->slots[victim];

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	if (s->generation == generation && s->state != ZJ_SLOT_FREE)
	{
		s->retire = true;
		s->retired_for = MyDatabaseId;
		pg_atomic_fetch_add_u64(&zj_db->pool.retired_for_others, 1);
		if (s->proc != NULL)
			SetLatch(&s->proc->procLatch);
	}
	LWLockRelease(zj_shared->lock);
}

/*
 * A role needs a slot the pool cannot give now: a slot soon free serves
 * it, else an idle worker of a role with nothing to do leaves at once;
 * unless idle_only, then a slot free later, else a busy worker is asked to
 * leave after its run (zj_pool_victim_rank).
 */
static void
zj_pool_make_room(Oid *roles, int nroles, bool idle_only, ZjPoolCredit *c)
{
	int			victim;
	uint32		gen = 0;

	zj_pool_wants_slot = true;
	if (c->soon > 0)
	{
		c->soon--;
		return;
	}
	victim = zj_pool_pick_victim(roles, nroles, true, &gen);
	if (victim >= 0 || idle_only)
	{
		if (victim >= 0)
			zj_pool_retire(victim, gen);
		return;
	}
	if (c->later > 0)
	{
		c->later--;
		return;
	}
	victim = zj_pool_pick_victim(roles, nroles, false, &gen);
	if (victim >= 0)
		zj_pool_retire(victim, gen);
}

/*
 * Remember since when each role with work has had no worker, and publish
 * how many do and since when the first of them waits (jobs.pool).
 */
static void
zj_pool_note_waiting(Oid *roles, int nroles)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz first = 0;
	uint32		waiting = 0;
	int			i;

	for (i = 0; i < nroles; i++)
	{
		ZjRoleHealth *h = zj_pool_health_of(roles[i]);

		if (zj_pool_workers_of(MyDatabaseId, roles[i]) > 0)
			h->waiting_since = 0;
		else if (h->waiting_since == 0)
			h->waiting_since = now;
		if (h->waiting_since != 0)
		{
			waiting++;
			if (first == 0 || h->waiting_since < first)
				first = h->waiting_since;
		}
	}
	pg_atomic_write_u32(&zj_db->pool.roles_waiting, waiting);
	pg_atomic_write_u64(&zj_db->pool.waiting_since, (uint64) first);
}

/* Index of the worker-less role waiting longest, not yet handled, or -1. */
static int
zj_pool_longest_waiting(Oid *roles, int nroles, bool *handled)
{
	int			best = -1;
	int			i;

	for (i = 0; i < nroles; i++)
	{
		TimestampTz since = zj_pool_health_of(roles[i])->waiting_since;

		if (handled[i] || since == 0 || zj_pool_workers_of(MyDatabaseId, roles[i]) > 0)
			continue;
		if (best < 0 || since < zj_pool_health_of(roles[best])->waiting_since)
			best = i;
	}
	return best;
}

/* Does another database have a role waiting for a slot? */
static bool
zj_pool_others_want_slots(void)
{
	int			i;

	for (i = 0; i < zj_shared->ndbs; i++)
	{
		ZjDatabase *db = &zj_shared->dbs[i];

		if (db != zj_db && db->launcher != NULL &&
			pg_atomic_read_u32(&db->wants_slot) != 0)
			return true;
	}
	return false;
}

/*
 * Start workers round-robin in free slots, while a role has more pending
 * runs than idle workers, and no other database waits for the slot (our
 * roles all have a worker by now); returns false if the server refused one
 * (it has no slot left).
 */
static bool
zj_pool_round_robin(Oid *roles, int *wanted, int nroles)
{
	bool		started;
	int			i;

	do
	{
		started = false;
		for (i = 0; i < nroles && zj_pool_any_free_slot() &&
			 !zj_pool_others_want_slots(); i++)
		{
			if (!zj_pool_needs_worker(roles[i], wanted[i]))
				continue;
			switch (zj_pool_start(roles[i]))
			{
				case ZJ_POOL_REFUSED:
					return false;
				case ZJ_POOL_NO_SLOT:	/* another launcher took it */
					return true;
				case ZJ_POOL_STARTED:
					started = true;
					break;
			}
		}
	} while (started);
	return true;
}

/*
 * Share the pool among the roles with pending runs (pending[i] runs of
 * roles[i], counted up to the pool size).  Every role with work gets a
 * worker first, longest waiting first; then free slots go round-robin;
 * when slots run out (zapjobs.max_workers, or the server's background
 * worker slots), idle workers of roles with nothing to do leave for
 * roles with runs waiting, at once.  Runs in a transaction: the role
 * checks read the catalogs.
 */
static void
zj_pool_share(Oid *roles, int *pending, int nroles)
{
	Oid			usable[ZJ_MAX_TRACKED_ROLES];
	int			wanted[ZJ_MAX_TRACKED_ROLES];
	bool		handled[ZJ_MAX_TRACKED_ROLES] = {false};
	int			nusable = 0;
	ZjPoolCredit credit;
	int			i;

	for (i = 0; i < nroles && nusable < ZJ_MAX_TRACKED_ROLES; i++)
	{
		if (zj_pool_workers_of(MyDatabaseId, roles[i]) == 0 &&
			(!zj_pool_role_usable(roles[i]) || !zj_pool_role_healthy(roles[i])))
			continue;
		wanted[nusable] = pending[i];
		usable[nusable++] = roles[i];
	}

	zj_pool_count_leaving(&credit);
	zj_pool_note_waiting(usable, nusable);
	while ((i = zj_pool_longest_waiting(usable, nusable, handled)) >= 0)
	{
		handled[i] = true;
		if (zj_pool_start(usable[i]) != ZJ_POOL_STARTED)
			zj_pool_make_room(usable, nusable, false, &credit);
	}
	if (zj_pool_round_robin(usable, wanted, nusable) && zj_pool_any_free_slot())
		return;
	for (i = 0; i < nusable; i++)
		if (!handled[i] && zj_pool_needs_worker(usable[i], wanted[i]))
			zj_pool_make_room(usable, nusable, true, &credit);
}

/* Give the roles with pending runs their workers, in a transaction. */
void
zj_pool_balance(void)
{
	Oid			roles[ZJ_MAX_DEMAND_ROLES];
	int			pending[ZJ_MAX_DEMAND_ROLES];
	int			n;

	int			i;

	zj_query_xact_begin();
	n = zj_claim_demand(roles, pending, ZJ_MAX_DEMAND_ROLES, zj_shared->nslots);
	zj_pool_wants_slot = false;
	zj_pool_share(roles, pending, n);
	CommitTransactionCommand();
	/* For other databases' launchers: which of our workers have work. */
	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < zj_shared->nslots; i++)
		if (zj_shared->slots[i].database == MyDatabaseId)
			zj_shared->slots[i].wanted = zj_pool_in(zj_shared->slots[i].role, roles, n);
	LWLockRelease(zj_shared->lock);
	pg_atomic_write_u32(&zj_db->wants_slot, zj_pool_wants_slot);
}

/* Ask every worker of ours to exit (the extension went away or changed). */
void
zj_pool_retire_all(void)
{
	int			i;

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *s = &zj_shared->slots[i];

		if (s->state == ZJ_SLOT_FREE || s->database != MyDatabaseId)
			continue;
		s->retire = true;
		s->retired_for = InvalidOid;
		if (s->proc)
			SetLatch(&s->proc->procLatch);
	}
	LWLockRelease(zj_shared->lock);
}
