/*-------------------------------------------------------------------------
 * options.c
 *	  Parsing the zapjobs command's options.  One table holds every option
 *	  of every subcommand, so an option means the same everywhere; each
 *	  subcommand says which of them it takes.
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "options.h"

enum
{
	OPT_JSON = 256, OPT_PLAIN, OPT_WAIT, OPT_QUEUE, OPT_PRIORITY, OPT_INPUT,
	OPT_RUN_AT, OPT_NAME, OPT_TIMEOUT, OPT_MAX_ATTEMPTS, OPT_KIND, OPT_STATUS,
	OPT_LIMIT, OPT_HELP, OPT_LISTEN, OPT_READ_ONLY, OPT_BASE_PATH, OPT_AUTH_FILE,
	OPT_ALLOW_ORIGIN, OPT_AFTER, OPT_WORKFLOW, OPT_ON_PARENT_FAILURE
};

static const struct option options_table[] = {
	{"dbname", required_argument, NULL, 'd'},
	{"host", required_argument, NULL, 'h'},
	{"port", required_argument, NULL, 'p'},
	{"username", required_argument, NULL, 'U'},
	{"password", no_argument, NULL, 'W'},
	{"no-password", no_argument, NULL, 'w'},
	{"json", no_argument, NULL, OPT_JSON},
	{"plain", no_argument, NULL, OPT_PLAIN},
	{"wait", no_argument, NULL, OPT_WAIT},
	{"queue", required_argument, NULL, OPT_QUEUE},
	{"priority", required_argument, NULL, OPT_PRIORITY},
	{"input", required_argument, NULL, OPT_INPUT},
	{"run-at", required_argument, NULL, OPT_RUN_AT},
	{"name", required_argument, NULL, OPT_NAME},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
	{"kind", required_argument, NULL, OPT_KIND},
	{"status", required_argument, NULL, OPT_STATUS},
	{"limit", required_argument, NULL, OPT_LIMIT},
	{"follow", no_argument, NULL, 'f'},
	{"help", no_argument, NULL, OPT_HELP},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"read-only", no_argument, NULL, OPT_READ_ONLY},
	{"base-path", required_argument, NULL, OPT_BASE_PATH},
	{"auth-file", required_argument, NULL, OPT_AUTH_FILE},
	{"allow-origin", required_argument, NULL, OPT_ALLOW_ORIGIN},
	{"after", required_argument, NULL, OPT_AFTER},
	{"workflow", required_argument, NULL, OPT_WORKFLOW},
	{"on-parent-failure", required_argument, NULL, OPT_ON_PARENT_FAILURE},
	{NULL, 0, NULL, 0}
};

/* Is the option with this getopt value one the subcommand takes? */
static bool
options_accepted(int val, const char *accepts)
{
	const struct option *opt;
	size_t		len;
	const char *p;

	if ((val < 256 && strchr("dhpUWw", val)) || val == OPT_HELP)
		return true;
	for (opt = options_table; opt->name && opt->val != val; opt++)
		;
	if (!opt->name)
		return false;
	len = strlen(opt->name);
	for (p = accepts; (p = strstr(p, opt->name)) != NULL; p += len)
		if ((p == accepts || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
			return true;
	return false;
}

/* Store one parsed option; false for --help. */
static bool
options_store(Options *o, int c, char *arg)
{
	switch (c)
	{
		case 'd': o->dbname = arg; break;
		case 'h': o->host = arg; break;
		case 'p': o->port = arg; break;
		case 'U': o->user = arg; break;
		case 'W': o->prompt_password = true; break;
		case 'w': o->never_prompt = true; break;
		case 'f': o->follow = true; break;
		case OPT_JSON: o->json = true; break;
		case OPT_PLAIN: o->plain = true; break;
		case OPT_WAIT: o->wait = true; break;
		case OPT_QUEUE: o->queue = arg; break;
		case OPT_PRIORITY: o->priority = arg; break;
		case OPT_INPUT: o->input = arg; break;
		case OPT_RUN_AT: o->run_at = arg; break;
		case OPT_NAME: o->name = arg; break;
		case OPT_TIMEOUT: o->timeout = arg; break;
		case OPT_MAX_ATTEMPTS: o->max_attempts = arg; break;
		case OPT_KIND: o->kind = arg; break;
		case OPT_STATUS: o->status = arg; break;
		case OPT_LIMIT: o->limit = arg; break;
		case OPT_LISTEN: o->listen = arg; break;
		case OPT_READ_ONLY: o->read_only = true; break;
		case OPT_BASE_PATH: o->base_path = arg; break;
		case OPT_AUTH_FILE: o->auth_file = arg; break;
		case OPT_ALLOW_ORIGIN: o->allow_origin = arg; break;
		case OPT_AFTER: o->after = arg; break;
		case OPT_WORKFLOW: o->workflow = arg; break;
		case OPT_ON_PARENT_FAILURE: o->on_parent_failure = arg; break;
		case OPT_HELP: return false;
	}
	return true;
}

/* Exit with the option that cannot be taken, by its name. */
static void
options_refuse(const char *cmd, int c, const char *word)
{
	const struct option *opt;

	if (c == '?' && optopt > 0 && optopt < 256)
		msg_fail(EXIT_USAGE, "%s: option -%c is unknown or needs a value (see \"zapjobs help %s\")",
				 cmd, optopt, cmd);
	for (opt = options_table; opt->name; opt++)
		if (c != '?' && opt->val == c)
			msg_fail(EXIT_USAGE, "%s: option --%s does not apply here (see \"zapjobs help %s\")",
					 cmd, opt->name, cmd);
	msg_fail(EXIT_USAGE, "%s: unknown option or missing value: %s (see \"zapjobs help %s\")",
			 cmd, word, cmd);
}

bool
options_parse(Options *o, const char *cmd, const char *accepts,
			  int argc, char **argv)
{
	int			c;
	bool		help = false;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:h:p:U:Wwf", options_table, NULL)) != -1)
	{
		if (c == '?' || !options_accepted(c, accepts))
			options_refuse(cmd, c, argv[optind - 1]);
		if (!options_store(o, c, optarg))
			help = true;
	}
	o->nargs = argc - optind;
	o->args = argv + optind;
	return !help;
}

long long
options_int(const char *cmd, const char *what, const char *text)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		msg_fail(EXIT_USAGE, "%s: %s must be an integer, not \"%s\"", cmd, what, text);
	return v;
}

void
options_need_args(const Options *o, const char *cmd, int min, int max)
{
	if (o->nargs < min)
		msg_fail(EXIT_USAGE, "%s: missing argument (see \"zapjobs help %s\")", cmd, cmd);
	if (max >= 0 && o->nargs > max)
		msg_fail(EXIT_USAGE, "%s: unexpected argument \"%s\" (see \"zapjobs help %s\")",
				 cmd, o->args[max], cmd);
}

long long
options_run_id(const char *cmd, const char *text)
{
	long long	id = options_int(cmd, "a run id", text);

	if (id <= 0)
		msg_fail(EXIT_USAGE, "%s: a run id is a positive integer, not \"%s\"", cmd, text);
	return id;
}
