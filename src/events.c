/*-------------------------------------------------------------------------
 *
 * events.c
 *	  Run events from the backend that commits them to the launcher: their
 *	  capture in the committing transaction, the shared ring, and on the
 *	  launcher's side the backlog that publisher.c sends with NOTIFY.
 *
 *	  A state change is only real once its transaction commits, so events
 *	  are kept in backend memory (dropped with a rolled-back subtransaction)
 *	  until the transaction ends.  NOTIFY itself is never sent from a job's
 *	  transaction: it would take the cluster-wide notify lock at every job
 *	  commit.
 *
 *	  Order: just before commit (XACT_EVENT_PRE_COMMIT, still invisible to
 *	  others) the transaction reserves consecutive slots in the shared ring;
 *	  after commit it fills them, after abort it voids them.  Whoever acts
 *	  on a run another transaction changed must have seen that commit, so
 *	  its slots come later in the ring, and the launcher reads the ring in
 *	  order, stopping at the first slot still reserved: each run's events
 *	  reach listeners in order.  Waiting for ring space happens only before
 *	  commit, where it can be interrupted and holds no commit-time locks;
 *	  the commit callback itself never waits and never allocates.
 *
 *	  A transaction that changed more runs than ZJ_EVENT_BULK_MAX (a bulk
 *	  enqueue, say) publishes one summary event per status instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "events.h"
#include "query.h"
#include "shmem.h"
#include "wakeup.h"

#define ZJ_EVENT_BULK_MAX	1024	/* more changes in one transaction are
									 * published as summaries */
#define ZJ_BACKLOG_MAX		(1024 * 1024)	/* events kept while NOTIFY fails */

typedef struct ZjPendingEvent
{
	SubTransactionId subid;		/* subtransaction that made the change */
	ZjRunEvent	event;
} ZjPendingEvent;

/* Events of the current transaction; the array lives in TopMemoryContext. */
static ZjPendingEvent *zj_pending = NULL;
static int	zj_npending = 0;
static int	zj_maxpending = 0;

/* Ring slots reserved at pre-commit: [zj_reserved_at, +zj_nreserved). */
static uint64 zj_reserved_at = 0;
static ZjDatabase *zj_reserved_db = NULL;	/* whose ring */
static uint32 zj_reserved_gen = 0;	/* its generation then */
static int	zj_nreserved = 0;
static bool zj_callbacks_registered = false;

static void zj_events_xact_callback(XactEvent event, void *arg);
static void zj_events_subxact_callback(SubXactEvent event,
									   SubTransactionId mySubid,
									   SubTransactionId parentSubid,
									   void *arg);

static void
zj_events_register(void)
{
	if (zj_callbacks_registered)
		return;
	RegisterXactCallback(zj_events_xact_callback, NULL);
	RegisterSubXactCallback(zj_events_subxact_callback, NULL);
	zj_callbacks_registered = true;
}

static void
zj_events_copy_text(char *dst, size_t dstlen, const char *src)
{
	int			len;

	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	len = strlen(src);
	if (len >= (int) dstlen)
		len = pg_mbcliplen(src, len, dstlen - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Fill an event from a run's fields; text is clipped to fit. */
void
zj_events_fill(ZjRunEvent *ev, int64 id, ZjRunStatus status,
			   int32 attempt, int32 max_attempts,
			   const char *name, const char *queue,
			   TimestampTz run_at, TimestampTz started_at,
			   TimestampTz finished_at, const char *sqlstate,
			   const char *workflow)
{
	memset(ev, 0, sizeof(*ev));
	ev->run_id = id;
	ev->last_id = id;
	ev->count = 1;
	ev->status = status;
	ev->attempt = attempt;
	ev->max_attempts = max_attempts;
	ev->at = GetCurrentTimestamp();
	ev->run_at = run_at;
	ev->started_at = started_at;
	ev->finished_at = finished_at;
	zj_events_copy_text(ev->name, sizeof(ev->name), name);
	zj_events_copy_text(ev->queue, sizeof(ev->queue), queue);
	zj_events_copy_text(ev->sqlstate, sizeof(ev->sqlstate), sqlstate);
	zj_events_copy_text(ev->workflow, sizeof(ev->workflow), workflow);
}

/* A progress event from a run's values. */
void
zj_events_fill_progress(ZjRunEvent *ev, const ZjProgressValues *v, const char *name)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = ZJ_EV_PROGRESS;
	ev->run_id = v->run_id;
	ev->last_id = v->run_id;
	ev->count = 1;
	ev->at = v->at;
	ev->current = v->current;
	ev->total = v->total;
	ev->processed = v->processed;
	ev->succeeded = v->succeeded;
	ev->failed = v->failed;
	strlcpy(ev->message, v->message, sizeof(ev->message));
	strlcpy(ev->name, name != NULL ? name : v->name, sizeof(ev->name));
}

/* Publish that a worker started or exited. */
void
zj_events_worker(pid_t pid, Oid role, bool started)
{
	ZjRunEvent	ev;
	char	   *name;

	memset(&ev, 0, sizeof(ev));
	ev.kind = ZJ_EV_WORKER;
	ev.pid = pid;
	ev.role = role;
	ev.started = started;
	ev.at = GetCurrentTimestamp();
	zj_query_xact_begin();
	name = GetUserNameFromId(role, true);
	if (name != NULL)
		strlcpy(ev.name, name, sizeof(ev.name));
	CommitTransactionCommand();
	zj_events_add_local(&ev);
}

/* Remember a state change made by the current (sub)transaction. */
void
zj_events_add(const ZjRunEvent *event)
{
	if (zj_shmem_my_db(true) == NULL)
		return;
	zj_events_register();

	if (zj_npending >= zj_maxpending)
	{
		int			newmax = Max(64, zj_maxpending * 2);

		if (zj_pending == NULL)
			zj_pending = MemoryContextAlloc(TopMemoryContext,
											newmax * sizeof(ZjPendingEvent));
		else
			zj_pending = repalloc_huge(zj_pending,
									   newmax * sizeof(ZjPendingEvent));
		zj_maxpending = newmax;
	}
	zj_pending[zj_npending].subid = GetCurrentSubTransactionId();
	zj_pending[zj_npending].event = *event;
	zj_npending++;
}

static void
zj_events_forget(void)
{
	zj_npending = 0;
	zj_nreserved = 0;
	/* Give back the memory of a huge transaction. */
	if (zj_maxpending > 4096)
	{
		pfree(zj_pending);
		zj_pending = NULL;
		zj_maxpending = 0;
	}
}

/* Fold event ev into summary s (same status), widening names to "". */
static void
zj_events_fold(ZjRunEvent *s, const ZjRunEvent *ev)
{
	s->count++;
	s->run_id = Min(s->run_id, ev->run_id);
	s->last_id = Max(s->last_id, ev->last_id);
	if (strcmp(s->name, ev->name) != 0)
		s->name[0] = '\0';
	if (strcmp(s->queue, ev->queue) != 0)
		s->queue[0] = '\0';
	if (strcmp(s->workflow, ev->workflow) != 0)
		s->workflow[0] = '\0';
}

/* Too many events for one transaction: keep one summary per status. */
static void
zj_events_summarize(void)
{
	ZjRunEvent	sums[ZJ_RUN_NSTATUS];
	bool		used[ZJ_RUN_NSTATUS] = {false};
	int			i;
	int			n = 0;

	for (i = 0; i < zj_npending; i++)
	{
		ZjRunEvent *ev = &zj_pending[i].event;

		if (ev->kind != ZJ_EV_RUN)
			continue;			/* progress of bulk changes is not news */
		if (!used[ev->status])
		{
			sums[ev->status] = *ev;
			used[ev->status] = true;
		}
		else
			zj_events_fold(&sums[ev->status], ev);
	}
	for (i = 0; i < ZJ_RUN_NSTATUS; i++)
		if (used[i])
			zj_pending[n++].event = sums[i];
	zj_npending = n;
}

/*
 * Reserve n slots in db's ring.  *mine is false when the entry is no
 * longer our database's (the supervisor freed it): nothing is reserved.
 */
static bool
zj_events_try_reserve(ZjDatabase *db, int n, bool *mine)
{
	bool		ok;
	uint64		i;

	LWLockAcquire(db->ring_lock, LW_EXCLUSIVE);
	*mine = db->database == MyDatabaseId;
	ok = *mine && db->ring_head - db->ring_tail + n <= ZJ_EVENT_RING_SIZE;
	if (ok)
	{
		zj_reserved_at = db->ring_head;
		zj_reserved_db = db;
		zj_reserved_gen = db->generation;
		for (i = 0; i < (uint64) n; i++)
			db->ring[(zj_reserved_at + i) % ZJ_EVENT_RING_SIZE].state =
				ZJ_EVENT_RESERVED;
		db->ring_head += n;
		zj_nreserved = n;
	}
	LWLockRelease(db->ring_lock);
	return ok;
}

/*
 * Reserve ring slots for this transaction's events, waiting for the
 * launcher to make room if need be.  Runs before commit: may wait, may be
 * interrupted.  With no launcher to drain the ring, events are dropped.
 */
static void
zj_events_reserve(void)
{
	bool		reset_latch = false;
	ZjDatabase *db = zj_shmem_my_db(false);
	bool		mine = db != NULL;

	if (zj_npending > ZJ_EVENT_BULK_MAX)
		zj_events_summarize();

	while (mine && !zj_events_try_reserve(db, zj_npending, &mine))
	{
		if (!mine || db->launcher == NULL)
		{
			if (mine)
				pg_atomic_fetch_add_u64(&db->events_dropped, zj_npending);
			zj_npending = 0;
			break;
		}
		if (MyProc == db->launcher)
		{
			/* The launcher makes room itself instead of waiting for itself. */
			zj_events_drain_all();
			continue;
		}
		zj_wakeup_launcher();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		reset_latch = true;
		CHECK_FOR_INTERRUPTS();
	}
	/* We may have eaten a wake-up meant for our main loop: give it back. */
	if (reset_latch)
		SetLatch(MyLatch);
}

/* After commit: fill the reserved slots.  Must not fail or wait. */
static void
zj_events_publish_reserved(bool committed)
{
	int			i;
	PGPROC	   *launcher;

	/* The entry went to another database meanwhile: its ring is not ours. */
	if (zj_nreserved > 0 && zj_reserved_db->generation != zj_reserved_gen)
		zj_nreserved = 0;
	for (i = 0; i < zj_nreserved; i++)
	{
		ZjRingEvent *slot = &zj_reserved_db->ring[(zj_reserved_at + i) % ZJ_EVENT_RING_SIZE];

		if (committed)
			slot->event = zj_pending[i].event;
		pg_write_barrier();
		slot->state = committed ? ZJ_EVENT_READY : ZJ_EVENT_VOID;
	}
	launcher = zj_nreserved > 0 ? zj_reserved_db->launcher : NULL;
	if (launcher != NULL)
		SetLatch(&launcher->procLatch);
}

static void
zj_events_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (zj_npending > 0)
				zj_events_reserve();
			break;
		case XACT_EVENT_COMMIT:
			zj_events_publish_reserved(true);
			zj_events_forget();
			break;
		case XACT_EVENT_ABORT:
			zj_events_publish_reserved(false);
			zj_events_forget();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (zj_npending > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that enqueued or changed zapjobs runs"),
						 errhint("Enqueue runs in a transaction that commits directly.")));
			break;
		default:
			break;
	}
}

/* Keep events of committed subtransactions, drop those rolled back. */
static void
zj_events_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	int			i;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = zj_npending - 1; i >= 0 && zj_pending[i].subid == mySubid; i--)
			zj_pending[i].subid = parentSubid;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (zj_npending > 0 && zj_pending[zj_npending - 1].subid == mySubid)
			zj_npending--;
	}
}

/*
 * Ring positions: reserved so far (head), and whether the launcher has
 * taken every slot before a position (nothing reserved before it waits).
 */
uint64
zj_events_ring_head(void)
{
	uint64		head;

	LWLockAcquire(zj_db->ring_lock, LW_SHARED);
	head = zj_db->ring_head;
	LWLockRelease(zj_db->ring_lock);
	return head;
}

/* Is more than half the ring taken?  Committers may soon wait for room. */
bool
zj_events_ring_filling(void)
{
	bool		filling;

	LWLockAcquire(zj_db->ring_lock, LW_SHARED);
	filling = zj_db->ring_head - zj_db->ring_tail > ZJ_EVENT_RING_SIZE / 2;
	LWLockRelease(zj_db->ring_lock);
	return filling;
}

bool
zj_events_ring_passed(uint64 position)
{
	bool		passed;

	LWLockAcquire(zj_db->ring_lock, LW_SHARED);
	passed = zj_db->ring_tail >= position;
	LWLockRelease(zj_db->ring_lock);
	return passed;
}

/*
 * Move up to max events from the ring into buf, in ring order, stopping
 * at the first slot whose transaction has not finished.
 */
static int
zj_events_drain(ZjRunEvent *buf, int max)
{
	int			n = 0;

	LWLockAcquire(zj_db->ring_lock, LW_EXCLUSIVE);
	while (n < max && zj_db->ring_tail < zj_db->ring_head)
	{
		ZjRingEvent *slot = &zj_db->ring[zj_db->ring_tail % ZJ_EVENT_RING_SIZE];
		uint32		state = slot->state;

		if (state == ZJ_EVENT_RESERVED)
			break;
		pg_read_barrier();
		if (state == ZJ_EVENT_READY)
			buf[n++] = slot->event;
		slot->state = ZJ_EVENT_FREE;
		zj_db->ring_tail++;
	}
	LWLockRelease(zj_db->ring_lock);
	return n;
}

/* ---------------------------------------------------------------------
 * Launcher side: the ring, in order, into a backlog of events to publish
 * ---------------------------------------------------------------------
 */

/* Events drained but not yet sent, in ring order; in TopMemoryContext. */
static ZjRunEvent *zj_backlog = NULL;
static int	zj_nbacklog = 0;
static int	zj_maxbacklog = 0;

static void
zj_events_grow(void)
{
	int			newmax = Max(2 * ZJ_EVENT_RING_SIZE, 2 * zj_maxbacklog);

	if (zj_backlog == NULL)
		zj_backlog = MemoryContextAlloc(TopMemoryContext,
										newmax * sizeof(ZjRunEvent));
	else
		zj_backlog = repalloc_huge(zj_backlog, newmax * sizeof(ZjRunEvent));
	zj_maxbacklog = newmax;
}

/* Drop the oldest events when NOTIFY has failed for too long. */
static void
zj_events_trim(void)
{
	int			excess = zj_nbacklog - ZJ_BACKLOG_MAX;

	if (excess <= 0)
		return;
	memmove(zj_backlog, zj_backlog + excess,
			(zj_nbacklog - excess) * sizeof(ZjRunEvent));
	zj_nbacklog -= excess;
	pg_atomic_fetch_add_u64(&zj_db->events_dropped, excess);
	ereport(LOG,
			(errmsg("zapjobs dropped %d unpublished run events", excess)));
}

/* Move everything the ring can give into the backlog. */
void
zj_events_drain_all(void)
{
	for (;;)
	{
		int			n;

		if (zj_nbacklog + ZJ_EVENT_RING_SIZE > zj_maxbacklog)
			zj_events_grow();
		n = zj_events_drain(zj_backlog + zj_nbacklog, ZJ_EVENT_RING_SIZE);
		zj_nbacklog += n;
		if (n == 0)
			break;
	}
}

/* An event the launcher made itself, published after the ring's. */
void
zj_events_add_local(const ZjRunEvent *ev)
{
	if (zj_nbacklog + 1 > zj_maxbacklog)
		zj_events_grow();
	zj_backlog[zj_nbacklog++] = *ev;
}

/* The events waiting to be published, oldest first; *n of them. */
ZjRunEvent *
zj_events_backlog(int *n)
{
	*n = zj_nbacklog;
	return zj_backlog;
}

/*
 * The first n events of the backlog were published: forget them, and the
 * oldest others if NOTIFY has failed for too long.
 */
void
zj_events_consumed(int n)
{
	if (n > 0)
	{
		memmove(zj_backlog, zj_backlog + n,
				(zj_nbacklog - n) * sizeof(ZjRunEvent));
		zj_nbacklog -= n;
	}
	zj_events_trim();
}
