/*-------------------------------------------------------------------------
 * web_hub.c
 *	  zapjobs web's LISTEN job_update connection.  It runs in the main
 *	  thread: every event the launcher sends (events.c drops forged ones)
 *	  that the dashboard's role may see (web_scope.c) goes to every browser
 *	  as it was published, and run events that end a run are counted per
 *	  minute for the throughput chart.
 *
 *	  Counting the last hour in jobs.runs for every page would read every
 *	  run that finished in it (millions at thousands a second); the events
 *	  already say it.  The hour before the dashboard started is counted
 *	  once from jobs.runs (web_hub_backfill).
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "msg.h"
#include "web_hub.h"
#include "web_scope.h"
#include "web_sse.h"

#define WEB_HUB_HEARTBEAT_S		15
#define WEB_HUB_RECONNECT_S		3600	/* a dashboard waits long for its server */

const double web_hub_bucket_bounds[WEB_HUB_BUCKETS] = {
	0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 3600
};

static pthread_mutex_t web_hub_lock = PTHREAD_MUTEX_INITIALIZER;
static WebThroughput web_hub_counts;	/* ring by minute, under the lock */
static WebCounters web_hub_totals;	/* under the lock */

/* Add finished runs to the minute they finished in (now). */
static void
web_hub_count(time_t at, const char *status, long long n)
{
	long long	minute = at / 60 * 60;
	int			i = (int) (minute / 60 % WEB_HUB_MINUTES);

	pthread_mutex_lock(&web_hub_lock);
	if (web_hub_counts.minute[i] != minute)
	{
		web_hub_counts.minute[i] = minute;
		web_hub_counts.completed[i] = web_hub_counts.failed[i] = 0;
		web_hub_counts.cancelled[i] = 0;
	}
	if (strcmp(status, "completed") == 0)
		web_hub_counts.completed[i] += n;
	else if (strcmp(status, "failed") == 0)
		web_hub_counts.failed[i] += n;
	else if (strcmp(status, "cancelled") == 0)
		web_hub_counts.cancelled[i] += n;
	pthread_mutex_unlock(&web_hub_lock);
}

void
web_hub_backfill(Conn *c)
{
	PGresult   *res;
	char		err[256];
	int			i;

	if (conn_exec(c,
				  "SELECT extract(epoch FROM date_trunc('minute', r.finished_at))::bigint,"
				  "       r.status, count(*)"
				  "  FROM jobs.runs r"
				  " WHERE r.finished_at >= date_trunc('minute', now()) - interval '59 minutes'"
				  "   AND r.status IN ('completed', 'failed', 'cancelled')"
				  " GROUP BY 1, 2", 0, NULL, &res, err, sizeof(err)) != CONN_OK)
	{
		msg_error("web: the last hour's throughput is not known: %s", err);
		return;
	}
	for (i = 0; i < PQntuples(res); i++)
		web_hub_count((time_t) atoll(PQgetvalue(res, i, 0)), PQgetvalue(res, i, 1),
					  atoll(PQgetvalue(res, i, 2)));
	PQclear(res);
}

void
web_hub_throughput(WebThroughput *out)
{
	long long	now = time(NULL) / 60 * 60;
	int			k;

	pthread_mutex_lock(&web_hub_lock);
	for (k = 0; k < WEB_HUB_MINUTES; k++)
	{
		long long	minute = now - (WEB_HUB_MINUTES - 1 - k) * 60;
		int			i = (int) (minute / 60 % WEB_HUB_MINUTES);
		bool		ours = web_hub_counts.minute[i] == minute;

		out->minute[k] = minute;
		out->completed[k] = ours ? web_hub_counts.completed[i] : 0;
		out->failed[k] = ours ? web_hub_counts.failed[i] : 0;
		out->cancelled[k] = ours ? web_hub_counts.cancelled[i] : 0;
	}
	pthread_mutex_unlock(&web_hub_lock);
}

void
web_hub_counters(WebCounters *out)
{
	pthread_mutex_lock(&web_hub_lock);
	*out = web_hub_totals;
	pthread_mutex_unlock(&web_hub_lock);
}

/* Seconds since the epoch of an event's "2026-11-22T07:53:38.77246+00:00"; < 0 if not one. */
static double
web_hub_seconds(const char *iso)
{
	struct tm	tm;
	double		sec;
	char		sign;
	int			oh = 0;
	int			om = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(iso, "%d-%d-%dT%d:%d:%lf%c%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &sec, &sign, &oh, &om) < 8)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (double) timegm(&tm) + sec - (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
}

/* A run that ended: its status and how long its last attempt took. */
static void
web_hub_totals_add(const Event *ev, long long n)
{
	double		d = web_hub_seconds(ev->finished_at) - web_hub_seconds(ev->started_at);
	int			b = 0;

	pthread_mutex_lock(&web_hub_lock);
	if (strcmp(ev->status, "failed") == 0 || strcmp(ev->status, "awaiting_retry") == 0)
		web_hub_totals.attempt_failures += n;
	web_hub_totals.completed += strcmp(ev->status, "completed") == 0 ? n : 0;
	web_hub_totals.failed += strcmp(ev->status, "failed") == 0 ? n : 0;
	web_hub_totals.cancelled += strcmp(ev->status, "cancelled") == 0 ? n : 0;
	if (ev->type == EVENT_RUN && strcmp(ev->status, "completed") == 0 && ev->started_at[0] &&
		ev->finished_at[0] && d >= 0)
	{
		while (b < WEB_HUB_BUCKETS && d > web_hub_bucket_bounds[b])
			b++;
		web_hub_totals.buckets[b]++;
		web_hub_totals.duration_sum += d;
		web_hub_totals.duration_count++;
	}
	pthread_mutex_unlock(&web_hub_lock);
}

/* An event the role may see: to the browsers, and counted. */
static void
web_hub_pass(const Event *ev)
{
	long long	n = ev->type == EVENT_RUNS ? ev->count : 1;

	web_sse_publish(ev->raw);
	if (ev->type != EVENT_RUN && ev->type != EVENT_RUNS)
		return;
	web_hub_count(time(NULL), ev->status, n);
	web_hub_totals_add(ev, n);
}

static void
web_hub_on_event(const Event *ev, void *arg)
{
	web_scope_offer(arg, ev, web_hub_pass);
}

void
web_hub_run(Conn *c)
{
	time_t		beat = time(NULL);

	web_scope_init(c);
	while (!conn_was_interrupted())
	{
		int			got = events_wait(c, 1000, -1, web_hub_on_event, c);

		/* events the role's view could not be checked for: pages read afresh */
		if (!web_scope_flush(c, web_hub_pass))
			web_sse_publish_resync();
		web_sse_flush();

		if (got & EVENTS_LOST)
		{
			if (!conn_reconnect(c, WEB_HUB_RECONNECT_S))
				msg_fail(EXIT_SERVER, "web: the server did not come back within %d s",
						 WEB_HUB_RECONNECT_S);
			if (events_listen(c))
				web_sse_publish_resync();
			web_sse_flush();
		}
		if (time(NULL) - beat >= WEB_HUB_HEARTBEAT_S)
		{
			web_sse_heartbeat();
			web_sse_flush();
			beat = time(NULL);
		}
	}
}
