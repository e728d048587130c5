/*-------------------------------------------------------------------------
 *
 * watchdog.c
 *	  The launcher's backstop for jobs that will not stop.  A run's timeout
 *	  and jobs.cancel() interrupt its worker like a query cancel; a job can
 *	  catch that (EXCEPTION WHEN query_canceled) and go on.  When a worker
 *	  is still on the run zapjobs.kill_grace after its deadline or its
 *	  cancellation, the watchdog terminates the worker (SIGTERM: the
 *	  transaction rolls back, the worker exits cleanly) and the reaper ends
 *	  the attempt as timed out or cancelled.  C code that never checks for
 *	  interrupts cannot be stopped this way either; nothing short of a
 *	  server restart can.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include <signal.h>

#include "utils/timestamp.h"

#include "shmem.h"
#include "watchdog.h"

/* When the slot's worker is due for termination, or 0. */
static TimestampTz
zj_watchdog_due(const ZjWorkerSlot *slot)
{
	TimestampTz due = 0;

	if (slot->state != ZJ_SLOT_BUSY || slot->run_id == 0)
		return 0;
	if (slot->deadline != 0)
		due = TimestampTzPlusMilliseconds(slot->deadline, zj_kill_grace_ms);
	if (slot->cancel_id == slot->run_id && slot->cancel_at != 0)
	{
		TimestampTz cancel_due = TimestampTzPlusMilliseconds(slot->cancel_at,
															 zj_kill_grace_ms);

		if (due == 0 || cancel_due < due)
			due = cancel_due;
	}
	return due;
}

/*
 * Terminate workers past their due time; returns ms until the next one is
 * due, or -1 if none is.
 */
long
zj_watchdog_run(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = 0;
	int			i;

	LWLockAcquire(zj_shared->lock, LW_SHARED);
	for (i = 0; i < zj_shared->nslots; i++)
	{
		ZjWorkerSlot *slot = &zj_shared->slots[i];
		TimestampTz due = slot->database == MyDatabaseId ? zj_watchdog_due(slot) : 0;

		if (due == 0)
			continue;
		if (now >= due)
		{
			ereport(LOG,
					(errmsg("zapjobs is terminating worker %d: run " INT64_FORMAT
							" did not stop when %s",
							(int) slot->pid, slot->run_id,
							slot->cancel_id == slot->run_id ?
							"it was cancelled" : "it timed out")));
			(void) kill(slot->pid, SIGTERM);
			due = TimestampTzPlusMilliseconds(now, 1000);	/* again if need be */
		}
		if (next == 0 || due < next)
			next = due;
	}
	LWLockRelease(zj_shared->lock);
	if (next == 0)
		return -1;
	return Max(1, (long) ((next - now) / 1000) + 1);
}
