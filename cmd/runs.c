/*-------------------------------------------------------------------------
 * runs.c
 *	  zapjobs ls, show and logs: runs, one run in full, a run's log.
 *
 *	  Everything is read from jobs.runs, jobs.attempts and jobs.logs, whose
 *	  row-level security shows a role the runs of roles it is a member of:
 *	  another role's run is "not found", as a free id is.
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "msg.h"
#include "table.h"
#include "watch.h"

static const char *const runs_statuses[] = {
	"waiting", "scheduled", "pending", "running", "awaiting_retry", "completed",
	"failed", "cancelled", NULL
};

static void
runs_check_status(const char *status)
{
	int			i;

	for (i = 0; runs_statuses[i]; i++)
		if (strcmp(status, runs_statuses[i]) == 0)
			return;
	msg_fail(EXIT_USAGE, "ls: unknown status \"%s\" (waiting, scheduled, pending, running,"
			 " awaiting_retry, completed, failed or cancelled)", status);
}

#define RUNS_LS_WHERE \
	"  FROM jobs.runs r" \
	" WHERE ($1::text IS NULL OR r.status = $1) AND ($2::text IS NULL OR r.queue = $2)" \
	"   AND ($3::text IS NULL OR r.name = $3)" \
	" ORDER BY r.id DESC LIMIT $4::bigint"

int
runs_ls(Conn *c, const Options *o)
{
	const char *params[4] = {o->status, o->queue, o->name, o->limit ? o->limit : "50"};

	options_need_args(o, "ls", 0, 0);
	if (o->status)
		runs_check_status(o->status);
	if (options_int("ls", "--limit", params[3]) < 0)
		msg_fail(EXIT_USAGE, "ls: --limit must not be negative");
	if (o->json)
		table_query(c, true,
					"SELECT r.id, r.name, r.queue, r.owner::text AS owner, r.status, r.kind,"
					" r.priority, r.attempt, r.max_attempts, r.created_at, r.run_at,"
					" r.started_at, r.finished_at, extract(epoch FROM r.duration) AS duration,"
					" r.error_sqlstate, r.error_message" RUNS_LS_WHERE, 4, params);
	else
		table_query(c, false,
					"SELECT r.id, coalesce(r.name, '') AS name, r.queue, r.owner::text AS owner,"
					" r.status, r.attempt || '/' || r.max_attempts AS attempt,"
					" to_char(r.created_at, 'YYYY-MM-DD HH24:MI:SS') AS created,"
					" coalesce(to_char(date_trunc('second', r.duration), 'HH24:MI:SS'), '')"
					" AS duration, coalesce(r.error_message, '') AS error"
					RUNS_LS_WHERE, 4, params);
	return EXIT_RUN_COMPLETED;
}

/* The run's row with its live progress; exits "not found" if not visible. */
static PGresult *
runs_read(Conn *c, const char *cmd, const char *idtext)
{
	const char *params[1] = {idtext};
	PGresult   *res;

	options_run_id(cmd, idtext);
	res = conn_query(c,
					 "SELECT r.*, a.percent, a.eta, a.elapsed"
					 "  FROM jobs.runs r LEFT JOIN jobs.active a ON a.id = r.id"
					 " WHERE r.id = $1", 1, params);
	if (PQntuples(res) == 0)
		msg_fail(EXIT_NOT_FOUND, "run %s not found", idtext);
	return res;
}

static int
runs_show_json(Conn *c, const char *idtext)
{
	const char *params[1] = {idtext};
	PGresult   *res;

	PQclear(runs_read(c, "show", idtext));
	res = conn_query(c,
					 "SELECT json_build_object("
					 " 'run', (SELECT to_jsonb(r) || jsonb_build_object('percent', a.percent,"
					 "         'eta', extract(epoch FROM a.eta))"
					 "           FROM jobs.runs r LEFT JOIN jobs.active a ON a.id = r.id"
					 "          WHERE r.id = $1),"
					 " 'attempts', (SELECT coalesce(json_agg(t ORDER BY t.attempt), '[]')"
					 "                FROM jobs.attempts t WHERE t.run_id = $1),"
					 " 'logs', (SELECT coalesce(json_agg(l ORDER BY l.id), '[]') FROM"
					 "          (SELECT * FROM jobs.logs WHERE run_id = $1"
					 "            ORDER BY id DESC LIMIT 20) l))", 1, params);
	printf("%s\n", PQgetvalue(res, 0, 0));
	PQclear(res);
	return EXIT_RUN_COMPLETED;
}

int
runs_show(Conn *c, const Options *o)
{
	const char *params[1];
	PGresult   *res;

	options_need_args(o, "show", 1, 1);
	params[0] = o->args[0];
	if (o->json)
		return runs_show_json(c, o->args[0]);
	res = runs_read(c, "show", o->args[0]);
	table_print_record(stdout, res, 0);
	PQclear(res);
	printf("\nAttempts that did not complete:\n");
	table_query(c, false,
				"SELECT attempt, outcome, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS') AS started,"
				" to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS') AS finished,"
				" coalesce(error_sqlstate, '') AS sqlstate, coalesce(error_message, '') AS error"
				"  FROM jobs.attempts WHERE run_id = $1 ORDER BY attempt", 1, params);
	printf("\nLast log lines:\n");
	table_query(c, false,
				"SELECT * FROM (SELECT id, attempt, to_char(at, 'HH24:MI:SS.MS') AS at, level,"
				" message FROM jobs.logs WHERE run_id = $1 ORDER BY id DESC LIMIT 20) l"
				" ORDER BY id", 1, params);
	return EXIT_RUN_COMPLETED;
}

int
runs_logs(Conn *c, const Options *o)
{
	const char *params[1];
	long long	id;

	options_need_args(o, "logs", 1, 1);
	params[0] = o->args[0];
	PQclear(runs_read(c, "logs", o->args[0]));
	id = options_run_id("logs", o->args[0]);
	if (o->follow)
		return watch_run(c, id, o->plain, true) == EXIT_INTERRUPTED ?
			EXIT_INTERRUPTED : EXIT_RUN_COMPLETED;
	table_query(c, o->json,
				o->json ?
				"SELECT id, attempt, at, level, message, context FROM jobs.logs"
				" WHERE run_id = $1 ORDER BY id" :
				"SELECT attempt, to_char(at, 'YYYY-MM-DD HH24:MI:SS.MS') AS at, level, message"
				"  FROM jobs.logs WHERE run_id = $1 ORDER BY id", 1, params);
	return EXIT_RUN_COMPLETED;
}
