/*-------------------------------------------------------------------------
 *
 * shell_output.c
 *	  Supervising a shell job (shell.c) while it runs: read its stdout and
 *	  stderr as they come, line by line, into the run's log (stdout at
 *	  info, stderr at warning) and its progress, stay responsive to cancel,
 *	  timeout, shutdown and postmaster death, and turn its exit into the
 *	  run's outcome.
 *
 *	  Lines on stdout that start with "::" speak to zapjobs:
 *	    ::progress 45/100 Copying table x    (or ::progress 45)
 *	    ::output {"rows": 12}
 *	    ::log warning disk almost full
 *	  Output never breaks anything: NUL bytes and bytes invalid in the
 *	  database encoding become '?', lines longer than ZJ_SHELL_LINE_MAX are
 *	  cut, and the log's bound (zapjobs.max_log_lines) keeps memory and disk
 *	  flat whatever the child prints: it is read and dropped, never blocked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "joblog.h"
#include "output.h"
#include "procgroup.h"
#include "progress.h"
#include "runctx.h"
#include "shell_output.h"

#define ZJ_SHELL_LINE_MAX	2000	/* longer lines are cut */
#define ZJ_SHELL_TAIL		10		/* stderr lines kept for the error */
#define ZJ_SHELL_DRAIN_MS	500		/* output still read after sh exits */

typedef struct ZjShellStream
{
	int			fd;				/* -1 once at end of file */
	bool		is_stderr;
	bool		skipping;		/* dropping the rest of a cut line */
	StringInfoData partial;		/* the line being read */
} ZjShellStream;

typedef struct ZjShellTail
{
	char	   *lines[ZJ_SHELL_TAIL];	/* last stderr lines, in run cxt */
	int			next;
	int			count;
} ZjShellTail;

/* Make text valid in the database encoding, without NULs. */
static void
zj_shell_output_sanitize(char *s, int len)
{
	int			enc = GetDatabaseEncoding();
	int			i = 0;

	while (i < len)
	{
		int			l;

		if (s[i] == '\0')
			s[i] = '?';
		if (IS_HIGHBIT_SET(s[i]) &&
			(l = pg_encoding_verifymbchar(enc, s + i, len - i)) > 0 &&
			memchr(s + i, '\0', l) == NULL)
		{
			i += l;
			continue;
		}
		if (IS_HIGHBIT_SET(s[i]) && enc != PG_SQL_ASCII)
			s[i] = '?';
		i++;
	}
}

static void
zj_shell_output_remember(ZjShellTail *tail, const char *line)
{
	MemoryContext old = MemoryContextSwitchTo(zj_runctx_cxt);

	if (tail->lines[tail->next] != NULL)
		pfree(tail->lines[tail->next]);
	tail->lines[tail->next] = pnstrdup(line, pg_mbcliplen(line, strlen(line), 200));
	tail->next = (tail->next + 1) % ZJ_SHELL_TAIL;
	tail->count = Min(tail->count + 1, ZJ_SHELL_TAIL);
	MemoryContextSwitchTo(old);
}

/* "::progress 45/100 message" */
static void
zj_shell_output_progress_line(const char *arg)
{
	char	   *end;
	int64		current = strtoll(arg, &end, 10);
	int64		total = -1;

	if (end == arg || current < 0)
	{
		zj_joblog_line("warning", psprintf("invalid ::progress line: %s", arg), NULL);
		return;
	}
	if (*end == '/')
	{
		char	   *t = end + 1;

		total = strtoll(t, &end, 10);
		if (end == t || total < 0)
			total = -1;
	}
	while (*end == ' ')
		end++;
	zj_progress_set(current, total, *end ? end : NULL);
}

/*
 * "::output {json}": the run's output, or a warning if it is not JSON.
 * jsonb_in's error is caught without a subtransaction: it only parses and
 * allocates (no lock, buffer, file or catalog access to release), so
 * flushing the error leaves nothing behind.
 */
static void
zj_shell_output_output_line(const char *json)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		Datum		d = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));

		zj_output_set(DatumGetJsonbP(d));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		zj_joblog_line("warning", psprintf("invalid ::output line: %s", edata->message), NULL);
	}
	PG_END_TRY();
}

/* "::log level message" */
static void
zj_shell_output_log_line(const char *arg)
{
	const char *space = strchr(arg, ' ');
	char	   *level = space ? pnstrdup(arg, space - arg) : pstrdup(arg);

	if (!zj_joblog_level_valid(level))
	{
		zj_joblog_line("warning", psprintf("invalid ::log line: %s", arg), NULL);
		return;
	}
	zj_joblog_line(level, space ? space + 1 : "", NULL);
}

static void
zj_shell_output_line(ZjShellStream *s, ZjShellTail *tail, char *line, int len)
{
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	zj_shell_output_sanitize(line, len);
	if (s->is_stderr)
	{
		zj_shell_output_remember(tail, line);
		zj_joblog_line("warning", line, NULL);
	}
	else if (strncmp(line, "::progress ", 11) == 0)
		zj_shell_output_progress_line(line + 11);
	else if (strncmp(line, "::output ", 9) == 0)
		zj_shell_output_output_line(line + 9);
	else if (strncmp(line, "::log ", 6) == 0)
		zj_shell_output_log_line(line + 6);
	else
		zj_joblog_line("info", line, NULL);
}

/*
 * Hand over the complete lines in the stream's buffer (all, at_eof).  A
 * line longer than ZJ_SHELL_LINE_MAX is cut: its rest, up to the next
 * newline, is skipped.
 */
static void
zj_shell_output_lines(ZjShellStream *s, ZjShellTail *tail, bool at_eof)
{
	StringInfo	b = &s->partial;
	int			start = 0;

	for (;;)
	{
		char	   *nl = memchr(b->data + start, '\n', b->len - start);
		int			len = nl ? nl - (b->data + start) : b->len - start;
		char	   *line;

		if (s->skipping)
		{
			start = nl ? nl - b->data + 1 : b->len;
			s->skipping = nl == NULL;
			if (nl == NULL)
				break;
			continue;
		}
		if (nl == NULL && len < ZJ_SHELL_LINE_MAX && !(at_eof && len > 0))
			break;
		if (len > ZJ_SHELL_LINE_MAX)
			len = ZJ_SHELL_LINE_MAX;
		/* Not pnstrdup: the line may hold NUL bytes. */
		line = palloc(len + 1);
		memcpy(line, b->data + start, len);
		line[len] = '\0';
		zj_shell_output_line(s, tail, line, len);
		if (nl != NULL && b->data + start + len == nl)
			start += len + 1;
		else
		{
			start += len;
			s->skipping = !at_eof;
		}
	}
	memmove(b->data, b->data + start, b->len - start);
	b->len -= start;
	b->data[b->len] = '\0';
}

/* Read what a stream has now (a bounded amount per call). */
static void
zj_shell_output_read(ZjShellStream *s, ZjShellTail *tail)
{
	char		buf[8192];
	int			rounds;

	for (rounds = 0; rounds < 8 && s->fd >= 0; rounds++)
	{
		ssize_t		n = read(s->fd, buf, sizeof(buf));

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		if (n <= 0)
		{
			/* The caller closes the descriptor, whatever happens. */
			zj_shell_output_lines(s, tail, true);
			s->fd = -1;
			break;
		}
		appendBinaryStringInfo(&s->partial, buf, n);
		zj_shell_output_lines(s, tail, false);
	}
}

/* Wait up to ms for output on the open streams. */
static void
zj_shell_output_poll(ZjShellStream *streams, int ms)
{
	struct pollfd fds[2];
	int			n = 0;
	int			i;

	for (i = 0; i < 2; i++)
		if (streams[i].fd >= 0)
		{
			fds[n].fd = streams[i].fd;
			fds[n].events = POLLIN;
			n++;
		}
	if (n == 0)
		pg_usleep(ms * 1000L);
	else
		(void) poll(fds, n, ms);
}

/* The failure of a child that did not exit with 0. */
static void
zj_shell_output_fail(int status, ZjShellTail *tail)
{
	StringInfoData detail;
	int			i;

	initStringInfo(&detail);
	for (i = 0; i < tail->count; i++)
	{
		int			k = (tail->next - tail->count + i + ZJ_SHELL_TAIL) % ZJ_SHELL_TAIL;

		appendStringInfo(&detail, "%s%s", i ? "\n" : "", tail->lines[k]);
	}
	if (WIFSIGNALED(status))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("shell command was terminated by signal %d: %s",
						WTERMSIG(status), pg_strsignal(WTERMSIG(status))),
				 detail.len ? errdetail("Last lines on stderr:\n%s", detail.data) : 0));
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("shell command exited with code %d", WEXITSTATUS(status)),
			 detail.len ? errdetail("Last lines on stderr:\n%s", detail.data) : 0));
}

/*
 * Follow the child until it exits and its output is read; returns when it
 * exited with 0, raises the failure otherwise.  A cancel or timeout
 * raises from CHECK_FOR_INTERRUPTS; the caller then stops the group.
 * The caller closes out_fd and err_fd.
 */
void
zj_shell_output_supervise(ZjRun *run, pid_t pid, int out_fd, int err_fd)
{
	ZjShellStream streams[2] = {{out_fd, false, false}, {err_fd, true, false}};
	ZjShellTail tail;
	MemoryContext loop_cxt = AllocSetContextCreate(CurrentMemoryContext,
												   "zapjobs shell output",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext scratch = AllocSetContextCreate(loop_cxt, "zapjobs shell lines",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);
	TimestampTz drain_until = 0;
	int			status = 0;

	memset(&tail, 0, sizeof(tail));
	initStringInfo(&streams[0].partial);
	initStringInfo(&streams[1].partial);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (!PostmasterIsAlive())
			proc_exit(1);		/* procgroup.c kills the group on exit */
		if (drain_until == 0 && zj_procgroup_exited(pid))
			drain_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  ZJ_SHELL_DRAIN_MS);
		/* Lines live until the next round: memory stays flat (buffers grow in place). */
		MemoryContextReset(scratch);
		MemoryContextSwitchTo(scratch);
		zj_shell_output_read(&streams[0], &tail);
		zj_shell_output_read(&streams[1], &tail);
		MemoryContextSwitchTo(loop_cxt);
		if (drain_until != 0 &&
			((streams[0].fd < 0 && streams[1].fd < 0) ||
			 GetCurrentTimestamp() >= drain_until))
			break;
		zj_shell_output_poll(streams, drain_until ? 20 : 100);
	}
	/* Background processes it left behind end with the run. */
	status = zj_procgroup_reap(pid);
	MemoryContextSwitchTo(old);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		zj_shell_output_fail(status, &tail);
	MemoryContextDelete(loop_cxt);
}
