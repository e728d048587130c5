/*-------------------------------------------------------------------------
 * watch.c
 *	  zapjobs watch: one run's state changes, progress and log lines as
 *	  they happen, ending with its outcome and an exit code that says it.
 *
 *	  Driven by LISTEN job_update, never by polling: the run's row is read
 *	  once at the start (after LISTEN, so no change can fall between the
 *	  two), again when an event says its state changed, and after every
 *	  reconnect, so a final state is never missed.  Events are only
 *	  hints for what to read, except progress, which is shown from the
 *	  event itself; the row and the log lines come from jobs.runs and
 *	  jobs.logs, which row-level security guards.
 *
 *	  On a terminal the progress line is redrawn in place; in a pipe, in
 *	  CI or with --plain or NO_COLOR, every line is printed once, without
 *	  escape codes.
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "format.h"
#include "msg.h"
#include "watch.h"

#define WATCH_RECONNECT_S	120		/* give up reconnecting after this */
#define WATCH_SAFETY_S		30		/* read the row at least this often */

typedef struct Watch
{
	Conn	   *c;
	long long	id;
	char		idtext[24];		/* id as a query parameter */
	bool		tty;			/* redraw the progress line in place, in colour */
	bool		logs_only;		/* logs -f: the log lines and nothing else */

	/* the run, as last read or heard of */
	char		status[32];
	int			attempt;
	int			max_attempts;
	char		shown_status[32];	/* status of the last status line */
	int			shown_attempt;
	long long	last_log_id;	/* last log line printed */

	/* progress of the current attempt */
	bool		have_progress;
	long long	current;
	long long	total;			/* < 0: unknown */
	long long	processed;
	char		message[1024];
	double		elapsed_base;	/* seconds the attempt had run at base_at */
	double		base_at;		/* our monotonic clock then */
	char		shown_progress[1400];	/* plain: the last progress line */
	bool		line_on_screen; /* tty: a progress line to overwrite */

	/* what the events received ask to read */
	bool		need_row;		/* a real event says the run changed */
	bool		hint_row;		/* maybe it did: read at most once a second */
	bool		need_logs;
	double		read_at;		/* when the row was last read (watch_clock) */
	int			reported_attempt;	/* last failed attempt printed */
} Watch;

/* The watch in progress, for the cleanup before an error report. */
static Watch *watch_current = NULL;

static double
watch_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
watch_columns(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 80;
}

static void
watch_clear_line(Watch *w)
{
	if (w->tty && w->line_on_screen)
		fputs("\r\033[K", stdout);
	w->line_on_screen = false;
}

/* Print a line of its own; color is an SGR code or NULL. */
static void
watch_say(Watch *w, const char *color, const char *fmt,...)
{
	va_list		ap;
	char		raw[2048];
	char		line[2048];

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	format_clean(line, sizeof(line), raw, 100000);
	watch_clear_line(w);
	if (w->tty && color)
		printf("\033[%sm%s\033[0m\n", color, line);
	else
		printf("%s\n", line);
	fflush(stdout);
}

/* Append to a line being built. */
static void
watch_append(char *dst, size_t len, const char *fmt,...)
{
	size_t		used = strlen(dst);
	va_list		ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(dst + used, len - used, fmt, ap);
	va_end(ap);
}

/*
 * The progress line: on a terminal "[####....]  42.0%  12/50  items 12
 * ETA 31s  attempt 1/3  message", plain "progress 42.0% 12/50 ...".
 */
static void
watch_progress_text(Watch *w, char *dst, size_t len, bool tty)
{
	double		percent = w->total > 0 ? 100.0 * w->current / w->total : -1;
	double		elapsed = w->elapsed_base + watch_clock() - w->base_at;
	const char *sep = tty ? "  " : " ";
	char		buf[40];

	dst[0] = '\0';
	if (tty)
		format_bar(buf, sizeof(buf), percent, 20);
	watch_append(dst, len, "%s", tty ? buf : "progress");
	if (percent >= 0)
		watch_append(dst, len, "%s%.1f%%", sep, percent);
	watch_append(dst, len, "%s%lld", sep, w->current);
	if (w->total >= 0)
		watch_append(dst, len, "/%lld", w->total);
	if (w->processed > 0)
		watch_append(dst, len, "%sitems %lld", sep, w->processed);
	if (w->current > 0 && w->total > w->current)
	{
		format_duration(buf, sizeof(buf),
						elapsed * (w->total - w->current) / w->current);
		watch_append(dst, len, "%s%s %s", sep, tty ? "ETA" : "eta", buf);
	}
	watch_append(dst, len, "%sattempt %d/%d", sep, w->attempt, w->max_attempts);
	if (w->message[0])
		watch_append(dst, len, "%s%s", tty ? "  " : ": ", w->message);
}

/* Show the progress: redrawn in place on a terminal, once per change in plain mode. */
static void
watch_draw_progress(Watch *w, bool from_event)
{
	char		text[1400];
	char		line[1400];

	if (!w->have_progress || w->logs_only || strcmp(w->status, "running") != 0)
		return;
	watch_progress_text(w, text, sizeof(text), w->tty);
	if (w->tty)
	{
		format_clean(line, sizeof(line), text, watch_columns() - 1);
		fputs("\r\033[K", stdout);
		fputs(line, stdout);
		w->line_on_screen = true;
	}
	else if (from_event && strcmp(text, w->shown_progress) != 0)
	{
		format_clean(line, sizeof(line), text, 100000);
		printf("%s\n", line);
		strcpy(w->shown_progress, text);
	}
	fflush(stdout);
}

/* The run's row, with the live progress of a running attempt. */
static const char *const watch_row_sql =
	"SELECT r.status, r.attempt, r.max_attempts,"
	"       extract(epoch FROM coalesce(r.duration,"
	"               clock_timestamp() - coalesce(r.started_at, clock_timestamp()))),"
	"       coalesce(p.current, r.progress_current), coalesce(p.total, r.progress_total),"
	"       coalesce(p.message, r.progress_message), coalesce(p.processed, r.items_processed),"
	"       r.error_message, r.error_sqlstate,"
	"       extract(epoch FROM r.run_at - clock_timestamp()), r.queue"
	"  FROM jobs.runs r LEFT JOIN jobs.live_progress() p ON p.run_id = r.id"
	" WHERE r.id = $1";

/* Take the progress values of a row read with watch_row_sql. */
static void
watch_take_progress(Watch *w, PGresult *res)
{
	w->elapsed_base = atof(PQgetvalue(res, 0, 3));
	w->base_at = watch_clock();
	w->have_progress = !PQgetisnull(res, 0, 4);
	w->current = atoll(PQgetvalue(res, 0, 4));
	w->total = PQgetisnull(res, 0, 5) ? -1 : atoll(PQgetvalue(res, 0, 5));
	snprintf(w->message, sizeof(w->message), "%s", PQgetvalue(res, 0, 6));
	w->processed = atoll(PQgetvalue(res, 0, 7));
}

/* A status line for a state the run has entered (final ones and retries aside). */
static void
watch_say_status(Watch *w, PGresult *res)
{
	char		dur[16];

	if (strcmp(w->status, "scheduled") == 0)
	{
		format_duration(dur, sizeof(dur), atof(PQgetvalue(res, 0, 10)));
		watch_say(w, NULL, "run %lld scheduled, due in %s", w->id, dur);
	}
	else if (strcmp(w->status, "pending") == 0)
		watch_say(w, NULL, "run %lld pending in queue %s", w->id, PQgetvalue(res, 0, 11));
	else if (strcmp(w->status, "running") == 0)
		watch_say(w, NULL, "run %lld running, attempt %d of %d",
				  w->id, w->attempt, w->max_attempts);
	strcpy(w->shown_status, w->status);
	w->shown_attempt = w->attempt;
}

/* How jobs.attempts.outcome reads in a sentence. */
static const char *
watch_outcome(const char *outcome)
{
	if (strcmp(outcome, "timed_out") == 0)
		return "timed out";
	if (strcmp(outcome, "interrupted") == 0)
		return "was interrupted";
	if (strcmp(outcome, "cancelled") == 0)
		return "was cancelled";
	return "failed";
}

/*
 * Attempts that ended without completing the run and were not reported
 * yet, from jobs.attempts: however many events one read covered, every
 * retry is told, the last with when the next attempt is due.
 */
static bool
watch_read_attempts(Watch *w, PGresult *row, bool final)
{
	char		after[16];
	const char *params[2] = {w->idtext, after};
	PGresult   *res;
	char		due[16];
	int			i;

	snprintf(after, sizeof(after), "%d", w->reported_attempt);
	res = conn_try_query(w->c,
						 "SELECT attempt, outcome, coalesce(error_message, ''),"
						 "       coalesce(error_sqlstate, '')"
						 "  FROM jobs.attempts WHERE run_id = $1 AND attempt > $2"
						 " ORDER BY attempt", 2, params);
	if (!res)
		return false;
	format_duration(due, sizeof(due), atof(PQgetvalue(row, 0, 10)));
	for (i = 0; i < PQntuples(res); i++)
	{
		int			attempt = atoi(PQgetvalue(res, i, 0));
		const char *sqlstate = PQgetvalue(res, i, 3);
		bool		retrying = i == PQntuples(res) - 1 &&
			strcmp(w->status, "awaiting_retry") == 0;

		/*
		 * The row was read a moment before: an attempt it shows running may
		 * have failed since.  Tell that one with the row that shows it.
		 */
		if (attempt > w->attempt || (attempt == w->attempt && !final &&
									  strcmp(w->status, "awaiting_retry") != 0))
			break;
		w->reported_attempt = attempt;
		if (final && attempt == w->attempt)
			break;				/* the final line tells this one */
		watch_say(w, "33", "run %lld attempt %d of %d %s: %s%s%s%s%s%s", w->id, attempt,
				  w->max_attempts, watch_outcome(PQgetvalue(res, i, 1)),
				  PQgetvalue(res, i, 2), sqlstate[0] ? " [SQLSTATE " : "", sqlstate,
				  sqlstate[0] ? "]" : "", retrying ? "; retrying in " : "",
				  retrying ? due : "");
	}
	PQclear(res);
	return true;
}

/* The final line: outcome, duration and, on failure, the error. */
static void
watch_say_final(Watch *w, PGresult *res)
{
	char		dur[16];
	const char *sqlstate = PQgetvalue(res, 0, 9);

	format_duration(dur, sizeof(dur), atof(PQgetvalue(res, 0, 3)));
	if (strcmp(w->status, "completed") == 0)
		watch_say(w, "32", "run %lld completed in %s", w->id, dur);
	else if (strcmp(w->status, "cancelled") == 0)
		watch_say(w, "33", "run %lld cancelled after %s", w->id, dur);
	else
		watch_say(w, "31", "run %lld failed after %d attempt%s in %s: %s%s%s%s",
				  w->id, w->attempt, w->attempt == 1 ? "" : "s", dur,
				  PQgetvalue(res, 0, 8), sqlstate[0] ? " [SQLSTATE " : "",
				  sqlstate, sqlstate[0] ? "]" : "");
}

/* Print the log lines not printed yet; false if the connection is gone. */
static bool
watch_read_logs(Watch *w)
{
	char		after[24];
	const char *params[2] = {w->idtext, after};
	PGresult   *res;
	int			i;

	do
	{
		snprintf(after, sizeof(after), "%lld", w->last_log_id);
		res = conn_try_query(w->c,
							 "SELECT id, to_char(at, 'HH24:MI:SS'), level, message"
							 "  FROM jobs.logs WHERE run_id = $1 AND id > $2"
							 " ORDER BY id LIMIT 1000", 2, params);
		if (!res)
			return false;
		for (i = 0; i < PQntuples(res); i++)
		{
			watch_say(w, NULL, "%s %-7s %s", PQgetvalue(res, i, 1),
					  PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
			w->last_log_id = atoll(PQgetvalue(res, i, 0));
		}
		PQclear(res);
	} while (i == 1000);
	w->need_logs = false;
	return true;
}

#define WATCH_GOING_ON	(-1)
#define WATCH_LOST		(-2)

/*
 * Read the run's row, its new log lines and its failed attempts, and say
 * what changed.  Returns the exit code once the run has ended, else
 * WATCH_GOING_ON or WATCH_LOST.
 */
static int
watch_read_row(Watch *w)
{
	const char *params[1] = {w->idtext};
	PGresult   *res = conn_try_query(w->c, watch_row_sql, 1, params);
	int			code;
	bool		changed;

	if (!res)
		return WATCH_LOST;
	if (PQntuples(res) == 0)
		msg_fail(EXIT_NOT_FOUND, "run %lld not found", w->id);
	snprintf(w->status, sizeof(w->status), "%s", PQgetvalue(res, 0, 0));
	w->attempt = atoi(PQgetvalue(res, 0, 1));
	w->max_attempts = atoi(PQgetvalue(res, 0, 2));
	watch_take_progress(w, res);
	w->need_row = w->hint_row = false;
	w->read_at = watch_clock();
	code = format_exit_code(w->status);
	changed = strcmp(w->status, w->shown_status) != 0 || w->attempt != w->shown_attempt;
	if (!watch_read_logs(w) || (!w->logs_only && !watch_read_attempts(w, res, code >= 0)))
	{
		PQclear(res);
		return WATCH_LOST;
	}
	if (changed && code < 0 && !w->logs_only)
		watch_say_status(w, res);
	if (code >= 0 && !w->logs_only)
		watch_say_final(w, res);
	else
		watch_draw_progress(w, changed);
	PQclear(res);
	return code >= 0 ? code : WATCH_GOING_ON;
}

/* An event: progress is shown from it, the rest says what to read. */
static void
watch_on_event(const Event *ev, void *arg)
{
	Watch	   *w = arg;

	if (!events_about(ev, w->id))
		return;
	if (ev->type == EVENT_RUN || ev->type == EVENT_RUNS)
		w->need_row = true;
	else if (ev->type == EVENT_LOG && ev->log_id > w->last_log_id)
		w->need_logs = true;
	else if (ev->type == EVENT_PROGRESS && !w->need_row)
	{
		w->have_progress = ev->have_current;
		w->current = ev->current;
		w->total = ev->have_total ? ev->total : -1;
		w->processed = ev->processed;
		if (ev->have_message)
			snprintf(w->message, sizeof(w->message), "%s", ev->message);
		watch_draw_progress(w, true);
	}
}

/* Connect again, LISTEN again, and read everything again. */
static void
watch_reconnect(Watch *w)
{
	time_t		deadline = time(NULL) + WATCH_RECONNECT_S;

	watch_clear_line(w);
	while (!conn_reconnect(w->c, (int) (deadline - time(NULL))) || !events_listen(w->c))
	{
		if (time(NULL) >= deadline)
			msg_fail(EXIT_SERVER, "watch: the server did not come back within %d s;"
					 " run %lld was %s when last seen", WATCH_RECONNECT_S, w->id,
					 w->status[0] ? w->status : "unknown");
	}
	w->need_row = true;
}

/*
 * How long to wait for events: a second on a terminal (the ETA ticks), a
 * deferred hint's remaining time, and at most WATCH_SAFETY_S, after which
 * the row is read anyway: events a launcher lost in a restart, or that
 * came from a launcher we did not know yet, cannot leave us waiting.
 */
static int
watch_timeout_ms(Watch *w)
{
	double		since = watch_clock() - w->read_at;
	double		wait = WATCH_SAFETY_S - since;

	if (w->hint_row && 1.0 - since < wait)
		wait = 1.0 - since;
	if (w->tty && wait > 1.0)
		wait = 1.0;
	return wait <= 0 ? 0 : (int) (wait * 1000) + 1;
}

/* One turn: wait for events, then read what they call for. */
static int
watch_turn(Watch *w)
{
	int			got = events_wait(w->c, watch_timeout_ms(w), -1, watch_on_event, w);
	double		since;

	if (got & EVENTS_LOST)
		return WATCH_LOST;
	if (got & EVENTS_UNTRUSTED)
		w->hint_row = true;
	since = watch_clock() - w->read_at;
	if (since >= WATCH_SAFETY_S)
	{
		conn_read_launcher(w->c);
		w->need_row = true;
	}
	if (w->need_row || (w->hint_row && since >= 1.0))
		return watch_read_row(w);
	if (w->need_logs)
	{
		if (!watch_read_logs(w))
			return WATCH_LOST;
		watch_draw_progress(w, false);
	}
	else if (got & EVENTS_TIMEOUT)
		watch_draw_progress(w, false);
	return WATCH_GOING_ON;
}

/* Before an error report: the progress line must not carry it. */
static void
watch_cleanup(void)
{
	if (watch_current)
		watch_clear_line(watch_current);
	fflush(stdout);
}

int
watch_run(Conn *c, long long id, bool plain, bool logs_only)
{
	Watch		w;
	const char *no_color = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	int			code = WATCH_LOST;

	memset(&w, 0, sizeof(w));
	w.c = c;
	w.id = id;
	snprintf(w.idtext, sizeof(w.idtext), "%lld", id);
	w.tty = !plain && isatty(STDOUT_FILENO) && !(no_color && no_color[0]) &&
		!(term && strcmp(term, "dumb") == 0);
	w.logs_only = logs_only;
	watch_current = &w;
	msg_set_cleanup(watch_cleanup);
	conn_catch_interrupts(c);
	if (events_listen(c))
		code = watch_read_row(&w);
	while (code < 0 && !conn_was_interrupted())
	{
		if (code == WATCH_LOST)
			watch_reconnect(&w);
		code = w.need_row ? watch_read_row(&w) : watch_turn(&w);
	}
	watch_cleanup();
	watch_current = NULL;
	msg_set_cleanup(NULL);
	return conn_was_interrupted() ? EXIT_INTERRUPTED : code;
}
