/*-------------------------------------------------------------------------
 * msg.h
 *	  The zapjobs command's exit codes and its one-line error reports.
 *-------------------------------------------------------------------------
 */
#ifndef ZJC_MSG_H
#define ZJC_MSG_H

/* Exit codes, documented in the README ("Command line"). */
#define EXIT_RUN_COMPLETED	0	/* success; watch: the run completed */
#define EXIT_RUN_FAILED		1	/* watch: the run failed */
#define EXIT_RUN_CANCELLED	2	/* watch: the run was cancelled */
#define EXIT_USAGE			3	/* bad command line or input */
#define EXIT_NOT_FOUND		4	/* no such run, definition or queue */
#define EXIT_SERVER			5	/* cannot connect, or the server refused */
#define EXIT_INTERRUPTED	130 /* Ctrl-C */

/* Called before an error report exits, to give the terminal back. */
typedef void (*msg_cleanup_fn) (void);

extern void msg_set_cleanup(msg_cleanup_fn fn);
extern void msg_error(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void msg_fail(int code, const char *fmt,...)
			__attribute__((format(printf, 2, 3), noreturn));

#endif
