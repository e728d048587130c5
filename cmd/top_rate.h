/*-------------------------------------------------------------------------
 * top_rate.h
 *	  zapjobs top's throughput: runs finished in the last minute, from the
 *	  workers' own counters.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_TOP_RATE_H
#define ZJC_TOP_RATE_H

#include <stdbool.h>
#include <time.h>

#define TOP_RATE_WORKERS	512		/* workers followed at once */
#define TOP_RATE_SECONDS	60

typedef struct TopRate
{
	bool		primed;			/* a first sample was taken */
	time_t		since;			/* when */
	int			nworkers;		/* the last sample: pid and counters */
	int			pid[TOP_RATE_WORKERS];
	long long	completed[TOP_RATE_WORKERS];
	long long	failed[TOP_RATE_WORKERS];
	time_t		slot_at[TOP_RATE_SECONDS];	/* runs finished per second */
	long long	slot_completed[TOP_RATE_SECONDS];
	long long	slot_failed[TOP_RATE_SECONDS];
} TopRate;

/* Add what the workers finished since the last sample (jobs.workers rows). */
extern void top_rate_sample(TopRate *r, int n, const int *pid,
							const long long *completed, const long long *failed);

/* Runs finished in the last minute, or in *seconds if top ran less long. */
extern void top_rate_minute(const TopRate *r, long long *completed,
							long long *failed, int *seconds);

#endif
