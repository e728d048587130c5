/*-------------------------------------------------------------------------
 * steer.c
 *	  zapjobs cancel, retry, pause and resume: changing runs and queues
 *	  through jobs.cancel, jobs.retry, jobs.pause_queue and
 *	  jobs.resume_queue, which decide who may.
 *
 *	  Several run ids are checked first, all of them: one that does not
 *	  exist (or is another role's) changes nothing.
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "msg.h"

/* Every id given must be a run the caller sees; exit before changing any. */
static void
steer_check_ids(Conn *c, const Options *o, const char *cmd)
{
	int			i;

	options_need_args(o, cmd, 1, -1);
	for (i = 0; i < o->nargs; i++)
	{
		const char *params[1] = {o->args[i]};
		PGresult   *res;

		options_run_id(cmd, o->args[i]);
		res = conn_query(c, "SELECT 1 FROM jobs.runs WHERE id = $1", 1, params);
		if (PQntuples(res) == 0)
			msg_fail(EXIT_NOT_FOUND, "%s: run %s not found", cmd, o->args[i]);
		PQclear(res);
	}
}

/*
 * Apply fn (jobs.cancel or jobs.retry) to every run; say what became of
 * each.  Exit code 1 when one could not be changed.
 */
static int
steer_runs(Conn *c, const Options *o, const char *cmd, const char *sql,
		   const char *done, const char *refused)
{
	int			code = EXIT_RUN_COMPLETED;
	int			i;

	steer_check_ids(c, o, cmd);
	for (i = 0; i < o->nargs; i++)
	{
		const char *params[1] = {o->args[i]};
		PGresult   *res = conn_query(c, sql, 1, params);

		if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			printf("run %s %s\n", o->args[i], done);
		else
		{
			printf("run %s %s (it is %s)\n", o->args[i], refused, PQgetvalue(res, 0, 1));
			code = EXIT_RUN_FAILED;
		}
		PQclear(res);
	}
	return code;
}

int
steer_cancel(Conn *c, const Options *o)
{
	return steer_runs(c, o, "cancel",
					  "SELECT jobs.cancel($1), (SELECT status FROM jobs.runs WHERE id = $1)",
					  "cancelled", "not cancelled");
}

int
steer_retry(Conn *c, const Options *o)
{
	return steer_runs(c, o, "retry",
					  "SELECT jobs.retry($1), (SELECT status FROM jobs.runs WHERE id = $1)",
					  "queued again", "not retried: only failed or cancelled runs are");
}

static int
steer_queue(Conn *c, const Options *o, const char *cmd, const char *sql, const char *done)
{
	const char *params[1];

	options_need_args(o, cmd, 1, 1);
	params[0] = o->args[0];
	PQclear(conn_query(c, sql, 1, params));
	printf("queue %s %s\n", o->args[0], done);
	return EXIT_RUN_COMPLETED;
}

int
steer_pause(Conn *c, const Options *o)
{
	return steer_queue(c, o, "pause", "SELECT jobs.pause_queue($1)", "paused");
}

int
steer_resume(Conn *c, const Options *o)
{
	return steer_queue(c, o, "resume", "SELECT jobs.resume_queue($1)", "resumed");
}
