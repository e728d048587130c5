/*-------------------------------------------------------------------------
 * main.c
 *	  The zapjobs command: watch and steer zapjobs runs from a terminal or
 *	  a script.  Finds the subcommand, parses its options, connects, runs
 *	  it; "zapjobs help [COMMAND]" and "--help" print the usage below.
 *
 *	  The command is a libpq client: it shares no code with the server
 *	  side and uses only the SQL API (functions, views, job_update).
 *-------------------------------------------------------------------------
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "msg.h"

#define ZAPJOBS_VERSION "1.1"

typedef struct Command
{
	const char *name;
	int			(*fn) (Conn *c, const Options *o);
	int			min_args;		/* checked before connecting */
	int			max_args;		/* -1: any number */
	bool		run_ids;		/* its arguments are run ids */
	const char *accepts;		/* its own options (options_parse) */
	const char *synopsis;
	const char *help;
} Command;

static const Command commands[] = {
	{"watch", enqueue_watch, 1, 1, true, "plain", "watch RUN_ID [--plain]",
	 "Show a run's progress and log lines as they happen, until it ends.\n"
	 "Exit code: 0 completed, 1 failed, 2 cancelled.\n"},
	{"enqueue", enqueue_cmd, 1, 1, false,
	 "wait,queue,priority,input,run-at,name,timeout,max-attempts,kind,plain,"
	 "after,workflow,on-parent-failure",
	 "enqueue [--wait] [--queue Q] [--priority N] [--input JSON] [--run-at TIME]\n"
	 "        [--name N] [--timeout T] [--max-attempts N] [--kind shell]\n"
	 "        [--after ID[,ID...]] [--on-parent-failure run] [--workflow W] COMMAND",
	 "Enqueue COMMAND (SQL, or a shell command with --kind shell) and print the\n"
	 "run id.  With --after, the run waits for those runs to complete.  With\n"
	 "--wait, then watch the run and exit as watch does.\n"},
	{"trigger", enqueue_trigger, 1, 1, false,
	 "wait,input,queue,priority,run-at,timeout,max-attempts,plain,"
	 "after,workflow,on-parent-failure",
	 "trigger NAME [--input JSON] [--wait] [--queue Q] [--priority N] [--run-at TIME]\n"
	 "        [--timeout T] [--max-attempts N] [--after ID[,ID...]]\n"
	 "        [--on-parent-failure run] [--workflow W]",
	 "Start a run of the job defined as NAME (jobs.define) and print its id.\n"
	 "With --wait, then watch the run and exit as watch does.\n"},
	{"top", top_cmd, 0, 0, false, "", "top",
	 "Full-screen live view: running runs with progress, queues, throughput,\n"
	 "failures, workers.  Keys: arrows/j/k move, Enter opens a run, c cancels,\n"
	 "r retries, p pauses or resumes the selected queue (or the run's), / filters\n"
	 "the runs, Tab goes from runs to queues to failures, Esc goes back, q quits.\n"},
	{"web", web_cmd, 0, 0, false, "listen,read-only,base-path,auth-file,allow-origin",
	 "web [--listen 127.0.0.1:8080] [--read-only] [--base-path /jobs]\n"
	 "        [--auth-file FILE] [--allow-origin ORIGIN]",
	 "Serve the live dashboard and the status indicator (indicator.js) over HTTP,\n"
	 "on 127.0.0.1:8080 unless --listen says otherwise.  --read-only refuses every\n"
	 "POST; --auth-file FILE asks for a user and password (lines user:hash, hashes\n"
	 "from mkpasswd or openssl passwd -6); --allow-origin lets that origin's pages\n"
	 "embed the indicator.  Stops on Ctrl-C or SIGTERM.\n"},
	{"ls", runs_ls, 0, 0, false, "status,queue,name,limit,json",
	 "ls [--status S] [--queue Q] [--name N] [--limit N] [--json]",
	 "List runs, newest first (50 unless --limit says otherwise).\n"},
	{"show", runs_show, 1, 1, true, "json", "show RUN_ID [--json]",
	 "Everything about one run: every column, every attempt that did not\n"
	 "complete with its error, the last log lines.\n"},
	{"logs", runs_logs, 1, 1, true, "follow,json,plain", "logs RUN_ID [-f] [--json]",
	 "A run's log lines.  With -f (--follow), keep printing new ones until the\n"
	 "run ends.\n"},
	{"cancel", steer_cancel, 1, -1, true, "", "cancel RUN_ID...",
	 "Cancel runs (a running one is interrupted).  Exit code 1 if one had\n"
	 "already finished.\n"},
	{"retry", steer_retry, 1, -1, true, "", "retry RUN_ID...",
	 "Queue failed or cancelled runs again, with one more attempt.  Exit code 1\n"
	 "if one was neither failed nor cancelled.\n"},
	{"pause", steer_pause, 1, 1, false, "", "pause QUEUE",
	 "Stop starting runs of QUEUE (runs already running go on).\n"},
	{"resume", steer_resume, 1, 1, false, "", "resume QUEUE", "Start runs of a paused QUEUE again.\n"},
	{"schedules", overview_schedules, 0, 0, false, "json", "schedules [--json]",
	 "Scheduled jobs: schedule, state, next and last run.\n"},
	{"workers", overview_workers, 0, 0, false, "json", "workers [--json]",
	 "The worker pool and each worker: state, current run, counts.\n"},
	{"stats", overview_stats, 0, 0, false, "json", "stats [--json]",
	 "Per job name: runs by state, finished in the last minute, average duration.\n"},
	{NULL}
};

static const char *const main_common_help =
"Connection options (as psql takes them; PG* variables, ~/.pgpass and service\n"
"files work too):\n"
"  -d, --dbname=DBNAME      database name, conninfo string or URI\n"
"  -h, --host=HOSTNAME      server host or socket directory\n"
"  -p, --port=PORT          server port\n"
"  -U, --username=USERNAME  role to connect as\n"
"  -w, --no-password        never ask for a password\n"
"  -W, --password           ask for a password before connecting\n"
"\n"
"Exit codes: 0 success (watch: the run completed), 1 the run failed (cancel,\n"
"retry: a run could not be changed), 2 the run was cancelled, 3 bad command\n"
"line or input, 4 no such run or job, 5 cannot connect or the server refused,\n"
"130 interrupted.  Output goes plain (no bar, no colors) in a pipe, with\n"
"--plain, with NO_COLOR set or with TERM=dumb.\n";

static void
main_usage(FILE *out)
{
	const Command *cmd;

	fprintf(out, "zapjobs: watch and steer zapjobs runs.\n\nUsage:\n");
	for (cmd = commands; cmd->name; cmd++)
		fprintf(out, "  zapjobs %s\n", cmd->synopsis);
	fprintf(out, "  zapjobs help [COMMAND]\n  zapjobs --version\n\n%s", main_common_help);
}

static void
main_command_help(const Command *cmd)
{
	printf("Usage:\n  zapjobs %s\n\n%s\n%s", cmd->synopsis, cmd->help, main_common_help);
}

static const Command *
main_find(const char *name)
{
	const Command *cmd;

	for (cmd = commands; cmd->name; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	msg_fail(EXIT_USAGE, "unknown command \"%s\" (see \"zapjobs help\")", name);
}

/* What can be checked without the server is checked before connecting. */
static void
main_check(const Command *cmd, const Options *o)
{
	const char *term = getenv("TERM");
	int			i;

	options_need_args(o, cmd->name, cmd->min_args, cmd->max_args);
	for (i = 0; cmd->run_ids && i < o->nargs; i++)
		options_run_id(cmd->name, o->args[i]);
	if (cmd->fn == top_cmd &&
		(!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO) || !term || strcmp(term, "dumb") == 0))
		msg_fail(EXIT_USAGE, "top: needs a terminal (use ls, stats or workers in scripts)");
	if (cmd->fn == runs_logs && o->follow && o->json)
		msg_fail(EXIT_USAGE, "logs: -f prints lines as they come; --json is for the log so far");
}

/*
 * Connection options may come before the subcommand, as in psql:
 * "zapjobs -d app ls".  Move the subcommand to argv[1], keeping the order
 * of everything else.
 */
static void
main_command_first(int argc, char **argv)
{
	int			i = 1;
	char	   *cmd;

	while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0 &&
		   strcmp(argv[i], "--help") != 0 && strcmp(argv[i], "--version") != 0)
	{
		/* -d X, -h X, -p X, -U X take the next word; -dX, --dbname=X do not */
		bool		takes = strchr("dhpU", argv[i][1]) && argv[i][1] && argv[i][2] == '\0';

		takes = takes || strcmp(argv[i], "--dbname") == 0 || strcmp(argv[i], "--host") == 0 ||
			strcmp(argv[i], "--port") == 0 || strcmp(argv[i], "--username") == 0;
		i += takes ? 2 : 1;
	}
	if (i <= 1 || i >= argc)
		return;
	cmd = argv[i];
	memmove(argv + 2, argv + 1, (i - 1) * sizeof(char *));
	argv[1] = cmd;
}

int
main(int argc, char **argv)
{
	const Command *cmd;
	Options		o;
	int			code;

	/* libpq's client_encoding=auto and wcwidth() read the locale */
	setlocale(LC_ALL, "");
	main_command_first(argc, argv);
	if (argc < 2)
	{
		main_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
	{
		printf("zapjobs %s\n", ZAPJOBS_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
		strcmp(argv[1], "-?") == 0)
	{
		if (argc > 2)
			main_command_help(main_find(argv[2]));
		else
			main_usage(stdout);
		return 0;
	}
	cmd = main_find(argv[1]);
	if (!options_parse(&o, cmd->name, cmd->accepts, argc - 1, argv + 1))
	{
		main_command_help(cmd);
		return 0;
	}
	main_check(cmd, &o);
	code = cmd->fn(conn_open(&o, cmd->name), &o);
	if (fflush(stdout) != 0 || ferror(stdout))
		msg_fail(EXIT_SERVER, "%s: could not write the output", cmd->name);
	return code;
}
