/*-------------------------------------------------------------------------
 * overview.c
 *	  zapjobs schedules, workers and stats: the views, as tables or JSON.
 *-------------------------------------------------------------------------
 */
#include <stdio.h>

#include "commands.h"
#include "msg.h"
#include "table.h"

int
overview_schedules(Conn *c, const Options *o)
{
	options_need_args(o, "schedules", 0, 0);
	if (o->json)
		table_query(c, true,
					"SELECT name, owner::text AS owner, schedule, timezone, paused, enabled,"
					" next_run_at, last_run_at, last_run_id, last_status, skipped_ticks, command"
					"  FROM jobs.definitions WHERE schedule IS NOT NULL ORDER BY name", 0, NULL);
	else
		table_query(c, false,
					"SELECT name, owner::text AS owner, schedule, coalesce(timezone, '') AS timezone,"
					" CASE WHEN NOT enabled THEN 'disabled' WHEN paused THEN 'paused'"
					"      ELSE 'active' END AS state,"
					" coalesce(to_char(next_run_at, 'YYYY-MM-DD HH24:MI:SS'), '') AS next_run,"
					" coalesce(to_char(last_run_at, 'YYYY-MM-DD HH24:MI:SS'), '') AS last_run,"
					" coalesce(last_status, '') AS last_status, skipped_ticks AS skipped"
					"  FROM jobs.definitions WHERE schedule IS NOT NULL ORDER BY name", 0, NULL);
	return EXIT_RUN_COMPLETED;
}

int
overview_workers(Conn *c, const Options *o)
{
	PGresult   *res;

	options_need_args(o, "workers", 0, 0);
	if (o->json)
	{
		res = conn_query(c,
						 "SELECT json_build_object('pool', (SELECT to_json(p) FROM jobs.pool p),"
						 " 'workers', (SELECT coalesce(json_agg(w), '[]') FROM jobs.workers w))",
						 0, NULL);
		printf("%s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
		return EXIT_RUN_COMPLETED;
	}
	res = conn_query(c, "SELECT workers, max_workers, busy, idle, roles_waiting FROM jobs.pool",
					 0, NULL);
	printf("%s of %s workers running: %s busy, %s idle; %s role(s) waiting for one\n\n",
		   PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
		   PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
	PQclear(res);
	table_query(c, false,
				"SELECT pid, role::text AS role, state, coalesce(run_id::text, '') AS run,"
				" to_char(started_at, 'YYYY-MM-DD HH24:MI:SS') AS started,"
				" runs_completed AS completed, runs_failed AS failed"
				"  FROM jobs.workers ORDER BY pid", 0, NULL);
	return EXIT_RUN_COMPLETED;
}

int
overview_stats(Conn *c, const Options *o)
{
	options_need_args(o, "stats", 0, 0);
	if (o->json)
		table_query(c, true,
					"SELECT name, scheduled, pending, running, awaiting_retry, completed, failed,"
					" cancelled, completed_today, failed_today, finished_last_minute,"
					" extract(epoch FROM avg_duration) AS avg_duration"
					"  FROM jobs.stats ORDER BY name NULLS FIRST", 0, NULL);
	else
		table_query(c, false,
					"SELECT coalesce(name, '(no name)') AS name, pending, scheduled,"
					" awaiting_retry AS retrying, running, completed, failed, cancelled,"
					" finished_last_minute AS last_minute,"
					" coalesce(to_char(avg_duration, 'HH24:MI:SS.MS'), '')"
					" AS avg_duration"
					"  FROM jobs.stats ORDER BY name NULLS FIRST", 0, NULL);
	return EXIT_RUN_COMPLETED;
}
