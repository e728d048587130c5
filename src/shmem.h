/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  The shared memory of zapjobs: the cluster's worker slots (each with
 *	  its run's live progress and a ring of log lines), per-backend
 *	  markers and, per served database, the event ring and the flags its
 *	  launcher and committing backends share.
 *	  Every shared struct field carries a comment.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZAPJOBS_SHMEM_H
#define ZAPJOBS_SHMEM_H

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/proc.h"

#include "run.h"

#define ZJ_EVENT_RING_SIZE	4096	/* events per database buffered between
									 * commit and publishing */
#define ZJ_LOG_RING_SIZE	32		/* log lines a worker buffers */
#define ZJ_LOG_TEXT_MAX		2048	/* log message and context, incl. NULs */

typedef struct ZjProgress
{
	pg_atomic_uint32 changecount;	/* odd while the worker writes v */
	ZjProgressValues v;
} ZjProgress;

/* A log line on its way from a worker to jobs.logs (see joblog.c). */
typedef struct ZjLogLine
{
	int64		run_id;			/* the run that logged it */
	int32		attempt;		/* its attempt then */
	char		name[ZJ_NAME_MAX];	/* the run's job name, "" if none */
	TimestampTz at;				/* when it was logged */
	char		level[8];		/* debug, info, notice, warning, error */
	bool		has_context;	/* text holds a context after the message */
	char		text[ZJ_LOG_TEXT_MAX];	/* message, NUL, context JSON, NUL */
} ZjLogLine;

typedef enum ZjSlotState
{
	ZJ_SLOT_FREE = 0,			/* nobody uses it */
	ZJ_SLOT_STARTING,			/* registered by the launcher, not attached */
	ZJ_SLOT_IDLE,				/* worker attached, waiting for work */
	ZJ_SLOT_BUSY				/* worker executing run_id */
} ZjSlotState;

typedef struct ZjWorkerSlot
{
	ZjSlotState state;			/* see ZjSlotState */
	Oid			database;		/* database the worker is connected to */
	bool		wanted;			/* its role has pending runs (its launcher
								 * says): other databases' launchers take
								 * the slot last */
	uint32		generation;		/* bumped each time the slot is reused */
	Oid			role;			/* role the worker is connected as */
	pid_t		pid;			/* worker pid once attached, else 0 */
	PGPROC	   *proc;			/* worker's PGPROC, for its latch */
	bool		retire;			/* launcher asks the worker to exit */
	Oid			retired_for;	/* database whose launcher asked, so that
								 * a role there waits for this slot */
	int64		run_id;			/* run being executed, 0 if none */
	int64		claimed_id;		/* run claimed (committed as running) whose
								 * outcome is not committed yet, 0 if none:
								 * the reaper leaves it alone */
	TimestampTz state_since;	/* when state last changed */
	uint64		runs_done;		/* runs this worker finished */
	TimestampTz started_at;		/* when the launcher started this worker */
	TimestampTz deadline;		/* when run_id's timeout expires, or 0 */
	int64		cancel_id;		/* run jobs.cancel() asked to stop, or 0 */
	TimestampTz cancel_at;		/* when it asked */
	bool		cursor_valid;	/* a position was published (claim.c): */
	int32		cursor_priority;	/* the (priority, run_at, id) of the
									 * last run it claimed or locked */
	TimestampTz cursor_run_at;
	pg_atomic_uint64 cursor_id; /* moves without the lock (runctx.c) */
	pg_atomic_uint32 rewind;	/* commits that made runs pending before it:
								 * claim from the head again; until that look
								 * is over it does not count for others */
	pg_atomic_uint64 heartbeat; /* TimestampTz of the last sign of life */
	pg_atomic_uint64 runs_completed;	/* runs this worker completed */
	pg_atomic_uint64 runs_failed;	/* attempts that did not complete */
	ZjProgress	progress;		/* live progress of run_id */
	pg_atomic_uint32 log_head;	/* log lines written (by the worker) */
	pg_atomic_uint32 log_tail;	/* log lines taken (by the launcher) */
	ZjLogLine	log[ZJ_LOG_RING_SIZE];	/* the worker's unstored lines */
} ZjWorkerSlot;

/* States of an event ring slot. */
#define ZJ_EVENT_FREE		0	/* read by the launcher (or never used) */
#define ZJ_EVENT_RESERVED	1	/* its transaction is committing */
#define ZJ_EVENT_READY		2	/* committed: event is valid */
#define ZJ_EVENT_VOID		3	/* its transaction aborted: skip */

typedef struct ZjRingEvent
{
	volatile uint32 state;		/* ZJ_EVENT_*; the owner writes it lock-free */
	ZjRunEvent	event;			/* valid once state is ZJ_EVENT_READY */
} ZjRingEvent;

/* next_due when the launcher is computing it, or nothing is scheduled. */
#define ZJ_NEXT_DUE_UNKNOWN PG_INT64_MIN
#define ZJ_NEXT_DUE_NONE PG_INT64_MAX

/* The pool as a database's launcher last saw it, for jobs.pool. */
typedef struct ZjPoolStats
{
	pg_atomic_uint32 roles_waiting; /* roles with pending runs and no worker */
	pg_atomic_uint64 waiting_since; /* TimestampTz: since when the first of
									 * them has waited, or 0 */
	pg_atomic_uint64 start_refusals;	/* worker starts the server refused
										 * (no background worker slot) */
	pg_atomic_uint64 last_refusal_at;	/* TimestampTz of the last, or 0 */
	pg_atomic_uint64 retired_for_others;	/* workers retired to give their
											 * slot to another role */
} ZjPoolStats;

/*
 * One served database: what its launcher, its workers and its backends
 * share.  Run ids, events and limits are per database; only the worker
 * slots are the cluster's.  An entry is taken for a database by the
 * supervisor (to start its launcher) or by a backend whose transaction
 * has events or created the extension, and given back by the supervisor
 * only (see supervisor.c), under zj_shared->lock.
 */
typedef struct ZjDatabase
{
	Oid			database;		/* the database, InvalidOid if the entry is
								 * free */
	bool		absent;			/* its launcher found no extension there and
								 * left: the supervisor frees the entry */
	bool		dropping;		/* DROP DATABASE is under way: no launcher */
	bool		rebooted;		/* its @reboot schedules were made due since
								 * the server started (schedule.c) */
	uint32		requests;		/* CREATE or ALTER EXTENSIONs committed
								 * here: a launcher that found no extension
								 * before the last one must look again */
	Oid			extension;		/* zapjobs extension oid there, or 0 */
	PGPROC	   *launcher;		/* launcher's PGPROC, NULL if not running */
	LWLock	   *ring_lock;		/* protects ring_head, ring_tail, and
								 * generation when the entry is reset */
	uint32		generation;		/* bumped each time the entry is taken */
	uint64		ring_head;		/* ring slots ever reserved */
	uint64		ring_tail;		/* ring slots ever drained */
	pg_atomic_uint64 events_dropped;	/* events lost to a stalled publisher */
	pg_atomic_uint32 maintenance_requested; /* the pool needs the launcher */
	pg_atomic_uint32 wants_slot;	/* a role here waits for a worker slot:
									 * a worker leaving wakes the launcher */
	pg_atomic_uint32 restores;	/* sessions restoring here (restore.c) */
	pg_atomic_uint32 limits_active; /* paused queues or concurrency limits
									 * may exist: claims must check them */
	pg_atomic_uint32 limits_changes;	/* bumped by every commit changing
										 * them */
	pg_atomic_uint64 batch_min_id;	/* runs below this id are never run in
									 * a batch: a crash interrupted them */
	pg_atomic_uint64 next_due;	/* (int64) when the launcher promotes next:
								 * ZJ_NEXT_DUE_UNKNOWN or _NONE */
	ZjPoolStats pool;			/* written by the launcher only */
	ZjRingEvent *ring;			/* ZJ_EVENT_RING_SIZE slots */
} ZjDatabase;

typedef struct ZjShared
{
	LWLock	   *lock;			/* protects slots[] and the database
								 * entries' database, absent, dropping */

	uint64		epoch;			/* differs after every shared-memory reset */
	PGPROC	   *supervisor;		/* supervisor's PGPROC, NULL if not running */
	pg_atomic_uint32 rescan_requested;	/* databases or extensions changed */
	pg_atomic_uint32 entries_short; /* a database found no free entry */
	Oid			held_database;	/* a statement needs it to itself (DROP,
								 * RENAME...): none of ours may connect */

	int			max_backends;	/* length of waiting_for */
	pg_atomic_uint64 *waiting_for;	/* per backend: run id jobs.wait()
									 * waits for, 0 if none */
	pg_atomic_uint32 waiters;	/* backends inside jobs.wait() */

	int			ndbs;			/* zapjobs.max_databases at start */
	ZjDatabase *dbs;			/* the database entries */
	int			nslots;			/* zapjobs.max_workers at start */
	ZjWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];	/* the cluster's workers */
} ZjShared;

extern ZjShared *zj_shared;
extern ZjDatabase *zj_db;

extern void zj_shmem_install_hooks(void);
extern bool zj_shmem_ready(void);
extern bool zj_shmem_serves_my_database(void);
extern ZjDatabase *zj_shmem_my_db(bool take);
extern ZjDatabase *zj_shmem_take_db(Oid database);
extern void zj_shmem_request_rescan(void);
extern bool zj_shmem_database_held(Oid database);
extern bool zj_shmem_database_served(Oid database);
extern void zj_shmem_extension_changed(void);
extern void zj_shmem_extension_dropped(void);
extern void zj_shmem_stop_database(Oid database, bool stop);

#endif							/* ZAPJOBS_SHMEM_H */
