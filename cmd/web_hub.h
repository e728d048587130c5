/*-------------------------------------------------------------------------
 * web_hub.h
 *	  zapjobs web's one LISTEN connection: events to every browser, and
 *	  the throughput of the last hour counted from them.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_WEB_HUB_H
#define ZJC_WEB_HUB_H

#include "conn.h"

#define WEB_HUB_MINUTES 60

/* Runs finished per minute, oldest first; minute is a Unix time. */
typedef struct WebThroughput
{
	long long	minute[WEB_HUB_MINUTES];
	long long	completed[WEB_HUB_MINUTES];
	long long	failed[WEB_HUB_MINUTES];
	long long	cancelled[WEB_HUB_MINUTES];
} WebThroughput;

/* Bounds of the run duration histogram, in seconds (then +Inf). */
#define WEB_HUB_BUCKETS 10
extern const double web_hub_bucket_bounds[WEB_HUB_BUCKETS];

/* Counters since the dashboard started, for /metrics. */
typedef struct WebCounters
{
	long long	completed;
	long long	failed;
	long long	cancelled;
	long long	attempt_failures;	/* attempts that failed (retried or not) */
	long long	buckets[WEB_HUB_BUCKETS + 1];	/* durations, not cumulative */
	double		duration_sum;
	long long	duration_count;
} WebCounters;

extern void web_hub_counters(WebCounters *out);

/* Count the last hour's finished runs once, from jobs.runs, to start from. */
extern void web_hub_backfill(Conn *c);

/* A copy of the counts, for a page. */
extern void web_hub_throughput(WebThroughput *out);

/*
 * LISTEN job_update on c and pass every event the launcher sends to the
 * browsers until Ctrl-C or SIGTERM; reconnects when the connection goes
 * (telling the browsers to read everything again).
 */
extern void web_hub_run(Conn *c);

#endif
