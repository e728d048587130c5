/*-------------------------------------------------------------------------
 * options.h
 *	  The zapjobs command's command line: connection options as psql
 *	  takes them, output options, and each subcommand's own.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_OPTIONS_H
#define ZJC_OPTIONS_H

#include <stdbool.h>

typedef struct Options
{
	/* connection, as psql takes it (NULL: libpq's defaults, PG* variables) */
	const char *dbname;			/* database name, conninfo string or URI */
	const char *host;
	const char *port;
	const char *user;
	bool		prompt_password;	/* -W: ask before connecting */
	bool		never_prompt;	/* -w: never ask */

	/* output */
	bool		json;			/* --json: the server's JSON, for scripts */
	bool		plain;			/* --plain: no escape codes even on a tty */

	/* enqueue, trigger */
	bool		wait;
	const char *queue;
	const char *priority;
	const char *input;
	const char *run_at;
	const char *name;
	const char *timeout;
	const char *max_attempts;
	const char *kind;
	const char *after;			/* --after ID[,ID...]: depends_on */
	const char *workflow;
	const char *on_parent_failure;

	/* ls, logs */
	const char *status;
	const char *limit;
	bool		follow;

	/* web */
	const char *listen;
	bool		read_only;
	const char *base_path;
	const char *auth_file;
	const char *allow_origin;

	/* what is left: the subcommand's arguments */
	int			nargs;
	char	  **args;
} Options;

/*
 * Parse argv (argv[0] is the subcommand's name) into o.  accepts lists the
 * long names of the subcommand's own options, comma-separated; connection
 * options and --help are always accepted.  Returns false when --help was
 * given; a bad command line exits with EXIT_USAGE.
 */
extern bool options_parse(Options *o, const char *cmd, const char *accepts,
						  int argc, char **argv);

/* Parse an integer option or argument; anything else exits with EXIT_USAGE. */
extern long long options_int(const char *cmd, const char *what, const char *text);

/* Exit with EXIT_USAGE unless there are min to max (-1: any) arguments. */
extern void options_need_args(const Options *o, const char *cmd, int min, int max);

/* A run id argument: a positive integer, else exit with EXIT_USAGE. */
extern long long options_run_id(const char *cmd, const char *text);

#endif
