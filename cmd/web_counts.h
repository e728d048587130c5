/*-------------------------------------------------------------------------
 * web_counts.h
 *	  zapjobs web's counts of the runs not finished, by queue and status,
 *	  kept fresh by one thread so that no page waits for them.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_WEB_COUNTS_H
#define ZJC_WEB_COUNTS_H

#include <stdbool.h>

#include "conn.h"

/* The latest counts, as PostgreSQL built them (malloc'ed copies). */
typedef struct WebCounts
{
	char	   *totals;			/* JSON {"scheduled": n, "pending": n, ...} */
	char	   *queues;			/* JSON [{"name", "pending", ..., "paused"}, ...] */
	char	   *gauges;			/* Prometheus text: zapjobs_runs, zapjobs_queue_lag_seconds */
	char		at[40];			/* when they were counted (ISO 8601) */
} WebCounts;

/* Count once (the first page must not wait), then keep counting in a thread. */
extern bool web_counts_start(const Conn *template, char *err, size_t errlen);

/* A copy of the latest counts; false if none yet. */
extern bool web_counts_get(WebCounts *out);
extern void web_counts_free(WebCounts *c);

#endif
