/*-------------------------------------------------------------------------
 * web_counts.c
 *	  The runs not finished, counted by queue and status, for the
 *	  overview, the queues page and /metrics.
 *
 *	  Counting them costs the server as many index entries as runs went
 *	  through the queue since the last vacuum (measured: 1.4 s with a
 *	  backlog of 100,000 pending runs), so pages must not count: one
 *	  thread counts, pausing between counts ten times as long as the last
 *	  count took (and at least two seconds), and pages serve the latest
 *	  counts with the time they were taken.  When they change the browsers
 *	  are told (web_sse.c), so a page never keeps counts older than the
 *	  last event it read them on.
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "active.h"
#include "web_counts.h"
#include "web_sse.h"

#define WEB_COUNTS_MIN_PAUSE_MS 2000
#define WEB_COUNTS_COST_SHARE	10

static const char *const web_counts_sql =
	"WITH c AS (SELECT r.queue, r.status, count(*) AS n,"
	"                  max(now() - r.run_at) FILTER (WHERE r.status = 'pending') AS lag,"
	"                  min(r.run_at) FILTER (WHERE r.status = 'pending') AS oldest"
	"             FROM " ACTIVE_RUNS " GROUP BY 1, 2),"
	"     q AS (SELECT coalesce(c.queue, jq.name) AS name,"
	"                  coalesce(sum(c.n) FILTER (WHERE c.status = 'pending'), 0) AS pending,"
	"                  coalesce(sum(c.n) FILTER (WHERE c.status = 'scheduled'), 0) AS scheduled,"
	"                  coalesce(sum(c.n) FILTER (WHERE c.status = 'awaiting_retry'), 0) AS awaiting_retry,"
	"                  coalesce(sum(c.n) FILTER (WHERE c.status = 'running'), 0) AS running,"
	"                  coalesce(bool_or(jq.paused), false) AS paused,"
	"                  max(jq.max_concurrency) AS max_concurrency, min(c.oldest) AS oldest_pending"
	"             FROM c FULL JOIN jobs.queues jq ON jq.name = c.queue GROUP BY 1),"
	"     l AS (SELECT replace(replace(replace(c.queue, '\\', '\\\\'), '\"', '\\\"'), E'\\n', '\\n')"
	"                  AS label, c.* FROM c)"
	" SELECT json_build_object("
	"         'waiting', coalesce(sum(c.n) FILTER (WHERE c.status = 'waiting'), 0),"
	"         'scheduled', coalesce(sum(c.n) FILTER (WHERE c.status = 'scheduled'), 0),"
	"         'pending', coalesce(sum(c.n) FILTER (WHERE c.status = 'pending'), 0),"
	"         'running', coalesce(sum(c.n) FILTER (WHERE c.status = 'running'), 0),"
	"         'awaiting_retry', coalesce(sum(c.n) FILTER (WHERE c.status = 'awaiting_retry'), 0)),"
	"        (SELECT coalesce(json_agg(q ORDER BY q.name), '[]') FROM q),"
	"        '# HELP zapjobs_runs Runs not finished, by status and queue.' || E'\\n'"
	"        || '# TYPE zapjobs_runs gauge' || E'\\n'"
	"        || coalesce((SELECT string_agg(format('zapjobs_runs{status=\"%s\",queue=\"%s\"} %s',"
	"               l.status, l.label, l.n), E'\\n' ORDER BY l.label, l.status) FROM l) || E'\\n', '')"
	"        || '# HELP zapjobs_queue_lag_seconds Age of the oldest due pending run, by queue.' || E'\\n'"
	"        || '# TYPE zapjobs_queue_lag_seconds gauge' || E'\\n'"
	"        || coalesce((SELECT string_agg(format('zapjobs_queue_lag_seconds{queue=\"%s\"} %s',"
	"               l.label, round(greatest(extract(epoch FROM l.lag), 0), 3)), E'\\n' ORDER BY l.label)"
	"               FROM l WHERE l.lag IS NOT NULL) || E'\\n', ''),"
	"        to_char(clock_timestamp(), 'YYYY-MM-DD\"T\"HH24:MI:SS.MSOF')"
	"   FROM c";

static pthread_mutex_t web_counts_lock = PTHREAD_MUTEX_INITIALIZER;
static WebCounts web_counts_latest;	/* under the lock; totals NULL: none yet */
static Conn *web_counts_conn = NULL;	/* the counting thread's own */

static double
web_counts_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Count once; the time it took (ms), or < 0 if it failed. */
static double
web_counts_refresh(void)
{
	double		start = web_counts_ms();
	PGresult   *res;
	char		err[256];
	WebCounts	fresh;
	bool		changed;

	if (conn_exec(web_counts_conn, web_counts_sql, 0, NULL, &res, err, sizeof(err)) != CONN_OK)
		return -1;
	fresh.totals = strdup(PQgetvalue(res, 0, 0));
	fresh.queues = strdup(PQgetvalue(res, 0, 1));
	fresh.gauges = strdup(PQgetvalue(res, 0, 2));
	snprintf(fresh.at, sizeof(fresh.at), "%s", PQgetvalue(res, 0, 3));
	PQclear(res);
	pthread_mutex_lock(&web_counts_lock);
	changed = web_counts_latest.totals && web_counts_latest.queues &&
		fresh.totals && fresh.queues &&
		(strcmp(fresh.totals, web_counts_latest.totals) != 0 ||
		 strcmp(fresh.queues, web_counts_latest.queues) != 0);
	web_counts_free(&web_counts_latest);
	web_counts_latest = fresh;
	pthread_mutex_unlock(&web_counts_lock);
	if (changed)
		web_sse_publish_counts();
	return web_counts_ms() - start;
}

static void *
web_counts_loop(void *arg)
{
	const Conn *template = arg;
	double		took = 0;
	char		err[256];

	for (;;)
	{
		double		pause = took * WEB_COUNTS_COST_SHARE;

		usleep((useconds_t) (pause > WEB_COUNTS_MIN_PAUSE_MS ? pause : WEB_COUNTS_MIN_PAUSE_MS) * 1000);
		if (PQstatus(web_counts_conn->pg) != CONNECTION_OK)
		{
			/* the server went away: connect again, quietly, and go on */
			Conn	   *again = conn_clone(template, err, sizeof(err));

			if (!again)
				continue;
			conn_close(web_counts_conn);
			web_counts_conn = again;
		}
		took = web_counts_refresh();
		if (took < 0)
			took = 0;
	}
	return NULL;
}

bool
web_counts_start(const Conn *template, char *err, size_t errlen)
{
	pthread_t	thread;

	web_counts_conn = conn_clone(template, err, errlen);
	if (!web_counts_conn)
		return false;
	web_counts_refresh();
	if (pthread_create(&thread, NULL, web_counts_loop, (void *) template) != 0)
	{
		snprintf(err, errlen, "cannot start the counting thread");
		return false;
	}
	pthread_detach(thread);
	return true;
}

bool
web_counts_get(WebCounts *out)
{
	bool		have;

	pthread_mutex_lock(&web_counts_lock);
	have = web_counts_latest.totals != NULL;
	if (have)
	{
		out->totals = strdup(web_counts_latest.totals);
		out->queues = strdup(web_counts_latest.queues);
		out->gauges = strdup(web_counts_latest.gauges);
		memcpy(out->at, web_counts_latest.at, sizeof(out->at));
	}
	pthread_mutex_unlock(&web_counts_lock);
	return have && out->totals && out->queues && out->gauges;
}

void
web_counts_free(WebCounts *c)
{
	free(c->totals);
	free(c->queues);
	free(c->gauges);
	c->totals = c->queues = c->gauges = NULL;
}
