/*-------------------------------------------------------------------------
 * conn.h
 *	  The zapjobs command's connection to the server.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_CONN_H
#define ZJC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

#include "options.h"

typedef struct Conn
{
	PGconn	   *pg;
	const Options *opts;		/* to connect again */
	char	   *password;		/* asked once, kept for reconnecting */
	int			launcher_pid;	/* sender of every real job_update; 0 unknown */
	const char *cmd;			/* subcommand, for messages */
	bool		quiet;			/* full screen: reconnect without a word */
} Conn;

/* Connect as psql would and check that zapjobs is installed; exits on failure. */
extern Conn *conn_open(const Options *o, const char *cmd);

/*
 * Run a query with text parameters (NULL: SQL NULL).  An error the server
 * reports exits with its message and an exit code from its SQLSTATE.
 */
extern PGresult *conn_query(Conn *c, const char *sql, int nparams,
							const char *const *params);

/*
 * Another connection like from (same options and password), or NULL with
 * the reason in err: for a server's threads, which must not exit.
 */
extern Conn *conn_clone(const Conn *from, char *err, size_t errlen);
extern void conn_close(Conn *c);

/* What conn_exec saw. */
#define CONN_OK		0
#define CONN_ERROR	1			/* the server reported an error: see err */
#define CONN_LOST	2			/* the connection is gone */

/*
 * Run a query without exiting on errors: for a full-screen command, which
 * shows them and goes on.  *res is set on CONN_OK only.
 */
extern int	conn_exec(Conn *c, const char *sql, int nparams,
					  const char *const *params, PGresult **res,
					  char *err, size_t errlen);

/* As conn_query, but NULL when the connection is gone (see conn_reconnect). */
extern PGresult *conn_try_query(Conn *c, const char *sql, int nparams,
								const char *const *params);

/* Is the connection gone? */
extern bool conn_lost(Conn *c);

/*
 * Connect again after the connection was lost, waiting longer between
 * tries (saying so on stderr), for at most give_up_s seconds; false if the
 * server did not come back.
 */
extern bool conn_reconnect(Conn *c, int give_up_s);

/*
 * From here on, Ctrl-C and SIGTERM cancel c's query in flight and wake
 * events_wait (through conn_interrupt_fd); callers check conn_was_interrupted.
 */
extern void conn_catch_interrupts(Conn *c);
extern bool conn_was_interrupted(void);
extern int	conn_interrupt_fd(void);

/* Read the launcher's pid again (jobs.pool); 0 when no launcher runs. */
extern void conn_read_launcher(Conn *c);

#endif
