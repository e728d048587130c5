/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The shared state of zapjobs: worker slots, the event ring and the
 *	  per-backend arrays, sized at postmaster start.  A crash-restart
 *	  re-creates it with a new epoch, which is how runs left over from
 *	  before the crash are recognised.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "postmaster/autovacuum.h"
#include "replication/walsender.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "shmem.h"

ZjShared   *zj_shared = NULL;

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
	size = add_size(size, mul_size(ZJ_EVENT_RING_SIZE, sizeof(ZjRingEvent)));
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
	RequestNamedLWLockTranche("zapjobs", 2);
}

static void
zj_shmem_init_fresh(ZjShared *shared)
{
	char	   *p;
	int			i;

	memset(shared, 0, offsetof(ZjShared, slots));
	shared->lock = &(GetNamedLWLockTranche("zapjobs"))[0].lock;
	shared->ring_lock = &(GetNamedLWLockTranche("zapjobs"))[1].lock;

	/* Time plus pid: distinct across restarts of the same postmaster. */
	shared->epoch = ((uint64) GetCurrentTimestamp() << 8) ^ (uint64) MyProcPid;
	pg_atomic_init_u64(&shared->events_dropped, 0);
	pg_atomic_init_u32(&shared->waiters, 0);
	pg_atomic_init_u32(&shared->maintenance_requested, 0);
	/* Until the launcher has looked, limits may exist. */
	pg_atomic_init_u32(&shared->limits_active, 1);
	pg_atomic_init_u32(&shared->limits_changes, 0);
	pg_atomic_init_u64(&shared->batch_min_id, 0);
	pg_atomic_init_u64(&shared->next_due, (uint64) ZJ_NEXT_DUE_UNKNOWN);
	pg_atomic_init_u32(&shared->pool.roles_waiting, 0);
	pg_atomic_init_u64(&shared->pool.waiting_since, 0);
	pg_atomic_init_u64(&shared->pool.start_refusals, 0);
	pg_atomic_init_u64(&shared->pool.last_refusal_at, 0);
	pg_atomic_init_u64(&shared->pool.retired_for_others, 0);
	shared->max_backends = zj_max_backends();
	shared->nslots = zj_max_workers;
	memset(shared->slots, 0, mul_size(zj_max_workers, sizeof(ZjWorkerSlot)));
	for (i = 0; i < shared->nslots; i++)
	{
		pg_atomic_init_u32(&shared->slots[i].rewind, 0);
		pg_atomic_init_u64(&shared->slots[i].heartbeat, 0);
		pg_atomic_init_u64(&shared->slots[i].runs_completed, 0);
		pg_atomic_init_u64(&shared->slots[i].runs_failed, 0);
		pg_atomic_init_u32(&shared->slots[i].progress.changecount, 0);
		pg_atomic_init_u32(&shared->slots[i].log_head, 0);
		pg_atomic_init_u32(&shared->slots[i].log_tail, 0);
	}

	p = (char *) shared + MAXALIGN(offsetof(ZjShared, slots) +
								   zj_max_workers * sizeof(ZjWorkerSlot));
	shared->waiting_for = (pg_atomic_uint64 *) p;
	for (i = 0; i < shared->max_backends; i++)
		pg_atomic_init_u64(&shared->waiting_for[i], 0);
	p += MAXALIGN(shared->max_backends * sizeof(pg_atomic_uint64));
	shared->ring = (ZjRingEvent *) p;
	memset(p, 0, ZJ_EVENT_RING_SIZE * sizeof(ZjRingEvent));
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
 * True when this backend is in the database the launcher serves (or will
 * serve once it is up: it may still be starting, or restarting).
 */
bool
zj_shmem_serves_my_database(void)
{
	static Oid	checked_db = InvalidOid;
	static bool is_served = false;

	if (!zj_shmem_ready())
		return false;
	if (zj_shared->database == MyDatabaseId)
		return true;
	if (checked_db != MyDatabaseId)
	{
		char	   *name = get_database_name(MyDatabaseId);

		is_served = name != NULL && strcmp(name, zj_database) == 0;
		checked_db = MyDatabaseId;
	}
	return is_served;
}
