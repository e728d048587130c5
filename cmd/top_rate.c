/*-------------------------------------------------------------------------
 * top_rate.c
 *	  zapjobs top's throughput, from the counters every worker keeps in
 *	  shared memory (jobs.workers.runs_completed, runs_failed).
 *
 *	  Counting the runs that finished in the last minute in jobs.runs
 *	  reads every one of them: two million rows at 35,000 runs a second,
 *	  half a second of a server core ten times a second.  The workers'
 *	  counters cost nothing to read; what they grew by between two samples
 *	  is put in the second it was seen, and a minute of seconds is summed.
 *	  A worker that appears between samples counts whole (it started
 *	  since), one that is gone counts no more.
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "top_rate.h"

/* The slot of second t, emptied if it held an older second. */
static int
top_rate_slot(TopRate *r, time_t t)
{
	int			i = (int) (t % TOP_RATE_SECONDS);

	if (r->slot_at[i] != t)
	{
		r->slot_at[i] = t;
		r->slot_completed[i] = 0;
		r->slot_failed[i] = 0;
	}
	return i;
}

/* What worker pid counted at the last sample; false if it was not there. */
static bool
top_rate_before(const TopRate *r, int pid, long long *completed, long long *failed)
{
	int			i;

	for (i = 0; i < r->nworkers; i++)
		if (r->pid[i] == pid)
		{
			*completed = r->completed[i];
			*failed = r->failed[i];
			return true;
		}
	return false;
}

void
top_rate_sample(TopRate *r, int n, const int *pid,
				const long long *completed, const long long *failed)
{
	time_t		now = time(NULL);
	int			slot = top_rate_slot(r, now);
	int			i;

	if (n > TOP_RATE_WORKERS)
		n = TOP_RATE_WORKERS;
	for (i = 0; r->primed && i < n; i++)
	{
		long long	c0 = 0;
		long long	f0 = 0;

		/* a counter that went down is a new worker with an old pid */
		if (top_rate_before(r, pid[i], &c0, &f0) && (completed[i] < c0 || failed[i] < f0))
			c0 = f0 = 0;
		r->slot_completed[slot] += completed[i] - c0;
		r->slot_failed[slot] += failed[i] - f0;
	}
	if (!r->primed)
		r->since = now;
	r->primed = true;
	r->nworkers = n;
	memcpy(r->pid, pid, n * sizeof(int));
	memcpy(r->completed, completed, n * sizeof(long long));
	memcpy(r->failed, failed, n * sizeof(long long));
}

void
top_rate_minute(const TopRate *r, long long *completed, long long *failed, int *seconds)
{
	time_t		now = time(NULL);
	int			i;

	*completed = *failed = 0;
	for (i = 0; i < TOP_RATE_SECONDS; i++)
		if (r->slot_at[i] > now - TOP_RATE_SECONDS)
		{
			*completed += r->slot_completed[i];
			*failed += r->slot_failed[i];
		}
	*seconds = now - r->since < TOP_RATE_SECONDS ? (int) (now - r->since) : TOP_RATE_SECONDS;
}
