/*-------------------------------------------------------------------------
 * web_ops.c
 *	  /healthz and /metrics.  Gauges (runs by status and queue, queue lag)
 *	  are the latest counts (web_counts.c) and the workers are read each
 *	  scrape, as text PostgreSQL formats (label values escaped there); counters and the duration
 *	  histogram come from the events the dashboard has seen since it
 *	  started (web_hub.c), as Prometheus counters may start again at zero.
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web_counts.h"
#include "web_hub.h"
#include "web_ops.h"

void
web_ops_health(Conn *c, WebReply *r)
{
	PGresult   *res;
	char		err[512];
	char		body[640];

	r->type = "text/plain; charset=utf-8";
	if (conn_exec(c, "SELECT launcher_pid FROM jobs.pool", 0, NULL, &res, err,
				  sizeof(err)) != CONN_OK)
	{
		r->status = 503;
		snprintf(body, sizeof(body), "unhealthy: %s\n", err);
	}
	else
	{
		r->status = PQgetisnull(res, 0, 0) ? 503 : 200;
		snprintf(body, sizeof(body), "%s\n", r->status == 200 ? "ok" :
				 "unhealthy: the zapjobs launcher is not running (is zapjobs in shared_preload_libraries?)");
		PQclear(res);
	}
	r->body = strdup(body);
}

static const char *const web_ops_workers_sql =
	"SELECT '# HELP zapjobs_workers Worker processes, by state.' || E'\\n'"
	"    || '# TYPE zapjobs_workers gauge' || E'\\n'"
	"    || format('zapjobs_workers{state=\"busy\"} %s' || E'\\n'"
	"              || 'zapjobs_workers{state=\"idle\"} %s' || E'\\n'"
	"              || 'zapjobs_workers{state=\"starting\"} %s' || E'\\n'"
	"              || '# HELP zapjobs_max_workers zapjobs.max_workers.' || E'\\n'"
	"              || '# TYPE zapjobs_max_workers gauge' || E'\\n'"
	"              || 'zapjobs_max_workers %s' || E'\\n',"
	"              p.busy, p.idle, p.starting, p.max_workers)"
	"  FROM jobs.pool p";

/* Append to a growing text. */
static void
web_ops_add(char *buf, size_t len, const char *line)
{
	size_t		used = strlen(buf);

	snprintf(buf + used, len - used, "%s", line);
}

/* The counters and the histogram, from the events seen. */
static void
web_ops_counters(char *buf, size_t len)
{
	WebCounters t;
	char		line[1024];
	long long	cumulative = 0;
	int			b;

	web_hub_counters(&t);
	snprintf(line, sizeof(line),
			 "# HELP zapjobs_runs_finished_total Runs that ended, by status, since the dashboard started.\n"
			 "# TYPE zapjobs_runs_finished_total counter\n"
			 "zapjobs_runs_finished_total{status=\"completed\"} %lld\n"
			 "zapjobs_runs_finished_total{status=\"failed\"} %lld\n"
			 "zapjobs_runs_finished_total{status=\"cancelled\"} %lld\n",
			 t.completed, t.failed, t.cancelled);
	web_ops_add(buf, len, line);
	snprintf(line, sizeof(line),
			 "# HELP zapjobs_attempt_failures_total Attempts that failed (retried or not).\n"
			 "# TYPE zapjobs_attempt_failures_total counter\n"
			 "zapjobs_attempt_failures_total %lld\n"
			 "# HELP zapjobs_run_duration_seconds Duration of completed runs' last attempt.\n"
			 "# TYPE zapjobs_run_duration_seconds histogram\n", t.attempt_failures);
	web_ops_add(buf, len, line);
	for (b = 0; b <= WEB_HUB_BUCKETS; b++)
	{
		cumulative += t.buckets[b];
		if (b < WEB_HUB_BUCKETS)
			snprintf(line, sizeof(line), "zapjobs_run_duration_seconds_bucket{le=\"%g\"} %lld\n",
					 web_hub_bucket_bounds[b], cumulative);
		else
			snprintf(line, sizeof(line), "zapjobs_run_duration_seconds_bucket{le=\"+Inf\"} %lld\n"
					 "zapjobs_run_duration_seconds_sum %.6f\n"
					 "zapjobs_run_duration_seconds_count %lld\n",
					 cumulative, t.duration_sum, t.duration_count);
		web_ops_add(buf, len, line);
	}
}

void
web_ops_metrics(Conn *c, WebReply *r)
{
	PGresult   *res;
	WebCounts	counts;
	char		err[512];
	size_t		len;

	if (!web_counts_get(&counts))
	{
		web_api_error(r, 503, "the runs have not been counted yet");
		return;
	}
	if (conn_exec(c, web_ops_workers_sql, 0, NULL, &res, err, sizeof(err)) != CONN_OK)
	{
		web_counts_free(&counts);
		web_api_error(r, 503, err);
		return;
	}
	len = strlen(counts.gauges) + strlen(PQgetvalue(res, 0, 0)) + 4096;
	r->body = malloc(len);
	if (r->body)
	{
		snprintf(r->body, len, "%s%s", counts.gauges, PQgetvalue(res, 0, 0));
		web_ops_counters(r->body, len);
		r->status = 200;
		r->type = "text/plain; version=0.0.4; charset=utf-8";
	}
	else
		web_api_error(r, 500, "out of memory");
	PQclear(res);
	web_counts_free(&counts);
}
