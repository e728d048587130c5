/*-------------------------------------------------------------------------
 *
 * events.c
 *	  Capture of run state changes in the backend that commits them, and
 *	  their hand-over to the launcher, which publishes them (publisher.c).
 *
 *	  A state change is only real once its transaction commits, so events
 *	  are kept in backend memory (dropped with a rolled-back subtransaction)
 *	  and pushed into a shared ring after commit.  NOTIFY itself is never
 *	  sent from a job's transaction: it would take the cluster-wide notify
 *	  lock at every job commit.
 *
 *	  Order: a transaction that has events takes a ticket just before it
 *	  commits (XACT_EVENT_PRE_COMMIT, still invisible to others) and keeps
 *	  it in inflight[] until its events are in the ring.  Any transaction
 *	  that acts on a run another transaction changed must have seen that
 *	  commit, so it gets a higher ticket.  The publisher sends events in
 *	  ticket order and holds back every ticket at or above the lowest one
 *	  still in flight, so each run's events reach listeners in order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "zapjobs.h"

/* How long a committing backend waits for ring space before dropping. */
#define ZJ_PUSH_WAIT_LIMIT_MS	30000

typedef struct ZjPendingEvent
{
	SubTransactionId subid;		/* subtransaction that made the change */
	ZjRunEvent	event;
} ZjPendingEvent;

/* Events of the current transaction; the array lives in TopMemoryContext. */
static ZjPendingEvent *zj_pending = NULL;
static int	zj_npending = 0;
static int	zj_maxpending = 0;
static uint64 zj_my_ticket = 0;
static bool zj_callbacks_registered = false;

static void zj_events_xact_callback(XactEvent event, void *arg);
static void zj_events_subxact_callback(SubXactEvent event,
									   SubTransactionId mySubid,
									   SubTransactionId parentSubid,
									   void *arg);

void
zj_events_init_backend(void)
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
zj_events_fill(ZjRunEvent *ev, int64 id, const char *status,
			   int32 attempt, int32 max_attempts,
			   const char *name, const char *queue,
			   TimestampTz run_at, TimestampTz started_at,
			   TimestampTz finished_at, const char *sqlstate,
			   const char *error)
{
	memset(ev, 0, sizeof(*ev));
	ev->run_id = id;
	ev->status = zj_status_from_name(status);
	ev->attempt = attempt;
	ev->max_attempts = max_attempts;
	ev->at = GetCurrentTimestamp();
	ev->run_at = run_at;
	ev->started_at = started_at;
	ev->finished_at = finished_at;
	zj_events_copy_text(ev->name, sizeof(ev->name), name);
	zj_events_copy_text(ev->queue, sizeof(ev->queue), queue);
	zj_events_copy_text(ev->sqlstate, sizeof(ev->sqlstate), sqlstate);
	zj_events_copy_text(ev->error, sizeof(ev->error), error);
}

/* Remember a state change made by the current (sub)transaction. */
void
zj_events_add(const ZjRunEvent *event)
{
	if (!zj_serves_my_database())
		return;
	zj_events_init_backend();

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
	/* Give back the memory of a huge transaction. */
	if (zj_maxpending > 4096)
	{
		pfree(zj_pending);
		zj_pending = NULL;
		zj_maxpending = 0;
	}
}

static void
zj_events_set_inflight(uint64 ticket_or_zero, bool take_new)
{
	int			me = zj_my_proc_number();

	if (me < 0 || me >= zj_shared->max_backends)
		return;
	SpinLockAcquire(&zj_shared->ticket_mutex);
	if (take_new)
		ticket_or_zero = zj_shared->next_ticket++;
	zj_shared->inflight[me] = ticket_or_zero;
	SpinLockRelease(&zj_shared->ticket_mutex);
	zj_my_ticket = ticket_or_zero;
}

/*
 * Copy this transaction's events into the ring.  Runs after commit, so it
 * must not fail: when the launcher does not drain the ring in time, the
 * remaining events are counted as dropped.
 */
static void
zj_events_push(void)
{
	int			done = 0;
	int			waited_ms = 0;

	while (done < zj_npending)
	{
		uint64		space;

		LWLockAcquire(zj_shared->ring_lock, LW_EXCLUSIVE);
		space = ZJ_EVENT_RING_SIZE - (zj_shared->ring_head - zj_shared->ring_tail);
		while (space > 0 && done < zj_npending)
		{
			uint64		pos = zj_shared->ring_head++;
			ZjRunEvent *slot = &zj_shared->ring[pos % ZJ_EVENT_RING_SIZE];

			*slot = zj_pending[done].event;
			slot->ticket = zj_my_ticket;
			slot->seq = pos;
			done++;
			space--;
		}
		LWLockRelease(zj_shared->ring_lock);

		if (done < zj_npending && MyProc == zj_shared->launcher)
		{
			/* The launcher makes room itself instead of waiting for itself. */
			zj_publisher_drain_all();
			continue;
		}
		zj_wake_launcher();
		if (done < zj_npending)
		{
			if (zj_shared->launcher == NULL || waited_ms >= ZJ_PUSH_WAIT_LIMIT_MS)
			{
				pg_atomic_fetch_add_u64(&zj_shared->events_dropped,
										zj_npending - done);
				break;
			}
			pg_usleep(1000L);
			waited_ms++;
		}
	}
}

static void
zj_events_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (zj_npending > 0)
				zj_events_set_inflight(0, true);
			break;
		case XACT_EVENT_COMMIT:
			if (zj_npending > 0 && zj_my_ticket != 0)
				zj_events_push();
			if (zj_my_ticket != 0)
				zj_events_set_inflight(0, false);
			zj_events_forget();
			break;
		case XACT_EVENT_ABORT:
			if (zj_my_ticket != 0)
				zj_events_set_inflight(0, false);
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
 * Lowest ticket whose events may not all be in the ring yet.  Must be read
 * before draining: every ticket below it had pushed all its events by then.
 */
uint64
zj_events_publishable_below(void)
{
	uint64		lowest;
	int			i;

	SpinLockAcquire(&zj_shared->ticket_mutex);
	lowest = zj_shared->next_ticket;
	for (i = 0; i < zj_shared->max_backends; i++)
	{
		uint64		t = zj_shared->inflight[i];

		if (t != 0 && t < lowest)
			lowest = t;
	}
	SpinLockRelease(&zj_shared->ticket_mutex);
	return lowest;
}

/* Move up to max events from the ring into buf. */
int
zj_events_drain(ZjRunEvent *buf, int max)
{
	int			n = 0;

	LWLockAcquire(zj_shared->ring_lock, LW_EXCLUSIVE);
	while (n < max && zj_shared->ring_tail < zj_shared->ring_head)
	{
		buf[n++] = zj_shared->ring[zj_shared->ring_tail % ZJ_EVENT_RING_SIZE];
		zj_shared->ring_tail++;
	}
	LWLockRelease(zj_shared->ring_lock);
	return n;
}
