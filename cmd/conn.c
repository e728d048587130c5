/*-------------------------------------------------------------------------
 * conn.c
 *	  Connecting the zapjobs command to the server, exactly as psql does
 *	  (libpq's defaults, PG* variables, ~/.pgpass, service files, -d taking
 *	  a conninfo string or URI), and running its queries.
 *
 *	  A server error becomes one line on stderr and an exit code chosen by
 *	  its SQLSTATE, so every subcommand reports the server's own words.
 *
 *	  Nothing waits without a deadline: connecting gives up after 10 s and
 *	  TCP keepalives notice a peer that vanished within about a minute
 *	  (both unless the user's own settings say otherwise).  Ctrl-C cancels
 *	  the query in flight (PQcancel is safe in a signal handler, as psql
 *	  uses it) and wakes any wait through a pipe, so it is never lost
 *	  between a check and a wait.
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "msg.h"

static volatile sig_atomic_t conn_interrupted = 0;
static PGcancel *volatile conn_cancel = NULL;
static Conn *conn_caught = NULL;	/* the connection Ctrl-C cancels */
static int	conn_wake_pipe[2] = {-1, -1};

/* Ctrl-C (or SIGTERM): cancel the query in flight, wake the wait. */
static void
conn_on_signal(int sig)
{
	int			saved = errno;
	char		err[256];

	conn_interrupted = 1;
	if (conn_cancel)
		PQcancel(conn_cancel, err, sizeof(err));
	if (conn_wake_pipe[1] >= 0 && write(conn_wake_pipe[1], "x", 1) < 0)
		;						/* the pipe is full: a wake-up is already there */
	errno = saved;
}

/* What Ctrl-C cancels from now on. */
static void
conn_set_cancel(PGconn *pg)
{
	PGcancel   *old = conn_cancel;

	conn_cancel = NULL;			/* before freeing: the handler may use it */
	if (old)
		PQfreeCancel(old);
	conn_cancel = PQstatus(pg) == CONNECTION_OK ? PQgetCancel(pg) : NULL;
}

void
conn_catch_interrupts(Conn *c)
{
	struct sigaction sa;

	conn_caught = c;
	conn_set_cancel(c->pg);
	if (conn_wake_pipe[0] < 0 && pipe(conn_wake_pipe) == 0)
	{
		fcntl(conn_wake_pipe[0], F_SETFL, O_NONBLOCK);
		fcntl(conn_wake_pipe[1], F_SETFL, O_NONBLOCK);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = conn_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool
conn_was_interrupted(void)
{
	return conn_interrupted != 0;
}

int
conn_interrupt_fd(void)
{
	return conn_wake_pipe[0];
}

/*
 * libpq would print server messages outside a query (a FATAL before a
 * disconnect) on stderr, over a full screen or a progress line; the
 * commands say in their own words what became of the connection.
 */
static void
conn_on_notice(void *arg, const char *message)
{
}

/* Our defaults come before dbname, so that a conninfo string overrides them. */
static void
conn_defaults(const char **keys, const char **vals, int *n)
{
	static const char *const defaults[][2] = {
		{"connect_timeout", "10"}, {"keepalives_idle", "30"},
		{"keepalives_interval", "10"}, {"keepalives_count", "3"}
	};
	int			i;

	for (i = 0; i < 4; i++)
	{
		if (i == 0 && getenv("PGCONNECT_TIMEOUT"))
			continue;
		keys[*n] = defaults[i][0];
		vals[(*n)++] = defaults[i][1];
	}
	if (!getenv("PGCLIENTENCODING"))
	{
		keys[*n] = "client_encoding";
		vals[(*n)++] = "auto";
	}
}

/* Open one connection with the options and the password we have. */
static PGconn *
conn_connect(Conn *c)
{
	const char *keys[16];
	const char *vals[16];
	int			n = 0;
	PGconn	   *pg;

#define CONN_KEY(k, v) do { if (v) { keys[n] = (k); vals[n] = (v); n++; } } while (0)
	CONN_KEY("host", c->opts->host);
	CONN_KEY("port", c->opts->port);
	CONN_KEY("user", c->opts->user);
	CONN_KEY("password", c->password);
	conn_defaults(keys, vals, &n);
	CONN_KEY("dbname", c->opts->dbname);
	CONN_KEY("fallback_application_name", "zapjobs");
#undef CONN_KEY
	keys[n] = vals[n] = NULL;
	pg = PQconnectdbParams(keys, vals, 1);
	PQsetNoticeProcessor(pg, conn_on_notice, NULL);
	if (c == conn_caught)
		conn_set_cancel(pg);
	return pg;
}

/* Ask for the password on the terminal, as psql does. */
static void
conn_ask_password(Conn *c)
{
	char	   *pw = getpass("Password: ");

	free(c->password);
	c->password = strdup(pw ? pw : "");
}

/* The first line of libpq's message, without "FATAL:  " and the newline. */
static const char *
conn_first_line(const char *text, char *buf, size_t len)
{
	const char *p = text ? text : "unknown error";

	if (strncmp(p, "FATAL:  ", 8) == 0 || strncmp(p, "ERROR:  ", 8) == 0)
		p += 8;
	snprintf(buf, len, "%s", p);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static void
conn_check_extension(Conn *c)
{
	PGresult   *res = conn_query(c,
								 "SELECT extversion FROM pg_catalog.pg_extension"
								 " WHERE extname = 'zapjobs'", 0, NULL);

	if (PQntuples(res) == 0)
		msg_fail(EXIT_SERVER,
				 "the zapjobs extension is not installed in database \"%s\""
				 " (connect to the database named by zapjobs.database and run CREATE EXTENSION zapjobs)",
				 PQdb(c->pg));
	PQclear(res);
}

Conn *
conn_open(const Options *o, const char *cmd)
{
	Conn	   *c = calloc(1, sizeof(Conn));
	char		buf[1024];

	if (!c)
		msg_fail(EXIT_SERVER, "out of memory");
	c->opts = o;
	c->cmd = cmd;
	if (o->prompt_password)
		conn_ask_password(c);
	c->pg = conn_connect(c);
	if (PQstatus(c->pg) == CONNECTION_BAD && PQconnectionNeedsPassword(c->pg) &&
		!c->password && !o->never_prompt && isatty(STDIN_FILENO))
	{
		PQfinish(c->pg);
		conn_ask_password(c);
		c->pg = conn_connect(c);
	}
	if (PQstatus(c->pg) == CONNECTION_BAD)
		msg_fail(EXIT_SERVER, "could not connect: %s",
				 conn_first_line(PQerrorMessage(c->pg), buf, sizeof(buf)));
	conn_check_extension(c);
	return c;
}

/* The exit code for a server error, by its SQLSTATE. */
static int
conn_exit_code(const char *sqlstate)
{
	if (!sqlstate)
		return EXIT_SERVER;
	if (strcmp(sqlstate, "42704") == 0 || strcmp(sqlstate, "P0002") == 0)
		return EXIT_NOT_FOUND;
	if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0)
		return EXIT_USAGE;
	return EXIT_SERVER;
}

/* Exit with the server's error as one line: message (detail hint). */
static void
conn_fail_result(Conn *c, PGresult *res)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	char		buf[1024];

	if (conn_interrupted)
		msg_fail(EXIT_INTERRUPTED, "%s: interrupted", c->cmd);
	if (!msg)
		msg = conn_first_line(PQerrorMessage(c->pg), buf, sizeof(buf));
	msg_fail(conn_exit_code(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
			 "%s%s%s%s%s%s", msg,
			 detail || hint ? " (" : "", detail ? detail : "",
			 detail && hint ? " " : "", hint ? hint : "",
			 detail || hint ? ")" : "");
}

int
conn_exec(Conn *c, const char *sql, int nparams, const char *const *params,
		  PGresult **res, char *err, size_t errlen)
{
	PGresult   *r = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	const char *msg;

	*res = NULL;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
	{
		*res = r;
		return CONN_OK;
	}
	msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	snprintf(err, errlen, "%s", msg ? msg : "connection to the server was lost");
	PQclear(r);
	return conn_lost(c) ? CONN_LOST : CONN_ERROR;
}

Conn *
conn_clone(const Conn *from, char *err, size_t errlen)
{
	Conn	   *c = calloc(1, sizeof(Conn));

	if (!c)
	{
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->opts = from->opts;
	c->cmd = from->cmd;
	c->quiet = true;
	c->password = from->password ? strdup(from->password) : NULL;
	c->pg = conn_connect(c);
	if (PQstatus(c->pg) == CONNECTION_OK)
		return c;
	conn_first_line(PQerrorMessage(c->pg), err, errlen);
	conn_close(c);
	return NULL;
}

void
conn_close(Conn *c)
{
	if (!c)
		return;
	PQfinish(c->pg);
	free(c->password);
	free(c);
}

PGresult *
conn_try_query(Conn *c, const char *sql, int nparams, const char *const *params)
{
	PGresult   *res = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	if (conn_lost(c))
	{
		PQclear(res);
		return NULL;
	}
	conn_fail_result(c, res);
	return NULL;				/* not reached */
}

PGresult *
conn_query(Conn *c, const char *sql, int nparams, const char *const *params)
{
	PGresult   *res = conn_try_query(c, sql, nparams, params);

	if (!res)
		msg_fail(EXIT_SERVER, "connection to the server was lost");
	return res;
}

bool
conn_lost(Conn *c)
{
	return PQstatus(c->pg) == CONNECTION_BAD;
}

bool
conn_reconnect(Conn *c, int give_up_s)
{
	time_t		deadline = time(NULL) + give_up_s;
	useconds_t	pause = 100000;

	if (!c->quiet)
		msg_error("%s: connection to the server lost; reconnecting", c->cmd);
	for (;;)
	{
		PQfinish(c->pg);
		c->pg = conn_connect(c);
		if (PQstatus(c->pg) == CONNECTION_OK)
		{
			if (!c->quiet)
				msg_error("%s: reconnected", c->cmd);
			return true;
		}
		if (conn_interrupted)
			msg_fail(EXIT_INTERRUPTED, "%s: interrupted", c->cmd);
		if (time(NULL) >= deadline)
			return false;
		usleep(pause);
		pause = pause * 2 > 5000000 ? 5000000 : pause * 2;
	}
}

void
conn_read_launcher(Conn *c)
{
	PGresult   *res;
	char		err[256];

	c->launcher_pid = 0;
	if (conn_exec(c, "SELECT launcher_pid FROM jobs.pool", 0, NULL, &res,
				  err, sizeof(err)) != CONN_OK)
		return;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		c->launcher_pid = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
}
