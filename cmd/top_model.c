/*-------------------------------------------------------------------------
 * top_model.c
 *	  zapjobs top's data: the running runs (jobs.active), queue counts,
 *	  throughput and failures, workers, and the opened run with its log.
 *
 *	  Everything comes from the views a role may read, so top shows a role
 *	  what the views show it and nothing more.  An error (a view a role
 *	  may not read, say) is shown, not fatal: the screen goes on.
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>

#include "active.h"
#include "top_model.h"

static const char *const top_model_runs_sql =
	"SELECT a.id, coalesce(a.name, ''), a.owner::text, a.queue,"
	"       coalesce(a.percent::float8, -1), coalesce(a.progress_current, 0),"
	"       coalesce(a.progress_total, -1), coalesce(extract(epoch FROM a.eta), -1),"
	"       coalesce(extract(epoch FROM a.elapsed), 0), coalesce(a.progress_message, ''),"
	"       a.attempt"
	"  FROM jobs.active a"
	" WHERE a.status = 'running'"
	"   AND strpos(lower(coalesce(a.name, '') || ' ' || a.queue || ' ' || a.owner::text),"
	"              lower($1)) > 0"
	" ORDER BY a.started_at, a.id LIMIT 500";

static const char *const top_model_queues_sql =
	"SELECT coalesce(c.queue, q.name),"
	"       coalesce(c.pending, 0), coalesce(c.scheduled, 0), coalesce(c.retrying, 0),"
	"       coalesce(c.running, 0), coalesce(q.paused, false)"
	"  FROM (SELECT r.queue,"
	"               count(*) FILTER (WHERE r.status = 'pending') AS pending,"
	"               count(*) FILTER (WHERE r.status = 'scheduled') AS scheduled,"
	"               count(*) FILTER (WHERE r.status = 'awaiting_retry') AS retrying,"
	"               count(*) FILTER (WHERE r.status = 'running') AS running"
	"          FROM " ACTIVE_RUNS
	"         GROUP BY r.queue) c"
	"  FULL JOIN jobs.queues q ON q.name = c.queue"
	" ORDER BY 1 LIMIT 200";

static const char *const top_model_summary_sql =
	"SELECT (SELECT count(*) FROM jobs.attempts t"
	"         WHERE t.finished_at >= now() - interval '1 hour' AND t.outcome <> 'cancelled'),"
	"       p.workers, p.max_workers, p.busy, p.roles_waiting, to_char(now(), 'HH24:MI:SS')"
	"  FROM jobs.pool p";

static const char *const top_model_failures_sql =
	"SELECT f.run_id, coalesce(f.name, ''), f.attempt, f.outcome,"
	"       to_char(f.finished_at, 'HH24:MI:SS'), coalesce(f.error_message, ''),"
	"       f.run_status, f.queue"
	"  FROM jobs.failures f"
	" WHERE f.finished_at >= now() - interval '1 hour' AND f.outcome <> 'cancelled'"
	" LIMIT 200";

static const char *const top_model_workers_sql =
	"SELECT w.pid, w.role::text, w.state, coalesce(w.run_id::text, ''),"
	"       w.runs_completed, w.runs_failed"
	"  FROM jobs.workers w ORDER BY w.pid";

static const char *const top_model_detail_sql =
	"SELECT r.id, coalesce(r.name, ''), r.status, r.owner::text, r.queue, r.attempt,"
	"       r.max_attempts, coalesce(a.percent::float8,"
	"           100.0 * r.progress_current / nullif(r.progress_total, 0), -1),"
	"       coalesce(a.progress_current, r.progress_current, 0),"
	"       coalesce(a.progress_total, r.progress_total, -1),"
	"       coalesce(extract(epoch FROM a.eta), -1),"
	"       coalesce(a.progress_message, r.progress_message, ''),"
	"       to_char(r.created_at, 'YYYY-MM-DD HH24:MI:SS'),"
	"       coalesce(to_char(r.started_at, 'YYYY-MM-DD HH24:MI:SS'), ''),"
	"       coalesce(extract(epoch FROM coalesce(r.duration,"
	"                clock_timestamp() - r.started_at)), -1),"
	"       coalesce(r.error_sqlstate, ''), coalesce(r.error_message, ''), r.command"
	"  FROM jobs.runs r LEFT JOIN jobs.active a ON a.id = r.id"
	" WHERE r.id = $1";

static const char *const top_model_logs_sql =
	"SELECT t.at, t.level, t.message"
	"  FROM (SELECT l.id, to_char(l.at, 'HH24:MI:SS') AS at, l.level, l.message"
	"          FROM jobs.logs l WHERE l.run_id = $1"
	"         ORDER BY l.id DESC LIMIT 200) t ORDER BY t.id";

/* Read one section into *slot; false if the connection is gone. */
static bool
top_model_read(Conn *c, TopModel *m, PGresult **slot, const char *sql,
			   int nparams, const char *param)
{
	const char *params[1] = {param};
	PGresult   *res;
	int			st = conn_exec(c, sql, nparams, params, &res, m->error, sizeof(m->error));

	if (st != CONN_OK)
		return st != CONN_LOST;
	PQclear(*slot);
	*slot = res;
	return true;
}

/* Feed the workers' counters to the throughput. */
static void
top_model_sample_rate(TopModel *m)
{
	int			n = m->workers ? PQntuples(m->workers) : 0;
	int			pid[TOP_RATE_WORKERS];
	long long	completed[TOP_RATE_WORKERS];
	long long	failed[TOP_RATE_WORKERS];
	int			i;

	for (i = 0; i < n && i < TOP_RATE_WORKERS; i++)
	{
		pid[i] = atoi(PQgetvalue(m->workers, i, TW_PID));
		completed[i] = atoll(PQgetvalue(m->workers, i, TW_COMPLETED));
		failed[i] = atoll(PQgetvalue(m->workers, i, TW_FAILED));
	}
	top_rate_sample(&m->rate, i, pid, completed, failed);
}

bool
top_model_refresh(Conn *c, TopModel *m)
{
	char		id[24];

	m->error[0] = '\0';
	snprintf(id, sizeof(id), "%lld", m->detail_id);
	if (!top_model_read(c, m, &m->runs, top_model_runs_sql, 1, m->filter) ||
		!top_model_read(c, m, &m->queues, top_model_queues_sql, 0, NULL) ||
		!top_model_read(c, m, &m->summary, top_model_summary_sql, 0, NULL) ||
		!top_model_read(c, m, &m->failures, top_model_failures_sql, 0, NULL) ||
		!top_model_read(c, m, &m->workers, top_model_workers_sql, 0, NULL))
		return false;
	top_model_sample_rate(m);
	if (m->detail_id == 0)
		return true;
	return top_model_read(c, m, &m->detail, top_model_detail_sql, 1, id) &&
		top_model_read(c, m, &m->logs, top_model_logs_sql, 1, id);
}

bool
top_model_act(Conn *c, const char *sql, const char *param, char *msg, size_t len)
{
	const char *params[1] = {param};
	PGresult   *res;
	int			st = conn_exec(c, sql, 1, params, &res, msg, len);

	if (st == CONN_OK)
	{
		snprintf(msg, len, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
		PQclear(res);
	}
	return st != CONN_LOST;
}

void
top_model_clear(TopModel *m)
{
	PQclear(m->runs);
	PQclear(m->queues);
	PQclear(m->summary);
	PQclear(m->failures);
	PQclear(m->workers);
	PQclear(m->detail);
	PQclear(m->logs);
	m->runs = m->queues = m->summary = m->failures = m->workers = NULL;
	m->detail = m->logs = NULL;
}
