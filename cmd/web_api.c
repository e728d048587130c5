/*-------------------------------------------------------------------------
 * web_api.c
 *	  zapjobs web's JSON API.  Every answer is one JSON value PostgreSQL
 *	  builds (json_build_object, json_agg) from the views and tables a
 *	  role may read, so row-level security decides what anyone sees and
 *	  the C side only passes text through.  Actions call jobs.cancel,
 *	  jobs.retry, jobs.pause_queue, jobs.trigger..., which decide who may.
 *
 *	  A filter of runs is a JSON object (status, queue, name, owner, q,
 *	  from, to) handed to SQL as jsonb: the list pages by it and "cancel
 *	  all matching" acts on it, with the same WHERE clause.
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "web_api.h"
#include "web_counts.h"
#include "web_hub.h"

/*
 * The runs matching a filter: f is an SQL expression of type jsonb
 * (a string literal), the list's parameter or the "filter" of an action.
 */
#define WEB_API_FILTER(f) \
	" (" f "->>'status' IS NULL OR r.status = " f "->>'status')" \
	" AND (" f "->>'queue' IS NULL OR r.queue = " f "->>'queue')" \
	" AND (" f "->>'name' IS NULL OR r.name = " f "->>'name')" \
	" AND (" f "->>'owner' IS NULL OR r.owner::text = " f "->>'owner')" \
	" AND (" f "->>'q' IS NULL OR strpos(lower(coalesce(r.name, '') || ' ' || r.command" \
	"      || ' ' || coalesce(r.error_message, '')), lower(" f "->>'q')) > 0)" \
	" AND (" f "->>'from' IS NULL OR r.created_at >= (" f "->>'from')::timestamptz)" \
	" AND (" f "->>'to' IS NULL OR r.created_at < (" f "->>'to')::timestamptz)"

void
web_api_error(WebReply *r, unsigned int status, const char *message)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "error", json_object_new_string(message));
	free(r->body);
	r->status = status;
	r->body = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
	r->type = "application/json";
	json_object_put(obj);
}

/* The HTTP status for a server error, by its SQLSTATE. */
static unsigned int
web_api_status(PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (!state)
		return 503;
	if (strcmp(state, "42501") == 0)
		return 403;
	if (strcmp(state, "42704") == 0 || strcmp(state, "P0002") == 0)
		return 404;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
		strcmp(state, "55000") == 0)
		return 400;
	return 500;
}

/*
 * Run sql, whose one row's first column is the JSON answer.  NULL (no row
 * to show) answers not_found with 404.
 */
static void
web_api_json(Conn *c, WebReply *r, const char *sql, int nparams,
			 const char *const *params, const char *not_found)
{
	PGresult   *res = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

		web_api_error(r, web_api_status(res),
					  msg ? msg : "the database connection was lost");
	}
	else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		web_api_error(r, 404, not_found ? not_found : "not found");
	else
	{
		r->status = 200;
		r->body = strdup(PQgetvalue(res, 0, 0));
		r->type = "application/json";
	}
	PQclear(res);
}

/* Array literal "{a,b,...}" of n numbers, for a bigint[] parameter. */
static char *
web_api_array(const long long *v, int n)
{
	char	   *out = malloc(n * 24 + 3);
	size_t		o = 0;
	int			i;

	if (!out)
		return NULL;
	out[o++] = '{';
	for (i = 0; i < n; i++)
		o += sprintf(out + o, "%s%lld", i ? "," : "", v[i]);
	out[o++] = '}';
	out[o] = '\0';
	return out;
}

/* GET /api/overview: counts, throughput, queues, recent failures, workers. */
static void
web_api_overview(Conn *c, WebReply *r)
{
	WebThroughput t;
	WebCounts	counts;
	const char *params[7];
	char	   *a[4];
	int			i;

	if (!web_counts_get(&counts))
	{
		web_api_error(r, 503, "the runs have not been counted yet");
		return;
	}
	web_hub_throughput(&t);
	a[0] = web_api_array(t.minute, WEB_HUB_MINUTES);
	a[1] = web_api_array(t.completed, WEB_HUB_MINUTES);
	a[2] = web_api_array(t.failed, WEB_HUB_MINUTES);
	a[3] = web_api_array(t.cancelled, WEB_HUB_MINUTES);
	for (i = 0; i < 4; i++)
		params[i] = a[i];
	params[4] = counts.totals;
	params[5] = counts.queues;
	params[6] = counts.at;
	if (a[0] && a[1] && a[2] && a[3])
		web_api_json(c, r,
					 "SELECT json_build_object('now', now(), 'counts', $5::json,"
					 " 'counts_at', $7::timestamptz, 'queues', $6::json,"
					 " 'throughput', (SELECT json_agg(json_build_object('minute', to_timestamp(t.m),"
					 "     'completed', t.c, 'failed', t.f, 'cancelled', t.x) ORDER BY t.m)"
					 "   FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS t(m, c, f, x)),"
					 " 'failures', (SELECT coalesce(json_agg(f), '[]') FROM (SELECT f.run_id, f.name,"
					 "     f.queue, f.owner::text AS owner, f.attempt, f.outcome, f.finished_at,"
					 "     f.error_sqlstate, f.error_message, f.run_status FROM jobs.failures f LIMIT 10) f),"
					 " 'workers', (SELECT coalesce(json_agg(w ORDER BY w.pid), '[]') FROM (SELECT w.pid,"
					 "     w.role::text AS role, w.state, w.run_id, w.state_since FROM jobs.workers w) w),"
					 " 'pool', (SELECT to_json(p) FROM jobs.pool p))", 7, params, NULL);
	else
		web_api_error(r, 500, "out of memory");
	for (i = 0; i < 4; i++)
		free(a[i]);
	web_counts_free(&counts);
}

/* GET /api/queues: the latest counts per queue. */
static void
web_api_queues(WebReply *r)
{
	WebCounts	counts;

	if (!web_counts_get(&counts))
	{
		web_api_error(r, 503, "the runs have not been counted yet");
		return;
	}
	r->status = 200;
	r->type = "application/json";
	r->body = counts.queues;
	counts.queues = NULL;
	web_counts_free(&counts);
}

/* The filter of a runs list from the query string, as a JSON object. */
static char *
web_api_filter(struct MHD_Connection *conn)
{
	static const char *const keys[] = {"status", "queue", "name", "owner", "q", "from", "to"};
	json_object *obj = json_object_new_object();
	char	   *out;
	int			i;

	for (i = 0; i < 7; i++)
	{
		const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, keys[i]);

		if (v && v[0])
			json_object_object_add(obj, keys[i], json_object_new_string(v));
	}
	out = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
	json_object_put(obj);
	return out;
}

/* The columns of the runs list. */
#define WEB_API_RUN_COLS \
	"r.id, r.name, r.queue, r.owner::text AS owner, r.status, r.kind, r.priority, r.attempt," \
	" r.max_attempts, r.created_at, r.run_at, r.started_at, r.finished_at," \
	" extract(epoch FROM r.duration) AS duration, r.error_sqlstate, r.error_message," \
	" r.progress_current, r.progress_total"

/*
 * The first page ($3 + 1 runs, newest first, before id $2) of the runs in
 * some statuses that match filter $1, unless the filter asks for another
 * status.  statuses is written as the predicate of the partial indexes of
 * runs in them, so that each part of the list is a range scan of one of
 * them; the filter's constants are folded into the plan, and a part whose
 * status the filter excludes is not read at all.
 */
#define WEB_API_PART(statuses) \
	"(SELECT " WEB_API_RUN_COLS " FROM jobs.runs r" \
	"  WHERE ($1::jsonb->>'status' IS NULL OR $1::jsonb->>'status' IN " statuses ")" \
	"    AND r.status IN " statuses " AND " WEB_API_FILTER("$1::jsonb") \
	"    AND ($2::bigint IS NULL OR r.id < $2::bigint)" \
	"  ORDER BY r.id DESC LIMIT $3::int + 1)"

/*
 * GET /api/runs?status=&queue=&name=&owner=&q=&from=&to=&before=&limit=:
 * keyset paging by id.  Finished runs (nearly all of millions) come from
 * the indexes of schema 1.5 by queue, by name and of failed or cancelled
 * runs; the others from the partial indexes of the states on the way.
 */
static void
web_api_runs(Conn *c, struct MHD_Connection *conn, WebReply *r)
{
	const char *before = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "before");
	const char *limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	const char *params[3];
	char	   *filter = web_api_filter(conn);

	params[0] = filter;
	params[1] = before && before[0] ? before : NULL;
	params[2] = limit && limit[0] && atoi(limit) > 0 && atoi(limit) <= 500 ? limit : "50";
	web_api_json(c, r,
				 "SELECT json_build_object("
				 "       'runs', coalesce(json_agg(to_jsonb(t) - 'n' ORDER BY t.id DESC) FILTER (WHERE t.n <= $3::int), '[]'),"
				 "       'next', CASE WHEN max(t.n) > $3::int THEN min(t.id) FILTER (WHERE t.n <= $3::int) END)"
				 "  FROM (SELECT row_number() OVER (ORDER BY r.id DESC) AS n, r.*"
				 "          FROM (" WEB_API_PART("('completed', 'failed', 'cancelled')")
				 "                UNION ALL " WEB_API_PART("('pending')")
				 "                UNION ALL " WEB_API_PART("('running')")
				 "                UNION ALL " WEB_API_PART("('scheduled', 'awaiting_retry')")
				 "                UNION ALL " WEB_API_PART("('waiting')") ") r"
				 "         ORDER BY r.id DESC LIMIT $3::int + 1) t", 3, params, NULL);
	free(filter);
}

/*
 * GET /api/runs/ID: every column, live progress, attempts, the runs it
 * waits for and that wait for it (the first 100 each), the last log lines.
 */
static void
web_api_run(Conn *c, const char *id, WebReply *r)
{
	const char *params[1] = {id};

	web_api_json(c, r,
				 "SELECT json_build_object("
				 " 'run', to_jsonb(r) || jsonb_build_object('owner', r.owner::text,"
				 "     'percent', a.percent, 'eta', extract(epoch FROM a.eta),"
				 "     'elapsed', extract(epoch FROM a.elapsed),"
				 "     'live', (SELECT to_jsonb(p) FROM jobs.live_progress() p WHERE p.run_id = r.id)),"
				 " 'attempts', (SELECT coalesce(json_agg(t ORDER BY t.attempt), '[]')"
				 "     FROM jobs.attempts t WHERE t.run_id = r.id),"
				 " 'parents', (SELECT coalesce(json_agg(json_build_object('id', p.id, 'name', p.name,"
				 "     'status', p.status) ORDER BY p.id), '[]') FROM (SELECT p.* FROM jobs.dependencies d"
				 "     JOIN jobs.runs p ON p.id = d.parent_id WHERE d.run_id = r.id ORDER BY p.id LIMIT 100) p),"
				 " 'children', (SELECT coalesce(json_agg(json_build_object('id', k.id, 'name', k.name,"
				 "     'status', k.status) ORDER BY k.id), '[]') FROM (SELECT k.* FROM jobs.dependencies d"
				 "     JOIN jobs.runs k ON k.id = d.run_id WHERE d.parent_id = r.id ORDER BY k.id LIMIT 100) k),"
				 " 'logs', (SELECT coalesce(json_agg(l ORDER BY l.id), '[]') FROM"
				 "     (SELECT * FROM jobs.logs WHERE run_id = r.id ORDER BY id DESC LIMIT 200) l))"
				 "  FROM jobs.runs r LEFT JOIN jobs.active a ON a.id = r.id"
				 " WHERE r.id = $1::bigint", 1, params, "run not found");
}

/* GET /api/runs/ID/logs?after=LOG_ID: the lines after one, for a live tail. */
static void
web_api_logs(Conn *c, struct MHD_Connection *conn, const char *id, WebReply *r)
{
	const char *after = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
	const char *params[2] = {id, after && after[0] ? after : "0"};

	web_api_json(c, r,
				 "SELECT CASE WHEN EXISTS (SELECT FROM jobs.runs WHERE id = $1::bigint) THEN"
				 " (SELECT coalesce(json_agg(l ORDER BY l.id), '[]') FROM"
				 "   (SELECT * FROM jobs.logs WHERE run_id = $1::bigint AND id > $2::bigint"
				 "     ORDER BY id LIMIT 1000) l) END", 2, params, "run not found");
}

/* GET /api/active: what the status indicator shows. */
static void
web_api_active(Conn *c, WebReply *r)
{
	WebCounts	counts;
	const char *params[1];

	if (!web_counts_get(&counts))
	{
		web_api_error(r, 503, "the runs have not been counted yet");
		return;
	}
	params[0] = counts.totals;
	web_api_json(c, r,
				 "SELECT json_build_object("
				 " 'running', (SELECT coalesce(json_agg(a ORDER BY a.started_at), '[]') FROM"
				 "   (SELECT a.id, a.name, a.queue, a.percent, a.progress_current,"
				 "           a.progress_total, a.progress_message, extract(epoch FROM a.eta) AS eta,"
				 "           a.started_at FROM jobs.active a WHERE a.status = 'running' LIMIT 100) a),"
				 " 'pending', ($1::json->>'pending')::bigint,"
				 " 'recent', (SELECT coalesce(json_agg(h), '[]') FROM"
				 "   (SELECT h.id, h.name, h.status, h.finished_at, h.error_message"
				 "      FROM jobs.history h LIMIT 10) h))", 1, params, NULL);
	web_counts_free(&counts);
}

/* GET /api/ANYTHING: the pages' reads. */
void
web_api_get(Conn *c, struct MHD_Connection *conn, const char *path, WebReply *r)
{
	char		id[24];
	char		rest[16] = "";

	if (strcmp(path, "overview") == 0)
		web_api_overview(c, r);
	else if (strcmp(path, "runs") == 0)
		web_api_runs(c, conn, r);
	else if (strcmp(path, "active") == 0)
		web_api_active(c, r);
	else if (strcmp(path, "queues") == 0)
		web_api_queues(r);
	else if (strcmp(path, "definitions") == 0)
		web_api_json(c, r,
					 "SELECT coalesce(json_agg(d ORDER BY d.name), '[]') FROM"
					 " (SELECT d.name, d.owner::text AS owner, d.command, d.kind, d.queue, d.description,"
					 "         d.schedule, d.timezone, d.enabled, d.paused, d.next_run_at,"
					 "         d.last_run_at, d.last_run_id, d.last_status, d.skipped_ticks"
					 "    FROM jobs.definitions d) d", 0, NULL, NULL);
	else if (strcmp(path, "workers") == 0)
		web_api_json(c, r,
					 "SELECT json_build_object('pool', (SELECT to_json(p) FROM jobs.pool p),"
					 " 'workers', (SELECT coalesce(json_agg(w ORDER BY w.pid), '[]') FROM"
					 "   (SELECT w.pid, w.role::text AS role, w.state, w.run_id, w.started_at,"
					 "           w.state_since, w.last_heartbeat, w.runs_completed, w.runs_failed"
					 "      FROM jobs.workers w) w))", 0, NULL, NULL);
	else if (sscanf(path, "runs/%20[0-9]%15s", id, rest) >= 1 && rest[0] == '\0')
		web_api_run(c, id, r);
	else if (sscanf(path, "runs/%20[0-9]%15s", id, rest) == 2 && strcmp(rest, "/logs") == 0)
		web_api_logs(c, conn, id, r);
	else
		web_api_error(r, 404, "no such page");
}

/*
 * POST /api/runs/cancel or /retry: {"ids": [...]} or {"filter": {...}}
 * ("all matching"), among the runs in statuses the action applies to.
 */
static void
web_api_bulk(Conn *c, const char *fn, const char *statuses, const char *body, WebReply *r)
{
	char		sql[4096];
	const char *params[1] = {body};

	snprintf(sql, sizeof(sql),
			 "SELECT CASE WHEN jsonb_typeof($1::jsonb) = 'object' THEN"
			 " (SELECT json_build_object('changed', count(*) FILTER (WHERE x.ok), 'matched', count(*))"
			 "    FROM (SELECT %s(r.id) AS ok FROM jobs.runs r"
			 "           WHERE r.status IN (%s)"
			 "             AND (r.id IN (SELECT jsonb_array_elements_text($1::jsonb->'ids')::bigint"
			 "                            WHERE jsonb_typeof($1::jsonb->'ids') = 'array')"
			 "                  OR (jsonb_typeof($1::jsonb->'filter') = 'object' AND"
			 WEB_API_FILTER("($1::jsonb->'filter')") "))) x) END",
			 fn, statuses);
	web_api_json(c, r, sql, 1, params, "the body must be a JSON object with \"ids\" or \"filter\"");
}

/* POST on a queue or a definition: one function of its name. */
static void
web_api_named(Conn *c, const char *sql, const char *name, WebReply *r)
{
	const char *params[1] = {name};

	web_api_json(c, r, sql, 1, params, "not found");
}

/*
 * "queues/NAME/VERB" or "definitions/NAME/VERB": NAME may hold '/', so
 * the verb is what follows the last one.
 */
static bool
web_api_split(const char *path, const char *prefix, char *name, size_t len, const char **verb)
{
	size_t		plen = strlen(prefix);
	const char *slash = strrchr(path, '/');

	if (strncmp(path, prefix, plen) != 0 || !slash || slash <= path + plen ||
		(size_t) (slash - path - plen) >= len)
		return false;
	memcpy(name, path + plen, slash - path - plen);
	name[slash - path - plen] = '\0';
	*verb = slash + 1;
	return true;
}

void
web_api_post(Conn *c, const char *path, const char *body, WebReply *r)
{
	char		name[256];
	const char *verb = "";

	if (strcmp(path, "runs/cancel") == 0)
		web_api_bulk(c, "jobs.cancel",
					 "'waiting', 'scheduled', 'pending', 'running', 'awaiting_retry'", body, r);
	else if (strcmp(path, "runs/retry") == 0)
		web_api_bulk(c, "jobs.retry", "'failed', 'cancelled'", body, r);
	else if (web_api_split(path, "queues/", name, sizeof(name), &verb) && strcmp(verb, "pause") == 0)
		web_api_named(c, "SELECT json_build_object('queue', $1::text, 'paused', true)"
					  " FROM jobs.pause_queue($1)", name, r);
	else if (web_api_split(path, "queues/", name, sizeof(name), &verb) && strcmp(verb, "resume") == 0)
		web_api_named(c, "SELECT json_build_object('queue', $1::text, 'paused', false)"
					  " FROM jobs.resume_queue($1)", name, r);
	else if (web_api_split(path, "definitions/", name, sizeof(name), &verb) &&
			 strcmp(verb, "trigger") == 0)
		web_api_named(c, "SELECT json_build_object('run_id', jobs.trigger($1))", name, r);
	else if (web_api_split(path, "definitions/", name, sizeof(name), &verb) &&
			 strcmp(verb, "pause") == 0)
		web_api_named(c, "SELECT CASE WHEN jobs.pause($1) THEN json_build_object('paused', true) END",
					  name, r);
	else if (web_api_split(path, "definitions/", name, sizeof(name), &verb) &&
			 strcmp(verb, "resume") == 0)
		web_api_named(c, "SELECT CASE WHEN jobs.resume($1) THEN json_build_object('paused', false) END",
					  name, r);
	else
		web_api_error(r, 404, "no such action");
}
