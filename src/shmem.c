/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The shared state of zapjobs: the cluster's worker slots, the
 *	  per-backend arrays and the served databases' entries (each with its
 *	  event ring), sized at postmaster start.  A crash-restart
 *	  re-creates it with a new epoch, which is how runs left over from
 *	  before the crash are recognised.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "postmaster/autovacuum.h"
#include "replication/walsender.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "shmem.h"

ZjShared   *zj_shared = NULL;
ZjDatabase *zj_db = NULL;

#ifdef ZJ_HAS_SHMEM_REQUEST_HOOK
static shmem_request_hook_type zj_prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type zj_prev_shmem_startup_hook = NULL;

static Size
zj_shmem_size(void)
{
	Size		size;

	size = add_size(offsetof(ZjShared, slots),
					mul_size(zj_max_workers, sizeof(ZjWorkerSlot)));
	size = MAXALIGN(size);
	size = add_size(size, mul_size(zj_max_backends(), sizeof(pg_atomic_uint64)));
	size = MAXALIGN(size);
	size = add_size(size, mul_size(zj_max_databases, sizeof(ZjDatabase)));
	size = MAXALIGN(size);
	size = add_size(size, mul_size(mul_size(zj_max_databases, ZJ_EVENT_RING_SIZE),
								   sizeof(ZjRingEvent)));
	return size;
}

static void
zj_shmem_request(void)
{
#ifdef ZJ_HAS_SHMEM_REQUEST_HOOK
	if (zj_prev_shmem_request_hook)
		zj_prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(zj_shmem_size());
	RequestNamedLWLockTranche("zapjobs", 1 + zj_max_databases);
}

/*
 * A database entry as new: free, nothing buffered, limits unknown.  A
 * committing backend may still hold ring slots of the entry's previous
 * database: the generation tells it (events.c).
 */
static void
zj_shmem_reset_db(ZjDatabase *db, bool first)
{
	if (!first)
		LWLockAcquire(db->ring_lock, LW_EXCLUSIVE);
	db->generation = first ? 0 : db->generation + 1;
	db->database = InvalidOid;
	db->absent = false;
	db->dropping = false;
	db->requests = 0;
	db->rebooted = false;
	db->extension = InvalidOid;
	db->launcher = NULL;
	db->ring_head = db->ring_tail = 0;
	pg_atomic_init_u64(&db->events_dropped, 0);
	pg_atomic_init_u32(&db->maintenance_requested, 0);
	pg_atomic_init_u32(&db->wants_slot, 0);
	pg_atomic_init_u32(&db->restores, 0);
	/* Until the launcher has looked, limits may exist. */
	pg_atomic_init_u32(&db->limits_active, 1);
	pg_atomic_init_u32(&db->limits_changes, 0);
	pg_atomic_init_u64(&db->batch_min_id, 0);
	pg_atomic_init_u64(&db->next_due, (uint64) ZJ_NEXT_DUE_UNKNOWN);
	pg_atomic_init_u32(&db->pool.roles_waiting, 0);
	pg_atomic_init_u64(&db->pool.waiting_since, 0);
	pg_atomic_init_u64(&db->pool.start_refusals, 0);
	pg_atomic_init_u64(&db->pool.last_refusal_at, 0);
	pg_atomic_init_u64(&db->pool.retired_for_others, 0);
	memset(db->ring, 0, ZJ_EVENT_RING_SIZE * sizeof(ZjRingEvent));
	if (!first)
		LWLockRelease(db->ring_lock);
}

static void
zj_shmem_init_slots(ZjShared *shared)
{
	int			i;

	memset(shared->slots, 0, mul_size(zj_max_workers, sizeof(ZjWorkerSlot)));
	for (i = 0; i < shared->nslots; i++)
	{
		pg_atomic_init_u32(&shared->slots[i].rewind, 0);
		pg_atomic_init_u64(&shared->slots[i].cursor_id, 0);
		pg_atomic_init_u64(&shared->slots[i].heartbeat, 0);
		pg_atomic_init_u64(&shared->slots[i].runs_completed, 0);
		pg_atomic_init_u64(&shared->slots[i].runs_failed, 0);
		pg_atomic_init_u32(&shared->slots[i].progress.changecount, 0);
		pg_atomic_init_u32(&shared->slots[i].log_head, 0);
		pg_atomic_init_u32(&shared->slots[i].log_tail, 0);
	}
}

static void
zj_shmem_init_fresh(ZjShared *shared)
{
	LWLockPadded *locks = GetNamedLWLockTranche("zapjobs");
	char	   *p;
	int			i;

	memset(shared, 0, offsetof(ZjShared, slots));
	shared->lock = &locks[0].lock;

	/* Time plus pid: distinct across restarts of the same postmaster. */
	shared->epoch = ((uint64) GetCurrentTimestamp() << 8) ^ (uint64) MyProcPid;
	pg_atomic_init_u32(&shared->waiters, 0);
	pg_atomic_init_u32(&shared->rescan_requested, 1);
	pg_atomic_init_u32(&shared->entries_short, 0);
	shared->max_backends = zj_max_backends();
	shared->nslots = zj_max_workers;
	shared->ndbs = zj_max_databases;
	zj_shmem_init_slots(shared);

	p = (char *) shared + MAXALIGN(offsetof(ZjShared, slots) +
								   zj_max_workers * sizeof(ZjWorkerSlot));
	shared->waiting_for = (pg_atomic_uint64 *) p;
	for (i = 0; i < shared->max_backends; i++)
		pg_atomic_init_u64(&shared->waiting_for[i], 0);
	p += MAXALIGN(shared->max_backends * sizeof(pg_atomic_uint64));
	shared->dbs = (ZjDatabase *) p;
	p += MAXALIGN(shared->ndbs * sizeof(ZjDatabase));
	for (i = 0; i < shared->ndbs; i++)
	{
		shared->dbs[i].ring_lock = &locks[1 + i].lock;
		shared->dbs[i].ring = (ZjRingEvent *) p;
		p += ZJ_EVENT_RING_SIZE * sizeof(ZjRingEvent);
		zj_shmem_reset_db(&shared->dbs[i], true);
	}
}

static void
zj_shmem_startup(void)
{
	bool		found;

	if (zj_prev_shmem_startup_hook)
		zj_prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	zj_shared = ShmemInitStruct("zapjobs", zj_shmem_size(), &found);
	if (!found)
		zj_shmem_init_fresh(zj_shared);
	LWLockRelease(AddinShmemInitLock);
}

void
zj_shmem_install_hooks(void)
{
#ifdef ZJ_HAS_SHMEM_REQUEST_HOOK
	zj_prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = zj_shmem_request;
#else
	zj_shmem_request();
#endif
	zj_prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = zj_shmem_startup;
}

/* True in a backend of a server that preloaded zapjobs. */
bool
zj_shmem_ready(void)
{
	return zj_preloaded && zj_shared != NULL;
}

/*
 * True when this backend's database is one zapjobs serves: every database
 * unless zapjobs.database names one.  Its launcher may not be up yet.
 */
bool
zj_shmem_serves_my_database(void)
{
	static Oid	checked_db = InvalidOid;
	static bool is_served = false;

	if (!zj_shmem_ready())
		return false;
	if (zj_database == NULL || zj_database[0] == '\0')
		return true;
	if (checked_db != MyDatabaseId)
	{
		char	   *name = get_database_name(MyDatabaseId);

		is_served = name != NULL && strcmp(name, zj_database) == 0;
		checked_db = MyDatabaseId;
	}
	return is_served;
}

/*
 * Take (or find) the entry of database; NULL when every entry is taken.
 * The caller holds zj_shared->lock exclusively.
 */
static ZjDatabase *
zj_shmem_take_db_locked(Oid database)
{
	ZjDatabase *free_db = NULL;
	int			i;

	for (i = 0; i < zj_shared->ndbs; i++)
	{
		ZjDatabase *db = &zj_shared->dbs[i];

		if (db->database == database)
			return db;
		if (!OidIsValid(db->database) && free_db == NULL)
			free_db = db;
	}
	if (free_db != NULL)
	{
		zj_shmem_reset_db(free_db, false);
		free_db->database = database;
	}
	else
		pg_atomic_write_u32(&zj_shared->entries_short, 1);
	return free_db;
}

ZjDatabase *
zj_shmem_take_db(Oid database)
{
	ZjDatabase *db;

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	db = zj_shmem_take_db_locked(database);
	LWLockRelease(zj_shared->lock);
	return db;
}

/*
 * This backend's database entry (in zj_db too), or NULL if it has none
 * and take is false, or zapjobs does not serve it.  The entry found last
 * is checked again on every call: the supervisor may have given it to
 * another database since (our extension was dropped).  With take, a
 * missing entry is taken and the supervisor asked to start a launcher.
 */
ZjDatabase *
zj_shmem_my_db(bool take)
{
	ZjDatabase *found = NULL;
	int			i;

	if (zj_db != NULL && zj_db->database == MyDatabaseId)
		return zj_db;
	if (!zj_shmem_ready() || !OidIsValid(MyDatabaseId))
		return NULL;
	/* Only served databases have entries (the supervisor sees to it). */
	for (i = 0; i < zj_shared->ndbs && found == NULL; i++)
		if (zj_shared->dbs[i].database == MyDatabaseId)
			found = &zj_shared->dbs[i];
	/* Taking one may read the catalogs (zapjobs.database's name). */
	if (found == NULL && take && IsTransactionState() &&
		zj_shmem_serves_my_database())
	{
		zj_shmem_request_rescan();
		found = zj_shmem_take_db(MyDatabaseId);
	}
	/* A stale zj_db stays: a worker's code may still read it, never NULL. */
	if (found != NULL)
		zj_db = found;
	return found;
}

/* Ask the supervisor to look at the databases again. */
void
zj_shmem_request_rescan(void)
{
	PGPROC	   *supervisor;

	if (!zj_shmem_ready())
		return;
	pg_atomic_write_u32(&zj_shared->rescan_requested, 1);
	supervisor = zj_shared->supervisor;
	if (supervisor != NULL)
		SetLatch(&supervisor->procLatch);
}

/* Does a statement need database to itself now?  No launcher may start. */
bool
zj_shmem_database_held(Oid database)
{
	int			i;

	if (zj_shared->held_database == database)
		return true;
	for (i = 0; i < zj_shared->ndbs; i++)
		if (zj_shared->dbs[i].database == database && zj_shared->dbs[i].dropping)
			return true;
	return false;
}

/*
 * At the commit of CREATE or ALTER EXTENSION zapjobs (utility.c) in a
 * database zapjobs serves: it needs a launcher, or its launcher a new look.
 */
void
zj_shmem_extension_changed(void)
{
	ZjDatabase *db;
	PGPROC	   *launcher;

	zj_shmem_request_rescan();
	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	db = zj_shmem_take_db_locked(MyDatabaseId);
	if (db != NULL)
	{
		db->requests++;
		db->absent = false;
	}
	LWLockRelease(zj_shared->lock);
	launcher = db != NULL ? db->launcher : NULL;
	if (launcher != NULL)
	{
		pg_atomic_write_u32(&db->maintenance_requested, 1);
		SetLatch(&launcher->procLatch);
	}
}

/*
 * Our workers connected to database leave now: idle ones quietly, busy
 * ones (not this process) terminated, as their runs are gone with the
 * extension, or the database is going.  Called with zj_shared->lock held.
 */
static void
zj_shmem_kill_workers(Oid database, bool all)
{
	int			i;

	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *s = &zj_shared->slots[i];

		if (s->database != database || s->state == ZJ_SLOT_FREE)
			continue;
		s->retire = true;
		s->retired_for = InvalidOid;
		/* An idle worker may be claiming: with all, it must not go on. */
		if ((all || s->state == ZJ_SLOT_BUSY) && s->pid != 0 && s->pid != MyProcPid)
			(void) kill(s->pid, SIGTERM);
		else if (s->proc != NULL)
			SetLatch(&s->proc->procLatch);
	}
}

/* At the commit of DROP EXTENSION zapjobs: our workers here leave now. */
void
zj_shmem_extension_dropped(void)
{
	if (!zj_shmem_ready())
		return;
	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	zj_shmem_kill_workers(MyDatabaseId, false);
	LWLockRelease(zj_shared->lock);
	zj_shmem_extension_changed();
}

/*
 * A statement needs database to itself (DROP, RENAME, SET TABLESPACE, a
 * copy of it: utility.c): with stop, our processes connected to it leave
 * now and none starts there until called without stop.  A job running
 * there is interrupted.
 */
void
zj_shmem_stop_database(Oid database, bool stop)
{
	int			i;

	LWLockAcquire(zj_shared->lock, LW_EXCLUSIVE);
	if (stop)
		zj_shared->held_database = database;
	else if (zj_shared->held_database == database)
		zj_shared->held_database = InvalidOid;
	for (i = 0; i < zj_shared->ndbs; i++)
	{
		ZjDatabase *db = &zj_shared->dbs[i];
		PGPROC	   *launcher = db->launcher;

		if (db->database != database)
			continue;
		db->dropping = stop;
		if (stop && launcher != NULL)
			(void) kill(launcher->pid, SIGTERM);
	}
	if (stop)
		zj_shmem_kill_workers(database, true);
	LWLockRelease(zj_shared->lock);
	zj_shmem_request_rescan();
}

/* Has database a launcher now? */
bool
zj_shmem_database_served(Oid database)
{
	int			i;

	for (i = 0; i < zj_shared->ndbs; i++)
		if (zj_shared->dbs[i].database == database &&
			zj_shared->dbs[i].launcher != NULL)
			return true;
	return false;
}
