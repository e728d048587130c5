/*-------------------------------------------------------------------------
 * enqueue.c
 *	  zapjobs enqueue, trigger and watch: start a run (or pick one) and,
 *	  with --wait, follow it to its end, so that one command can stand in a
 *	  crontab or a CI step and exit with the run's outcome.
 *
 *	  Options go to the server as text parameters cast there: jobs.enqueue
 *	  and jobs.trigger check them, and their errors are the messages shown
 *	  (--after's comma-separated ids are split and cast there too).
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "msg.h"
#include "watch.h"

/* --priority and --max-attempts must be integers (the server checks their range). */
static void
enqueue_check_ints(const Options *o, const char *cmd)
{
	options_need_args(o, cmd, 1, 1);
	if (o->priority)
		options_int(cmd, "--priority", o->priority);
	if (o->max_attempts)
		options_int(cmd, "--max-attempts", o->max_attempts);
}

/* Print the new run's id; with --wait, follow it. */
static int
enqueue_started(Conn *c, const Options *o, PGresult *res)
{
	long long	id = atoll(PQgetvalue(res, 0, 0));

	PQclear(res);
	printf("%lld\n", id);
	fflush(stdout);
	return o->wait ? watch_run(c, id, o->plain, false) : EXIT_RUN_COMPLETED;
}

int
enqueue_cmd(Conn *c, const Options *o)
{
	const char *params[12];

	enqueue_check_ints(o, "enqueue");
	params[0] = o->args[0];
	params[1] = o->queue;
	params[2] = o->priority;
	params[3] = o->run_at;
	params[4] = o->max_attempts;
	params[5] = o->timeout;
	params[6] = o->input;
	params[7] = o->name;
	params[8] = o->kind;
	params[9] = o->after;
	params[10] = o->on_parent_failure;
	params[11] = o->workflow;
	return enqueue_started(c, o, conn_query(c,
			"SELECT jobs.enqueue($1, queue => $2, priority => $3::integer,"
			" run_at => $4::timestamptz, max_attempts => $5::integer,"
			" timeout => $6::interval, input => $7::jsonb, name => $8, kind => $9,"
			" depends_on => pg_catalog.string_to_array(pg_catalog.replace($10, ' ', ''), ',')::bigint[],"
			" on_parent_failure => $11, workflow => $12)",
			12, params));
}

int
enqueue_trigger(Conn *c, const Options *o)
{
	const char *params[10];

	enqueue_check_ints(o, "trigger");
	params[0] = o->args[0];
	params[1] = o->input;
	params[2] = o->queue;
	params[3] = o->priority;
	params[4] = o->run_at;
	params[5] = o->max_attempts;
	params[6] = o->timeout;
	params[7] = o->after;
	params[8] = o->on_parent_failure;
	params[9] = o->workflow;
	return enqueue_started(c, o, conn_query(c,
			"SELECT jobs.trigger($1, input => $2::jsonb, queue => $3,"
			" priority => $4::integer, run_at => $5::timestamptz,"
			" max_attempts => $6::integer, timeout => $7::interval,"
			" depends_on => pg_catalog.string_to_array(pg_catalog.replace($8, ' ', ''), ',')::bigint[],"
			" on_parent_failure => $9, workflow => $10)",
			10, params));
}

int
enqueue_watch(Conn *c, const Options *o)
{
	options_need_args(o, "watch", 1, 1);
	return watch_run(c, options_run_id("watch", o->args[0]), o->plain, false);
}
