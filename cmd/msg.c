/*-------------------------------------------------------------------------
 * msg.c
 *	  Errors of the zapjobs command: one line on stderr, "zapjobs: ...",
 *	  and an exit code that tells scripts what went wrong (msg.h).
 *
 *	  A full-screen command registers a cleanup that gives the terminal
 *	  back first, so an error never leaves it in curses mode.
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "msg.h"

static msg_cleanup_fn msg_cleanup = NULL;

void
msg_set_cleanup(msg_cleanup_fn fn)
{
	msg_cleanup = fn;
}

/* One line: a server message may hold newlines or a job's escape codes. */
static void
msg_vreport(const char *fmt, va_list ap)
{
	char		line[2048];
	char	   *p;

	vsnprintf(line, sizeof(line), fmt, ap);
	for (p = line; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = ' ';
	fprintf(stderr, "zapjobs: %s\n", line);
}

void
msg_error(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	msg_vreport(fmt, ap);
	va_end(ap);
}

void
msg_fail(int code, const char *fmt,...)
{
	va_list		ap;

	if (msg_cleanup)
		msg_cleanup();
	va_start(ap, fmt);
	msg_vreport(fmt, ap);
	va_end(ap);
	exit(code);
}
